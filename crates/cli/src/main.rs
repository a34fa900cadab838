//! `verdict`: the command-line face of verdict — thin glue over the library
//! crates. `main` returns an exit code; errors print with their causes.

mod client;
mod commands;
mod demo;
mod logcmd;
mod pep;
mod process;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Acceptable-use enforcement: surgical suspensions that every gateway obeys.
///
/// verdict decides whether a subscription may use a service action, per the
/// enforcement orders in force. Start with `verdict demo`.
#[derive(Parser)]
#[command(name = "verdict", version, propagate_version = true, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Data directory (SQLite database and tokens).
    #[arg(long, env = "VERDICT_DATA", default_value = "./verdict-data", value_name = "DIR")]
    data: PathBuf,
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// A running verdict server.
    #[arg(long, env = "VERDICT_SERVER", default_value = "http://127.0.0.1:8750", value_name = "URL")]
    server: String,
    /// Bearer token; defaults to the admin token in the data directory.
    #[arg(long, env = "VERDICT_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Data directory to read the admin token from when --token is not given.
    #[arg(long, env = "VERDICT_DATA", default_value = "./verdict-data", value_name = "DIR")]
    data: PathBuf,
    /// Trust the certificates in this PEM file for an HTTPS server with a
    /// private CA (beside the system's roots).
    #[arg(long, env = "VERDICT_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: AuthZEN PDP, gateway endpoints and management API.
    Serve {
        #[command(flatten)]
        data: DataArgs,
        /// Address to listen on.
        #[arg(long, env = "VERDICT_LISTEN", default_value = "127.0.0.1:8750", value_name = "ADDR")]
        listen: String,
        /// Origin line of the transparency log, fixed when the log is
        /// created [default: HOSTNAME/verdict].
        #[arg(long, env = "VERDICT_LOG_ORIGIN", value_name = "ORIGIN")]
        log_origin: Option<String>,
        /// Deliver notices to this URL (POST, HMAC-signed with the secret in
        /// DATA/webhook.token, Idempotency-Key = notice id, retried with backoff).
        #[arg(long, env = "VERDICT_WEBHOOK_URL", value_name = "URL")]
        webhook_url: Option<String>,
        /// Keep the state in this PostgreSQL database (postgres://…), which
        /// several servers may share, instead of DATA/verdict.db. The data
        /// directory still holds the log key and the tokens, the same on
        /// every server (docs/deploy.md).
        #[arg(long, env = "VERDICT_STORE", value_name = "URL", hide_env_values = true)]
        store: Option<String>,
        /// Publish every version to this NATS JetStream server (nats://…),
        /// for `verdict pep --nats`; replicas can still follow over HTTP.
        /// Usage batches published on `verdict-usage.<tenant>` there are
        /// counted too (docs/detection.md).
        #[arg(long, env = "VERDICT_NATS", value_name = "URL")]
        nats: Option<String>,
        /// Serve HTTPS with this PEM certificate chain (with --tls-key);
        /// a reverse proxy in front terminating TLS works as well.
        #[arg(long, env = "VERDICT_TLS_CERT", value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "VERDICT_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
    /// Run the server with a worked example loaded: one unit of a government
    /// tenant in the export-only phase of an order (storage and AI
    /// restricted, security exempt, the other units untouched).
    Demo {
        /// Data directory; an existing one is reused, not overwritten.
        #[arg(long, default_value = "./verdict-demo", value_name = "DIR")]
        data: PathBuf,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8750", value_name = "ADDR")]
        listen: String,
    },
    /// Decide one request, against a data directory or a running server.
    ///
    /// Exit status: 0 allowed, 1 denied, 2 error.
    Check(commands::CheckArgs),
    /// Import an inventory (JSON or NDJSON), all or nothing.
    ///
    /// JSON: {"tenants": [..], "units": [..], "subscriptions": [..]}.
    /// NDJSON: one record per line with "type": "tenant" | "unit" | "subscription".
    /// Units implied by paths are created. Writes to --data unless --server is given.
    Import(commands::ImportArgs),
    /// Create, list, show and lift enforcement orders on a running server.
    #[command(subcommand)]
    Order(commands::OrderCommand),
    /// Publish and list acceptable-use clauses.
    #[command(subcommand)]
    Clause(process::ClauseCommand),
    /// Open and work review cases: evidence, comments, status.
    #[command(subcommand)]
    Case(process::CaseCommand),
    /// File and decide appeals against orders.
    #[command(subcommand)]
    Appeal(process::AppealCommand),
    /// Read notices, their receipts and their DSA export.
    #[command(subcommand)]
    Notice(process::NoticeCommand),
    /// The transparency report (JSON or CSV).
    Report(process::ReportArgs),
    /// Add, list and revoke users (token holders with a role) on a running server.
    #[command(subcommand)]
    User(commands::UserCommand),
    /// Run an enforcement point beside a gateway: replicate the server's
    /// snapshot, follow its changes, and answer nginx, Envoy and AuthZEN
    /// decisions locally, even while the server is unreachable.
    Pep(pep::PepArgs),
    /// The transparency log: print its key, verify it as a monitor, verify a
    /// receipt offline, check a data directory.
    #[command(subcommand)]
    Log(logcmd::LogCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("VERDICT_LOG").unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { data, listen, log_origin, webhook_url, store, nats, tls_cert, tls_key } => {
                serve::serve(serve::ServeOptions {
                    data: &data.data,
                    listen: &listen,
                    origin: log_origin.as_deref(),
                    webhook: webhook_url.as_deref(),
                    store: store.as_deref(),
                    nats: nats.as_deref(),
                    tls: tls_cert.as_deref().zip(tls_key.as_deref()),
                })
                .await
                .map(|_| ExitCode::SUCCESS)
            }
            Command::Demo { data, listen } => demo::demo(&data, &listen).await.map(|_| ExitCode::SUCCESS),
            Command::Check(args) => commands::check(args).await,
            Command::Import(args) => commands::import(args).await.map(|_| ExitCode::SUCCESS),
            Command::Order(cmd) => commands::order(cmd).await.map(|_| ExitCode::SUCCESS),
            Command::Log(cmd) => logcmd::run(cmd).await,
            Command::Pep(args) => pep::run(args).await.map(|_| ExitCode::SUCCESS),
            Command::User(cmd) => commands::user(cmd).await.map(|_| ExitCode::SUCCESS),
            Command::Clause(cmd) => process::clause(cmd).await.map(|_| ExitCode::SUCCESS),
            Command::Case(cmd) => process::case(cmd).await.map(|_| ExitCode::SUCCESS),
            Command::Appeal(cmd) => process::appeal(cmd).await.map(|_| ExitCode::SUCCESS),
            Command::Notice(cmd) => process::notice(cmd).await.map(|_| ExitCode::SUCCESS),
            Command::Report(args) => process::report(args).await.map(|_| ExitCode::SUCCESS),
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}
