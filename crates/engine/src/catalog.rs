//! The catalog compiled for lookups on the hot path, and the names a
//! request may use.
//!
//! **Names are canonical**: catalog service and action names are lowercase
//! ASCII letters, digits, `.`, `_` and `-`. A request's names are folded
//! to lowercase (`STORAGE.BLOB` is `storage.blob`); a name with anything
//! else in it (spaces, control or non-ASCII characters), empty, or longer
//! than [`MAX_NAME`] bytes is malformed and the request is denied, so no
//! spelling of a name slips past an order. A service the catalog does not
//! list is still covered by `*` and, if its family is a catalog family, by
//! `family.*`: each such family, and "no catalog family", has a slot after
//! the catalog's own services that those patterns select.

use compact_str::CompactString;
use hashbrown::HashTable;
use std::hash::BuildHasher;
use verdict_model::{ActionClass, Catalog, ServiceIndex, ServicePattern, ServiceSet};

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
    /// A catalog service; `known` says whether the action is listed (an
    /// unlisted action is classed `write`).
    Service { service: ServiceIndex, class: ActionClass, known: bool },
    /// A service the catalog does not list, in the slot of its family (or
    /// of "no catalog family"); its actions are all `write`.
    Unlisted { slot: ServiceIndex },
    /// A name that is not, even folded, a name verdict accepts.
    Malformed,
}

/// The longest service or action name accepted.
pub const MAX_NAME: usize = 128;

/// `name` as the catalog spells names: itself if it already is canonical,
/// else folded to lowercase in `buffer`; `None` if it is malformed.
#[inline]
fn canonical<'a>(name: &'a str, buffer: &'a mut [u8; MAX_NAME]) -> Option<&'a str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME {
        return None;
    }
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-');
    if bytes.iter().all(|b| allowed(*b)) {
        return Some(name);
    }
    let folded = &mut buffer[..bytes.len()];
    for (out, b) in folded.iter_mut().zip(bytes) {
        *out = b.to_ascii_lowercase();
        if !allowed(*out) {
            return None;
        }
    }
    // Only ASCII was written.
    std::str::from_utf8(folded).ok()
}

/// Service names and (service, action) pairs in hash tables.
pub(crate) struct CompiledCatalog {
    pub(crate) catalog: Catalog,
    services: HashTable<(CompactString, ServiceIndex)>,
    /// The catalog's families (the part of a name before its first `.`);
    /// family `i` has the unlisted-service slot `first_slot + i`, and
    /// "no catalog family" the slot after the last family.
    families: Vec<CompactString>,
    first_slot: ServiceIndex,
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
        let mut families: Vec<CompactString> = Vec::new();
        for service in &catalog.services {
            let family = family_of(&service.name).unwrap_or(&service.name);
            if !families.iter().any(|f| f == family) {
                families.push(family.into());
            }
        }
        let first_slot = catalog.services.len() as ServiceIndex;
        assert!(
            usize::from(first_slot) + families.len() < 128,
            "a catalog of {} services in {} families leaves no room for the unlisted-service slots",
            first_slot,
            families.len()
        );
        CompiledCatalog { catalog, services, actions, families, first_slot, hasher }
    }

    /// The unlisted-service slots that `services` minus `exempt` cover.
    pub(crate) fn unlisted_covered(&self, services: &[ServicePattern], exempt: &[ServicePattern]) -> ServiceSet {
        let covers = |family: Option<&str>| {
            services.iter().any(|p| p.covers_unlisted(family)) && !exempt.iter().any(|p| p.covers_unlisted(family))
        };
        let mut set = ServiceSet::default();
        for (i, family) in self.families.iter().enumerate() {
            if covers(Some(family.as_str())) {
                set = set.with(self.first_slot + i as ServiceIndex);
            }
        }
        if covers(None) {
            set = set.with(self.first_slot + self.families.len() as ServiceIndex);
        }
        set
    }

    /// The slot of an unlisted service named `service` (canonical).
    fn unlisted_slot(&self, service: &str) -> ServiceIndex {
        let position = family_of(service).and_then(|family| self.families.iter().position(|f| f == family));
        self.first_slot + position.unwrap_or(self.families.len()) as ServiceIndex
    }

    /// Whether `svc` is an unlisted-service slot rather than a catalog service.
    #[inline]
    pub(crate) fn is_unlisted(&self, svc: ServiceIndex) -> bool {
        svc >= self.first_slot
    }

    #[inline]
    pub(crate) fn resolve(&self, service: &str, action: &str) -> Resolved {
        // The common case first: both names exactly as the catalog has them.
        if let Some(e) = self.pair(service, action) {
            return Resolved::Service { service: e.service, class: e.class, known: true };
        }
        self.resolve_rest(service, action)
    }

    #[inline]
    fn pair(&self, service: &str, action: &str) -> Option<&ActionEntry> {
        self.actions.find(self.hasher.hash_one((service, action)), |e| {
            short_eq(e.name.as_str(), action) && short_eq(e.service_name.as_str(), service)
        })
    }

    #[cold]
    fn resolve_rest(&self, service: &str, action: &str) -> Resolved {
        let (mut service_buffer, mut action_buffer) = ([0u8; MAX_NAME], [0u8; MAX_NAME]);
        let (Some(service), Some(action)) =
            (canonical(service, &mut service_buffer), canonical(action, &mut action_buffer))
        else {
            return Resolved::Malformed;
        };
        if let Some(e) = self.pair(service, action) {
            return Resolved::Service { service: e.service, class: e.class, known: true };
        }
        match self.services.find(self.hasher.hash_one(service), |e| short_eq(e.0.as_str(), service)) {
            Some(&(_, service)) => Resolved::Service { service, class: ActionClass::Write, known: false },
            None => Resolved::Unlisted { slot: self.unlisted_slot(service) },
        }
    }
}

