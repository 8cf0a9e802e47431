//! The blob cache (`--blob-cache-dir`): files downloaded once are sent again from the server's
//! disk, byte for byte and with ranges, to real installers; only to callers the registry lets
//! read them, and never once the registry no longer has them; bounded, and kept across
//! restarts.

use std::path::Path;

use oci_pypi::config::Config;
use oci_pypi::net::{Origin, Secret};
use oci_pypi::storage::blob_cache::BlobCache;
use oci_pypi::storage::registry::{ClientOptions, RegistryAuth, RegistryClient};
use oci_pypi::storage::{BlobRequest, Blobs as _, Digest, Repository, StorageError};
use oci_pypi::telemetry::Metrics;
use reqwest::header::RANGE;
use reqwest::{Method, StatusCode};
use sha2::{Digest as _, Sha256};

use crate::harness::fake_registry::{self, Endpoint, FakeRegistry, Fault};
use crate::harness::token_server::{Grant, TokenUser};
use crate::harness::{AuthMode, DistSpec, TestEnv, UploadForm, metric_value};

/// The server's blob cache in `dir`, holding at most `size` bytes.
fn cache_in(dir: &Path, size: u64) -> impl FnOnce(&mut Config) + use<> {
    let dir = dir.to_owned();
    move |config: &mut Config| {
        config.registry.blob_cache_dir = Some(dir);
        config.registry.blob_cache_size = size;
    }
}

async fn lookups(env: &TestEnv, result: &str) -> anyhow::Result<f64> {
    let metrics = env.server.metrics().await?;
    let line = format!("oci_pypi_blob_cache_lookups_total{{result=\"{result}\"}}");
    Ok(metric_value(&metrics, &line))
}

/// Waits (up to 10 s) until `count` blobs were stored by fills.
async fn stored(env: &TestEnv, count: f64) -> anyhow::Result<()> {
    let line = "oci_pypi_blob_cache_fills_total{result=\"stored\"}";
    for _ in 0..200 {
        if metric_value(&env.server.metrics().await?, line) >= count {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!(
        "{count} fills were not stored:\n{}",
        env.server.metrics().await?
    )
}

/// The blobs in the cache directory.
fn cached_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("sha256"))
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn download(
    env: &TestEnv,
    path: &str,
    range: Option<&str>,
) -> anyhow::Result<(StatusCode, Vec<u8>)> {
    let mut request = env.http(Method::GET, path, true);
    if let Some(range) = range {
        request = request.header(RANGE, range);
    }
    let response = request.send().await?;
    Ok((response.status(), response.bytes().await?.to_vec()))
}

/// Publishes a 64 KiB wheel of `project` 1.0, which the cache keeps, and downloads it once;
/// its path on the server, its bytes, and the cache hits counted so far.
async fn publish_and_cache(env: &TestEnv, project: &str) -> anyhow::Result<(String, Vec<u8>, f64)> {
    let spec = DistSpec::new(project, "1.0").payload_bytes(64 * 1024);
    let wheel = env.sandbox.wheel(&spec).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    stored(env, 1.0).await?;
    let bytes = std::fs::read(&wheel)?;
    let path = format!("{}/{project}/{}", env.base_path(), spec.wheel_filename());
    assert_eq!(
        download(env, &path, None).await?,
        (StatusCode::OK, bytes.clone())
    );
    Ok((path, bytes, lookups(env, "hit").await?))
}

/// A file downloaded once is then sent from the cache, whole and in ranges, byte for byte, in
/// each authentication mode; pip and uv install from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_sent_again_from_the_cache() -> anyhow::Result<()> {
    for mode in [AuthMode::Anonymous, AuthMode::Htpasswd, AuthMode::Token] {
        let dir = tempfile::tempdir()?;
        let mut env = TestEnv::start(mode).await?;
        let spec = DistSpec::new("cached", "1.0").payload_bytes(3 * 1024 * 1024);
        let wheel = env.sandbox.wheel(&spec).await?;
        env.twine_upload(&[&wheel]).await?.assert_success();
        let bytes = std::fs::read(&wheel)?;
        // Published before the cache was on: the first download fills it.
        env.reconfigure(cache_in(dir.path(), 1 << 30)).await?;
        let path = format!("{}/cached/{}", env.base_path(), spec.wheel_filename());

        assert_eq!(
            download(&env, &path, None).await?,
            (StatusCode::OK, bytes.clone())
        );
        stored(&env, 1.0).await?;
        assert_eq!(cached_files(dir.path()), [sha256_hex(&bytes)], "{mode:?}");
        assert_eq!(lookups(&env, "hit").await?, 0.0);

        assert_eq!(
            download(&env, &path, None).await?,
            (StatusCode::OK, bytes.clone())
        );
        let (status, part) = download(&env, &path, Some("bytes=1000-1999")).await?;
        assert_eq!(
            (status, part.as_slice()),
            (StatusCode::PARTIAL_CONTENT, &bytes[1000..2000])
        );
        let (status, _) = download(&env, &path, Some(&format!("bytes={}-", bytes.len()))).await?;
        assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(lookups(&env, "hit").await?, 3.0, "{mode:?}");

        if mode == AuthMode::Token {
            let url = env.index_url_with_credentials();
            let expected = [(spec.module(), "1.0")];
            let expected: Vec<(&str, &str)> =
                expected.iter().map(|(m, v)| (m.as_str(), *v)).collect();
            env.sandbox
                .assert_pip_installs(&url, &["cached"], &expected)
                .await?;
            env.sandbox
                .assert_uv_installs(&url, &["cached"], &expected)
                .await?;
            assert!(lookups(&env, "hit").await? >= 5.0);
        }
    }
    Ok(())
}

