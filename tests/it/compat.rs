//! Compatibility: releases written by PyOCI itself are served as they are, foreign content
//! sharing a repository (container images, signatures, odd tags) is skipped and never
//! overwritten, PEP 440 versions survive the trip through OCI tags in the right order, and
//! project names are normalized the PEP 503 way.

use std::collections::BTreeSet;

use anyhow::Context as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::harness::registry::{DirectClient, sha256_digest};
use crate::harness::{AuthMode, Backend, DistSpec, TestEnv, UploadForm, assert_status_text};
use crate::{in_every_auth_mode, in_every_backend};

in_every_auth_mode!(pyoci_written_packages_are_served);
in_every_backend!(pep440_versions_round_trip_and_order, names_are_normalized);

const ARTIFACT_TYPE: &str = "application/pyoci.package.v1";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// PyOCI's timestamps: RFC 3339 UTC with seconds.
const CREATED: &str = "2024-11-20T20:23:36Z";

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn empty_config() -> Value {
    json!({ "mediaType": EMPTY_MEDIA_TYPE, "digest": EMPTY_DIGEST, "size": 2 })
}

/// Writes one release exactly as PyOCI 0.1.40 does: per file a layer blob (the raw file), the
/// empty config, an image manifest pushed by digest; then the image index pushed by tag, with
/// one entry per file (platform = file suffix, PyOCI's three annotations, no title, no size).
/// `files` are `(platform architecture, file bytes)`.
pub(crate) async fn push_pyoci_release(
    direct: &DirectClient,
    repository: &str,
    tag: &str,
    files: &[(&str, Vec<u8>)],
    project_urls: &str,
) -> anyhow::Result<()> {
    push_pyoci_release_created(direct, repository, tag, files, project_urls, CREATED).await
}

/// [`push_pyoci_release`] with its timestamps at `created` (RFC 3339) instead of a fixed day
/// of 2024.
pub(crate) async fn push_pyoci_release_created(
    direct: &DirectClient,
    repository: &str,
    tag: &str,
    files: &[(&str, Vec<u8>)],
    project_urls: &str,
    created: &str,
) -> anyhow::Result<()> {
    let mut entries = Vec::new();
    for (architecture, bytes) in files {
        let layer = direct.push_blob(repository, bytes.clone()).await?;
        assert_eq!(
            direct.push_blob(repository, b"{}".to_vec()).await?,
            EMPTY_DIGEST
        );
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": empty_config(),
            "layers": [{ "mediaType": ARTIFACT_TYPE, "digest": layer, "size": bytes.len() }],
            "annotations": { "org.opencontainers.image.created": created },
        }))?;
        let digest = sha256_digest(&manifest);
        let pushed = direct
            .put_manifest(repository, &digest, OCI_MANIFEST, manifest.clone())
            .await?;
        assert_eq!(pushed, digest);
        entries.push(json!({
            "mediaType": OCI_MANIFEST,
            "digest": digest,
            "size": manifest.len(),
            "platform": { "architecture": architecture, "os": "any" },
            "annotations": {
                "com.pyoci.sha256_digest": sha256_hex(bytes),
                "com.pyoci.project_urls": project_urls,
                "org.opencontainers.image.created": created,
            },
        }));
    }
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "artifactType": ARTIFACT_TYPE,
        "manifests": entries,
        "annotations": { "org.opencontainers.image.created": created },
    }))?;
    direct
        .put_manifest(repository, tag, OCI_INDEX, index)
        .await?;
    Ok(())
}

/// One `<a>` of a PEP 503 page.
#[derive(Debug, Clone)]
struct Link {
    /// The href without its fragment.
    href: String,
    /// The `#sha256=` fragment's value.
    sha256: String,
    /// The anchor text (the filename).
    text: String,
}

/// The anchors of a PEP 503 page, in page order (a minimal parser for the server's own output).
fn links(html: &str) -> Vec<Link> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<a href=\"") {
        rest = &rest[start + "<a href=\"".len()..];
        let Some(end) = rest.find('"') else { break };
        let (href, fragment) = rest[..end].split_once('#').unwrap_or((&rest[..end], ""));
        let sha256 = fragment
            .strip_prefix("sha256=")
            .unwrap_or_default()
            .to_owned();
        let Some(open) = rest.find('>') else { break };
        let Some(close) = rest.find("</a>") else {
            break;
        };
        out.push(Link {
            href: href.to_owned(),
            sha256,
            text: rest[open + 1..close].to_owned(),
        });
        rest = &rest[close..];
    }
    out
}

