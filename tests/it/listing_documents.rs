//! Listing documents (docs/design.md, "Listing documents"): a project page costs the tag list
//! and one manifest whatever its number of releases; a document that is behind the tags,
//! unreadable, tampered with, written for another repository, by a newer server or by
//! another tool is never served as it is; a release changed behind the server's back is
//! caught by the audit; a registry that refuses the document's tag still serves pages; one
//! page serves every caller the registry lets read it, and only them.

use std::time::Duration;

use base64::Engine as _;
use oci_pypi::config::ListingDocumentsMode;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sha2::Digest as _;

use crate::compat::{push_pyoci_release, push_pyoci_release_created};
use crate::harness::fake_registry::{self, Endpoint, FakeRegistry, Fault};
use crate::harness::listing::{StoredListing, eventually};
use crate::harness::registry::{DirectClient, sha256_digest};
use crate::harness::{AuthMode, DistSpec, Server, TestEnv, client, metric_sum};

const LISTING: &str = oci_pypi::layout::LISTING_TAG;
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Registry requests the server has made so far, from `/metrics`: all of them, and those
/// its background work made.
async fn registry_requests(server: &Server) -> anyhow::Result<(f64, f64)> {
    let text = server.metrics().await?;
    Ok((
        metric_sum(&text, "oci_pypi_registry_requests_total"),
        metric_sum(&text, "oci_pypi_background_registry_requests_total"),
    ))
}

/// The time now, RFC 3339 with seconds: an upload time that makes a release young.
fn now_rfc3339() -> anyhow::Result<String> {
    Ok(time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)?
        .format(&time::format_description::well_known::Rfc3339)?)
}

/// The filenames a project page lists (HTML anchors' text).
async fn listed(server: &Server, path: &str) -> anyhow::Result<Vec<String>> {
    let response = client()
        .get(format!("{}{path}", server.url()))
        .send()
        .await?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status == StatusCode::OK, "GET {path}: {status}: {body}");
    let mut names: Vec<String> = body
        .split("</a>")
        .filter_map(|anchor| Some(anchor.rsplit_once('>')?.1.to_owned()))
        .filter(|name| !name.trim().is_empty())
        .collect();
    names.sort();
    Ok(names)
}

/// Seeds `count` PyOCI-written releases (`1.0.<i>`, one wheel each, no size recorded).
async fn seed(direct: &DirectClient, repository: &str, count: usize) -> anyhow::Result<()> {
    for i in 0..count {
        let bytes = format!("wheel {repository} {i}").into_bytes();
        push_pyoci_release(
            direct,
            repository,
            &format!("1.0.{i}"),
            &[("py3-none-any.whl", bytes)],
            "{}",
        )
        .await?;
    }
    Ok(())
}

/// The tags `1.0.0` … `1.0.<count-1>`.
fn tags(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("1.0.{i}")).collect()
}

/// Seeds `count` PyOCI-written releases of `name` in the test's namespace, has the test's
/// server serve its page once, and waits for the listing document that leaves behind;
/// the repository, the page's path and the document.
async fn seeded_with_listing(
    env: &TestEnv,
    name: &str,
    count: usize,
) -> anyhow::Result<(String, String, StoredListing)> {
    let direct = env.registry.direct();
    let repository = format!("{}/{name}", env.namespace);
    seed(&direct, &repository, count).await?;
    let path = format!("{}/{name}/", env.base_path());
    assert_eq!(listed(&env.server, &path).await?, wheels(name, 0..count));
    let tags = tags(count);
    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
    let stored = direct.wait_for_listing(&repository, &tags).await?;
    // The server may still be learning sizes and rewriting the document: a test that then
    // changes the tags behind its back wants that work over, or it would catch up at once.
    env.server.settled().await?;
    let stored = direct.listing(&repository).await?.unwrap_or(stored);
    Ok((repository, path, stored))
}

/// [`seeded_with_listing`] in a new environment with an anonymous registry: the environment,
/// a client of its registry, and what [`seeded_with_listing`] returns.
async fn seeded(
    name: &str,
    count: usize,
) -> anyhow::Result<(TestEnv, DirectClient, String, String, StoredListing)> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    let direct = env.registry.direct();
    let (repository, path, stored) = seeded_with_listing(&env, name, count).await?;
    Ok((env, direct, repository, path, stored))
}

