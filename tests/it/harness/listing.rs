//! Reading a project's listing document (`0-oci-pypi.listing`, docs/design.md) straight from
//! the registry, to check what the server keeps there.

use std::io::Read as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;

use super::registry::DirectClient;

/// A listing document as stored: its manifest's digest and the document.
pub struct StoredListing {
    /// The digest of the manifest under the listing tag.
    pub digest: String,
    /// The document (JSON).
    pub document: serde_json::Value,
    /// Whether the manifest holds the document (the index form, or the manifest form's
    /// `data`).
    pub inline: bool,
    /// Whether it is the reserved index form (the document gzipped in an annotation).
    pub index_form: bool,
}

impl StoredListing {
    /// The release tags the document records, sorted.
    pub fn tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = self.document["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|entry| entry["tag"].as_str().map(str::to_owned))
            .collect();
        tags.sort();
        tags
    }

    /// The release index the document records under `tag`, parsed.
    pub fn index(&self, tag: &str) -> Option<serde_json::Value> {
        let entries = self.document["tags"].as_array()?;
        let entry = entries.iter().find(|e| e["tag"] == tag)?;
        serde_json::from_str(entry["index"].as_str()?).ok()
    }
}

impl DirectClient {
    /// The listing document of `repository`; `None` when there is none.
    pub async fn listing(&self, repository: &str) -> anyhow::Result<Option<StoredListing>> {
        let Some((_, digest, bytes)) = self
            .manifest(repository, oci_pypi::layout::LISTING_TAG)
            .await?
        else {
            return Ok(None);
        };
        let manifest: serde_json::Value = serde_json::from_slice(&bytes)?;
        let annotation = &manifest["annotations"][oci_pypi::layout::ANNOTATION_LISTING];
        let index_form = annotation.is_string();
        let (document, inline) = if let Some(encoded) = annotation.as_str() {
            let zipped = base64::engine::general_purpose::STANDARD.decode(encoded)?;
            let mut document = Vec::new();
            flate2::read::GzDecoder::new(zipped.as_slice()).read_to_end(&mut document)?;
            (document, true)
        } else {
            let layer = &manifest["layers"][0];
            match layer["data"].as_str() {
                Some(data) => (
                    base64::engine::general_purpose::STANDARD.decode(data)?,
                    true,
                ),
                None => {
                    let blob = layer["digest"].as_str().context("no layer digest")?;
                    (self.blob(repository, blob).await?, false)
                }
            }
        };
        Ok(Some(StoredListing {
            digest,
            document: serde_json::from_slice(&document)?,
            inline,
            index_form,
        }))
    }

    /// Waits (up to 20 s) until the listing document of `repository` records exactly
    /// `tags`, as the server writes it in the background after a change.
    pub async fn wait_for_listing(
        &self,
        repository: &str,
        tags: &[&str],
    ) -> anyhow::Result<StoredListing> {
        let started = Instant::now();
        let mut wanted: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
        wanted.sort();
        loop {
            let listing = self.listing(repository).await?;
            let seen = listing.as_ref().map(StoredListing::tags);
            if seen.as_ref() == Some(&wanted) {
                return listing.context("listing vanished");
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("the listing of {repository} records {seen:?}, not {wanted:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Waits until `check` holds (up to 20 s).
pub async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    while !check().await? {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(20), "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
