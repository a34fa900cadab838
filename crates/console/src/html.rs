//! The page shell — document head, navigation, footer — and the one place
//! raw HTML may be written.

use maud::{DOCTYPE, html};

pub use maud::Markup;

use crate::assets;

/// The sections of the pages, for the navigation: the link of a page's
/// section is marked as the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Transparency,
    Log,
    /// The console's home and signing in.
    Console,
    /// Cases, and drafting an order from one.
    Cases,
    /// Orders waiting for approval.
    Approvals,
    Appeals,
    Rules,
    Operations,
    Notices,
    /// A tenant's own log records (no link of its own in the navigation).
    Records,
}

fn link(href: &str, label: &str, here: bool) -> Markup {
    html! {
        @if here { a href=(href) aria-current="page" { (label) } } @else { a href=(href) { (label) } }
    }
}

/// A whole page: `title`, the section it belongs to, and its body.
pub(crate) fn page(title: &str, section: Section, body: Markup) -> Markup {
    shell(title, section, None, &[], body)
}

/// A public page that runs scripts of this crate's own (paths of
/// [`crate::assets`]), deferred.
pub(crate) fn page_with(title: &str, section: Section, scripts: &[&str], body: Markup) -> Markup {
    shell(title, section, None, scripts, body)
}

/// A page for a signed-in person: the navigation names them and offers
/// signing out.
pub(crate) fn signed_in_page(title: &str, section: Section, viewer: &crate::Viewer, body: Markup) -> Markup {
    shell(title, section, Some(viewer), &[], body)
}

/// A signed-in page that runs scripts of this crate's own.
pub(crate) fn signed_in_page_with(
    title: &str,
    section: Section,
    viewer: &crate::Viewer,
    scripts: &[&str],
    body: Markup,
) -> Markup {
    shell(title, section, Some(viewer), scripts, body)
}

fn shell(title: &str, section: Section, viewer: Option<&crate::Viewer>, scripts: &[&str], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · verdict" }
                link rel="stylesheet" href=(assets::STYLESHEET.path());
                @for script in scripts { script src=(script) defer {} }
            }
            body {
                a class="skip" href="#main" { "Skip to content" }
                header class="top" {
                    span class="brand" { "verdict" }
                    nav aria-label="Sections" {
                        (link("/console", "Console", section == Section::Console))
                        @if viewer.is_some_and(|v| v.roles.iter().any(|r| r.is_staff())) {
                            (link("/console/cases", "Cases", section == Section::Cases))
                            (link("/console/approvals", "Approvals", section == Section::Approvals))
                            (link("/console/appeals", "Appeals", section == Section::Appeals))
                            (link("/console/rules", "Rules", section == Section::Rules))
                            (link("/console/operations", "Operations", section == Section::Operations))
                        }
                        @if viewer.is_some() {
                            (link("/console/notices", "Notices", section == Section::Notices))
                        }
                        (link("/transparency", "Transparency report", section == Section::Transparency))
                        (link("/transparency/log", "Transparency log", section == Section::Log))
                    }
                    @if let Some(viewer) = viewer {
                        form class="who" method="post" action="/console/sign-out" {
                            span { (viewer.name) " · " (viewer.roles_text()) }
                            input type="hidden" name="_csrf" value=(viewer.csrf);
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main id="main" {
                    h1 { (title) }
                    (body)
                }
                footer {
                    p {
                        "Everything on these pages is public and can be checked: the log's "
                        a href="/log/checkpoint" { "checkpoint" }
                        " is signed with the key at "
                        a href="/log/key" { "/log/key" }
                        ", and any entry's inclusion can be proven from "
                        a href="/log/receipt/0" { "a receipt" }
                        " with " code { "verdict log verify-receipt" } "."
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The links marked current in a staff member's page of `section`.
    fn current_links(section: Section) -> Vec<String> {
        let viewer = crate::Viewer {
            name: "ana".into(),
            roles: vec![verdict_model::Role::Analyst],
            tenant: None,
            csrf: "token".into(),
        };
        let page = shell("A page", section, Some(&viewer), &[], html! {}).into_string();
        page.match_indices("aria-current=\"page\"")
            .map(|(at, _)| {
                let start = page[..at].rfind("href=\"").expect("a link") + 6;
                page[start..].split('"').next().expect("a closing quote").to_owned()
            })
            .collect()
    }

    #[test]
    fn the_navigation_marks_the_section_of_the_page() {
        for (section, href) in [
            (Section::Console, Some("/console")),
            (Section::Cases, Some("/console/cases")),
            (Section::Approvals, Some("/console/approvals")),
            (Section::Appeals, Some("/console/appeals")),
            (Section::Rules, Some("/console/rules")),
            (Section::Operations, Some("/console/operations")),
            (Section::Notices, Some("/console/notices")),
            (Section::Transparency, Some("/transparency")),
            (Section::Log, Some("/transparency/log")),
            (Section::Records, None),
        ] {
            let expected: Vec<String> = href.into_iter().map(str::to_owned).collect();
            assert_eq!(current_links(section), expected, "{section:?}");
        }
    }

    /// Raw HTML is written here and nowhere else in the crate.
    #[test]
    fn raw_html_is_confined_to_this_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![dir];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n != "html.rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    assert!(!text.contains(&["Pre", "Escaped"].concat()), "{} writes raw HTML", path.display());
                }
            }
        }
    }
}