fn wheels(project: &str, versions: impl IntoIterator<Item = usize>) -> Vec<String> {
    let mut names: Vec<String> = versions
        .into_iter()
        .map(|i| format!("{project}-1.0.{i}-py3-none-any.whl"))
        .collect();
    names.sort();
    names
}

/// A project written by PyOCI (no document, no sizes) is served from its tags, and the first
/// reader with push rights leaves a document behind, sizes included: from then on a cold page
/// costs two registry requests (the tag list and the document), whatever the number of
/// releases, and lists the sizes. Each release the document records is the exact index under
/// its tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_read_the_listing_document_whatever_the_number_of_releases() -> anyhow::Result<()> {
    let (env, direct, repository, path, stored) = seeded("many", 12).await?;
    let tags = tags(12);
    assert!(
        stored.inline,
        "a small document is embedded in its manifest"
    );
    for tag in &tags {
        let (_, _, bytes) = direct.manifest(&repository, tag).await?.unwrap();
        let index: serde_json::Value = serde_json::from_slice(&bytes)?;
        assert_eq!(stored.index(tag), Some(index), "{tag}");
    }
    // Sizes are learnt in the background once, and recorded.
    let (direct_ref, repository_ref) = (&direct, &repository);
    eventually("the document records the 12 sizes", || async move {
        let stored = direct_ref.listing(repository_ref).await?;
        Ok(stored.is_some_and(|s| s.document["sizes"].as_object().map(|m| m.len()) == Some(12)))
    })
    .await?;

    let cold = Server::start_for(&env.registry, |_| {}).await?;
    let (before, _) = registry_requests(&cold).await?;
    let page = cold.get_text(&path).await?;
    assert_eq!(page.matches("data-size=").count(), 12, "{page}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        registry_requests(&cold).await?.0 - before,
        2.0,
        "a cold page costs the tag list and the document"
    );

    // A server that keeps no page still revalidates the document instead of reading it again.
    let uncached =
        Server::start_for(&env.registry, |config| config.listing.listing_cache_ttl = 0).await?;
    for _ in 0..3 {
        assert_eq!(listed(&uncached, &path).await?, wheels("many", 0..12));
    }
    let metrics = uncached.metrics().await?;
    let unchanged = "oci_pypi_cache_lookups_total{cache=\"document\",result=\"unchanged\"} 2";
    assert!(metrics.contains(unchanged), "{metrics}");
    Ok(())
}

/// Releases added and removed behind the server's back (another tool, a server that keeps no
/// document) are seen at once: the tag list is the truth, and only the missing releases are
/// read; the document then catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_document_behind_the_tags_is_caught_up() -> anyhow::Result<()> {
    let (env, direct, repository, path, _) = seeded("moving", 4).await?;

    // Behind its back: 1.0.1 deleted, 1.0.4 added.
    let (_, digest, _) = direct.manifest(&repository, "1.0.1").await?.unwrap();
    assert!(direct.delete_manifest(&repository, &digest).await?);
    let bytes = b"wheel added behind the back".to_vec();
    push_pyoci_release(
        &direct,
        &repository,
        "1.0.4",
        &[("py3-none-any.whl", bytes)],
        "{}",
    )
    .await?;

    let cold = Server::start_for(&env.registry, |_| {}).await?;
    // Foreground requests only: background work may run on either side of this line.
    let (all_before, background_before) = registry_requests(&cold).await?;
    assert_eq!(listed(&cold, &path).await?, wheels("moving", [0, 2, 3, 4]));
    // The page itself: the tag list, the document, and the one release it lacks (its size
    // and the document's rewrite come after, in the background).
    direct
        .wait_for_listing(&repository, &["1.0.0", "1.0.2", "1.0.3", "1.0.4"])
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (all, background) = registry_requests(&cold).await?;
    assert_eq!((all - background) - (all_before - background_before), 3.0);
    Ok(())
}

