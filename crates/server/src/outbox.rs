//! Delivery of notices to the tenant-facing webhook: the outbox is drained
//! with retries and exponential backoff; each request is HMAC-signed and
//! carries an idempotency key, so a receiver acts on a notice once however
//! often it is delivered.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use verdict_control::Core;
use verdict_model::Timestamp;

/// Where and how notices are delivered.
#[derive(Clone)]
pub struct Webhook {
    /// The receiver's URL.
    pub url: String,
    /// The shared secret the signature is keyed with.
    pub secret: Vec<u8>,
    /// Wait after the first failure; doubled after each further one.
    pub first_retry: Duration,
    /// The longest wait between attempts.
    pub max_retry: Duration,
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().into()
}

/// The `X-Verdict-Signature` of a delivery: `v1=` and the hex HMAC-SHA256,
/// keyed with the shared secret, of `<timestamp>.<body>`.
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    format!("v1={}", verdict_control::hex(&hmac_sha256(secret, format!("{timestamp}.{body}").as_bytes())))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Drains the outbox for as long as the task runs.
pub async fn deliver_forever(core: Arc<Core>, hook: Webhook) {
    let http = match reqwest::Client::builder().timeout(Duration::from_secs(10)).build() {
        Ok(http) => http,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook client; notices will not be delivered");
            return;
        }
    };
    loop {
        match core.outbox_due(now_ms(), 100).await {
            Ok(due) if !due.is_empty() => {
                for item in due {
                    deliver(&core, &http, &hook, item).await;
                }
                continue;
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot read the outbox"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn deliver(core: &Core, http: &reqwest::Client, hook: &Webhook, item: verdict_control::OutboxItem) {
    let timestamp = Timestamp::now().seconds();
    let sent = http
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", &item.notice_id)
        .header("X-Verdict-Timestamp", timestamp.to_string())
        .header("X-Verdict-Signature", signature(&hook.secret, timestamp, &item.body))
        .body(item.body.clone())
        .send()
        .await;
    let failure = match sent {
        Ok(r) if r.status().is_success() => None,
        Ok(r) => Some(format!("the receiver answered HTTP {}", r.status().as_u16())),
        Err(e) => Some(format!("cannot reach the receiver: {e}")),
    };
    let recorded = match failure {
        None => core.outbox_delivered(item.id, Timestamp::now()).await,
        Some(error) => {
            let backoff = hook.first_retry.saturating_mul(1 << item.attempts.min(20)).min(hook.max_retry);
            tracing::warn!(notice = %item.notice_id, attempts = item.attempts + 1, %error, "notice delivery failed; will retry");
            core.outbox_failed(item.id, now_ms() + backoff.as_millis() as i64, &error).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "cannot record a delivery attempt");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(verdict_control::hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
