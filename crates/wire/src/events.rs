//! The replication stream's events, written by the control plane and read
//! by every replica, as server-sent events (`GET /v1/watch`).
//!
//! One enum for both sides, so the two cannot drift: the server encodes
//! with [`StreamEvent::encode`] (or [`encode_changes`] for a change set it
//! encoded once for all subscribers), and a replica decodes each event
//! block with [`StreamEvent::decode`].

use serde::{Deserialize, Serialize};
use verdict_engine::ChangeSet;
use verdict_model::Timestamp;

/// One event of the change stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// Changes to apply on top of `prev` (SSE `event: changes`, with the
    /// version as the event id so that a reconnecting client resumes).
    Changes(ChangeSet),
    /// The server is alive and the stream is at `version`.
    Heartbeat {
        /// The stream's version.
        version: u64,
        /// The server's clock when it sent the beat.
        time: Timestamp,
    },
    /// The replica must fetch the whole snapshot again; the stream ends.
    Resync {
        /// Why, for people.
        reason: String,
        /// The version the server is at.
        version: u64,
    },
}

/// A stream event that does not decode.
#[derive(Debug, thiserror::Error)]
#[error("{event} event does not decode: {detail}")]
pub struct EventError {
    /// The SSE event name.
    pub event: String,
    /// What is wrong.
    pub detail: String,
}

#[derive(Serialize, Deserialize)]
struct Beat {
    version: u64,
    time: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct Resync {
    reason: String,
    version: u64,
}

/// The SSE block for a change set already encoded as JSON (`json` must be
/// a [`ChangeSet`] at `version`; the feed encodes each set once).
pub fn encode_changes(version: u64, json: &str) -> String {
    format!("id: {version}\nevent: changes\ndata: {json}\n\n")
}

fn block(event: &str, data: &impl Serialize) -> String {
    // Both payloads are plain structs of numbers and strings, which always
    // encode; JSON never contains a raw newline, so one `data:` line holds it.
    let json = serde_json::to_string(data).unwrap_or_default();
    format!("event: {event}\ndata: {json}\n\n")
}

impl StreamEvent {
    /// The event as one SSE block, blank line included.
    pub fn encode(&self) -> String {
        match self {
            StreamEvent::Changes(set) => encode_changes(set.version, &serde_json::to_string(set).unwrap_or_default()),
            StreamEvent::Heartbeat { version, time } => block("heartbeat", &Beat { version: *version, time: *time }),
            StreamEvent::Resync { reason, version } => {
                block("resync", &Resync { reason: reason.clone(), version: *version })
            }
        }
    }

    /// Decodes one SSE block (without its blank line). `None` for comments
    /// and for events this version does not know, which a newer server may
    /// send and an older replica skips.
    pub fn decode(block: &str) -> Result<Option<StreamEvent>, EventError> {
        let mut kind = "message";
        let mut data = String::new();
        for line in block.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => kind = value,
                "data" => {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value);
                }
                _ => {}
            }
        }
        let bad = |e: serde_json::Error| EventError { event: kind.to_owned(), detail: e.to_string() };
        Ok(match kind {
            "changes" => Some(StreamEvent::Changes(serde_json::from_str(&data).map_err(bad)?)),
            "heartbeat" => {
                let Beat { version, time } = serde_json::from_str(&data).map_err(bad)?;
                Some(StreamEvent::Heartbeat { version, time })
            }
            "resync" => {
                let Resync { reason, version } = serde_json::from_str(&data).map_err(bad)?;
                Some(StreamEvent::Resync { reason, version })
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(event: StreamEvent) {
        let text = event.encode();
        let block = text.strip_suffix("\n\n").expect("a block ends with a blank line");
        assert_eq!(StreamEvent::decode(block).unwrap(), Some(event), "{text}");
    }

    #[test]
    fn every_event_decodes_to_what_was_encoded() {
        round_trip(StreamEvent::Changes(ChangeSet { version: 9, prev: 7, changes: vec![] }));
        round_trip(StreamEvent::Heartbeat { version: 7, time: Timestamp::parse("2026-12-02T10:00:00Z").unwrap() });
        round_trip(StreamEvent::Resync { reason: "fetch the \"snapshot\"\nagain".into(), version: 3 });
    }

    #[test]
    fn the_pre_encoded_form_is_the_typed_form() {
        let set = ChangeSet { version: 9, prev: 7, changes: vec![] };
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(encode_changes(9, &json), StreamEvent::Changes(set).encode());
    }

    #[test]
    fn comments_and_unknown_events_are_skipped_and_bad_data_is_an_error() {
        assert_eq!(StreamEvent::decode(": keep-alive").unwrap(), None);
        assert_eq!(StreamEvent::decode("event: gossip\ndata: {}").unwrap(), None);
        let error = StreamEvent::decode("event: changes\ndata: {not json").unwrap_err();
        assert_eq!(error.event, "changes");
        assert!(StreamEvent::decode("event: heartbeat\ndata: {\"version\":1}").is_err());
    }
}