/// Documents that cannot be trusted are not used: the page comes from the tags, and the
/// document is rewritten when it is ours (unreadable, tampered with, another repository's);
/// a newer server's document and another tool's content under the tag are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_listing_documents_are_not_trusted() -> anyhow::Result<()> {
    let (env, direct, repository, path, good) = seeded("guarded", 2).await?;
    let expected = wheels("guarded", 0..2);

    // A release index recorded with a file that is not in the registry, its digest unchanged.
    let mut forged = good.document.clone();
    let mut index = good.index("1.0.0").unwrap();
    let mut extra = index["manifests"][0].clone();
    extra["platform"]["architecture"] = json!("py2-none-any.whl");
    index["manifests"].as_array_mut().unwrap().push(extra);
    forged["tags"][0]["index"] = json!(index.to_string());
    let mut newer = good.document.clone();
    newer["schemaVersion"] = json!(2);
    let mut elsewhere = good.document.clone();
    elsewhere["repository"] = json!("someone/else");
    let cases: [(&str, Vec<u8>, bool); 4] = [
        ("not JSON", b"{ not json".to_vec(), true),
        ("tampered index", forged.to_string().into_bytes(), true),
        (
            "another repository",
            elsewhere.to_string().into_bytes(),
            true,
        ),
        ("a newer schema", newer.to_string().into_bytes(), false),
    ];
    for (case, document, replaceable) in cases {
        let digest = put_listing(&direct, &repository, document).await?;
        let cold = Server::start_for(&env.registry, |_| {}).await?;
        assert_eq!(listed(&cold, &path).await?, expected, "{case}");
        if replaceable {
            let (direct, repository, good, digest) = (&direct, &repository, &good, &digest);
            eventually(case, || async move {
                // Until it is rewritten, the document may not even be JSON.
                let now = direct.listing(repository).await.ok().flatten();
                Ok(now.is_some_and(|now| now.digest != *digest && now.document == good.document))
            })
            .await?;
        } else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let (_, now, _) = direct.manifest(&repository, LISTING).await?.unwrap();
            assert_eq!(now, digest, "{case}: overwritten");
        }
    }

    // The same in the reserved index form: a document that is not gzip, and one that does
    // not match its digest, are rewritten.
    let gzip = |bytes: &[u8]| -> anyhow::Result<String> {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(encoder.finish()?))
    };
    let good_bytes = good.document.to_string().into_bytes();
    let index_cases = [
        (
            "not gzip",
            "bm90IGd6aXA=".to_owned(),
            sha256_digest(&good_bytes),
        ),
        ("another digest", gzip(&good_bytes)?, sha256_digest(b"{}")),
    ];
    for (case, encoded, digest) in index_cases {
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "artifactType": "application/pyoci.package.v1",
            "manifests": [],
            "annotations": {
                oci_pypi::layout::ANNOTATION_LISTING: encoded,
                oci_pypi::layout::ANNOTATION_LISTING_DIGEST: digest,
            },
        }))?;
        let digest = direct
            .put_manifest(&repository, LISTING, OCI_INDEX, index)
            .await?;
        let cold = Server::start_for(&env.registry, |_| {}).await?;
        assert_eq!(listed(&cold, &path).await?, expected, "{case}");
        let (direct, repository, good, digest) = (&direct, &repository, &good, &digest);
        eventually(case, || async move {
            let now = direct.listing(repository).await.ok().flatten();
            Ok(now.is_some_and(|now| now.digest != *digest && now.document == good.document))
        })
        .await?;
    }

    // Another tool's content under the tag: never overwritten, never read as a listing.
    let config = direct.push_blob(&repository, b"{}".to_vec()).await?;
    let image = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2 },
        "layers": [],
    }))?;
    let digest = direct
        .put_manifest(&repository, LISTING, OCI_MANIFEST, image)
        .await?;
    let cold = Server::start_for(&env.registry, |_| {}).await?;
    assert_eq!(listed(&cold, &path).await?, expected);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, now, _) = direct.manifest(&repository, LISTING).await?.unwrap();
    assert_eq!(now, digest, "foreign content overwritten");
    Ok(())
}

/// Puts `document` under the listing tag as the server would (layer blob, no embedded
/// copy); returns the manifest's digest.
async fn put_listing(
    direct: &DirectClient,
    repository: &str,
    document: Vec<u8>,
) -> anyhow::Result<String> {
    let size = document.len();
    let blob = direct.push_blob(repository, document).await?;
    let empty = direct.push_blob(repository, b"{}".to_vec()).await?;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": oci_pypi::layout::ARTIFACT_TYPE_LISTING,
        "config": { "mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2 },
        "layers": [{ "mediaType": oci_pypi::layout::MEDIA_TYPE_LISTING, "digest": blob, "size": size }],
    }))?;
    assert_eq!(sha256_digest(&manifest).len(), 71);
    direct
        .put_manifest(repository, LISTING, OCI_MANIFEST, manifest)
        .await
}

