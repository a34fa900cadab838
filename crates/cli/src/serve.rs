//! `verdict serve`: open the data directory, then serve until a signal.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use verdict_control::{Core, DataDir};
use verdict_server::{AppState, Tokens};

/// An opened data directory, ready to serve.
pub struct Opened {
    pub dir: DataDir,
    pub core: Arc<Core>,
    pub tokens: Tokens,
    /// Where notices are delivered, if anywhere.
    pub webhook: Option<verdict_server::outbox::Webhook>,
    /// Serves HTTPS with this configuration, if given.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Where the replication stream is published, if anywhere.
    pub nats: Option<verdict_server::bus::BusOptions>,
    /// Held while the store is the directory's SQLite file; a shared
    /// database is shared by design.
    _lock: Option<verdict_control::DataDirLock>,
}

/// Opens (creating if needed) a data directory for serving: takes its lock,
/// migrates the store, ensures the tokens and compiles the snapshot.
/// `store` is a PostgreSQL URL shared with other servers, or `None` for the
/// directory's own SQLite file.
pub async fn open(data: &Path, origin: Option<&str>, store: Option<&str>) -> anyhow::Result<Opened> {
    open_with_clock(data, origin, store, Arc::new(verdict_control::SystemClock)).await
}

/// Like [`open`], with the control plane on `clock`.
pub async fn open_with_clock(
    data: &Path,
    origin: Option<&str>,
    store: Option<&str>,
    clock: Arc<dyn verdict_control::Clock>,
) -> anyhow::Result<Opened> {
    let dir = DataDir::open(data)?;
    let (store, lock) = match store {
        Some(url) => {
            anyhow::ensure!(
                verdict_store::is_postgres(url),
                "--store takes a postgres:// URL (the default store is the SQLite file in the data directory), not {url:?}"
            );
            let store = verdict_store::open(url)
                .await
                .with_context(|| format!("cannot open the PostgreSQL store at {}", redact(url)))?;
            (store, None)
        }
        None => {
            let lock = dir.lock()?;
            let path = dir.database();
            let store = verdict_store::open(&path.display().to_string())
                .await
                .with_context(|| format!("cannot open the database in {}", dir.root().display()))?;
            (store, Some(lock))
        }
    };
    let key = dir.log_key(origin)?;
    let core = Arc::new(Core::open_with_clock(store, key, clock).await.context("cannot load the stored state")?);
    let mut tokens = Vec::new();
    for name in ["admin", "pep"] {
        let (token, created) = dir.ensure_token(name)?;
        let path = dir.token_path(name);
        if created {
            eprintln!("wrote the {name} token to {} (mode 0600)", path.display());
        } else {
            eprintln!("using the {name} token in {}", path.display());
        }
        tokens.push(token);
    }
    let pep = tokens.pop().unwrap_or_default();
    let admin = tokens.pop().unwrap_or_default();
    Ok(Opened { dir, core, tokens: Tokens { admin, pep }, webhook: None, nats: None, tls: None, _lock: lock })
}

/// Binds the listen address, first thing: a busy port is refused before
/// anything is opened or written.
pub async fn bind(listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}; is another server using it? Pick another with --listen"))
}