/// The family of a service name: the part before its first `.`, if it has one.
fn family_of(name: &str) -> Option<&str> {
    name.split_once('.').map(|(family, _)| family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folded_or_refused() {
        let catalog = CompiledCatalog::new(Catalog::builtin());
        let blob = catalog.catalog.index_of("storage.blob").unwrap();
        let read = Resolved::Service { service: blob, class: ActionClass::Read, known: true };
        assert_eq!(catalog.resolve("storage.blob", "get-blob"), read);
        assert_eq!(catalog.resolve("STORAGE.Blob", "GET-BLOB"), read);
        for (service, action) in [
            ("storage.blob ", "get-blob"),
            ("storage.blob", "get blob"),
            ("storage.blob\u{200b}", "get-blob"),
            ("ｓtorage.blob", "get-blob"),
            ("storage.blob", ""),
            ("", "get-blob"),
            ("storage.blob", "get-blob\n"),
        ] {
            assert_eq!(catalog.resolve(service, action), Resolved::Malformed, "{service:?} {action:?}");
        }
        let long = "a".repeat(MAX_NAME + 1);
        assert_eq!(catalog.resolve("storage.blob", &long), Resolved::Malformed);
        assert!(matches!(catalog.resolve("storage.blob", &long[1..]), Resolved::Service { known: false, .. }));
    }

    #[test]
    fn unlisted_services_take_their_familys_slot() {
        let catalog = CompiledCatalog::new(Catalog::builtin());
        let Resolved::Unlisted { slot: storage } = catalog.resolve("storage.newthing", "put") else { panic!() };
        let Resolved::Unlisted { slot: also_storage } = catalog.resolve("Storage.Other", "x") else { panic!() };
        let Resolved::Unlisted { slot: other } = catalog.resolve("quantum.annealer", "invoke") else { panic!() };
        let Resolved::Unlisted { slot: bare } = catalog.resolve("storage", "invoke") else { panic!() };
        assert_eq!(storage, also_storage);
        assert_ne!(storage, other);
        assert_eq!(other, bare, "a name with no family is of no catalog family");
        let pattern = |p: &str| ServicePattern::parse(p).unwrap();
        let covered = |services: &[&str], exempt: &[&str]| {
            let services: Vec<_> = services.iter().map(|p| pattern(p)).collect();
            let exempt: Vec<_> = exempt.iter().map(|p| pattern(p)).collect();
            let set = catalog.unlisted_covered(&services, &exempt);
            (set.contains(storage), set.contains(other))
        };
        assert_eq!(covered(&["storage.*"], &[]), (true, false));
        assert_eq!(covered(&["*"], &[]), (true, true));
        assert_eq!(covered(&["*"], &["storage.*"]), (false, true));
        assert_eq!(covered(&["storage.blob"], &[]), (false, false));
        assert_eq!(covered(&["storage.*"], &["storage.blob"]), (true, false));
    }
}