/// The cache never decides who may read a file: a caller the registry refuses gets the
/// registry's refusal, not the cached bytes (before each send from the cache the registry is
/// asked with the caller's own credentials); a pull-only user the registry allows gets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_file_goes_only_to_callers_the_registry_lets_read_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let env = TestEnv::start_with(AuthMode::Token, cache_in(dir.path(), 1 << 30)).await?;
    let (path, bytes, hits) = publish_and_cache(&env, "guarded").await?;

    let outsider = TokenUser::new(
        "outsider",
        "outsider-password",
        Grant::Within(vec!["elsewhere/".to_owned()]),
    );
    env.registry.token_server().unwrap().add_user(outsider);
    let callers = [
        ("anonymous", None),
        ("wrong password", Some(("ci-user", "not-the-password"))),
        ("outsider", Some(("outsider", "outsider-password"))),
    ];
    for (who, credentials) in callers {
        for range in [None, Some("bytes=0-99")] {
            let mut request = env.http(Method::GET, &path, false);
            if let Some((user, password)) = credentials {
                request = request.basic_auth(user, Some(password));
            }
            if let Some(range) = range {
                request = request.header(RANGE, range);
            }
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&status),
                "{who} {range:?}: {status}"
            );
            assert!(
                !body
                    .windows(64)
                    .any(|w| bytes.windows(64).next() == Some(w)),
                "{who} {range:?} got the file's bytes"
            );
        }
    }
    assert_eq!(
        lookups(&env, "hit").await?,
        hits,
        "no refused caller was sent from the cache"
    );

    let (reader, password) = env.registry.reader_credentials().unwrap();
    let response = env
        .http(Method::GET, &path, false)
        .basic_auth(&reader, Some(&password))
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await?.as_ref(), bytes.as_slice());
    assert_eq!(lookups(&env, "hit").await?, hits + 1.0);

    // The same below the index, where no release manifest was read first: the store itself
    // asks the registry before it sends cached bytes.
    let metrics = std::sync::Arc::new(Metrics::default());
    let cache = BlobCache::open(dir.path(), 1 << 30, std::sync::Arc::clone(&metrics))?;
    let client = RegistryClient::new(&ClientOptions {
        blob_cache: Some(cache),
        metrics: std::sync::Arc::clone(&metrics),
        ..ClientOptions::default()
    })?;
    let origin = Origin::parse(&env.registry.origin())?;
    let repository = Repository::parse(&format!("{}/guarded", env.namespace))?;
    let digest = Digest::from_sha256_hex(&sha256_hex(&bytes))?;
    let outsider = RegistryAuth::Basic {
        username: "outsider".to_owned(),
        password: Secret::new("outsider-password".to_owned()),
    };
    for auth in [RegistryAuth::Anonymous, outsider] {
        let store = client.registry(origin.clone(), auth);
        let refused = store
            .get_blob(&repository, &digest, BlobRequest::default())
            .await;
        assert!(
            matches!(
                refused,
                Err(StorageError::Unauthorized { .. } | StorageError::Forbidden { .. })
            ),
            "{refused:?}"
        );
    }
    let reader = RegistryAuth::Basic {
        username: reader,
        password: Secret::new(password),
    };
    let store = client.registry(origin, reader);
    let sent = store
        .get_blob(&repository, &digest, BlobRequest::default())
        .await?;
    let body = sent.expect("the reader may read it").body;
    let chunks: Vec<_> = futures_util::StreamExt::collect(body).await;
    let sent: Vec<u8> = chunks
        .into_iter()
        .flat_map(|chunk| chunk.unwrap())
        .collect();
    assert_eq!(sent, bytes);
    let line = "oci_pypi_blob_cache_lookups_total{result=\"hit\"}";
    assert_eq!(
        metric_value(&metrics.render(), line),
        1.0,
        "sent from the cache"
    );
    Ok(())
}

