//! Callers holding an upload token from trusted publishing: they may upload, only to the
//! registry and namespaces of their trust policy, and the registry sees the policy's
//! credential, never the token. Every other operation refuses them.

use std::sync::Arc;

use super::{Caller, Index, IndexError, Location, Target};
use crate::storage::Store;
use crate::storage::registry::{Origin, RegistryAuth, Secret};

/// What a verified upload token allows.
#[derive(Debug, Clone)]
pub struct PublisherGrant {
    /// The trust policy the token was minted for.
    pub publisher: String,
    /// The registry it may publish to.
    pub registry: Origin,
    /// The namespaces it may publish to, lowercase.
    pub namespaces: Vec<String>,
    /// The registry username of the policy's credential.
    pub username: String,
    /// The registry password of the policy's credential.
    pub password: Secret,
}

impl Index {
    /// Refuses an upload to `location` early when the caller may not make it.
    ///
    /// # Errors
    /// [`IndexError::PublisherNamespace`] when an upload token names other namespaces; the
    /// local store's refusals ([`Index::authorize_local_write`]).
    pub fn authorize_upload(&self, caller: &Caller, location: &Location) -> Result<(), IndexError> {
        let Caller::Publisher(grant) = caller else {
            return self.authorize_local_write(caller, location);
        };
        let allowed = location.target == Target::Registry(grant.registry.clone())
            && grant
                .namespaces
                .iter()
                .any(|namespace| namespace == location.namespace.as_str());
        if allowed {
            return Ok(());
        }
        Err(IndexError::PublisherNamespace {
            publisher: grant.publisher.clone(),
            requested: format!("{}/{}", location.target, location.namespace),
            allowed: grant
                .namespaces
                .iter()
                .map(|namespace| format!("`{}/{namespace}`", grant.registry))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The store an upload writes to: for an upload token, the policy's registry with the
    /// policy's credential, after the namespace check.
    pub(super) fn upload_registry(
        &self,
        caller: &Caller,
        location: &Location,
    ) -> Result<Arc<dyn Store>, IndexError> {
        let Caller::Publisher(grant) = caller else {
            return self.writable(caller, location);
        };
        self.authorize_upload(caller, location)?;
        let auth = RegistryAuth::Basic {
            username: grant.username.clone(),
            password: grant.password.clone(),
        };
        Ok(Arc::new(self.client.registry(grant.registry.clone(), auth)))
    }
}

/// The refusal of anything but an upload for an upload token.
pub(super) fn upload_only(grant: &PublisherGrant) -> IndexError {
    IndexError::PublisherUploadOnly {
        publisher: grant.publisher.clone(),
    }
}
