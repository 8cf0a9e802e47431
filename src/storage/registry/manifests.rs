//! Manifests, tags and the catalog.
//!
//! Spec sections: "Pulling manifests", "Pushing manifests", "Listing tags", "Deleting
//! manifests" of <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>, and
//! the catalog API of CNCF distribution.

use async_trait::async_trait;
use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, CONTENT_TYPE, IF_NONE_MATCH, LINK};

use super::{Access, Registry, read_limited};
use crate::storage::error::StorageError;
use crate::storage::oci::{
    MEDIA_TYPE_DOCKER_LIST, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST,
    StoredManifest,
};
use crate::storage::reference::{Digest, Reference, Repository, Tag};
use crate::storage::store::{ManifestFetch, Manifests};

/// The largest manifest read (the distribution spec suggests registries accept at least 4 MiB).
const MAX_MANIFEST_SIZE: usize = 4 * 1024 * 1024;
/// Deletes tried at most when the registry answers 5xx (each after putting the manifest back).
const DELETE_ROUNDS: u32 = 4;
/// Page size asked for when listing (registries may ignore it).
const PAGE_SIZE: usize = 1000;
/// The most pages followed, so that a misbehaving registry cannot loop us forever.
const MAX_PAGES: usize = 1000;

fn accept_manifests() -> String {
    [
        MEDIA_TYPE_INDEX,
        MEDIA_TYPE_MANIFEST,
        MEDIA_TYPE_DOCKER_LIST,
        MEDIA_TYPE_DOCKER_MANIFEST,
    ]
    .join(", ")
}

#[derive(serde::Deserialize)]
struct TagList {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct Catalog {
    #[serde(default)]
    repositories: Option<Vec<String>>,
}

#[async_trait]
impl Manifests for Registry {
    /// Every tag of `repository`; `None` when the repository does not exist. Tags that are not
    /// valid OCI tags are skipped. Follows `Link` pagination.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses or fails.
    async fn list_tags(&self, repository: &Repository) -> Result<Option<Vec<Tag>>, StorageError> {
        let first = format!("/v2/{repository}/tags/list?n={PAGE_SIZE}");
        let pages = self
            .paginate(Access::Pull, Some(repository), first, "tag list")
            .await?;
        let Some(pages) = pages else { return Ok(None) };
        let mut tags = Vec::new();
        for page in pages {
            let list: TagList = serde_json::from_slice(&page)
                .map_err(|_| self.invalid("the tag list is not valid JSON"))?;
            tags.extend(
                list.tags
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|t| Tag::parse(t).ok()),
            );
        }
        Ok(Some(tags))
    }

    /// Every repository of the registry (the catalog API; not all registries offer it).
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses, fails, or has no catalog.
    async fn catalog(&self) -> Result<Vec<Repository>, StorageError> {
        let first = format!("/v2/_catalog?n={PAGE_SIZE}");
        let pages = self
            .paginate(Access::Catalog, None, first, "catalog")
            .await?;
        let Some(pages) = pages else {
            return Err(self.invalid("the registry has no catalog API"));
        };
        let mut repositories = Vec::new();
        for page in pages {
            let catalog: Catalog = serde_json::from_slice(&page)
                .map_err(|_| self.invalid("the catalog is not valid JSON"))?;
            let names = catalog.repositories.unwrap_or_default();
            repositories.extend(names.iter().filter_map(|r| Repository::parse(r).ok()));
        }
        Ok(repositories)
    }

