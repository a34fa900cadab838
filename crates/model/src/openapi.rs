//! OpenAPI schemas for the types that travel as plain strings.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

macro_rules! string_schema {
    ($ty:ty, $description:literal) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new().schema_type(Type::String).description(Some($description)).into()
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}

string_schema!(
    crate::Timestamp,
    "An instant in RFC 3339, e.g. 2026-11-23T09:00:00Z; fractions of a second are dropped."
);
string_schema!(crate::UnitPath, "A unit path: segments joined by '/', e.g. intelligence/signals.");
string_schema!(
    crate::ServicePattern,
    "A service pattern: '*', 'family.*' or 'family.name', e.g. ai.* or storage.blob."
);
