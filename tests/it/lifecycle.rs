//! A project's lifecycle: its status (PEP 792) set over HTTP and with the command, served in
//! both simple-API forms and honoured by real clients (archived: no uploads; quarantined: no
//! files).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::harness::{AuthMode, DistSpec, TestEnv, assert_status};

const JSON: &str = "application/vnd.pypi.simple.v1+json";

/// The keys PEP 691/700/740/792 define at the top of a project page.
const PAGE_KEYS: [&str; 7] = [
    "meta",
    "name",
    "files",
    "versions",
    "project-status",
    "alternate-locations",
    "tracks",
];

/// POSTs `body` (a form) to the project's status URL; the response.
async fn post_status(
    env: &TestEnv,
    project: &str,
    body: &str,
    authenticated: bool,
) -> anyhow::Result<reqwest::Response> {
    let url = format!("{}/+status/{project}", env.base_path());
    Ok(env
        .http(Method::POST, &url, authenticated)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await?)
}

/// The project page as PEP 691 JSON, with its keys checked against the spec's.
async fn page_json(env: &TestEnv, project: &str) -> anyhow::Result<Value> {
    let url = format!("{}/{project}/", env.base_path());
    let response = env
        .http(Method::GET, &url, true)
        .header("accept", JSON)
        .send()
        .await?;
    assert_eq!(response.status(), StatusCode::OK);
    let json: Value = response.json().await?;
    assert_eq!(json["meta"]["api-version"], "1.4", "{json}");
    for key in json.as_object().unwrap().keys() {
        assert!(
            PAGE_KEYS.contains(&key.as_str()),
            "unknown key `{key}`: {json}"
        );
    }
    let status = json["project-status"].as_object().unwrap();
    for key in status.keys() {
        assert!(["status", "reason"].contains(&key.as_str()), "{json}");
    }
    Ok(json)
}

async fn page_html(env: &TestEnv, project: &str) -> anyhow::Result<String> {
    let url = format!("{}/{project}/", env.base_path());
    env.get_text(&url, true).await
}

