//! The real binary's command line (issue 7): bad configuration exits non-zero with one line
//! on stderr that names the bad value; `--help` and `--version` are what a newcomer reads.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;

/// How long the binary may take to refuse a configuration (it should take milliseconds).
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a stderr line is one of the hints clap prints under its own errors (the possible
/// values of an enum, a tip, where to find help): help around the error, not the error.
fn is_clap_hint(line: &str) -> bool {
    line == "For more information, try '--help'."
        || line.starts_with("[possible values: ")
        || line.starts_with("tip: ")
        || line.starts_with("Usage: ")
}

/// What one run of the binary did.
struct Run {
    what: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts a non-zero exit and one error line on stderr containing every one of `names`;
    /// returns that line.
    fn assert_refused(&self, names: &[&str]) -> String {
        assert!(
            matches!(self.code, Some(code) if code != 0),
            "{}: expected a non-zero exit code, got {:?}\nstderr: {}",
            self.what,
            self.code,
            self.stderr
        );
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !is_clap_hint(line))
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "{}: expected one error line on stderr, got:\n{}",
            self.what,
            self.stderr
        );
        let line = lines[0].to_owned();
        for name in names {
            assert!(
                line.contains(name),
                "{}: the error does not name `{name}`: {line}",
                self.what
            );
        }
        line
    }

    fn assert_success(&self) -> &Self {
        assert_eq!(
            self.code,
            Some(0),
            "{}: expected success\nstdout: {}\nstderr: {}",
            self.what,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `oci-pypi <args>` in a fresh directory (so that a default `./oci-pypi-data` lands
/// nowhere that matters), with no `OCI_PYPI_*` or `PORT` variables but `env`; kills it if it
/// has not exited within [`EXIT_TIMEOUT`].
async fn run(args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Run> {
    let dir = tempfile::tempdir()?;
    run_in(dir.path(), args, env).await
}

async fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Run> {
    let what = format!("oci-pypi {} (env {env:?})", args.join(" "));
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_oci-pypi"));
    for (key, _) in std::env::vars_os() {
        let name = key.to_string_lossy();
        if name.starts_with("OCI_PYPI_") || name == "PORT" || name == "RUST_LOG" {
            command.env_remove(&key);
        }
    }
    command
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command.spawn().context("starting oci-pypi")?;
    let output = tokio::time::timeout(EXIT_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("{what}: still running after {EXIT_TIMEOUT:?}"))??;
    Ok(Run {
        what,
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// A bad configuration: the arguments, the environment variables, and what the one error
/// line must name.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, Vec<&'a str>);

/// Settings the binary cannot start with, given as flags or as environment variables: each
/// names the bad value on one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_exit_with_one_line_naming_the_value() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store").display().to_string();
    let missing_users = dir.path().join("no-such-htpasswd").display().to_string();
    let md5_users = dir.path().join("htpasswd-md5");
    std::fs::write(&md5_users, "# users\nalice:$apr1$salt$hash\n")?;
    let md5_users = md5_users.display().to_string();
    let cases: Vec<Case> = vec![
        (
            vec!["--store-dir", &store, "--local-users", &missing_users],
            vec![],
            vec![&missing_users],
        ),
        (
            vec!["--store-dir", &store],
            vec![("OCI_PYPI_LOCAL_USERS", &md5_users)],
            vec![&md5_users, "line 2 (`alice`)", "bcrypt"],
        ),
        (
            vec!["--store-dir", &store, "--local-public-reads"],
            vec![],
            vec!["--local-users"],
        ),
        (
            vec![
                "--store-dir",
                &store,
                "--local-users",
                &md5_users,
                "--local-allow-anonymous-writes",
            ],
            vec![],
            vec!["--local-users", "--local-allow-anonymous-writes"],
        ),
        (
            vec!["--registries", "ftp://x"],
            vec![],
            vec!["ftp://x", "scheme"],
        ),
        (
            vec![],
            vec![("OCI_PYPI_REGISTRIES", "https://ghcr.io,ftp://x")],
            vec!["ftp://x", "scheme"],
        ),
        (
            vec!["--max-upload-size", "5XB"],
            vec![],
            vec!["5XB", "unit"],
        ),
        (
            vec![],
            vec![("OCI_PYPI_MAX_UPLOAD_SIZE", "lots")],
            vec!["lots"],
        ),
        (vec!["--port", "70000"], vec![], vec!["70000"]),
        (
            vec!["--host", "localhost:8080"],
            vec![],
            vec!["localhost:8080"],
        ),
        (
            vec!["--subpath", "pypi", "--store-dir", &store],
            vec![],
            vec!["pypi"],
        ),
        (vec!["--blob-redirects", "follow"], vec![], vec!["follow"]),
        (
            vec!["--host", "127.0.0.1", "--port", "0", "--store-dir", &store],
            vec![("OCI_PYPI_UPSTREAMS", "bogus")],
            vec!["bogus"],
        ),
        (
            vec![
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--store-dir",
                &store,
                "--upstreams",
                "local/team=not a url",
            ],
            vec![],
            vec!["local/team=not a url"],
        ),
        (
            vec![
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--store-dir",
                &store,
                "--upstreams",
                "registry.example/team=https://pypi.org/simple/",
            ],
            vec![],
            vec!["registry.example"],
        ),
    ];
    let webhooks = dir.path().join("webhooks.toml");
    std::fs::write(
        &webhooks,
        "[[webhook]]\nnamespace = \"*\"\nurl = \"https://hooks.example.com/\"\nevents = [\"uploads\"]\nsecret_env = \"X\"\n",
    )?;
    let webhooks = webhooks.display().to_string();
    let cases: Vec<Case> = cases
        .into_iter()
        .chain([(
            vec!["--store-dir", &store, "--webhooks", &webhooks],
            vec![],
            vec![webhooks.as_str(), "line 4", "`events`", "`uploads`"],
        )])
        .collect();
    for (args, env, names) in cases {
        let refused = run(&args, &env).await?;
        let line = refused.assert_refused(&names);
        eprintln!("{}: {line}", refused.what);
    }
    Ok(())
}

/// The port is taken: the binary says which address it could not listen on, and exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_in_use_exits_with_one_line() -> anyhow::Result<()> {
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port().to_string();
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store").display().to_string();
    let args = [
        "--host",
        "127.0.0.1",
        "--port",
        &port,
        "--store-dir",
        &store,
    ];
    let refused = run(&args, &[]).await?;
    refused.assert_refused(&[&format!("127.0.0.1:{port}")]);
    assert!(
        refused.stderr.to_lowercase().contains("in use"),
        "the reason is not given: {}",
        refused.stderr
    );
    // The same through `OCI_PYPI_PORT`, and through `PORT`.
    for variable in ["OCI_PYPI_PORT", "PORT"] {
        let env = [(variable, port.as_str()), ("OCI_PYPI_STORE_DIR", &store)];
        run(&["--host", "127.0.0.1"], &env)
            .await?
            .assert_refused(&[&format!("127.0.0.1:{port}")]);
    }
    drop(taken);
    Ok(())
}

/// A data directory that cannot be used (an existing file; a directory inside a file): the
/// binary names it and exits, instead of serving a store that fails every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_store_dir_exits_with_one_line() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("not-a-directory");
    std::fs::write(&file, b"a file, not a directory")?;
    let inside = file.join("store");
    for store in [&file, &inside] {
        let store = store.display().to_string();
        let args = ["--host", "127.0.0.1", "--port", "0", "--store-dir", &store];
        run(&args, &[]).await?.assert_refused(&[&store]);
        let env = [("OCI_PYPI_STORE_DIR", store.as_str())];
        run(&["--host", "127.0.0.1", "--port", "0"], &env)
            .await?
            .assert_refused(&[&store]);
    }
    // Without any setting, the default store is `./oci-pypi-data`: a file there is refused too.
    let cwd = tempfile::tempdir()?;
    std::fs::write(cwd.path().join("oci-pypi-data"), b"a file")?;
    run_in(cwd.path(), &["--host", "127.0.0.1", "--port", "0"], &[])
        .await?
        .assert_refused(&["oci-pypi-data"]);
    Ok(())
}

/// `--help` explains the options and their environment variables; `--version` prints the
/// version of Cargo.toml. Both succeed and write nothing to stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_version() -> anyhow::Result<()> {
    let help = run(&["--help"], &[]).await?;
    help.assert_success();
    assert!(help.stderr.is_empty(), "{}", help.stderr);
    for text in [
        "--registries",
        "--store-dir",
        "--max-upload-size",
        "--blob-redirects",
        "--port",
        "OCI_PYPI_REGISTRIES",
        "OCI_PYPI_STORE_DIR",
        "OCI_PYPI_MAX_UPLOAD_SIZE",
        "OCI_PYPI_BLOB_REDIRECTS",
        "OCI_PYPI_HOST",
        "OCI_PYPI_PORT",
        "OCI_PYPI_LOG_FORMAT",
        "PORT",
        "promote",
        "copy-namespace",
        "--version",
    ] {
        assert!(help.stdout.contains(text), "--help lacks `{text}`");
    }
    let short = run(&["-h"], &[]).await?;
    short.assert_success();
    assert!(short.stdout.contains("OCI_PYPI_REGISTRIES"));

    for flag in ["--version", "-V"] {
        let version = run(&[flag], &[]).await?;
        version.assert_success();
        assert!(version.stderr.is_empty(), "{}", version.stderr);
        assert_eq!(
            version.stdout.trim(),
            format!("oci-pypi {}", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
    Ok(())
}

/// `oci-pypi healthcheck` (the container's HEALTHCHECK, which has no shell and no curl): exit 0
/// against a running server with the same settings, even when it listens on every address;
/// one line naming the URL and exit 1 when nothing answers or `/health` is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_command_follows_the_server_settings() -> anyhow::Result<()> {
    let server = crate::harness::process::ServerProcess::start("http://127.0.0.1:9", &[]).await?;
    let port = server
        .url()
        .rsplit(':')
        .next()
        .context("a port")?
        .to_owned();
    let healthy = run(
        &["healthcheck"],
        &[("OCI_PYPI_HOST", "0.0.0.0"), ("OCI_PYPI_PORT", &port)],
    )
    .await?;
    healthy.assert_success();
    assert_eq!(
        healthy.stdout.trim(),
        format!("healthy: http://127.0.0.1:{port}/health")
    );

    let wrong_subpath = run(&["--port", &port, "--subpath", "/pypi", "healthcheck"], &[]).await?;
    wrong_subpath.assert_refused(&[
        &format!("http://127.0.0.1:{port}/pypi/health"),
        "answered 403",
    ]);

    let nothing = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port()
        .to_string();
    let down = run(&["healthcheck"], &[("PORT", &nothing)]).await?;
    down.assert_refused(&[
        &format!("http://127.0.0.1:{nothing}/health"),
        "cannot connect",
    ]);
    Ok(())
}

/// The environment of a command against the test's registry, with its credentials.
fn registry_env(env: &crate::harness::TestEnv) -> Vec<(String, String)> {
    let mut vars = vec![("OCI_PYPI_REGISTRIES".to_owned(), env.registry.origin())];
    if let Some((user, password)) = env.credentials() {
        vars.push(("OCI_PYPI_USERNAME".to_owned(), user.clone()));
        vars.push(("OCI_PYPI_PASSWORD".to_owned(), password.clone()));
        for side in ["FROM", "TO"] {
            vars.push((format!("OCI_PYPI_{side}_USERNAME"), user.clone()));
            vars.push((format!("OCI_PYPI_{side}_PASSWORD"), password.clone()));
        }
    }
    vars
}

async fn run_against(env: &crate::harness::TestEnv, args: &[&str]) -> anyhow::Result<Run> {
    let vars = registry_env(env);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run(args, &vars).await
}

/// `oci-pypi <command> --namespace <namespace> --project <project> <rest>` against the test's
/// registry.
async fn run_on_project(
    env: &crate::harness::TestEnv,
    command: &str,
    (namespace, project): (&str, &str),
    rest: &[&str],
) -> anyhow::Result<Run> {
    let mut args = vec![command, "--namespace", namespace, "--project", project];
    args.extend_from_slice(rest);
    run_against(env, &args).await
}

fn json_of(run: &Run) -> serde_json::Value {
    run.assert_success();
    serde_json::from_str(run.stdout.trim())
        .unwrap_or_else(|error| panic!("{}: not JSON ({error}): {}", run.what, run.stdout))
}

/// A namespace managed from a terminal against the real registry: `list` (with a query),
/// `versions` (upload times, yanks), `yank`/`unyank`, `delete` of a file and of a release,
/// and `promote --query` of every matching project, in text and `--json`; pip installs what
/// was promoted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manages_a_namespace_from_the_command_line() -> anyhow::Result<()> {
    use crate::harness::{AuthMode, DistSpec, TestEnv};
    let mut env = TestEnv::start(AuthMode::Htpasswd).await?;
    env.namespace = "cli/staging".to_owned();
    let staging = format!("{}/cli/staging", env.segment());
    let production = format!("{}/cli/production", env.segment());
    let mut files = Vec::new();
    for (name, version) in [
        ("acme-one", "1.0"),
        ("acme-one", "1.1"),
        ("acme-two", "2.0"),
        ("other", "0.1"),
    ] {
        let spec = DistSpec::new(name, version);
        files.push(env.sandbox.wheel(&spec).await?);
        files.push(env.sandbox.sdist(&spec).await?);
    }
    let refs: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    env.twine_upload(&refs).await?.assert_success();

    let listed = run_against(&env, &["list", "--namespace", &staging]).await?;
    listed.assert_success();
    assert_eq!(listed.stdout.trim(), "acme-one\nacme-two\nother");
    let queried = json_of(
        &run_against(
            &env,
            &[
                "list",
                "--namespace",
                &staging,
                "--query",
                "Acme_*",
                "--json",
            ],
        )
        .await?,
    );
    assert_eq!(
        queried["projects"],
        serde_json::json!(["acme-one", "acme-two"])
    );

    let yanked = run_on_project(
        &env,
        "yank",
        (&staging, "acme-one"),
        &["--target", "1.0", "--reason", "broken build"],
    )
    .await?;
    yanked.assert_success();
    assert_eq!(yanked.stdout.trim(), "yanked acme-one 1.0");
    let versions = run_on_project(&env, "versions", (&staging, "acme-one"), &[]).await?;
    versions.assert_success();
    let text = versions.stdout.clone();
    assert!(
        text.starts_with("1.0\n  acme_one-1.0-py3-none-any.whl  20"),
        "{text}"
    );
    assert!(text.contains("yanked: broken build"), "{text}");
    let report =
        json_of(&run_on_project(&env, "versions", (&staging, "acme-one"), &["--json"]).await?);
    assert_eq!(report["project"], "acme-one");
    let releases = report["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 2, "{report}");
    assert_eq!(releases[0]["version"], "1.0");
    assert_eq!(releases[0]["yanked"], true);
    assert_eq!(releases[0]["files"][0]["yanked_reason"], "broken build");
    assert_eq!(releases[1]["yanked"], false);
    assert!(
        releases[1]["files"][0]["uploaded"]
            .as_str()
            .unwrap()
            .starts_with("20")
    );
    assert_eq!(releases[1]["files"].as_array().unwrap().len(), 2);

    let unyanked = json_of(
        &run_on_project(
            &env,
            "unyank",
            (&staging, "acme-one"),
            &["--target", "1.0", "--json"],
        )
        .await?,
    );
    assert_eq!(unyanked["action"], "unyanked");
    let deleted = run_on_project(
        &env,
        "delete",
        (&staging, "acme-one"),
        &["--target", "acme_one-1.1.tar.gz"],
    )
    .await?;
    deleted.assert_success();
    run_on_project(&env, "delete", (&staging, "other"), &["--target", "0.1"])
        .await?
        .assert_success();
    let report =
        json_of(&run_on_project(&env, "versions", (&staging, "acme-one"), &["--json"]).await?);
    assert_eq!(report["releases"][0]["yanked"], false, "{report}");
    assert_eq!(
        report["releases"][1]["files"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    // The registry's catalog may keep the emptied repository; the project has no release.
    let gone = run_on_project(&env, "versions", (&staging, "other"), &[]).await?;
    gone.assert_refused(&["other"]);
    assert_eq!(gone.code, Some(1));

    let promoted = json_of(
        &run_against(
            &env,
            &[
                "promote",
                "--from",
                &staging,
                "--to",
                &production,
                "--query",
                "acme-*",
                "--json",
            ],
        )
        .await?,
    );
    let each: Vec<(String, String)> = promoted["promoted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["project"].as_str().unwrap().to_owned(),
                p["target"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        each,
        [
            ("acme-one".to_owned(), "1.0".to_owned()),
            ("acme-one".to_owned(), "1.1".to_owned()),
            ("acme-two".to_owned(), "2.0".to_owned())
        ]
    );
    assert_eq!(
        promoted["copied"].as_array().unwrap().len(),
        5,
        "{promoted}"
    );
    // Again, with a version: only the projects that have it; all already there.
    let again = run_against(
        &env,
        &[
            "promote",
            "--from",
            &staging,
            "--to",
            &production,
            "--query",
            "acme-*",
            "--target",
            "2.0",
        ],
    )
    .await?;
    again.assert_success();
    assert_eq!(
        again.stdout.trim(),
        "acme-two 2.0: 0 copied, 2 already there"
    );
    let listed = run_against(&env, &["list", "--namespace", &production]).await?;
    assert_eq!(listed.stdout.trim(), "acme-one\nacme-two");
    env.namespace = "cli/production".to_owned();
    env.assert_pip_installs(&["acme-two"], &[]).await?;
    Ok(())
}

/// Command mistakes: unknown arguments and missing choices (exit 2, clap), and what the
/// registry or the index refuses or cannot answer (exit 1), each one line naming the value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_commands_fail_with_one_line() -> anyhow::Result<()> {
    let unknown = run(&["list", "--namespace", "ghcr.io/x", "--bogus"], &[]).await?;
    unknown.assert_refused(&["--bogus"]);
    assert_eq!(unknown.code, Some(2));
    // clap lists what is missing under its error line.
    let neither = run(&["promote", "--from", "a/b", "--to", "c/d"], &[]).await?;
    assert_eq!(neither.code, Some(2));
    assert!(
        neither.stderr.contains("--project") && neither.stderr.contains("--query"),
        "{}",
        neither.stderr
    );
    let no_target = run(
        &["promote", "--from", "a/b", "--to", "c/d", "--project", "x"],
        &[],
    )
    .await?;
    assert_eq!(no_target.code, Some(2));
    assert!(
        no_target.stderr.contains("--target"),
        "{}",
        no_target.stderr
    );

    let nothing = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let origin = format!("http://{nothing}");
    let unreachable = run(
        &["list", "--namespace", &format!("{nothing}/team")],
        &[("OCI_PYPI_REGISTRIES", &origin)],
    )
    .await?;
    let line = unreachable.assert_refused(&[&nothing.to_string()]);
    assert_eq!(unreachable.code, Some(1), "{line}");

    let not_served = run(
        &["versions", "--namespace", "ghcr.io/team", "--project", "x"],
        &[("OCI_PYPI_REGISTRIES", &origin)],
    )
    .await?;
    not_served.assert_refused(&["ghcr.io"]);
    let bad_namespace = run(
        &["list", "--namespace", "ghcr.io"],
        &[("OCI_PYPI_REGISTRIES", &origin)],
    )
    .await?;
    bad_namespace.assert_refused(&["`ghcr.io` is not `<registry>/<namespace>`"]);
    let bad_query = run(
        &[
            "list",
            "--namespace",
            &format!("{nothing}/team"),
            "--query",
            "a/b",
        ],
        &[("OCI_PYPI_REGISTRIES", &origin)],
    )
    .await?;
    bad_query.assert_refused(&["a/b"]);
    Ok(())
}

/// An attestation trust root that cannot be used stops the server before it listens, naming
/// the file and why: missing, not certificates, a trusted_root.json without authorities.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_attestation_trust_roots_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = dir.path().join("store").display().to_string();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, b"no certificate in here\n")?;
    let json = dir.path().join("trusted_root.json");
    std::fs::write(&json, br#"{"certificateAuthorities": []}"#)?;
    let missing = dir.path().join("missing.pem");
    let cases = [
        (empty, "no certificate found"),
        (json, "has no certificate"),
        (missing, "No such file"),
    ];
    for (path, reason) in cases {
        let path = path.display().to_string();
        let args = [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--store-dir",
            &store,
            "--attestation-trust-root",
            &path,
        ];
        run(&args, &[]).await?.assert_refused(&[&path, reason]);
    }
    Ok(())
}
