//! `verdict check`, `verdict import` and `verdict order …`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use verdict_control::{Actor, Core, DataDir};
use verdict_model::{Inventory, Timestamp};
use verdict_store::SqliteStore;

use crate::client::Client;

/// Arguments of `verdict check`.
#[derive(Args)]
pub struct CheckArgs {
    /// Subscription id, e.g. sig-archive-nl.
    subscription: String,
    /// Service, e.g. storage.blob.
    service: String,
    /// The service's action, e.g. put-blob, or a class name such as write.
    action: String,
    /// Decide at this instant (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Ask this running server instead of reading the data directory.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Token for --server (the PEP or admin token); defaults to the pep.token file in --data.
    #[arg(long, env = "VERDICT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Trust the certificates in this PEM file for an HTTPS server with a
    /// private CA (beside the system's roots).
    #[arg(long, env = "VERDICT_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Data directory to decide against (or to read the token from).
    #[arg(long, env = "VERDICT_DATA", default_value = "./verdict-data", value_name = "DIR")]
    data: PathBuf,
    /// Print the whole decision as JSON.
    #[arg(long)]
    json: bool,
}

fn print_decision(allowed: bool, context: &Value, json: bool) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({"decision": allowed, "context": context}));
    } else {
        println!("{}: {}", if allowed { "ALLOW" } else { "DENY" }, context["reason"].as_str().unwrap_or(""));
    }
    if allowed { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// `verdict check`.
pub async fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let at = match &args.at {
        Some(text) => Timestamp::parse(text)?,
        None => Timestamp::now(),
    };
    if let Some(server) = &args.server {
        let token = match args.token.clone() {
            Some(t) => Some(t),
            None => Some(
                std::fs::read_to_string(args.data.join("pep.token"))
                    .with_context(|| {
                        format!("no --token given and cannot read {}", args.data.join("pep.token").display())
                    })?
                    .trim()
                    .to_owned(),
            ),
        };
        let client = Client::new(server, token, &args.data, args.ca_file.as_deref())?;
        let body = serde_json::json!({
            "subject": {"type": "cli", "id": "verdict-check"},
            "resource": {"type": "service", "id": args.service, "properties": {"subscription": args.subscription}},
            "action": {"name": args.action},
            "context": {"time": at.to_string()},
        });
        let answer = client.post("/access/v1/evaluation", &body).await?;
        let allowed = answer["decision"].as_bool().context("the server's answer has no decision")?;
        return Ok(print_decision(allowed, &answer["context"], args.json));
    }
    let dir = DataDir::open(&args.data)?;
    if !dir.is_initialised() {
        bail!(
            "{} holds no verdict data; run `verdict serve --data {0}` or `verdict import` first, or use --server",
            args.data.display()
        );
    }
    let store = SqliteStore::open(&dir.database()).await.context("cannot open the database")?;
    let snapshot = Core::compile(&store).await?;
    let decision = snapshot.decide(&args.subscription, &args.service, &args.action, at);
    let e = snapshot.explain(&decision, &args.subscription, &args.service, &args.action);
    let context = serde_json::json!({
        "code": e.code, "reason": e.reason, "order": e.order, "clause": e.clause, "phase": e.phase, "log_index": e.log_index,
        "phase_start": e.phase_start, "action_class": decision.class, "action_known": decision.action_known,
        "time": at, "snapshot_version": snapshot.version(),
    });
    Ok(print_decision(decision.allowed, &context, args.json))
}

/// The import file's format.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON document.
    Json,
    /// One record per line.
    Ndjson,
}

/// Arguments of `verdict import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The inventory file; `-` reads standard input.
    file: PathBuf,
    /// File format; by default NDJSON for .ndjson/.jsonl files, else JSON.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Data directory to import into (no server may be running on it).
    #[arg(long, env = "VERDICT_DATA", default_value = "./verdict-data", value_name = "DIR")]
    data: PathBuf,
    /// Import through this running server instead.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// Admin token for --server; defaults to the admin.token file in --data.
    #[arg(long, env = "VERDICT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Trust the certificates in this PEM file for an HTTPS server with a
    /// private CA (beside the system's roots).
    #[arg(long, env = "VERDICT_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("cannot read standard input")?;
        Ok(text)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

fn print_summary(summary: &Value) {
    let n = |k: &str| summary[k].as_u64().unwrap_or(0);
    println!(
        "imported: {} tenants created, {} updated; {} units created; {} subscriptions created, {} updated, {} moved; {} unchanged (snapshot version {})",
        n("tenants_created"),
        n("tenants_updated"),
        n("units_created"),
        n("subscriptions_created"),
        n("subscriptions_updated"),
        n("subscriptions_moved"),
        n("unchanged"),
        n("version"),
    );
}

