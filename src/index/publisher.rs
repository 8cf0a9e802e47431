//! Callers holding an upload token from trusted publishing: they may upload, only to the
//! registry and namespaces of their trust policy (and only its projects, when it names
//! them), and the registry sees the policy's credential, never the token. Every other
//! operation refuses them.

use std::sync::Arc;

use super::{Caller, Index, IndexError, Location, Promotion, Target};
use crate::net::{Origin, Secret};
use crate::packaging::ProjectName;
use crate::storage::Store;
use crate::storage::registry::RegistryAuth;

/// What a verified upload token allows.
#[derive(Debug, Clone)]
pub struct PublisherGrant {
    /// The trust policy the token was minted for.
    pub publisher: String,
    /// The registry it may publish to.
    pub registry: Origin,
    /// The namespaces it may publish to, lowercase.
    pub namespaces: Vec<String>,
    /// The projects it may publish, or `None` for any project of those namespaces.
    pub projects: Option<Vec<ProjectName>>,
    /// The promotions it may make, of those projects: (source, destination) namespaces of
    /// its registry, lowercase.
    pub promotions: Vec<(String, String)>,
    /// The registry username of the policy's credential.
    pub username: String,
    /// The registry password of the policy's credential.
    pub password: Secret,
    /// The OIDC issuer and signing identity of the CI job that minted the token: PEP 740
    /// attestations of its uploads must be signed by certificates naming them.
    pub signer: Option<(String, String)>,
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

    /// The store an upload of `project` writes to: for an upload token, the policy's
    /// registry with the policy's credential, after the namespace and project checks.
    pub(super) fn upload_store(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
    ) -> Result<Arc<dyn Store>, IndexError> {
        let Caller::Publisher(grant) = caller else {
            return self.writable(caller, location);
        };
        self.authorize_upload(caller, location)?;
        authorize_project(grant, project)?;
        let auth = RegistryAuth::Basic {
            username: grant.username.clone(),
            password: grant.password.clone(),
        };
        Ok(Arc::new(self.client.registry(grant.registry.clone(), auth)))
    }
}

impl Index {
    /// The stores of a promotion made with an upload token: its registry with the policy's
    /// credential on both sides, when its policy allows promotions from the source namespace
    /// to the destination's, of this project, and it is not a move.
    pub(super) fn promotion_stores(
        &self,
        grant: &PublisherGrant,
        promotion: &Promotion<'_>,
    ) -> Result<Arc<dyn Store>, IndexError> {
        let on_registry =
            |location: &Location| location.target == Target::Registry(grant.registry.clone());
        let pair = (
            promotion.from.namespace.as_str().to_owned(),
            promotion.to.namespace.as_str().to_owned(),
        );
        let allowed = !promotion.remove_source
            && on_registry(promotion.from)
            && on_registry(promotion.to)
            && grant.promotions.contains(&pair);
        if !allowed {
            return Err(IndexError::PublisherPromotion {
                publisher: grant.publisher.clone(),
                requested: format!(
                    "{} from `{}/{}` to `{}/{}`",
                    if promotion.remove_source {
                        "a move"
                    } else {
                        "a promotion"
                    },
                    promotion.from.target,
                    pair.0,
                    promotion.to.target,
                    pair.1
                ),
                allowed: if grant.promotions.is_empty() {
                    "none".to_owned()
                } else {
                    grant
                        .promotions
                        .iter()
                        .map(|(from, to)| format!("`{from}` → `{to}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            });
        }
        authorize_project(grant, &promotion.release.project)?;
        let auth = RegistryAuth::Basic {
            username: grant.username.clone(),
            password: grant.password.clone(),
        };
        Ok(Arc::new(self.client.registry(grant.registry.clone(), auth)))
    }
}

/// Refuses a project that the upload token does not name, when it names some.
fn authorize_project(grant: &PublisherGrant, project: &ProjectName) -> Result<(), IndexError> {
    let Some(projects) = &grant.projects else {
        return Ok(());
    };
    if projects.contains(project) {
        return Ok(());
    }
    let allowed = if projects.is_empty() {
        "no project any more".to_owned()
    } else {
        let names: Vec<String> = projects.iter().map(|name| format!("`{name}`")).collect();
        format!("only {}", names.join(", "))
    };
    Err(IndexError::PublisherProject {
        publisher: grant.publisher.clone(),
        project: project.to_string(),
        allowed,
    })
}

/// The refusal of anything but an upload for an upload token.
pub(super) fn upload_only(grant: &PublisherGrant) -> IndexError {
    IndexError::PublisherUploadOnly {
        publisher: grant.publisher.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(projects: Option<&[&str]>) -> PublisherGrant {
        PublisherGrant {
            publisher: "app".to_owned(),
            registry: Origin::parse("https://ghcr.io").unwrap(),
            namespaces: vec!["acme".to_owned()],
            projects: projects.map(|names| {
                names
                    .iter()
                    .map(|n| ProjectName::parse(n).unwrap())
                    .collect()
            }),
            promotions: Vec::new(),
            username: "bot".to_owned(),
            password: Secret::new("pw".to_owned()),
            signer: None,
        }
    }

    #[test]
    fn upload_tokens_publish_only_the_projects_they_name() {
        let project = |name| ProjectName::parse(name).unwrap();
        assert!(authorize_project(&grant(None), &project("anything")).is_ok());
        let listed = grant(Some(&["my-pkg", "other"]));
        assert!(authorize_project(&listed, &project("My_Pkg")).is_ok());
        let error = authorize_project(&listed, &project("my-pkg-evil")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "this upload token (trusted publisher `app`) may not publish project `my-pkg-evil`: it may publish only `my-pkg`, `other` (the policy's `projects`)"
        );
        let error = authorize_project(&grant(Some(&[])), &project("my-pkg")).unwrap_err();
        assert!(error.to_string().contains("no project any more"), "{error}");
    }
}
