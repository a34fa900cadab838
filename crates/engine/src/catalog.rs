//! The catalog compiled for lookups on the hot path.

use compact_str::CompactString;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use verdict_model::{ActionClass, Catalog, ServiceIndex};

use crate::cpu::short_eq;

/// One (service, action) pair of the catalog.
#[derive(Clone)]
struct ActionEntry {
    service_name: CompactString,
    name: CompactString,
    service: ServiceIndex,
    class: ActionClass,
}

/// What a request's service and action name resolve to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// The service is not in the catalog.
    UnknownService,
    /// A catalog service; `known` says whether the action is listed (an
    /// unlisted action is classed `write`).
    Service { service: ServiceIndex, class: ActionClass, known: bool },
}

/// Service names and (service, action) pairs in hash tables.
pub(crate) struct CompiledCatalog {
    pub(crate) catalog: Catalog,
    services: HashTable<(CompactString, ServiceIndex)>,
    /// Keyed by both names, so the common case (a listed action of a listed
    /// service) is one hash and one probe.
    actions: HashTable<ActionEntry>,
    hasher: foldhash::fast::FixedState,
}

impl CompiledCatalog {
    pub(crate) fn new(catalog: Catalog) -> CompiledCatalog {
        let hasher = foldhash::fast::FixedState::with_seed(0x6361_7461_6c6f_6721);
        let mut services = HashTable::new();
        let mut actions = HashTable::new();
        for (i, service) in catalog.services.iter().enumerate() {
            let index = i as ServiceIndex;
            services.insert_unique(
                hasher.hash_one(service.name.as_str()),
                (CompactString::from(service.name.as_str()), index),
                |e: &(CompactString, ServiceIndex)| hasher.hash_one(e.0.as_str()),
            );
            for (name, class) in &service.actions {
                let entry = ActionEntry {
                    service_name: service.name.as_str().into(),
                    name: name.as_str().into(),
                    service: index,
                    class: *class,
                };
                actions.insert_unique(hasher.hash_one((service.name.as_str(), name.as_str())), entry, |e| {
                    hasher.hash_one((e.service_name.as_str(), e.name.as_str()))
                });
            }
        }
        CompiledCatalog { catalog, services, actions, hasher }
    }

    #[inline]
    pub(crate) fn resolve(&self, service: &str, action: &str) -> Resolved {
        let pair = self.actions.find(self.hasher.hash_one((service, action)), |e| {
            short_eq(e.name.as_str(), action) && short_eq(e.service_name.as_str(), service)
        });
        if let Some(e) = pair {
            return Resolved::Service { service: e.service, class: e.class, known: true };
        }
        match self.services.find(self.hasher.hash_one(service), |e| short_eq(e.0.as_str(), service)) {
            Some(&(_, service)) => Resolved::Service { service, class: ActionClass::Write, known: false },
            None => Resolved::UnknownService,
        }
    }
}