/// A blob deleted from the registry behind the server's back is not sent from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_gone_from_the_registry_is_not_sent_from_the_cache() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let env = TestEnv::start_with(AuthMode::Anonymous, cache_in(dir.path(), 1 << 30)).await?;
    let (path, bytes, hits) = publish_and_cache(&env, "vanishing").await?;

    let repository = format!("{}/vanishing", env.namespace);
    let url = format!(
        "{}/v2/{repository}/blobs/sha256:{}",
        env.registry.origin(),
        sha256_hex(&bytes)
    );
    let deleted = crate::harness::client().delete(&url).send().await?;
    assert_eq!(deleted.status(), StatusCode::ACCEPTED, "{url}");

    let (status, body) = download(&env, &path, None).await?;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(lookups(&env, "hit").await?, hits);
    Ok(())
}

/// The cache stays within its size, the least recently used file going first, and what it
/// holds is used again after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_is_bounded_and_outlives_the_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let capacity = 300 * 1024;
    let mut env = TestEnv::start(AuthMode::Anonymous).await?;
    let mut files = Vec::new();
    for name in ["first", "second", "third"] {
        let spec = DistSpec::new(name, "1.0").payload_bytes(120 * 1024);
        let wheel = env.sandbox.wheel(&spec).await?;
        env.twine_upload(&[&wheel]).await?.assert_success();
        let path = format!("{}/{name}/{}", env.base_path(), spec.wheel_filename());
        files.push((path, std::fs::read(&wheel)?));
    }
    let [first, second, third] = &files[..] else {
        unreachable!()
    };
    // Published before the cache was on: downloads fill it.
    env.reconfigure(cache_in(dir.path(), capacity)).await?;
    for (count, (path, bytes)) in [first, second].into_iter().enumerate() {
        assert_eq!(
            download(&env, path, None).await?,
            (StatusCode::OK, bytes.clone())
        );
        stored(&env, count as f64 + 1.0).await?;
    }
    // `first` used again: `second` is now the least recently used.
    assert_eq!(
        download(&env, &first.0, None).await?,
        (StatusCode::OK, first.1.clone())
    );
    assert_eq!(
        download(&env, &third.0, None).await?,
        (StatusCode::OK, third.1.clone())
    );
    stored(&env, 3.0).await?;
    let mut expected = vec![sha256_hex(&first.1), sha256_hex(&third.1)];
    expected.sort();
    assert_eq!(cached_files(dir.path()), expected);
    let metrics = env.server.metrics().await?;
    let held = metric_value(&metrics, "oci_pypi_blob_cache_bytes");
    assert!(held > 0.0 && held <= capacity as f64, "{metrics}");

    env.reconfigure(cache_in(dir.path(), capacity)).await?;
    assert_eq!(
        download(&env, &third.0, None).await?,
        (StatusCode::OK, third.1.clone())
    );
    assert_eq!(
        download(&env, &second.0, None).await?,
        (StatusCode::OK, second.1.clone())
    );
    assert_eq!(
        lookups(&env, "hit").await?,
        1.0,
        "the restarted server found `third`"
    );

    // A file removed under the cache (by hand, or by another process sharing the
    // directory) is fetched from the registry again, and kept again.
    let third_file = dir.path().join("sha256").join(sha256_hex(&third.1));
    stored(&env, 1.0).await?;
    std::fs::remove_file(&third_file)?;
    assert_eq!(
        download(&env, &third.0, None).await?,
        (StatusCode::OK, third.1.clone())
    );
    stored(&env, 2.0).await?;
    assert!(third_file.exists());
    assert_eq!(
        download(&env, &third.0, None).await?,
        (StatusCode::OK, third.1.clone())
    );
    assert_eq!(lookups(&env, "hit").await?, 2.0);
    Ok(())
}

