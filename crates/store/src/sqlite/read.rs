//! The SQLite queries every read runs: the shared text in
//! `queries/read.rs`, over SQLite's connection and rows.

use sqlx::SqliteConnection as DbConnection;
use sqlx::sqlite::SqliteRow as DbRow;

include!("../queries/read.rs");
