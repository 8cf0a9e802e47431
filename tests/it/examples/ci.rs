//! The CI examples cannot run on GitHub or GitLab here; their publish commands can. Each file is
//! parsed, its shape checked (triggers, permissions, the credentials it uses), and the publish
//! step's own shell text is run with the CI variables filled in for the local registry.
//! (`scripts/lint-ci-files.sh` also runs actionlint over the GitHub workflow.)

use anyhow::{Context as _, ensure};
use serde_json::Value;

use super::{Examples, PACKAGE, example_dir};
use crate::harness::DistSpec;

fn load_yaml(path: &std::path::Path) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(path)?;
    serde_norway::from_str(&text).with_context(|| format!("{} is not valid YAML", path.display()))
}

fn text<'a>(value: &'a Value, what: &str) -> anyhow::Result<&'a str> {
    value
        .as_str()
        .with_context(|| format!("{what} is not a string: {value}"))
}

/// Builds the package into `<sandbox>/dist`, where the CI files expect it (`dist/*`).
async fn build_into_dist(ex: &Examples) -> anyhow::Result<Vec<String>> {
    let dist = ex.env.sandbox.dist_dir();
    ex.build(&DistSpec::new(PACKAGE, "1.0.0"), &dist).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_actions_publish() -> anyhow::Result<()> {
    let workflow = load_yaml(&example_dir("github-actions").join("publish.yml"))?;
    assert_eq!(workflow["permissions"]["packages"], "write");
    assert!(workflow["on"]["push"]["tags"].is_array(), "{workflow}");
    let steps = workflow["jobs"]["publish"]["steps"]
        .as_array()
        .context("jobs.publish.steps")?;
    let publish = steps
        .iter()
        .find(|s| s["name"] == "Publish to ghcr.io through oci-pypi")
        .context("the publish step")?;
    let env = &publish["env"];
    assert_eq!(
        text(&env["INDEX_URL"], "INDEX_URL")?,
        "${{ vars.OCI_PYPI_URL }}/ghcr.io/${{ github.repository_owner }}/"
    );
    assert_eq!(
        text(&env["TWINE_USERNAME"], "TWINE_USERNAME")?,
        "${{ github.actor }}"
    );
    assert_eq!(
        text(&env["TWINE_PASSWORD"], "TWINE_PASSWORD")?,
        "${{ secrets.GITHUB_TOKEN }}"
    );
    let script = text(&publish["run"], "run")?;
    ensure!(
        !script.contains("${{"),
        "the run script interpolates expressions: {script}"
    );

    let ex = Examples::start().await?;
    let files = build_into_dist(&ex).await?;
    // What the expressions become for the local registry: the server's URL, the registry's
    // host in place of ghcr.io, the test's namespace for the owner, its user and password.
    let index_url = ex.index_url(&ex.env.namespace);
    let out = ex
        .run_text(
            script,
            &[
                ("INDEX_URL", &index_url),
                ("TWINE_USERNAME", &ex.username),
                ("TWINE_PASSWORD", &ex.password),
            ],
        )
        .await?;
    out.assert_success();
    ex.assert_listed(&ex.env.namespace, &files).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_ci_publish() -> anyhow::Result<()> {
    let pipeline = load_yaml(&example_dir("gitlab-ci").join(".gitlab-ci.yml"))?;
    assert_eq!(pipeline["stages"], serde_json::json!(["build", "publish"]));
    let build = &pipeline["build"];
    assert_eq!(build["artifacts"]["paths"], serde_json::json!(["dist/"]));
    let publish = &pipeline["publish"];
    assert_eq!(publish["stage"], "publish");
    assert_eq!(publish["needs"], serde_json::json!(["build"]));
    assert_eq!(publish["rules"][0]["if"], "$CI_COMMIT_TAG");
    let lines: Vec<&str> = publish["script"]
        .as_array()
        .context("publish.script")?
        .iter()
        .map(|line| text(line, "a script line"))
        .collect::<anyhow::Result<_>>()?;
    let script = lines.join("\n");
    for variable in [
        "$CI_JOB_TOKEN",
        "$CI_REGISTRY_USER",
        "${CI_REGISTRY_IMAGE}",
        "${OCI_PYPI_URL}",
    ] {
        assert!(
            script.contains(variable),
            "the publish job does not use {variable}"
        );
    }

    let ex = Examples::start().await?;
    let files = build_into_dist(&ex).await?;
    // The lines after the `pip install` (twine is in the sandbox already), with the variables
    // GitLab would set: the registry image is `<registry host>/<group>/<project>`.
    let commands: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| !line.starts_with("python -m pip install"))
        .collect();
    let image = format!("{}/{}", ex.env.segment(), ex.env.namespace);
    let server = ex.env.server.url();
    let out = ex
        .run_text(
            &commands.join("\n"),
            &[
                ("OCI_PYPI_URL", &server),
                ("CI_REGISTRY_IMAGE", &image),
                ("CI_REGISTRY_USER", &ex.username),
                ("CI_JOB_TOKEN", &ex.password),
            ],
        )
        .await?;
    out.assert_success();
    ex.assert_listed(&ex.env.namespace, &files).await?;
    Ok(())
}