/// GET a page of the server (authenticated); its status and body.
async fn get_text(env: &TestEnv, path: &str) -> anyhow::Result<(StatusCode, String)> {
    let response = env.get(path, true).await?;
    Ok((response.status(), response.text().await?))
}

/// GET a project page, which must be 200; its anchors.
async fn project_links(env: &TestEnv, project: &str) -> anyhow::Result<Vec<Link>> {
    let path = format!("{}/{project}/", env.base_path());
    let (status, html) = get_text(env, &path).await?;
    assert_eq!(status, StatusCode::OK, "GET {path}: {html}");
    Ok(links(&html))
}

/// GET a project's releases JSON, which must be 200.
async fn releases_json(env: &TestEnv, project: &str) -> anyhow::Result<Value> {
    let path = format!("{}/{project}/json", env.base_path());
    let (status, body) = get_text(env, &path).await?;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    Ok(serde_json::from_str(&body)?)
}

fn release_keys(json: &Value) -> anyhow::Result<BTreeSet<String>> {
    let releases = json["releases"].as_object().context("releases")?;
    Ok(releases.keys().cloned().collect())
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Releases written by PyOCI 0.1.40 (no title or size annotations, filenames only implied by
/// the platform) are listed with the right names and hashes, installable with their
/// dependencies, described by the JSON, and local versions come back with their `+`.
async fn pyoci_written_packages_are_served(mode: AuthMode) -> anyhow::Result<()> {
    // The registry is changed behind the server's back: no page reuse.
    let env = TestEnv::start_with(mode, |config| config.listing.listing_cache_ttl = 0).await?;
    let direct = env.registry.direct();
    let urls = r#"{"Homepage":"https://example.org"}"#;

    let dep = DistSpec::new("legacy-dep", "0.2.0");
    let dep_wheel = std::fs::read(env.sandbox.wheel(&dep).await?)?;
    push_pyoci_release(
        &direct,
        "team/python/legacy_dep",
        "0.2.0",
        &[("py3-none-any.whl", dep_wheel)],
        "{}",
    )
    .await?;

    let pkg = DistSpec::new("legacy-pkg", "0.9.0").requires("legacy-dep>=0.2");
    let wheel = std::fs::read(env.sandbox.wheel(&pkg).await?)?;
    let sdist = std::fs::read(env.sandbox.sdist(&pkg).await?)?;
    let repository = "team/python/legacy_pkg";
    push_pyoci_release(
        &direct,
        repository,
        "0.9.0",
        &[
            ("py3-none-any.whl", wheel.clone()),
            (".tar.gz", sdist.clone()),
        ],
        urls,
    )
    .await?;

    // The page names the files PyOCI-style and carries the hashes from the index annotations.
    let listed = project_links(&env, "legacy-pkg").await?;
    let names: Vec<&str> = listed.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        names,
        [
            "legacy_pkg-0.9.0-py3-none-any.whl",
            "legacy_pkg-0.9.0.tar.gz"
        ]
    );
    assert_eq!(pkg.wheel_filename(), names[0]);
    assert_eq!(pkg.sdist_filename(), names[1]);
    assert_eq!(listed[0].sha256, sha256_hex(&wheel));
    assert_eq!(listed[1].sha256, sha256_hex(&sdist));

    // pip verifies those hashes and follows the dependency into the other PyOCI project.
    env.assert_pip_installs(
        &["legacy-pkg"],
        &[(&pkg.module(), "0.9.0"), (&dep.module(), "0.2.0")],
    )
    .await?;

    let json = releases_json(&env, "legacy-pkg").await?;
    assert_eq!(json["info"]["version"], "0.9.0", "{json:#}");
    assert_eq!(
        json["info"]["project_urls"]["Homepage"], "https://example.org",
        "{json:#}"
    );
    assert_eq!(release_keys(&json)?, set(&["0.9.0"]));
    let files = json["releases"]["0.9.0"]
        .as_array()
        .context("0.9.0 files")?;
    let json_names: BTreeSet<&str> = files
        .iter()
        .filter_map(|f| f["filename"].as_str())
        .collect();
    assert_eq!(
        json_names,
        BTreeSet::from([
            "legacy_pkg-0.9.0-py3-none-any.whl",
            "legacy_pkg-0.9.0.tar.gz"
        ])
    );

    // A local version: PyOCI tags `1.0.0+abc.1` as `1.0.0-abc.1`.
    let local = DistSpec::new("legacy-pkg", "1.0.0+abc.1").requires("legacy-dep>=0.2");
    let local_wheel = std::fs::read(env.sandbox.wheel(&local).await?)?;
    push_pyoci_release(
        &direct,
        repository,
        "1.0.0-abc.1",
        &[("py3-none-any.whl", local_wheel.clone())],
        urls,
    )
    .await?;
    let listed = project_links(&env, "legacy-pkg").await?;
    let local_name = "legacy_pkg-1.0.0+abc.1-py3-none-any.whl";
    assert_eq!(local.wheel_filename(), local_name);
    let link = listed
        .iter()
        .find(|l| l.text == local_name)
        .with_context(|| format!("{local_name} not listed: {listed:?}"))?;
    assert_eq!(link.sha256, sha256_hex(&local_wheel));
    assert_eq!(listed.len(), 3, "{listed:?}");
    // Downloaded through the page's own href, and by its plain name.
    for href in [link.href.clone(), local_name.to_owned()] {
        let path = format!("{}/legacy-pkg/{href}", env.base_path());
        let response = env.get(&path, true).await?;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        assert_eq!(
            response.bytes().await?.as_ref(),
            local_wheel.as_slice(),
            "GET {path}"
        );
    }
    let json = releases_json(&env, "legacy-pkg").await?;
    assert_eq!(release_keys(&json)?, set(&["0.9.0", "1.0.0+abc.1"]));
    assert_eq!(json["info"]["version"], "1.0.0+abc.1");
    Ok(())
}

/// A real-looking container image: (layer.tar.gz bytes, diff_id of the uncompressed tar).
async fn container_layer(env: &TestEnv) -> anyhow::Result<(Vec<u8>, String)> {
    const CODE: &str = "\
import gzip, hashlib, io, sys, tarfile
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode='w', format=tarfile.PAX_FORMAT) as tar:
    data = b'hello from a container\\n'
    info = tarfile.TarInfo('hello.txt')
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))
raw = buf.getvalue()
with open(sys.argv[1], 'wb') as f:
    f.write(gzip.compress(raw, mtime=0))
