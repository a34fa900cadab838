//! Usage events: numbers about a customer's resources — how many seconds of
//! audio a subscription transcribed, how many bytes it stores — and never
//! about people or content. Each service declares its meters, each with a
//! unit of measure; an event names one, and anything an event carries
//! beyond its eight fields, or any value that reads like a person or like
//! content, is refused with the reason.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::{Catalog, Timestamp};

/// How a meter's readings add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MeterKind {
    /// Amounts used, added up over time (seconds transcribed, bytes sent).
    Counter,
    /// A level at an instant (bytes stored); an hour keeps its highest.
    Gauge,
}

/// A meter a service declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MeterDef {
    /// The service, e.g. `storage.blob`.
    pub service: &'static str,
    /// The meter, e.g. `bytes_stored`.
    pub name: &'static str,
    /// Its unit of measure, e.g. `bytes`.
    pub unit: &'static str,
    /// Counter or gauge.
    pub kind: MeterKind,
}

const fn counter(service: &'static str, name: &'static str, unit: &'static str) -> MeterDef {
    MeterDef { service, name, unit, kind: MeterKind::Counter }
}

/// Every meter of the built-in catalog, by service.
pub const METERS: &[MeterDef] = &[
    counter("ai.speech-to-text", "audio_seconds", "seconds"),
    counter("ai.speech-to-text", "requests", "requests"),
    counter("ai.translation", "characters", "characters"),
    counter("ai.translation", "requests", "requests"),
    counter("ai.vision", "images", "images"),
    counter("ai.vision", "requests", "requests"),
    counter("compute.vm", "vcpu_seconds", "vCPU-seconds"),
    counter("security.defender", "scans", "scans"),
    counter("security.sentinel", "gigabytes_ingested", "gigabytes"),
    counter("storage.blob", "bytes_egress", "bytes"),
    counter("storage.blob", "bytes_ingress", "bytes"),
    MeterDef { service: "storage.blob", name: "bytes_stored", unit: "bytes", kind: MeterKind::Gauge },
    counter("storage.blob", "objects_written", "objects"),
    counter("storage.files", "bytes_egress", "bytes"),
    counter("storage.files", "bytes_ingress", "bytes"),
    MeterDef { service: "storage.files", name: "bytes_stored", unit: "bytes", kind: MeterKind::Gauge },
];

/// The meter `name` of `service`, if declared.
pub fn meter(service: &str, name: &str) -> Option<&'static MeterDef> {
    METERS.iter().find(|m| m.service == service && m.name == name)
}

/// The meters `service` declares.
pub fn meters_of(service: &str) -> impl Iterator<Item = &'static MeterDef> {
    METERS.iter().filter(move |m| m.service == service)
}

/// One usage event, as checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageEvent {
    /// The tenant.
    pub tenant: String,
    /// Its subscription.
    pub subscription: String,
    /// The service used.
    pub service: String,
    /// The meter read.
    pub meter: String,
    /// How much, in the meter's unit.
    pub quantity: f64,
    /// Where (a region name), if given.
    pub region: Option<String>,
    /// When.
    pub time: Timestamp,
    /// The sender's id for the event, so a resent event counts once.
    pub id: Option<String>,
}

/// The fields an event may carry.
pub const FIELDS: [&str; 8] = ["tenant", "subscription", "service", "meter", "quantity", "region", "time", "id"];

