//! Publication: a rule that uses what rules cannot evaluate is refused
//! with the reason, before it could ever run.

use verdict_detect::Rule;
use verdict_model::Catalog;

#[test]
fn rules_that_use_what_they_cannot_evaluate_are_refused_at_publication() {
    let catalog = Catalog::builtin();
    let ok = r#"sum("ai.speech-to-text", "audio_seconds", "1d") > 3.6e6 && growth("storage.blob", "bytes_stored", "7d") > 4.0"#;
    let rule = Rule::compile(ok, &catalog).unwrap();
    assert_eq!(rule.readings().len(), 2);
    let cases = [
        (r#"sum("ai.speech-to-text", "audio_seconds", "1d") >"#, "rule-syntax", "not CEL"),
        (r#"lookup("x") && sum("ai.vision", "images", "1d") > 1.0"#, "rule-unknown-function", "\"lookup\""),
        (r#"caller == "x" && sum("ai.vision", "images", "1d") > 1.0"#, "rule-unknown-name", "\"caller\""),
        (r#"event.text == "x""#, "rule-unsupported", "fields"),
        (r#"regions.exists(r, r == "x") && sum("ai.vision", "images", "1d") > 1.0"#, "rule-unsupported", "loops"),
        (r#"sum("ai.vision", "bytes_stored", "1d") > 1.0"#, "rule-bad-figure", "declares images, requests"),
        (r#"sum("ai.telepathy", "minds", "1d") > 1.0"#, "rule-bad-figure", "not in the catalog"),
        (r#"sum("ai.vision", "images", "90d") > 1.0"#, "rule-bad-figure", "from 1h to 30d"),
        (r#"sum("ai.vision", "images", "a week") > 1.0"#, "rule-bad-figure", "hours or days"),
        (r#"sum(unit, "images", "1d") > 1.0"#, "rule-bad-figure", "three quoted texts"),
        (r#"tenant_kind == "government""#, "rule-reads-no-figure", "sum, rate or growth"),
        (r#"sum("ai.vision", "images", "1d")"#, "rule-not-boolean", "true or false"),
    ];
    for (text, code, words) in cases {
        let e = Rule::compile(text, &catalog).expect_err(text);
        assert_eq!(e.code(), code, "{text}: {e}");
        assert!(e.to_string().contains(words), "{text}: {e}");
    }
}