/// `verdict import`.
pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let ndjson = match args.format {
        Some(Format::Ndjson) => true,
        Some(Format::Json) => false,
        None => args.file.extension().is_some_and(|e| e == "ndjson" || e == "jsonl"),
    };
    let text = read_input(&args.file)?;
    if let Some(server) = &args.server {
        let client = Client::new(server, args.token.clone(), &args.data, args.ca_file.as_deref())?;
        let spinner = ProgressBar::new_spinner().with_message(format!("uploading {} bytes", text.len()));
        spinner.enable_steady_tick(std::time::Duration::from_millis(100));
        let content_type = if ndjson { "application/x-ndjson" } else { "application/json" };
        let result = client.post_raw("/v1/import", content_type, text.into_bytes()).await;
        spinner.finish_and_clear();
        print_summary(&result.context("the server refused the import; nothing was imported")?);
        return Ok(());
    }
    let inventory = if ndjson { Inventory::from_ndjson(&text) } else { Inventory::from_json(&text) }
        .with_context(|| format!("{} does not parse; nothing was imported", args.file.display()))?;
    let dir = DataDir::open(&args.data)?;
    let _lock = dir.lock()?;
    let store = SqliteStore::open(&dir.database()).await.context("cannot open the database")?;
    let core = Core::open(Arc::new(store), dir.log_key(None)?).await?;
    let bar = ProgressBar::new(inventory.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records written ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = {
        let bar = bar.clone();
        move |done: usize| bar.set_position(done as u64)
    };
    let result = core.import(&Actor::admin(), inventory, &progress).await;
    bar.finish_and_clear();
    let summary = result.context("the import was refused; nothing was imported")?;
    print_summary(&serde_json::to_value(&summary)?);
    Ok(())
}

/// `verdict order …`.
#[derive(Subcommand)]
pub enum OrderCommand {
    /// Propose an order from a case (analysts), or load one directly with
    /// --direct (admins; it takes effect at once and the log says so).
    Create {
        /// The order body: tenant, clause, case_id, scope, services, exempt,
        /// phases, end, emergency_reason (`-` for standard input).
        file: PathBuf,
        /// Load the order directly, approved as made, with no case.
        #[arg(long)]
        direct: bool,
        #[command(flatten)]
        server: crate::ServerArgs,
    },
    /// List orders, newest first.
    List {
        /// Only this tenant's orders.
        #[arg(long)]
        tenant: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: crate::ServerArgs,
    },
    /// Show one order as JSON.
    Show {
        /// Order id.
        id: String,
        #[command(flatten)]
        server: crate::ServerArgs,
    },
    /// Approve a proposed order as previewed now (its preview's hash is sent
    /// with the approval). Approvers who did not propose it.
    Approve {
        /// Order id.
        id: String,
        /// Override a guard the order breaks: GUARD=REASON (repeatable).
        #[arg(long = "override", value_name = "GUARD=REASON")]
        overrides: Vec<String>,
        #[command(flatten)]
        server: crate::ServerArgs,
    },
    /// Show what an order would cut and spare: a stored one (--id) or a body
    /// from FILE; a tree, or --json.
    Preview {
        /// An order body as JSON (`-` for standard input).
        file: Option<PathBuf>,
        /// A stored order.
        #[arg(long)]
        id: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        server: crate::ServerArgs,
    },
    /// Reject a proposed order, with a reason. Approvers.
    Reject {
        /// Order id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        server: crate::ServerArgs,
    },
    /// Lift an order now.
    Lift {
        /// Order id.
        id: String,
        /// Why it is lifted.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        server: crate::ServerArgs,
    },
}

fn client(args: &crate::ServerArgs) -> anyhow::Result<Client> {
    Client::new(&args.server, args.token.clone(), &args.data, args.ca_file.as_deref())
}

