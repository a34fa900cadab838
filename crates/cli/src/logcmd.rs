//! `verdict log …`: the transparency log from the outside — its key, a
//! monitor's full verification over HTTP, offline receipt verification, and
//! an offline check of a data directory's log against its store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use verdict_control::DataDir;
use verdict_log::{Checkpoint, Hash, Receipt, TileId, Tree, VerifierKey, decode_bundle, leaf_hash};

use crate::DataArgs;

/// `verdict log …`.
#[derive(Subcommand)]
pub enum LogCommand {
    /// Print the log's verifier key (C2SP vkey), creating the key if the
    /// data directory has none yet.
    Key {
        #[command(flatten)]
        data: DataArgs,
    },
    /// Verify a log as a monitor: the checkpoint's signature, every tile and
    /// entry, and consistency with what FILE remembers from last time.
    ///
    /// Exit status: 0 verified, 1 the log fails verification (the message
    /// names the first bad index), 2 the log could not be read.
    Verify(VerifyArgs),
    /// Verify a tlog-proof receipt offline.
    ///
    /// Exit status: 0 verified, 1 it does not verify, 2 it could not be read.
    VerifyReceipt(ReceiptArgs),
    /// Check a data directory's log and store against each other, offline.
    ///
    /// Exit status: 0 consistent, 1 problems found (listed), 2 unreadable.
    Fsck {
        #[command(flatten)]
        data: DataArgs,
        /// Check this PostgreSQL store (postgres://…) instead of the data
        /// directory's SQLite file; the directory still gives the log key.
        #[arg(long, env = "VERDICT_STORE", value_name = "URL", hide_env_values = true)]
        store: Option<String>,
    },
}

/// Arguments of `verdict log verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The log's URL prefix, e.g. http://127.0.0.1:8750/log.
    #[arg(long, value_name = "URL")]
    url: String,
    /// The log's verifier key (`verdict log key`), or a file holding it.
    #[arg(long, value_name = "VKEY")]
    key: String,
    /// A monitor's memory: the last verified checkpoint and leaf hashes.
    /// Read if it exists; written after a successful verification.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Trust the certificates in this PEM file for an HTTPS log with a
    /// private CA (beside the system's roots).
    #[arg(long, env = "VERDICT_CA_FILE", value_name = "FILE")]
    ca_file: Option<PathBuf>,
}

/// Arguments of `verdict log verify-receipt`.
#[derive(Args)]
pub struct ReceiptArgs {
    /// The receipt (`c2sp.org/tlog-proof@v1` text, e.g. from /log/receipt/N).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The log's verifier key, or a file holding it.
    #[arg(long, value_name = "VKEY")]
    key: String,
    /// The entry the receipt is for; defaults to the copy in its `extra` line.
    #[arg(long, value_name = "FILE")]
    entry: Option<PathBuf>,
}

/// A verification failure: the log is bad, as opposed to unreadable.
#[derive(Debug)]
struct Bad(String);

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Bad {}

fn bad(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Bad(message.into()))
}