/// A release changed in place by a tool that does not keep the document (its tag list
/// unchanged) is found by the background audit, and the document repaired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_changed_behind_the_documents_back_is_found_by_the_audit() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Anonymous, |config| {
        config.listing.listing_cache_ttl = 1;
        config.listing.listing_audit_interval = 1;
    })
    .await?;
    let direct = env.registry.direct();
    let (repository, path, _) = seeded_with_listing(&env, "edited", 1).await?;

    let files = [
        ("py3-none-any.whl", b"wheel edited 0".to_vec()),
        (".tar.gz", b"sdist added in place".to_vec()),
    ];
    push_pyoci_release(&direct, &repository, "1.0.0", &files, "{}").await?;
    let wanted = vec![
        "edited-1.0.0-py3-none-any.whl".to_owned(),
        "edited-1.0.0.tar.gz".to_owned(),
    ];
    let change = Change {
        path: &path,
        wanted: &wanted,
        repository: &repository,
        tag: "1.0.0",
        files: 2,
    };
    change.seen(&env.server, &direct).await
}

/// A release changed behind the document's back, as the page and the document should show it.
struct Change<'a> {
    /// The project page's path.
    path: &'a str,
    /// The filenames the page should list.
    wanted: &'a [String],
    repository: &'a str,
    /// The release changed, and its number of files.
    tag: &'a str,
    files: usize,
}

impl Change<'_> {
    /// Waits until `server`'s page lists the change, then until the document records it.
    async fn seen(&self, server: &Server, direct: &DirectClient) -> anyhow::Result<()> {
        eventually("the page lists the change", || async move {
            Ok(listed(server, self.path).await? == self.wanted)
        })
        .await?;
        eventually("the document records the change", || async move {
            let stored = direct.listing(self.repository).await?;
            Ok(stored.and_then(|s| s.index(self.tag)).is_some_and(|index| {
                index["manifests"].as_array().map(Vec::len) == Some(self.files)
            }))
        })
        .await
    }
}

/// Files added in place to a young release (a file of it uploaded less than one audit interval
/// ago: the rest of a build matrix) by a tool that does not keep the document are seen within
/// the page cache's TTL, not at the next audit (600 s, the default, here), and the document
/// is repaired to record them. Older releases are still taken from the document: a cold page
/// costs the tag list, the document and one request per young release. A server that only
/// reads documents, which finds the young release changed before the document records it,
/// keeps trusting the document for the old releases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_added_in_place_to_a_young_release_are_seen_within_the_ttl() -> anyhow::Result<()> {
    let env = TestEnv::start_with(AuthMode::Anonymous, |config| {
        config.listing.listing_cache_ttl = 1;
    })
    .await?;
    let direct = env.registry.direct();
    let repository = format!("{}/matrix", env.namespace);
    let now = now_rfc3339()?;
    let linux = (
        "cp312-cp312-manylinux_2_17_x86_64.whl",
        b"linux wheel".to_vec(),
    );
    let mac = ("cp312-cp312-macosx_14_0_arm64.whl", b"mac wheel".to_vec());
    let mut wanted = Vec::new();
    for old in ["0.8.0", "0.9.0", "1.0.0"] {
        let files = [(
            "py3-none-any.whl",
            format!("old release {old}").into_bytes(),
        )];
        push_pyoci_release(&direct, &repository, old, &files, "{}").await?;
        wanted.push(format!("matrix-{old}-py3-none-any.whl"));
    }
    let young = [linux.clone()];
    push_pyoci_release_created(&direct, &repository, "1.0.1", &young, "{}", &now).await?;
    wanted.push("matrix-1.0.1-cp312-cp312-manylinux_2_17_x86_64.whl".to_owned());
    let path = format!("{}/matrix/", env.base_path());
    assert_eq!(listed(&env.server, &path).await?, wanted);
    direct
        .wait_for_listing(&repository, &["0.8.0", "0.9.0", "1.0.0", "1.0.1"])
        .await?;
    env.server.settled().await?;
    let reader = Server::start_for(&env.registry, |config| {
        config.listing.listing_cache_ttl = 1;
        config.listing.listing_documents = ListingDocumentsMode::Read;
    })
    .await?;
    assert_eq!(listed(&reader, &path).await?, wanted);

    let matrix = [linux, mac];
    push_pyoci_release_created(&direct, &repository, "1.0.1", &matrix, "{}", &now).await?;
    wanted.push("matrix-1.0.1-cp312-cp312-macosx_14_0_arm64.whl".to_owned());
    wanted.sort();
    // The reader sees the change first (the writer has not read the project since).
    let (reader_ref, path_ref, wanted_ref) = (&reader, &path, &wanted);
    eventually("the reader lists the macOS wheel", || async move {
        Ok(listed(reader_ref, path_ref).await? == *wanted_ref)
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        requests_for_page(&reader, &path, &wanted).await?,
        3.0,
        "the reader still takes the old releases from the document"
    );

    let change = Change {
        path: &path,
        wanted: &wanted,
        repository: &repository,
        tag: "1.0.1",
        files: 2,
    };
    change.seen(&env.server, &direct).await?;
    env.server.settled().await?;

    let cold = Server::start_for(&env.registry, |_| {}).await?;
    assert_eq!(
        requests_for_page(&cold, &path, &wanted).await?,
        3.0,
        "a cold page costs the tag list, the document and the young release"
    );
    Ok(())
}