print('sha256:' + hashlib.sha256(raw).hexdigest())
";
    let path = env.sandbox.fresh_path("layer");
    let path_text = path.display().to_string();
    let out = env.sandbox.python(&["-c", CODE, &path_text]).await?;
    out.assert_success();
    Ok((std::fs::read(&path)?, out.stdout.trim().to_owned()))
}

/// Pushes a plain OCI container image manifest (by digest); returns (digest, bytes).
async fn push_container_image(
    env: &TestEnv,
    direct: &DirectClient,
    repository: &str,
) -> anyhow::Result<(String, Vec<u8>)> {
    let (layer, diff_id) = container_layer(env).await?;
    let layer_size = layer.len();
    let layer_digest = direct.push_blob(repository, layer).await?;
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": { "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
        "history": [{ "created": CREATED, "created_by": "oci-pypi tests" }],
    }))?;
    let config_size = config.len();
    let config_digest = direct.push_blob(repository, config).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer_digest,
            "size": layer_size,
        }],
    }))?;
    let digest = sha256_digest(&manifest);
    direct
        .put_manifest(repository, &digest, OCI_MANIFEST, manifest.clone())
        .await?;
    Ok((digest, manifest))
}

/// Pushes a cosign-like signature manifest under `sha256-<hex>.sig`; returns the tag.
async fn push_signature(
    direct: &DirectClient,
    repository: &str,
    signed: &str,
) -> anyhow::Result<String> {
    let payload = serde_json::to_vec(&json!({
        "critical": {
            "identity": { "docker-reference": repository },
            "image": { "docker-manifest-digest": signed },
            "type": "cosign container image signature",
        },
        "optional": null,
    }))?;
    let payload_size = payload.len();
    let payload_digest = direct.push_blob(repository, payload).await?;
    direct.push_blob(repository, b"{}".to_vec()).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
        "config": empty_config(),
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": payload_digest,
            "size": payload_size,
            "annotations": { "dev.cosignproject.cosign/signature": "MEUCIQDtest" },
        }],
    }))?;
    let tag = format!("{}.sig", signed.replace(':', "-"));
    direct
        .put_manifest(repository, &tag, OCI_MANIFEST, manifest)
        .await?;
    Ok(tag)
}

