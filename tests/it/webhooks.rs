//! Webhooks (issue 16): a change to a namespace is told, signed, to the receivers the
//! operator configures, after it succeeded, without delaying it; retried while the receiver
//! is down or slow; and what a receiver does with it (promote to production) works end to end
//! against the real registry and real clients.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use oci_pypi::events::signature::{
    DEFAULT_TOLERANCE, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use oci_pypi::events::{Verifier, VerifyError};
use reqwest::{Method, StatusCode};
use sha2::Digest as _;

use crate::harness::receiver::{Delivery, Receiver, Reply};
use crate::harness::{AuthMode, DistSpec, TestEnv, assert_exited_ok, assert_status, metric_value};

const SECRET: &str = "whsec-integration-test";

/// Writes the webhooks file and the secret it names into `dir`; returns the file.
fn write_webhooks(dir: &Path, text: &str) -> anyhow::Result<PathBuf> {
    std::fs::write(dir.join("secret"), format!("{SECRET}\n"))?;
    let path = dir.join("webhooks.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The receiver's check, as docs/events.md describes it.
fn verify(verifier: &Verifier, delivery: &Delivery) -> Result<(), VerifyError> {
    verifier.verify(
        delivery.header(DELIVERY_HEADER),
        delivery.header(TIMESTAMP_HEADER),
        delivery.header(SIGNATURE_HEADER),
        &delivery.body,
        now(),
    )
}

/// A server (auth `mode`) told of the webhooks in `text` (written into `dir` with the secret),
/// with `namespace` as the test's namespace.
async fn start_with_webhooks(
    mode: AuthMode,
    dir: &Path,
    text: &str,
    namespace: &str,
) -> anyhow::Result<TestEnv> {
    let webhooks = write_webhooks(dir, text)?;
    let mut env = TestEnv::start_with(mode, |config| {
        config.events.webhooks = Some(webhooks);
    })
    .await?;
    env.namespace = namespace.to_owned();
    Ok(env)
}

/// Waits until the metric line reaches `at_least` (deliveries are counted once answered).
async fn wait_for_counter(env: &TestEnv, line: &str, at_least: f64) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = env.metrics().await?;
        if metric_value(&text, line) >= at_least {
            return Ok(text);
        }
        anyhow::ensure!(Instant::now() < deadline, "`{line}` < {at_least}:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Asserts that less than `limit` has passed since `started` (a write was not held up).
#[track_caller]
fn assert_prompt(started: Instant, limit: Duration) {
    let elapsed = started.elapsed();
    assert!(elapsed < limit, "{elapsed:?}");
}

/// staging → webhook → promotion → production: twine uploads to `staging`; the receiver gets
/// the signed `upload` event, verifies it, and promotes what it names to `production`
/// through the promotion API; pip installs it from `production`. A forged, altered, stale or
/// replayed delivery fails the same verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_to_staging_triggers_a_verified_promotion_to_production() -> anyhow::Result<()> {
    let mut receiver = Receiver::start().await?;
    let dir = tempfile::tempdir()?;
    let text = format!(
        r#"
[delivery]
allow_origins = ["{origin}"]

[[webhook]]
name = "staging"
namespace = "*/webhooks/staging"
events = ["upload"]
url = "{origin}/hooks/oci-pypi"
secret_file = "secret"
"#,
        origin = receiver.origin()
    );
    let mut env =
        start_with_webhooks(AuthMode::Htpasswd, dir.path(), &text, "webhooks/staging").await?;
    let spec = DistSpec::new("hooked", "1.2.0");
    let wheel = env.publish_wheel(&spec).await?;

    let delivery = receiver.next(Duration::from_secs(30)).await?;
    assert_eq!(delivery.path, "/hooks/oci-pypi");
    assert_eq!(delivery.header("content-type"), "application/json");
    assert_eq!(delivery.header(EVENT_HEADER), "upload");
    let verifier = Verifier::new(SECRET.as_bytes(), DEFAULT_TOLERANCE);
    verify(&verifier, &delivery)?;
    let event = delivery.json();
    assert_eq!(event["schema"], 1, "{event}");
    assert_eq!(event["event"], "upload");
    assert_eq!(event["id"], delivery.header(DELIVERY_HEADER));
    assert_eq!(event["registry"], env.segment());
    assert_eq!(event["namespace"], "webhooks/staging");
    assert_eq!(event["project"], "hooked");
    assert_eq!(event["version"], "1.2.0");
    assert_eq!(event["files"], serde_json::json!([spec.wheel_filename()]));
    assert_eq!(
        event["detail"]["sha256"],
        hex::encode(sha2::Sha256::digest(std::fs::read(&wheel)?))
    );

    // What a forger or an eavesdropper could send does not pass.
    assert_eq!(verify(&verifier, &delivery), Err(VerifyError::Replayed));
    let mut altered = delivery.clone();
    altered.body = delivery
        .body
        .iter()
        .map(|&b| if b == b'1' { b'9' } else { b })
        .collect::<Vec<u8>>()
        .into();
    assert_eq!(verify(&verifier, &altered), Err(VerifyError::Mismatch));
    let forger = Verifier::new(b"a guessed secret", DEFAULT_TOLERANCE);
    assert_eq!(verify(&forger, &delivery), Err(VerifyError::Mismatch));
    let later = Verifier::new(SECRET.as_bytes(), DEFAULT_TOLERANCE);
    let stale = later.verify(
        delivery.header(DELIVERY_HEADER),
        delivery.header(TIMESTAMP_HEADER),
        delivery.header(SIGNATURE_HEADER),
        &delivery.body,
        now() + 600,
    );
    assert!(
        matches!(stale, Err(VerifyError::OutsideWindow(_))),
        "{stale:?}"
    );
    python_verification_from_the_docs(&env, &delivery).await?;

    // The receiver's workflow: promote what the event names.
    let path = format!(
        "/{}/{}/+promote/{}/{}",
        event["registry"].as_str().unwrap(),
        event["namespace"].as_str().unwrap(),
        event["project"].as_str().unwrap(),
        event["version"].as_str().unwrap()
    );
    let to = format!(
        "{}/webhooks/production",
        event["registry"].as_str().unwrap()
    );
    let response = env.promote(&path, &[("to", to.as_str())]).await?;
    assert_status(response, StatusCode::OK).await?;

    env.namespace = "webhooks/production".to_owned();
    env.assert_pip_installs(&["hooked"], &[(&spec.module(), "1.2.0")])
        .await?;
    // The promotion to production is not an upload to staging: nothing more is sent.
    assert!(receiver.maybe_next(Duration::from_secs(1)).await.is_none());
    let text = wait_for_counter(
        &env,
        "oci_pypi_webhook_deliveries_total{webhook=\"staging\",result=\"delivered\"}",
        1.0,
    )
    .await?;
    assert!(!text.contains(SECRET));
    Ok(())
}

/// A receiver that is down, then slow, changes nothing for the writer: the upload and the yank
/// return at once, and each event arrives on a later attempt (same id, signed anew).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_or_slow_gets_the_delivery_on_retry() -> anyhow::Result<()> {
    let address = Receiver::unused_address().await?;
    let origin = format!("http://{address}");
    let dir = tempfile::tempdir()?;
    let text = format!(
        r#"
[delivery]
allow_origins = ["{origin}"]
attempts = 10
backoff_seconds = 1
timeout_seconds = 2

[[webhook]]
name = "flaky"
namespace = "*"
url = "{origin}/hook"
secret_file = "secret"
"#
    );
    let env = start_with_webhooks(AuthMode::Anonymous, dir.path(), &text, "webhooks/flaky").await?;
    let spec = DistSpec::new("flaky-receiver", "0.1");
    env.publish_wheel(&spec).await?;
    // Down: the yank is answered at once all the same.
    let started = Instant::now();
    let yank = format!("{}/+yank/flaky-receiver/0.1", env.base_path());
    let response = env.http(Method::POST, &yank, true).send().await?;
    assert_status(response, StatusCode::OK).await?;
    assert_prompt(started, Duration::from_secs(2));
    let text = wait_for_counter(
        &env,
        "oci_pypi_webhook_attempts_total{outcome=\"error\"}",
        2.0,
    )
    .await?;
    assert_eq!(
        metric_value(
            &text,
            "oci_pypi_webhook_deliveries_total{webhook=\"flaky\",result=\"delivered\"}"
        ),
        0.0
    );

    // Up, but the first request it gets takes longer than the attempt's limit, and the
    // second is a 503.
    let mut receiver = Receiver::start_on(address).await?;
    receiver.plan(&[
        Reply {
            delay: Duration::from_secs(5),
            status: 204,
        },
        Reply {
            delay: Duration::ZERO,
            status: 503,
        },
    ]);
    let first = receiver.next(Duration::from_secs(30)).await?;
    // While it hangs, another write is not held up.
    let started = Instant::now();
    let response = env.http(Method::DELETE, &yank, true).send().await?;
    assert_status(response, StatusCode::OK).await?;
    assert_prompt(started, Duration::from_secs(2));

    let text = wait_for_counter(
        &env,
        "oci_pypi_webhook_deliveries_total{webhook=\"flaky\",result=\"delivered\"}",
        3.0,
    )
    .await?;
    let mut attempts = vec![first];
    while let Some(delivery) = receiver.maybe_next(Duration::from_millis(500)).await {
        attempts.push(delivery);
    }
    // The slow one, the 503, and one success per event at least.
    assert!(attempts.len() >= 5, "{attempts:#?}");
    let verifier = Verifier::new(SECRET.as_bytes(), DEFAULT_TOLERANCE);
    let mut ids = std::collections::BTreeMap::new();
    for delivery in &attempts {
        verify(&verifier, delivery)?;
        let kind = delivery.json()["event"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let id = delivery.header(DELIVERY_HEADER).to_owned();
        // Each event keeps its id through its attempts.
        assert_eq!(ids.entry(kind).or_insert_with(|| id.clone()), &id);
    }
    assert_eq!(
        ids.keys().map(String::as_str).collect::<Vec<_>>(),
        ["unyank", "upload", "yank"]
    );
    assert!(
        metric_value(
            &text,
            "oci_pypi_webhook_attempts_total{outcome=\"retryable\"}"
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(
        metric_value(
            &text,
            "oci_pypi_webhook_deliveries_total{webhook=\"flaky\",result=\"failed\"}"
        ),
        0.0,
        "{text}"
    );
    Ok(())
}

/// A malformed webhooks file stops the server before it listens, naming the line and field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_webhooks_file_is_refused_at_startup() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let path = write_webhooks(
        dir.path(),
        "[[webhook]]\nnamespace = \"*\"\nurl = \"http://10.0.0.8/hook\"\nsecret_file = \"secret\"\n",
    )?;
    let mut config = oci_pypi::config::Config::for_registries(Vec::new());
    config.local_store.store_dir = Some(dir.path().join("store"));
    config.events.webhooks = Some(path.clone());
    let error = match oci_pypi::state(&config) {
        Ok(_) => anyhow::bail!("a webhook to a private address was accepted"),
        Err(error) => error.to_string(),
    };
    assert_eq!(
        error,
        format!(
            "webhooks file `{}`: line 3: `url`: `http://10.0.0.8/hook` must be https (or its origin listed in `[delivery] allow_origins`)",
            path.display()
        )
    );
    Ok(())
}

/// The GitHub preset speaks `repository_dispatch` (bearer token, `event_type`, the event as
/// `client_payload`); the dispatched "workflow" promotes with the `oci-pypi promote` command,
/// which tells its own `promote` event before exiting. The GitLab preset posts a pipeline
/// trigger form with the event as variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_dispatch_and_gitlab_trigger_presets_drive_a_promotion() -> anyhow::Result<()> {
    let mut receiver = Receiver::start().await?;
    let origin = receiver.origin();
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("github-token"), "ghp-test-token\n")?;
    std::fs::write(dir.path().join("gitlab-token"), "glptt-test-token\n")?;
    let text = format!(
        r#"
[delivery]
allow_origins = ["{origin}"]

[[webhook]]
name = "dispatch"
namespace = "*/presets/staging"
events = ["upload"]
preset = "github"
url = "{origin}/repos/acme/app/dispatches"
token_file = "github-token"
event_type = "promote-package"

[[webhook]]
name = "pipeline"
namespace = "*/presets/staging"
events = ["upload"]
preset = "gitlab"
url = "{origin}/api/v4/projects/7/trigger/pipeline"
token_file = "gitlab-token"
ref = "main"

[[webhook]]
name = "released"
namespace = "*/presets/production"
events = ["promote"]
url = "{origin}/released"
secret_file = "secret"
"#
    );
    let mut env =
        start_with_webhooks(AuthMode::Htpasswd, dir.path(), &text, "presets/staging").await?;
    let webhooks_for_command = dir.path().join("webhooks.toml");
    let spec = DistSpec::new("dispatched", "3.1");
    let sdist = env.sandbox.sdist(&spec).await?;
    env.twine_upload(&[&sdist]).await?.assert_success();

    let mut by_path = std::collections::BTreeMap::new();
    for _ in 0..2 {
        let delivery = receiver.next(Duration::from_secs(30)).await?;
        by_path.insert(delivery.path.clone(), delivery);
    }
    let dispatch = &by_path["/repos/acme/app/dispatches"];
    assert_eq!(dispatch.header("authorization"), "Bearer ghp-test-token");
    assert_eq!(dispatch.header("accept"), "application/vnd.github+json");
    assert_eq!(dispatch.header("x-github-api-version"), "2022-11-28");
    let body = dispatch.json();
    assert_eq!(body["event_type"], "promote-package", "{body}");
    let payload = &body["client_payload"];
    assert_eq!(payload["event"], "upload");
    assert_eq!(payload["project"], "dispatched");
    assert_eq!(payload["files"], serde_json::json!([spec.sdist_filename()]));

    let trigger = &by_path["/api/v4/projects/7/trigger/pipeline"];
    assert_eq!(
        trigger.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let form: std::collections::BTreeMap<String, String> =
        url::form_urlencoded::parse(&trigger.body)
            .into_owned()
            .collect();
    assert_eq!(form["token"], "glptt-test-token");
    assert_eq!(form["ref"], "main");
    assert_eq!(form["variables[OCI_PYPI_EVENT]"], "upload");
    assert_eq!(form["variables[OCI_PYPI_PROJECT]"], "dispatched");
    assert_eq!(form["variables[OCI_PYPI_VERSION]"], "3.1");
    assert_eq!(form["variables[OCI_PYPI_NAMESPACE]"], "presets/staging");
    let carried: serde_json::Value = serde_json::from_str(&form["variables[OCI_PYPI_PAYLOAD]"])?;
    assert_eq!(carried["id"], payload["id"]);

    // The dispatched workflow: `oci-pypi promote` of what the payload names.
    let registry = payload["registry"].as_str().unwrap();
    let (user, password) = env.credentials().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args(["promote", "--project", payload["project"].as_str().unwrap()])
        .args(["--target", payload["version"].as_str().unwrap()])
        .args([
            "--from",
            &format!("{registry}/{}", payload["namespace"].as_str().unwrap()),
        ])
        .args(["--to", &format!("{registry}/presets/production")])
        .env("OCI_PYPI_REGISTRIES", env.registry.origin())
        .env("OCI_PYPI_WEBHOOKS", &webhooks_for_command)
        .env("OCI_PYPI_FROM_USERNAME", &user)
        .env("OCI_PYPI_FROM_PASSWORD", &password)
        .env("OCI_PYPI_TO_USERNAME", &user)
        .env("OCI_PYPI_TO_PASSWORD", &password)
        .env("OCI_PYPI_LOG_LEVEL", "warn")
        .output()
        .await?;
    assert_exited_ok(&output);
    // The command waited for its delivery before exiting: it is already here.
    let released = receiver.next(Duration::from_secs(1)).await?;
    assert_eq!(released.path, "/released");
    verify(
        &Verifier::new(SECRET.as_bytes(), DEFAULT_TOLERANCE),
        &released,
    )?;
    let event = released.json();
    assert_eq!(event["event"], "promote");
    assert_eq!(event["namespace"], "presets/production");
    assert_eq!(event["detail"]["from"]["namespace"], "presets/staging");
    assert_eq!(
        event["detail"]["copied"],
        serde_json::json!([spec.sdist_filename()])
    );
    assert_eq!(event["detail"]["moved"], false);

    env.namespace = "presets/production".to_owned();
    env.assert_pip_installs(&["dispatched"], &[(&spec.module(), "3.1")])
        .await?;
    Ok(())
}

/// The queue is bounded: with room for one delivery and a receiver that takes its time, the
/// events beyond are dropped (counted, logged), and the writes are not held up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_beyond_the_queue_are_dropped_and_counted() -> anyhow::Result<()> {
    let mut receiver = Receiver::start().await?;
    receiver.plan(&[Reply {
        delay: Duration::from_secs(4),
        status: 204,
    }]);
    let dir = tempfile::tempdir()?;
    let text = format!(
        r#"
[delivery]
queue = 1
timeout_seconds = 10
allow_origins = ["{origin}"]

[[webhook]]
name = "narrow"
namespace = "*"
url = "{origin}/hook"
secret_file = "secret"
"#,
        origin = receiver.origin()
    );
    let env =
        start_with_webhooks(AuthMode::Anonymous, dir.path(), &text, "webhooks/narrow").await?;
    let spec = DistSpec::new("narrow", "1.0");
    env.publish_wheel(&spec).await?;
    let first = receiver.next(Duration::from_secs(30)).await?;
    assert_eq!(first.header(EVENT_HEADER), "upload");
    // While the upload's delivery hangs, three more changes.
    let yank = format!("{}/+yank/narrow/1.0", env.base_path());
    let started = Instant::now();
    for method in [Method::POST, Method::DELETE, Method::POST] {
        let response = env.http(method, &yank, true).send().await?;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_prompt(started, Duration::from_secs(3));
    let text = wait_for_counter(
        &env,
        "oci_pypi_webhook_deliveries_total{webhook=\"narrow\",result=\"delivered\"}",
        1.0,
    )
    .await?;
    assert_eq!(
        metric_value(
            &text,
            "oci_pypi_webhook_deliveries_total{webhook=\"narrow\",result=\"dropped\"}"
        ),
        3.0,
        "{text}"
    );
    assert!(
        receiver
            .maybe_next(Duration::from_millis(500))
            .await
            .is_none()
    );
    Ok(())
}

/// The Python verification docs/events.md gives receivers, run on a real delivery: accepted
/// once, refused when replayed, altered, or checked with another secret.
async fn python_verification_from_the_docs(
    env: &TestEnv,
    delivery: &Delivery,
) -> anyhow::Result<()> {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/events.md"))?;
    let code = docs
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .ok_or_else(|| anyhow::anyhow!("docs/events.md has no python block"))?;
    let dir = env.sandbox.fresh_dir("verify")?;
    std::fs::write(dir.join("body"), &delivery.body)?;
    let headers: serde_json::Map<String, serde_json::Value> = [
        "X-OCI-PyPI-Timestamp",
        "X-OCI-PyPI-Signature",
        "X-OCI-PyPI-Delivery",
    ]
    .iter()
    .map(|name| {
        (
            (*name).to_owned(),
            delivery.header(&name.to_ascii_lowercase()).into(),
        )
    })
    .collect();
    std::fs::write(
        dir.join("headers.json"),
        serde_json::Value::Object(headers).to_string(),
    )?;
    let driver = format!(
        r#"{code}
import json, sys
headers = json.load(open(sys.argv[1] + "/headers.json"))
body = open(sys.argv[1] + "/body", "rb").read()
results = []
for secret, payload in [(b"{SECRET}", body), (b"{SECRET}", body), (b"{SECRET}", body + b" "), (b"guess", body)]:
    try:
        verify(secret, headers, payload)
        results.append("ok")
    except ValueError as error:
        results.append(str(error))
print(json.dumps(results))
"#
    );
    let script = dir.join("verify.py");
    std::fs::write(&script, driver)?;
    let output = env
        .sandbox
        .python(&[&script.display().to_string(), &dir.display().to_string()])
        .await?;
    output.assert_success();
    let results: Vec<String> = serde_json::from_str(output.stdout.trim())?;
    assert_eq!(
        results,
        ["ok", "replayed", "bad signature", "bad signature"]
    );
    Ok(())
}
