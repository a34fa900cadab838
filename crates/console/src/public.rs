//! The public pages, no sign-in: the transparency report's figures with
//! the log's checkpoint, and the log explorer — entries' public parts, a
//! page at a time, newest first, each with its receipt.

use maud::{Markup, html};
use verdict_control::{Report, Tally};

use crate::charts::bars;
use crate::html::{Section, page, page_with};

/// The latest signed checkpoint, as the pages show it.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The log's origin (its name).
    pub origin: String,
    /// Entries in the tree.
    pub size: u64,
    /// The tree's root hash, base64 as in the note.
    pub root: String,
    /// The verifier key (C2SP vkey).
    pub key: String,
}

/// The transparency report for `report.from..report.to`, with the log's
/// checkpoint the figures can be checked against.
pub fn transparency(report: &Report, checkpoint: &Checkpoint) -> Markup {
    let tally = |title: &str, what: &str, tally: &Tally| {
        html! {
            section class="tally" aria-labelledby=(anchor(title)) {
                h2 id=(anchor(title)) { (title) ": " span class="total" { (tally.total) } }
                @if tally.total == 0 {
                    p class="empty" { "No " (what) " in this period." }
                } @else {
                    div class="charts" {
                        (bars("By clause", &tally.by_clause))
                        (bars("By customer kind", &tally.by_customer_kind))
                        (bars("By source", &tally.by_source))
                        (bars("By service family", &tally.by_service_family))
                    }
                }
            }
        }
    };
    let median = |seconds: Option<i64>| match seconds {
        Some(s) => duration(s),
        None => "—".to_owned(),
    };
    let body = html! {
        p class="lead" {
            "What this provider did under its acceptable-use terms "
            @if report.from.seconds() <= 0 { "since its log began" } @else {
                "from " time datetime=(report.from) { (when(&report.from.to_string())) }
            }
            " to " time datetime=(report.to) { (when(&report.to.to_string())) }
            ": cases opened, orders made, services suspended and appeals decided. Every figure counts entries of the "
            a href="/transparency/log" { "public log" } ", which anyone can verify."
        }
        p { a class="button" href="/transparency/report.csv" download="transparency-report.csv" { "Download as CSV" } }
        (tally("Cases opened", "cases", &report.cases))
        (tally("Orders made", "orders", &report.orders))
        (tally("Suspensions", "suspensions", &report.suspensions))
        section aria-labelledby="outcomes" {
            h2 id="outcomes" { "Outcomes" }
            div class="charts" {
                (bars("Orders by state", &report.orders_by_state))
                (bars("Appeals by outcome", &report.appeals_by_outcome))
                (bars("Safeguards overridden by approvers", &report.overrides_by_guard))
            }
        }
        section aria-labelledby="durations" {
            h2 id="durations" { "How long it took (medians)" }
            dl class="facts" {
                dt { "From a case to its first order" } dd { (median(report.medians.case_opened_to_order_seconds)) }
                dt { "From approval to the first restriction" } dd { (median(report.medians.approval_to_effect_seconds)) }
                dt { "From an appeal to its decision" } dd { (median(report.medians.appeal_to_decision_seconds)) }
            }
        }
        (checkpoint_section(checkpoint))
    };
    page("Transparency report", Section::Transparency, body)
}

fn checkpoint_section(checkpoint: &Checkpoint) -> Markup {
    html! {
        section aria-labelledby="checkpoint" {
            h2 id="checkpoint" { "The log these figures come from" }
            dl class="facts" {
                dt { "Log" } dd { code { (checkpoint.origin) } }
                dt { "Entries" } dd { (checkpoint.size) }
                dt { "Root hash" } dd { code class="hash" { (checkpoint.root) } }
                dt { "Verifier key" } dd { code class="hash" { (checkpoint.key) } }
            }
            p {
                "Fetch " a href="/log/checkpoint" { "the signed checkpoint" }
                " and check it with the key, or follow the log with "
                code { "verdict log verify --url <this site>/log --key <key> --state monitor.json" } "."
            }
        }
    }
}

/// One entry of the log as the explorer lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRow {
    /// Its index.
    pub index: u64,
    /// Its `type`.
    pub kind: String,
    /// Its `time`.
    pub time: String,
    /// A line about its public part (the order, case or clause it names).
    pub about: String,
}

