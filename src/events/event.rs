//! What a delivery says: one change to one project of one namespace, as the JSON document of
//! schema version 1 (docs/events.md). The shape is a contract with receivers: fields are only
//! ever added, inside `detail`, and at most ten are at the top level (GitHub's limit for a
//! `repository_dispatch` `client_payload`, which carries the document as is).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The schema version of [`Event`] documents.
pub const SCHEMA_VERSION: u32 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A file was stored.
    Upload,
    /// A file or a release was yanked.
    Yank,
    /// A yank was undone.
    Unyank,
    /// A file or a release was deleted.
    Delete,
    /// A release or a file was copied here from another namespace.
    Promote,
}

impl EventKind {
    /// Every kind, in documentation order.
    pub const ALL: [Self; 5] = [
        Self::Upload,
        Self::Yank,
        Self::Unyank,
        Self::Delete,
        Self::Promote,
    ];

    /// The kind's name, as in `events = [...]` and the `event` field.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Yank => "yank",
            Self::Unyank => "unyank",
            Self::Delete => "delete",
            Self::Promote => "promote",
        }
    }

    /// The kind named `name`.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a change happened: a registry as in index URLs (`ghcr.io`, `127.0.0.1:5000`, `local`)
/// and a namespace in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// The registry segment of index URLs.
    pub registry: String,
    /// The namespace (`org/staging`).
    pub namespace: String,
}

impl Place {
    /// `<registry>/<namespace>`, what webhook `namespace` patterns are matched against.
    #[must_use]
    pub fn path(&self) -> String {
        format!("{}/{}", self.registry, self.namespace)
    }
}

/// One change, as delivered (schema version [`SCHEMA_VERSION`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The schema version.
    pub schema: u32,
    /// A unique id (32 hex digits), the same in every attempt of every delivery of it.
    pub id: String,
    /// What happened.
    pub event: EventKind,
    /// When, RFC 3339 in UTC.
    pub time: String,
    /// The registry segment of index URLs.
    pub registry: String,
    /// The namespace.
    pub namespace: String,
    /// The project's normalized name (PEP 503).
    pub project: String,
    /// The release's version.
    pub version: String,
    /// The files concerned (every file of the release for a whole-release change).
    pub files: Vec<String>,
    /// What depends on the kind: `sha256` and `size` of an upload, `reason` of a yank,
    /// `from`, `copied`, `already_there` and `moved` of a promotion.
    pub detail: Map<String, Value>,
}

impl Event {
    /// A new event, happening now, with a fresh id.
    #[must_use]
    pub fn new(kind: EventKind, place: &Place, project: &str, version: &str) -> Self {
        Self {
            schema: SCHEMA_VERSION,
            id: new_id(),
            event: kind,
            time: now_rfc3339(),
            registry: place.registry.clone(),
            namespace: place.namespace.clone(),
            project: project.to_owned(),
            version: version.to_owned(),
            files: Vec::new(),
            detail: Map::new(),
        }
    }

    /// With these files.
    #[must_use]
    pub fn with_files(mut self, files: Vec<String>) -> Self {
        self.files = files;
        self
    }

    /// With `key` set in `detail`.
    #[must_use]
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.detail.insert(key.to_owned(), value.into());
        self
    }

    /// The place it happened.
    #[must_use]
    pub fn place(&self) -> Place {
        Place {
            registry: self.registry.clone(),
            namespace: self.namespace.clone(),
        }
    }

    /// The JSON document.
    #[must_use]
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// 16 random bytes in hex; a clock-based value if the system has no randomness to give.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        bytes = nanos.to_be_bytes();
    }
    hex::encode(bytes)
}

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0);
    now.ok()
        .and_then(|now| {
            now.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_has_the_documented_fields_and_no_more_than_ten() {
        let place = Place {
            registry: "ghcr.io".to_owned(),
            namespace: "org/staging".to_owned(),
        };
        let event = Event::new(EventKind::Upload, &place, "demo", "1.0")
            .with_files(vec!["demo-1.0-py3-none-any.whl".to_owned()])
            .with_detail("sha256", "ab".repeat(32))
            .with_detail("size", 42);
        let json = event.to_json();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        // Sorted (a JSON object's order is no contract).
        assert_eq!(
            keys,
            [
                "detail",
                "event",
                "files",
                "id",
                "namespace",
                "project",
                "registry",
                "schema",
                "time",
                "version"
            ]
        );
        assert_eq!(json["schema"], 1);
        assert_eq!(json["event"], "upload");
        assert_eq!(json["detail"]["size"], 42);
        assert_eq!(event.id.len(), 32);
        assert!(json["time"].as_str().unwrap().ends_with('Z'), "{json}");
        assert_ne!(
            event.id,
            Event::new(EventKind::Upload, &place, "demo", "1.0").id
        );
        assert_eq!(event.place().path(), "ghcr.io/org/staging");
    }

    #[test]
    fn kinds_round_trip_through_their_names() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EventKind::parse("uploaded"), None);
    }
}
