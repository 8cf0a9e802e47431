//! The arguments of the one-off commands (`oci-pypi <command>`), which run with the server's
//! settings instead of serving.

use clap::{Args, Subcommand, ValueEnum};

/// One-off commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// List the projects of a namespace, optionally only those whose name matches a pattern.
    List(ListArgs),
    /// List the releases of a project: their files, upload times and yanks.
    Versions(VersionsArgs),
    /// Delete a release (every file of it) or one file.
    Delete(TargetArgs),
    /// Yank a release or one file (PEP 592): installers skip it unless pinned to it.
    Yank(YankArgs),
    /// Undo a yank.
    Unyank(TargetArgs),
    /// Write the configuration of pip, uv, twine or poetry (or print environment variables)
    /// for an index URL of this server, with credentials from the flags or from the docker
    /// credential store (`~/.docker/config.json`, credential helpers).
    Login(LoginArgs),
    /// Copy a release, or one file of it, to another namespace or registry (promotion); with
    /// `--query`, every project whose name matches.
    Promote(PromoteArgs),
    /// Copy every release of every project of a namespace to another namespace or registry,
    /// for instance from the local store (`local/<namespace>`) to a registry.
    CopyNamespace(CopyNamespaceArgs),
    /// Extract and store the core metadata (PEP 658) of files stored without it (older
    /// uploads, PyOCI's), so that installers can resolve without downloading them.
    BackfillMetadata(BackfillArgs),
    /// Set a project's status (PEP 792): `active`, `archived` (no new uploads), `quarantined`
    /// (no uploads, no files offered) or `deprecated`, with an optional reason.
    ProjectStatus(ProjectStatusArgs),
    /// Delete old releases by policy: keep the newest N (`--keep-last`) and/or those uploaded
    /// in the last D days (`--keep-days`), among the versions matching `--versions` /
    /// `--prereleases-only`; never a project's only release, never a release yanked with a
    /// reason unless `--include-yanked-with-reason`. `--dry-run` lists what it would delete.
    Prune(PruneArgs),
    /// Fill a namespace's pull-through cache (`--upstream-cache`) with requirements and
    /// everything they require, for the given Python versions and platforms (markers and
    /// wheel tags evaluated for each), so that installs work without upstream (air-gapped
    /// sites): `oci-pypi mirror --namespace ghcr.io/org -r requirements.txt --python 3.12
    /// --platform manylinux_2_28_x86_64`.
    Mirror(MirrorArgs),
    /// Exit 0 when the server configured by the same settings (host, port, subpath) answers
    /// `GET /health` with 200 within 3 s, 1 otherwise: a container health check that needs no
    /// shell and no curl.
    Healthcheck,
}

/// The namespace a command is about, and the credentials used with it.
#[derive(Debug, Clone, Args)]
pub struct NamespaceArgs {
    /// Where: `<registry>/<namespace>` as in index URLs (`ghcr.io/org/python`, `local/team`).
    #[arg(long)]
    pub namespace: String,
    /// Credentials for the registry.
    #[command(flatten)]
    pub credentials: Credentials,
}

