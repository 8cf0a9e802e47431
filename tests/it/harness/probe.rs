//! Looking at stored content without the server: through the registry's API, or straight at
//! the local store's image-layout directories.

use std::path::PathBuf;

use anyhow::Context as _;

use super::registry::DirectClient;

/// Where a test's content lives.
pub enum Probe {
    /// A registry, through its API.
    Registry(DirectClient),
    /// The local store's root directory.
    Local(PathBuf),
}

impl Probe {
    /// The tags of `repository` without the listing document's (empty when it has none or
    /// does not exist).
    pub async fn tags(&self, repository: &str) -> anyhow::Result<Vec<String>> {
        let mut tags = self.all_tags(repository).await?;
        tags.retain(|tag| tag != oci_pypi::layout::LISTING_TAG);
        Ok(tags)
    }

    /// Every tag of `repository` (empty when it has none or does not exist).
    pub async fn all_tags(&self, repository: &str) -> anyhow::Result<Vec<String>> {
        match self {
            Self::Registry(direct) => direct.all_tags(repository).await,
            Self::Local(root) => {
                let Some(index) = read_index(&root.join(repository))? else {
                    return Ok(Vec::new());
                };
                let entries = index["manifests"].as_array().cloned().unwrap_or_default();
                Ok(entries
                    .iter()
                    .filter_map(|e| e["annotations"]["org.opencontainers.image.ref.name"].as_str())
                    .map(str::to_owned)
                    .collect())
            }
        }
    }

    /// Every repository.
    pub async fn catalog(&self) -> anyhow::Result<Vec<String>> {
        match self {
            Self::Registry(direct) => direct.catalog().await,
            Self::Local(root) => {
                let mut found = Vec::new();
                walk(root, root, &mut found)?;
                found.sort();
                Ok(found)
            }
        }
    }

    /// A manifest by tag or digest: (media type, digest, bytes).
    pub async fn manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> anyhow::Result<Option<(String, String, Vec<u8>)>> {
        match self {
            Self::Registry(direct) => direct.manifest(repository, reference).await,
            Self::Local(root) => {
                let layout = root.join(repository);
                let digest = if reference.starts_with("sha256:") {
                    reference.to_owned()
                } else {
                    let Some(index) = read_index(&layout)? else {
                        return Ok(None);
                    };
                    let entries = index["manifests"].as_array().cloned().unwrap_or_default();
                    let entry = entries.iter().find(|e| {
                        e["annotations"]["org.opencontainers.image.ref.name"] == reference
                    });
                    match entry.and_then(|e| e["digest"].as_str()) {
                        Some(digest) => digest.to_owned(),
                        None => return Ok(None),
                    }
                };
                let path = blob_path(&layout, &digest);
                if !path.exists() {
                    return Ok(None);
                }
                let bytes = std::fs::read(path)?;
                let value: serde_json::Value = serde_json::from_slice(&bytes)?;
                let media_type = value["mediaType"].as_str().unwrap_or_default().to_owned();
                Ok(Some((media_type, digest, bytes)))
            }
        }
    }

    /// The manifest (or index) under a tag or digest, as JSON; an error if there is none.
    pub async fn manifest_json(
        &self,
        repository: &str,
        reference: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let (_, _, bytes) = self
            .manifest(repository, reference)
            .await?
            .with_context(|| format!("no manifest {repository}:{reference}"))?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// A blob's bytes.
    pub async fn blob(&self, repository: &str, digest: &str) -> anyhow::Result<Vec<u8>> {
        match self {
            Self::Registry(direct) => direct.blob(repository, digest).await,
            Self::Local(root) => {
                let path = blob_path(&root.join(repository), digest);
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
            }
        }
    }
}

fn blob_path(layout: &std::path::Path, digest: &str) -> PathBuf {
    layout
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn read_index(layout: &std::path::Path) -> anyhow::Result<Option<serde_json::Value>> {
    let path = layout.join("index.json");
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(serde_json::from_slice(&std::fs::read(path)?)?))
}

fn walk(
    root: &std::path::Path,
    dir: &std::path::Path,
    found: &mut Vec<String>,
) -> anyhow::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    if dir.join("oci-layout").exists() {
        let relative = dir.strip_prefix(root)?.to_string_lossy().into_owned();
        found.push(relative);
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if path.is_dir() && !hidden {
            walk(root, &path, found)?;
        }
    }
    Ok(())
}