/// A file published through the server is kept in its blob cache as it is uploaded, so its
/// first download is sent from the disk; an upload the server refuses (a `sha256_digest`
/// that is not the file's) keeps nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_published_through_the_server_is_sent_from_the_cache_at_once() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let env = TestEnv::start_with(AuthMode::Token, cache_in(dir.path(), 1 << 30)).await?;
    let spec = DistSpec::new("fresh", "1.0").payload_bytes(3 << 20);
    let wheel = env.sandbox.wheel(&spec).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let bytes = std::fs::read(&wheel)?;
    stored(&env, 1.0).await?;
    assert_eq!(cached_files(dir.path()), [sha256_hex(&bytes)]);

    let path = format!("{}/fresh/{}", env.base_path(), spec.wheel_filename());
    assert_eq!(
        download(&env, &path, None).await?,
        (StatusCode::OK, bytes.clone())
    );
    assert_eq!(lookups(&env, "hit").await?, 1.0, "the first download");
    assert_eq!(lookups(&env, "miss").await?, 0.0);

    let other = DistSpec::new("refused", "1.0").payload_bytes(64 * 1024);
    let other_bytes = std::fs::read(env.sandbox.wheel(&other).await?)?;
    let form = UploadForm::wheel(&other, &other_bytes).field("sha256_digest", "0".repeat(64));
    let response = env.upload(&form, true).await?;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    for _ in 0..100 {
        let dropped = "oci_pypi_blob_cache_fills_total{result=\"abandoned\"}";
        if metric_value(&env.server.metrics().await?, dropped) >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        cached_files(dir.path()),
        [sha256_hex(&bytes)],
        "nothing more kept"
    );
    let tmp = std::fs::read_dir(dir.path().join("tmp"))?.count();
    assert_eq!(tmp, 0, "the refused upload's copy is gone");
    Ok(())
}

