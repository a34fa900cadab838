//! The data directory: the SQLite file, the access tokens, and a lock that
//! tells offline commands a server is using it.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A data-directory failure.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The directory or a file in it cannot be used.
    #[error("cannot use {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A server holds the directory.
    #[error("a verdict server is running on {0}; stop it, or talk to it with --server")]
    Busy(PathBuf),
    /// The log's key file is unusable, or the origin asked for is not the log's.
    #[error("{0}")]
    LogKey(String),
}

/// The default origin of a new log: `<hostname>/verdict`.
pub fn default_origin() -> String {
    let host = fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty() && !h.contains(char::is_whitespace) && !h.contains('+'))
        .unwrap_or_else(|| "localhost".to_owned());
    format!("{host}/verdict")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io { path: path.to_owned(), source }
}

/// A verdict data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

/// An exclusive hold on a data directory, released on drop.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

impl DataDir {
    /// Opens `root`, creating it (mode 0700) if needed.
    pub fn open(root: &Path) -> Result<DataDir, DataDirError> {
        if !root.exists() {
            fs::create_dir_all(root).map_err(io(root))?;
            fs::set_permissions(root, fs::Permissions::from_mode(0o700)).map_err(io(root))?;
        }
        Ok(DataDir { root: root.to_owned() })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.root.join("verdict.db")
    }

    /// Whether a database exists here already.
    pub fn is_initialised(&self) -> bool {
        self.database().exists()
    }

    /// Takes the directory for a server; fails if another process holds it.
    pub fn lock(&self) -> Result<DataDirLock, DataDirError> {
        let path = self.root.join("serve.lock");
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(DataDirLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(DataDirError::Busy(self.root.clone())),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
        }
    }

    /// The path of token `name` (`admin`, `pep`).
    pub fn token_path(&self, name: &str) -> PathBuf {
        self.root.join(format!("{name}.token"))
    }

    /// The transparency log's key file.
    pub fn log_key_path(&self) -> PathBuf {
        self.root.join("log.key")
    }

    /// The log's signing key, created on first use (mode 0600) with
    /// `origin` (default [`default_origin`]) as its name. A log keeps its
    /// origin for life: asking for another one for an existing key fails.
    pub fn log_key(&self, origin: Option<&str>) -> Result<verdict_log::SigningKey, DataDirError> {
        use base64::Engine as _;
        let path = self.log_key_path();
        let b64 = base64::engine::general_purpose::STANDARD;
        if let Ok(text) = fs::read_to_string(&path) {
            let mut lines = text.lines();
            let (Some(name), Some(seed)) = (lines.next(), lines.next()) else {
                return Err(DataDirError::LogKey(format!(
                    "{} is not a verdict log key (expected the origin line and the base64 seed)",
                    path.display()
                )));
            };
            let seed: [u8; 32] = b64.decode(seed.trim()).ok().and_then(|s| s.try_into().ok()).ok_or_else(|| {
                DataDirError::LogKey(format!("{}: the seed is not 32 bytes of base64", path.display()))
            })?;
            if let Some(wanted) = origin
                && wanted != name
            {
                return Err(DataDirError::LogKey(format!(
                    "the log in {} has origin {name:?}, not {wanted:?}; a log keeps its origin for life \
                     (drop --log-origin, or start a new data directory)",
                    self.root.display()
                )));
            }
            return verdict_log::SigningKey::from_seed(name, seed)
                .map_err(|e| DataDirError::LogKey(format!("{}: {e}", path.display())));
        }
        let name = origin.map(str::to_owned).unwrap_or_else(default_origin);
        let key = verdict_log::SigningKey::generate(&name)
            .map_err(|e| DataDirError::LogKey(format!("cannot make a log key named {name:?}: {e}")))?;
        let mut file = OpenOptions::new().create_new(true).write(true).mode(0o600).open(&path).map_err(io(&path))?;
        file.write_all(format!("{name}\n{}\n", b64.encode(key.seed())).as_bytes()).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        Ok(key)
    }

    /// Reads token `name`, creating it (random, mode 0600) if missing.
    /// Returns the token and whether it was created now.
    pub fn ensure_token(&self, name: &str) -> Result<(String, bool), DataDirError> {
        let path = self.token_path(name);
        if let Ok(text) = fs::read_to_string(&path) {
            let token = text.trim().to_owned();
            if !token.is_empty() {
                return Ok((token, false));
            }
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| DataDirError::Io { path: path.clone(), source: std::io::Error::other(e.to_string()) })?;
        let token: String = format!("vdt_{name}_") + &bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        let mut file =
            OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&path).map_err(io(&path))?;
        file.write_all(format!("{token}\n").as_bytes()).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        Ok((token, true))
    }
}