/// The registry requests one page of `path` costs `server` (with what its background work
/// does within 500 ms), checking that the page lists `wanted`.
async fn requests_for_page(server: &Server, path: &str, wanted: &[String]) -> anyhow::Result<f64> {
    let (before, _) = registry_requests(server).await?;
    assert_eq!(listed(server, path).await?, wanted);
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(registry_requests(server).await?.0 - before)
}

/// A server in front of `fake` keeping pages `listing_cache_ttl` seconds, and the path of the
/// fake's project page.
async fn serve_fake(
    fake: &FakeRegistry,
    listing_cache_ttl: u64,
) -> anyhow::Result<(Server, String)> {
    let origin = oci_pypi::net::Origin::parse(&fake.origin())?;
    let mut config = oci_pypi::config::Config::for_registries(vec![origin]);
    config.listing.listing_cache_ttl = listing_cache_ttl;
    let server = Server::start(config).await?;
    let path = format!(
        "/{}/{}/{}/",
        fake.host(),
        fake_registry::NAMESPACE,
        fake_registry::PROJECT
    );
    Ok((server, path))
}

/// A registry that refuses the listing document's tag still serves pages, from the tags; the
/// refusal is remembered instead of being tried again on every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_refuses_the_listing_tag_still_serves_pages() -> anyhow::Result<()> {
    let fake = FakeRegistry::start()?;
    fake.set_fault(
        Endpoint::ManifestPut,
        Fault::Status(403, r#"{"errors":[{"code":"DENIED"}]}"#.to_owned()),
    );
    let (server, path) = serve_fake(&fake, 0).await?;
    for _ in 0..5 {
        assert_eq!(listed(&server, &path).await?, [fake_registry::FILENAME]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        fake.requests(Endpoint::ManifestPut),
        1,
        "the refused document was tried again"
    );
    Ok(())
}

/// A registry that refuses an index without manifests (the reserved form) gets the document
/// as an image manifest instead, which pages read as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_refuses_empty_indexes_gets_the_manifest_form() -> anyhow::Result<()> {
    let fake = FakeRegistry::start()?;
    fake.refuse_empty_indexes();
    let (server, path) = serve_fake(&fake, 0).await?;
    assert_eq!(listed(&server, &path).await?, [fake_registry::FILENAME]);
    let fake_ref = &fake;
    eventually("the document is written", || async move {
        Ok(fake_ref.has_tag(fake_registry::REPOSITORY, LISTING))
    })
    .await?;
    assert_eq!(
        fake.media_type(fake_registry::REPOSITORY, LISTING)
            .as_deref(),
        Some("application/vnd.oci.image.manifest.v1+json")
    );
    // A fresh server reads it: the tag list and the document, nothing per release.
    let (fresh, path) = serve_fake(&fake, 0).await?;
    let before = fake.requests(Endpoint::ManifestGet);
    assert_eq!(listed(&fresh, &path).await?, [fake_registry::FILENAME]);
    assert_eq!(fake.requests(Endpoint::ManifestGet) - before, 1);
    Ok(())
}

