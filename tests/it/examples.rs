//! The examples under `examples/` run as a user runs them: each `run.sh` against a real
//! registry that checks credentials (htpasswd), through the server, with the real clients (pip,
//! uv, twine, poetry) isolated in a sandbox and every host but loopback unreachable. The CI
//! files are exercised by running their publish commands (`ci`), and Renovate's pypi
//! datasource requests are replayed and parsed the way Renovate parses them (`renovate`).

mod ci;
mod oidc;
mod renovate;

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use reqwest::{Method, StatusCode, header};
use serde_json::Value;

use crate::harness::{AuthMode, DistSpec, Output, TestEnv};

/// The index URL written in the examples' files, replaced by the test's own.
pub const EXAMPLE_INDEX_URL: &str = "https://pypi.example.com/ghcr.io/my-org/";

/// The private package the examples publish and install.
pub const PACKAGE: &str = "acme-greeting";

/// The namespace [`Examples::run_on_project`] publishes to.
const BUILT: &str = "team/built";

/// A proxy that refuses every connection: clients may reach loopback (exempt through the
/// sandbox's `NO_PROXY`) and nothing else, so no example can lean on PyPI.
const NO_NETWORK: [(&str, &str); 4] = [
    ("HTTP_PROXY", "http://127.0.0.1:9"),
    ("HTTPS_PROXY", "http://127.0.0.1:9"),
    ("http_proxy", "http://127.0.0.1:9"),
    ("https_proxy", "http://127.0.0.1:9"),
];

/// `examples/<name>` in the repository.
pub fn example_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// A registry that checks credentials, the server, and the sandbox the examples run in.
pub struct Examples {
    pub env: TestEnv,
    pub username: String,
    pub password: String,
}

impl Examples {
    pub async fn start() -> anyhow::Result<Examples> {
        Self::start_in(AuthMode::Htpasswd).await
    }

    /// [`Examples::start`], with version 1.0.0 of the package published to the test's
    /// namespace.
    pub async fn start_published() -> anyhow::Result<Examples> {
        let ex = Self::start().await?;
        ex.publish(&DistSpec::new(PACKAGE, "1.0.0"), &ex.env.namespace)
            .await?;
        Ok(ex)
    }

    /// The same in another authentication mode (one with credentials).
    pub async fn start_in(mode: AuthMode) -> anyhow::Result<Examples> {
        let env = TestEnv::start(mode).await?;
        let (username, password) = env
            .credentials()
            .context("the examples need a registry with credentials")?;
        let poetry = env.sandbox.venv().join("bin/poetry");
        ensure!(
            poetry.is_file(),
            "{} not found: the examples need poetry in the client venv; run scripts/test-venv.sh",
            poetry.display()
        );
        Ok(Examples {
            env,
            username,
            password,
        })
    }

    /// `http://127.0.0.1:P/<registry>/<namespace>/`, without credentials.
    pub fn index_url(&self, namespace: &str) -> String {
        format!(
            "{}/{}/{namespace}/",
            self.env.server.url(),
            self.env.segment()
        )
    }

    /// The same with the credentials in it.
    pub fn index_url_with_credentials(&self, namespace: &str) -> String {
        format!(
            "http://{}:{}@{}/{}/{namespace}/",
            self.username,
            self.password,
            self.env.server.authority(),
            self.env.segment()
        )
    }

    /// Runs `examples/<name>/run.sh` with `INDEX_URL` (the test's namespace), `USERNAME`,
    /// `PASSWORD`, no network but loopback, and `extra` (which overrides those).
    pub async fn run(&self, name: &str, extra: &[(&str, &str)]) -> anyhow::Result<Output> {
        let index_url = self.index_url(&self.env.namespace);
        let mut env: Vec<(&str, &str)> = vec![
            ("INDEX_URL", &index_url),
            ("USERNAME", &self.username),
            ("PASSWORD", &self.password),
            // The sandbox ignores uv configuration files; the uv examples are one.
            ("UV_NO_CONFIG", "0"),
        ];
        env.extend(NO_NETWORK);
        env.extend_from_slice(extra);
        self.env
            .sandbox
            .run_script(&example_dir(name).join("run.sh"), &env)
            .await
    }

