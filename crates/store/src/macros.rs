//! What the backends share in code: the mapping from [`crate::Reads`] to
//! each backend's `read` module, and how rows decode into records.

/// Implements [`crate::Reads`] for the invoking backend's reader and
/// transaction (each has a `connection()`), by calling the backend's `read` module: the two
/// backends differ in their SQL, never in what a read means.
macro_rules! reads_over_connection {
    ($($connection:ty),+) => {$(
        #[async_trait]
        impl Reads for $connection {
            async fn load(&mut self) -> Result<Loaded, StoreError> {
                read::load(self.connection()).await
            }

            async fn tenant(&mut self, id: &str) -> Result<Option<Tenant>, StoreError> {
                read::tenant(self.connection(), id).await
            }

            async fn tenants(&mut self, page: &Page) -> Result<Vec<Tenant>, StoreError> {
                read::tenants(self.connection(), page).await
            }

            async fn units(&mut self, tenant: &str) -> Result<Vec<UnitPath>, StoreError> {
                read::units(self.connection(), tenant).await
            }

            async fn subscription(&mut self, id: &str) -> Result<Option<Subscription>, StoreError> {
                read::subscription(self.connection(), id).await
            }

            async fn subscriptions(&mut self, tenant: Option<&str>, page: &Page) -> Result<Vec<Subscription>, StoreError> {
                read::subscriptions(self.connection(), tenant, page).await
            }

            async fn subscriptions_within(&mut self, tenant: &str, unit: &UnitPath) -> Result<u64, StoreError> {
                read::subscriptions_within(self.connection(), tenant, unit).await
            }

            async fn order(&mut self, id: &str) -> Result<Option<Order>, StoreError> {
                read::order(self.connection(), id).await
            }

            async fn orders(&mut self, tenant: Option<&str>, page: &Page) -> Result<Vec<Order>, StoreError> {
                read::orders(self.connection(), tenant, page).await
            }

            async fn max_order_seq(&mut self) -> Result<i64, StoreError> {
                read::max_order_seq(self.connection()).await
            }

            async fn version(&mut self) -> Result<u64, StoreError> {
                read::version(self.connection()).await
            }

            async fn changes(&mut self, after: u64, limit: u32) -> Result<Vec<ChangeRecord>, StoreError> {
                read::changes(self.connection(), after, limit).await
            }

            async fn clauses(&mut self) -> Result<Vec<Clause>, StoreError> {
                read::clauses(self.connection()).await
            }

            async fn case(&mut self, id: &str) -> Result<Option<Case>, StoreError> {
                read::case(self.connection(), id).await
            }

            async fn cases(&mut self, tenant: Option<&str>, limit: u32) -> Result<Vec<Case>, StoreError> {
                read::cases(self.connection(), tenant, limit).await
            }

            async fn case_queue(
                &mut self,
                filter: &CaseFilter,
                offset: u64,
                limit: u32,
            ) -> Result<(Vec<Case>, u64), StoreError> {
                read::case_queue(self.connection(), filter, offset, limit).await
            }

            async fn rules(&mut self) -> Result<Vec<verdict_model::DetectionRule>, StoreError> {
                read::rules(self.connection()).await
            }

            async fn rule_results(
                &mut self,
                rule_id: &str,
                version: u32,
                limit: u32,
            ) -> Result<Vec<RuleResult>, StoreError> {
                read::rule_results(self.connection(), rule_id, version, limit).await
            }

            async fn last_rules_evaluation(&mut self) -> Result<Option<i64>, StoreError> {
                read::last_rules_evaluation(self.connection()).await
            }

            async fn usage_hours(&mut self, tenant: &str, from_hour: i64) -> Result<Vec<UsageSlice>, StoreError> {
                read::usage_hours(self.connection(), tenant, from_hour).await
            }

            async fn case_events(&mut self, id: &str) -> Result<Vec<CaseEvent>, StoreError> {
                read::case_events(self.connection(), id).await
            }

            async fn guards(&mut self) -> Result<Vec<Guard>, StoreError> {
                read::guards(self.connection()).await
            }

            async fn appeal(&mut self, id: &str) -> Result<Option<Appeal>, StoreError> {
                read::appeal(self.connection(), id).await
            }

            async fn appeals(&mut self, tenant: Option<&str>) -> Result<Vec<Appeal>, StoreError> {
                read::appeals(self.connection(), tenant).await
            }

            async fn notices(&mut self, tenant: Option<&str>) -> Result<Vec<Notice>, StoreError> {
                read::notices(self.connection(), tenant).await
            }

            async fn notice(&mut self, id: &str) -> Result<Option<Notice>, StoreError> {
                read::notice(self.connection(), id).await
            }

            async fn outbox_due(&mut self, now_ms: i64, limit: u32) -> Result<Vec<OutboxItem>, StoreError> {
                read::outbox_due(self.connection(), now_ms, limit).await
            }

            async fn outbox_of(&mut self, notice_id: &str) -> Result<Vec<OutboxItem>, StoreError> {
                read::outbox_of(self.connection(), notice_id).await
            }

            async fn session(&mut self, id_hash: &[u8; 32]) -> Result<Option<crate::Session>, StoreError> {
                read::session(self.connection(), id_hash).await
            }

            async fn users(&mut self) -> Result<Vec<(User, [u8; 32])>, StoreError> {
                read::users(self.connection()).await
            }

            async fn log_size(&mut self) -> Result<u64, StoreError> {
                read::log_size(self.connection()).await
            }

            async fn log_leaves(&mut self) -> Result<Vec<[u8; 32]>, StoreError> {
                read::log_leaves(self.connection()).await
            }

            async fn log_entries(&mut self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
                read::log_entries(self.connection(), start, end).await
            }

            async fn log_records(&mut self, start: u64, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
                read::log_records(self.connection(), start, limit).await
            }

            async fn tenant_log_records(
                &mut self,
                tenant: &str,
                before: u64,
                limit: u32,
            ) -> Result<Vec<LogRecord>, StoreError> {
                read::tenant_log_records(self.connection(), tenant, before, limit).await
            }

            async fn logged_expiries(&mut self) -> Result<Vec<String>, StoreError> {
                read::logged_expiries(self.connection()).await
            }

            async fn checkpoints(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
                read::checkpoints(self.connection()).await
            }
        }
    )+};
}