/// How far ahead of the server's clock an event's time may be.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// Why an event is refused. Each has a stable code.
#[derive(Debug, Clone, PartialEq)]
pub enum UsageError {
    /// Not a JSON object.
    NotAnObject,
    /// A field an event does not have.
    UnknownField {
        /// Its name.
        field: String,
    },
    /// A field, or a value, that reads like a person or like content.
    PersonalOrContent {
        /// The field.
        field: String,
        /// What it looks like.
        looks_like: &'static str,
    },
    /// A required field is missing.
    Missing {
        /// Its name.
        field: &'static str,
    },
    /// A field's value has the wrong shape.
    Invalid {
        /// Its name.
        field: &'static str,
        /// The value, quoted back.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// A service the catalog does not know.
    UnknownService {
        /// The name given.
        service: String,
    },
    /// A meter the service does not declare.
    UnknownMeter {
        /// The service.
        service: String,
        /// The name given.
        meter: String,
    },
    /// Less than zero.
    NegativeQuantity {
        /// The quantity given.
        quantity: f64,
    },
    /// Later than the server's clock allows.
    FutureTime {
        /// The time given.
        time: Timestamp,
        /// The latest accepted.
        latest: Timestamp,
    },
    /// Earlier than the allowed lateness.
    TooLate {
        /// The time given.
        time: Timestamp,
        /// The earliest accepted.
        earliest: Timestamp,
    },
}

impl UsageError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            UsageError::NotAnObject => "invalid-usage-event",
            UsageError::UnknownField { .. } => "unknown-field",
            UsageError::PersonalOrContent { .. } => "personal-or-content-data-refused",
            UsageError::Missing { .. } => "missing-field",
            UsageError::Invalid { .. } => "invalid-field",
            UsageError::UnknownService { .. } => "unknown-service",
            UsageError::UnknownMeter { .. } => "unknown-meter",
            UsageError::NegativeQuantity { .. } => "negative-quantity",
            UsageError::FutureTime { .. } => "future-time",
            UsageError::TooLate { .. } => "too-late",
        }
    }
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::NotAnObject => f.write_str("a usage event is a JSON object, one per line"),
            UsageError::UnknownField { field } => {
                write!(f, "field {field:?} is not part of a usage event; an event carries only {}", FIELDS.join(", "))
            }
            UsageError::PersonalOrContent { field, looks_like } => write!(
                f,
                "{field:?} looks like {looks_like}; usage events carry numbers about the customer's resources, \
                 never about people or what they store"
            ),
            UsageError::Missing { field } => write!(f, "the event has no {field:?}"),
            UsageError::Invalid { field, value, expected } => write!(f, "{field} {value} is not {expected}"),
            UsageError::UnknownService { service } => {
                write!(f, "service {service:?} is not in the catalog (GET /v1/catalog lists it)")
            }
            UsageError::UnknownMeter { service, meter } => {
                let known: Vec<&str> = meters_of(service).map(|m| m.name).collect();
                write!(f, "service {service:?} declares no meter {meter:?}; its meters are {}", known.join(", "))
            }
            UsageError::NegativeQuantity { quantity } => {
                write!(f, "quantity {quantity} is negative; meters count up from 0")
            }
            UsageError::FutureTime { time, latest } => {
                write!(f, "time {time} is later than the server's clock allows ({latest})")
            }
            UsageError::TooLate { time, earliest } => {
                write!(
                    f,
                    "time {time} is earlier than the allowed lateness ({earliest}); such an event is no longer counted"
                )
            }
        }
    }
}

impl std::error::Error for UsageError {}

/// Field names that name a person or what a customer stores.
const PERSONAL_OR_CONTENT_FIELDS: &[(&str, &str)] = &[
    ("transcript", "content"),
    ("text", "content"),
    ("content", "content"),
    ("body", "content"),
    ("payload", "content"),
    ("audio", "content"),
    ("recording", "content"),
    ("message", "content"),
    ("file_name", "content"),
    ("filename", "content"),
    ("caller", "a person"),
    ("callee", "a person"),
    ("phone", "a phone number"),
    ("msisdn", "a phone number"),
    ("email", "an e-mail address"),
    ("name", "a person's name"),
    ("person", "a person"),
    ("user", "a person"),
    ("username", "a person"),
    ("subject", "a person"),
    ("ip", "an address of a person's device"),
    ("ip_address", "an address of a person's device"),
    ("location", "a person's whereabouts"),
];

