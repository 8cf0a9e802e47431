//! Real Python package clients (pip, uv, twine) for the integration tests.
//!
//! The clients live in a virtualenv made by `scripts/test-venv.sh` (see
//! [`venv`]). Every client runs inside a [`Sandbox`]: a temporary directory
//! that is its working directory and its `HOME`, with every inherited
//! `PIP_*`, `UV_*`, `TWINE_*`, `PYTHON*`, `XDG_*`, proxy and CA-bundle
//! variable removed, so that neither this machine's configuration nor another
//! test's leaks in.
//!
//! Test packages are made by `tests/fixtures/make_dist.py` (see [`DistSpec`]).
//!
//! Command lines are shown in failure messages with credentials redacted:
//! the value after `-p`/`--password`/`--token` (and `-t` for uv), the
//! password in `scheme://user:password@host` URLs, and the values of
//! secret-looking environment variables given to [`Sandbox::run_with_env`].

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tempfile::TempDir;

/// How long one client command may run before it is killed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// The environment variable that points at the clients' virtualenv.
pub const VENV_ENV: &str = "OCI_PYPI_TEST_VENV";

/// The virtualenv with the real clients: `$OCI_PYPI_TEST_VENV` (relative
/// paths are taken from the crate root), else `<crate root>/target/test-venv`.
///
/// Errors, with a hint to run `scripts/test-venv.sh`, if it is missing or
/// lacks a client.
pub fn venv() -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os(VENV_ENV) {
        Some(v) if !v.is_empty() => Path::new(MANIFEST_DIR).join(v),
        _ => Path::new(MANIFEST_DIR).join("target/test-venv"),
    };
    for tool in ["python", "pip", "twine", "uv"] {
        let exe = dir.join("bin").join(tool);
        if !exe.is_file() {
            bail!(
                "the Python client venv is missing or incomplete: {} not found.\n\
                 Create it with `scripts/test-venv.sh` (from the repository root), \
                 or point {VENV_ENV} at a venv that has pip, twine and uv.",
                exe.display()
            );
        }
    }
    Ok(dir)
}

/// The path of `tests/fixtures/make_dist.py`.
pub fn make_dist_script() -> PathBuf {
    Path::new(MANIFEST_DIR).join("tests/fixtures/make_dist.py")
}

/// What a finished client command did.
#[derive(Clone)]
pub struct Output {
    /// The exit code; 128 + N when killed by signal N.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    /// The command line, with credentials redacted (safe to print).
    pub command: String,
    /// Secrets that occurred in the command; replaced by `***` in dumps.
    secrets: Vec<String>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Panics with a readable dump (command, status, stdout, stderr) unless
    /// the command succeeded.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        if !self.success() {
            panic!("command failed, but success was expected\n{}", self.dump());
        }
        self
    }

    /// Panics with a readable dump unless the command failed.
    #[track_caller]
    pub fn assert_failure(&self) -> &Self {
        if self.success() {
            panic!(
                "command succeeded, but failure was expected\n{}",
                self.dump()
            );
        }
        self
    }

    /// Panics with a readable dump unless the command failed saying `text` (in stdout or
    /// stderr).
    #[track_caller]
    pub fn assert_failure_saying(&self, text: &str) -> &Self {
        self.assert_failure();
        assert!(
            self.combined().contains(text),
            "the output does not say `{text}`\n{}",
            self.dump()
        );
        self
    }

    /// stdout followed by stderr. Both have terminal escapes removed.
    pub fn combined(&self) -> String {
        let mut s = String::with_capacity(self.stdout.len() + self.stderr.len() + 1);
        s.push_str(&self.stdout);
        if !s.is_empty() && !s.ends_with('\n') && !self.stderr.is_empty() {
            s.push('\n');
        }
        s.push_str(&self.stderr);
        s
    }

    /// The command, status and outputs, credentials redacted.
    pub fn dump(&self) -> String {
        format!(
            "--- command: {}\n--- exit status: {}\n--- stdout:\n{}\n--- stderr:\n{}\n--- end",
            self.command,
            self.status,
            self.scrub(&self.stdout).trim_end(),
            self.scrub(&self.stderr).trim_end(),
        )
    }

    fn scrub(&self, text: &str) -> String {
        let mut s = redact_urls(text);
        for secret in &self.secrets {
            s = s.replace(secret.as_str(), "***");
        }
        s
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dump())
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.dump())
    }
}