impl EntryRow {
    /// Reads an entry's public fields; an entry that is not the JSON the
    /// format describes is listed as such rather than hidden.
    pub fn parse(index: u64, entry: &[u8]) -> EntryRow {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(entry) else {
            return EntryRow { index, kind: "(not JSON)".into(), time: String::new(), about: String::new() };
        };
        let field = |name: &str| value.get(name).and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let public = value.get("public");
        let about = ["order", "case", "notice", "appeal", "clause", "guard", "customer_kind"]
            .iter()
            .filter_map(|key| {
                let v = public?.get(*key)?;
                let text = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                Some(format!("{}: {text}", key.replace('_', " ")))
            })
            .collect::<Vec<_>>()
            .join(" · ");
        EntryRow { index, kind: field("type"), time: field("time"), about }
    }
}

/// Entries `rows` (newest first) of a log of `size`, a page of the
/// explorer; `older` is the `before` of the next page, if there is one.
pub fn log_list(rows: &[EntryRow], size: u64, newer: Option<u64>, older: Option<u64>) -> Markup {
    let body = html! {
        p class="lead" {
            "Every governance action this provider takes is an entry of an append-only Merkle log ("
            (size) " entries). Each entry's public part says what happened without naming the customer; "
            "its private part is committed to by a salted hash and shown only to those it concerns."
        }
        @if rows.is_empty() {
            p class="empty" { "The log has no entries yet." }
        } @else {
            table class="entries" {
                thead { tr { th scope="col" class="num" { "Index" } th scope="col" { "Type" } th scope="col" { "Time" } th scope="col" { "About" } } }
                tbody {
                    @for row in rows {
                        tr {
                            td class="num" { a href=(format!("/transparency/log/{}", row.index)) { (row.index) } }
                            td { span class=(format!("kind kind-{}", family(&row.kind))) { (row.kind) } }
                            td class="when" { time datetime=(row.time) { (when(&row.time)) } }
                            td { (row.about) }
                        }
                    }
                }
            }
        }
        nav class="pages" aria-label="Pages of the log" {
            @if let Some(before) = newer { a href=(format!("/transparency/log?before={before}")) rel="prev" { "← Newer" } }
            @if let Some(before) = older { a href=(format!("/transparency/log?before={before}")) rel="next" { "Older →" } }
        }
    };
    page("Transparency log", Section::Log, body)
}

/// One entry: its bytes as logged, what they say, and how to prove them.
pub fn log_entry(index: u64, entry: &[u8], size: u64) -> Markup {
    let row = EntryRow::parse(index, entry);
    let bytes = String::from_utf8_lossy(entry);
    let body = html! {
        dl class="facts" {
            dt { "Type" } dd { span class=(format!("kind kind-{}", family(&row.kind))) { (row.kind) } }
            dt { "Time" } dd { time datetime=(row.time) { (when(&row.time)) } }
            dt { "Position" } dd { "entry " (index) " of " (size) }
        }
        h2 { "The entry" }
        p { "Exactly as logged: the leaf hash covers these bytes." }
        // Focusable: a long entry scrolls, and a keyboard must reach it.
        pre class="entry" tabindex="0" aria-label="The entry's bytes" { code id="entry-bytes" { (bytes) } }
        section class="verify" aria-labelledby="verify-heading" data-verify-index=(index) data-entry-source="entry-bytes" {
            h2 id="verify-heading" { "Verified in your browser" }
            p class="verdict" aria-live="polite" { "Checking…" }
            noscript { p { "With JavaScript on, this page checks the entry's inclusion proof and the checkpoint's signature here; without it, use the receipt below." } }
            ol class="checks" {}
            button type="button" class="verify secondary" hidden { "Check again" }
            p class="meta" {
                "The proof, the checkpoint and the key (" a href="/log/key" { "/log/key" } ") come from this server: "
                "compare the key with the one the provider publishes elsewhere before trusting the signature."
            }
        }
        h2 { "Prove it" }
        p {
            "Download " a href=(format!("/log/receipt/{index}")) download=(format!("entry-{index}.tlog-proof")) { "the receipt" }
            " — the entry, its inclusion proof and the signed checkpoint in one file — and check it with "
            code { "verdict log verify-receipt entry-" (index) ".tlog-proof --key <key>" } ", or fetch "
            a href=(format!("/log/proof/inclusion?index={index}&size={size}")) { "the inclusion proof" } " yourself."
        }
        nav class="pages" aria-label="Neighbouring entries" {
            @if index + 1 < size { a href=(format!("/transparency/log/{}", index + 1)) rel="prev" { "← Newer entry" } }
            @if index > 0 { a href=(format!("/transparency/log/{}", index - 1)) rel="next" { "Older entry →" } }
            a href=(format!("/transparency/log?before={}", index + 1)) { "In the list" }
        }
    };
    page_with(&format!("Log entry {index}"), Section::Log, &[crate::assets::VERIFY_SCRIPT.path()], body)
}