/// What a field name reads like, if like a person or content: the name is
/// one of the words, or one of them as its first or last part (`caller_id`,
/// `customer-email`), in any case.
fn personal_field(name: &str) -> Option<&'static str> {
    // The eight fields are the common case: no word is one of them.
    if FIELDS.contains(&name) {
        return None;
    }
    let is_separator = |b: u8| b == b'_' || b == b'-';
    let bytes = name.as_bytes();
    PERSONAL_OR_CONTENT_FIELDS
        .iter()
        .find(|(word, _)| {
            let w = word.as_bytes();
            let n = w.len();
            bytes.eq_ignore_ascii_case(w)
                || (bytes.len() > n && bytes[..n].eq_ignore_ascii_case(w) && is_separator(bytes[n]))
                || (bytes.len() > n
                    && bytes[bytes.len() - n..].eq_ignore_ascii_case(w)
                    && is_separator(bytes[bytes.len() - n - 1]))
        })
        .map(|(_, what)| *what)
}

/// What a string value reads like, if like a person or content.
fn personal_value(text: &str) -> Option<&'static str> {
    if text.contains('@') {
        return Some("an e-mail address");
    }
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if digits >= 7 && text.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
        return Some("a phone number");
    }
    if text.chars().any(char::is_whitespace) {
        return Some("free text or a person's name");
    }
    None
}

/// A name in the events' vocabulary: lowercase letters, digits, `-`, `_`, `.`, `/`.
fn is_name(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_./".contains(&b))
}

impl UsageEvent {
    /// Reads and checks one event against the catalog and the meters; the
    /// event's time must lie between `earliest` and `latest`. Whether the
    /// subscription is the tenant's is for the inventory to say.
    pub fn parse(
        value: &Value,
        catalog: &Catalog,
        earliest: Timestamp,
        latest: Timestamp,
    ) -> Result<UsageEvent, UsageError> {
        let Value::Object(object) = value else { return Err(UsageError::NotAnObject) };
        // What reads like a person or content is refused by name first,
        // then anything else that is not one of the fields.
        for name in object.keys() {
            if let Some(looks_like) = personal_field(name) {
                return Err(UsageError::PersonalOrContent { field: name.clone(), looks_like });
            }
        }
        if let Some(name) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(UsageError::UnknownField { field: name.clone() });
        }
        for (name, v) in object {
            if let Some(looks_like) = v.as_str().and_then(personal_value) {
                return Err(UsageError::PersonalOrContent { field: format!("{name}: {}", quoted(v)), looks_like });
            }
        }
        let text = |field: &'static str, max: usize, required: bool| -> Result<Option<String>, UsageError> {
            match object.get(field) {
                None | Some(Value::Null) if !required => Ok(None),
                None | Some(Value::Null) => Err(UsageError::Missing { field }),
                Some(Value::String(s)) if is_name(s, max) => Ok(Some(s.clone())),
                Some(other) => Err(UsageError::Invalid {
                    field,
                    value: quoted(other),
                    expected: "a lowercase name (letters, digits, - _ . /)",
                }),
            }
        };
        let tenant = text("tenant", 128, true)?.unwrap_or_default();
        let subscription = text("subscription", 128, true)?.unwrap_or_default();
        let service = text("service", 64, true)?.unwrap_or_default();
        let meter_name = text("meter", 64, true)?.unwrap_or_default();
        let region = text("region", 64, false)?;
        let id = match object.get("id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s))
                if !s.is_empty()
                    && s.len() <= 128
                    && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) =>
            {
                Some(s.clone())
            }
            Some(other) => {
                return Err(UsageError::Invalid {
                    field: "id",
                    value: quoted(other),
                    expected: "up to 128 letters, digits, - _ . :",
                });
            }
        };
        if catalog.index_of(&service).is_none() {
            return Err(UsageError::UnknownService { service });
        }
        if meter(&service, &meter_name).is_none() {
            return Err(UsageError::UnknownMeter { service, meter: meter_name });
        }
        let quantity = match object.get("quantity") {
            None | Some(Value::Null) => return Err(UsageError::Missing { field: "quantity" }),
            Some(Value::Number(n)) => n.as_f64().filter(|q| q.is_finite()).ok_or_else(|| UsageError::Invalid {
                field: "quantity",
                value: n.to_string(),
                expected: "a finite number",
            })?,
            Some(other) => {
                return Err(UsageError::Invalid { field: "quantity", value: quoted(other), expected: "a number" });
            }
        };
        if quantity < 0.0 {
            return Err(UsageError::NegativeQuantity { quantity });
        }
        let time = match object.get("time") {
            None | Some(Value::Null) => return Err(UsageError::Missing { field: "time" }),
            Some(Value::String(s)) => Timestamp::parse(s).map_err(|_| UsageError::Invalid {
                field: "time",
                value: quoted(&Value::String(s.clone())),
                expected: "an RFC 3339 time such as 2026-12-04T10:00:00Z",
            })?,
            Some(other) => {
                return Err(UsageError::Invalid { field: "time", value: quoted(other), expected: "an RFC 3339 time" });
            }
        };
        if time > latest {
            return Err(UsageError::FutureTime { time, latest });
        }
        if time < earliest {
            return Err(UsageError::TooLate { time, earliest });
        }
        Ok(UsageEvent { tenant, subscription, service, meter: meter_name, quantity, region, time, id })
    }
}