/// A blob too large to be copied as its download passes (here: any, `copied_max` 0) is
/// fetched by the cache itself once the download is over, from the registry with the
/// downloading caller's access (a pull-only token user); the download itself is unchanged,
/// and the blob is then sent from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_blob_is_fetched_by_the_cache_after_its_download() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Token).await?;
    let spec = DistSpec::new("ahead", "1.0").payload_bytes(3 << 20);
    let wheel = env.sandbox.wheel(&spec).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let bytes = std::fs::read(&wheel)?;

    let dir = tempfile::tempdir()?;
    let (client, metrics) = fetching_client(dir.path())?;
    let (reader, password) = env.registry.reader_credentials().unwrap();
    let reader = RegistryAuth::Basic {
        username: reader,
        password: Secret::new(password),
    };
    let store = client.registry(Origin::parse(&env.registry.origin())?, reader);
    let repository = Repository::parse(&format!("{}/ahead", env.namespace))?;
    let digest = Digest::from_sha256_hex(&sha256_hex(&bytes))?;
    let get = async || read_blob(&store, &repository, &digest).await;

    assert!(get().await? == bytes, "the first download is unchanged");
    fills_ended(&metrics, "stored", 1.0).await?;
    let rendered = metrics.render();
    assert_eq!(
        metric_value(&rendered, "oci_pypi_blob_cache_fetched_bytes_total"),
        bytes.len() as f64,
        "the blob came from the cache's own request"
    );
    assert_eq!(cached_files(dir.path()), vec![digest.hex().to_owned()]);
    assert!(std::fs::read(dir.path().join("sha256").join(digest.hex()))? == bytes);

    assert!(get().await? == bytes);
    let hits = "oci_pypi_blob_cache_lookups_total{result=\"hit\"}";
    assert_eq!(metric_value(&metrics.render(), hits), 1.0);
    Ok(())
}

/// `--blob-cache-copy-max` reaches the cache: at 0 even a small file is fetched again by the
/// cache after its first download; raised above a 20 MiB file, that file is copied as its
/// download passes (where its writer falls 16 MiB behind, the fetch finishes it: the two ways
/// are told apart by the bytes fetched). Kept byte for byte, then sent from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_copy_limit_is_the_operators() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Htpasswd).await?;
    let small = DistSpec::new("limited", "1.0").payload_bytes(64 * 1024);
    let large = DistSpec::new("limited", "2.0").payload_bytes(20 << 20);
    let mut files = Vec::new();
    for spec in [&small, &large] {
        let wheel = env.sandbox.wheel(spec).await?;
        env.twine_upload(&[&wheel]).await?.assert_success();
        let path = format!("{}/limited/{}", env.base_path(), spec.wheel_filename());
        files.push((path, std::fs::read(&wheel)?));
    }
    let fetched = async |env: &TestEnv| -> anyhow::Result<f64> {
        let line = "oci_pypi_blob_cache_fetched_bytes_total";
        Ok(metric_value(&env.server.metrics().await?, line))
    };

    let dir = tempfile::tempdir()?;
    let (path, bytes) = &files[0];
    let cache = cache_in(dir.path(), 1 << 30);
    env.reconfigure(move |config: &mut Config| {
        cache(config);
        config.registry.blob_cache_copy_max = 0;
    })
    .await?;
    assert_eq!(
        download(&env, path, None).await?,
        (StatusCode::OK, bytes.clone())
    );
    stored(&env, 1.0).await?;
    assert_eq!(
        fetched(&env).await?,
        bytes.len() as f64,
        "not copied: fetched"
    );
    assert_eq!(cached_files(dir.path()), [sha256_hex(bytes)]);

    let dir = tempfile::tempdir()?;
    let (path, bytes) = &files[1];
    let cache = cache_in(dir.path(), 1 << 30);
    env.reconfigure(move |config: &mut Config| {
        cache(config);
        config.registry.blob_cache_copy_max = 64 << 20;
    })
    .await?;
    assert_eq!(
        download(&env, path, None).await?,
        (StatusCode::OK, bytes.clone())
    );
    stored(&env, 1.0).await?;
    let fetched = fetched(&env).await?;
    assert!(
        fetched == 0.0 || fetched == bytes.len() as f64,
        "copied on the way, or finished by one fetch: {fetched}"
    );
    assert_eq!(cached_files(dir.path()), [sha256_hex(bytes)]);
    assert!(std::fs::read(dir.path().join("sha256").join(sha256_hex(bytes)))? == *bytes);
    assert_eq!(
        download(&env, path, None).await?,
        (StatusCode::OK, bytes.clone())
    );
    assert_eq!(lookups(&env, "hit").await?, 1.0);
    Ok(())
}

