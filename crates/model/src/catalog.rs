//! The built-in service catalog: every service, its actions, and the class
//! of each action, which is what phase modes restrict.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What an action does, as far as enforcement cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ActionClass {
    /// Reads data or metadata.
    Read,
    /// Enumerates resources.
    List,
    /// Moves data out of the platform to the customer.
    Export,
    /// Deletes the customer's own data.
    Delete,
    /// Creates or changes data or resources.
    Write,
    /// Runs a computation (inference, a job, a command).
    Invoke,
    /// Changes configuration, access or policy.
    Admin,
}

impl ActionClass {
    /// Every class, in declaration order.
    pub const ALL: [ActionClass; 7] = [
        ActionClass::Read,
        ActionClass::List,
        ActionClass::Export,
        ActionClass::Delete,
        ActionClass::Write,
        ActionClass::Invoke,
        ActionClass::Admin,
    ];

    /// The class's name, which is also an action every service accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionClass::Read => "read",
            ActionClass::List => "list",
            ActionClass::Export => "export",
            ActionClass::Delete => "delete",
            ActionClass::Write => "write",
            ActionClass::Invoke => "invoke",
            ActionClass::Admin => "admin",
        }
    }
}

impl fmt::Display for ActionClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A built-in service: name, description, actions with their classes.
type BuiltinService = (&'static str, &'static str, &'static [(&'static str, ActionClass)]);

/// Position of a service in the catalog; stable for the life of a process.
pub type ServiceIndex = u16;

/// One service: `family.name` and its actions with their classes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServiceDef {
    /// Full name, e.g. `storage.blob`.
    pub name: String,
    /// The part before the dot, e.g. `storage`.
    pub family: String,
    /// Human description.
    pub description: String,
    /// Action name and class, the class names themselves included.
    pub actions: Vec<(String, ActionClass)>,
}

impl ServiceDef {
    /// The class of `action`, or `None` if this service does not list it.
    pub fn class_of(&self, action: &str) -> Option<ActionClass> {
        self.actions.iter().find(|(name, _)| name == action).map(|(_, class)| *class)
    }
}

/// The services verdict knows. At most 128 services (the engine keeps
/// service sets as 128-bit masks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Catalog {
    /// All services, sorted by name.
    pub services: Vec<ServiceDef>,
}

impl Catalog {
    /// Most services a catalog may hold.
    pub const MAX_SERVICES: usize = 128;

    /// Checks a catalog that arrived from elsewhere (a replica's snapshot):
    /// at most [`Catalog::MAX_SERVICES`] services, sorted by unique name,
    /// each `family.name` with its family spelled out.
    pub fn check(&self) -> Result<(), String> {
        if self.services.len() > Self::MAX_SERVICES {
            return Err(format!("{} services; at most {} fit", self.services.len(), Self::MAX_SERVICES));
        }
        for pair in self.services.windows(2) {
            if pair[0].name >= pair[1].name {
                return Err(format!("services are not sorted by unique name at {:?}", pair[1].name));
            }
        }
        for service in &self.services {
            if service.name.split_once('.').is_none_or(|(family, _)| family != service.family) {
                return Err(format!("service {:?} is not in family {:?}", service.name, service.family));
            }
        }
        Ok(())
    }