/// An event as it arrives, its strings borrowed from the line: the fast
/// path of [`UsageEvent::parse_line`]. Anything it cannot take (an unknown
/// or repeated field, a string with escapes, a value of another type) goes
/// the whole way through [`UsageEvent::parse`].
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Arriving<'a> {
    #[serde(borrow)]
    tenant: Option<&'a str>,
    #[serde(borrow)]
    subscription: Option<&'a str>,
    #[serde(borrow)]
    service: Option<&'a str>,
    #[serde(borrow)]
    meter: Option<&'a str>,
    quantity: Option<f64>,
    #[serde(borrow)]
    region: Option<&'a str>,
    #[serde(borrow)]
    time: Option<&'a str>,
    #[serde(borrow)]
    id: Option<&'a str>,
}

/// Why one line of NDJSON is not a usage event.
#[derive(Debug, Clone, PartialEq)]
pub enum LineError {
    /// The line is not JSON (serde's reason).
    NotJson(String),
    /// The line is JSON but not an event.
    Event(UsageError),
}

impl UsageEvent {
    /// Reads and checks one line of NDJSON: the same event, or the same
    /// refusal, as reading it as JSON and then [`UsageEvent::parse`], in
    /// a fraction of the time for the events a metering pipeline sends.
    pub fn parse_line(
        line: &[u8],
        catalog: &Catalog,
        earliest: Timestamp,
        latest: Timestamp,
    ) -> Result<UsageEvent, LineError> {
        if let Some(event) = Self::parse_plain(line, catalog, earliest, latest) {
            return Ok(event);
        }
        let value: Value = serde_json::from_slice(line).map_err(|e| LineError::NotJson(e.to_string()))?;
        UsageEvent::parse(&value, catalog, earliest, latest).map_err(LineError::Event)
    }