/// Container images, signatures and non-release tags sharing a project's repository are
/// skipped when listing, and a release tag holding foreign content is never overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_tags_are_skipped() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let spec = DistSpec::new("shared-repo", "1.0");
    let wheel = env.sandbox.wheel(&spec).await?;
    let sdist = env.sandbox.sdist(&spec).await?;
    env.twine_upload(&[&wheel, &sdist]).await?.assert_success();

    let direct = env.registry.direct();
    let repository = "team/python/shared_repo";
    let (image, image_bytes) = push_container_image(&env, &direct, repository).await?;
    for tag in ["latest", "v2.0", "3.0"] {
        direct
            .put_manifest(repository, tag, OCI_MANIFEST, image_bytes.clone())
            .await?;
    }
    let signature = push_signature(&direct, repository, &image).await?;
    let tags: BTreeSet<String> = direct.tags(repository).await?.into_iter().collect();
    assert_eq!(tags, set(&["1.0", "3.0", "latest", "v2.0", &signature]));

    let listed = project_links(&env, "shared-repo").await?;
    let names: BTreeSet<String> = listed.iter().map(|l| l.text.clone()).collect();
    assert_eq!(
        names,
        set(&[&spec.wheel_filename(), &spec.sdist_filename()])
    );

    env.assert_pip_installs(&["shared-repo"], &[(&spec.module(), "1.0")])
        .await?;

    let json = releases_json(&env, "shared-repo").await?;
    assert_eq!(release_keys(&json)?, set(&["1.0"]), "{json:#}");
    assert_eq!(json["info"]["version"], "1.0");

    // `3.0` is a valid version, but its tag holds a container image: refuse, do not clobber.
    let three = DistSpec::new("shared-repo", "3.0");
    let three_wheel = env.sandbox.wheel(&three).await?;
    let upload = UploadForm::wheel(&three, &std::fs::read(&three_wheel)?).sha256();
    let response = env.upload(&upload, true).await?;
    let body = assert_status_text(response, StatusCode::CONFLICT).await?;
    assert!(body.contains("not a Python release"), "{body}");
    assert!(body.contains("3.0"), "{body}");

    // twine reports the refusal too.
    let out = env.twine_upload(&[&three_wheel]).await?;
    out.assert_failure_saying("not a Python release");

    let (media_type, digest, bytes) = direct
        .manifest(repository, "3.0")
        .await?
        .context("3.0 is gone")?;
    assert_eq!(media_type, OCI_MANIFEST);
    assert_eq!(digest, image);
    assert_eq!(bytes, image_bytes);
    let tags: BTreeSet<String> = direct.tags(repository).await?.into_iter().collect();
    assert_eq!(tags, set(&["1.0", "3.0", "latest", "v2.0", &signature]));
    Ok(())
}