/// The credentials a command uses with the registry (`--username`, `--password`).
#[derive(Debug, Clone, Args)]
pub struct Credentials {
    /// Username for the registry.
    #[arg(long, env = "OCI_PYPI_USERNAME")]
    pub username: Option<String>,
    /// Password or token for the registry.
    #[arg(long, env = "OCI_PYPI_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// How a command prints its result.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// Print the result as one JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `oci-pypi list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// The namespace and credentials.
    #[command(flatten)]
    pub namespace: NamespaceArgs,
    /// Only the projects whose normalized name matches this pattern (`*` wildcards:
    /// `acme-*`).
    #[arg(long)]
    pub query: Option<String>,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `oci-pypi versions`.
#[derive(Debug, Clone, Args)]
pub struct VersionsArgs {
    /// The namespace and credentials.
    #[command(flatten)]
    pub namespace: NamespaceArgs,
    /// The project.
    #[arg(long)]
    pub project: String,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `oci-pypi delete` and `oci-pypi unyank`: one release or file of a project.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// The namespace and credentials.
    #[command(flatten)]
    pub namespace: NamespaceArgs,
    /// The project.
    #[arg(long)]
    pub project: String,
    /// A version (every file of the release) or one filename.
    #[arg(long)]
    pub target: String,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `oci-pypi yank`.
#[derive(Debug, Clone, Args)]
pub struct YankArgs {
    /// The release or file.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Why, shown by installers that pick it anyway.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// Which client `oci-pypi login` configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LoginTool {
    /// pip: `index-url` in the user's `pip.conf`.
    Pip,
    /// uv: the default `[[index]]` in the user's `uv.toml`.
    Uv,
    /// twine: a repository in `~/.pypirc` (`twine upload -r <name>`).
    Twine,
    /// poetry: a repository and its credentials in poetry's `config.toml` and `auth.toml`.
    Poetry,
    /// Print `export` lines for all of them instead of writing files.
    Env,
}

/// `oci-pypi login`.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// The client to configure.
    #[arg(long, value_enum)]
    pub tool: LoginTool,
    /// The index URL: this server's `http(s)://HOST[:PORT][/subpath]/<registry>/<namespace>/`.
    #[arg(long)]
    pub index_url: String,
    /// The registry whose credentials are looked up in the docker credential store (default:
    /// the index URL's registry segment).
    #[arg(long)]
    pub registry: Option<String>,
    /// Username (with `--password`; without both, the docker credential store is asked).
    #[arg(long, env = "OCI_PYPI_USERNAME")]
    pub username: Option<String>,
    /// Password or token.
    #[arg(long, env = "OCI_PYPI_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// The name of the repository in `.pypirc`, uv and poetry.
    #[arg(long, default_value = "oci-pypi")]
    pub name: String,
    /// The home directory whose configuration is written.
    #[arg(long, env = "HOME")]
    pub home: Option<std::path::PathBuf>,
    /// Where per-user configuration lives (default: `<home>/.config`).
    #[arg(long, env = "XDG_CONFIG_HOME")]
    pub config_dir: Option<std::path::PathBuf>,
    /// The docker configuration directory holding `config.json` (default: `<home>/.docker`).
    #[arg(long, env = "DOCKER_CONFIG")]
    pub docker_config: Option<std::path::PathBuf>,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `oci-pypi backfill-metadata`.
#[derive(Debug, Clone, Args)]
pub struct BackfillArgs {
    /// Where: `<registry>/<namespace>` as in index URLs.
    #[arg(long)]
    pub namespace: String,
    /// Only this project (default: every project of the namespace).
    #[arg(long)]
    pub project: Option<String>,
    /// Credentials for the registry.
    #[command(flatten)]
    pub credentials: Credentials,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `oci-pypi mirror`.
#[derive(Debug, Clone, Args)]
pub struct MirrorArgs {
    /// Where: `<registry>/<namespace>` as in index URLs, one of `--upstream-cache`.
    #[arg(long)]
    pub namespace: String,
    /// Requirements files, pip's format (one PEP 508 requirement a line; `--hash` ignored).
    #[arg(long = "requirement", short = 'r')]
    pub requirement_files: Vec<std::path::PathBuf>,
    /// Requirements (`requests>=2.31`, `"numpy<2; python_version < '3.13'"`).
    pub requirements: Vec<String>,
    /// Python versions installs will use (`3.12`; repeat or comma-separate).
    #[arg(long = "python", value_delimiter = ',', required = true)]
    pub pythons: Vec<String>,
    /// Platform tags installs will use (`manylinux_2_28_x86_64`, `win_amd64`,
    /// `macosx_14_0_arm64`; repeat or comma-separate).
    #[arg(long = "platform", value_delimiter = ',', required = true)]
    pub platforms: Vec<String>,
    /// Credentials for the registry.
    #[command(flatten)]
    pub credentials: Credentials,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `oci-pypi project-status`.
#[derive(Debug, Clone, Args)]
pub struct ProjectStatusArgs {
    /// Where: `<registry>/<namespace>` as in index URLs.
    #[arg(long)]
    pub namespace: String,
    /// The project.
    #[arg(long)]
    pub project: String,
    /// `active`, `archived`, `quarantined` or `deprecated`.
    #[arg(long)]
    pub status: String,
    /// Why, shown to users by installers that read it.
    #[arg(long, default_value = "")]
    pub reason: String,
    /// Credentials for the registry.
    #[command(flatten)]
    pub credentials: Credentials,
}

/// `oci-pypi prune`.
#[derive(Debug, Clone, Args)]
pub struct PruneArgs {
    /// Where: `<registry>/<namespace>` as in index URLs.
    #[arg(long)]
    pub namespace: String,
    /// Only projects whose normalized name matches this glob (`*`, `?`); default: every project.
    #[arg(long)]
    pub project: Option<String>,
    /// Keep the newest N matching releases (PEP 440 order).
    #[arg(long)]
    pub keep_last: Option<usize>,
    /// Keep the matching releases uploaded in the last D days.
    #[arg(long)]
    pub keep_days: Option<u64>,
    /// Only versions matching this glob may be deleted (repeat for several; `*.dev*`).
    #[arg(long = "versions")]
    pub versions: Vec<String>,
    /// Only pre-releases and dev releases may be deleted.
    #[arg(long)]
    pub prereleases_only: bool,
    /// Delete releases yanked with a reason too (kept otherwise).
    #[arg(long)]
    pub include_yanked_with_reason: bool,
    /// List what would be deleted; delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Run again every this many seconds until stopped (SIGINT/SIGTERM), logging each run's
    /// report, instead of once: a schedule without cron. Replicas may each run one.
    #[arg(long, value_name = "SECONDS")]
    pub every: Option<u64>,
    /// Credentials for the registry.
    #[command(flatten)]
    pub credentials: Credentials,
}

/// Where a command reads from and writes to, and with which credentials.
#[derive(Debug, Clone, Args)]
pub struct Ends {
    /// Source: `<registry>/<namespace>` as in index URLs (`ghcr.io/org/staging`, `local/team`).
    #[arg(long)]
    pub from: String,
    /// Destination: `<registry>/<namespace>`.
    #[arg(long)]
    pub to: String,
    /// Username for the source registry.
    #[arg(long, env = "OCI_PYPI_FROM_USERNAME")]
    pub from_username: Option<String>,
    /// Password or token for the source registry.
    #[arg(long, env = "OCI_PYPI_FROM_PASSWORD", hide_env_values = true)]
    pub from_password: Option<String>,
    /// Username for the destination registry.
    #[arg(long, env = "OCI_PYPI_TO_USERNAME")]
    pub to_username: Option<String>,
    /// Password or token for the destination registry.
    #[arg(long, env = "OCI_PYPI_TO_PASSWORD", hide_env_values = true)]
    pub to_password: Option<String>,
    /// Delete from the source once copied (a move).
    #[arg(long = "move")]
    pub remove_source: bool,
}

/// `oci-pypi promote`.
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("projects").required(true).args(["project", "query"])))]
pub struct PromoteArgs {
    /// Source, destination and credentials.
    #[command(flatten)]
    pub ends: Ends,
    /// The project.
    #[arg(long, requires = "target")]
    pub project: Option<String>,
    /// Every project of the source whose normalized name matches this pattern (`*`
    /// wildcards: `acme-*`); with `--target`, only that version of each (those without it
    /// are skipped), else every release.
    #[arg(long)]
    pub query: Option<String>,
    /// A version (every file of the release) or one filename.
    #[arg(long)]
    pub target: Option<String>,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// `oci-pypi copy-namespace`.
#[derive(Debug, Clone, Args)]
pub struct CopyNamespaceArgs {
    /// Source, destination and credentials.
    #[command(flatten)]
    pub ends: Ends,
    /// Output format.
    #[command(flatten)]
    pub output: OutputArgs,
}
