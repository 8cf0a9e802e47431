//! The trusted-publishing examples (issue 16): the GitHub workflows that publish to staging
//! with a hand-made OIDC exchange and promote on a `repository_dispatch`, the GitLab pipeline
//! that publishes and promotes, and the webhooks file that starts the GitHub promotion. Their
//! shell steps run here against the real registry, the server with a trust policy allowing
//! staging → production, and a test OIDC issuer standing in for GitHub and GitLab.

use anyhow::Context as _;
use serde_json::{Value, json};

use super::example_dir;
use crate::harness::oidc_issuer::OidcIssuer;
use crate::harness::{AuthMode, DistSpec, TestEnv};

const STAGING: &str = "acme/staging";
const PRODUCTION: &str = "acme/production";

fn load_yaml(path: &std::path::Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)?;
    serde_norway::from_str(&text).with_context(|| format!("{} is not valid YAML", path.display()))
}

/// The registry, the server with two trust policies of the test issuer (a GitHub-like one
/// pinning `repository`, a GitLab-like one pinning `project_path`), both allowed to publish
/// to staging and promote to production.
async fn start(issuer: &OidcIssuer, dir: &std::path::Path) -> anyhow::Result<TestEnv> {
    let mut env = TestEnv::start(AuthMode::Token).await?;
    let (user, password) = env.credentials().unwrap();
    std::fs::write(dir.join("registry-password"), format!("{password}\n"))?;
    let mut policies = String::from("allow_insecure_issuer = true\n");
    for (name, claims) in [
        ("github", r#"{ repository = "acme/app" }"#),
        ("gitlab", r#"{ project_path = "acme/app" }"#),
    ] {
        policies.push_str(&format!(
            r#"
[[policy]]
name = "{name}"
issuer = "{issuer}"
registry = "{registry}"
namespaces = ["{STAGING}"]
claims = {claims}
promotions = [{{ from = "{STAGING}", to = "{PRODUCTION}" }}]
credential = {{ username = "{user}", password_file = "registry-password" }}
"#,
            issuer = issuer.url(),
            registry = env.registry.origin(),
        ));
    }
    let path = dir.join("publishers.toml");
    std::fs::write(&path, policies)?;
    env.reconfigure(|config| config.publishing.trusted_publishers = Some(path))
        .await?;
    Ok(env)
}

/// Runs a CI script text in the sandbox (bash, `set -euo pipefail`).
async fn run(
    env: &TestEnv,
    text: &str,
    vars: &[(&str, String)],
) -> anyhow::Result<crate::harness::Output> {
    let path = env.sandbox.fresh_path("script");
    std::fs::write(&path, format!("set -euo pipefail\n{text}\n"))?;
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.sandbox.run_script(&path, &vars).await
}

fn step<'a>(workflow: &'a Value, job: &str, name: &str) -> anyhow::Result<&'a Value> {
    workflow["jobs"][job]["steps"]
        .as_array()
        .context("steps")?
        .iter()
        .find(|s| s["name"] == name)
        .with_context(|| format!("step `{name}` of `{job}`"))
}

