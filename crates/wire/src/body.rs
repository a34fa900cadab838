//! Why a JSON body does not fit its type, by serde's own error kinds.
//!
//! serde_json reports every data error as one category with a sentence. To
//! give each a stable code without reading the sentence, a body that failed
//! is deserialised once more, from its parsed JSON value, through
//! [`ValueDeserializer`], whose error type records the kind serde asked for
//! (`unknown_field`, `missing_field`, `invalid_type`, …) and the path to the
//! field. A model type's own refusal (a bad service pattern, unit path or
//! time) arrives as serde's `custom`; its code comes from
//! [`verdict_model::take_refusal`].

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Visitor};
use serde_json::Value;

/// serde's error kinds, as a body's refusal reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyErrorKind {
    /// A field the type does not declare (`deny_unknown_fields`).
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A field appears twice.
    DuplicateField,
    /// A value of the wrong JSON type.
    InvalidType,
    /// A value of the right type that the type refuses (out of range, not
    /// one of an enum's names, a list of the wrong length).
    InvalidValue,
    /// A model type refused the value, with this code (e.g. `invalid-pattern`).
    Refused(&'static str),
    /// Any other refusal.
    Other,
}

impl BodyErrorKind {
    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            BodyErrorKind::UnknownField => "unknown-field",
            BodyErrorKind::MissingField => "missing-field",
            BodyErrorKind::DuplicateField => "duplicate-field",
            BodyErrorKind::InvalidType => "invalid-type",
            BodyErrorKind::InvalidValue => "invalid-value",
            BodyErrorKind::Refused(code) => code,
            BodyErrorKind::Other => "invalid-body",
        }
    }
}

/// A body that does not fit its type: what kind of refusal, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    /// serde's kind.
    pub kind: BodyErrorKind,
    /// Where, e.g. `scope.units[2]`; empty at the top level.
    pub path: String,
    /// serde's sentence (or the model's).
    pub message: String,
}

impl BodyError {
    fn new(kind: BodyErrorKind, message: String) -> BodyError {
        BodyError { kind, path: String::new(), message }
    }

    /// The error, one level further out: `segment` is a field name or a
    /// `[index]`.
    fn within(mut self, segment: &str) -> BodyError {
        let joiner = if self.path.is_empty() || self.path.starts_with('[') { "" } else { "." };
        self.path = format!("{segment}{joiner}{}", self.path);
        self
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() { f.write_str(&self.message) } else { write!(f, "{}: {}", self.path, self.message) }
    }
}

impl std::error::Error for BodyError {}

impl de::Error for BodyError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        let kind = verdict_model::take_refusal().map_or(BodyErrorKind::Other, BodyErrorKind::Refused);
        BodyError::new(kind, message.to_string())
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        BodyError::new(BodyErrorKind::InvalidType, format!("invalid type: {unexpected}, expected {expected}"))
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        BodyError::new(BodyErrorKind::InvalidValue, format!("invalid value: {unexpected}, expected {expected}"))
    }

    fn invalid_length(len: usize, expected: &dyn de::Expected) -> Self {
        BodyError::new(BodyErrorKind::InvalidValue, format!("invalid length {len}, expected {expected}"))
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        BodyError::new(
            BodyErrorKind::InvalidValue,
            format!("unknown variant {variant:?}, expected one of {}", quoted(expected)),
        )
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let known = if expected.is_empty() { "none".to_owned() } else { quoted(expected) };
        BodyError::new(BodyErrorKind::UnknownField, format!("unknown field {field:?}; the fields are {known}"))
    }

    fn missing_field(field: &'static str) -> Self {
        BodyError::new(BodyErrorKind::MissingField, format!("missing field {field:?}"))
    }

    fn duplicate_field(field: &'static str) -> Self {
        BodyError::new(BodyErrorKind::DuplicateField, format!("field {field:?} appears more than once"))
    }
}

fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

/// Why `value` is not a `T`, with serde's kind and the path; `None` if it is.
pub fn why_not<T: serde::de::DeserializeOwned>(value: &Value) -> Option<BodyError> {
    verdict_model::take_refusal();
    let outcome = T::deserialize(ValueDeserializer(value));
    verdict_model::take_refusal();
    outcome.err()
}

