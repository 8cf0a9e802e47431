//! Listings: the releases and files of a project, and the projects of a namespace.
//!
//! A project's page is shared by every caller the registry lets read it (content-addressed
//! data is the same for all of them); each caller's right to read is checked with the
//! registry, with its own credentials, at most once per TTL. Pages are served from memory
//! for at most the TTL; from half the TTL on, a request starts one background refresh and is
//! answered at once, so under steady traffic no request waits for the registry.

use std::sync::Arc;

use tracing::Instrument as _;

use super::cache::{Authorization, ProjectKey};
use super::document::Cause;
use super::page::ProjectPage;
use super::snapshot::{ProjectRef, Snapshot, Trust};
use super::{Caller, Index, IndexError, Location};
use crate::layout;
use crate::packaging::ProjectName;
use crate::storage::{Repository, Store, Tag};

/// A project to serve, with the store as the caller sees it.
#[derive(Clone)]
struct Wanted {
    store: Arc<dyn Store>,
    caller: String,
    key: ProjectKey,
    repository: Repository,
    project: ProjectName,
}

impl Wanted {
    fn target(&self) -> ProjectRef<'_> {
        ProjectRef {
            store: self.store.as_ref(),
            key: &self.key,
            repository: &self.repository,
            project: &self.project,
        }
    }
}

impl Index {
    /// The releases and files of `project`.
    ///
    /// # Errors
    /// [`IndexError::ProjectNotFound`] when the namespace has no release of it; a storage
    /// error when the registry refuses or fails.
    pub async fn project_page(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
    ) -> Result<Arc<ProjectPage>, IndexError> {
        let store = self.store(caller, location)?;
        self.project_page_in(store, location, project).await
    }

    /// [`Index::project_page`] as `store` (with its credentials) sees it.
    pub(super) async fn project_page_in(
        &self,
        store: Arc<dyn Store>,
        location: &Location,
        project: &ProjectName,
    ) -> Result<Arc<ProjectPage>, IndexError> {
        let repository = layout::repository(&location.namespace, project)?;
        let wanted = Wanted {
            caller: store.credentials_fingerprint(),
            key: location.project_key(&repository),
            store,
            repository,
            project: project.clone(),
        };
        if self.cache.absent(&wanted.caller, &wanted.key) {
            return Err(wanted.target().not_found());
        }
        if let Some(page) = self.cached_page(&wanted).await? {
            return Ok(page);
        }
        // No page young enough: one build per project at a time; the others wait for it and
        // reuse it (after their own authorization check).
        let _building = self.cache.build_lock(&wanted.key).lock().await;
        if let Some(page) = self.cached_page(&wanted).await? {
            return Ok(page);
        }
        self.metrics.record_cache("page", "miss");
        self.refresh(&wanted, Trust::Document).await
    }

    /// The cached page, once the caller is known to be allowed to read it.
    async fn cached_page(&self, wanted: &Wanted) -> Result<Option<Arc<ProjectPage>>, IndexError> {
        let Some(cached) = self.cache.project(&wanted.key) else {
            return Ok(None);
        };
        let refresh = self.cache.aging(cached.built);
        match self.cache.authorization(&wanted.caller, &wanted.key) {
            // The refresh below asks the registry with this caller's credentials.
            Authorization::Fresh | Authorization::Aging if refresh => {}
            Authorization::Fresh => {}
            Authorization::Aging => self.spawn(wanted, "check", |index, wanted| async move {
                let _ = index.check_reader(&wanted).await;
            }),
            Authorization::Expired => self.check_reader(wanted).await?,
        }
        if refresh {
            self.metrics.record_cache("page", "stale");
            self.spawn(wanted, "refresh", |index, wanted| async move {
                if let Err(error) = index.refresh_owned(wanted.clone(), Trust::Document).await {
                    tracing::warn!(oci.repository = %wanted.repository, "background refresh of a project page failed: {error}");
                }
            });
        } else {
            self.metrics.record_cache("page", "hit");
        }
        Ok(Some(cached.page))
    }

    /// Asks the registry, with the caller's credentials, whether it may read the project
    /// (one tag list); remembers the answer.
    async fn check_reader(&self, wanted: &Wanted) -> Result<(), IndexError> {
        let found = wanted.store.list_tags(&wanted.repository).await;
        match found {
            Ok(Some(_)) => {
                self.cache.authorize(&wanted.caller, &wanted.key);
                Ok(())
            }
            Ok(None) => {
                self.cache.deauthorize(&wanted.caller, &wanted.key);
                Err(wanted.target().not_found())
            }
            Err(error) => {
                self.cache.deauthorize(&wanted.caller, &wanted.key);
                Err(error.into())
            }
        }
    }

