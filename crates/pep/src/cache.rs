//! The last snapshot on disk, so that an enforcement point restarted while
//! the control plane is unreachable still enforces what it last knew, with
//! the age it really has.
//!
//! Two files: the snapshot document itself (`FILE`, rewritten when the
//! version moves on) and a small stamp beside it (`FILE.confirmed`,
//! rewritten at every interval) saying when the control plane last
//! confirmed that version current, so a quiet period does not make a
//! restarted replica think its snapshot older than it is. Both are written
//! owner-only (they hold what a pep token reads) and replaced atomically.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use verdict_engine::SnapshotDocument;

/// The `format` of a cache file.
const CACHE_FORMAT: &str = "verdict-pep-cache/1";

/// How far in the future a confirmation may lie before the clock that wrote
/// it is not trusted (and the snapshot's age taken as unknown).
const CLOCK_TOLERANCE: Duration = Duration::from_secs(60);

/// The age given to a snapshot whose confirmation cannot be trusted: old
/// enough that every fail-closed family stays closed.
const UNKNOWN_AGE: Duration = Duration::from_secs(100 * 365 * 86_400);

#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: String,
    /// When the control plane last confirmed this snapshot current
    /// (milliseconds since the Unix epoch).
    confirmed_at_ms: u64,
    document: SnapshotDocument,
}

#[derive(Serialize, Deserialize)]
struct Stamp {
    version: u64,
    lineage: String,
    confirmed_at_ms: u64,
}

fn stamp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".confirmed");
    path.with_file_name(name)
}

fn confirmed_at_ms(age: Duration) -> u64 {
    let confirmed = SystemTime::now().checked_sub(age).unwrap_or(UNIX_EPOCH);
    confirmed.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

/// Replaces `path` with `bytes`: owner-only, flushed to disk, renamed over
/// the old file, and the rename itself made durable.
fn replace(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<(), String> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    let tmp = path.with_file_name(name);
    let done = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut out = std::io::BufWriter::new(options.open(&tmp)?);
        write(&mut out)?;
        out.flush()?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    done.map_err(|e: std::io::Error| format!("cannot write {}: {e}", path.display()))
}

/// Writes `document`, confirmed current `age` ago.
pub(crate) fn write(path: &Path, document: SnapshotDocument, age: Duration) -> Result<(), String> {
    let file = CacheFile { format: CACHE_FORMAT.to_owned(), confirmed_at_ms: confirmed_at_ms(age), document };
    replace(path, |out| serde_json::to_writer(out, &file).map_err(std::io::Error::from))
}

/// Records that `version` of `lineage` was confirmed current `age` ago.
pub(crate) fn stamp(path: &Path, version: u64, lineage: &str, age: Duration) -> Result<(), String> {
    let stamp = Stamp { version, lineage: lineage.to_owned(), confirmed_at_ms: confirmed_at_ms(age) };
    replace(&stamp_path(path), |out| serde_json::to_writer(out, &stamp).map_err(std::io::Error::from))
}

/// Reads the cache: the document and how long ago it was confirmed (the
/// later of the document's own time and a stamp for the same version).
pub(crate) fn read(path: &Path) -> Result<(SnapshotDocument, Duration), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the snapshot cache {}: {e}", path.display()))?;
    let file: CacheFile = serde_json::from_slice(&bytes)
        .map_err(|e| format!("the snapshot cache {} is not readable: {e}", path.display()))?;
    if file.format != CACHE_FORMAT {
        return Err(format!(
            "the snapshot cache {} is of format {:?}, not {CACHE_FORMAT:?}",
            path.display(),
            file.format
        ));
    }
    let mut confirmed = file.confirmed_at_ms;
    let stamp = std::fs::read(stamp_path(path)).ok().and_then(|b| serde_json::from_slice::<Stamp>(&b).ok());
    if let Some(stamp) = stamp.filter(|s| s.version == file.document.version && s.lineage == file.document.lineage) {
        confirmed = confirmed.max(stamp.confirmed_at_ms);
    }
    let confirmed = UNIX_EPOCH + Duration::from_millis(confirmed);
    let age = match SystemTime::now().duration_since(confirmed) {
        Ok(age) => age,
        Err(ahead) if ahead.duration() <= CLOCK_TOLERANCE => Duration::ZERO,
        Err(_) => {
            tracing::warn!(path = %path.display(), "the snapshot cache was confirmed in the future; taking its age as unknown");
            UNKNOWN_AGE
        }
    };
    Ok((file.document, age))
}
