//! The transparency log through real HTTP on port 0: tlog-tiles paths and
//! headers, proofs that verify, receipts, private records and who may read
//! them, and what must never appear in public.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{ADMIN, PEP};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use verdict_control::{Actor, Core};
use verdict_log::{Checkpoint, Hash, Receipt, TileId, Tree, decode_bundle, leaf_hash};
use verdict_model::Timestamp;

const DAY: i64 = 86_400;

/// Names that identify the customer; none may reach the public log.
const SECRETS: &[&str] = &[
    "ministry-of-defense",
    "Ministry of Defence",
    "intelligence",
    "signals-intercepts",
    "sig-archive-nl",
    "cyber-ops",
    "Bulk voice intercept archive",
    "appeal upheld after review",
];

struct Server {
    base: String,
    http: reqwest::Client,
    core: Arc<Core>,
    order: String,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let (core, _, dir) = common::open_core().await;
    let admin = Actor::admin();
    let inventory = serde_json::from_value(json!({
        "tenants": [{"id": "ministry-of-defense", "kind": "government", "name": "Ministry of Defence"}],
        "units": [{"tenant": "ministry-of-defense", "path": "intelligence/signals-intercepts"}],
        "subscriptions": [
            {"id": "sig-archive-nl", "tenant": "ministry-of-defense", "unit": "intelligence/signals-intercepts",
             "services": ["storage.blob"], "region": "westeurope"}
        ]
    }))
    .unwrap();
    core.import(&admin, inventory, &|_| ()).await.unwrap();
    core.create_unit(
        &admin,
        serde_json::from_value(json!({"tenant": "ministry-of-defense", "path": "cyber"})).unwrap(),
    )
    .await
    .unwrap();
    let sub = serde_json::from_value(json!({"id": "cyber-ops", "tenant": "ministry-of-defense", "unit": "cyber",
        "services": ["security.defender"], "region": "westeurope"}))
    .unwrap();
    core.create_subscription(&admin, sub).await.unwrap();
    let now = Timestamp::now();
    let spec = serde_json::from_value(json!({
        "tenant": "ministry-of-defense", "clause": "AUP-2", "title": "Bulk voice intercept archive",
        "scope": {"units": ["intelligence/signals-intercepts"]},
        "services": ["storage.*", "ai.*"], "exempt": ["security.*"],
        "phases": [{"mode": "notice", "start": now.plus(-3 * DAY)}, {"mode": "disabled", "start": now.plus(-DAY)}]
    }))
    .unwrap();
    let (order, _) = core.create_order(&admin, spec).await.unwrap();
    core.move_subscription(&admin, "sig-archive-nl", verdict_model::UnitPath::parse("cyber").unwrap()).await.unwrap();
    core.lift_order(&admin, &order.id, "appeal upheld after review").await.unwrap();
    let base = common::serve(core.clone()).await;
    Server { base, http: reqwest::Client::new(), core, order: order.id, _dir: dir }
}

impl Server {
    async fn raw(&self, path: &str) -> reqwest::Response {
        self.http.get(format!("{}{path}", self.base)).send().await.unwrap()
    }

