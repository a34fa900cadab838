//! The store contract, on every backend: the log is appended at its head
//! only, with no gap and no duplicate, whoever writes (several handles on
//! one database standing for several servers); versions have no gaps; a
//! change row keeps its engine changes; a shared store tells its followers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use verdict_model::Timestamp;
use verdict_store::{Appended, LogRecord, Store, StoreError};
use verdict_testdb::{Backend, TestDb};

fn entry(index: u64, delta: Option<&str>) -> Appended {
    let body = format!("entry {index}").into_bytes();
    let mut leaf = [0u8; 32];
    leaf[..8].copy_from_slice(&index.to_be_bytes());
    Appended {
        at: Timestamp(1_700_000_000),
        summary: json!({"n": index}),
        record: LogRecord {
            index,
            kind: "test.entry".into(),
            subject: None,
            tenant: None,
            entry: body.clone(),
            leaf_hash: leaf,
            private: body,
            salt: [7; 32],
        },
        delta: delta.map(str::to_owned),
    }
}

/// One writer's turn: lock, read the head, append there, commit.
async fn append_at_head(store: &dyn Store) -> u64 {
    let mut tx = store.begin().await.unwrap();
    let next = tx.log_size().await.unwrap();
    let seqs = tx.append(&[entry(next, Some("[]"))]).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(seqs, vec![next + 1], "the version after entry {next}");
    next
}

#[tokio::test]
async fn the_log_is_appended_at_its_head_only() {
    for backend in verdict_testdb::backends() {
        let db = TestDb::new(backend).await;
        let store = db.open().await;
        let mut tx = store.begin().await.unwrap();
        assert_eq!(tx.append(&[entry(0, Some("[\"x\"]")), entry(1, None)]).await.unwrap(), vec![1, 2]);
        tx.commit().await.unwrap();
        for (wrong, why) in [(1, "a duplicate"), (3, "a gap")] {
            let mut tx = store.begin().await.unwrap();
            let refused = tx.append(&[entry(wrong, None)]).await;
            assert!(matches!(refused, Err(StoreError::Conflict(_))), "{backend}: {why} was {refused:?}");
        }
        let mut tx = store.begin().await.unwrap();
        let refused = tx.append(&[entry(2, None), entry(4, None)]).await;
        assert!(matches!(refused, Err(StoreError::Conflict(_))), "{backend}: non-consecutive entries");
        drop(tx);
        let mut reads = store.read().await.unwrap();
        assert_eq!(reads.log_size().await.unwrap(), 2, "{backend}");
        assert_eq!(reads.version().await.unwrap(), 2, "{backend}");
        let changes = reads.changes(0, 10).await.unwrap();
        assert_eq!(changes.iter().map(|c| (c.seq, c.log_index)).collect::<Vec<_>>(), [(1, Some(0)), (2, Some(1))]);
        assert_eq!(changes[0].delta.as_deref(), Some("[\"x\"]"), "{backend}: the engine changes are kept");
        assert_eq!(changes[1].delta, None, "{backend}");
        assert_eq!(changes[1].log_leaf, Some(entry(1, None).record.leaf_hash), "{backend}");
    }
}

