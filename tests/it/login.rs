//! `oci-pypi login` (issue 16): client configuration written for an index URL, with the
//! credentials of the docker credential store (a credential helper here), then used by the
//! real pip, uv, twine and poetry.

use std::path::{Path, PathBuf};

use crate::harness::{AuthMode, DistSpec, TestEnv};

/// Runs `oci-pypi <args>` with `HOME` = the sandbox's home, the docker configuration in
/// `docker`, and `bin` first on `PATH`; returns (exit code, stdout, stderr).
async fn login(
    env: &TestEnv,
    docker: &Path,
    bin: &Path,
    args: &[&str],
) -> anyhow::Result<(Option<i32>, String, String)> {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"));
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("OCI_PYPI_") || name.starts_with("XDG_") || name == "DOCKER_CONFIG" {
            command.env_remove(&key);
        }
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = command
        .arg("login")
        .args(args)
        .env("HOME", env.sandbox.home())
        .env("DOCKER_CONFIG", docker)
        .env("PATH", path)
        .output()
        .await?;
    Ok((
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// [`login`] with `--tool <tool> --index-url <index_url>` and `extra`, which must succeed;
/// its stdout and stderr.
async fn login_ok(
    env: &TestEnv,
    (docker, bin): (&Path, &Path),
    tool: &str,
    extra: &[&str],
) -> anyhow::Result<(String, String)> {
    let index_url = env.index_url();
    let mut args = vec!["--tool", tool, "--index-url", index_url.as_str()];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = login(env, docker, bin, &args).await?;
    assert_eq!(code, Some(0), "{args:?}: {stderr}");
    Ok((stdout, stderr))
}

/// Runs `client` (`pip` or `uv`) with `args`, `--target <fresh target>` and `requirement`, in
/// `environment`, which must succeed; the target.
async fn install_into_fresh_target(
    env: &TestEnv,
    client: &str,
    args: &[&str],
    requirement: &str,
    environment: &[(&str, &str)],
) -> anyhow::Result<PathBuf> {
    let target = env.sandbox.fresh_path("site");
    let target_s = target.display().to_string();
    let mut args = args.to_vec();
    args.extend(["--target", target_s.as_str(), requirement]);
    env.sandbox
        .run_with_env(client, &args, environment)
        .await?
        .assert_success();
    Ok(target)
}

/// A docker configuration whose credential helper `ocipypitest` knows the registry's
/// credentials (and nothing else).
fn docker_store(env: &TestEnv, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
    let (user, password) = env.credentials().unwrap();
    let docker = dir.join("docker");
    let bin = dir.join("bin");
    std::fs::create_dir_all(&docker)?;
    std::fs::create_dir_all(&bin)?;
    std::fs::write(
        docker.join("config.json"),
        format!(
            r#"{{"auths": {{}}, "credHelpers": {{"{}": "ocipypitest"}}}}"#,
            env.segment()
        ),
    )?;
    let helper = bin.join("docker-credential-ocipypitest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nread server\nif [ \"$1\" = get ] && [ \"$server\" = \"{host}\" ]; then\n  printf '{{\"ServerURL\":\"%s\",\"Username\":\"{user}\",\"Secret\":\"{password}\"}}' \"$server\"\nelse\n  echo 'credentials not found in native keychain'\n  exit 1\nfi\n",
            host = env.segment()
        ),
    )?;
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755))?;
    Ok((docker, bin))
}

