//! A tenant's log records: for every published entry about the tenant, the
//! private record and salt beside the public entry, each checked in the
//! browser (`verify.js`) against the commitment the public entry carries —
//! so the tenant sees that the public log commits to exactly what was
//! recorded about it.

use maud::{Markup, html};
use verdict_control::LogRecord;

use crate::Viewer;
use crate::html::{Section, signed_in_page_with};

/// Records (newest first) of `tenant`'s entries; `older`: where the next
/// page starts, if there is one.
pub fn records(viewer: &Viewer, tenant: &str, records: &[LogRecord], older: Option<u64>) -> Markup {
    let body = html! {
        p class="lead" {
            "Each entry of the public log about " strong { (tenant) } " carries a commitment: "
            code { "sha256:" } " of a salt and the private record. The private record is shown here with its salt, "
            "and this page recomputes the commitment in your browser and compares it with the public entry's."
        }
        @if records.is_empty() {
            p class="empty" { "No log entry concerns you yet." }
        }
        @for r in records {
            @let entry = String::from_utf8_lossy(&r.entry);
            @let private = String::from_utf8_lossy(&r.private);
            article class="record" data-commitment-check=(r.index) data-salt=(verdict_control::hex(&r.salt)) {
                h2 { a href=(format!("/transparency/log/{}", r.index)) { "Entry " (r.index) } " · " span class="kind" { (r.kind) } }
                p class="check-result" aria-live="polite" { "Checking…" }
                details {
                    summary { "The public entry and the private record" }
                    h3 { "Public" }
                    pre class="entry" tabindex="0" aria-label=(format!("Public entry {}", r.index)) { code data-part="entry" { (entry) } }
                    h3 { "Private" }
                    pre class="entry" tabindex="0" aria-label=(format!("Private record {}", r.index)) { code data-part="record" { (private) } }
                }
            }
        }
        @if let Some(before) = older {
            nav class="pages" aria-label="Pages" { a href=(format!("/console/records?before={before}")) rel="next" { "Older →" } }
        }
    };
    signed_in_page_with("Your log records", Section::Records, viewer, &[crate::assets::VERIFY_SCRIPT.path()], body)
}
