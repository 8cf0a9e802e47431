//! What "a Python package index" means on top of OCI: listing projects and releases, serving
//! files, accepting uploads and deletes, for one caller against one registry namespace.
//! Knows no HTTP framework and no HTTP client: it speaks `packaging`, `layout` and `storage`.
//!
//! Standards served: PEP 503 (simple repository API), the legacy upload API
//! (<https://docs.pypi.org/api/upload/>), and PyPI's JSON API shape for Renovate.
//!
//! Where each service call of [`Index`] lives:
//!
//! | call | file |
//! |---|---|
//! | `locate`, `unreachable_registries`, `verify_local_user`, `authorize_local_write` | `mod.rs` |
//! | `project_page`, `project_list` (pages, cached: `cache`, `snapshot`, `document`) | `listing.rs` |
//! | `listing`, `open_upstream_file` (names the namespace lacks) | `upstreams.rs` |
//! | `open` (a file, its `.metadata` or `.provenance`) | `download.rs` |
//! | `release_details` (a release's metadata for the web UI) | `details.rs` |
//! | `upload` (checks, slots, finish or abort) | `upload/` |
//! | `delete` (a file or a release) | `delete.rs` |
//! | `set_yanked` | `yank.rs` |
//! | `promote` | `promote.rs` |
//! | `set_project_status` | `status.rs` |
//! | `prune_project` | `prune.rs` |
//! | `backfill_metadata` | `backfill.rs` |
//! | `mirror` (filling the pull-through cache) | `pull_through/` |
//!
//! What they share: [`ReleaseRef`] and reaching a release with a caller's rights
//! (`release.rs`), the safe release-index update loop (`update.rs`), events (`notify.rs`),
//! trusted publishers' rights (`publisher.rs`), PEP 740 attestations (`provenance.rs`), the
//! page types (`page.rs`).

mod backfill;
mod cache;
mod clock;
mod delete;
mod details;
mod document;
mod download;
mod error;
mod inspect;
mod listing;
mod local_access;
mod notify;
mod page;
mod promote;
mod provenance;
mod prune;
mod publisher;
mod pull_through;
mod registries;
mod release;
mod side_blobs;
mod snapshot;
mod status;
mod stripes;
#[cfg(test)]
mod test_store;
mod update;
mod upload;
mod upstreams;
mod yank;

use std::sync::Arc;
use std::time::Duration;

pub use backfill::BackfillReport;
pub use details::MAX_DETAILS_SIZE;
pub use download::{FileDownload, FileRequest, Wanted};
pub use error::IndexError;
pub use local_access::{LocalAccess, LocalUse};
pub use page::{ProjectPage, Release};
pub use promote::{Promotion, PromotionReport};
pub use prune::{PruneReport, RetentionPolicy, glob};
pub use publisher::PublisherGrant;
pub use pull_through::MirrorReport;
pub use registries::RegistryPolicy;
pub use release::ReleaseRef;
pub use upload::{PartHead, UploadOutcome, UploadParts, UploadRequest, UploadSlots};
pub use upstreams::{CACHE_SEGMENT, Listing, UpstreamRoute, Upstreams, cache_namespace};

use crate::events::Events;
use crate::layout::Namespace;
use crate::net::{Origin, Secret};
use crate::storage::registry::{RegistryAuth, RegistryClient};
use crate::storage::{Repository, Store};
use crate::telemetry::Metrics;

/// How long webhook deliveries under way are waited for at shutdown.
const EVENTS_DRAIN: Duration = Duration::from_secs(10);

/// Who is asking: the credentials of the request, if any.
#[derive(Debug, Clone, Default)]
pub enum Caller {
    /// No credentials.
    #[default]
    Anonymous,
    /// HTTP Basic: a username and a password or token.
    Basic {
        /// The username (anything for a token: `__token__`, empty, ...).
        username: String,
        /// The password or token.
        password: Secret,
    },
    /// A bearer token, passed to the registry as is.
    Bearer(Secret),
    /// An upload token from trusted publishing, verified: uploads only, to its policy's
    /// namespaces, made with its policy's registry credential.
    Publisher(PublisherGrant),
}

impl Caller {
    /// Whether the caller sent credentials.
    #[must_use]
    pub fn is_authenticated(&self) -> bool {
        !matches!(self, Self::Anonymous)
    }
}