/// A package to make with `make_dist.py`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DistSpec {
    pub name: String,
    pub version: String,
    /// `Requires-Dist` entries, e.g. `"dep-a>=1.0"`.
    pub requires: Vec<String>,
    /// Wheel tag; `py3-none-any` when `None`.
    pub tag: Option<String>,
    /// Wheel build tag (must start with a digit).
    pub build_tag: Option<String>,
    pub requires_python: Option<String>,
    /// `Metadata-Version` of METADATA and PKG-INFO; `2.1` when `None`. From 2.2 an sdist's
    /// PKG-INFO is reliable (PEP 643) and the index serves it as the sdist's `.metadata`.
    pub metadata_version: Option<String>,
    /// Size of a pseudo-random `<module>/payload.bin`.
    pub payload_bytes: Option<u64>,
    /// Seed of the payload (0 when `None`); another seed gives another file
    /// under the same file name, payload or not.
    pub seed: Option<u64>,
    /// The README (long description) file and its `Description-Content-Type`.
    pub readme: Option<(PathBuf, String)>,
}

impl DistSpec {
    pub fn new(name: &str, version: &str) -> Self {
        DistSpec {
            name: name.to_owned(),
            version: version.to_owned(),
            ..Default::default()
        }
    }
    pub fn requires(mut self, req: &str) -> Self {
        self.requires.push(req.to_owned());
        self
    }
    pub fn tag(mut self, tag: &str) -> Self {
        self.tag = Some(tag.to_owned());
        self
    }
    pub fn build_tag(mut self, build: &str) -> Self {
        self.build_tag = Some(build.to_owned());
        self
    }
    pub fn requires_python(mut self, spec: &str) -> Self {
        self.requires_python = Some(spec.to_owned());
        self
    }
    pub fn metadata_version(mut self, version: &str) -> Self {
        self.metadata_version = Some(version.to_owned());
        self
    }
    pub fn payload_bytes(mut self, n: u64) -> Self {
        self.payload_bytes = Some(n);
        self
    }
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = Some(s);
        self
    }
    pub fn readme(mut self, file: &Path, content_type: &str) -> Self {
        self.readme = Some((file.to_owned(), content_type.to_owned()));
        self
    }

    /// The name as it appears in file names and as the module name:
    /// lowercase, runs of `-_.` replaced by `_`.
    pub fn normalized_name(&self) -> String {
        normalize_name(&self.name, '_')
    }
    /// The PEP 503 normalized project name (runs of `-_.` → `-`).
    pub fn project_name(&self) -> String {
        normalize_name(&self.name, '-')
    }
    /// The importable module the package holds.
    pub fn module(&self) -> String {
        self.normalized_name()
    }
    /// The wheel's file name.
    pub fn wheel_filename(&self) -> String {
        let mut parts = vec![self.normalized_name(), self.version.replace('-', "_")];
        if let Some(b) = &self.build_tag {
            parts.push(b.clone());
        }
        parts.push(
            self.tag
                .clone()
                .unwrap_or_else(|| "py3-none-any".to_owned()),
        );
        format!("{}.whl", parts.join("-"))
    }
    /// The sdist's file name.
    pub fn sdist_filename(&self) -> String {
        format!(
            "{}-{}.tar.gz",
            self.normalized_name(),
            self.version.replace('-', "_")
        )
    }

    fn make_dist_args(&self, kind: &str, outdir: &Path) -> Vec<String> {
        let mut a = vec![
            make_dist_script().display().to_string(),
            kind.to_owned(),
            outdir.display().to_string(),
            self.name.clone(),
            self.version.clone(),
        ];
        for r in &self.requires {
            a.push("--requires".into());
            a.push(r.clone());
        }
        if let Some(t) = &self.tag {
            a.push("--tag".into());
            a.push(t.clone());
        }
        if let Some(b) = &self.build_tag {
            a.push("--build-tag".into());
            a.push(b.clone());
        }
        if let Some(r) = &self.requires_python {
            a.push("--requires-python".into());
            a.push(r.clone());
        }
        if let Some(v) = &self.metadata_version {
            a.push("--metadata-version".into());
            a.push(v.clone());
        }
        if let Some(n) = self.payload_bytes {
            a.push("--payload-bytes".into());
            a.push(n.to_string());
        }
        if let Some(s) = self.seed {
            a.push("--seed".into());
            a.push(s.to_string());
        }
        if let Some((file, content_type)) = &self.readme {
            a.push("--readme-file".into());
            a.push(file.display().to_string());
            a.push("--readme-type".into());
            a.push(content_type.clone());
        }
        a
    }
}