#[tokio::test]
async fn a_rolled_back_append_leaves_no_gap_in_versions() {
    for backend in verdict_testdb::backends() {
        let db = TestDb::new(backend).await;
        let store = db.open().await;
        let mut tx = store.begin().await.unwrap();
        tx.append(&[entry(0, None)]).await.unwrap();
        drop(tx);
        assert_eq!(append_at_head(store.as_ref()).await, 0, "{backend}");
        assert_eq!(append_at_head(store.as_ref()).await, 1, "{backend}");
        let seqs: Vec<u64> = store.read().await.unwrap().changes(0, 10).await.unwrap().iter().map(|c| c.seq).collect();
        assert_eq!(seqs, [1, 2], "{backend}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_on_several_handles_never_fork_the_log() {
    for backend in verdict_testdb::backends() {
        let db = TestDb::new(backend).await;
        // Three handles, each with its own connections: three servers.
        let mut servers: Vec<Arc<dyn Store>> = Vec::new();
        for _ in 0..3 {
            servers.push(db.open().await);
        }
        let mut tasks = Vec::new();
        for (n, store) in servers.iter().enumerate() {
            for _ in 0..2 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    for _ in 0..15 {
                        mine.push(append_at_head(store.as_ref()).await);
                    }
                    (n, mine)
                }));
            }
        }
        let mut written = Vec::new();
        for task in tasks {
            written.extend(task.await.unwrap().1);
        }
        written.sort_unstable();
        assert_eq!(written, (0..90).collect::<Vec<u64>>(), "{backend}: each index written once");
        let mut reads = servers[2].read().await.unwrap();
        assert_eq!(reads.log_leaves().await.unwrap().len(), 90, "{backend}: no gap in the log");
        let changes = reads.changes(0, 1000).await.unwrap();
        assert!(
            changes.iter().enumerate().all(|(i, c)| c.seq == i as u64 + 1 && c.log_index == Some(i as u64)),
            "{backend}: versions and entries in step"
        );
    }
}