/// pip and uv install, twine uploads, poetry knows the repository: each from the
/// configuration `oci-pypi login` wrote, credentials from a docker credential helper (or the
/// flags); `--tool env` prints variables pip installs with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_configures_pip_uv_twine_and_poetry() -> anyhow::Result<()> {
    let mut env = TestEnv::start(AuthMode::Htpasswd).await?;
    env.namespace = "login/python".to_owned();
    let spec = DistSpec::new("logged-in", "1.0");
    env.publish_wheel(&spec).await?;
    let dir = tempfile::tempdir()?;
    let (docker, bin) = docker_store(&env, dir.path())?;
    let store = (docker.as_path(), bin.as_path());
    let index_url = env.index_url();
    let home = env.sandbox.home();

    // pip
    let (stdout, stderr) = login_ok(&env, store, "pip", &[]).await?;
    let pip_conf = home.join(".config/pip/pip.conf");
    assert!(stdout.contains("docker-credential-ocipypitest"), "{stdout}");
    assert!(stdout.contains(&pip_conf.display().to_string()), "{stdout}");
    let (_, password) = env.credentials().unwrap();
    assert!(!stdout.contains(&password) && !stderr.contains(&password));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&pip_conf)?.permissions().mode() & 0o777,
        0o600
    );
    let pip_conf_s = pip_conf.display().to_string();
    let environment = [("PIP_CONFIG_FILE", pip_conf_s.as_str())];
    let target =
        install_into_fresh_target(&env, "pip", &["install"], "logged-in", &environment).await?;
    let module = spec.module();
    let expected = [(module.as_str(), "1.0")];
    env.sandbox.assert_imports(&target, &expected).await?;

    // uv
    login_ok(&env, store, "uv", &[]).await?;
    let uv_toml = home.join(".config/uv/uv.toml").display().to_string();
    let python = env.sandbox.venv().join("bin/python").display().to_string();
    let args = [
        "pip",
        "install",
        "--config-file",
        &uv_toml,
        "--python",
        &python,
    ];
    let target = install_into_fresh_target(&env, "uv", &args, "logged-in", &[]).await?;
    env.sandbox.assert_imports(&target, &expected).await?;

    // twine, credentials from the flags this time
    let (user, password) = env.credentials().unwrap();
    let flags = ["--username", &user, "--password", &password];
    login_ok(&env, store, "twine", &flags).await?;
    let next = DistSpec::new("logged-in", "1.1");
    let wheel = env.sandbox.wheel(&next).await?;
    let wheel_s = wheel.display().to_string();
    env.sandbox
        .twine(&["upload", "--non-interactive", "-r", "oci-pypi", &wheel_s])
        .await?
        .assert_success();
    env.assert_pip_installs(&["logged-in==1.1"], &[(&next.module(), "1.1")])
        .await?;

    // poetry
    login_ok(&env, store, "poetry", &[]).await?;
    let shown = env
        .sandbox
        .python(&["-m", "poetry", "config", "repositories.oci-pypi.url"])
        .await?;
    shown.assert_success();
    assert_eq!(shown.stdout.trim(), index_url);
    let auth = std::fs::read_to_string(home.join(".config/pypoetry/auth.toml"))?;
    let auth: toml::Table = toml::from_str(&auth)?;
    assert_eq!(
        auth["http-basic"]["oci-pypi"]["username"].as_str(),
        Some(user.as_str())
    );

    // env
    let (stdout, _) = login_ok(&env, store, "env", &["--json"]).await?;
    let variables: serde_json::Value = serde_json::from_str(stdout.trim())?;
    let pip_index = variables["PIP_INDEX_URL"].as_str().unwrap().to_owned();
    let environment = [("PIP_INDEX_URL", pip_index.as_str())];
    install_into_fresh_target(&env, "pip", &["install"], "logged-in==1.0", &environment).await?;
    Ok(())
}

/// What the credential store cannot give, and bad flags: one line, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_are_one_line() -> anyhow::Result<()> {
    let env = TestEnv::start(AuthMode::Htpasswd).await?;
    let dir = tempfile::tempdir()?;
    let (docker, bin) = docker_store(&env, dir.path())?;
    let index_url = env.index_url();
    let for_quay = [
        "--tool",
        "pip",
        "--index-url",
        &index_url,
        "--registry",
        "quay.io",
    ];
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (for_quay.to_vec(), vec!["has no credentials for `quay.io`"]),
        (
            vec!["--tool", "pip", "--index-url", "ftp://x/y/"],
            vec!["ftp://x/y/", "http(s)"],
        ),
        (
            vec![
                "--tool",
                "pip",
                "--index-url",
                &index_url,
                "--username",
                "u",
            ],
            vec!["--username", "--password"],
        ),
    ];
    for (args, names) in cases {
        let (code, stdout, stderr) = login(&env, &docker, &bin, &args).await?;
        assert_eq!(code, Some(1), "{args:?}: {stdout} {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        for name in names {
            assert!(lines[0].contains(name), "{args:?}: {}", lines[0]);
        }
    }
    // The helper answers for the registry only: another one is refused by the helper itself.
    std::fs::write(
        docker.join("config.json"),
        r#"{"credsStore": "ocipypitest"}"#,
    )?;
    let (code, _, stderr) = login(&env, &docker, &bin, &for_quay).await?;
    assert_eq!(code, Some(1));
    assert!(
        stderr.trim()
            == "oci-pypi: `docker-credential-ocipypitest get` found no credentials for `quay.io`: credentials not found in native keychain",
        "{stderr}"
    );
    let (code, _, stderr) = login(
        &env,
        &docker,
        &bin,
        &["--tool", "pipx", "--index-url", &index_url],
    )
    .await?;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("pipx"), "{stderr}");
    Ok(())
}