/// One page is shared by every caller the registry lets read it: 200 callers with made-up
/// credentials (a registry without auth lets them all read) cost one tag list each, not a
/// page build each. And a cached page is never shown to a caller the registry refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_page_serves_every_caller_the_registry_lets_read_it() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Anonymous).await?;
    // Once the background work of that first page is done (sizes learnt, document written).
    let (_, path, _) = seeded_with_listing(&env, "shared", 20).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, _) = registry_requests(&env.server).await?;
    for caller in 0..200 {
        let response = env
            .http(Method::GET, &path, false)
            .basic_auth(format!("user{caller}"), Some(format!("made-up-{caller}")))
            .send()
            .await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let spent = registry_requests(&env.server).await?.0 - before;
    assert!(
        spent <= 200.0 + 30.0,
        "200 callers cost {spent} registry requests (a page build each costs 21+)"
    );

    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let (user, password) = env.credentials().unwrap();
    let spec = crate::harness::DistSpec::new("private", "1.0");
    env.publish_wheel(&spec).await?;
    let path = format!("{}/private/", env.base_path());
    let page = env.get(&path, true).await?;
    assert_eq!(page.status(), StatusCode::OK);
    for (name, credentials) in [
        ("anonymous", None),
        ("a wrong password", Some((user.clone(), "wrong".to_owned()))),
        (
            "an unknown user",
            Some(("mallory".to_owned(), password.clone())),
        ),
    ] {
        let request = env.http(Method::GET, &path, false);
        let request = match credentials {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        };
        let response = request.send().await?;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{name}");
        let body = response.text().await?;
        assert!(!body.contains("private-1.0"), "{name}: {body}");
    }
    Ok(())
}

/// Once a page exists, no request waits for the registry to refresh it: from half the TTL
/// on, the page is served at once while one background refresh asks the registry, even when
/// the registry takes far longer than the request (here it stalls its tag list for 30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_never_wait_for_a_refresh() -> anyhow::Result<()> {
    let fake = FakeRegistry::start()?;
    let (server, path) = serve_fake(&fake, 4).await?;
    assert_eq!(listed(&server, &path).await?, [fake_registry::FILENAME]);
    // The listing document that first page leaves behind is written by then.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    fake.set_fault(Endpoint::TagsList, Fault::Delay(Duration::from_secs(30)));
    let stalled_from = fake.requests(Endpoint::TagsList);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for _ in 0..5 {
        let page = tokio::time::timeout(Duration::from_secs(5), listed(&server, &path)).await;
        let page =
            page.map_err(|_| anyhow::anyhow!("a request waited for the stalled registry"))?;
        assert_eq!(page?, [fake_registry::FILENAME]);
    }
    // One refresh asked the registry (and is still waiting for it), not one per request.
    assert_eq!(fake.requests(Endpoint::TagsList) - stalled_from, 1);
    Ok(())
}

/// A download right after its project page (what installers do) asks the registry for the
/// bytes alone: the page's records find the file, where the release index was read for each
/// download (and the PEP 792 status too, before any page). A file the cached page does not
/// list (published through another replica since) is looked up in the registry; a caller
/// the registry refuses gets no bytes, though the page is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_after_its_page_asks_the_registry_for_the_bytes_alone() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Token).await?;
    let first = DistSpec::new("fetched", "1.0");
    let first_wheel = env.sandbox.wheel(&first).await?;
    env.twine_upload(&[&first_wheel]).await?.assert_success();
    env.server.settled().await?;
    let page = format!("{}/fetched/", env.base_path());
    let file = |spec: &DistSpec| format!("{page}{}", spec.wheel_filename());
    let get = async |path: &str, authenticated: bool| -> anyhow::Result<(StatusCode, Vec<u8>)> {
        let response = env.http(Method::GET, path, authenticated).send().await?;
        Ok((response.status(), response.bytes().await?.to_vec()))
    };

    // Without a page, a download reads the release index, the status (under its tag and
    // the legacy one, at once) and the blob.
    let (before, _) = registry_requests(&env.server).await?;
    assert_eq!(get(&file(&first), true).await?.0, StatusCode::OK);
    assert_eq!(registry_requests(&env.server).await?.0 - before, 4.0);

    assert_eq!(get(&page, true).await?.0, StatusCode::OK);
    env.server.settled().await?;
    let (before, _) = registry_requests(&env.server).await?;
    for _ in 0..3 {
        let (status, bytes) = get(&file(&first), true).await?;
        assert_eq!(status, StatusCode::OK);
        assert!(bytes == std::fs::read(&first_wheel)?);
    }
    assert_eq!(
        registry_requests(&env.server).await?.0 - before,
        3.0,
        "one request per download: the blob"
    );

    let refused = get(&file(&first), false).await?;
    assert_eq!(
        refused.0,
        StatusCode::UNAUTHORIZED,
        "the registry still decides"
    );
    assert!(refused.1 != std::fs::read(&first_wheel)?);

    let other = Server::start_for(&env.registry, |_| {}).await?;
    let second = DistSpec::new("fetched", "2.0");
    let second_wheel = env.sandbox.wheel(&second).await?;
    let through_other = format!("{}{}/", other.url(), env.base_path());
    env.twine_upload_to(&through_other, &[&second_wheel])
        .await?
        .assert_success();
    let (status, bytes) = get(&file(&second), true).await?;
    assert_eq!(
        status,
        StatusCode::OK,
        "not on the cached page: read from the registry"
    );
    assert!(bytes == std::fs::read(&second_wheel)?);
    Ok(())
}