    /// Runs a script text (from a CI file) with the sandbox's isolation and no network.
    pub async fn run_text(&self, text: &str, env: &[(&str, &str)]) -> anyhow::Result<Output> {
        let path = self.env.sandbox.fresh_path("script");
        std::fs::write(&path, format!("set -euo pipefail\n{text}\n"))?;
        let mut all: Vec<(&str, &str)> = NO_NETWORK.to_vec();
        all.extend_from_slice(env);
        self.env.sandbox.run_script(&path, &all).await
    }

    /// Builds `spec`'s wheel and sdist into `dir` and returns their file names.
    pub async fn build(&self, spec: &DistSpec, dir: &Path) -> anyhow::Result<Vec<String>> {
        self.env.sandbox.wheel_into(spec, dir).await?;
        self.env.sandbox.sdist_into(spec, dir).await?;
        Ok(sorted(vec![spec.wheel_filename(), spec.sdist_filename()]))
    }

    /// Builds version 1.0.0 of the package into a fresh directory; its file names and the
    /// directory (for `DIST_DIR`).
    pub async fn build_package(&self) -> anyhow::Result<(Vec<String>, String)> {
        let dist = self.env.sandbox.fresh_path("dist");
        let files = self.build(&DistSpec::new(PACKAGE, "1.0.0"), &dist).await?;
        Ok((files, path_str(&dist)))
    }

