//! A fresh store per test, on every backend verdict supports: SQLite in a
//! temporary directory, and PostgreSQL in a database created for the test
//! and dropped after it, so tests run in parallel and leave nothing behind.
//!
//! PostgreSQL is the server at `VERDICT_TEST_POSTGRES` (default
//! `postgres://root@127.0.0.1:5432/postgres`, the machine's own with trust
//! authentication); `.ci/run` starts it. Setting `VERDICT_TEST_POSTGRES=off`
//! runs the SQLite half only, and says so; an unreachable server is a test
//! failure, never a silent skip.

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
                sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("CREATE DATABASE");
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
        self.try_open().await.unwrap_or_else(|e| panic!("cannot open the {} test store: {e}", self.backend))
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