/// A file's core metadata (PEP 658) is read from the registry once: later requests of a
/// caller the registry let read the project (its page, within the TTL) are answered from
/// memory, whole or as a `HEAD`. A caller without that is sent to the registry, which
/// decides: refused without credentials, served with pull-only ones (and from memory once
/// that caller has read the page).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_metadata_is_read_once_and_served_only_to_callers_let_read_it() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Token).await?;
    let spec = DistSpec::new("described", "1.0");
    env.publish_wheel(&spec).await?;
    env.server.settled().await?;
    let page = format!("{}/described/", env.base_path());
    let metadata = format!("{page}{}.metadata", spec.wheel_filename());
    let (reader, reader_password) = env.registry.reader_credentials().unwrap();
    let send = async |method: Method, path: &str, who: Option<(&str, &str)>| {
        let request = client().request(method, format!("{}{path}", env.server.url()));
        let request = match who {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        };
        let response = request.send().await?;
        let status = response.status();
        // The header itself: for HEAD, reqwest reports the (empty) body's length.
        let length = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        Ok::<_, anyhow::Error>((status, length, response.bytes().await?.to_vec()))
    };
    let (user, password) = env.credentials().unwrap();
    let main = Some((user.as_str(), password.as_str()));
    let pull_only = Some((reader.as_str(), reader_password.as_str()));
    let json = env.get_pep691(&page, true).await?;
    let advertised = json["files"][0]["core-metadata"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    env.server.settled().await?;

    let (before, _) = registry_requests(&env.server).await?;
    for _ in 0..3 {
        let (status, _, bytes) = send(Method::GET, &metadata, main).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), advertised);
    }
    let (status, length, _) = send(Method::HEAD, &metadata, main).await?;
    assert_eq!(status, StatusCode::OK);
    let (_, _, bytes) = send(Method::GET, &metadata, main).await?;
    assert_eq!(length, Some(bytes.len() as u64));
    assert_eq!(
        registry_requests(&env.server).await?.0 - before,
        1.0,
        "one read of the blob for five requests"
    );

    let (status, _, _) = send(Method::GET, &metadata, None).await?;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the registry decides");

    let (before, _) = registry_requests(&env.server).await?;
    let (status, _, bytes) = send(Method::GET, &metadata, pull_only).await?;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), advertised);
    assert!(
        registry_requests(&env.server).await?.0 - before >= 1.0,
        "a caller that has not read the page is sent to the registry"
    );
    assert_eq!(send(Method::GET, &page, pull_only).await?.0, StatusCode::OK);
    env.server.settled().await?;
    let (before, _) = registry_requests(&env.server).await?;
    assert_eq!(
        send(Method::GET, &metadata, pull_only).await?.0,
        StatusCode::OK
    );
    assert_eq!(registry_requests(&env.server).await?.0 - before, 0.0);
    Ok(())
}

