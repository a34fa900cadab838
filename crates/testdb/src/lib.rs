//! A fresh store per test, on every backend verdict supports: SQLite in a
//! temporary directory, and PostgreSQL in a database created for the test
//! and dropped after it, so tests run in parallel and leave nothing behind.
//!
//! PostgreSQL is the server at `VERDICT_TEST_POSTGRES` (default
//! `postgres://root@127.0.0.1:5432/postgres`, the machine's own with trust
//! authentication); `.ci/run` starts it. Setting `VERDICT_TEST_POSTGRES=off`
//! runs the SQLite half only, and says so; an unreachable server is a test
//! failure, never a silent skip.
//!
//! [`Nats`] is a real `nats-server` with JetStream for the tests of what
//! verdict does over NATS.

mod nats;

pub use nats::Nats;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;
use verdict_store::{Store, StoreError};

/// A store backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file.
    Sqlite,
    /// A PostgreSQL database.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// Where the PostgreSQL server for tests is, unless it is turned off.
pub fn postgres_admin_url() -> Option<String> {
    match std::env::var("VERDICT_TEST_POSTGRES") {
        Ok(v) if v == "off" => None,
        Ok(v) if !v.is_empty() => Some(v),
        _ => Some("postgres://root@127.0.0.1:5432/postgres".to_owned()),
    }
}

/// Every backend the tests run on: both, unless PostgreSQL is turned off.
pub fn backends() -> Vec<Backend> {
    if postgres_admin_url().is_some() {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        eprintln!("VERDICT_TEST_POSTGRES=off: testing on SQLite only");
        vec![Backend::Sqlite]
    }
}

/// One test's database, which may be opened (and reopened, as a restart
/// would) any number of times; dropped with the value.
pub struct TestDb {
    backend: Backend,
    spec: String,
    dir: tempfile::TempDir,
    /// The PostgreSQL server and the database's name, to drop it.
    postgres: Option<(String, String)>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);
const PREFIX: &str = "verdict_test_";

impl TestDb {
    /// A new, empty database on `backend`.
    pub async fn new(backend: Backend) -> TestDb {
        Self::create(backend, None).await
    }

    /// A new database holding a copy of this one, which nobody may have
    /// open (close its stores first): a restart from the same disk, many
    /// times over.
    pub async fn copy(&self) -> TestDb {
        match &self.postgres {
            None => {
                let copy = Self::create(Backend::Sqlite, None).await;
                copy_files(self.dir.path(), copy.dir.path());
                copy
            }
            Some((_, name)) => Self::create(Backend::Postgres, Some(name)).await,
        }
    }

    async fn create(backend: Backend, template: Option<&str>) -> TestDb {
        let dir = tempfile::tempdir().expect("a temporary directory");
        match backend {
            Backend::Sqlite => {
                let spec = dir.path().join("verdict.db").display().to_string();
                TestDb { backend, spec, dir, postgres: None }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url().expect("PostgreSQL is not turned off");
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot reach the test PostgreSQL at {admin}: {e}; start it (`.ci/run` does) \
                         or set VERDICT_TEST_POSTGRES=off to test on SQLite only"
                    )
                });
                drop_abandoned(&mut conn).await;
                let mut salt = [0u8; 4];
                getrandom::fill(&mut salt).expect("randomness");
                let name = format!(
                    "{PREFIX}{}_{}_{:08x}",
                    std::process::id(),
                    NEXT.fetch_add(1, Ordering::Relaxed),
                    u32::from_le_bytes(salt)
                );
                let create = match template {
                    Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
                    None => format!("CREATE DATABASE {name}"),
                };
                // A template whose last connection just closed may still be
                // counted as in use for a moment.
                let mut tries = 0;
                while let Err(e) = sqlx::query(&create).execute(&mut conn).await {
                    tries += 1;
                    assert!(tries < 100, "{create}: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                conn.close().await.ok();
                let spec = with_database(&admin, &name);
                TestDb { backend, spec, dir, postgres: Some((admin, name)) }
            }
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What `verdict serve --store` takes to open it: the SQLite file's
    /// path or the PostgreSQL URL.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// A directory that lives as long as the database (for data directories
    /// and key files beside it).
    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Opens the store (migrating it on first use).
    pub async fn open(&self) -> Arc<dyn Store> {
        self.try_open().await.unwrap_or_else(|e| {
            // The causes too: "database error" alone says nothing.
            let mut why = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                why.push_str(&format!(": {c}"));
                cause = c.source();
            }
            panic!("cannot open the {} test store: {why}", self.backend)
        })
    }

    /// Opens the store, or says why not.
    pub async fn try_open(&self) -> Result<Arc<dyn Store>, StoreError> {
        verdict_store::open(&self.spec).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else { return };
        // Drop runs outside any runtime (or inside one that must not
        // block): a thread of its own with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(_))) {
            eprintln!("could not drop a test database; the next test run drops it");
        }
    }
}

/// Copies a closed SQLite store's files. A connection's close can still be
/// folding the WAL into the database when the pool reports it closed: a
/// file that vanishes mid-copy means the copy may mix before and after, so
/// it starts again.
fn copy_files(from: &std::path::Path, to: &std::path::Path) {
    for _ in 0..100 {
        let _ = std::fs::remove_dir_all(to);
        std::fs::create_dir_all(to).expect("the copy's directory");
        let copied = std::fs::read_dir(from)
            .expect("the store's directory")
            .map(|entry| entry.map(|e| std::fs::copy(e.path(), to.join(e.file_name()))))
            .all(|outcome| matches!(outcome, Ok(Ok(_))));
        if copied {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{} kept changing while it was copied", from.display());
}

/// Drops the databases of test processes that are gone (killed before
/// their drops ran).
async fn drop_abandoned(conn: &mut sqlx::PgConnection) {
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE $1")
        .bind(format!("{PREFIX}%"))
        .fetch_all(&mut *conn)
        .await
        .unwrap_or_default();
    for name in names {
        let pid = name[PREFIX.len()..].split('_').next().and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut *conn).await;
        }
    }
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced() {
        assert_eq!(with_database("postgres://root@127.0.0.1:5432/postgres", "x"), "postgres://root@127.0.0.1:5432/x");
        assert_eq!(
            with_database("postgres://root@h/postgres?sslmode=disable", "x"),
            "postgres://root@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://root@h", "x"), "postgres://root@h/x");
    }
}
