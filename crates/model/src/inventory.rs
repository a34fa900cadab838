//! The customer inventory verdict enforces over: tenants, their unit trees
//! and the subscriptions every data-plane request is scoped to.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Catalog, ModelError, UnitPath, validate_id};

/// What kind of customer a tenant is; transparency reports group by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TenantKind {
    /// A state body.
    Government,
    /// A company.
    Enterprise,
    /// A natural person.
    Individual,
    /// A charity, NGO or other non-profit.
    Nonprofit,
    /// A school, university or research body.
    Education,
    /// Anything else.
    Other,
}

impl TenantKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantKind::Government => "government",
            TenantKind::Enterprise => "enterprise",
            TenantKind::Individual => "individual",
            TenantKind::Nonprofit => "nonprofit",
            TenantKind::Education => "education",
            TenantKind::Other => "other",
        }
    }
}

impl fmt::Display for TenantKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most services a subscription lists.
pub const MAX_SERVICES: usize = 64;

/// A customer organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Stable identifier, e.g. `ministry-of-defense`.
    pub id: String,
    /// Customer kind.
    pub kind: TenantKind,
    /// Display name; defaults to the id.
    #[serde(default)]
    pub name: String,
}

impl Tenant {
    /// Checks the fields.
    pub fn validate(&self) -> Result<(), ModelError> {
        validate_id("tenant id", &self.id)?;
        if self.name.len() > 200 {
            return Err(ModelError::TooLong { field: "the tenant's name", max: 200 });
        }
        Ok(())
    }
}

/// A node in a tenant's unit tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Unit {
    /// Owning tenant.
    pub tenant: String,
    /// Path in the tenant's tree; missing ancestors are created with it.
    pub path: UnitPath,
}

/// The isolation and billing container a data-plane request is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// Platform-wide identifier, e.g. `sig-archive-nl`.
    pub id: String,
    /// Owning tenant.
    pub tenant: String,
    /// The unit it belongs to.
    pub unit: UnitPath,
    /// Services enabled on it (catalog names).
    #[serde(default)]
    pub services: Vec<String>,
    /// Deployment region, e.g. `westeurope`.
    #[serde(default)]
    pub region: String,
}

impl Subscription {
    /// Checks the fields against the catalog.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), ModelError> {
        validate_id("subscription id", &self.id)?;
        validate_id("tenant id", &self.tenant)?;
        if !self.region.is_empty() {
            validate_id("region", &self.region)?;
        }
        crate::check_list("the subscription's services", &self.services, MAX_SERVICES)?;
        for service in &self.services {
            if catalog.index_of(service).is_none() {
                return Err(ModelError::UnknownService { value: service.clone() });
            }
        }
        Ok(())
    }
}

/// A whole inventory, as imported or compiled into a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Tenants.
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    /// Units; ancestors of listed units and of subscriptions' units are implied.
    #[serde(default)]
    pub units: Vec<Unit>,
    /// Subscriptions.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
}

/// One line of an NDJSON inventory: a record tagged with its `type`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Record {
    Tenant {
        id: String,
        kind: TenantKind,
        #[serde(default)]
        name: String,
    },
    Unit {
        tenant: String,
        path: UnitPath,
    },
    Subscription {
        id: String,
        tenant: String,
        unit: UnitPath,
        #[serde(default)]
        services: Vec<String>,
        #[serde(default)]
        region: String,
    },
}

/// Where an inventory document fails to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

impl Inventory {
    /// Parses the JSON form: `{"tenants": [..], "units": [..], "subscriptions": [..]}`.
    pub fn from_json(text: &str) -> Result<Inventory, ParseError> {
        serde_json::from_str(text).map_err(|e| ParseError { line: e.line(), message: e.to_string() })
    }

    /// Parses the NDJSON form: one record per line, each with a `type` of
    /// `tenant`, `unit` or `subscription`; blank lines are skipped.
    pub fn from_ndjson(text: &str) -> Result<Inventory, ParseError> {
        let mut inventory = Inventory::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let record: Record =
                serde_json::from_str(line).map_err(|e| ParseError { line: i + 1, message: e.to_string() })?;
            match record {
                Record::Tenant { id, kind, name } => inventory.tenants.push(Tenant { id, kind, name }),
                Record::Unit { tenant, path } => inventory.units.push(Unit { tenant, path }),
                Record::Subscription { id, tenant, unit, services, region } => {
                    inventory.subscriptions.push(Subscription { id, tenant, unit, services, region })
                }
            }
        }
        Ok(inventory)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.tenants.len() + self.units.len() + self.subscriptions.len()
    }

    /// Whether it holds no records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_names_the_bad_line() {
        let text = "{\"type\":\"tenant\",\"id\":\"t\",\"kind\":\"government\"}\n\n{\"type\":\"unit\",\"tenant\":\"t\",\"path\":\"a//b\"}\n";
        let err = Inventory::from_ndjson(text).unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("a//b"), "{}", err.message);
        let ok =
            Inventory::from_ndjson("{\"type\":\"subscription\",\"id\":\"s\",\"tenant\":\"t\",\"unit\":\"a\"}").unwrap();
        assert_eq!(ok.subscriptions.len(), 1);
    }
}