    /// Reads the project from the registry with the caller's credentials, keeps the page, and
    /// starts what the read found missing: sizes to learn, the document to rewrite, an audit.
    async fn refresh(&self, wanted: &Wanted, trust: Trust) -> Result<Arc<ProjectPage>, IndexError> {
        let generation = self.cache.generation(&wanted.key);
        let snapshot = match self.read_project_or_absent(wanted.target(), trust).await {
            Ok(Some(snapshot)) => snapshot,
            Ok(None) => {
                // No such repository, for this caller: remembered for it (not when the
                // tags hold no release: that may be a fault that passes).
                let (caller, key) = (&wanted.caller, &wanted.key);
                self.cache.forget_absent(caller, key, generation);
                return Err(wanted.target().not_found());
            }
            Err(error) => {
                if matches!(error, IndexError::ProjectNotFound { .. }) {
                    self.cache.forget(&wanted.key, None);
                }
                return Err(error);
            }
        };
        let Snapshot {
            page,
            document,
            document_outdated,
            unknown_sizes,
            drifted,
            drifted_old,
        } = snapshot;
        if !drifted.is_empty() {
            // Changed behind the document's back: read from the tags until it is rewritten
            // (or, when this server does not write documents and an old release changed, for
            // a while: young ones are read from the tags at every read anyway).
            for tag in drifted {
                self.rewrite_document(wanted.target(), &wanted.store, Cause::Changed(Some(tag)));
            }
            if drifted_old && self.options.listing_documents != super::ListingDocuments::Write {
                self.distrust(&wanted.key);
            }
        }
        let from_document = document.is_some();
        let page = Arc::new(page);
        self.cache.store_document(&wanted.key, document);
        self.cache
            .store_project(&wanted.key, Arc::clone(&page), generation);
        self.cache.authorize(&wanted.caller, &wanted.key);
        if !unknown_sizes.is_empty() {
            self.spawn(wanted, "sizes", move |index, wanted| async move {
                index.learn_sizes(&wanted, unknown_sizes).await;
            });
        } else if document_outdated {
            let cause = Cause::Outdated(wanted.caller.clone());
            self.rewrite_document(wanted.target(), &wanted.store, cause);
        }
        let interval = self.options.listing_audit_interval;
        if from_document
            && trust == Trust::Document
            && self.documents.audit_due(&wanted.key, interval)
        {
            self.spawn(wanted, "audit", |index, wanted| async move {
                if let Err(error) = index.refresh_owned(wanted.clone(), Trust::Tags).await {
                    tracing::warn!(oci.repository = %wanted.repository, "audit of a listing document failed: {error}");
                }
            });
        }
        Ok(page)
    }

    /// [`Index::refresh`] as a boxed future, for the background jobs `refresh` itself starts.
    fn refresh_owned(
        self,
        wanted: Wanted,
        trust: Trust,
    ) -> futures_util::future::BoxFuture<'static, Result<Arc<ProjectPage>, IndexError>> {
        Box::pin(async move { self.refresh(&wanted, trust).await })
    }

    /// Reads the layer sizes the page lacks (PyOCI's entries record none) from the file
    /// manifests, then refreshes the page and has the document record them, so they are
    /// read once. Runs in the background: the page is served without them meanwhile.
    async fn learn_sizes(&self, wanted: &Wanted, manifests: Vec<crate::storage::Digest>) {
        use futures_util::StreamExt as _;
        let target = wanted.target();
        futures_util::stream::iter(manifests)
            .map(|digest| async move {
                if let Err(error) = self.layer_size(target, &digest).await {
                    tracing::debug!(oci.digest = %digest, "file size not read: {error}");
                }
            })
            .buffer_unordered(self.options.listing_concurrency.max(1))
            .collect::<()>()
            .await;
        if let Err(error) = self
            .clone()
            .refresh_owned(wanted.clone(), Trust::Document)
            .await
        {
            tracing::debug!(oci.repository = %wanted.repository, "refresh after learning sizes failed: {error}");
        }
    }

    /// Runs `job` for the project in the background, unless the same job already runs.
    fn spawn<F, Fut>(&self, wanted: &Wanted, job: &'static str, run: F)
    where
        F: FnOnce(Self, Wanted) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let job_key = if job == "check" {
            format!("check {}", wanted.caller)
        } else {
            job.to_owned()
        };
        let Some(claim) = self.cache.claim(&wanted.key, job_key) else {
            return;
        };
        let index = self.clone();
        let wanted = wanted.clone();
        let job = async move {
            run(index, wanted).await;
            drop(claim);
        };
        tokio::spawn(crate::telemetry::background(job).in_current_span());
    }

    /// After a change made through this server to `tag` (every tag with `None`) of a
    /// project: forgets its cached page, and has its listing document brought up to date.
    pub(super) fn changed(
        &self,
        store: &Arc<dyn Store>,
        location: &Location,
        project: &ProjectName,
        tag: Option<&Tag>,
    ) -> Result<(), IndexError> {
        let repository = layout::repository(&location.namespace, project)?;
        let key = location.project_key(&repository);
        self.cache.forget(&key, tag.map(Tag::as_str));
        let target = ProjectRef {
            store: store.as_ref(),
            key: &key,
            repository: &repository,
            project,
        };
        self.rewrite_document(target, store, Cause::Changed(tag.cloned()));
        Ok(())
    }

    /// The projects of a namespace, sorted (from the registry's catalog).
    ///
    /// # Errors
    /// A storage error when the registry refuses, fails, or has no catalog.
    pub async fn project_list(
        &self,
        caller: &Caller,
        location: &Location,
    ) -> Result<Vec<ProjectName>, IndexError> {
        let store = self.store(caller, location)?;
        let repositories = store.catalog().await?;
        let mut projects: Vec<ProjectName> = repositories
            .iter()
            .filter_map(|repository| layout::project_of(&location.namespace, repository))
            .collect();
        projects.sort();
        projects.dedup();
        Ok(projects)
    }
}