/// A registry that fails the cache's own fetch of a blob: nothing is kept, the download is
/// unchanged, and the next download fills the cache again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fetch_by_the_cache_keeps_nothing() -> anyhow::Result<()> {
    let fake = FakeRegistry::start()?;
    let bytes = fake_registry::file_bytes();
    let dir = tempfile::tempdir()?;
    let (client, metrics) = fetching_client(dir.path())?;
    let store = client.registry(Origin::parse(&fake.origin())?, RegistryAuth::Anonymous);
    let repository = Repository::parse(fake_registry::REPOSITORY)?;
    let digest = Digest::from_sha256_hex(&fake_registry::file_sha256())?;

    // The download is under way when the registry starts failing: the cache's fetch fails.
    let download = store
        .get_blob(&repository, &digest, BlobRequest::default())
        .await?
        .expect("the blob is there");
    fake.set_fault(Endpoint::BlobGet, Fault::Status(500, "{}".to_owned()));
    let chunks: Vec<_> = futures_util::StreamExt::collect(download.body).await;
    let sent: Vec<u8> = chunks.into_iter().flat_map(Result::unwrap).collect();
    assert!(sent == bytes, "the download is unchanged");
    fills_ended(&metrics, "abandoned", 1.0).await?;
    assert!(cached_files(dir.path()).is_empty());
    let asked = fake.requests(Endpoint::BlobGet);
    assert!(asked > 1, "the cache asked (and asked again): {asked}");

    fake.clear_faults();
    assert!(read_blob(&store, &repository, &digest).await? == bytes);
    fills_ended(&metrics, "stored", 1.0).await?;
    assert_eq!(cached_files(dir.path()), vec![digest.hex().to_owned()]);
    let fetched = metric_value(&metrics.render(), "oci_pypi_blob_cache_fetched_bytes_total");
    assert_eq!(fetched, bytes.len() as f64);
    assert!(read_blob(&store, &repository, &digest).await? == bytes);
    let hits = "oci_pypi_blob_cache_lookups_total{result=\"hit\"}";
    assert_eq!(metric_value(&metrics.render(), hits), 1.0);
    Ok(())
}

/// A registry client whose blob cache in `dir` copies no blob as its download passes: the
/// cache fetches each one itself afterwards; and its metrics.
fn fetching_client(
    dir: &Path,
) -> anyhow::Result<(std::sync::Arc<RegistryClient>, std::sync::Arc<Metrics>)> {
    let metrics = std::sync::Arc::new(Metrics::default());
    let cache = BlobCache::open_copying(dir, 1 << 30, 0, std::sync::Arc::clone(&metrics))?;
    let client = RegistryClient::new(&ClientOptions {
        blob_cache: Some(cache),
        metrics: std::sync::Arc::clone(&metrics),
        ..ClientOptions::default()
    })?;
    Ok((client, metrics))
}

/// The whole blob `digest` read through `store`.
async fn read_blob(
    store: &oci_pypi::storage::registry::Registry,
    repository: &Repository,
    digest: &Digest,
) -> anyhow::Result<Vec<u8>> {
    let sent = store
        .get_blob(repository, digest, BlobRequest::default())
        .await?;
    let body = sent.expect("the blob is there").body;
    let chunks: Vec<_> = futures_util::StreamExt::collect(body).await;
    Ok(chunks.into_iter().flat_map(Result::unwrap).collect())
}

/// Waits (up to 10 s) until `count` fills ended with `result` in `metrics`.
async fn fills_ended(metrics: &Metrics, result: &str, count: f64) -> anyhow::Result<()> {
    let line = format!("oci_pypi_blob_cache_fills_total{{result=\"{result}\"}}");
    for _ in 0..200 {
        if metric_value(&metrics.render(), &line) >= count {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("{count} fills did not end {result}:\n{}", metrics.render())
}