/// Every status through the HTTP API, against the real registry with pip, uv and twine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_status_is_served_and_honoured() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let first = DistSpec::new("statusful", "1.0");
    let second = DistSpec::new("statusful", "1.1");
    let wheel = env.sandbox.wheel(&first).await?;
    let next = env.sandbox.wheel(&second).await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let repository = format!("{}/statusful", env.namespace);
    let storage = env.storage();
    let url = env.index_url_with_credentials();

    // Active by default, and said so.
    let json = page_json(&env, "statusful").await?;
    assert_eq!(
        json["project-status"],
        serde_json::json!({ "status": "active" })
    );
    assert!(
        !page_html(&env, "statusful")
            .await?
            .contains("pypi:project-status")
    );

    // Only callers with push rights; only the four statuses; only existing projects.
    let anonymous = post_status(&env, "statusful", "status=archived", false).await?;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let bad = post_status(&env, "statusful", "status=frozen", true).await?;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let text = bad.text().await?;
    assert_eq!(text.trim().lines().count(), 1, "{text}");
    assert!(text.contains("`frozen`"), "{text}");
    let missing = post_status(&env, "statusful", "reason=no+status", true).await?;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert!(missing.text().await?.contains("`status`"));
    let unknown = post_status(&env, "nobody-here", "status=archived", true).await?;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(
        !storage
            .all_tags(&repository)
            .await?
            .contains(&oci_pypi::layout::STATUS_TAG.to_owned())
    );

    // Deprecated: a warning, everything still works.
    let response = post_status(
        &env,
        "statusful",
        "status=deprecated&reason=use+%3Cnew%3E",
        true,
    )
    .await?;
    assert_status(response, StatusCode::OK).await?;
    let json = page_json(&env, "statusful").await?;
    assert_eq!(
        json["project-status"],
        serde_json::json!({ "status": "deprecated", "reason": "use <new>" })
    );
    assert_eq!(json["files"].as_array().unwrap().len(), 1);
    let html = page_html(&env, "statusful").await?;
    assert!(
        html.contains(r#"<meta name="pypi:repository-version" content="1.4">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<meta name="pypi:project-status" content="deprecated">"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<meta name="pypi:project-status-reason" content="use &lt;new&gt;">"#),
        "{html}"
    );
    assert!(
        storage
            .all_tags(&repository)
            .await?
            .contains(&oci_pypi::layout::STATUS_TAG.to_owned())
    );

    // Archived (JSON body): downloads work, uploads are refused with a clear 400.
    let archive = format!("{}/+status/statusful", env.base_path());
    let response = env
        .http(Method::POST, &archive, true)
        .json(&serde_json::json!({ "status": "archived", "reason": "moved" }))
        .send()
        .await?;
    assert_status(response, StatusCode::OK).await?;
    let out = env.twine_upload(&[&next]).await?;
    out.assert_failure_saying("archived");
    let out = env.uv_publish(&[&next]).await?;
    out.assert_failure_saying("statusful` is archived");
    let mut tags = storage.tags(&repository).await?;
    tags.sort();
    assert_eq!(tags, [oci_pypi::layout::STATUS_TAG, "1.0"]);
    env.assert_pip_installs(&["statusful"], &[(&first.module(), "1.0")])
        .await?;

    // Quarantined: no files offered, in any form, and none served; installs fail.
    let response = post_status(&env, "statusful", "status=quarantined", true).await?;
    assert_status(response, StatusCode::OK).await?;
    let json = page_json(&env, "statusful").await?;
    assert_eq!(
        json["project-status"],
        serde_json::json!({ "status": "quarantined" })
    );
    assert_eq!(json["files"], serde_json::json!([]));
    assert_eq!(json["versions"], serde_json::json!(["1.0"]));
    assert!(!page_html(&env, "statusful").await?.contains("<a "));
    let file = format!("{}/statusful/{}", env.base_path(), first.wheel_filename());
    let download = env.get(&file, true).await?;
    assert_eq!(download.status(), StatusCode::NOT_FOUND);
    let (out, _) = env.sandbox.pip_install(&url, &["statusful"]).await?;
    out.assert_failure();
    let (out, _) = env.sandbox.uv_install(&url, &["statusful"]).await?;
    out.assert_failure();
    let out = env.twine_upload(&[&next]).await?;
    out.assert_failure_saying("quarantined");

    // Active again: the status is gone from the registry, and everything works.
    let response = post_status(&env, "statusful", "status=active", true).await?;
    assert_status(response, StatusCode::OK).await?;
    assert_eq!(storage.tags(&repository).await?, ["1.0"]);
    env.twine_upload(&[&next]).await?.assert_success();
    env.assert_pip_installs(&["statusful"], &[(&first.module(), "1.1")])
        .await?;
    let json = page_json(&env, "statusful").await?;
    assert_eq!(
        json["project-status"],
        serde_json::json!({ "status": "active" })
    );
    Ok(())
}

/// `oci-pypi project-status`, against a token-auth registry: sets the status another server
/// then serves; a bad status exits non-zero naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_status_command() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Token).await?;
    let wheel = env
        .sandbox
        .wheel(&DistSpec::new("commanded", "1.0"))
        .await?;
    env.twine_upload(&[&wheel]).await?.assert_success();
    let (user, password) = env.credentials().unwrap();
    let run = |status: &'static str| {
        let namespace = format!("{}/{}", env.segment(), env.namespace);
        let origin = env.registry.origin();
        let (user, password) = (user.clone(), password.clone());
        async move {
            tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
                .args(["project-status", "--namespace", &namespace])
                .args(["--project", "Commanded", "--status", status])
                .args(["--reason", "security review"])
                .env("OCI_PYPI_REGISTRIES", origin)
                .env("OCI_PYPI_USERNAME", user)
                .env("OCI_PYPI_PASSWORD", password)
                .env("OCI_PYPI_LOG_LEVEL", "warn")
                .output()
                .await
        }
    };
    let output = run("quarantined").await?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(report["status"], "quarantined");
    assert_eq!(report["project"], "commanded");
    let json = page_json(&env, "commanded").await?;
    assert_eq!(
        json["project-status"],
        serde_json::json!({ "status": "quarantined", "reason": "security review" })
    );
    assert_eq!(json["files"], serde_json::json!([]));

    let output = run("Frozen").await?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`Frozen`"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    Ok(())
}