    /// Runs `examples/<name>/run.sh` (as [`Examples::run`]) on a fresh project directory
    /// (`PROJECT_DIR`), publishing to [`BUILT`] (`INDEX_URL`), plus `extra`.
    pub async fn run_on_project(
        &self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> anyhow::Result<Output> {
        let project = path_str(&self.env.sandbox.fresh_path("project"));
        let built = self.index_url(BUILT);
        let mut env = vec![
            ("INDEX_URL", built.as_str()),
            ("PROJECT_DIR", project.as_str()),
        ];
        env.extend_from_slice(extra);
        self.run(name, &env).await
    }

    /// Publishes `spec`'s wheel (and sdist) to `namespace` with the harness's twine.
    pub async fn publish(&self, spec: &DistSpec, namespace: &str) -> anyhow::Result<()> {
        let dir = self.env.sandbox.fresh_path("dist");
        self.build(spec, &dir).await?;
        let wheel = dir.join(spec.wheel_filename());
        let sdist = dir.join(spec.sdist_filename());
        self.env
            .twine_upload_to(&self.index_url(namespace), &[&wheel, &sdist])
            .await?
            .assert_success();
        Ok(())
    }

    /// Asserts that the package's page in `namespace` lists exactly `files`.
    pub async fn assert_listed(&self, namespace: &str, files: &[String]) -> anyhow::Result<()> {
        assert_eq!(self.listed(namespace, PACKAGE).await?, files, "{namespace}");
        Ok(())
    }

    /// Builds the package and publishes it with `examples/<name>/run.sh` (`DIST_DIR`), which
    /// must succeed and leave every file listed; its file names and their directory.
    pub async fn publish_built(&self, name: &str) -> anyhow::Result<(Vec<String>, String)> {
        let (files, dist) = self.build_package().await?;
        self.run(name, &[("DIST_DIR", &dist)])
            .await?
            .assert_success();
        self.assert_listed(&self.env.namespace, &files).await?;
        Ok((files, dist))
    }

    /// Asserts what an install example (`out`) into `project` did: it succeeded, reporting
    /// and installing the package's 1.0.0, and the lock file `lock_file` does not hold the
    /// password; the lock file's text.
    pub async fn assert_project_installed(
        &self,
        out: &Output,
        project: &Path,
        lock_file: &str,
    ) -> anyhow::Result<String> {
        out.assert_success();
        assert!(out.stdout.contains("acme-greeting 1.0.0"), "{out}");
        assert_eq!(
            version_in(&project.join(".venv/bin/python"), "acme_greeting").await?,
            "1.0.0"
        );
        let lock = std::fs::read_to_string(project.join(lock_file))?;
        assert!(
            !lock.contains(&self.password),
            "the lock file holds the password"
        );
        Ok(lock)
    }

    /// The file names the project page of `project` in `namespace` lists (empty for a 404).
    pub async fn listed(&self, namespace: &str, project: &str) -> anyhow::Result<Vec<String>> {
        let path = format!("/{}/{namespace}/{project}/", self.env.segment());
        let response = self
            .env
            .http(Method::GET, &path, true)
            .header(header::ACCEPT, "application/vnd.pypi.simple.v1+json")
            .send()
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        let page: Value = response.json().await?;
        let names = page["files"]
            .as_array()
            .context("files")?
            .iter()
            .filter_map(|f| f["filename"].as_str().map(str::to_owned))
            .collect();
        Ok(sorted(names))
    }
}

fn sorted(mut names: Vec<String>) -> Vec<String> {
    names.sort();
    names
}

/// `import <module>` with `python` (another environment's interpreter) and its `__version__`.
async fn version_in(python: &Path, module: &str) -> anyhow::Result<String> {
    let code = format!("import {module}; print({module}.__version__)");
    let out = tokio::process::Command::new(python)
        .args(["-I", "-c", &code])
        .env_remove("PYTHONPATH")
        .output()
        .await
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} cannot import {module}: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn path_str(path: &Path) -> String {
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twine_publish() -> anyhow::Result<()> {
    let ex = Examples::start().await?;
    let (files, dist) = ex.build_package().await?;

    // Credentials matter: a wrong token is refused and nothing is stored.
    let out = ex
        .run(
            "twine-publish",
            &[
                ("PASSWORD", ""),
                ("TOKEN", "not-the-token"),
                ("DIST_DIR", &dist),
            ],
        )
        .await?;
    out.assert_failure();
    ex.assert_listed(&ex.env.namespace, &[]).await?;

    // TOKEN (with USERNAME, as this registry wants a real user name).
    let out = ex
        .run(
            "twine-publish",
            &[
                ("PASSWORD", ""),
                ("TOKEN", &ex.password),
                ("DIST_DIR", &dist),
            ],
        )
        .await?;
    out.assert_success();
    ex.assert_listed(&ex.env.namespace, &files).await?;
    Ok(())
}

/// The example's default: `__token__` as the username and a token as the password, as with a
/// ghcr.io personal access token (the token registry takes the secret under any username).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twine_publish_with_a_token_as_token_user() -> anyhow::Result<()> {
    let ex = Examples::start_in(AuthMode::Token).await?;
    let token_server = ex.env.registry.token_server().context("a token registry")?;
    let token = token_server.personal_access_token(crate::harness::token_server::Grant::All);
    let (files, dist) = ex.build_package().await?;
    let before = token_server.request_log().len();
    let out = ex
        .run(
            "twine-publish",
            &[
                ("USERNAME", ""),
                ("PASSWORD", ""),
                ("TOKEN", &token),
                ("DIST_DIR", &dist),
            ],
        )
        .await?;
    out.assert_success();
    ex.assert_listed(&ex.env.namespace, &files).await?;
    let users: Vec<Option<String>> = token_server
        .request_log()
        .split_off(before)
        .into_iter()
        .map(|request| request.user)
        .collect();
    assert!(
        users.contains(&Some("__token__".to_owned())),
        "the token flow ran as {users:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uv_publish() -> anyhow::Result<()> {
    let ex = Examples::start().await?;
    let (files, dist) = ex.publish_built("uv-publish").await?;

    // Again: the check URL (the index `url`) finds every file there already.
    let out = ex.run("uv-publish", &[("DIST_DIR", &dist)]).await?;
    out.assert_success();
    assert!(out.combined().contains("already exists, skipping"), "{out}");

    // Without DIST_DIR the project itself is built (`uv build`) and published.
    ex.run_on_project("uv-publish", &[("DIST_DIR", "")])
        .await?
        .assert_success();
    ex.assert_listed(BUILT, &files).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poetry_publish() -> anyhow::Result<()> {
    let ex = Examples::start().await?;
    let (files, _) = ex.publish_built("poetry-publish").await?;

    // Without DIST_DIR: `poetry publish --build`.
    ex.run_on_project("poetry-publish", &[])
        .await?
        .assert_success();
    ex.assert_listed(BUILT, &files).await?;

    // poetry wrote its configuration inside the sandbox, not in the machine's.
    let config = std::fs::read_to_string(ex.env.sandbox.path().join("poetry-config/config.toml"))?;
    assert!(config.contains("[repositories.private]"), "{config}");
    assert!(!ex.env.sandbox.home().join(".config/pypoetry").exists());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_install() -> anyhow::Result<()> {
    let ex = Examples::start_published().await?;
    let venv = ex.env.sandbox.fresh_path("venv");
    let venv_text = path_str(&venv);

    let out = ex
        .run(
            "pip-install",
            &[("PASSWORD", "wrong"), ("VENV", &venv_text)],
        )
        .await?;
    out.assert_failure();

    ex.run("pip-install", &[("VENV", &venv_text)])
        .await?
        .assert_success();
    assert_eq!(
        version_in(&venv.join("bin/python"), "acme_greeting").await?,
        "1.0.0"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pip_extra_index() -> anyhow::Result<()> {
    let ex = Examples::start().await?;
    // A second namespace stands in for PyPI.
    let public = "team/public";
    ex.publish(&DistSpec::new("public-helper", "2.0"), public)
        .await?;
    ex.publish(
        &DistSpec::new(PACKAGE, "1.0.0").requires("public-helper>=2"),
        &ex.env.namespace,
    )
    .await?;
    let public_url = ex.index_url_with_credentials(public);

    // The private package and its public dependency both resolve.
    let venv = ex.env.sandbox.fresh_path("venv");
    let venv_text = path_str(&venv);
    ex.run(
        "pip-extra-index",
        &[("PUBLIC_INDEX_URL", &public_url), ("VENV", &venv_text)],
    )
    .await?
    .assert_success();
    let python = venv.join("bin/python");
    assert_eq!(version_in(&python, "acme_greeting").await?, "1.0.0");
    assert_eq!(version_in(&python, "public_helper").await?, "2.0");

    // The caveat of the README: a higher version of the private name on the public index wins.
    ex.publish(&DistSpec::new(PACKAGE, "99.0"), public).await?;
    let venv = ex.env.sandbox.fresh_path("venv");
    let venv_text = path_str(&venv);
    ex.run(
        "pip-extra-index",
        &[("PUBLIC_INDEX_URL", &public_url), ("VENV", &venv_text)],
    )
    .await?
    .assert_success();
    assert_eq!(
        version_in(&venv.join("bin/python"), "acme_greeting").await?,
        "99.0"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uv_install() -> anyhow::Result<()> {
    let ex = Examples::start_published().await?;
    // The default index (PyPI, here another namespace) offers a higher version of the private
    // name: the explicit index pinned in [tool.uv.sources] keeps it out.
    ex.publish(&DistSpec::new(PACKAGE, "99.0"), "team/public")
        .await?;
    let default_index = ex.index_url_with_credentials("team/public");
    let project = ex.env.sandbox.fresh_path("project");
    let project_text = path_str(&project);

    let out = ex
        .run(
            "uv-install",
            &[
                ("PROJECT_DIR", &project_text),
                ("UV_DEFAULT_INDEX", &default_index),
            ],
        )
        .await?;
    let lock = ex
        .assert_project_installed(&out, &project, "uv.lock")
        .await?;
    assert!(lock.contains(&ex.index_url(&ex.env.namespace)), "{lock}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poetry_install() -> anyhow::Result<()> {
    let ex = Examples::start_published().await?;
    let project = ex.env.sandbox.fresh_path("project");
    let project_text = path_str(&project);

    let out = ex
        .run("poetry-install", &[("PROJECT_DIR", &project_text)])
        .await?;
    let lock = ex
        .assert_project_installed(&out, &project, "poetry.lock")
        .await?;
    assert!(lock.contains("name = \"acme-greeting\""), "{lock}");
    Ok(())
}

/// The examples' files that name the index all use the same placeholder URL.
#[test]
fn examples_name_the_same_index() -> anyhow::Result<()> {
    for file in [
        "uv-publish/pyproject.toml",
        "uv-install/pyproject.toml",
        "poetry-publish/pyproject.toml",
        "poetry-install/pyproject.toml",
        "renovate/renovate.json",
    ] {
        let text = std::fs::read_to_string(example_dir("").join(file))?;
        assert!(
            text.contains(EXAMPLE_INDEX_URL),
            "{file} does not name {EXAMPLE_INDEX_URL}"
        );
    }
    for name in [
        "twine-publish",
        "uv-publish",
        "poetry-publish",
        "pip-install",
        "pip-extra-index",
        "uv-install",
        "poetry-install",
        "github-actions",
        "gitlab-ci",
        "renovate",
    ] {
        assert!(
            example_dir(name).join("README.md").is_file(),
            "examples/{name} has no README.md"
        );
    }
    Ok(())
}