/// `name` lowercased, with each run of `-`, `_` and `.` replaced by `sep` (PEP 503 with `-`).
pub fn normalize_name(name: &str, sep: char) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push(sep);
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// A sandbox for running the clients with an isolated configuration.
pub struct Sandbox {
    dir: TempDir,
    venv: PathBuf,
    timeout: Duration,
    counter: AtomicUsize,
}

impl Sandbox {
    /// A new sandbox (fails if the client venv is missing; see [`venv`]).
    pub fn new() -> anyhow::Result<Sandbox> {
        let venv = venv()?;
        let dir = tempfile::Builder::new()
            .prefix("oci-pypi-clients-")
            .tempdir()
            .context("creating the sandbox directory")?;
        for sub in ["home", "dist", "tmp"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .with_context(|| format!("creating {sub} in the sandbox"))?;
        }
        Ok(Sandbox {
            dir,
            venv,
            timeout: DEFAULT_TIMEOUT,
            counter: AtomicUsize::new(0),
        })
    }

    /// The sandbox directory (also the clients' working directory).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The clients' virtualenv.
    pub fn venv(&self) -> &Path {
        &self.venv
    }

    /// The clients' `HOME`.
    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    /// Where [`Sandbox::wheel`] and [`Sandbox::sdist`] put their files.
    pub fn dist_dir(&self) -> PathBuf {
        self.path().join("dist")
    }

    /// A new, empty, not yet existing path `<sandbox>/<prefix>-N`.
    pub fn fresh_path(&self, prefix: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.path().join(format!("{prefix}-{n}"))
    }