    /// A manifest by tag or digest (checked against the digest when fetched by digest). When the caller already holds the manifest with
    /// digest `known`, asks the registry with `If-None-Match` and gets
    /// [`ManifestFetch::Unchanged`] back (no body) if it still is the same. Registries that
    /// ignore the condition simply send the manifest again.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses, fails, or sends something too big or not
    /// matching its digest.
    async fn get_manifest_if_changed(
        &self,
        repository: &Repository,
        reference: &Reference,
        known: Option<&Digest>,
    ) -> Result<ManifestFetch, StorageError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let accept = accept_manifests();
        let condition = known.map(|digest| format!("\"{digest}\""));
        let make = || {
            let request = self.http().get(&url).header(ACCEPT, &accept);
            match &condition {
                Some(etag) => request.header(IF_NONE_MATCH, etag),
                None => request,
            }
        };
        let response = self.send(Access::Pull, Some(repository), &make).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_MODIFIED if known.is_some() => return Ok(ManifestFetch::Unchanged),
            StatusCode::NOT_FOUND => return Ok(ManifestFetch::Missing),
            _ => return Err(self.unexpected("manifest fetch", response).await),
        }
        let media_type = content_type(&response);
        if response
            .content_length()
            .is_some_and(|n| n > MAX_MANIFEST_SIZE as u64)
        {
            return Err(self.invalid("the manifest is larger than 4 MiB"));
        }
        let body = read_limited(response, MAX_MANIFEST_SIZE + 1)
            .await
            .map_err(|error| self.transport(error))?;
        if body.len() > MAX_MANIFEST_SIZE {
            return Err(self.invalid("the manifest is larger than 4 MiB"));
        }
        let digest = Digest::of(&body);
        if let Reference::Digest(expected) = reference {
            if &digest != expected {
                return Err(self.invalid(&format!("manifest `{expected}` has other content")));
            }
        }
        if known == Some(&digest) {
            return Ok(ManifestFetch::Unchanged);
        }
        Ok(ManifestFetch::Fetched(StoredManifest {
            media_type,
            digest,
            bytes: Bytes::from(body),
        }))
    }

    /// Stores a manifest under a tag or its digest; returns its digest.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses or fails.
    async fn put_manifest(
        &self,
        repository: &Repository,
        reference: &Reference,
        media_type: &str,
        body: Bytes,
    ) -> Result<Digest, StorageError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{reference}"));
        let make = || {
            self.http()
                .put(&url)
                .header(CONTENT_TYPE, media_type)
                .body(body.clone())
        };
        let response = self.send(Access::Push, Some(repository), &make).await?;
        if response.status() != StatusCode::CREATED && !response.status().is_success() {
            return Err(self.unexpected("manifest push", response).await);
        }
        Ok(Digest::of(&body))
    }

    /// Deletes a manifest by digest (which also removes every tag pointing at it). Deleting
    /// what is already gone succeeds.
    ///
    /// Distribution deletes in two steps: the manifest's revision, then every tag on it. When
    /// the second step fails (it answers 500 when another writer changes a tag of the
    /// repository at the same moment), the tags are left pointing at a manifest that is gone,
    /// and deleting again answers 404: the tag stays listed, and answers 304 to a client that
    /// still knows its digest. So the manifest is read first, and after a 5xx it is put back
    /// by digest (which does not touch any tag) and deleted again, a bounded number of times.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses or fails (some registries do not allow
    /// deletes at all: that is an `Upstream` 405).
    async fn delete_manifest(
        &self,
        repository: &Repository,
        digest: &Digest,
    ) -> Result<(), StorageError> {
        let by_digest = Reference::Digest(digest.clone());
        let saved = match self
            .get_manifest_if_changed(repository, &by_digest, None)
            .await?
        {
            ManifestFetch::Fetched(manifest) => manifest,
            ManifestFetch::Missing | ManifestFetch::Unchanged => return Ok(()),
        };
        let url = self.url(&format!("/v2/{repository}/manifests/{digest}"));
        let mut round = 0;
        loop {
            round += 1;
            let response = self
                .send(Access::Delete, Some(repository), &|| {
                    self.http().delete(&url)
                })
                .await?;
            let status = response.status();
            if status.is_success() || status == StatusCode::NOT_FOUND {
                return Ok(());
            }
            if !status.is_server_error() || round >= DELETE_ROUNDS {
                return Err(self.unexpected("manifest delete", response).await);
            }
            tracing::warn!(
                oci.repository = %repository,
                oci.digest = %digest,
                "the registry answered {status} to a manifest delete: putting it back and deleting again"
            );
            self.put_manifest(
                repository,
                &by_digest,
                &saved.media_type,
                saved.bytes.clone(),
            )
            .await?;
        }
    }
}

impl Registry {
    /// Fetches every page of a paginated list; `None` on 404.
    async fn paginate(
        &self,
        access: Access,
        repository: Option<&Repository>,
        first: String,
        operation: &str,
    ) -> Result<Option<Vec<Bytes>>, StorageError> {
        let mut pages = Vec::new();
        let mut next = Some(first);
        while let Some(path) = next.take() {
            if pages.len() >= MAX_PAGES {
                return Err(self.invalid("the registry paginates without end"));
            }
            let url = self.url(&path);
            let response = self
                .send(access, repository, &|| self.http().get(&url))
                .await?;
            match response.status() {
                StatusCode::OK => {}
                StatusCode::NOT_FOUND => return Ok(None),
                _ => return Err(self.unexpected(operation, response).await),
            }
            next = response
                .headers()
                .get(LINK)
                .and_then(|value| value.to_str().ok())
                .and_then(next_link);
            let body = read_limited(response, MAX_MANIFEST_SIZE * 4)
                .await
                .map_err(|error| self.transport(error))?;
            pages.push(Bytes::from(body));
        }
        Ok(Some(pages))
    }

    /// The digest a tag points at, without fetching the manifest; `None` when absent.
    ///
    /// # Errors
    /// A [`StorageError`] when the registry refuses or fails.
    pub async fn resolve_tag(
        &self,
        repository: &Repository,
        tag: &Tag,
    ) -> Result<Option<Digest>, StorageError> {
        let url = self.url(&format!("/v2/{repository}/manifests/{tag}"));
        let accept = accept_manifests();
        let make = || self.http().head(&url).header(ACCEPT, &accept);
        let response = self.send(Access::Pull, Some(repository), &make).await?;
        match response.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(self.unexpected("manifest lookup", response).await),
        }
        let header = response
            .headers()
            .get("docker-content-digest")
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| self.invalid("no Docker-Content-Digest on a manifest HEAD"))?;
        Digest::parse(header)
            .map(Some)
            .map_err(|_| self.invalid("a malformed Docker-Content-Digest"))
    }
}

fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

/// The path and query of a `Link: <...>; rel="next"` header, when it stays on this registry.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            p.trim()
                .replace(' ', "")
                .eq_ignore_ascii_case("rel=\"next\"")
        });
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        // Only relative links are followed: an absolute one could point anywhere.
        (is_next && target.starts_with("/v2/")).then(|| target.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_only_relative_next_links() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/a/tags/list?n=2&last=b")
        );
        assert_eq!(next_link(r#"<https://evil/v2/x>; rel="next""#), None);
        assert_eq!(next_link(r#"</v2/a/tags/list?last=b>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
    }
}