/// Runs a `verdict log` command. Verification failures exit 1, with the
/// message on stderr; other errors propagate (exit 2).
pub async fn run(command: LogCommand) -> anyhow::Result<ExitCode> {
    let result = match command {
        LogCommand::Key { data } => {
            let key = DataDir::open(&data.data)?.log_key(None)?;
            println!("{}", key.verifier());
            return Ok(ExitCode::SUCCESS);
        }
        LogCommand::Verify(args) => verify(&args).await,
        LogCommand::VerifyReceipt(args) => verify_receipt(&args),
        LogCommand::Fsck { data, store } => fsck(&data.data, store.as_deref()).await,
    };
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.downcast_ref::<Bad>().is_some() => {
            eprintln!("FAILED: {e}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e),
    }
}

fn load_key(key: &str) -> anyhow::Result<VerifierKey> {
    if let Ok(parsed) = VerifierKey::parse(key.trim()) {
        return Ok(parsed);
    }
    let text = std::fs::read_to_string(key)
        .with_context(|| format!("{key:?} is neither a verifier key (name+id+key) nor a readable file"))?;
    VerifierKey::parse(text.trim()).with_context(|| format!("{key} does not hold a verifier key"))
}

// ---- verify -----------------------------------------------------------------

/// What a monitor remembers between runs.
#[derive(Serialize, Deserialize)]
struct MonitorState {
    origin: String,
    size: u64,
    /// Root hash, base64.
    root: String,
    /// The signed checkpoint as it was served.
    checkpoint: String,
    /// Every leaf hash up to `size`, concatenated, base64: lets the next run
    /// say which entry changed, not only that something did.
    leaves: String,
}

async fn fetch(http: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let response = http.get(url).send().await.with_context(|| format!("cannot fetch {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("{url} answered HTTP {}", status.as_u16());
    }
    Ok(response.bytes().await.with_context(|| format!("cannot read {url}"))?.to_vec())
}

fn check_entry(index: u64, entry: &[u8]) -> anyhow::Result<()> {
    let value: serde_json::Value = serde_json::from_slice(entry)
        .map_err(|e| bad(format!("entry {index}: not JSON ({e}); a verdict entry is a JSON object")))?;
    let missing: Vec<&str> =
        ["v", "type", "time", "public", "commitment"].into_iter().filter(|f| value.get(f).is_none()).collect();
    if !missing.is_empty() {
        return Err(bad(format!("entry {index}: not a verdict log entry (no {})", missing.join(", "))));
    }
    if value["v"] != 1 {
        return Err(bad(format!("entry {index}: format version {} is not one this verifier knows (1)", value["v"])));
    }
    Ok(())
}

async fn verify(args: &VerifyArgs) -> anyhow::Result<()> {
    let key = load_key(&args.key)?;
    let base = args.url.trim_end_matches('/');
    let http = verdict_pep::tls::client_builder(args.ca_file.as_deref())?.build().context("cannot set up HTTPS")?;
    let note = String::from_utf8(fetch(&http, &format!("{base}/checkpoint")).await?)
        .map_err(|_| bad("the checkpoint is not UTF-8"))?;
    let checkpoint = Checkpoint::open(&note, &key).map_err(|e| bad(format!("checkpoint: {e}")))?;
    let size = checkpoint.size;

    // Level 0: every entry bundle against its hash tile.
    let mut leaves: Vec<Hash> = Vec::with_capacity(size as usize);
    for tile in TileId::for_tree(size, 0, false) {
        let (start, end) = tile.entry_range();
        let hashes = fetch(&http, &format!("{base}/{}", tile.path())).await?;
        if hashes.len() as u64 != (end - start) * 32 {
            return Err(bad(format!(
                "{}: {} bytes, but a tile of entries {start}..{end} holds {}",
                tile.path(),
                hashes.len(),
                (end - start) * 32
            )));
        }
        let bundle_id = TileId { entries: true, ..tile };
        let bundle = fetch(&http, &format!("{base}/{}", bundle_id.path())).await?;
        let entries =
            decode_bundle(&bundle).map_err(|e| bad(format!("{} (entries {start}..{end}): {e}", bundle_id.path())))?;
        for (offset, chunk) in hashes.chunks_exact(32).enumerate() {
            let index = start + offset as u64;
            let Some(entry) = entries.get(offset) else {
                return Err(bad(format!(
                    "entry {index}: missing from {} ({} entries where {} were due)",
                    bundle_id.path(),
                    entries.len(),
                    end - start
                )));
            };
            let leaf = leaf_hash(entry);
            if leaf[..] != chunk[..] {
                return Err(bad(format!(
                    "entry {index}: its bytes hash to {}, but tile {} says {}",
                    BASE64.encode(leaf),
                    tile.path(),
                    BASE64.encode(chunk)
                )));
            }
            check_entry(index, entry)?;
            leaves.push(leaf);
        }
        if entries.len() as u64 > end - start {
            return Err(bad(format!(
                "entry {end}: {} holds {} entries, more than the {} its tile covers",
                bundle_id.path(),
                entries.len(),
                end - start
            )));
        }
    }
    let tree = Tree::from_leaves(leaves.iter().copied());
    let root = tree.root();

    // Against what a monitor saw before: the log may only have grown.
    if let Some(path) = &args.state
        && path.exists()
    {
        let state: MonitorState = serde_json::from_str(
            &std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("{} is not a monitor state file", path.display()))?;
        check_against_state(&state, &checkpoint, &tree, &leaves)?;
        if state.size > 0 && state.size < size {
            check_server_consistency(&http, base, &state, &checkpoint).await?;
        }
    }

    if root != checkpoint.root {
        // Every entry matched its tile, so the tiles themselves do not add
        // up to the signed tree.
        return Err(bad(format!(
            "the {size} entries hash to root {}, but the signed checkpoint says {}",
            BASE64.encode(root),
            BASE64.encode(checkpoint.root)
        )));
    }
    // Higher levels must agree with the entries too.
    let mut level = 1u8;
    while size >> (8 * u32::from(level)) > 0 {
        for tile in TileId::for_tree(size, level, false) {
            let served = fetch(&http, &format!("{base}/{}", tile.path())).await?;
            let expected = tree.tile(&tile, size).map_err(|e| anyhow!("cannot compute {}: {e}", tile.path()))?;
            if served != expected {
                let (start, end) = tile.entry_range();
                return Err(bad(format!(
                    "{} (entries {start}..{end}) does not match the entries it summarises",
                    tile.path()
                )));
            }
        }
        level += 1;
    }

    if let Some(path) = &args.state {
        let state = MonitorState {
            origin: checkpoint.origin.clone(),
            size,
            root: BASE64.encode(root),
            checkpoint: note.clone(),
            leaves: BASE64.encode(leaves.concat()),
        };
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    println!("verified {size} entries of {}; root {}", checkpoint.origin, BASE64.encode(root));
    Ok(())
}

fn check_against_state(
    state: &MonitorState,
    checkpoint: &Checkpoint,
    tree: &Tree,
    leaves: &[Hash],
) -> anyhow::Result<()> {
    if state.origin != checkpoint.origin {
        return Err(bad(format!(
            "the state file is for log {:?}, but this checkpoint is from {:?}",
            state.origin, checkpoint.origin
        )));
    }
    let old: Vec<u8> = BASE64.decode(&state.leaves).context("the state file's leaves are not base64")?;
    let old_leaves: Vec<&[u8]> = old.chunks(32).collect();
    if checkpoint.size < state.size {
        return Err(bad(format!(
            "entry {}: missing — the log shrank from {} entries (last verified) to {}",
            checkpoint.size, state.size, checkpoint.size
        )));
    }
    let root_then = tree.root_at(state.size).map_err(|e| anyhow!("{e}"))?;
    if BASE64.encode(root_then) == state.root {
        return Ok(());
    }
    let changed = old_leaves.iter().zip(leaves).position(|(old, new)| old[..] != new[..]);
    let what = if checkpoint.size == state.size {
        "a fork: the same size with another root"
    } else {
        "not an extension of the tree last verified"
    };
    match changed {
        Some(index) => Err(bad(format!(
            "entry {index}: changed since it was last verified ({} then, {} now); the log is {what}",
            BASE64.encode(old_leaves[index]),
            BASE64.encode(leaves[index])
        ))),
        None => Err(bad(format!(
            "the first {} entries no longer produce root {}; the log is {what}",
            state.size, state.root
        ))),
    }
}

async fn check_server_consistency(
    http: &reqwest::Client,
    base: &str,
    state: &MonitorState,
    checkpoint: &Checkpoint,
) -> anyhow::Result<()> {
    // `base` is …/log; the proof endpoints sit beside the tiles.
    let url = format!("{base}/proof/consistency?old={}&new={}", state.size, checkpoint.size);
    let body: serde_json::Value =
        serde_json::from_slice(&fetch(http, &url).await?).with_context(|| format!("{url} did not answer JSON"))?;
    let proof: Vec<Hash> = body["proof"]
        .as_array()
        .ok_or_else(|| anyhow!("{url} gave no proof"))?
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|s| BASE64.decode(s).ok())
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| anyhow!("{url}: a proof hash is not 32 bytes of base64"))
        })
        .collect::<anyhow::Result<_>>()?;
    let old_root: Hash =
        BASE64.decode(&state.root).ok().and_then(|b| b.try_into().ok()).context("the state's root is not a hash")?;
    verdict_log::verify_consistency(state.size, checkpoint.size, &old_root, &checkpoint.root, &proof).map_err(|e| {
        bad(format!("the log's consistency proof from {} to {} entries fails: {e}", state.size, checkpoint.size))
    })
}