/// PEP 440 versions (epochs, local versions, post- and pre-releases) map to OCI tags and back,
/// and pages, the JSON and resolvers see them in PEP 440 order.
async fn pep440_versions_round_trip_and_order(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    let versions = [
        "1.0",
        "1.10",
        "1.9",
        "2.0rc1",
        "1!0.5",
        "1.0+local.7",
        "1.0.post1",
    ];
    let mut wheels = Vec::new();
    for version in versions {
        wheels.push(
            env.sandbox
                .wheel(&DistSpec::new("ordered", version))
                .await?,
        );
    }
    let paths: Vec<&std::path::Path> = wheels.iter().map(AsRef::as_ref).collect();
    env.twine_upload(&paths).await?.assert_success();

    let tags: BTreeSet<String> = env
        .storage()
        .tags("team/python/ordered")
        .await?
        .into_iter()
        .collect();
    assert_eq!(
        tags,
        set(&[
            "1.0",
            "1.10",
            "1.9",
            "2.0rc1",
            "1_0.5",
            "1.0-local.7",
            "1.0.post1"
        ])
    );

    let listed = project_links(&env, "ordered").await?;
    let names: Vec<String> = listed.iter().map(|l| l.text.clone()).collect();
    let expected: Vec<String> = [
        "1.0",
        "1.0+local.7",
        "1.0.post1",
        "1.9",
        "1.10",
        "2.0rc1",
        "1!0.5",
    ]
    .iter()
    .map(|v| DistSpec::new("ordered", v).wheel_filename())
    .collect();
    assert_eq!(names, expected);

    let url = env.index_url_with_credentials();
    for (requirement, installed) in [
        ("ordered", "1!0.5"),
        ("ordered<1!0", "1.10"),
        ("ordered==1.0+local.7", "1.0+local.7"),
    ] {
        let (out, target) = env.sandbox.pip_install(&url, &[requirement]).await?;
        out.assert_success();
        assert_eq!(
            env.sandbox.import_version(&target, "ordered").await?,
            installed,
            "pip install '{requirement}'"
        );
    }

    let json = releases_json(&env, "ordered").await?;
    assert_eq!(json["info"]["version"], "1!0.5", "{json:#}");
    assert_eq!(release_keys(&json)?, set(&versions));
    Ok(())
}

/// Every spelling of a project name reaches the same repository, page and package.
async fn names_are_normalized(backend: Backend) -> anyhow::Result<()> {
    let env = TestEnv::start_backend(backend).await?;
    let spec = DistSpec::new("Mixed.Case_Name", "1.0");
    env.publish_wheel(&spec).await?;

    let storage = env.storage();
    let catalog = storage.catalog().await?;
    assert_eq!(catalog, vec!["team/python/mixed_case_name".to_owned()]);
    assert_eq!(
        storage.tags("team/python/mixed_case_name").await?,
        vec!["1.0".to_owned()]
    );

    let filename = spec.wheel_filename();
    assert_eq!(filename, "mixed_case_name-1.0-py3-none-any.whl");
    for spelling in ["mixed-case-name", "Mixed.Case_Name", "MIXED--case__name"] {
        let listed = project_links(&env, spelling).await?;
        let names: Vec<&str> = listed.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(names, [filename.as_str()], "page of {spelling}");
    }

    env.assert_pip_installs(&["mixed_case.NAME"], &[(&spec.module(), "1.0")])
        .await?;
    Ok(())
}

/// `oci-pypi backfill-metadata` gives files written without core metadata (PyOCI's) their PEP
/// 658 metadata; the file manifests keep exactly one layer, as PyOCI reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_gives_pyoci_files_their_metadata() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Htpasswd, |config| {
        config.listing.listing_cache_ttl = 0
    })
    .await?;
    let direct = env.registry.direct();
    let pkg = DistSpec::new("legacy-meta", "0.1.0");
    let wheel = std::fs::read(env.sandbox.wheel(&pkg).await?)?;
    let sdist = std::fs::read(env.sandbox.sdist(&pkg).await?)?;
    let repository = "team/python/legacy_meta";
    let files = [("py3-none-any.whl", wheel.clone()), (".tar.gz", sdist)];
    push_pyoci_release(&direct, repository, "0.1.0", &files, "{}").await?;
    let page = format!("{}/legacy-meta/", env.base_path());
    let (_, html) = get_text(&env, &page).await?;
    assert!(!html.contains("data-core-metadata"), "{html}");

    let (user, password) = env.credentials().unwrap();
    let run = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
            .args([
                "backfill-metadata",
                "--json",
                "--namespace",
                &format!("{}/team/python", env.registry.host()),
            ])
            .env("OCI_PYPI_REGISTRIES", env.registry.origin())
            .env("OCI_PYPI_USERNAME", &user)
            .env("OCI_PYPI_PASSWORD", &password)
            .env("OCI_PYPI_LOG_LEVEL", "warn")
            .output()
    };
    let output = run().await?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.trim())?;
    assert_eq!(report["updated"], json!([pkg.wheel_filename()]), "{report}");

    let (_, html) = get_text(&env, &page).await?;
    assert!(html.contains("data-core-metadata=\"sha256="), "{html}");
    let metadata_path = format!("{page}{}.metadata", pkg.wheel_filename());
    let (status, metadata) = get_text(&env, &metadata_path).await?;
    assert_eq!(status, StatusCode::OK);
    assert!(
        metadata.contains("Name: legacy-meta") && metadata.contains("Version: 0.1.0"),
        "{metadata}"
    );

    let storage = env.storage();
    let index = storage.manifest_json(repository, "0.1.0").await?;
    for entry in index["manifests"].as_array().context("entries")? {
        let digest = entry["digest"].as_str().context("digest")?;
        let manifest = storage.manifest_json(repository, digest).await?;
        assert_eq!(
            manifest["layers"].as_array().map(Vec::len),
            Some(1),
            "{manifest}"
        );
    }
    env.assert_pip_installs(&["legacy-meta"], &[(&pkg.module(), "0.1.0")])
        .await?;

    // Nothing left to do the second time.
    let output = run().await?;
    let report: Value = serde_json::from_str(String::from_utf8_lossy(&output.stdout).trim())?;
    assert_eq!(report["updated"], json!([]), "{report}");
    Ok(())
}