#[tokio::test]
async fn a_shared_store_tells_its_followers() {
    let db = TestDb::new(Backend::Sqlite).await;
    let store = db.open().await;
    let started = Instant::now();
    assert!(!store.await_change(Duration::from_millis(50)).await, "SQLite cannot tell; it waits");
    assert!(started.elapsed() >= Duration::from_millis(50));
    if !verdict_testdb::backends().contains(&Backend::Postgres) {
        return;
    }
    let db = TestDb::new(Backend::Postgres).await;
    let (follower, writer) = (db.open().await, db.open().await);
    // Listening before the change.
    assert!(!follower.await_change(Duration::from_millis(10)).await, "nothing changed yet");
    let waiting = tokio::spawn(async move {
        let started = Instant::now();
        let told = follower.await_change(Duration::from_secs(10)).await;
        (told, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    append_at_head(writer.as_ref()).await;
    let (told, after) = waiting.await.unwrap();
    assert!(told && after < Duration::from_secs(5), "told {told} after {after:?}");
}

#[tokio::test]
async fn console_sessions_are_stored_by_hash_ended_and_forgotten() {
    for backend in verdict_testdb::backends() {
        let db = TestDb::new(backend).await;
        let store = db.open().await;
        let session = |id: u8, expires: i64| verdict_store::Session {
            id_hash: [id; 32],
            user: format!("user-{id}"),
            token_hash: [id + 100; 32],
            created_at: Timestamp(1_000),
            expires_at: Timestamp(expires),
            ended_at: None,
        };
        let write = |ops: Vec<verdict_store::Op>| {
            let store = store.clone();
            async move {
                let mut tx = store.begin().await.unwrap();
                tx.apply(Timestamp(1_000), &ops, &|_| ()).await.unwrap();
                tx.commit().await.unwrap();
            }
        };
        write(vec![verdict_store::Op::PutSession(session(1, 5_000)), verdict_store::Op::PutSession(session(2, 1_500))])
            .await;
        let read = |id: u8| {
            let store = store.clone();
            async move { store.read().await.unwrap().session(&[id; 32]).await.unwrap() }
        };
        assert_eq!(read(1).await, Some(session(1, 5_000)), "{backend}");
        assert_eq!(read(3).await, None);
        write(vec![verdict_store::Op::EndSession { id_hash: [1; 32], at: Timestamp(2_000) }]).await;
        assert_eq!(read(1).await.unwrap().ended_at, Some(Timestamp(2_000)), "{backend}");
        write(vec![verdict_store::Op::PurgeSessions { before: Timestamp(2_000) }]).await;
        assert_eq!(read(2).await, None, "{backend}: expired before the cut-off, forgotten");
        assert!(read(1).await.is_some(), "{backend}: still within its lifetime, kept");
    }
}

#[tokio::test]
async fn a_tenants_log_records_are_read_newest_first_a_page_at_a_time() {
    for backend in verdict_testdb::backends() {
        let db = TestDb::new(backend).await;
        let store = db.open().await;
        let mut tx = store.begin().await.unwrap();
        let entries: Vec<Appended> = (0..6)
            .map(|i| {
                let mut e = entry(i, None);
                e.record.tenant = [Some("mod"), Some("northwind"), None][i as usize % 3].map(str::to_owned);
                e
            })
            .collect();
        tx.append(&entries).await.unwrap();
        tx.commit().await.unwrap();
        let mut reads = store.read().await.unwrap();
        let indexes = |records: Vec<LogRecord>| records.iter().map(|r| r.index).collect::<Vec<_>>();
        assert_eq!(indexes(reads.tenant_log_records("mod", 6, 10).await.unwrap()), [3, 0], "{backend}");
        assert_eq!(indexes(reads.tenant_log_records("northwind", 6, 1).await.unwrap()), [4], "{backend}");
        assert_eq!(indexes(reads.tenant_log_records("northwind", 4, 10).await.unwrap()), [1], "{backend}");
        assert!(reads.tenant_log_records("nobody", 6, 10).await.unwrap().is_empty(), "{backend}");
        let record = reads.tenant_log_records("mod", 1, 1).await.unwrap().pop().unwrap();
        assert_eq!((record.private, record.salt), (b"entry 0".to_vec(), [7; 32]), "{backend}: the whole record");
    }
}

#[tokio::test]
async fn the_case_queue_is_filtered_sorted_counted_and_paged_by_the_store() {
    use verdict_store::{CaseFilter, Op};
    for backend in verdict_testdb::backends() {
        let db = TestDb::new(backend).await;
        let store = db.open().await;
        let tenant = |id: &str| Op::PutTenant(serde_json::from_value(json!({"id": id, "kind": "government"})).unwrap());
        let case = |n: u32, tenant: &str, source: &str, assignee: Option<&str>| {
            let mut case: verdict_model::Case = serde_json::from_value(json!({"id": format!("case-{n:04}"),
                "tenant": tenant, "source_type": source, "title": format!("case {n}"), "units": ["signals"],
                "clauses": ["AUP-2"], "status": "open", "opened_by": "analyst-1",
                "opened_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"}))
            .unwrap();
            case.updated_at = Timestamp(1_800_000_000 + i64::from(n));
            case.assignee = assignee.map(str::to_owned);
            Op::PutCase(case)
        };
        let mut ops = vec![tenant("mod"), tenant("northwind")];
        for n in 0..30 {
            let (t, source) = if n % 3 == 0 { ("northwind", "complaint") } else { ("mod", "third_party_report") };
            ops.push(case(n, t, source, (n % 2 == 0).then_some("analyst-2")));
        }
        let mut tx = store.begin().await.unwrap();
        tx.apply(Timestamp(1_000), &ops, &|_| ()).await.unwrap();
        tx.commit().await.unwrap();
        // A case changed later moves up and keeps its new assignee.
        let mut tx = store.begin().await.unwrap();
        let mut moved = tx.case("case-0001").await.unwrap().unwrap();
        moved.updated_at = Timestamp(1_900_000_000);
        moved.assignee = Some("analyst-9".into());
        tx.apply(Timestamp(1_000), &[Op::PutCase(moved)], &|_| ()).await.unwrap();
        tx.commit().await.unwrap();

        let mut reads = store.read().await.unwrap();
        let ids = |cases: &[verdict_model::Case]| cases.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
        let (first, total) = reads.case_queue(&CaseFilter::default(), 0, 3).await.unwrap();
        assert_eq!(
            (ids(&first), total),
            (vec!["case-0001".into(), "case-0029".into(), "case-0028".into()], 30),
            "{backend}"
        );
        let (second, _) = reads.case_queue(&CaseFilter::default(), 3, 2).await.unwrap();
        assert_eq!(ids(&second), ["case-0027", "case-0026"], "{backend}");
        let complaints = CaseFilter { source: Some("complaint".into()), ..CaseFilter::default() };
        assert_eq!(reads.case_queue(&complaints, 0, 100).await.unwrap().1, 10, "{backend}");
        let mine = CaseFilter {
            tenant: Some("mod".into()),
            assignee: Some("analyst-2".into()),
            status: Some("open".into()),
            source: None,
        };
        let (cases, total) = reads.case_queue(&mine, 0, 100).await.unwrap();
        assert_eq!(total, 10, "{backend}: even n, not a multiple of 3");
        assert!(cases.iter().all(|c| c.spec.tenant == "mod" && c.assignee.as_deref() == Some("analyst-2")));
        let nine = CaseFilter { assignee: Some("analyst-9".into()), ..CaseFilter::default() };
        assert_eq!(ids(&reads.case_queue(&nine, 0, 10).await.unwrap().0), ["case-0001"], "{backend}");
        let closed = CaseFilter { status: Some("closed".into()), ..CaseFilter::default() };
        assert_eq!(reads.case_queue(&closed, 0, 10).await.unwrap(), (vec![], 0), "{backend}");
    }
}

#[tokio::test]
async fn usage_ids_are_claimed_once_series_numbered_once_and_hour_slices_add_up_or_keep_the_highest() {
    use verdict_store::{Op, UsageAdd, UsageSeries};
    for backend in verdict_testdb::backends() {
        let db = TestDb::new(backend).await;
        let store = db.open().await;
        let series = |sub: &str, meter: &str, gauge: bool| UsageSeries {
            tenant: "mod".into(),
            subscription: sub.into(),
            service: if gauge { "storage.blob" } else { "ai.speech-to-text" }.into(),
            meter: meter.into(),
            gauge,
        };
        let add = |series: i64, hour: i64, gauge: bool, quantity: f64| UsageAdd { series, hour, gauge, quantity };
        let adds = |slices: Vec<UsageAdd>| [Op::AddUsage { tenant: "mod".into(), slices }];
        let ids = |keys: &[i64], hour: i64| keys.iter().map(|k| (hour, *k)).collect::<Vec<_>>();
        let mut tx = store.begin().await.unwrap();
        let before = tx.claim_usage_ids(&ids(&[1, 2], 3600)).await.unwrap();
        assert!(before.is_empty(), "{backend}");
        let numbers = tx
            .usage_series_ids(&[series("s1", "audio_seconds", false), series("s1", "bytes_stored", true)])
            .await
            .unwrap();
        let (audio, stored) = (numbers[0], numbers[1]);
        assert_ne!(audio, stored, "{backend}");
        tx.apply(Timestamp(1), &adds(vec![add(audio, 3600, false, 10.0), add(stored, 3600, true, 5e12)]), &|_| ())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        // A rolled-back batch claims nothing, numbers nothing, adds nothing.
        let mut tx = store.begin().await.unwrap();
        assert!(tx.claim_usage_ids(&ids(&[3], 3600)).await.unwrap().is_empty());
        let s2 = tx.usage_series_ids(&[series("s2", "audio_seconds", false)]).await.unwrap()[0];
        tx.apply(Timestamp(1), &adds(vec![add(audio, 3600, false, 1000.0), add(s2, 3600, false, 1.0)]), &|_| ())
            .await
            .unwrap();
        drop(tx);
        let many: Vec<i64> = (100..3100).collect();
        let mut tx = store.begin().await.unwrap();
        let before = tx.claim_usage_ids(&ids(&[1, 3, 4], 3600)).await.unwrap();
        assert_eq!(before, [(3600, 1)].into(), "{backend}: 1 was counted, 3 rolled back");
        assert!(tx.claim_usage_ids(&ids(&[1], 7200)).await.unwrap().is_empty(), "{backend}: ids are per hour");
        assert!(tx.claim_usage_ids(&ids(&many, 7200)).await.unwrap().is_empty(), "{backend}: in chunks");
        assert_eq!(tx.claim_usage_ids(&ids(&many, 7200)).await.unwrap().len(), 3000, "{backend}: in chunks");
        // Many small batches in one hour: their runs are merged, and every
        // id is still found, once.
        for k in 0..40 {
            assert!(tx.claim_usage_ids(&[(10_800, 5000 + k), (10_800, -5000 - k)]).await.unwrap().is_empty());
        }
        let all: Vec<(i64, i64)> = (0..40).flat_map(|k| [(10_800, 5000 + k), (10_800, -5000 - k)]).collect();
        let mut with_new = all.clone();
        with_new.push((10_800, 1));
        let before = tx.claim_usage_ids(&with_new).await.unwrap();
        assert_eq!(before, all.iter().copied().collect(), "{backend}: merged runs");
        // Known series keep their numbers; new ones are numbered.
        let again = tx
            .usage_series_ids(&[
                series("s3", "audio_seconds", false),
                series("s1", "bytes_stored", true),
                series("s1", "audio_seconds", false),
            ])
            .await
            .unwrap();
        assert_eq!(&again[1..], &[stored, audio], "{backend}");
        assert!(![audio, stored].contains(&again[0]), "{backend}");
        tx.apply(
            Timestamp(1),
            &adds(vec![
                add(audio, 3600, false, 5.0),
                add(stored, 3600, true, 4e12),
                add(stored, 7200, true, 6e12),
                add(again[0], 7200, false, 7.0),
            ]),
            &|_| (),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        let hours = store.read().await.unwrap().usage_hours("mod", 0).await.unwrap();
        let got: Vec<(String, String, i64, bool, f64)> =
            hours.iter().map(|s| (s.subscription.clone(), s.meter.clone(), s.hour, s.gauge, s.quantity)).collect();
        assert_eq!(
            got,
            [
                ("s1".into(), "audio_seconds".into(), 3600, false, 15.0),
                ("s1".into(), "bytes_stored".into(), 3600, true, 5e12),
                ("s1".into(), "bytes_stored".into(), 7200, true, 6e12),
                ("s3".into(), "audio_seconds".into(), 7200, false, 7.0),
            ],
            "{backend}"
        );
        assert_eq!(store.read().await.unwrap().usage_hours("mod", 7200).await.unwrap().len(), 2, "{backend}");
        assert!(store.read().await.unwrap().usage_hours("other", 0).await.unwrap().is_empty());
        let mut tx = store.begin().await.unwrap();
        tx.apply(Timestamp(1), &[Op::PurgeUsage { before_hour: 7200 }], &|_| ()).await.unwrap();
        assert!(tx.claim_usage_ids(&ids(&[1], 3600)).await.unwrap().is_empty(), "{backend}: purged ids are forgotten");
        tx.commit().await.unwrap();
        assert_eq!(store.read().await.unwrap().usage_hours("mod", 0).await.unwrap().len(), 2, "{backend}");

        // Two transactions claiming the same id at once take turns: the
        // second sees the first's claim.
        let mut first = store.begin().await.unwrap();
        assert!(first.claim_usage_ids(&[(14_400, 9)]).await.unwrap().is_empty());
        let other = store.clone();
        let second = tokio::spawn(async move {
            let mut tx = other.begin().await.unwrap();
            let before = tx.claim_usage_ids(&[(14_400, 9), (14_400, 10)]).await.unwrap();
            tx.commit().await.unwrap();
            before
        });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(!second.is_finished(), "{backend}: the second claim waits for the first");
        first.commit().await.unwrap();
        assert_eq!(second.await.unwrap(), [(14_400, 9)].into(), "{backend}");
    }
}
