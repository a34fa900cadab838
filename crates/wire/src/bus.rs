//! The replication stream on a message bus (NATS JetStream): the names and
//! the message format both sides use, so the publisher (`verdict serve
//! --nats`) and the replicas (`verdict pep --nats`) cannot drift.
//!
//! Every message's body is one [`StreamEvent`] in its server-sent-events
//! encoding, the same bytes `GET /v1/watch` sends. Change sets go to
//! [`CHANGES`], one message per version; heartbeats to [`HEARTBEATS`]; both
//! subjects are in one stream, so a replica sees a heartbeat only after the
//! versions it vouches for.
//!
//! **Duplicates are harmless by design**: every server over a shared store
//! publishes every version, and the message for version `v` is a function of
//! the store's change row `v` alone, so the copies are identical. JetStream
//! drops copies within its duplicate window ([`message_id`] is the
//! `Nats-Msg-Id`), and a replica skips any version it holds already.

use crate::StreamEvent;

/// The JetStream stream that holds the replication messages.
pub const STREAM: &str = "VERDICT";
/// Every subject of the stream.
pub const SUBJECTS: &str = "verdict.>";
/// The subject of change sets (and of resyncs for versions that cannot be
/// streamed).
pub const CHANGES: &str = "verdict.changes";
/// The subject of heartbeats.
pub const HEARTBEATS: &str = "verdict.heartbeat";
/// The header naming the history (lineage) a message belongs to.
pub const LINEAGE: &str = "Verdict-Lineage";
/// The header with the version a message is at, so that a replica can skip
/// what it holds without decoding it.
pub const VERSION: &str = "Verdict-Version";

/// The `Nats-Msg-Id` of version `version` in history `lineage`.
pub fn message_id(lineage: &str, version: u64) -> String {
    format!("{lineage}-{version}")
}

/// A message's body as a [`StreamEvent`].
pub fn decode(body: &[u8]) -> Result<Option<StreamEvent>, crate::events::EventError> {
    let text = std::str::from_utf8(body).map_err(|e| crate::events::EventError {
        event: "message".to_owned(),
        detail: format!("the body is not UTF-8: {e}"),
    })?;
    StreamEvent::decode(text.trim_end_matches('\n'))
}

/// The body of the message for version `version` whose engine changes are
/// `delta` (a JSON array, as the store keeps it), or a resync when the
/// store does not keep them (`None`: too many to stream).
pub fn change_message(version: u64, delta: Option<&str>) -> String {
    match delta {
        Some(changes) => crate::events::encode_changes(
            version,
            &format!(r#"{{"version":{version},"prev":{},"changes":{changes}}}"#, version.saturating_sub(1)),
        ),
        None => StreamEvent::Resync {
            reason: "the change is too large to stream (an import); fetch the snapshot".to_owned(),
            version,
        }
        .encode(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_engine::ChangeSet;

    #[test]
    fn a_change_message_is_the_change_set_the_stream_sends() {
        let body = change_message(8, Some("[]"));
        assert_eq!(
            decode(body.as_bytes()).unwrap(),
            Some(StreamEvent::Changes(ChangeSet { version: 8, prev: 7, changes: vec![] }))
        );
        assert!(matches!(
            decode(change_message(8, None).as_bytes()).unwrap(),
            Some(StreamEvent::Resync { version: 8, .. })
        ));
        assert!(decode(b"\xff").is_err());
    }
}