/// Whether PyOCI 0.1.x can list a repository with these tags, each `(tag, media type,
/// manifest)`: it reads every tag (down to its `PYOCI_MAX_VERSIONS` last in byte order) as a
/// release and fails the page and `/json` on one that is not an image index typed
/// `application/pyoci.package.v1`, or that has an entry without a platform; its `/json` reads
/// the first file of the last tag in byte order (and panics when there is none). `Err` says
/// which tag it would fail on.
fn pyoci_lists(tags: &[(String, String, Value)]) -> Result<(), String> {
    let mut sorted: Vec<&(String, String, Value)> = tags.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (tag, media_type, manifest) in &sorted {
        if media_type != OCI_INDEX {
            return Err(format!("`{tag}` holds a {media_type}"));
        }
        if manifest["artifactType"] != ARTIFACT_TYPE {
            return Err(format!(
                "`{tag}` has artifactType {}",
                manifest["artifactType"]
            ));
        }
        let entries = manifest["manifests"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if entries
            .iter()
            .any(|e| !e["platform"]["architecture"].is_string())
        {
            return Err(format!("`{tag}` has an entry without a platform"));
        }
    }
    match sorted.last() {
        Some((tag, _, manifest)) if manifest["manifests"].as_array().is_none_or(Vec::is_empty) => {
            Err(format!("the last tag `{tag}` has no file for `/json`"))
        }
        _ => Ok(()),
    }
}

/// What is under every tag of `repository`.
async fn every_tag(
    direct: &DirectClient,
    repository: &str,
) -> anyhow::Result<Vec<(String, String, Value)>> {
    let mut found = Vec::new();
    for tag in direct.all_tags(repository).await? {
        let (media_type, _, bytes) = direct
            .manifest(repository, &tag)
            .await?
            .with_context(|| format!("{tag} vanished"))?;
        found.push((tag, media_type, serde_json::from_slice(&bytes)?));
    }
    Ok(found)
}

/// PyOCI can still list a project oci-pypi keeps: what oci-pypi adds beside the releases
/// (the listing document, a project status) is an index PyOCI reads as a version without
/// files, under tags sorted before every release tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyoci_can_list_what_oci_pypi_writes() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let first = DistSpec::new("readable", "0.1");
    let second = DistSpec::new("readable", "1.0");
    env.publish_wheel(&first).await?;
    let sdist = env.sandbox.sdist(&second).await?;
    let wheel = env.sandbox.wheel(&second).await?;
    env.twine_upload(&[&wheel, &sdist]).await?.assert_success();
    let direct = env.registry.direct();
    let repository = "team/python/readable";
    let stored = direct.wait_for_listing(repository, &["0.1", "1.0"]).await?;
    assert!(
        stored.index_form,
        "the document is in the reserved index form"
    );
    let url = format!("{}/+status/readable", env.base_path());
    let response = env
        .http(reqwest::Method::POST, &url, true)
        .form(&[("status", "deprecated"), ("reason", "use `other`")])
        .send()
        .await?;
    assert_status_text(response, StatusCode::OK).await?;

    let tags = every_tag(&direct, repository).await?;
    let names: BTreeSet<String> = tags.iter().map(|(tag, _, _)| tag.clone()).collect();
    assert_eq!(
        names,
        set(&[
            oci_pypi::layout::LISTING_TAG,
            oci_pypi::layout::STATUS_TAG,
            "0.1",
            "1.0"
        ])
    );
    pyoci_lists(&tags).map_err(anyhow::Error::msg)?;
    // The check itself catches what PyOCI fails on: the forms before the reserved one.
    let mut legacy = tags.clone();
    legacy.push((
        "oci-pypi.listing".to_owned(),
        OCI_MANIFEST.to_owned(),
        json!({ "schemaVersion": 2, "layers": [] }),
    ));
    assert!(
        pyoci_lists(&legacy)
            .unwrap_err()
            .contains("oci-pypi.listing")
    );

    // And the page is still right for oci-pypi's own readers.
    let json = releases_json(&env, "readable").await?;
    assert_eq!(release_keys(&json)?, set(&["0.1", "1.0"]), "{json:#}");
    Ok(())
}

