//! A PostgreSQL database of a benchmark's own.

use anyhow::Context as _;

/// A database of its own on the PostgreSQL server at `admin_url`, until
/// [`BenchDatabase::drop_now`].
pub struct BenchDatabase {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl BenchDatabase {
    /// Creates `verdict_bench_<pid>_<tag>` (dropping a leftover first).
    pub async fn create(admin_url: &str, tag: &str) -> anyhow::Result<BenchDatabase> {
        use sqlx::Connection;
        let name = format!("verdict_bench_{}_{tag}", std::process::id());
        let mut conn = sqlx::PgConnection::connect(admin_url).await.context("cannot reach PostgreSQL")?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await?;
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await?;
        let base = admin_url.rsplit_once('/').map_or(admin_url, |(base, _)| base);
        Ok(BenchDatabase { admin: admin_url.to_owned(), url: format!("{base}/{name}"), name })
    }

    /// Drops it, closing any connection still open.
    pub async fn drop_now(self) -> anyhow::Result<()> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&self.admin).await?;
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn).await?;
        Ok(())
    }
}