    async fn bytes(&self, path: &str) -> Vec<u8> {
        let r = self.raw(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.bytes().await.unwrap().to_vec()
    }

    async fn json(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let r = request.send().await.unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn checkpoint(&self) -> Checkpoint {
        let note = String::from_utf8(self.bytes("/log/checkpoint").await).unwrap();
        Checkpoint::open(&note, &self.core.log_key()).unwrap()
    }

    async fn entries(&self) -> Vec<Vec<u8>> {
        let size = self.checkpoint().await.size;
        let mut out = Vec::new();
        for tile in TileId::for_tree(size, 0, true) {
            let bundle = self.bytes(&format!("/log/{}", tile.path())).await;
            out.extend(decode_bundle(&bundle).unwrap().into_iter().map(<[u8]>::to_vec));
        }
        out
    }
}

fn hashes(proof: &Value) -> Vec<Hash> {
    proof["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| BASE64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

#[tokio::test]
async fn every_change_is_one_entry_and_the_tiles_rebuild_the_signed_root() {
    let s = start().await;
    let checkpoint = s.checkpoint().await;
    // import, unit, subscription, order, move, lift
    assert_eq!(checkpoint.size, 6);
    let entries = s.entries().await;
    let types: Vec<String> = entries
        .iter()
        .map(|e| serde_json::from_slice::<Value>(e).unwrap()["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        types,
        [
            "inventory.imported",
            "unit.created",
            "subscription.created",
            "order.created",
            "subscription.moved",
            "order.lifted"
        ]
    );
    for entry in &entries {
        let v: Value = serde_json::from_slice(entry).unwrap();
        assert_eq!(v["v"], 1);
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        assert!(v["commitment"].as_str().unwrap().starts_with("sha256:"));
    }
    let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
    assert_eq!(tree.root(), checkpoint.root);
    let tile = s.bytes("/log/tile/0/000.p/6").await;
    assert_eq!(tile, tree.tile(&TileId::parse("0/000.p/6").unwrap(), 6).unwrap());
}

#[tokio::test]
async fn read_paths_carry_the_spec_content_types_and_caching() {
    let s = start().await;
    let r = s.raw("/log/checkpoint").await;
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let cache = r.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(cache.contains("max-age=2"), "{cache}");
    let r = s.raw("/log/tile/0/000.p/6").await;
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let r = s.raw("/log/tile/entries/000.p/6").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    let key = String::from_utf8(s.bytes("/log/key").await).unwrap();
    assert_eq!(key.trim(), s.core.log_key().to_string());
    assert!(key.starts_with("verdict.test/log+"));

    // Tiles that do not exist yet, and paths that are not tiles.
    for (path, status, code) in [
        ("/log/tile/0/000", StatusCode::NOT_FOUND, "tile-not-found"),
        ("/log/tile/0/000.p/7", StatusCode::NOT_FOUND, "tile-not-found"),
        ("/log/tile/entries/001.p/1", StatusCode::NOT_FOUND, "tile-not-found"),
        ("/log/tile/0/1", StatusCode::BAD_REQUEST, "malformed-tile-path"),
        ("/log/tile/0/000.p/07", StatusCode::BAD_REQUEST, "malformed-tile-path"),
        ("/log/tile/64/000", StatusCode::BAD_REQUEST, "malformed-tile-path"),
        ("/log/receipt/6", StatusCode::NOT_FOUND, "index-out-of-range"),
        ("/log/receipt/x", StatusCode::BAD_REQUEST, "malformed-index"),
        ("/log/proof/inclusion?index=6&size=6", StatusCode::UNPROCESSABLE_ENTITY, "index-not-in-tree"),
        ("/log/proof/inclusion?index=0&size=7", StatusCode::NOT_FOUND, "size-out-of-range"),
        ("/log/proof/inclusion?index=zero", StatusCode::BAD_REQUEST, "invalid-query"),
        ("/log/proof/consistency?old=0&new=6", StatusCode::UNPROCESSABLE_ENTITY, "invalid-range"),
        ("/log/proof/consistency?old=3&new=2", StatusCode::UNPROCESSABLE_ENTITY, "invalid-range"),
        ("/log/proof/consistency?old=1&new=7", StatusCode::NOT_FOUND, "size-out-of-range"),
    ] {
        let (got, body) = s.json(path, None).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"]["code"], code, "{path}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn proofs_and_receipts_verify_against_the_signed_checkpoint() {
    let s = start().await;
    let checkpoint = s.checkpoint().await;
    let entries = s.entries().await;
    let tree = Tree::from_leaves(entries.iter().map(|e| leaf_hash(e)));
    for index in 0..6u64 {
        for size in index + 1..=6 {
            let (status, proof) = s.json(&format!("/log/proof/inclusion?index={index}&size={size}"), None).await;
            assert_eq!(status, StatusCode::OK);
            let root = tree.root_at(size).unwrap();
            verdict_log::verify_inclusion(&leaf_hash(&entries[index as usize]), index, size, &hashes(&proof), &root)
                .unwrap();
        }
    }
    for old in 1..=6u64 {
        let (status, proof) = s.json(&format!("/log/proof/consistency?old={old}&new=6"), None).await;
        assert_eq!(status, StatusCode::OK);
        verdict_log::verify_consistency(old, 6, &tree.root_at(old).unwrap(), &checkpoint.root, &hashes(&proof))
            .unwrap();
    }
    let receipt = Receipt::parse(&String::from_utf8(s.bytes("/log/receipt/3").await).unwrap()).unwrap();
    assert_eq!(receipt.extra.as_deref(), Some(&entries[3][..]));
    let verified = receipt.verify(&s.core.log_key(), &leaf_hash(&entries[3])).unwrap();
    assert_eq!(verified, checkpoint);
    assert!(receipt.verify(&s.core.log_key(), &leaf_hash(&entries[2])).is_err());
}

#[tokio::test]
async fn a_deny_names_the_log_entry_of_its_order() {
    let s = start().await;
    // The lifted order no longer denies now, but did an hour ago.
    let at = Timestamp::now().plus(-3600);
    let body = json!({
        "subject": {"type": "gateway", "id": "gw"},
        "resource": {"type": "service", "id": "storage.blob", "properties": {"subscription": "sig-archive-nl"}},
        "action": {"name": "put-blob"},
        "context": {"time": at.to_string()}
    });
    let r = s.http.post(format!("{}/access/v1/evaluation", s.base)).bearer_auth(PEP).json(&body).send().await.unwrap();
    let answer: Value = r.json().await.unwrap();
    assert_eq!(answer["decision"], false, "{answer}");
    assert_eq!(answer["context"]["order"], s.order.as_str());
    assert_eq!(answer["context"]["log_index"], 3);
    let entry: Value = serde_json::from_slice(&s.entries().await[3]).unwrap();
    assert_eq!(entry["type"], "order.created");
    assert_eq!(entry["public"]["order"], s.order.as_str());
}

#[tokio::test]
async fn the_public_log_names_no_customer_and_private_records_match_their_commitments() {
    let s = start().await;
    let mut public = Vec::new();
    for tile in TileId::for_tree(6, 0, true).into_iter().chain(TileId::for_tree(6, 0, false)) {
        public.extend(s.bytes(&format!("/log/{}", tile.path())).await);
    }
    public.extend(s.bytes("/log/checkpoint").await);
    public.extend(s.bytes("/log/receipt/3").await);
    let text = String::from_utf8_lossy(&public);
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret:?} is in the public log");
    }
    // Base64 in receipts: decode the extra line and look again.
    let receipt = Receipt::parse(&String::from_utf8(s.bytes("/log/receipt/3").await).unwrap()).unwrap();
    let extra = String::from_utf8(receipt.extra.unwrap()).unwrap();
    for secret in SECRETS {
        assert!(!extra.contains(secret), "{secret:?} is in a receipt");
    }

    let entries = s.entries().await;
    let mut private_text = String::new();
    for (index, logged) in entries.iter().enumerate() {
        let (status, view) = s.json(&format!("/v1/log/entries/{index}/private"), Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["entry"].as_str().unwrap().as_bytes(), &logged[..]);
        let salt = (0..64)
            .step_by(2)
            .map(|i| u8::from_str_radix(&view["salt"].as_str().unwrap()[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>();
        let mut hasher = Sha256::new();
        hasher.update(&salt);
        hasher.update(view["record"].as_str().unwrap().as_bytes());
        let expected: String = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let entry: Value = serde_json::from_slice(logged).unwrap();
        assert_eq!(entry["commitment"], format!("sha256:{expected}"));
        let record: Value = serde_json::from_str(view["record"].as_str().unwrap()).unwrap();
        assert_eq!(record["actor"], "admin");
        private_text.push_str(view["record"].as_str().unwrap());
    }
    // What the public part leaves out, the private records keep.
    for secret in SECRETS.iter().filter(|s| **s != "Ministry of Defence") {
        assert!(private_text.contains(secret), "{secret:?} is in no private record");
    }

    let (status, body) = s.json("/v1/log/entries/0/private", Some(PEP)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let (status, body) = s.json("/v1/log/entries/0/private", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = s.json("/v1/log/entries/99/private", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "index-out-of-range");
}