    /// The catalog verdict ships with.
    pub fn builtin() -> Catalog {
        use ActionClass::*;
        let table: &[BuiltinService] = &[
            (
                "storage.blob",
                "Object storage: containers of blobs",
                &[
                    ("get-blob", Read),
                    ("get-blob-properties", Read),
                    ("list-containers", List),
                    ("list-blobs", List),
                    ("copy-blob-to-external", Export),
                    ("create-export-job", Export),
                    ("delete-blob", Delete),
                    ("delete-container", Delete),
                    ("put-blob", Write),
                    ("put-block", Write),
                    ("create-container", Write),
                    ("set-blob-metadata", Write),
                    ("set-container-acl", Admin),
                    ("set-lifecycle-policy", Admin),
                ],
            ),
            (
                "storage.files",
                "Managed file shares",
                &[
                    ("read-file", Read),
                    ("list-directory", List),
                    ("list-shares", List),
                    ("download-share", Export),
                    ("delete-file", Delete),
                    ("delete-share", Delete),
                    ("write-file", Write),
                    ("create-share", Write),
                    ("set-share-acl", Admin),
                ],
            ),
            (
                "ai.speech-to-text",
                "Speech recognition: real-time and batch transcription",
                &[
                    ("transcribe", Invoke),
                    ("batch-transcribe", Invoke),
                    ("get-transcription", Read),
                    ("list-transcriptions", List),
                    ("export-transcriptions", Export),
                    ("delete-transcription", Delete),
                    ("create-custom-model", Write),
                    ("deploy-model", Admin),
                ],
            ),
            (
                "ai.translation",
                "Text and document translation",
                &[
                    ("translate", Invoke),
                    ("translate-document", Invoke),
                    ("get-glossary", Read),
                    ("list-glossaries", List),
                    ("export-glossaries", Export),
                    ("delete-glossary", Delete),
                    ("upload-glossary", Write),
                ],
            ),
            (
                "ai.vision",
                "Image analysis, OCR and face detection",
                &[
                    ("analyze-image", Invoke),
                    ("detect-faces", Invoke),
                    ("read-text", Invoke),
                    ("get-model", Read),
                    ("list-models", List),
                    ("export-model", Export),
                    ("delete-model", Delete),
                    ("train-model", Write),
                ],
            ),
            (
                "compute.vm",
                "Virtual machines",
                &[
                    ("get-vm", Read),
                    ("list-vms", List),
                    ("export-disk", Export),
                    ("delete-vm", Delete),
                    ("create-vm", Write),
                    ("start-vm", Write),
                    ("stop-vm", Write),
                    ("run-command", Invoke),
                    ("resize-vm", Admin),
                ],
            ),
            (
                "security.defender",
                "Threat protection for workloads",
                &[
                    ("get-alert", Read),
                    ("list-alerts", List),
                    ("export-alerts", Export),
                    ("dismiss-alert", Write),
                    ("scan", Invoke),
                    ("update-policy", Admin),
                ],
            ),
            (
                "security.sentinel",
                "Security information and event management",
                &[
                    ("query-logs", Read),
                    ("list-incidents", List),
                    ("export-incidents", Export),
                    ("delete-rule", Delete),
                    ("create-rule", Write),
                    ("run-playbook", Invoke),
                    ("set-workspace-access", Admin),
                ],
            ),
        ];
        let mut services: Vec<ServiceDef> = table
            .iter()
            .map(|(name, description, actions)| {
                let mut actions: Vec<(String, ActionClass)> =
                    actions.iter().map(|(a, c)| (a.to_string(), *c)).collect();
                actions.extend(ActionClass::ALL.iter().map(|c| (c.as_str().to_owned(), *c)));
                ServiceDef {
                    name: name.to_string(),
                    family: name.split('.').next().unwrap_or(name).to_owned(),
                    description: description.to_string(),
                    actions,
                }
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        Catalog { services }
    }

    /// The index of a service by full name.
    pub fn index_of(&self, name: &str) -> Option<ServiceIndex> {
        self.services.iter().position(|s| s.name == name).map(|i| i as ServiceIndex)
    }

    /// The service at an index.
    pub fn service(&self, index: ServiceIndex) -> &ServiceDef {
        &self.services[index as usize]
    }

    /// The class of `action` on `service`, and whether the catalog lists it.
    /// An action the catalog does not list is classed `write`, so no unknown
    /// mutation slips through an export window.
    pub fn classify(&self, service: ServiceIndex, action: &str) -> (ActionClass, bool) {
        match self.service(service).class_of(action) {
            Some(class) => (class, true),
            None => (ActionClass::Write, false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_covers_the_case_and_classes_every_action() {
        let catalog = Catalog::builtin();
        for name in [
            "storage.blob",
            "storage.files",
            "ai.speech-to-text",
            "ai.translation",
            "ai.vision",
            "compute.vm",
            "security.defender",
            "security.sentinel",
        ] {
            let i = catalog.index_of(name).expect(name);
            for class in ActionClass::ALL {
                assert_eq!(catalog.classify(i, class.as_str()), (class, true));
            }
        }
        let blob = catalog.index_of("storage.blob").unwrap();
        assert_eq!(catalog.classify(blob, "put-blob"), (ActionClass::Write, true));
        assert_eq!(catalog.classify(blob, "frobnicate"), (ActionClass::Write, false));
        assert!(catalog.services.len() <= Catalog::MAX_SERVICES);
    }
}