/// Serves `opened` on `listener` until SIGINT or SIGTERM.
pub async fn run(
    mut opened: Opened,
    listener: tokio::net::TcpListener,
    ready: impl FnOnce(std::net::SocketAddr),
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let mut state = AppState::new(opened.core.clone(), opened.tokens.clone());
    // Served over HTTPS, the console's cookies are Secure and host-only.
    state.console.secure_cookies = opened.tls.is_some();
    let state = Arc::new(state);
    let app = verdict_server::router(state.clone());
    let expiries = tokio::spawn(opened.core.clone().log_expiries_forever());
    let follower = tokio::spawn(opened.core.clone().follow_forever());
    let detection = tokio::spawn(opened.core.clone().evaluate_rules_forever());
    let usage_consumer = opened.nats.as_ref().map(|options| {
        let usage = verdict_server::usage_bus::UsageBusOptions::new(&options.url);
        tokio::spawn(verdict_server::usage_bus::consume_usage_forever(opened.core.clone(), usage))
    });
    let publisher = opened
        .nats
        .take()
        .map(|options| tokio::spawn(verdict_server::bus::publish_forever(opened.core.clone(), options)));
    let deliveries = opened
        .webhook
        .clone()
        .map(|hook| tokio::spawn(verdict_server::outbox::deliver_forever(opened.core.clone(), hook)));
    ready(addr);
    let stopping = async move {
        shutdown().await;
        state.close_streams();
    };
    let tls = opened.tls.clone();
    verdict_server::edge::serve_with(listener, app, verdict_server::EdgeLimits::default(), tls, stopping)
        .await
        .context("the server failed")?;
    expiries.abort();
    follower.abort();
    detection.abort();
    if let Some(task) = publisher {
        task.abort();
    }
    if let Some(task) = usage_consumer {
        task.abort();
    }
    if let Some(task) = deliveries {
        task.abort();
    }
    eprintln!("verdict stopped");
    drop(opened);
    Ok(())
}

pub async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return interrupt.await.unwrap_or(()),
        };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    interrupt.await.unwrap_or(());
}

/// Prints to standard output, ignoring a closed pipe: a server must not die
/// because whoever started it stopped reading.
pub fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
}

/// A store URL with its password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// What `verdict serve` is asked to do.
pub struct ServeOptions<'a> {
    /// The data directory (log key, tokens; the SQLite file by default).
    pub data: &'a Path,
    /// The address to listen on.
    pub listen: &'a str,
    /// The log's origin, when it is created.
    pub origin: Option<&'a str>,
    /// Where notices are delivered.
    pub webhook: Option<&'a str>,
    /// A shared PostgreSQL store instead of the directory's SQLite file.
    pub store: Option<&'a str>,
    /// A NATS JetStream server to publish the replication stream to.
    pub nats: Option<&'a str>,
    /// Serve HTTPS with this certificate chain and key (PEM files).
    pub tls: Option<(&'a Path, &'a Path)>,
}

/// `verdict serve`.
pub async fn serve(options: ServeOptions<'_>) -> anyhow::Result<()> {
    let ServeOptions { data, listen, origin, webhook, store, nats, tls } = options;
    // Checked before anything is opened: a bad certificate changes nothing.
    let tls = tls.map(|(cert, key)| verdict_server::tls::server_config(cert, key)).transpose()?;
    let listener = bind(listen).await?;
    let mut opened = open(data, origin, store).await?;
    opened.tls = tls;
    if let Some(url) = nats {
        eprintln!("publishing the replication stream to NATS JetStream at {url}");
        opened.nats = Some(verdict_server::bus::BusOptions::new(url));
    }
    if let Some(url) = webhook {
        // The secret lives beside the tokens; the receiver is given a copy.
        let (secret, created) = opened.dir.ensure_token("webhook")?;
        let path = opened.dir.token_path("webhook");
        eprintln!(
            "delivering notices to {url}, signed with the secret in {}{}",
            path.display(),
            if created { " (new, mode 0600)" } else { "" }
        );
        opened.webhook = Some(verdict_server::outbox::Webhook {
            url: url.to_owned(),
            secret: secret.into_bytes(),
            first_retry: std::time::Duration::from_secs(1),
            max_retry: std::time::Duration::from_secs(300),
        });
    }
    let (t, u, s, o) = opened.core.snapshot().counts();
    let source = match store {
        Some(url) => redact(url),
        None => opened.dir.root().display().to_string(),
    };
    eprintln!("loaded {t} tenants, {u} units, {s} subscriptions, {o} orders from {source}");
    let checkpoint = opened.core.checkpoint();
    eprintln!(
        "transparency log {:?}: {} entries; verifier key {}",
        checkpoint.checkpoint.origin,
        checkpoint.checkpoint.size,
        opened.core.log_key()
    );
    let scheme = if opened.tls.is_some() { "https" } else { "http" };
    run(opened, listener, |addr| say(&format!("verdict listening on {scheme}://{addr}\n"))).await
}