/// `oci-pypi prune <args>` against this test's namespace; the parsed report.
async fn prune(env: &TestEnv, args: &[&str]) -> anyhow::Result<Value> {
    let (user, password) = env.credentials().unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args([
            "prune",
            "--namespace",
            &format!("{}/{}", env.segment(), env.namespace),
        ])
        .args(args)
        .env("OCI_PYPI_REGISTRIES", env.registry.origin())
        .env("OCI_PYPI_USERNAME", user)
        .env("OCI_PYPI_PASSWORD", password)
        .env("OCI_PYPI_LOG_LEVEL", "warn")
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "prune {args:?}: {stderr}");
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// `(project, version)` of every entry of a report list, sorted.
fn entries(report: &Value, key: &str) -> Vec<(String, String)> {
    let mut list: Vec<(String, String)> = report[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["project"].as_str().unwrap().to_owned(),
                e["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    list.sort();
    list
}

fn pairs(project: &str, versions: &[&str]) -> Vec<(String, String)> {
    versions
        .iter()
        .map(|v| (project.to_owned(), (*v).to_owned()))
        .collect()
}

/// Retention: the dry run lists exactly what two real runs, at the same time, then delete;
/// pre-releases only, the newest kept, a release yanked with a reason kept, a project's only
/// release kept; a second run deletes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_what_the_dry_run_lists() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let versions = ["1.0", "1.1.dev1", "1.1.dev2", "1.1rc1", "1.1", "1.2.dev1"];
    let mut wheels = Vec::new();
    for version in versions {
        wheels.push(env.sandbox.wheel(&DistSpec::new("pruned", version)).await?);
    }
    wheels.push(
        env.sandbox
            .wheel(&DistSpec::new("lonely", "0.1.dev1"))
            .await?,
    );
    let paths: Vec<&std::path::Path> = wheels.iter().map(std::path::PathBuf::as_path).collect();
    env.twine_upload(&paths).await?.assert_success();
    let yank = format!("{}/+yank/pruned/1.1.dev2", env.base_path());
    let response = env
        .http(Method::POST, &yank, true)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("reason=data+loss")
        .send()
        .await?;
    assert_status(response, StatusCode::OK).await?;
    let storage = env.storage();
    let tags_of = |project: &'static str| {
        let repository = format!("{}/{project}", env.namespace);
        let storage = &storage;
        async move {
            let mut tags = storage.tags(&repository).await?;
            tags.sort();
            anyhow::Ok(tags)
        }
    };
    let before = tags_of("pruned").await?;

    let policy = ["--keep-last", "1", "--prereleases-only"];
    let mut dry = policy.to_vec();
    dry.push("--dry-run");
    let planned = prune(&env, &dry).await?;
    assert_eq!(planned["dry_run"], true);
    assert_eq!(
        entries(&planned, "deleted"),
        pairs("pruned", &["1.1.dev1", "1.1rc1"])
    );
    assert_eq!(
        entries(&planned, "kept_yanked_with_reason"),
        pairs("pruned", &["1.1.dev2"])
    );
    assert_eq!(
        tags_of("pruned").await?,
        before,
        "a dry run deletes nothing"
    );

    // Two runs at once (two replicas' schedules): each deletes only what the plan lists (a run
    // that plans after the other deleted a release does not see it), together all of it, and
    // the result is the plan.
    let (first, second) = tokio::join!(prune(&env, &policy), prune(&env, &policy));
    let (first, second) = (first?, second?);
    let wanted = entries(&planned, "deleted");
    let mut together = Vec::new();
    for report in [&first, &second] {
        assert_eq!(report["dry_run"], false);
        let deleted = entries(report, "deleted");
        assert!(
            deleted.iter().all(|entry| wanted.contains(entry)),
            "{deleted:?} is not within the plan {wanted:?}"
        );
        together.extend(deleted);
    }
    together.sort();
    together.dedup();
    let mut wanted_sorted = wanted.clone();
    wanted_sorted.sort();
    assert_eq!(together, wanted_sorted);
    assert_eq!(
        tags_of("pruned").await?,
        ["1.0", "1.1", "1.1.dev2", "1.2.dev1"]
    );
    assert_eq!(tags_of("lonely").await?, ["0.1.dev1"]);
    let page = page_json(&env, "pruned").await?;
    assert_eq!(
        page["versions"],
        serde_json::json!(["1.0", "1.1.dev2", "1.1", "1.2.dev1"])
    );
    env.assert_pip_installs(&["pruned==1.2.dev1"], &[]).await?;

    // Idempotent: nothing left to delete.
    let again = prune(&env, &policy).await?;
    assert_eq!(entries(&again, "deleted"), []);

    // Everything older than now: yanked-with-reason only when asked, and never a project's
    // only release.
    let all = [
        "--keep-days",
        "0",
        "--include-yanked-with-reason",
        "--project",
        "l*",
    ];
    let mut dry = all.to_vec();
    dry.push("--dry-run");
    let planned = prune(&env, &dry).await?;
    assert_eq!(entries(&planned, "deleted"), []);
    assert_eq!(
        entries(&planned, "kept_only_release"),
        pairs("lonely", &["0.1.dev1"])
    );
    let all = [
        "--keep-days",
        "0",
        "--include-yanked-with-reason",
        "--versions",
        "1.1*",
    ];
    let mut dry = all.to_vec();
    dry.push("--dry-run");
    let planned = prune(&env, &dry).await?;
    let done = prune(&env, &all).await?;
    assert_eq!(entries(&done, "deleted"), entries(&planned, "deleted"));
    assert_eq!(
        entries(&done, "deleted"),
        pairs("pruned", &["1.1", "1.1.dev2"])
    );
    assert_eq!(tags_of("pruned").await?, ["1.0", "1.2.dev1"]);
    assert_eq!(tags_of("lonely").await?, ["0.1.dev1"]);
    Ok(())
}