/// Runs an order subcommand.
pub async fn order(command: OrderCommand) -> anyhow::Result<()> {
    match command {
        OrderCommand::Approve { id, overrides, server } => crate::process::approve(&id, &overrides, &server).await?,
        OrderCommand::Preview { file, id, json, server } => {
            crate::process::preview(id.as_deref(), file.as_ref(), json, &server).await?
        }
        OrderCommand::Reject { id, reason, server } => crate::process::reject(&id, &reason, &server).await?,
        OrderCommand::Create { file, direct, server } => {
            let body: Value =
                serde_json::from_str(&read_input(&file)?).with_context(|| format!("{} is not JSON", file.display()))?;
            let path = if direct { "/v1/orders?direct=true" } else { "/v1/orders" };
            let order = client(&server)?.post(path, &body).await?;
            println!("{}", serde_json::to_string_pretty(&order)?);
        }
        OrderCommand::List { tenant, json, server } => {
            let client = client(&server)?;
            let mut after: Option<String> = None;
            let mut all = Vec::new();
            loop {
                let mut path = String::from("/v1/orders?limit=1000");
                if let Some(t) = &tenant {
                    path.push_str(&format!("&tenant={t}"));
                }
                if let Some(a) = &after {
                    path.push_str(&format!("&after={a}"));
                }
                let page = client.get(&path).await?;
                all.extend(page["items"].as_array().cloned().unwrap_or_default());
                match page["next"].as_str() {
                    Some(next) => after = Some(next.to_owned()),
                    None => break,
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!("{:<16} {:<22} {:<8} {:<9} {:<12} SCOPE", "ID", "TENANT", "CLAUSE", "STATUS", "PHASE");
                for o in &all {
                    let scope: Vec<String> = o["scope"]["units"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .chain(o["scope"]["subscriptions"].as_array().into_iter().flatten())
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect();
                    println!(
                        "{:<16} {:<22} {:<8} {:<9} {:<12} {}",
                        o["id"].as_str().unwrap_or(""),
                        o["tenant"].as_str().unwrap_or(""),
                        o["clause"].as_str().unwrap_or(""),
                        o["status"].as_str().unwrap_or(""),
                        o["current_phase"].as_str().unwrap_or("-"),
                        scope.join(", ")
                    );
                }
            }
        }
        OrderCommand::Show { id, server } => {
            let order = client(&server)?.get(&format!("/v1/orders/{id}")).await?;
            println!("{}", serde_json::to_string_pretty(&order)?);
        }
        OrderCommand::Lift { id, reason, server } => {
            let order =
                client(&server)?.post(&format!("/v1/orders/{id}/lift"), &serde_json::json!({"reason": reason})).await?;
            println!(
                "lifted {} at {}",
                order["id"].as_str().unwrap_or(&id),
                order["lifted_at"].as_str().unwrap_or("now")
            );
        }
    }
    Ok(())
}

/// `verdict user …`.
#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user; prints its token once (store it: it cannot be shown again).
    Add {
        /// Unique name, e.g. `approver-a`.
        name: String,
        /// admin, analyst, approver, reviewer, auditor, tenant or pep.
        #[arg(long)]
        role: String,
        /// For tenant users: the tenant they act for.
        #[arg(long)]
        tenant: Option<String>,
        /// For pep users: replicate only this tenant (repeatable); its
        /// gateway learns nothing of any other.
        #[arg(long = "scope-tenant", value_name = "TENANT")]
        scope_tenants: Vec<String>,
        /// For pep users: replicate only subscriptions in this region
        /// (repeatable), and only tenants that have one there.
        #[arg(long = "scope-region", value_name = "REGION")]
        scope_regions: Vec<String>,
        /// Write the token to this file (mode 0600) instead of printing it.
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        #[command(flatten)]
        server: crate::ServerArgs,
    },
    /// List users, revoked ones too.
    List {
        #[command(flatten)]
        server: crate::ServerArgs,
    },
    /// Revoke a user's token at once.
    Revoke {
        /// The user.
        name: String,
        #[command(flatten)]
        server: crate::ServerArgs,
    },
}

/// Runs a `verdict user` command against a server.
pub async fn user(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add { name, role, tenant, scope_tenants, scope_regions, token_file, server } => {
            let mut body = serde_json::json!({"name": name, "role": role, "tenant": tenant});
            if !scope_tenants.is_empty() || !scope_regions.is_empty() {
                body["scope"] = serde_json::json!({"tenants": scope_tenants, "regions": scope_regions});
            }
            let created = client(&server)?.post("/v1/users", &body).await?;
            let token = created["token"].as_str().context("the server returned no token")?;
            match token_file {
                Some(path) => {
                    use std::io::Write as _;
                    use std::os::unix::fs::OpenOptionsExt as _;
                    let mut file = std::fs::OpenOptions::new()
                        .create_new(true)
                        .write(true)
                        .mode(0o600)
                        .open(&path)
                        .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
                    file.write_all(format!("{token}\n").as_bytes())?;
                    eprintln!("added {name} ({role}); its token is in {} (mode 0600)", path.display());
                }
                None => {
                    eprintln!("added {name} ({role}); its token, shown only this once:");
                    println!("{token}");
                }
            }
        }
        UserCommand::List { server } => {
            let users = client(&server)?.get("/v1/users").await?;
            println!("{:<20} {:<18} {:<22} {:<21} {:<21} SCOPE", "NAME", "ROLES", "TENANT", "CREATED", "REVOKED");
            for u in users.as_array().into_iter().flatten() {
                let list = |v: &serde_json::Value| {
                    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(","))
                };
                let scope = match (list(&u["scope"]["tenants"]), list(&u["scope"]["regions"])) {
                    (None, None) => "-".to_owned(),
                    (t, r) => format!("tenants={} regions={}", t.unwrap_or("*".into()), r.unwrap_or("*".into())),
                };
                println!(
                    "{:<20} {:<18} {:<22} {:<21} {:<21} {scope}",
                    u["name"].as_str().unwrap_or(""),
                    list(&u["roles"]).unwrap_or_default(),
                    u["tenant"].as_str().unwrap_or("-"),
                    u["created_at"].as_str().unwrap_or(""),
                    u["revoked_at"].as_str().unwrap_or("-"),
                );
            }
        }
        UserCommand::Revoke { name, server } => {
            client(&server)?.post(&format!("/v1/users/{name}/revoke"), &serde_json::json!({})).await?;
            println!("revoked {name}");
        }
    }
    Ok(())
}