/// A status and a listing document written by a server before the reserved form are still
/// read, and moved under the new tags: the next status set replaces the old one, and the next
/// reader with push rights rewrites the document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_forms_are_read_and_moved() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Anonymous, |config| {
        config.listing.listing_cache_ttl = 0;
    })
    .await?;
    let spec = DistSpec::new("moved", "1.0");
    env.publish_wheel(&spec).await?;
    let direct = env.registry.direct();
    let repository = "team/python/moved";
    let stored = direct.wait_for_listing(repository, &["1.0"]).await?;

    // Turn the project into what an older server left: the document as an image manifest
    // under `oci-pypi.listing`, an archived status under `oci-pypi.status`.
    // The legacy forms are what the crate still writes as its fallback: its writers are the
    // old server's.
    let document = serde_json::to_vec(&stored.document)?;
    direct.push_blob(repository, document.clone()).await?;
    assert_eq!(
        direct.push_blob(repository, b"{}".to_vec()).await?,
        EMPTY_DIGEST
    );
    let manifest = oci_pypi::layout::listing_manifest_without_data(&document, CREATED);
    direct
        .put_manifest(
            repository,
            "oci-pypi.listing",
            OCI_MANIFEST,
            manifest.to_vec(),
        )
        .await?;
    let archived =
        oci_pypi::packaging::StatusMarker::new(oci_pypi::packaging::ProjectStatus::Archived, "old");
    let status = oci_pypi::layout::status_manifest(&archived, CREATED);
    direct
        .put_manifest(repository, "oci-pypi.status", OCI_MANIFEST, status.to_vec())
        .await?;
    let (_, current, _) = direct
        .manifest(repository, oci_pypi::layout::LISTING_TAG)
        .await?
        .context("no document")?;
    direct.delete_manifest(repository, &current).await?;

    // The legacy status holds: the page says archived, uploads are refused.
    let page: Value = env
        .http(
            reqwest::Method::GET,
            &format!("{}/moved/", env.base_path()),
            true,
        )
        .header("accept", "application/vnd.pypi.simple.v1+json")
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    assert_eq!(page["project-status"]["status"], "archived", "{page:#}");
    let next = DistSpec::new("moved", "2.0");
    let next_wheel = env.sandbox.wheel(&next).await?;
    let upload = UploadForm::wheel(&next, &std::fs::read(&next_wheel)?).sha256();
    let response = env.upload(&upload, true).await?;
    assert!(response.status().is_client_error(), "{}", response.status());
    let body = response.text().await?;
    assert!(body.contains("archived"), "{body}");

    // Setting a status writes it under the new tag and removes the old one.
    let url = format!("{}/+status/moved", env.base_path());
    let response = env
        .http(reqwest::Method::POST, &url, true)
        .form(&[("status", "active")])
        .send()
        .await?;
    assert_status_text(response, StatusCode::OK).await?;
    env.upload(&upload, true).await?.error_for_status()?;

    // The document is rewritten under the new tag, the legacy one removed.
    direct.wait_for_listing(repository, &["1.0", "2.0"]).await?;
    let (direct_ref, repository_ref) = (&direct, repository);
    crate::harness::listing::eventually("the legacy tags are gone", || async move {
        let tags = direct_ref.all_tags(repository_ref).await?;
        Ok(!tags.iter().any(|tag| tag.starts_with("oci-pypi.")))
    })
    .await?;
    pyoci_lists(&every_tag(&direct, repository).await?).map_err(anyhow::Error::msg)?;
    Ok(())
}
