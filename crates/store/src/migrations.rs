//! Schemas embedded in the binary, so an installed server migrates its own
//! database (each backend has its own list).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::migrate::{Migrate, Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{Acquire, Database, Pool};

use crate::StoreError;

/// One backend's migrations: (version, name, SQL).
pub(crate) type Migrations = &'static [(i64, &'static str, &'static str)];

#[derive(Debug)]
struct Embedded(Migrations);

type BoxDynError = Box<dyn std::error::Error + Send + Sync>;

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        Box::pin(async move {
            Ok(self
                .0
                .iter()
                .map(|(version, name, sql)| {
                    Migration::new(*version, Cow::Borrowed(*name), MigrationType::Simple, Cow::Borrowed(*sql), false)
                })
                .collect())
        })
    }
}

/// Brings the database up to the newest schema of `migrations`.
pub(crate) async fn run<DB>(migrations: Migrations, pool: &Pool<DB>) -> Result<(), StoreError>
where
    DB: Database,
    <DB as Database>::Connection: Migrate,
    for<'c> &'c mut <DB as Database>::Connection: Acquire<'c, Database = DB>,
{
    let migrator = Migrator::new(Embedded(migrations))
        .await
        .map_err(|e| StoreError::Corrupt(format!("cannot read migrations: {e}")))?;
    migrator.run(pool).await.map_err(|e| StoreError::Corrupt(format!("cannot migrate the database: {e}")))
}
