//! Telling [`Events`](crate::events::Events) what changed, once a change has succeeded.

use super::{Index, Location, Target};
use crate::events::{Event, EventKind, Place};
use crate::packaging::ProjectName;

impl Index {
    /// Emits a `kind` event about `project` `version` at `location`, completed by `fill`
    /// (files, detail); nothing is built when no webhook is configured.
    pub(super) fn notify(
        &self,
        location: &Location,
        kind: EventKind,
        (project, version): (&ProjectName, &str),
        fill: impl FnOnce(Event) -> Event,
    ) {
        let events = &self.options.events;
        if !events.enabled() {
            return;
        }
        let event = fill(Event::new(
            kind,
            &place(location),
            project.as_str(),
            version,
        ));
        events.emit(&event);
    }
}

/// The registry as index URLs name it, and the namespace.
pub(super) fn place(location: &Location) -> Place {
    Place {
        registry: match &location.target {
            Target::Registry(origin) => origin.authority().to_owned(),
            Target::Local => super::LOCAL_SEGMENT.to_owned(),
        },
        namespace: location.namespace.to_string(),
    }
}
