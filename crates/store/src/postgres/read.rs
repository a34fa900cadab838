//! The PostgreSQL queries every read runs: the shared text in
//! `queries/read.rs`, over PostgreSQL's connection and rows.

use sqlx::PgConnection as DbConnection;
use sqlx::postgres::PgRow as DbRow;

include!("../queries/read.rs");
