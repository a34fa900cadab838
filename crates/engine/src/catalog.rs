//! The catalog compiled for lookups on the hot path.

use compact_str::CompactString;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use verdict_model::{ActionClass, Catalog, ServiceIndex};

#[derive(Clone)]
struct ActionEntry {
    service: ServiceIndex,
    name: CompactString,
    class: ActionClass,
}

/// Service names and (service, action) pairs in hash tables.
pub(crate) struct CompiledCatalog {
    pub(crate) catalog: Catalog,
    services: HashTable<(CompactString, ServiceIndex)>,
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
                let entry = ActionEntry { service: index, name: name.as_str().into(), class: *class };
                actions.insert_unique(hasher.hash_one((index, name.as_str())), entry, |e| {
                    hasher.hash_one((e.service, e.name.as_str()))
                });
            }
        }
        CompiledCatalog { catalog, services, actions, hasher }
    }

    #[inline]
    pub(crate) fn service(&self, name: &str) -> Option<ServiceIndex> {
        self.services.find(self.hasher.hash_one(name), |e| e.0.as_str() == name).map(|e| e.1)
    }

    /// The action's class and whether the catalog lists it; unlisted actions
    /// are classed `write`.
    #[inline]
    pub(crate) fn classify(&self, service: ServiceIndex, action: &str) -> (ActionClass, bool) {
        match self
            .actions
            .find(self.hasher.hash_one((service, action)), |e| e.service == service && e.name.as_str() == action)
        {
            Some(e) => (e.class, true),
            None => (ActionClass::Write, false),
        }
    }
}
