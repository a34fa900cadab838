//! `verdict clause|case|appeal|notice|report` and `verdict order
//! approve|reject`: due process from the shell, so the whole story can be
//! played from a script. Each command is one request to a running server
//! with the caller's token (`--token` or `VERDICT_TOKEN`).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use crate::ServerArgs;
use crate::client::Client;

fn client(server: &ServerArgs) -> anyhow::Result<Client> {
    Client::new(&server.server, server.token.clone(), &server.data, server.ca_file.as_deref())
}

fn print(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn json_file(path: &PathBuf) -> anyhow::Result<Value> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// `verdict clause …`.
#[derive(Subcommand)]
pub enum ClauseCommand {
    /// Publish a clause (a new version if the id exists). Admins.
    Publish {
        /// Clause id, e.g. AUP-2.
        id: String,
        /// Title.
        #[arg(long)]
        title: String,
        /// The clause's text.
        #[arg(long)]
        text: String,
        /// Approvers an order under it needs (default 2).
        #[arg(long)]
        approvals: Option<u32>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List every version of every clause.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `verdict case …`.
#[derive(Subcommand)]
pub enum CaseCommand {
    /// Open a case. Analysts.
    Open {
        /// The tenant under review.
        #[arg(long)]
        tenant: String,
        /// third_party_report, internal_signal, complaint or legal_order.
        #[arg(long)]
        source: String,
        /// A line for people.
        #[arg(long)]
        title: String,
        /// A unit concerned (repeatable).
        #[arg(long = "unit")]
        units: Vec<String>,
        /// A clause concerned (repeatable).
        #[arg(long = "clause", required = true)]
        clauses: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Add evidence from a JSON file (`kind`: external_document,
    /// metadata_finding or note). Never customer content. Analysts.
    Evidence {
        /// Case id.
        id: String,
        /// The evidence as JSON (`-` for standard input).
        file: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Comment on a case.
    Comment {
        /// Case id.
        id: String,
        /// The comment.
        text: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Move a case: under_review, decided, closed, or open to reopen.
    Status {
        /// Case id.
        id: String,
        /// The new status.
        status: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show a case and its timeline.
    Show {
        /// Case id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List cases, newest first.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `verdict appeal …`.
#[derive(Subcommand)]
pub enum AppealCommand {
    /// Appeal an order against your tenant. Tenant users.
    File {
        /// Order id.
        order: String,
        /// Your statement.
        #[arg(long)]
        statement: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Decide an appeal: uphold, amend (with --amendment FILE) or lift. Reviewers.
    Decide {
        /// Appeal id.
        id: String,
        /// uphold, amend or lift.
        outcome: String,
        /// The reasons the tenant will read.
        #[arg(long)]
        reasons: String,
        /// For amend: the order's new version as JSON.
        #[arg(long, value_name = "FILE")]
        amendment: Option<PathBuf>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List appeals.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `verdict notice …`.
#[derive(Subcommand)]
pub enum NoticeCommand {
    /// List notices (a tenant user sees its own).
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Show a notice.
    Show {
        /// Notice id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print a notice's tlog-proof receipt (verify it with `verdict log verify-receipt`).
    Receipt {
        /// Notice id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print a notice in the DSA Transparency Database statement shape.
    Dsa {
        /// Notice id.
        id: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `verdict report`.
#[derive(Args)]
pub struct ReportArgs {
    /// Start of the period (RFC 3339, inclusive).
    #[arg(long)]
    from: Option<String>,
    /// End of the period (RFC 3339, exclusive).
    #[arg(long)]
    to: Option<String>,
    /// json or csv.
    #[arg(long, default_value = "json")]
    format: String,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `verdict clause …`.
pub async fn clause(command: ClauseCommand) -> anyhow::Result<()> {
    match command {
        ClauseCommand::Publish { id, title, text, approvals, server } => {
            let body = json!({"id": id, "title": title, "text": text, "approvals_required": approvals});
            print(&client(&server)?.post("/v1/clauses", &body).await?)
        }
        ClauseCommand::List { server } => print(&client(&server)?.get("/v1/clauses").await?),
    }
}

/// Runs `verdict case …`.
pub async fn case(command: CaseCommand) -> anyhow::Result<()> {
    match command {
        CaseCommand::Open { tenant, source, title, units, clauses, server } => {
            let body =
                json!({"tenant": tenant, "source_type": source, "title": title, "units": units, "clauses": clauses});
            print(&client(&server)?.post("/v1/cases", &body).await?)
        }
        CaseCommand::Evidence { id, file, server } => {
            print(&client(&server)?.post(&format!("/v1/cases/{id}/evidence"), &json_file(&file)?).await?)
        }
        CaseCommand::Comment { id, text, server } => {
            print(&client(&server)?.post(&format!("/v1/cases/{id}/comments"), &json!({"text": text})).await?)
        }
        CaseCommand::Status { id, status, reason, server } => {
            let body = json!({"status": status, "reason": reason});
            print(&client(&server)?.post(&format!("/v1/cases/{id}/status"), &body).await?)
        }
        CaseCommand::Show { id, server } => print(&client(&server)?.get(&format!("/v1/cases/{id}")).await?),
        CaseCommand::List { server } => print(&client(&server)?.get("/v1/cases").await?),
    }
}

/// Runs `verdict order approve`: fetches the order's preview, shows its
/// summary, and approves exactly that (its hash), with any guard overrides
/// given as `GUARD=REASON`.
pub async fn approve(id: &str, overrides: &[String], server: &ServerArgs) -> anyhow::Result<()> {
    let client = client(server)?;
    let preview = client.get(&format!("/v1/orders/{id}/preview")).await?;
    eprintln!("approving order {id} as previewed: {}", preview["summary"]);
    let overrides: Vec<Value> = overrides
        .iter()
        .map(|o| {
            let (guard, reason) = o.split_once('=').context("an override is GUARD=REASON")?;
            Ok(json!({"guard": guard, "reason": reason}))
        })
        .collect::<anyhow::Result<_>>()?;
    let body = json!({"preview_hash": preview["hash"], "overrides": overrides});
    print(&client.post(&format!("/v1/orders/{id}/approve"), &body).await?)
}

/// Runs `verdict order preview`: the order's blast radius as a tree (unit →
/// subscription → service: what each phase denies), or JSON.
pub async fn preview(id: Option<&str>, file: Option<&PathBuf>, json: bool, server: &ServerArgs) -> anyhow::Result<()> {
    let client = client(server)?;
    let preview = match (id, file) {
        (Some(id), _) => client.get(&format!("/v1/orders/{id}/preview")).await?,
        (None, Some(file)) => client.post("/v1/orders/preview", &json_file(file)?).await?,
        (None, None) => anyhow::bail!("give an order id (--id) or an order body (FILE)"),
    };
    if json {
        return print(&preview);
    }
    println!(
        "tenant {}  (preview {})",
        preview["tenant"].as_str().unwrap_or(""),
        preview["hash"].as_str().unwrap_or("")
    );
    let mut by_unit: std::collections::BTreeMap<&str, Vec<&Value>> = std::collections::BTreeMap::new();
    for a in preview["affected"].as_array().into_iter().flatten() {
        by_unit.entry(a["unit"].as_str().unwrap_or("")).or_default().push(a);
    }
    for (unit, subs) in by_unit {
        println!("{unit}");
        for sub in subs {
            println!("  {}", sub["subscription"].as_str().unwrap_or(""));
            for (service, phases) in sub["services"].as_object().into_iter().flatten() {
                let what: Vec<String> = phases
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(mode, classes)| {
                        let list: Vec<&str> =
                            classes.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                        if list.is_empty() {
                            format!("{mode}: nothing denied")
                        } else {
                            format!("{mode}: denies {}", list.join(" "))
                        }
                    })
                    .collect();
                println!("    {service:<20} {}", what.join("; "));
            }
        }
    }
    let untouched: Vec<&str> =
        preview["untouched"].as_array().into_iter().flatten().filter_map(|u| u["subscription"].as_str()).collect();
    println!("untouched: {}", if untouched.is_empty() { "none".to_owned() } else { untouched.join(", ") });
    let exempted: Vec<&str> = preview["exempted"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    println!("exempted: {}", if exempted.is_empty() { "none".to_owned() } else { exempted.join(", ") });
    Ok(())
}

/// Runs `verdict order reject`.
pub async fn reject(id: &str, reason: &str, server: &ServerArgs) -> anyhow::Result<()> {
    print(&client(server)?.post(&format!("/v1/orders/{id}/reject"), &json!({"reason": reason})).await?)
}

/// Runs `verdict appeal …`.
pub async fn appeal(command: AppealCommand) -> anyhow::Result<()> {
    match command {
        AppealCommand::File { order, statement, server } => print(
            &client(&server)?.post(&format!("/v1/orders/{order}/appeals"), &json!({"statement": statement})).await?,
        ),
        AppealCommand::Decide { id, outcome, reasons, amendment, server } => {
            let amendment = amendment.as_ref().map(json_file).transpose()?;
            let body = json!({"outcome": outcome, "reasons": reasons, "amendment": amendment});
            print(&client(&server)?.post(&format!("/v1/appeals/{id}/decision"), &body).await?)
        }
        AppealCommand::List { server } => print(&client(&server)?.get("/v1/appeals").await?),
    }
}

/// Runs `verdict notice …`.
pub async fn notice(command: NoticeCommand) -> anyhow::Result<()> {
    match command {
        NoticeCommand::List { server } => print(&client(&server)?.get("/v1/notices").await?),
        NoticeCommand::Show { id, server } => print(&client(&server)?.get(&format!("/v1/notices/{id}")).await?),
        NoticeCommand::Receipt { id, server } => {
            print!("{}", client(&server)?.get_text(&format!("/v1/notices/{id}/receipt")).await?);
            Ok(())
        }
        NoticeCommand::Dsa { id, server } => print(&client(&server)?.get(&format!("/v1/notices/{id}/dsa")).await?),
    }
}

/// Runs `verdict report`.
pub async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let mut query = vec![format!("format={}", args.format)];
    if let Some(from) = &args.from {
        query.push(format!("from={from}"));
    }
    if let Some(to) = &args.to {
        query.push(format!("to={to}"));
    }
    let text = client(&args.server)?.get_text(&format!("/v1/reports/transparency?{}", query.join("&"))).await?;
    print!("{text}");
    if !text.ends_with('\n') {
        println!();
    }
    Ok(())
}
