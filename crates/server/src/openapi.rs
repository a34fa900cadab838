//! The OpenAPI document as served: the one utoipa derives, made to say
//! what the server does in two ways the derive cannot.
//!
//! - **Every error an operation can answer is listed.** Each operation gets
//!   the errors the layers in front of every handler give (400 for a bad
//!   query or path, 408 when a body stalls or a request runs long, 500),
//!   401 and 403 if it takes a token, 404 if its path names something, and
//!   for a body 409, 413, 415 and 422 — each with the one error shape.
//!   Descriptions an operation already gives for a status are kept.
//! - **Parameters carry their limits.** Ids have their pattern, `limit` is
//!   1–1000, versions and indexes are non-negative 63-bit numbers, times
//!   are RFC 3339, and the few words a parameter takes are listed — the
//!   rules the handlers apply, stated once here by parameter name.
//! - **Bodies carry their field rules**: ids, unit paths and service
//!   patterns their grammar, text that must say something a non-blank
//!   pattern, lists that must not be empty `minItems`, times `date-time` —
//!   by schema and field, in one table (`FIELD_RULES`), as the model
//!   validates them. Rules across fields (a scope names a unit or a
//!   subscription; phases in time order) are the handlers' 422s.
//! - **Flattened types stay open.** A response such as an order flattens
//!   its request body type (`OrderSpec`), which refuses unknown fields as a
//!   request; inside `allOf` that `additionalProperties: false` would reject
//!   the response's own fields, so the flattened copy is inlined without it.

use serde_json::{Map, Value, json};

/// The served document.
pub fn document(derived: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(derived).unwrap_or(Value::Null);
    if let Some(schemas) = doc.pointer_mut("/components/schemas").and_then(Value::as_object_mut) {
        constrain_fields(schemas);
    }
    let schemas = doc.pointer("/components/schemas").and_then(Value::as_object).cloned().unwrap_or_default();
    open_flattened(&mut doc, &schemas);
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for (method, operation) in item.iter_mut() {
                if let Some(operation) = operation.as_object_mut() {
                    list_errors(path, method, operation);
                    constrain_parameters(path, operation);
                }
            }
        }
    }
    doc
}

/// Replaces, inside every `allOf`, a reference to a closed schema with an
/// open copy of it.
fn open_flattened(value: &mut Value, schemas: &Map<String, Value>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::Array(parts)) = object.get_mut("allOf") {
                for part in parts.iter_mut() {
                    let target = part.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next());
                    if let Some(schema) = target.and_then(|name| schemas.get(name))
                        && schema.get("additionalProperties") == Some(&Value::Bool(false))
                    {
                        let mut open = schema.clone();
                        if let Some(open) = open.as_object_mut() {
                            open.remove("additionalProperties");
                        }
                        open_flattened(&mut open, schemas);
                        *part = open;
                    }
                }
            }
            for inner in object.values_mut() {
                open_flattened(inner, schemas);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| open_flattened(item, schemas)),
        _ => {}
    }
}

/// Text that must say something.
const SOME_TEXT: &str = "\\S";
/// A service pattern: `*`, `family.*` or `family.name`.
const SERVICE_PATTERN: &str = "^(?:\\*|[a-z][a-z0-9-]{0,47}\\.(?:\\*|[a-z][a-z0-9-]{0,47}))$";