/// Which registry namespace a request is about.
#[derive(Debug, Clone)]
pub struct Location {
    /// Where the content lives.
    pub target: Target,
    /// The namespace in it.
    pub namespace: Namespace,
}

impl Location {
    /// The key of `repository` of this location in the listing caches.
    fn project_key(&self, repository: &Repository) -> cache::ProjectKey {
        (self.target.to_string(), repository.to_string())
    }
}

/// The URL's registry segment that names the local store.
pub const LOCAL_SEGMENT: &str = "local";

/// Where a namespace's content lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A remote registry.
    Registry(Origin),
    /// The local image-layout store.
    Local,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Registry(origin) => origin.fmt(f),
            Self::Local => f.write_str(LOCAL_SEGMENT),
        }
    }
}

/// The settings the index needs.
#[derive(Debug, Clone, Default)]
pub struct IndexOptions {
    /// Which registries may be reached.
    pub registries: RegistryPolicy,
    /// A username whose password is a ready registry bearer token.
    pub bearer_username: Option<String>,
    /// The largest upload accepted, in bytes.
    pub max_upload_size: u64,
    /// Uploads in progress at once; 0: no bound.
    pub max_concurrent_uploads: usize,
    /// Registry requests made at once for one listing.
    pub listing_concurrency: usize,
    /// The longest a project page is served without asking the registry (and a caller's
    /// right to read it trusted); refreshed in the background from half of it on.
    pub listing_ttl: Duration,
    /// About how many bytes of project pages are kept in memory.
    pub listing_cache_memory: usize,
    /// Whether listing documents are read and kept up to date.
    pub listing_documents: ListingDocuments,
    /// How often a project served from its listing document is checked against every
    /// release tag, in the background (changes made by tools that do not keep the document);
    /// zero: never.
    pub listing_audit_interval: Duration,
    /// Check the sha256 of every whole-file download even when the store serves the blob by
    /// that very digest (content-addressed: clients check it against the page anyway).
    pub verify_downloads: bool,
    /// Keep only the newest releases of a project in listings (PEP 440 order); 0: all.
    pub max_versions: usize,
    /// Hand a registry's blob redirects (to object storage) to the client instead of
    /// streaming the bytes through.
    pub pass_blob_redirects: bool,
    /// The local store served under the `local` registry segment, when there is one.
    pub local_store: Option<Arc<dyn Store>>,
    /// Who may read and write the local store.
    pub local_access: Arc<LocalAccess>,
    /// Upstream indexes for names a namespace does not have.
    pub upstreams: Upstreams,
    /// What the certificates of PEP 740 attestations must chain to; `None`: attestations are
    /// ignored.
    pub attestation_trust: Option<Arc<crate::packaging::attestation::TrustRoot>>,
    /// Where the changes made are told (webhooks), once made.
    pub events: Events,
}

/// What the server does with per-project listing documents (docs/design.md, "Listing
/// documents").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ListingDocuments {
    /// Never read them; every page reads every release tag.
    Off,
    /// Read them, never write them.
    Read,
    /// Read them, and keep them up to date (write them on changes, and where a reader with
    /// push rights finds one missing or behind).
    #[default]
    Write,
}

/// The index service, shared by all requests.
#[derive(Debug, Clone)]
pub struct Index {
    client: Arc<RegistryClient>,
    options: Arc<IndexOptions>,
    locks: Arc<upload::ReleaseLocks>,
    uploads: Arc<UploadSlots>,
    cache: Arc<cache::ListingCache>,
    documents: Arc<document::Documents>,
    details: Arc<details::DetailsCache>,
    side_blobs: Arc<side_blobs::SideBlobs>,
    flights: Arc<pull_through::Flights>,
    usages: Arc<pull_through::Usages>,
    metrics: Arc<Metrics>,
}

impl Index {
    /// Builds the index over a shared registry client.
    #[must_use]
    pub fn new(client: Arc<RegistryClient>, metrics: Arc<Metrics>, options: IndexOptions) -> Self {
        Self {
            client,
            locks: Arc::new(upload::ReleaseLocks::new(Arc::clone(&metrics))),
            uploads: Arc::new(UploadSlots::new(options.max_concurrent_uploads)),
            metrics,
            cache: Arc::new(cache::ListingCache::new(
                options.listing_ttl,
                options.listing_cache_memory,
            )),
            documents: Arc::default(),
            details: Arc::default(),
            side_blobs: Arc::default(),
            flights: Arc::default(),
            usages: Arc::default(),
            options: Arc::new(options),
        }
    }