/// A prune without anything to keep is refused before it reads anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_needs_a_policy() -> anyhow::Result<()> {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args(["prune", "--namespace", "local/team", "--prereleases-only"])
        .env("OCI_PYPI_LOG_LEVEL", "warn")
        .current_dir(tempfile::tempdir()?.path())
        .output()
        .await?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--keep-last"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    Ok(())
}

/// `oci-pypi prune --every`: runs again on its own (a release uploaded after the first run
/// is pruned by a later one), and stops cleanly on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_prune_runs_until_stopped() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let stable = env
        .sandbox
        .wheel(&DistSpec::new("scheduled", "1.0"))
        .await?;
    let dev = env
        .sandbox
        .wheel(&DistSpec::new("scheduled", "1.1.dev1"))
        .await?;
    env.twine_upload(&[&stable, &dev]).await?.assert_success();
    let (user, password) = env.credentials().unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"))
        .args([
            "prune",
            "--namespace",
            &format!("{}/{}", env.segment(), env.namespace),
        ])
        .args(["--keep-last", "0", "--prereleases-only", "--every", "1"])
        .env("OCI_PYPI_REGISTRIES", env.registry.origin())
        .env("OCI_PYPI_USERNAME", user)
        .env("OCI_PYPI_PASSWORD", password)
        .env("OCI_PYPI_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let repository = format!("{}/scheduled", env.namespace);
    let storage = env.storage();
    let pruned = || async {
        for _ in 0..60 {
            if storage.tags(&repository).await? == ["1.0"] {
                return anyhow::Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        anyhow::bail!("not pruned: {:?}", storage.tags(&repository).await?)
    };
    pruned().await?;
    let later = env
        .sandbox
        .wheel(&DistSpec::new("scheduled", "1.2.dev1"))
        .await?;
    env.twine_upload(&[&later]).await?.assert_success();
    pruned().await?;
    assert!(
        child.try_wait()?.is_none(),
        "the schedule stopped by itself"
    );

    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()?;
    assert!(status.success());
    let exit = tokio::time::timeout(std::time::Duration::from_secs(20), child.wait()).await??;
    assert!(exit.success(), "{exit:?}");
    Ok(())
}