    /// A new, empty directory `<sandbox>/<prefix>-N`.
    pub fn fresh_dir(&self, prefix: &str) -> anyhow::Result<PathBuf> {
        let dir = self.fresh_path(prefix);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Runs `<venv>/bin/pip ARGS`.
    pub async fn pip(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.run_with_env("pip", args, &[]).await
    }

    /// Runs `<venv>/bin/uv ARGS`.
    pub async fn uv(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.run_with_env("uv", args, &[]).await
    }

    /// Runs `<venv>/bin/twine ARGS`.
    pub async fn twine(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.run_with_env("twine", args, &[]).await
    }

    /// `twine upload` of `files` to the repository `url` as `username` with `password`.
    pub async fn twine_upload(
        &self,
        url: &str,
        username: &str,
        password: &str,
        files: &[&Path],
    ) -> anyhow::Result<Output> {
        let mut args = vec![
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            url,
            "-u",
            username,
            "-p",
            password,
        ];
        let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        self.twine(&args).await
    }

    /// Runs `<venv>/bin/python ARGS`.
    pub async fn python(&self, args: &[&str]) -> anyhow::Result<Output> {
        self.run_with_env("python", args, &[]).await
    }

    /// Runs `program` (`"pip"`, `"uv"`, `"twine"` or `"python"`, from the
    /// venv) with the sandbox's isolation plus `env` (which may override it).
    /// Errors if the program cannot be started or runs past the timeout; a
    /// non-zero exit is not an error (see [`Output::assert_success`]).
    pub async fn run_with_env(
        &self,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<Output> {
        let exe = match program {
            "pip" | "uv" | "twine" | "python" => self.venv.join("bin").join(program),
            other => bail!("unknown client {other:?} (want pip, uv, twine or python)"),
        };
        let (shown, secrets) = describe(program, args, env);

        let mut cmd = self.isolated_command(&exe);
        cmd.args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.finish(cmd, shown, secrets).await
    }

    /// `program` in the sandbox: isolated, no stdin, output captured, killed on drop, in a
    /// process group of its own (so that a timeout also ends the processes it started: build
    /// backends, ...).
    fn isolated_command(&self, program: impl AsRef<std::ffi::OsStr>) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(program);
        cmd.current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        self.isolate(&mut cmd);
        cmd
    }

    /// Runs `cmd` (shown as `shown`) to its end or the timeout, whichever comes first.
    async fn finish(
        &self,
        mut cmd: tokio::process::Command,
        shown: String,
        secrets: Vec<String>,
    ) -> anyhow::Result<Output> {
        let child = cmd.spawn().with_context(|| format!("starting `{shown}`"))?;
        let pid = child.id();
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(result) => {
                let out = result.with_context(|| format!("waiting for `{shown}`"))?;
                Ok(Output {
                    status: exit_code(&out.status),
                    stdout: strip_ansi(&String::from_utf8_lossy(&out.stdout)),
                    stderr: strip_ansi(&String::from_utf8_lossy(&out.stderr)),
                    command: shown,
                    secrets,
                })
            }
            Err(_) => {
                // The child itself was killed when its future was dropped;
                // end the rest of its process group too.
                if let Some(pid) = pid {
                    let _ = std::process::Command::new("kill")
                        .args(["-KILL", "--", &format!("-{pid}")])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
                bail!(
                    "`{shown}` did not finish within {:?} and was killed",
                    self.timeout
                )
            }
        }
    }

    fn isolate(&self, cmd: &mut tokio::process::Command) {
        const PREFIXES: &[&str] = &[
            "PIP_",
            "UV_",
            "TWINE_",
            "PYTHON",
            "VIRTUAL_ENV",
            "XDG_",
            "CONDA_",
        ];
        const NAMES: &[&str] = &[
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
            "ftp_proxy",
            "REQUESTS_CA_BUNDLE",
            "CURL_CA_BUNDLE",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
            "NETRC",
            "FORCE_COLOR",
            "CLICOLOR_FORCE",
            "KEYRING_PROPERTY",
        ];
        for (key, _) in std::env::vars_os() {
            let Some(k) = key.to_str() else { continue };
            let upper = k.to_ascii_uppercase();
            if PREFIXES.iter().any(|p| upper.starts_with(p))
                || NAMES.iter().any(|n| n.eq_ignore_ascii_case(k))
            {
                cmd.env_remove(&key);
            }
        }

        let root = self.path();
        let mut path = OsString::from(self.venv.join("bin"));
        if let Some(p) = std::env::var_os("PATH") {
            path.push(":");
            path.push(p);
        }
        let dir = |sub: &str| root.join(sub).into_os_string();
        let fixed = |v: &str| OsString::from(v);
        let env: Vec<(&str, OsString)> = vec![
            ("HOME", self.home().into_os_string()),
            ("PATH", path),
            ("TMPDIR", dir("tmp")),
            ("PIP_CONFIG_FILE", fixed("/dev/null")),
            ("PIP_DISABLE_PIP_VERSION_CHECK", fixed("1")),
            ("PIP_NO_INPUT", fixed("1")),
            ("PIP_CACHE_DIR", dir("pip-cache")),
            ("UV_NO_CONFIG", fixed("1")),
            ("UV_CACHE_DIR", dir("uv-cache")),
            ("UV_PYTHON_DOWNLOADS", fixed("never")),
            ("UV_NO_PROGRESS", fixed("1")),
            (
                "PYTHON_KEYRING_BACKEND",
                fixed("keyring.backends.null.Keyring"),
            ),
            ("PYTHONUTF8", fixed("1")),
            ("TWINE_NON_INTERACTIVE", fixed("1")),
            ("NO_PROXY", fixed("127.0.0.1,localhost,::1")),
            ("no_proxy", fixed("127.0.0.1,localhost,::1")),
            ("NO_COLOR", fixed("1")),
            // Wide enough that rich (twine, pip) does not wrap messages.
            ("COLUMNS", fixed("400")),
        ];
        for (k, v) in env {
            cmd.env(k, v);
        }
    }

    /// Builds a wheel with `make_dist.py` into [`Sandbox::dist_dir`] and
    /// returns its path. A file of the same name there is replaced.
    pub async fn wheel(&self, spec: &DistSpec) -> anyhow::Result<PathBuf> {
        self.make_dist("wheel", spec, &self.dist_dir()).await
    }

    /// Builds an sdist with `make_dist.py` into [`Sandbox::dist_dir`].
    pub async fn sdist(&self, spec: &DistSpec) -> anyhow::Result<PathBuf> {
        self.make_dist("sdist", spec, &self.dist_dir()).await
    }

    /// Builds a wheel into `outdir` (created if needed).
    pub async fn wheel_into(&self, spec: &DistSpec, outdir: &Path) -> anyhow::Result<PathBuf> {
        self.make_dist("wheel", spec, outdir).await
    }

    /// Builds an sdist into `outdir` (created if needed).
    pub async fn sdist_into(&self, spec: &DistSpec, outdir: &Path) -> anyhow::Result<PathBuf> {
        self.make_dist("sdist", spec, outdir).await
    }

    async fn make_dist(
        &self,
        kind: &str,
        spec: &DistSpec,
        outdir: &Path,
    ) -> anyhow::Result<PathBuf> {
        let args = spec.make_dist_args(kind, outdir);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.python(&args).await?;
        if !out.success() {
            bail!("make_dist.py {kind} failed\n{}", out.dump());
        }
        let path = out
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| PathBuf::from(l.trim()))
            .with_context(|| format!("make_dist.py printed no path\n{}", out.dump()))?;
        if !path.is_file() {
            bail!(
                "make_dist.py reported {} but it does not exist\n{}",
                path.display(),
                out.dump()
            );
        }
        Ok(path)
    }
}