/// A deserializer over a parsed JSON value whose errors are [`BodyError`]s.
pub struct ValueDeserializer<'de>(pub &'de Value);

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = BodyError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => visitor.visit_u64(u),
                (None, Some(i)) => visitor.visit_i64(i),
                (None, None) => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => {
                let mut seq = Seq { items: items.iter(), index: 0 };
                let value = visitor.visit_seq(&mut seq)?;
                match seq.items.len() {
                    0 => Ok(value),
                    left => Err(de::Error::invalid_length(seq.index + left, &"fewer elements")),
                }
            }
            Value::Object(fields) => visitor.visit_map(Map { fields: fields.iter(), pending: None }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, BodyError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, BodyError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BodyError> {
        match self.0 {
            Value::String(name) => visitor.visit_enum(name.as_str().into_deserializer()),
            Value::Object(fields) if fields.len() == 1 => {
                let (name, value) = fields.iter().next().expect("one field");
                visitor.visit_enum(Variant { name, value })
            }
            other => Err(de::Error::invalid_type(unexpected(other), &"a variant name or a one-field object")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn unexpected(value: &Value) -> de::Unexpected<'_> {
    match value {
        Value::Null => de::Unexpected::Unit,
        Value::Bool(b) => de::Unexpected::Bool(*b),
        Value::Number(n) => n.as_f64().map_or(de::Unexpected::Other("number"), de::Unexpected::Float),
        Value::String(s) => de::Unexpected::Str(s),
        Value::Array(_) => de::Unexpected::Seq,
        Value::Object(_) => de::Unexpected::Map,
    }
}

struct Seq<'de> {
    items: std::slice::Iter<'de, Value>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for Seq<'de> {
    type Error = BodyError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, BodyError> {
        let Some(item) = self.items.next() else { return Ok(None) };
        let index = self.index;
        self.index += 1;
        seed.deserialize(ValueDeserializer(item)).map(Some).map_err(|e| e.within(&format!("[{index}]")))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct Map<'de> {
    fields: serde_json::map::Iter<'de>,
    pending: Option<(&'de str, &'de Value)>,
}

impl<'de> de::MapAccess<'de> for Map<'de> {
    type Error = BodyError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, BodyError> {
        let Some((key, value)) = self.fields.next() else { return Ok(None) };
        self.pending = Some((key, value));
        seed.deserialize(BorrowedStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, BodyError> {
        let (key, value) = self.pending.take().ok_or_else(|| de::Error::custom("a value asked for before its key"))?;
        seed.deserialize(ValueDeserializer(value)).map_err(|e| e.within(key))
    }
}

struct Variant<'de> {
    name: &'de str,
    value: &'de Value,
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = BodyError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), BodyError> {
        let name = seed.deserialize(BorrowedStrDeserializer::new(self.name))?;
        Ok((name, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'de> {
    type Error = BodyError;

    fn unit_variant(self) -> Result<(), BodyError> {
        match self.value {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(unexpected(other), &"null for a variant without data")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, BodyError> {
        seed.deserialize(ValueDeserializer(self.value)).map_err(|e| e.within(self.name))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, BodyError> {
        ValueDeserializer(self.value).deserialize_any(visitor).map_err(|e| e.within(self.name))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, BodyError> {
        ValueDeserializer(self.value).deserialize_any(visitor).map_err(|e| e.within(self.name))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;
    use verdict_model::{ServicePattern, Timestamp, UnitPath};

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Scope {
        units: Vec<UnitPath>,
        #[serde(default)]
        services: Vec<ServicePattern>,
        start: Option<Timestamp>,
        mode: Option<Mode>,
        count: Option<u8>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        ExportOnly,
        Disabled,
    }

    fn why(body: Value) -> (&'static str, String) {
        let e = why_not::<Scope>(&body).expect("refused");
        (e.kind.code(), e.path)
    }

    #[test]
    fn each_kind_of_refusal_has_its_code_and_path() {
        assert_eq!(why(json!({"units": [], "servces": []})), ("unknown-field", String::new()));
        assert_eq!(why(json!({})), ("missing-field", String::new()));
        assert_eq!(why(json!({"units": "a"})), ("invalid-type", "units".into()));
        assert_eq!(why(json!({"units": [], "mode": "off"})), ("invalid-value", "mode".into()));
        assert_eq!(why(json!({"units": [], "count": 300})), ("invalid-value", "count".into()));
        assert_eq!(why(json!({"units": ["ok", "/bad//"]})), ("invalid-unit-path", "units[1]".into()));
        assert_eq!(why(json!({"units": [], "services": ["st orage"]})), ("invalid-pattern", "services[0]".into()));
        assert_eq!(why(json!({"units": [], "start": "yesterday"})), ("invalid-time", "start".into()));
        assert!(why_not::<Scope>(&json!({"units": ["a/b"], "services": ["storage.*"], "mode": "disabled"})).is_none());
    }

    #[test]
    fn a_refusal_does_not_leak_into_the_next_parse() {
        let _ = why_not::<Scope>(&json!({"units": [], "services": ["st orage"]}));
        let (code, _) = why(json!({"units": [], "count": "x"}));
        assert_eq!(code, "invalid-type");
        assert_eq!(verdict_model::take_refusal(), None);
    }
}