    /// The event, if the line is a plain one that passes every check;
    /// otherwise `None`, and [`UsageEvent::parse`] says why.
    fn parse_plain(line: &[u8], catalog: &Catalog, earliest: Timestamp, latest: Timestamp) -> Option<UsageEvent> {
        let a: Arriving<'_> = serde_json::from_slice(line).ok()?;
        let strings = [a.tenant, a.subscription, a.service, a.meter, a.region, a.time, a.id];
        if strings.iter().flatten().any(|s| personal_value(s).is_some()) {
            return None;
        }
        let (tenant, subscription, service, meter_name) = (a.tenant?, a.subscription?, a.service?, a.meter?);
        let names_ok = is_name(tenant, 128)
            && is_name(subscription, 128)
            && is_name(service, 64)
            && is_name(meter_name, 64)
            && a.region.is_none_or(|r| is_name(r, 64));
        let id_ok = a.id.is_none_or(|s| {
            !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        });
        let quantity = a.quantity.filter(|q| q.is_finite() && *q >= 0.0)?;
        if !names_ok || !id_ok || catalog.index_of(service).is_none() || meter(service, meter_name).is_none() {
            return None;
        }
        let time = Timestamp::parse(a.time?).ok().filter(|t| *t >= earliest && *t <= latest)?;
        Some(UsageEvent {
            tenant: tenant.to_owned(),
            subscription: subscription.to_owned(),
            service: service.to_owned(),
            meter: meter_name.to_owned(),
            quantity,
            region: a.region.map(str::to_owned),
            time,
            id: a.id.map(str::to_owned),
        })
    }
}