    /// Waits for the listing documents being written in the background (at shutdown), and
    /// for the webhook deliveries under way, at most `EVENTS_DRAIN` for those.
    pub async fn finish_background_work(&self) {
        self.documents.finish().await;
        self.options.events.finish(EVENTS_DRAIN).await;
    }

    /// The configured options.
    #[must_use]
    pub fn options(&self) -> &IndexOptions {
        &self.options
    }

    /// Resolves a URL's registry segment and namespace.
    ///
    /// # Errors
    /// [`IndexError::RegistryNotAllowed`] or an invalid namespace.
    pub fn locate(&self, registry: &str, namespace: &str) -> Result<Location, IndexError> {
        let target = if registry == LOCAL_SEGMENT && self.options.local_store.is_some() {
            Target::Local
        } else {
            Target::Registry(self.options.registries.resolve(registry)?)
        };
        Ok(Location {
            target,
            namespace: Namespace::parse(namespace)?,
        })
    }

    /// The configured stores that do not answer (none when no list is configured).
    pub async fn unreachable_registries(&self) -> Vec<String> {
        let mut unreachable = Vec::new();
        if let Some(local) = &self.options.local_store {
            if let Err(error) = local.ping().await {
                tracing::warn!("readiness: {error}");
                unreachable.push(local.location());
            }
        }
        for origin in self.options.registries.allowed() {
            let registry = self
                .client
                .registry(origin.clone(), RegistryAuth::Anonymous);
            if let Err(error) = registry.ping().await {
                tracing::warn!("readiness: {error}");
                unreachable.push(origin.to_string());
            }
        }
        unreachable
    }

    /// Checks the password a caller sends for the local store, so that the checks of
    /// [`LocalAccess`] can let it in; call it before serving a request about the local store.
    pub async fn verify_local_user(&self, caller: &Caller) {
        self.options.local_access.verify(caller).await;
    }

    /// Refuses `caller` early when it may not write to the local store `location` names (no
    /// check for registries: they decide themselves).
    ///
    /// # Errors
    /// [`IndexError::LocalWritesRefused`] or [`IndexError::LocalCredentials`].
    pub fn authorize_local_write(
        &self,
        caller: &Caller,
        location: &Location,
    ) -> Result<(), IndexError> {
        match location.target {
            Target::Local => self.options.local_access.check(caller, LocalUse::Write),
            Target::Registry(_) => Ok(()),
        }
    }

    /// The store as `caller` sees it, for a change: [`Index::store`] after the write check
    /// of the local store.
    ///
    /// # Errors
    /// As [`Index::authorize_local_write`] and [`Index::store`].
    fn writable(&self, caller: &Caller, location: &Location) -> Result<Arc<dyn Store>, IndexError> {
        self.authorize_local_write(caller, location)?;
        self.store(caller, location)
    }

    /// The store as `caller` sees it, for reading (the local store checks the caller may).
    ///
    /// # Errors
    /// [`IndexError::RegistryNotAllowed`] for the local store when none is configured;
    /// [`IndexError::LocalCredentials`] when its reads need a user.
    fn store(&self, caller: &Caller, location: &Location) -> Result<Arc<dyn Store>, IndexError> {
        if let Caller::Publisher(grant) = caller {
            return Err(publisher::upload_only(grant));
        }
        let origin = match (&location.target, &self.options.local_store) {
            (Target::Registry(origin), _) => origin.clone(),
            (Target::Local, Some(local)) => {
                self.options.local_access.check(caller, LocalUse::Read)?;
                return Ok(Arc::clone(local));
            }
            (Target::Local, None) => {
                return Err(IndexError::RegistryNotAllowed {
                    registry: LOCAL_SEGMENT.to_owned(),
                    reason: "no local store is configured".to_owned(),
                });
            }
        };
        let auth = match caller {
            Caller::Anonymous => RegistryAuth::Anonymous,
            Caller::Bearer(token) => RegistryAuth::Bearer(token.clone()),
            Caller::Basic { username, password }
                if self.options.bearer_username.as_deref() == Some(username.as_str()) =>
            {
                RegistryAuth::Bearer(password.clone())
            }
            Caller::Basic { username, password } => RegistryAuth::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            Caller::Publisher(grant) => return Err(publisher::upload_only(grant)),
        };
        Ok(Arc::new(self.client.registry(origin, auth)))
    }
}