/// GitHub: the twine job of publish-oidc.yml exchanges the job's ID token and uploads to
/// staging; promote.yml's promote step, with the payload of the webhook event, promotes to
/// production; pip installs from production. The webhooks file that sends that event is one
/// the server accepts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_oidc_publish_then_dispatch_promotion() -> anyhow::Result<()> {
    let publish = load_yaml(&example_dir("github-actions").join("publish-oidc.yml"))?;
    assert_eq!(publish["permissions"]["id-token"], "write");
    assert!(
        step(&publish, "uv", "Publish with uv")?["run"]
            .as_str()
            .unwrap()
            .contains("--trusted-publishing always")
    );
    assert_eq!(
        step(&publish, "pypa", "Publish with gh-action-pypi-publish")?["uses"],
        "pypa/gh-action-pypi-publish@release/v1"
    );
    let promote = load_yaml(&example_dir("github-actions").join("promote.yml"))?;
    assert_eq!(
        promote["on"]["repository_dispatch"]["types"],
        json!(["promote-package"])
    );
    assert_eq!(promote["permissions"]["id-token"], "write");

    let issuer = OidcIssuer::start()?;
    issuer.set_github_claims(json!({ "repository": "acme/app" }));
    let dir = tempfile::tempdir()?;
    let mut env = start(&issuer, dir.path()).await?;
    env.namespace = STAGING.to_owned();
    let spec = DistSpec::new("acme-app", "1.4.0");
    env.sandbox
        .wheel_into(&spec, &env.sandbox.dist_dir())
        .await?;

    let mut vars: Vec<(&str, String)> = issuer.github_env();
    vars.push(("OCI_PYPI_URL", env.server.url()));
    vars.push(("INDEX_URL", env.index_url()));
    let script = step(
        &publish,
        "twine",
        "Exchange the OIDC token and publish with twine",
    )?["run"]
        .as_str()
        .unwrap();
    run(&env, script, &vars).await?.assert_success();
    assert_eq!(
        env.registry.direct().tags("acme/staging/acme_app").await?,
        ["1.4.0"]
    );

    // The event the webhook would dispatch, as client_payload.
    let script = step(&promote, "promote", "Promote")?["run"]
        .as_str()
        .unwrap();
    let mut promote_vars: Vec<(&str, String)> = issuer.github_env();
    promote_vars.extend([
        ("OCI_PYPI_URL", env.server.url()),
        ("REGISTRY", env.segment()),
        ("FROM", STAGING.to_owned()),
        ("PROJECT", "acme-app".to_owned()),
        ("VERSION", "1.4.0".to_owned()),
        ("TO", PRODUCTION.to_owned()),
    ]);
    let out = run(&env, script, &promote_vars).await?;
    out.assert_success();
    assert!(
        out.stdout.contains("acme_app-1.4.0-py3-none-any.whl"),
        "{out}"
    );
    // A payload that is not a name is refused before any request.
    let mut evil = promote_vars.clone();
    evil.retain(|(k, _)| *k != "VERSION");
    evil.push(("VERSION", "1.4.0?to=elsewhere".to_owned()));
    run(&env, script, &evil).await?.assert_failure();

    env.namespace = PRODUCTION.to_owned();
    env.assert_pip_installs(&["acme-app"], &[(&spec.module(), "1.4.0")])
        .await?;

    // The webhooks file that starts promote.yml.
    let hooks =
        oci_pypi::events::hooks::load(&example_dir("webhooks").join("webhooks.toml"), &|name| {
            Some(format!("value of {name}"))
        })?;
    let dispatch = &hooks.hooks[0];
    assert!(matches!(
        &dispatch.preset,
        oci_pypi::events::hooks::Preset::GitHub { event_type: Some(t), .. } if t == "promote-package"
    ));
    Ok(())
}

/// GitLab: the publish job's script (exchange, twine) and the promote job's (exchange, curl)
/// run with an ID token of the test issuer in `OCI_PYPI_ID_TOKEN`, as `id_tokens:` provides.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_oidc_publish_and_promote() -> anyhow::Result<()> {
    let pipeline = load_yaml(&example_dir("gitlab-ci").join("oidc.gitlab-ci.yml"))?;
    for job in ["publish", "promote"] {
        assert_eq!(
            pipeline[job]["id_tokens"]["OCI_PYPI_ID_TOKEN"]["aud"], "oci-pypi",
            "{job}"
        );
    }
    // GitLab flattens the anchored `*exchange` list into the script.
    let script = |job: &str| -> anyhow::Result<String> {
        let mut lines = Vec::new();
        for entry in pipeline[job]["script"].as_array().context("script")? {
            match entry {
                Value::Array(inner) => lines.extend(inner.iter().filter_map(Value::as_str)),
                other => lines.push(other.as_str().context("a script line")?),
            }
        }
        // The image's pip installs are not for this sandbox (no network; twine is here).
        Ok(lines
            .into_iter()
            .filter(|line| !line.starts_with("python -m pip install"))
            .collect::<Vec<_>>()
            .join("\n"))
    };

    let issuer = OidcIssuer::start()?;
    let dir = tempfile::tempdir()?;
    let mut env = start(&issuer, dir.path()).await?;
    env.namespace = STAGING.to_owned();
    let spec = DistSpec::new("acme-app", "2.0.0");
    env.sandbox
        .sdist_into(&spec, &env.sandbox.dist_dir())
        .await?;
    let vars = |token: String| {
        vec![
            ("OCI_PYPI_URL", env.server.url()),
            ("OCI_PYPI_REGISTRY", env.segment()),
            ("OCI_PYPI_STAGING", STAGING.to_owned()),
            ("OCI_PYPI_PRODUCTION", PRODUCTION.to_owned()),
            ("OCI_PYPI_ID_TOKEN", token),
        ]
    };
    let token = || issuer.mint(json!({ "project_path": "acme/app", "repository": null }));
    run(&env, &script("publish")?, &vars(token()))
        .await?
        .assert_success();
    run(&env, &script("promote")?, &vars(token()))
        .await?
        .assert_success();
    assert_eq!(
        env.registry
            .direct()
            .tags("acme/production/acme_app")
            .await?,
        ["2.0.0"]
    );
    // Another project's token exchanges nothing.
    let foreign = issuer.mint(json!({ "project_path": "evil/app", "repository": null }));
    run(&env, &script("promote")?, &vars(foreign))
        .await?
        .assert_failure();
    Ok(())
}