fn quoted(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 80 { format!("{}…", &text[..text.floor_char_boundary(77)]) } else { text }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Result<UsageEvent, UsageError> {
        let now = Timestamp::parse("2026-12-04T12:00:00Z").unwrap();
        UsageEvent::parse(&value, &Catalog::builtin(), now.plus(-2 * 86_400), now.plus(MAX_CLOCK_SKEW_SECONDS))
    }

    fn event() -> Value {
        json!({"tenant": "ministry-of-defense", "subscription": "sig-ai", "service": "ai.speech-to-text",
            "meter": "audio_seconds", "quantity": 3600, "region": "westeurope", "time": "2026-12-04T11:00:00Z",
            "id": "evt-1"})
    }

    fn with(field: &str, value: Value) -> Value {
        let mut e = event();
        e[field] = value;
        e
    }

    #[test]
    fn an_event_of_numbers_about_resources_is_read() {
        let e = parse(event()).unwrap();
        assert_eq!((e.quantity, e.meter.as_str(), e.id.as_deref()), (3600.0, "audio_seconds", Some("evt-1")));
        let mut bare = event();
        bare.as_object_mut().unwrap().remove("region");
        bare.as_object_mut().unwrap().remove("id");
        assert_eq!(parse(bare).unwrap().region, None);
    }

    /// Each kind of refusal, with its code and the words of its sentence.
    fn refusals() -> Vec<(Value, &'static str, &'static str)> {
        let mut cases: Vec<(Value, &str, &str)> = vec![
            (json!([1, 2]), "invalid-usage-event", "JSON object"),
            (with("transcript", json!("…")), "personal-or-content-data-refused", "content"),
            (with("msisdn", json!(1)), "personal-or-content-data-refused", "a phone number"),
            (with("caller_id", json!(1)), "personal-or-content-data-refused", "a person"),
            (with("Email", json!("x")), "personal-or-content-data-refused", "e-mail"),
            (with("callee", json!("x")), "personal-or-content-data-refused", "a person"),
            (with("region", json!("ops@example.org")), "personal-or-content-data-refused", "e-mail"),
            (with("subscription", json!("+31 20 555 0123")), "personal-or-content-data-refused", "phone number"),
            (with("tenant", json!("Jane Doe")), "personal-or-content-data-refused", "person's name"),
            (with("colour", json!("blue")), "unknown-field", "\"colour\" is not part of a usage event"),
            (with("service", json!("ai.telepathy")), "unknown-service", "ai.telepathy"),
            (with("meter", json!("bytes_stored")), "unknown-meter", "audio_seconds, requests"),
            (with("quantity", json!(-1)), "negative-quantity", "-1"),
            (with("quantity", json!("3600")), "invalid-field", "a number"),
            (with("time", json!("2026-12-04T13:00:00Z")), "future-time", "later than"),
            (with("time", json!("2026-11-01T00:00:00Z")), "too-late", "allowed lateness"),
            (with("time", json!("yesterday")), "invalid-field", "RFC 3339"),
            (with("tenant", json!("Ministry")), "invalid-field", "lowercase name"),
            (with("id", json!("a/b")), "invalid-field", "letters, digits"),
        ];
        let mut missing = event();
        missing.as_object_mut().unwrap().remove("quantity");
        cases.push((missing, "missing-field", "\"quantity\""));
        cases.push((with("subscription", json!("5550123456")), "personal-or-content-data-refused", "phone number"));
        cases.push((with("quantity", Value::Null), "missing-field", "\"quantity\""));
        cases
    }

    #[test]
    fn what_is_not_a_number_about_resources_is_refused_with_the_reason() {
        for (value, code, words) in refusals() {
            let e = parse(value.clone()).expect_err(&value.to_string());
            assert_eq!(e.code(), code, "{value}: {e}");
            assert!(e.to_string().contains(words), "{value}: {e}");
        }
    }

    /// The fast path reads a line exactly as JSON-then-`parse` does: the
    /// same event or the same refusal, for plain lines and for those only
    /// the slow path takes (escapes, repeated fields, other types).
    #[test]
    fn reading_a_line_agrees_with_reading_its_json() {
        let now = Timestamp::parse("2026-12-04T12:00:00Z").unwrap();
        let (earliest, latest) = (now.plus(-2 * 86_400), now.plus(MAX_CLOCK_SKEW_SECONDS));
        let mut bare = event();
        bare.as_object_mut().unwrap().remove("region");
        bare.as_object_mut().unwrap().remove("id");
        let mut lines: Vec<String> =
            vec![event().to_string(), bare.to_string(), with("quantity", json!(2.5e9)).to_string()];
        lines.extend(refusals().into_iter().map(|(v, _, _)| v.to_string()));
        lines.extend([
            r#"{"tenant":"ministry-of-defense","subscription":"sig\u002dai","service":"ai.speech-to-text","meter":"audio_seconds","quantity":1,"time":"2026-12-04T11:00:00Z"}"#.to_owned(),
            r#"{"tenant":"a","tenant":"ministry-of-defense","subscription":"sig-ai","service":"ai.speech-to-text","meter":"audio_seconds","quantity":1,"time":"2026-12-04T11:00:00Z"}"#.to_owned(),
            r#"{"tenant":"ministry-of-defense","subscription":"sig-ai","service":"ai.speech-to-text","meter":"audio_seconds","quantity":1e400,"time":"2026-12-04T11:00:00Z"}"#.to_owned(),
            "not json".to_owned(),
            "[]".to_owned(),
        ]);
        for line in lines {
            let slow = match serde_json::from_slice::<Value>(line.as_bytes()) {
                Err(e) => Err(LineError::NotJson(e.to_string())),
                Ok(v) => UsageEvent::parse(&v, &Catalog::builtin(), earliest, latest).map_err(LineError::Event),
            };
            let fast = UsageEvent::parse_line(line.as_bytes(), &Catalog::builtin(), earliest, latest);
            assert_eq!(fast, slow, "{line}");
        }
        let plain = event().to_string();
        let e = UsageEvent::parse_line(plain.as_bytes(), &Catalog::builtin(), earliest, latest).unwrap();
        assert_eq!((e.subscription.as_str(), e.region.as_deref()), ("sig-ai", Some("westeurope")));
        assert!(
            UsageEvent::parse_plain(plain.as_bytes(), &Catalog::builtin(), earliest, latest).is_some(),
            "plain lines take the fast path"
        );
    }

    #[test]
    fn every_meter_is_of_a_catalog_service() {
        let catalog = Catalog::builtin();
        for m in METERS {
            assert!(catalog.index_of(m.service).is_some(), "{m:?}");
            assert!(is_name(m.name, 64), "{m:?}");
        }
    }
}