/// A page whose cache has expired asks for the document it knows with the tag list, not after
/// it (one round trip to a far registry, not two): the document's manifest is asked for while
/// the tag list is still unanswered. A server that has read no document yet (PyOCI's data has
/// none) pays no request for a document a project may not have: nothing but the tag list
/// until it answers. Once a project of a namespace was read with a document, the first page
/// of another project there asks for both at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_asks_for_the_tags_and_an_expected_document_at_once() -> anyhow::Result<()> {
    let fake = FakeRegistry::start()?;
    fake.add_project("second")?;
    let (server, path) = serve_fake(&fake, 1).await?;
    let second_path = path.replace(fake_registry::PROJECT, "second");
    assert_eq!(listed(&server, &path).await?, [fake_registry::FILENAME]);
    assert_eq!(
        listed(&server, &second_path).await?,
        [fake_registry::wheel_filename("second", fake_registry::TAG)]
    );
    // The documents the first pages leave behind are written, and the pages have expired:
    // the next page reads the document and remembers it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for project in [fake_registry::PROJECT, "second"] {
        let repository = format!("{}/{project}", fake_registry::NAMESPACE);
        assert!(fake.has_tag(&repository, LISTING), "{repository}");
    }
    assert_eq!(listed(&server, &path).await?, [fake_registry::FILENAME]);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Tags stalled: the page waits (its cache expired), and the document is asked for
    // meanwhile.
    let asked = manifests_asked_while_tags_stall(&fake, &server, &path).await?;
    assert!(
        asked > 0,
        "the document was not asked for while the tag list was unanswered"
    );

    // A server that never read a document: the tag list alone until it answers.
    let (fresh, path) = serve_fake(&fake, 1).await?;
    let asked = manifests_asked_while_tags_stall(&fake, &fresh, &path).await?;
    assert_eq!(
        asked, 0,
        "a manifest was asked for before the tag list answered"
    );
    // It read that project's document: another project of the namespace is asked for its
    // document with its tags.
    let asked = manifests_asked_while_tags_stall(&fake, &fresh, &second_path).await?;
    assert!(
        asked > 0,
        "a project of a namespace with documents waited for its tags before its document"
    );
    Ok(())
}

/// A young release (a file of it uploaded within the audit interval: read from the registry
/// at every read, docs/design.md reading rule 6) is asked for with the tag list and the
/// document at the next read, not after them: the page waits one round trip to a far
/// registry, not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_young_release_is_asked_for_with_the_tags() -> anyhow::Result<()> {
    let fake = FakeRegistry::start()?;
    let now = now_rfc3339()?;
    fake.add_release_at("2.0", &now)?;
    let (server, path) = serve_fake(&fake, 1).await?;
    let mut wanted = vec![
        fake_registry::FILENAME.to_owned(),
        fake_registry::release_filename("2.0"),
    ];
    wanted.sort();
    assert_eq!(listed(&server, &path).await?, wanted);
    // The document the first page leaves behind is written, the page has expired: the next
    // page reads the document, and the young release from the registry.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let repository = format!("{}/{}", fake_registry::NAMESPACE, fake_registry::PROJECT);
    assert!(fake.has_tag(&repository, LISTING));
    assert_eq!(listed(&server, &path).await?, wanted);
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let asked = manifests_asked_while_tags_stall(&fake, &server, &path).await?;
    assert_eq!(
        asked, 2,
        "the document and the young release, while the tag list was unanswered"
    );
    assert_eq!(listed(&server, &path).await?, wanted);
    Ok(())
}

/// Fetches `path` from `server` while the fake's tag list stalls 4 s once; how many manifests
/// were asked for during the first 2 s (the page must still be waiting then, and list
/// [`fake_registry`]'s one file of its project).
async fn manifests_asked_while_tags_stall(
    fake: &FakeRegistry,
    server: &Server,
    path: &str,
) -> anyhow::Result<usize> {
    let stall = Duration::from_secs(4);
    let manifests_before = fake.requests(Endpoint::ManifestGet);
    fake.set_fault(
        Endpoint::TagsList,
        Fault::Once(Box::new(Fault::Delay(stall))),
    );
    let started = std::time::Instant::now();
    let page = tokio::spawn({
        let url = format!("{}{path}", server.url());
        async move { client().get(url).send().await?.text().await }
    });
    tokio::time::sleep(stall / 2 - started.elapsed().min(stall / 2)).await;
    let asked = fake.requests(Endpoint::ManifestGet) - manifests_before;
    anyhow::ensure!(!page.is_finished(), "{path} did not wait for the tags");
    let body = page.await??;
    anyhow::ensure!(
        body.contains("-py3-none-any.whl"),
        "{path} lists no file: {body}"
    );
    Ok(asked)
}
