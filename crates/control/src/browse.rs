//! The inventory as people browse it: one tenant's subscriptions a page at
//! a time, within a unit or matching a search, with how many each unit
//! holds — read from the in-memory inventory index, so a page of a tenant
//! with 100,000 subscriptions costs one scan of memory, not a query.

use std::collections::BTreeMap;

use verdict_model::UnitPath;

use crate::{Core, CoreError};

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct InventoryQuery {
    /// Only subscriptions in this unit or below it.
    pub unit: Option<UnitPath>,
    /// Only subscriptions whose id contains this text.
    pub search: Option<String>,
    /// Matching subscriptions to skip.
    pub offset: usize,
    /// Matching subscriptions to return.
    pub limit: usize,
}

/// One subscription as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRow {
    /// Its id.
    pub id: String,
    /// Its unit.
    pub unit: String,
    /// Its region (empty: none given).
    pub region: String,
    /// Its services (empty: every service of the catalog).
    pub services: Vec<String>,
}

/// A page of a tenant's inventory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InventoryPage {
    /// The tenant's subscriptions.
    pub total: usize,
    /// Those the query matches.
    pub matching: usize,
    /// Each unit of the tenant with the subscriptions in it or below it.
    pub units: BTreeMap<String, usize>,
    /// The page.
    pub rows: Vec<SubscriptionRow>,
}

impl Core {
    /// A page of `tenant`'s subscriptions, as the index holds them now;
    /// an unknown tenant is refused.
    pub async fn inventory_page(&self, tenant: &str, query: &InventoryQuery) -> Result<InventoryPage, CoreError> {
        let known = self.units(tenant).await?;
        if self.tenant(tenant).await?.is_none() {
            return Err(CoreError::NotFound { kind: crate::Thing::Tenant, id: tenant.to_owned() });
        }
        let mut page =
            InventoryPage { units: known.iter().map(|u| (u.as_str().to_owned(), 0)).collect(), ..Default::default() };
        let index = self.inventory.load_full();
        let Some(subs) = index.tenant(tenant) else { return Ok(page) };
        let catalog = verdict_model::Catalog::builtin();
        let unit_paths = subs.units();
        let in_unit: Vec<bool> =
            unit_paths.iter().map(|u| query.unit.as_ref().is_none_or(|within| u.is_within(within))).collect();
        let mut direct = vec![0usize; unit_paths.len()];
        for sub in subs.iter() {
            page.total += 1;
            direct[sub.unit as usize] += 1;
            if !in_unit[sub.unit as usize] || query.search.as_deref().is_some_and(|s| !sub.id.contains(s)) {
                continue;
            }
            page.matching += 1;
            if page.matching > query.offset && page.rows.len() < query.limit {
                let mut services: Vec<String> =
                    sub.services.iter().map(|i| catalog.services[i as usize].name.clone()).collect();
                if services.len() == catalog.services.len() {
                    services.clear();
                }
                page.rows.push(SubscriptionRow {
                    id: sub.id.to_owned(),
                    unit: unit_paths[sub.unit as usize].to_string(),
                    region: subs.regions()[sub.region as usize].clone(),
                    services,
                });
            }
        }
        // A unit counts what is in it and below it.
        for (unit, count) in unit_paths.iter().zip(direct) {
            let mut at = Some(unit.clone());
            while let Some(path) = at {
                if let Some(total) = page.units.get_mut(path.as_str()) {
                    *total += count;
                }
                at = path.parent();
            }
        }
        Ok(page)
    }
}