// ---- verify-receipt -----------------------------------------------------------

fn verify_receipt(args: &ReceiptArgs) -> anyhow::Result<()> {
    let key = load_key(&args.key)?;
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let receipt = Receipt::parse(&text).map_err(|e| bad(format!("{}: {e}", args.file.display())))?;
    let entry = match &args.entry {
        Some(path) => std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        None => receipt
            .extra
            .clone()
            .ok_or_else(|| bad("the receipt carries no entry (no extra line); pass the entry with --entry FILE"))?,
    };
    let checkpoint =
        receipt.verify(&key, &leaf_hash(&entry)).map_err(|e| bad(format!("entry {}: {e}", receipt.index)))?;
    let value: serde_json::Value = serde_json::from_slice(&entry).unwrap_or_default();
    println!(
        "receipt verified: entry {} ({} at {}) is in log {} of {} entries",
        receipt.index,
        value["type"].as_str().unwrap_or("?"),
        value["time"].as_str().unwrap_or("?"),
        checkpoint.origin,
        checkpoint.size
    );
    Ok(())
}

// ---- fsck -------------------------------------------------------------------

async fn fsck(data: &Path, shared: Option<&str>) -> anyhow::Result<()> {
    let dir = DataDir::open(data)?;
    let key = if dir.log_key_path().exists() { Some(dir.log_key(None)?.verifier()) } else { None };
    let store = match shared {
        Some(url) => {
            anyhow::ensure!(verdict_store::is_postgres(url), "--store takes a postgres:// URL, not {url:?}");
            verdict_store::open(url).await.with_context(|| format!("cannot open {}", crate::serve::redact(url)))?
        }
        None => {
            if !dir.is_initialised() {
                bail!("{} holds no verdict data", data.display());
            }
            let path = dir.database().display().to_string();
            verdict_store::open(&path).await.context("cannot open the database")?
        }
    };
    // The same checks, in the same words, as a server makes before it opens.
    let verdict_control::Fsck { size, changes, orders, problems } =
        verdict_control::fsck(store.as_ref(), key.as_ref()).await?;
    if problems.is_empty() {
        println!("fsck: {size} log entries, {changes} changes, {orders} orders: consistent");
        return Ok(());
    }
    for problem in problems.iter().take(20) {
        eprintln!("  {problem}");
    }
    if problems.len() > 20 {
        eprintln!("  … and {} more", problems.len() - 20);
    }
    Err(bad(format!("{} problem(s) in {}; the first: {}", problems.len(), data.display(), problems[0])))
}
