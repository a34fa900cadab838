//! verdict's web console and public transparency pages, as views: each page
//! is a function from the data it shows to HTML. No HTTP here and no
//! access to the control plane — `verdict-server` reads the data, checks who
//! may see it, and serves what these functions render.
//!
//! **Escaping invariant**: every string a page inserts goes through maud's
//! escaping; raw HTML (maud's pre-escaped strings) appears only in `html.rs`, for markup
//! this crate writes itself, and a test holds every other file to that.
//! No page carries inline script or style: the pages are served under a
//! Content-Security-Policy that forbids both.

pub mod assets;
pub mod cases;
mod charts;
pub mod drafts;
mod html;
pub mod notices;
pub mod operations;
pub mod orders;
pub mod public;
pub mod records;
pub mod rules;
pub mod session;

pub use html::Markup;
pub use session::Viewer;