/// Environment variables that would point poetry at this machine's configuration.
const POETRY_PREFIX: &str = "POETRY_";

impl Sandbox {
    /// Runs `bash SCRIPT` (a user-facing script such as an example's `run.sh`) with the
    /// sandbox's isolation, the venv's `bin` first on `PATH` (so `pip`, `uv`, `twine`,
    /// `poetry` and `python3` are the venv's), poetry isolated too (its config, cache and
    /// data directories inside the sandbox, no keyring, virtualenvs in the project), plus
    /// `env` (which may override all of it). The working directory is the sandbox. Errors if
    /// the script cannot be started or runs past the timeout; a non-zero exit is not an
    /// error.
    pub async fn run_script(&self, script: &Path, env: &[(&str, &str)]) -> anyhow::Result<Output> {
        let script_text = script.display().to_string();
        let (shown, secrets) = describe("bash", &[&script_text], env);
        let mut cmd = self.isolated_command("bash");
        cmd.arg(script);
        for (key, _) in std::env::vars_os() {
            if key
                .to_str()
                .is_some_and(|k| k.to_ascii_uppercase().starts_with(POETRY_PREFIX))
            {
                cmd.env_remove(&key);
            }
        }
        let dir = |sub: &str| self.path().join(sub).into_os_string();
        cmd.env("POETRY_CONFIG_DIR", dir("poetry-config"))
            .env("POETRY_CACHE_DIR", dir("poetry-cache"))
            .env("POETRY_DATA_DIR", dir("poetry-data"))
            .env("POETRY_KEYRING_ENABLED", "false")
            .env("POETRY_VIRTUALENVS_IN_PROJECT", "true")
            .env("POETRY_NO_INTERACTION", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }

        self.finish(cmd, shown, secrets).await
    }
}

/// Removes terminal escape sequences (twine forces colour on).
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.peek() {
            // CSI: ESC [ params... final byte in @..~
            Some('[') => {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: ESC ] ... (BEL | ESC \)
            Some(']') => {
                chars.next();
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' {
                        chars.next_if_eq(&'\\');
                        break;
                    }
                }
            }
            // Other two-character escapes.
            Some(_) => {
                chars.next();
            }
            None => {}
        }
    }
    out
}

fn exit_code(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(sig)) => 128 + sig,
        (None, None) => -1,
    }
}

/// Options whose value is a credential.
fn is_secret_flag(program: &str, arg: &str) -> bool {
    matches!(arg, "-p" | "--password" | "--token") || (program == "uv" && arg == "-t")
}

fn is_secret_env(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    ["PASSWORD", "TOKEN", "SECRET", "AUTH", "CREDENTIAL", "KEY"]
        .iter()
        .any(|w| k.contains(w))
}

/// The printable command line and the secrets in it.
fn describe(program: &str, args: &[&str], env: &[(&str, &str)]) -> (String, Vec<String>) {
    let mut secrets = Vec::new();
    let mut shown = Vec::new();
    for (k, v) in env {
        if is_secret_env(k) {
            secrets.push(v.to_string());
            shown.push(format!("{k}=***"));
        } else {
            collect_url_passwords(v, &mut secrets);
            shown.push(format!("{k}={}", shell_quote(&redact_urls(v))));
        }
    }
    shown.push(program.to_owned());
    let mut hide_next = false;
    for arg in args {
        if hide_next {
            hide_next = false;
            secrets.push(arg.to_string());
            shown.push("***".to_owned());
            continue;
        }
        if is_secret_flag(program, arg) {
            hide_next = true;
            shown.push(arg.to_string());
            continue;
        }
        if let Some((flag, value)) = arg.split_once('=')
            && flag.starts_with('-')
            && is_secret_flag(program, flag)
        {
            secrets.push(value.to_owned());
            shown.push(format!("{flag}=***"));
            continue;
        }
        if let Some(value) = arg.strip_prefix("-p")
            && !arg.starts_with("--")
            && !value.is_empty()
        {
            // `-pSECRET`
            secrets.push(value.trim_start_matches('=').to_owned());
            shown.push("-p***".to_owned());
            continue;
        }
        collect_url_passwords(arg, &mut secrets);
        shown.push(shell_quote(&redact_urls(arg)));
    }
    // Very short "secrets" would garble the dump when replaced everywhere;
    // they still never appear in the command line itself.
    secrets.retain(|s| s.len() >= 4);
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    (shown.join(" "), secrets)
}

