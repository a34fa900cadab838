//! Static files the pages link to, compiled into the binary and served at
//! a path that names their content's hash, so a browser may cache them for
//! good and a new release is never served an old stylesheet.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// One static file.
pub struct Asset {
    /// Its file name, e.g. `console.css`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its content.
    pub body: &'static str,
    path: OnceLock<String>,
}

impl Asset {
    const fn new(name: &'static str, content_type: &'static str, body: &'static str) -> Asset {
        Asset { name, content_type, body, path: OnceLock::new() }
    }

    /// Where it is served: `/console/assets/<first 16 hex digits of its
    /// SHA-256>/<name>`.
    pub fn path(&self) -> &str {
        self.path.get_or_init(|| format!("{PREFIX}{}/{}", self.hash(), self.name))
    }

    fn hash(&self) -> String {
        Sha256::digest(self.body.as_bytes())[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The path every asset is served under.
pub const PREFIX: &str = "/console/assets/";

/// The stylesheet of every page.
pub static STYLESHEET: Asset =
    Asset::new("console.css", "text/css; charset=utf-8", include_str!("../assets/console.css"));

/// Redraws an order draft's preview as the draft changes.
pub static DRAFT_SCRIPT: Asset =
    Asset::new("draft.js", "text/javascript; charset=utf-8", include_str!("../assets/draft.js"));

/// Verifies log entries' inclusion and the checkpoint's signature in the
/// browser.
pub static VERIFY_SCRIPT: Asset =
    Asset::new("verify.js", "text/javascript; charset=utf-8", include_str!("../assets/verify.js"));

/// Every asset.
pub static ALL: [&Asset; 3] = [&STYLESHEET, &DRAFT_SCRIPT, &VERIFY_SCRIPT];

/// The asset served at `path` (under [`PREFIX`]), if any: only the current
/// hash is found, so an old page's link is a 404 rather than new content.
pub fn find(path: &str) -> Option<&'static Asset> {
    ALL.iter().copied().find(|a| a.path() == path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_asset_is_found_by_its_hashed_path_only() {
        let path = STYLESHEET.path();
        assert!(path.starts_with(PREFIX) && path.ends_with("/console.css"), "{path}");
        assert!(find(path).is_some());
        assert!(find("/console/assets/0000000000000000/console.css").is_none());
    }
}
