//! The API's error type and body parsing, from the wire crate: every
//! verdict HTTP surface answers `{"error": {"code", "message"}}` the same way.

pub(crate) use verdict_wire::{ApiError, ErrorBody, Json, RawBody, parse_json};