/// What each request body's fields must be, by schema and field:
/// `(schema, field, rule)`, the rule merged into the field's schema.
fn field_rules() -> Vec<(&'static str, &'static str, Value)> {
    let id = || json!({"pattern": ID});
    let text = || json!({"minLength": 1, "pattern": SOME_TEXT});
    let unit = || json!({"pattern": UNIT_PATH});
    let time = || json!({"format": "date-time"});
    vec![
        ("Tenant", "id", id()),
        ("Unit", "tenant", id()),
        ("Unit", "path", unit()),
        ("Subscription", "id", id()),
        ("Subscription", "tenant", id()),
        ("Subscription", "unit", unit()),
        ("Subscription", "region", json!({"pattern": "^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$"})),
        (
            "Subscription",
            "services",
            json!({"items": {"pattern": "^[a-z][a-z0-9-]{0,47}\\.[a-z][a-z0-9-]{0,47}$"}, "uniqueItems": true, "maxItems": 64}),
        ),
        ("OrderSpec", "tenant", id()),
        ("OrderSpec", "clause", id()),
        ("OrderSpec", "case_id", id()),
        ("OrderSpec", "amends", id()),
        ("OrderSpec", "title", json!({"maxLength": 500})),
        (
            "OrderSpec",
            "services",
            json!({"items": {"pattern": SERVICE_PATTERN}, "minItems": 1, "maxItems": 64, "uniqueItems": true}),
        ),
        ("OrderSpec", "exempt", json!({"items": {"pattern": SERVICE_PATTERN}, "maxItems": 64, "uniqueItems": true})),
        ("OrderSpec", "phases", json!({"minItems": 1, "maxItems": 16})),
        ("OrderSpec", "end", time()),
        ("Scope", "units", json!({"items": {"pattern": UNIT_PATH}, "maxItems": 1000, "uniqueItems": true})),
        ("Scope", "subscriptions", json!({"items": {"pattern": ID}, "maxItems": 1000, "uniqueItems": true})),
        ("Phase", "start", time()),
        ("Clause", "id", id()),
        ("Clause", "title", json!({"minLength": 1, "pattern": SOME_TEXT, "maxLength": 300})),
        ("Clause", "text", json!({"minLength": 1, "pattern": SOME_TEXT, "maxLength": 20_000})),
        ("Clause", "approvals_required", json!({"minimum": 1, "maximum": 10})),
        (
            "Clause",
            "approvals_by_customer_kind",
            json!({"additionalProperties": {"type": "integer", "minimum": 1, "maximum": 10}}),
        ),
        // Set by the server when it publishes the clause.
        ("Clause", "created_at", json!({"format": "date-time", "readOnly": true})),
        ("Clause", "version", json!({"readOnly": true})),
        ("CaseSpec", "tenant", id()),
        ("CaseSpec", "title", json!({"minLength": 1, "pattern": SOME_TEXT, "maxLength": 500})),
        ("CaseSpec", "clauses", json!({"items": {"pattern": ID}, "minItems": 1, "maxItems": 32, "uniqueItems": true})),
        ("CaseSpec", "units", json!({"items": {"pattern": UNIT_PATH}})),
        ("Guard", "id", id()),
        ("Guard", "description", text()),
        ("Guard", "tenant", id()),
        ("Guard", "subscription", id()),
        (
            "Guard",
            "services",
            json!({"items": {"pattern": SERVICE_PATTERN}, "minItems": 1, "maxItems": 64, "uniqueItems": true}),
        ),
        ("GuardOverride", "guard", id()),
        ("GuardOverride", "reason", text()),
        ("NewUser", "name", id()),
        ("NewUser", "tenant", id()),
        ("MoveBody", "unit", unit()),
        ("LiftBody", "reason", text()),
        ("RejectBody", "reason", text()),
        ("CommentBody", "text", json!({"minLength": 1, "pattern": SOME_TEXT, "maxLength": 10_000})),
        ("FileBody", "statement", json!({"minLength": 1, "pattern": SOME_TEXT, "maxLength": 20_000})),
        ("DecisionBody", "reasons", text()),
        ("AssignBody", "user", id()),
    ]
}

/// Fields a schema requires beyond what its Rust type says (the AuthZEN
/// types are lenient so that a batch's items can inherit its defaults; a
/// single evaluation needs all three parts).
/// Properties that must not be null where the Rust type allows it.
const NOT_NULL: &[(&str, &str)] = &[("Entity", "type"), ("Entity", "id"), ("Action", "name")];

const REQUIRED: &[(&str, &[&str])] =
    &[("EvaluationRequest", &["subject", "resource", "action"]), ("Entity", &["type", "id"]), ("Action", &["name"])];

fn constrain_fields(schemas: &mut Map<String, Value>) {
    // A batch's items inherit the batch's defaults, and one that is still
    // incomplete is answered in place (a deny with its error), as AuthZEN
    // has it: they get their own lenient copies, made before the single
    // evaluation's parts are closed below.
    if let Some(mut single) = schemas.get("EvaluationRequest").cloned() {
        inline(&mut single, schemas, &["Entity", "Action"]);
        if let Some(items) =
            schemas.get_mut("EvaluationsRequest").and_then(|s| s.pointer_mut("/properties/evaluations/items"))
        {
            *items = single;
        }
    }
    for (schema, field) in NOT_NULL {
        if let Some(property) = schemas.get_mut(*schema).and_then(|s| s.pointer_mut(&format!("/properties/{field}"))) {
            let description = property.get("description").cloned();
            *property = json!({"type": "string", "minLength": 1});
            if let Some(description) = description {
                property["description"] = description;
            }
        }
    }
    for (schema, fields) in REQUIRED {
        if let Some(schema) = schemas.get_mut(*schema).and_then(Value::as_object_mut) {
            schema.insert("required".into(), json!(fields));
        }
    }
    for (schema, field, rule) in field_rules() {
        let Some(target) = schemas.get_mut(schema).and_then(|s| s.pointer_mut(&format!("/properties/{field}"))) else {
            continue;
        };
        merge(target, &rule);
    }
}

/// Replaces references to the `names` schemas inside `value` with copies.
fn inline(value: &mut Value, schemas: &Map<String, Value>, names: &[&str]) {
    match value {
        Value::Object(object) => {
            let target = object.get("$ref").and_then(Value::as_str).and_then(|r| r.rsplit('/').next());
            if let Some(copy) = target.filter(|t| names.contains(t)).and_then(|t| schemas.get(t)) {
                *value = copy.clone();
                return;
            }
            object.values_mut().for_each(|inner| inline(inner, schemas, names));
        }
        Value::Array(items) => items.iter_mut().for_each(|item| inline(item, schemas, names)),
        _ => {}
    }
}

