//! verdict's enforcement point: a replica of the control plane's decision
//! snapshot that a gateway, a sidecar or a service embeds to decide locally,
//! with no network hop per request.
//!
//! A [`Replica`] bootstraps from the whole snapshot (`GET /v1/snapshot`),
//! then follows the change stream (`GET /v1/watch`, server-sent events)
//! with reconnects and backoff, resuming from its version and fetching the
//! snapshot again when the server says it is too far behind. Decisions run
//! on the same engine as the control plane's, so they are the same
//! decisions; a phase that starts flips at its instant with no message
//! needed. The replica knows its version and age (the time since the server
//! last confirmed it current) and applies a per-family [`StalenessPolicy`].
//! [`PepLayer`] puts it in front of any tower service.
//!
//! **Architecture invariant**: a replica applies a change set only on top of
//! the version it names as `prev`; anything else is a resync. It never
//! decides on a half-applied version.
//!
//! **API boundary**: transports are behind [`ChangeSource`]; [`HttpSource`]
//! (SSE) is the default, and [`nats::NatsSource`] follows the same events on
//! NATS JetStream, falling back to SSE while NATS is unreachable.

mod cache;
mod layer;
pub mod nats;
mod policy;
mod replica;
pub mod sidecar;
mod source;
pub mod tls;

pub use layer::{PepLayer, PepService, Target};
pub use policy::{Staleness, StalenessPolicy, parse_duration};
pub use replica::{Replica, ReplicaOptions, Status};
pub use source::{ChangeSource, EventStream, HttpSource};
pub use verdict_wire::StreamEvent as Event;

/// What can go wrong talking to the control plane.
#[derive(Debug, thiserror::Error)]
pub enum PepError {
    /// The server could not be reached or the connection broke.
    #[error("cannot reach the control plane at {url}")]
    Unreachable {
        /// What was asked for.
        url: String,
        /// Why.
        #[source]
        source: reqwest::Error,
    },
    /// The server did not answer in time.
    #[error("the control plane at {url} did not answer within {after:?}")]
    Timeout {
        /// What was asked for.
        url: String,
        /// How long the replica waited.
        after: std::time::Duration,
    },
    /// The server answered with an error.
    #[error("the control plane answered {status} to {url}: {body}")]
    Refused {
        /// What was asked for.
        url: String,
        /// The status.
        status: u16,
        /// The error body, as sent.
        body: String,
    },
    /// The server sent something this replica cannot read.
    #[error("the control plane sent an unreadable {what}: {detail}")]
    Protocol {
        /// What it was.
        what: &'static str,
        /// Why it does not parse.
        detail: String,
    },
    /// The snapshot does not compile.
    #[error("the snapshot does not compile")]
    Compile(#[from] verdict_engine::EngineError),
    /// A CA file for HTTPS cannot be used.
    #[error("cannot use {path} as CA certificates: {detail}")]
    Tls {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// The message bus could not be reached, or its stream failed.
    #[error("cannot follow the stream on NATS at {url}: {detail}")]
    Bus {
        /// The NATS server.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The first snapshot did not arrive in time.
    #[error("no snapshot from the control plane within {0:?}; is it running, and is the token a pep token?")]
    BootstrapTimeout(std::time::Duration),
}
