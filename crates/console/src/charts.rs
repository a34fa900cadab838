//! Charts drawn by the server as SVG: horizontal bars, each labelled with
//! its count, and the same figures as a table (folded away) for screen
//! readers and for copying.

use maud::{Markup, html};
use verdict_control::Counts;

/// Bar height and gap, and the width of the label column, in SVG units.
const BAR: u64 = 22;
const GAP: u64 = 8;
const LABEL: u64 = 180;
const PLOT: u64 = 360;

/// A bar chart of `counts` under `caption`; an empty one says so.
pub(crate) fn bars(caption: &str, counts: &Counts) -> Markup {
    let max = counts.values().copied().max().unwrap_or(0).max(1);
    let height = counts.len() as u64 * (BAR + GAP);
    html! {
        figure class="chart" {
            figcaption { (caption) }
            @if counts.is_empty() {
                p class="empty" { "None in this period." }
            } @else {
                svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {} {height}", LABEL + PLOT + 60))
                    role="img" aria-label=(caption) {
                    @for (i, (key, count)) in counts.iter().enumerate() {
                        @let y = i as u64 * (BAR + GAP);
                        @let width = (PLOT * count / max).max(2);
                        text class="label" x=(LABEL - 8) y=(y + BAR / 2 + 5) text-anchor="end" { (key) }
                        rect class="bar" x=(LABEL) y=(y) width=(width) height=(BAR) rx="3" {}
                        text class="count" x=(LABEL + width + 6) y=(y + BAR / 2 + 5) { (count) }
                    }
                }
                details class="figures" {
                    summary { "As a table" }
                    table {
                        thead { tr { th scope="col" { (caption) } th scope="col" class="num" { "Count" } } }
                        tbody {
                            @for (key, count) in counts {
                                tr { td { (key) } td class="num" { (count) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A column chart of `points` (label, value) in order, e.g. a figure over
/// time, with the values as a folded table.
pub(crate) fn columns(caption: &str, points: &[(String, f64)]) -> Markup {
    const WIDTH: u64 = 520;
    const HEIGHT: u64 = 160;
    let max = points.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let step = if points.is_empty() { 0 } else { WIDTH / points.len() as u64 };
    html! {
        figure class="chart" {
            figcaption { (caption) }
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + 20)) role="img" aria-label=(caption) {
                @for (i, (_, value)) in points.iter().enumerate() {
                    @let h = if max > 0.0 { ((value / max) * HEIGHT as f64).round() as u64 } else { 0 };
                    rect class="bar" x=(i as u64 * step + 2) y=(HEIGHT - h.max(1)) width=(step.saturating_sub(4).max(2)) height=(h.max(1)) rx="2" {}
                }
                @if let (Some((first, _)), Some((last, _))) = (points.first(), points.last()) {
                    text class="label" x="0" y=(HEIGHT + 16) { (first) }
                    text class="label" x=(WIDTH) y=(HEIGHT + 16) text-anchor="end" { (last) }
                }
            }
            details class="figures" {
                summary { "As a table" }
                table {
                    thead { tr { th scope="col" { "When" } th scope="col" class="num" { "Value" } } }
                    tbody { @for (label, value) in points { tr { td { (label) } td class="num" { (crate::rules::figure(*value)) } } } }
                }
            }
        }
    }
}
