//! Encodings every backend shares: how records are stored as text.

use verdict_model::{TenantKind, UnitPath};

use crate::{Page, StoreError};

pub(crate) fn kind_from_str(text: &str) -> Result<TenantKind, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|_| StoreError::Corrupt(format!("unknown tenant kind {text:?}")))
}

pub(crate) fn path_from_str(text: &str) -> Result<UnitPath, StoreError> {
    UnitPath::parse(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn limit(page: &Page) -> i64 {
    i64::from(page.limit.clamp(1, 10_000))
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode a record: {e}")))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("a stored record does not decode: {e}")))
}
