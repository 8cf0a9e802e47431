//! Events: what changed in a namespace (an upload, a yank or un-yank, a delete, a promotion),
//! told to the webhooks the operator configures, after the change succeeded, without ever
//! delaying or failing it. Knows nothing of OCI or of how the index stores things: the index
//! hands it [`Event`]s.
//!
//! - [`event`]: the JSON document delivered (schema version 1, docs/events.md);
//! - [`hooks`]: the webhooks file;
//! - [`signature`]: HMAC-SHA256 signatures over `<timestamp>.<body>`, and their check;
//! - `delivery`: the bounded set of deliveries under way, retries and egress rules;
//! - `spool`: deliveries kept on disk until they end (none lost to a restart or a crash).

mod delivery;
mod error;
pub mod event;
pub mod hooks;
pub mod signature;
mod spool;

use std::sync::Arc;
use std::time::Duration;

pub use error::EventsError;
pub use event::{Event, EventKind, Place};
pub use hooks::Webhooks;
pub use signature::{Verifier, VerifyError};

use crate::telemetry::Metrics;

/// Where events go: nowhere (the default), or the configured webhooks.
#[derive(Debug, Clone, Default)]
pub struct Events {
    dispatcher: Option<Arc<delivery::Dispatcher>>,
}

impl Events {
    /// Events delivered to `webhooks`.
    ///
    /// # Errors
    /// [`EventsError::Client`] when no HTTP client can be built.
    pub fn start(webhooks: Webhooks, metrics: Arc<Metrics>) -> Result<Self, EventsError> {
        let dispatcher = Arc::new(delivery::Dispatcher::new(webhooks, metrics)?);
        // Deliveries a previous run left in the spool start now.
        dispatcher.refill();
        Ok(Self {
            dispatcher: Some(dispatcher),
        })
    }

    /// Whether any webhook is configured (events need not be built otherwise).
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.dispatcher.is_some()
    }

    /// Tells the webhooks that want it; returns at once.
    pub fn emit(&self, event: &Event) {
        if let Some(dispatcher) = &self.dispatcher {
            dispatcher.dispatch(event);
        }
    }

    /// Waits for the deliveries under way (at shutdown), for at most `limit`.
    pub async fn finish(&self, limit: Duration) {
        if let Some(dispatcher) = &self.dispatcher {
            dispatcher.finish(limit).await;
        }
    }
}
