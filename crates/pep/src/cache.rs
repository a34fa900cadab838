//! The last snapshot on disk, so that an enforcement point restarted while
//! the control plane is unreachable still enforces what it last knew, with
//! its true age.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use verdict_engine::SnapshotDocument;

/// The `format` of a cache file.
const CACHE_FORMAT: &str = "verdict-pep-cache/1";

#[derive(Serialize, Deserialize)]
struct CacheFile {
    format: String,
    /// When the control plane last confirmed this snapshot current
    /// (milliseconds since the Unix epoch).
    confirmed_at_ms: u64,
    document: SnapshotDocument,
}

/// Writes `document`, confirmed current `age` ago, to `path` atomically: a
/// temporary file beside it, flushed to disk, then renamed over it.
pub(crate) fn write(path: &Path, document: SnapshotDocument, age: Duration) -> Result<(), String> {
    let confirmed = SystemTime::now().checked_sub(age).unwrap_or(UNIX_EPOCH);
    let confirmed_at_ms = confirmed.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
    let file = CacheFile { format: CACHE_FORMAT.to_owned(), confirmed_at_ms, document };
    let tmp = path.with_extension("tmp");
    let written = (|| {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        serde_json::to_writer(&mut out, &file)?;
        let out = out.into_inner().map_err(|e| e.into_error())?;
        out.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e: std::io::Error| format!("cannot write the snapshot cache {}: {e}", path.display()))
}

/// Reads a cache file: the document and how long ago it was confirmed.
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
    let confirmed = UNIX_EPOCH + Duration::from_millis(file.confirmed_at_ms);
    Ok((file.document, SystemTime::now().duration_since(confirmed).unwrap_or_default()))
}
