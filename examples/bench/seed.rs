//! Seeds projects straight into the registry with the storage layout of docs/design.md: per
//! release one small file blob, its image manifest (pushed by digest) and a release index
//! tagged with the version (`1.0.N`). Either as oci-pypi writes releases (title and size
//! recorded in the index), or exactly as PyOCI does (neither: the size is only in the file's
//! manifest).

use anyhow::{Context as _, ensure};
use futures_util::{StreamExt as _, TryStreamExt as _, stream};
use serde_json::json;
use sha2::{Digest as _, Sha256};

const ARTIFACT_TYPE: &str = "application/pyoci.package.v1";
const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const MEDIA_TYPE_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const CREATED: &str = "2026-01-01T00:00:00Z";
/// Releases pushed at once.
const SEED_CONCURRENCY: usize = 8;

/// Who wrote the releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// oci-pypi: index entries with title and size.
    OciPypi,
    /// PyOCI 0.1.x: index entries with PyOCI's three annotations only.
    Pyoci,
}

impl Writer {
    /// Its name in the report.
    pub fn label(self) -> &'static str {
        match self {
            Self::OciPypi => "oci-pypi",
            Self::Pyoci => "PyOCI",
        }
    }
}

/// Pushes `releases` releases (`1.0.0` … `1.0.<releases-1>`) of `project` to
/// `<origin>/v2/<namespace>/<project>`, as `writer` writes them.
pub async fn seed_project(
    origin: &str,
    namespace: &str,
    project: &str,
    releases: usize,
    writer: Writer,
) -> anyhow::Result<()> {
    seed_project_with_young(origin, namespace, project, releases, writer, None).await
}

/// [`seed_project`], the newest release (`1.0.<releases-1>`) uploaded at `young` (RFC 3339)
/// when given, instead of long ago like the others.
pub async fn seed_project_with_young(
    origin: &str,
    namespace: &str,
    project: &str,
    releases: usize,
    writer: Writer,
    young: Option<&str>,
) -> anyhow::Result<()> {
    let seeder = Seeder {
        http: reqwest::Client::builder().no_proxy().build()?,
        base: format!("{origin}/v2/{namespace}/{project}"),
        project: project.to_owned(),
        writer,
        young: young.map(|created| (releases.saturating_sub(1), created.to_owned())),
    };
    // The shared config blob first: parallel pushes of one blob confuse distribution 2.8.
    seeder.push_blob(b"{}".to_vec()).await?;
    stream::iter(0..releases)
        .map(|number| seeder.push_release(number))
        .buffer_unordered(SEED_CONCURRENCY)
        .try_collect::<()>()
        .await
}

struct Seeder {
    http: reqwest::Client,
    base: String,
    project: String,
    writer: Writer,
    /// The release uploaded at another time, and when.
    young: Option<(usize, String)>,
}

impl Seeder {
    async fn push_release(&self, number: usize) -> anyhow::Result<()> {
        let version = format!("1.0.{number}");
        let created = match &self.young {
            Some((young, created)) if *young == number => created.as_str(),
            _ => CREATED,
        };
        let filename = format!("{}-{version}-py3-none-any.whl", self.project);
        let content = format!("oci-pypi bench: {filename}\n").into_bytes();
        let size = content.len();
        let file_digest = self.push_blob(content).await?;
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": { "mediaType": MEDIA_TYPE_EMPTY, "digest": digest_of(b"{}"), "size": 2 },
            "layers": [{
                "mediaType": ARTIFACT_TYPE,
                "digest": file_digest,
                "size": size,
                "annotations": { "org.opencontainers.image.title": filename },
            }],
            "annotations": { "org.opencontainers.image.created": created },
        }))?;
        let manifest_digest = digest_of(&manifest);
        let manifest_size = manifest.len();
        self.put_manifest(&manifest_digest, MEDIA_TYPE_MANIFEST, manifest)
            .await?;
        let sha256_hex = file_digest.trim_start_matches("sha256:");
        let annotations = match self.writer {
            Writer::OciPypi => json!({
                "com.pyoci.project_urls": "{}",
                "com.pyoci.sha256_digest": sha256_hex,
                "dev.oci-pypi.size": size.to_string(),
                "org.opencontainers.image.created": created,
                "org.opencontainers.image.title": filename,
            }),
            Writer::Pyoci => json!({
                "com.pyoci.project_urls": "{}",
                "com.pyoci.sha256_digest": sha256_hex,
                "org.opencontainers.image.created": created,
            }),
        };
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "artifactType": ARTIFACT_TYPE,
            "manifests": [{
                "mediaType": MEDIA_TYPE_MANIFEST,
                "digest": manifest_digest,
                "size": manifest_size,
                "platform": { "architecture": "py3-none-any.whl", "os": "any" },
                "annotations": annotations,
            }],
            "annotations": { "org.opencontainers.image.created": created },
        }))?;
        self.put_manifest(&version, MEDIA_TYPE_INDEX, index).await
    }

    /// POST an upload session, then one monolithic PUT with the bytes.
    async fn push_blob(&self, bytes: Vec<u8>) -> anyhow::Result<String> {
        let digest = digest_of(&bytes);
        let started = self
            .http
            .post(format!("{}/blobs/uploads/", self.base))
            .send()
            .await?;
        ensure!(
            started.status() == 202,
            "upload session: {}",
            started.status()
        );
        let location = started
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("upload session without Location")?;
        let mut url = reqwest::Url::parse(&self.base)?.join(location)?;
        url.query_pairs_mut().append_pair("digest", &digest);
        let put = self
            .http
            .put(url)
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await?;
        ensure!(put.status() == 201, "blob commit: {}", put.status());
        Ok(digest)
    }

    async fn put_manifest(
        &self,
        reference: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<()> {
        let response = self
            .http
            .put(format!("{}/manifests/{reference}", self.base))
            .header("content-type", media_type)
            .body(bytes)
            .send()
            .await?;
        let status = response.status();
        ensure!(
            status == 201,
            "manifest {reference}: {status}: {}",
            response.text().await.unwrap_or_default()
        );
        Ok(())
    }
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}