/// Defines the decoders from a backend's row type to records: both
/// backends store the same columns in the same encodings.
macro_rules! row_decoders {
    ($row:ty) => {
        fn subscription_from_row(row: &$row) -> Result<Subscription, StoreError> {
            let services: String = row.try_get("services")?;
            Ok(Subscription {
                id: row.try_get("id")?,
                tenant: row.try_get("tenant")?,
                unit: path_from_str(row.try_get("unit")?)?,
                region: row.try_get("region")?,
                services: serde_json::from_str(&services).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            })
        }
        fn order_from_row(row: &$row, retained: Vec<String>) -> Result<Order, StoreError> {
            let spec: String = row.try_get("spec")?;
            let spec: OrderSpec = serde_json::from_str(&spec).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            Ok(Order {
                id: row.try_get("id")?,
                seq: row.try_get("seq")?,
                spec,
                created_at: Timestamp(row.try_get("created_at")?),
                lifted_at: row.try_get::<Option<i64>, _>("lifted_at")?.map(Timestamp),
                lift_reason: row.try_get("lift_reason")?,
                retained,
                superseded_by: row.try_get("superseded_by")?,
                log_index: row.try_get::<Option<i64>, _>("log_index")?.map(|i| i as u64),
                lifecycle: match row.try_get::<Option<String>, _>("lifecycle")? {
                    None => Default::default(),
                    Some(text) => serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                },
            })
        }
        fn outbox_from_row(row: &$row) -> Result<OutboxItem, StoreError> {
            Ok(OutboxItem {
                id: row.try_get("id")?,
                notice_id: row.try_get("notice_id")?,
                body: row.try_get("body")?,
                attempts: row.try_get::<i64, _>("attempts")? as u32,
                next_at_ms: row.try_get("next_at_ms")?,
                delivered_at: row.try_get::<Option<i64>, _>("delivered_at")?.map(Timestamp),
                last_error: row.try_get("last_error")?,
            })
        }
        fn hash_from_row(row: &$row, column: &str, index: i64) -> Result<[u8; 32], StoreError> {
            let bytes: Vec<u8> = row.try_get(column)?;
            bytes.try_into().map_err(|b: Vec<u8>| {
                StoreError::Corrupt(format!("log entry {index}: {column} is {} bytes, not 32", b.len()))
            })
        }
    };
}

/// The reader and the transaction of a backend over its connection type:
/// how each reaches its connection, [`crate::Reads`] over the backend's
/// `read` module and [`crate::StoreTx`] over its `write` module. The
/// reader holds `conn`, the transaction `tx`.
macro_rules! reader_and_transaction {
    ($reader:ty, $tx:ty, $connection:ty) => {
        /// The connection a reader or a transaction reads over.
        trait Connection: Send {
            fn connection(&mut self) -> &mut $connection;
        }

        impl Connection for $reader {
            fn connection(&mut self) -> &mut $connection {
                &mut self.conn
            }
        }

        impl Connection for $tx {
            fn connection(&mut self) -> &mut $connection {
                &mut self.tx
            }
        }

        reads_over_connection!($reader, $tx);

        #[async_trait]
        impl StoreTx for $tx {
            async fn apply(
                &mut self,
                at: Timestamp,
                ops: &[Op],
                progress: &(dyn Fn(usize) + Send + Sync),
            ) -> Result<(), StoreError> {
                write::apply(&mut self.tx, at.seconds(), ops, progress).await
            }

            async fn append(&mut self, entries: &[Appended]) -> Result<Vec<u64>, StoreError> {
                write::append(&mut self.tx, entries).await
            }

            async fn claim_usage_ids(
                &mut self,
                ids: &[(i64, i64)],
            ) -> Result<std::collections::HashSet<(i64, i64)>, StoreError> {
                write::claim_usage_ids(&mut self.tx, ids).await
            }

            async fn usage_series_ids(&mut self, series: &[UsageSeries]) -> Result<Vec<i64>, StoreError> {
                write::usage_series_ids(&mut self.tx, series).await
            }

            async fn claim_rules_hour(&mut self, hour: i64) -> Result<bool, StoreError> {
                write::claim_rules_hour(&mut self.tx, hour).await
            }

            async fn put_checkpoint(&mut self, size: u64, note: &str) -> Result<(), StoreError> {
                write::put_checkpoint(&mut self.tx, size, note).await
            }

            async fn commit(self: Box<Self>) -> Result<(), StoreError> {
                Ok(self.tx.commit().await?)
            }
        }
    };
}
