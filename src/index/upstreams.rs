//! Falling back to an upstream index for names a namespace does not have. A project that
//! exists in the namespace is served only from it (upstream is never consulted or merged for
//! that name): that is what keeps dependency confusion out.

use std::sync::Arc;

use super::{Caller, Index, IndexError, Location, ProjectPage, Target};
use crate::layout::Namespace;
use crate::packaging::ProjectName;
use crate::upstream::{NameFilter, UpstreamIndex, UpstreamProject};

/// A namespace's upstream index.
#[derive(Debug, Clone)]
pub struct UpstreamRoute {
    /// Where the namespace lives.
    pub target: Target,
    /// The namespace.
    pub namespace: Namespace,
    /// Its upstream.
    pub index: Arc<UpstreamIndex>,
}

/// The upstreams of a server and which names they may serve.
#[derive(Debug, Clone, Default)]
pub struct Upstreams {
    /// One per namespace.
    pub routes: Vec<UpstreamRoute>,
    /// Names that may come from upstream.
    pub names: NameFilter,
}

/// What a project page shows: the namespace's own releases, or an upstream's page.
#[derive(Debug, Clone)]
pub enum Listing {
    /// The project lives in the namespace.
    Local(Arc<ProjectPage>),
    /// The project comes from the namespace's upstream index.
    Upstream(Arc<UpstreamProject>),
}

impl Index {
    /// The project page of `project`: from the namespace when it has the project, otherwise
    /// from its upstream index when one is configured and allows the name.
    ///
    /// # Errors
    /// As [`Index::project_page`]; [`IndexError::Upstream`] when the upstream index fails.
    pub async fn listing(
        &self,
        caller: &Caller,
        location: &Location,
        project: &ProjectName,
    ) -> Result<Listing, IndexError> {
        let local = self.project_page(caller, location, project).await;
        let Err(IndexError::ProjectNotFound { .. }) = &local else {
            return local.map(Listing::Local);
        };
        let upstreams = &self.options.upstreams;
        let route = upstreams
            .routes
            .iter()
            .find(|r| r.target == location.target && r.namespace == location.namespace);
        let Some(route) = route.filter(|_| upstreams.names.allows(project)) else {
            return local.map(Listing::Local);
        };
        match route.index.project(project).await? {
            Some(page) => Ok(Listing::Upstream(page)),
            None => local.map(Listing::Local),
        }
    }
}