/// Merges `rule` into `schema`; `items` rules go into the item schema.
fn merge(schema: &mut Value, rule: &Value) {
    let (Some(schema), Some(rule)) = (schema.as_object_mut(), rule.as_object()) else { return };
    for (key, value) in rule {
        match (key.as_str(), schema.get_mut(key)) {
            ("items", Some(items)) => merge(items, value),
            _ => {
                schema.insert(key.clone(), value.clone());
            }
        }
    }
}

/// verdict's identifiers (`verdict_model::validate_id`).
const ID: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";

/// A unit path: segments like ids, at most 16 of them, at most 256 bytes.
/// (Segments are stated as up to 15 characters so that 16 of them stay
/// within 256 bytes; the server takes up to 64.)
const UNIT_PATH: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{0,14}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,14}){0,15}$";

/// The schema each parameter takes, by its name and place.
fn parameter_schema(route: &str, name: &str, place: &str) -> Option<Value> {
    let index = json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": i64::MAX});
    Some(match (name, place) {
        ("id" | "name" | "after" | "tenant", _) => json!({"type": "string", "pattern": ID}),
        ("limit", "query") => json!({"type": "integer", "format": "int32", "minimum": 1, "maximum": 1000}),
        ("status", "query") => json!({"type": "string",
            "enum": ["proposed", "rejected", "scheduled", "in_force", "expired", "lifted", "superseded"]}),
        ("format", "query") => json!({"type": "string", "enum": ["json", "csv"]}),
        ("from" | "to", "query") => json!({"type": "string", "format": "date-time"}),
        ("since" | "size" | "new", "query") => index,
        ("index", _) => index,
        ("old", "query") => json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX}),
        ("heartbeat_ms", "query") => json!({"type": "integer", "format": "int64", "minimum": 50, "maximum": 60_000}),
        ("lineage", "query") => json!({"type": "string", "pattern": "^[0-9a-f]{0,64}$"}),
        ("path", "path") if route.starts_with("/v1/tenants/") => json!({"type": "string", "pattern": UNIT_PATH}),
        ("path", "path") => json!({"type": "string",
            "pattern": "^(?:[0-9]{1,2}|entries)/(?:x[0-9]{3}/)*[0-9]{3}(?:\\.p/(?:[1-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$"}),
        _ => return None,
    })
}

fn constrain_parameters(route: &str, operation: &mut Map<String, Value>) {
    let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) else { return };
    for parameter in parameters.iter_mut() {
        let name = parameter.get("name").and_then(Value::as_str).unwrap_or("");
        let place = parameter.get("in").and_then(Value::as_str).unwrap_or("");
        if let Some(schema) = parameter_schema(route, name, place) {
            parameter["schema"] = schema;
        }
    }
}

fn list_errors(path: &str, method: &str, operation: &mut Map<String, Value>) {
    if !matches!(method, "get" | "post" | "put" | "delete" | "patch") {
        return;
    }
    let secured = operation.get("security").and_then(Value::as_array).is_some_and(|s| !s.is_empty())
        || path.starts_with("/access/")
        || path.starts_with("/authz/");
    let names_something = path.contains('{')
        || operation.get("parameters").and_then(Value::as_array).is_some_and(|ps| {
            ps.iter().any(|p| matches!(p.get("name").and_then(Value::as_str), Some("after" | "tenant")))
        });
    let has_body = operation.contains_key("requestBody");
    let mut statuses: Vec<(&str, &str)> = vec![
        ("400", "malformed query, path or body (invalid-query, malformed-json, unknown-field, invalid-type, …)"),
        ("408", "the body stalled (body-timeout) or the request ran past its bound (request-timeout)"),
        ("500", "verdict failed; the error is logged on the server"),
    ];
    if secured {
        statuses.push(("401", "no token, or one verdict does not know (missing-token, invalid-token)"));
        statuses.push(("403", "the token's role may not do this (forbidden)"));
    }
    if names_something || has_body || method != "get" {
        statuses.push(("404", "something the request names does not exist (unknown-…)"));
    }
    if has_body {
        statuses.push(("409", "the change is illegal in the current state"));
        statuses.push(("413", "the body is over the endpoint's limit (payload-too-large)"));
        statuses.push(("415", "the body is not JSON (unsupported-media-type)"));
        statuses.push(("422", "the body is well-formed but refused (a value, a reference, customer content)"));
    }
    let responses = operation.entry("responses").or_insert_with(|| json!({}));
    let Some(responses) = responses.as_object_mut() else { return };
    for (status, description) in statuses {
        responses.entry(status).or_insert_with(|| {
            json!({
                "description": description,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            })
        });
    }
}