/// Calls `f(userinfo_start, userinfo_end)` for each `scheme://userinfo@` in
/// `s` (byte offsets of the userinfo).
fn for_each_userinfo(s: &str, mut f: impl FnMut(usize, usize)) {
    let mut from = 0;
    while let Some(i) = s[from..].find("://") {
        let start = from + i + 3;
        let rest = &s[start..];
        let end_authority = rest
            .find(|c: char| {
                matches!(c, '/' | '?' | '#') || c.is_whitespace() || c == '"' || c == '\''
            })
            .unwrap_or(rest.len());
        if let Some(at) = rest[..end_authority].rfind('@') {
            f(start, start + at);
        }
        from = start;
    }
}

fn collect_url_passwords(s: &str, secrets: &mut Vec<String>) {
    for_each_userinfo(s, |a, b| {
        if let Some((_, pass)) = s[a..b].split_once(':') {
            secrets.push(pass.to_owned());
        }
    });
}

/// Replaces the password in `scheme://user:password@host` with `***`.
pub fn redact_urls(s: &str) -> String {
    let mut spans = Vec::new();
    for_each_userinfo(s, |a, b| {
        if let Some(colon) = s[a..b].find(':') {
            spans.push((a + colon + 1, b));
        }
    });
    let mut out = String::with_capacity(s.len());
    let mut last = 0;
    for (a, b) in spans {
        out.push_str(&s[last..a]);
        out.push_str("***");
        last = b;
    }
    out.push_str(&s[last..]);
    out
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%*".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction() {
        let (shown, secrets) = describe(
            "twine",
            &[
                "upload",
                "-u",
                "alice",
                "-p",
                "hunter22",
                "--repository-url",
                "http://bob:s3cret!@127.0.0.1:5000/legacy/",
                "x.whl",
            ],
            &[
                ("UV_PUBLISH_PASSWORD", "tok-123"),
                ("UV_INDEX_URL", "https://u:pw12@h/simple"),
            ],
        );
        assert!(
            !shown.contains("hunter22")
                && !shown.contains("s3cret")
                && !shown.contains("tok-123")
                && !shown.contains("pw12"),
            "{shown}"
        );
        assert!(shown.contains("-u alice -p ***"), "{shown}");
        assert!(
            shown.contains("http://bob:***@127.0.0.1:5000/legacy/"),
            "{shown}"
        );
        assert!(
            secrets.contains(&"hunter22".to_owned()) && secrets.contains(&"s3cret!".to_owned())
        );
        let (shown, _) = describe(
            "uv",
            &[
                "publish",
                "--password=abcd1234",
                "-t",
                "tttt",
                "--token=zzzz9",
            ],
            &[],
        );
        assert_eq!(shown, "uv publish --password=*** -t *** --token=***");
        let (shown, _) = describe("twine", &["upload", "-pXYZW1"], &[]);
        assert_eq!(shown, "twine upload -p***");
        let (shown, _) = describe("pip", &["install", "-t", "/x"], &[]);
        assert_eq!(shown, "pip install -t /x");
    }

    #[test]
    fn names() {
        let s = DistSpec::new("My.Pkg--Name", "1.0").build_tag("2");
        assert_eq!(s.normalized_name(), "my_pkg_name");
        assert_eq!(s.project_name(), "my-pkg-name");
        assert_eq!(s.wheel_filename(), "my_pkg_name-1.0-2-py3-none-any.whl");
        assert_eq!(s.sdist_filename(), "my_pkg_name-1.0.tar.gz");
    }

    #[test]
    fn ansi() {
        assert_eq!(
            strip_ansi(
                "a \u{1b}[32mPASSED\u{1b}[0m \u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{7}."
            ),
            "a PASSED link."
        );
    }
}