/// A page that says what was not found and where to go instead.
pub fn not_found(what: &str) -> Markup {
    problem("Not found", what)
}

/// A page titled `title` that says what went wrong (`what`) and where to
/// go instead.
pub fn problem(title: &str, what: &str) -> Markup {
    let body = html! {
        p class="empty" { (what) }
        p { a href="/transparency" { "The transparency report" } " · " a href="/transparency/log" { "The log" } }
    };
    page(title, Section::Log, body)
}

/// The family of an entry type (`order`, `case`, …), for its colour.
fn family(kind: &str) -> &str {
    let family = kind.split('.').next().unwrap_or("");
    if family.bytes().all(|b| b.is_ascii_lowercase()) { family } else { "other" }
}

fn anchor(title: &str) -> String {
    title.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric(), "-")
}

/// An RFC 3339 instant as people read it: `2026-11-30 18:52 UTC` (the
/// text unchanged if it is not one).
pub(crate) fn when(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16), rfc3339.ends_with('Z')) {
        (Some(day), Some(minute), true) if rfc3339.as_bytes().get(10) == Some(&b'T') => format!("{day} {minute} UTC"),
        _ => rfc3339.to_owned(),
    }
}

/// Seconds as days, hours and minutes.
fn duration(seconds: i64) -> String {
    let (d, h, m) = (seconds / 86_400, seconds % 86_400 / 3_600, seconds % 3_600 / 60);
    match (d, h) {
        (0, 0) => format!("{m} min"),
        (0, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOADS: [&str; 4] = [
        "<script>window.__xss=1</script>",
        "\"><img src=x onerror=window.__xss=1>",
        "' autofocus onfocus='window.__xss=1",
        "</code></pre><script>alert(1)</script>",
    ];

    fn hostile_entry(payload: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({"v": 1, "type": payload, "time": payload,
            "public": {"clause": payload, "title": payload, "order": payload}, "commitment": "sha256:00"}))
        .unwrap()
    }

    /// No element or attribute came from the payload: it is nowhere as
    /// markup (`<`, `>`, `"` and `&` escaped; attributes are double-quoted,
    /// so a `'` cannot end one).
    fn assert_inert(html: &str, payload: &str) {
        let own = html.matches("<script src=\"/console/assets/").count();
        assert_eq!(html.matches("<script").count(), own, "a script element not of the console's own in {html}");
        assert!(!html.contains("<img"), "an image element in {html}");
        if payload.contains(['<', '>', '"', '&']) {
            assert!(!html.contains(payload), "{payload:?} unescaped in {html}");
        }
    }

    #[test]
    fn what_an_entry_says_is_text_on_every_page() {
        for payload in PAYLOADS {
            let entry = hostile_entry(payload);
            let row = EntryRow::parse(7, &entry);
            assert!(row.about.contains(payload), "{row:?}");
            assert_inert(&log_list(&[row], 8, None, Some(2)).into_string(), payload);
            let one = log_entry(7, &entry, 8).into_string();
            assert_inert(&one, payload);
            assert!(one.contains("&lt;"), "escaped, not dropped");
        }
    }

    #[test]
    fn report_keys_are_text_in_charts_and_tables() {
        for payload in PAYLOADS {
            let mut report = Report::default();
            report.cases.total = 1;
            report.cases.by_clause.insert(payload.to_owned(), 1);
            report.appeals_by_outcome.insert(payload.to_owned(), 3);
            let checkpoint = Checkpoint { origin: payload.into(), size: 1, root: payload.into(), key: payload.into() };
            assert_inert(&transparency(&report, &checkpoint).into_string(), payload);
        }
    }

    #[test]
    fn an_entry_row_names_what_the_entry_is_about() {
        let entry = br#"{"v":1,"type":"order.approved","time":"2026-12-01T10:00:00Z","public":{"order":"ord-1","clause":"AUP-2","approvals":2}}"#;
        let row = EntryRow::parse(3, entry);
        assert_eq!(row.kind, "order.approved");
        assert_eq!(row.about, "order: ord-1 · clause: AUP-2");
        assert_eq!(EntryRow::parse(4, b"not json").kind, "(not JSON)");
    }

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(duration(59), "0 min");
        assert_eq!(duration(3_660), "1 h 1 min");
        assert_eq!(duration(2 * 86_400 + 7_200), "2 d 2 h");
        assert_eq!(when("2026-11-30T18:52:26Z"), "2026-11-30 18:52 UTC");
        assert_eq!(when("soon"), "soon");
    }
}
