//! The server's configuration: one clap-derived struct, every option also an environment
//! variable `OCI_PYPI_<OPTION>`. Read once at startup; no other module reads the environment.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::net::Origin;
use crate::publishing::PublishingSettings;
use crate::telemetry::{LogFormat, TelemetryOptions};

/// oci-pypi: serve and accept Python packages (wheels and sdists) stored in any OCI registry.
///
/// Point pip, uv or twine at `http://HOST:PORT/<registry>/<namespace>/`; the credentials they
/// send are used towards the registry.
#[derive(Debug, Clone, Parser)]
#[command(name = "oci-pypi", version, about, long_about = None)]
pub struct Config {
    /// Address to listen on (`0.0.0.0` for every interface, as in the container image).
    #[arg(long, env = "OCI_PYPI_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on; without it the `PORT` variable, then 8080
    #[arg(long, env = "OCI_PYPI_PORT")]
    pub port: Option<u16>,

    /// Path prefix the server is mounted under, such as `/pypi` (empty: none).
    #[arg(long, env = "OCI_PYPI_SUBPATH", default_value = "", value_parser = parse_subpath)]
    pub subpath: String,

    /// Registries that may be reached, as comma-separated origins with their scheme, such as
    /// `https://ghcr.io,http://127.0.0.1:5000`; `*` allows any public https registry (private,
    /// loopback and link-local addresses stay refused). None: only the local store.
    #[arg(long, env = "OCI_PYPI_REGISTRIES", value_delimiter = ',', value_parser = parse_registry)]
    pub registries: Vec<RegistryEntry>,

    /// Directory of the local OCI image-layout store, served under the registry segment
    /// `local` (`/local/<namespace>/`). Without registries it defaults to `./oci-pypi-data`.
    #[arg(long, env = "OCI_PYPI_STORE_DIR")]
    pub store_dir: Option<std::path::PathBuf>,

    /// Users of the local store: an htpasswd file of bcrypt entries (`htpasswd -nB NAME`
    /// prints one). Writes to the local store (upload, delete, yank, promote) need one of them
    /// (HTTP Basic), and so do reads unless `--local-public-reads` is given.
    #[arg(long, env = "OCI_PYPI_LOCAL_USERS")]
    pub local_users: Option<std::path::PathBuf>,

    /// With `--local-users`: let anyone who reaches the port read the local store (pages,
    /// files, metadata); writes still need a user.
    #[arg(long, env = "OCI_PYPI_LOCAL_PUBLIC_READS")]
    pub local_public_reads: bool,

    /// Let anyone who reaches the port write to the local store (upload, delete, yank,
    /// promote). Listening on loopback (the default), they may anyway; listening beyond it
    /// without this or `--local-users`, the local store refuses writes (403).
    #[arg(long, env = "OCI_PYPI_LOCAL_ALLOW_ANONYMOUS_WRITES")]
    pub local_allow_anonymous_writes: bool,

    /// Largest distribution file accepted, in bytes or with a unit (`512MiB`, `8GiB`, `2GB`).
    #[arg(long, env = "OCI_PYPI_MAX_UPLOAD_SIZE", default_value = "8GiB", value_parser = parse_size)]
    pub max_upload_size: u64,

    /// A username whose password is passed to the registry as a ready bearer token (for
    /// registries whose tokens are not obtained through the token flow).
    #[arg(long, env = "OCI_PYPI_BEARER_USERNAME")]
    pub bearer_username: Option<String>,

    /// Seconds allowed to connect to a registry.
    #[arg(long, env = "OCI_PYPI_CONNECT_TIMEOUT", default_value_t = 10)]
    pub connect_timeout: u64,

    /// Seconds a registry may stay silent: before the first byte of its answer, and between
    /// two reads in the middle of one (an idle timeout, not a total one: large files are not
    /// cut off).
    #[arg(long, env = "OCI_PYPI_READ_TIMEOUT", default_value_t = 60)]
    pub read_timeout: u64,

    /// Registry requests made at once to build one project page.
    #[arg(long, env = "OCI_PYPI_LISTING_CONCURRENCY", default_value_t = 32)]
    pub listing_concurrency: usize,

    /// Seconds a project page may be served from memory without asking the registry (0:
    /// never). From half of it on, a request starts a background refresh and is answered at
    /// once. Changes made through this server are visible at once; changes made elsewhere
    /// (another replica, another tool) within this delay. Each caller's right to read a
    /// project is also checked with the registry at most this often.
    #[arg(long, env = "OCI_PYPI_LISTING_CACHE_TTL", default_value_t = 5)]
    pub listing_cache_ttl: u64,

    /// About how much memory cached project pages may take, in bytes or with a unit
    /// (`256MiB`); the pages read longest ago are dropped first.
    #[arg(long, env = "OCI_PYPI_LISTING_CACHE_MEMORY", default_value = "256MiB", value_parser = parse_size)]
    pub listing_cache_memory: u64,

    /// Per-project listing documents (under the tag `oci-pypi.listing`, see docs/design.md),
    /// which make a project page cost a few registry requests whatever its number of
    /// releases: `write` reads them and keeps them up to date, `read` only reads them, `off`
    /// reads every release tag instead.
    #[arg(long, env = "OCI_PYPI_LISTING_DOCUMENTS", value_enum, default_value_t = ListingDocumentsMode::Write)]
    pub listing_documents: ListingDocumentsMode,

    /// Seconds between background checks of a project served from its listing document
    /// against every release tag, which catch releases changed by tools that do not keep
    /// the document (0: never).
    #[arg(long, env = "OCI_PYPI_LISTING_AUDIT_INTERVAL", default_value_t = 600)]
    pub listing_audit_interval: u64,

    /// Check the sha256 of every whole-file download on the server. Off by default: files are
    /// fetched from the registry by their sha256 (content-addressed, checked by the registry
    /// on push), and clients check it against the page; a file whose blob had to be found
    /// through its manifest is always checked.
    #[arg(long, env = "OCI_PYPI_VERIFY_DOWNLOADS")]
    pub verify_downloads: bool,

    /// The trust root of PEP 740 attestations: a PEM file of CA certificates, or a Sigstore
    /// `trusted_root.json`. With it, every attestation sent with an upload must chain to it,
    /// be signed for the file's name and sha256, and (for an upload token from trusted
    /// publishing) name the token's publisher, or the upload is refused; the provenance is
    /// stored and served. Without it, attestations are ignored (nothing unverified is served).
    #[arg(long, env = "OCI_PYPI_ATTESTATION_TRUST_ROOT")]
    pub attestation_trust_root: Option<std::path::PathBuf>,

    /// Keep only the newest N releases of a project in listings (PEP 440 order); 0 lists all.
    #[arg(long, env = "OCI_PYPI_MAX_VERSIONS", default_value_t = 0)]
    pub max_versions: usize,

    /// What to do when a registry redirects a file download to object storage on another
    /// host: `stream` the bytes through this server, or `redirect` the client there.
    #[arg(long, env = "OCI_PYPI_BLOB_REDIRECTS", value_enum, default_value_t = BlobRedirects::Stream)]
    pub blob_redirects: BlobRedirects,

    /// Uploads handled at once by this server; more are answered 503 with `Retry-After`
    /// (0: no limit). Each wheel upload holds up to about 16 MiB of memory.
    #[arg(long, env = "OCI_PYPI_MAX_CONCURRENT_UPLOADS", default_value_t = 16)]
    pub max_concurrent_uploads: usize,

    /// Seconds a client connection may take to send the headers of a request, counted from
    /// when it opens or its last response ends; an idle keep-alive connection is closed after
    /// as long.
    #[arg(long, env = "OCI_PYPI_HEADER_TIMEOUT", default_value_t = 30)]
    pub header_timeout: u64,

    /// Seconds a request body (an upload) may stay silent before the request is cut off (an
    /// idle timeout, not a total one: large uploads are not cut off).
    #[arg(long, env = "OCI_PYPI_BODY_TIMEOUT", default_value_t = 60)]
    pub body_timeout: u64,

    /// Seconds to let requests in flight finish after SIGTERM before exiting.
    #[arg(long, env = "OCI_PYPI_SHUTDOWN_GRACE", default_value_t = 30)]
    pub shutdown_grace: u64,

    /// A TOML file of trust policies that enables trusted publishing (OIDC tokens from CI
    /// exchanged at `/_/oidc/mint-token` for short-lived upload tokens); see
    /// docs/trusted-publishing.md.
    #[arg(long, env = "OCI_PYPI_TRUSTED_PUBLISHERS")]
    pub trusted_publishers: Option<std::path::PathBuf>,

    /// The audience (`aud`) that OIDC tokens must be issued for, announced at
    /// `/_/oidc/audience`.
    #[arg(long, env = "OCI_PYPI_OIDC_AUDIENCE", default_value = "oci-pypi")]
    pub oidc_audience: String,

    /// A file holding the secret (at least 32 bytes) that signs upload tokens; give every
    /// replica the same one. Without it a random secret is made at startup, and tokens work
    /// only on the replica that minted them.
    #[arg(long, env = "OCI_PYPI_TOKEN_SECRET_FILE")]
    pub token_secret_file: Option<std::path::PathBuf>,

    /// Seconds an upload token minted by trusted publishing stays valid.
    #[arg(long, env = "OCI_PYPI_UPLOAD_TOKEN_LIFETIME", default_value_t = 900)]
    pub upload_token_lifetime: u64,

    /// A TOML file of webhooks told of uploads, yanks, deletes and promotions, per namespace
    /// (signed, retried, never delaying the change); see docs/events.md. None: no webhooks.
    #[arg(long, env = "OCI_PYPI_WEBHOOKS")]
    pub webhooks: Option<std::path::PathBuf>,

    /// Upstream indexes for names a namespace does not have, as comma-separated
    /// `<registry>/<namespace>=<simple index URL>` (`ghcr.io/org=https://pypi.org/simple/`).
    /// A name the namespace has is never looked up upstream. An index URL may carry
    /// credentials (`https://user:token@host/simple/`); they are never shown.
    #[arg(
        long,
        env = "OCI_PYPI_UPSTREAMS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub upstreams: Vec<String>,

    /// Names that may come from upstream (comma-separated, `*` wildcards); empty: all.
    #[arg(long, env = "OCI_PYPI_UPSTREAM_ALLOW", value_delimiter = ',')]
    pub upstream_allow: Vec<String>,

    /// Names that never come from upstream (comma-separated, `*` wildcards).
    #[arg(long, env = "OCI_PYPI_UPSTREAM_DENY", value_delimiter = ',')]
    pub upstream_deny: Vec<String>,

    /// How upstream files reach clients: `link` (page URLs point upstream) or `proxy` (they
    /// point here and the server streams them, checking their sha256).
    #[arg(long, env = "OCI_PYPI_UPSTREAM_FILES", value_enum, default_value_t = UpstreamFiles::Link)]
    pub upstream_files: UpstreamFiles,

    /// Namespaces whose upstream files are kept in the registry (a pull-through cache), as
    /// comma-separated `<registry>/<namespace>`, each one of `--upstreams`. The first request
    /// for a file streams it from upstream while storing it, checked against upstream's
    /// sha256, under `<namespace>/oci-pypi.cache/<project>`; later requests, and installs
    /// while upstream is down, are served from the registry. Their files are proxied whatever
    /// `--upstream-files` says.
    #[arg(long, env = "OCI_PYPI_UPSTREAM_CACHE", value_delimiter = ',')]
    pub upstream_cache: Vec<String>,

    /// The most bytes of upstream files each namespace's pull-through cache keeps (`20GiB`;
    /// 0: no limit). Past it, the files used least recently (by this process; the others
    /// first) are evicted; published files never are. Larger files are served, not kept.
    #[arg(long, env = "OCI_PYPI_UPSTREAM_CACHE_MAX_SIZE", default_value = "0", value_parser = parse_size)]
    pub upstream_cache_max_size: u64,

    /// Username the pull-through cache writes to the registry with (with
    /// `--upstream-cache-password`). None: each request's own credentials, so that only
    /// callers allowed to push fill the cache.
    #[arg(long, env = "OCI_PYPI_UPSTREAM_CACHE_USERNAME")]
    pub upstream_cache_username: Option<String>,

    /// Password or token of `--upstream-cache-username`.
    #[arg(long, env = "OCI_PYPI_UPSTREAM_CACHE_PASSWORD", hide_env_values = true)]
    pub upstream_cache_password: Option<String>,

    /// Seconds an upstream project page is reused before it is asked for again (revalidated
    /// with `If-None-Match` / `If-Modified-Since` when upstream gave an `ETag` or
    /// `Last-Modified`; 0: every time). With `--upstream-cache`, the last page is also what
    /// is served, stale, while upstream fails.
    #[arg(long, env = "OCI_PYPI_UPSTREAM_PAGE_TTL", default_value_t = 30)]
    pub upstream_page_ttl: u64,

    /// Send requests to upstream indexes through this HTTP proxy
    /// (`http://user:password@proxy.internal:3128`). None: they go directly, whatever
    /// `HTTP_PROXY`, `HTTPS_PROXY` or `ALL_PROXY` say (no client of this server reads those).
    #[arg(long, env = "OCI_PYPI_UPSTREAM_PROXY", hide_env_values = true)]
    pub upstream_proxy: Option<String>,

    /// Log filter: a level (`info`, `debug`) or tracing directives (`oci_pypi=debug`).
    #[arg(long, env = "OCI_PYPI_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log format.
    #[arg(long, env = "OCI_PYPI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Export traces over OTLP/HTTP (protobuf) to this OpenTelemetry collector, such as
    /// `http://127.0.0.1:4318` (`/v1/traces` is appended). None: no traces are exported.
    #[arg(long, env = "OCI_PYPI_OTLP_ENDPOINT", value_parser = parse_otlp_endpoint)]
    pub otlp_endpoint: Option<url::Url>,

    /// The service name (`service.name`) that exported traces carry.
    #[arg(long, env = "OCI_PYPI_OTLP_SERVICE_NAME", default_value = "oci-pypi")]
    pub otlp_service_name: String,
}

/// The command line: serve (the default), or run a one-off command with the same settings.
#[derive(Debug, Clone, Parser)]
#[command(name = "oci-pypi", version, about, long_about = None)]
pub struct Cli {
    /// Server settings (also used by the commands).
    #[command(flatten)]
    pub config: Config,
    /// A command to run instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses the command line and the environment; `PORT` fills in a missing port. A
    /// command logs warnings only, unless a log level is given.
    #[must_use]
    pub fn load() -> Self {
        let matches = <Self as clap::CommandFactory>::command().get_matches();
        let mut cli = <Self as clap::FromArgMatches>::from_arg_matches(&matches)
            .unwrap_or_else(|error| error.exit());
        let log_level_given =
            matches.value_source("log_level") != Some(clap::parser::ValueSource::DefaultValue);
        if cli.command.is_some() && !log_level_given {
            "warn".clone_into(&mut cli.config.log_level);
        }
        if cli.config.port.is_none() {
            cli.config.port = std::env::var("PORT")
                .ok()
                .and_then(|p| p.trim().parse().ok());
        }
        cli
    }
}

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
    /// Username for the registry.
    #[arg(long, env = "OCI_PYPI_USERNAME")]
    pub username: Option<String>,
    /// Password or token for the registry.
    #[arg(long, env = "OCI_PYPI_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
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
    /// Username for the registry.
    #[arg(long, env = "OCI_PYPI_USERNAME")]
    pub username: Option<String>,
    /// Password or token for the registry.
    #[arg(long, env = "OCI_PYPI_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
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
    /// Username for the registry.
    #[arg(long, env = "OCI_PYPI_USERNAME")]
    pub username: Option<String>,
    /// Password or token for the registry.
    #[arg(long, env = "OCI_PYPI_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
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
    /// Username for the registry.
    #[arg(long, env = "OCI_PYPI_USERNAME")]
    pub username: Option<String>,
    /// Password or token for the registry.
    #[arg(long, env = "OCI_PYPI_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
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

/// How registry redirects of file downloads are handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlobRedirects {
    /// Follow them and stream the bytes through.
    Stream,
    /// Send the client to the redirect target.
    Redirect,
}

/// What the server does with per-project listing documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListingDocumentsMode {
    /// Never read them.
    Off,
    /// Read them, never write them.
    Read,
    /// Read them and keep them up to date.
    Write,
}

/// How upstream files reach clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpstreamFiles {
    /// Page URLs point at the upstream index's files.
    Link,
    /// Page URLs point at this server, which streams the files.
    Proxy,
}

/// The local store's directory when none is configured and no registry is listed.
pub const DEFAULT_STORE_DIR: &str = "./oci-pypi-data";

/// The port used when neither `--port`, `OCI_PYPI_PORT` nor `PORT` is set.
pub const DEFAULT_PORT: u16 = 8080;

impl Config {
    /// The port to listen on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }

    /// Connect timeout towards registries.
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout.max(1))
    }

    /// Idle read timeout towards registries.
    #[must_use]
    pub fn read_timeout(&self) -> Duration {
        Duration::from_secs(self.read_timeout.max(1))
    }

    /// The registry origins listed.
    #[must_use]
    pub fn registry_origins(&self) -> Vec<Origin> {
        self.registries
            .iter()
            .filter_map(|entry| match entry {
                RegistryEntry::Origin(origin) => Some(origin.clone()),
                RegistryEntry::AnyPublic => None,
            })
            .collect()
    }

    /// Whether any public https registry may be reached.
    #[must_use]
    pub fn any_public_registry(&self) -> bool {
        self.registries.contains(&RegistryEntry::AnyPublic)
    }

    /// What trusted publishing is set up with, or `None` without `--trusted-publishers`.
    #[must_use]
    pub fn trusted_publishing(&self) -> Option<PublishingSettings> {
        Some(PublishingSettings {
            policies_file: self.trusted_publishers.clone()?,
            token_secret_file: self.token_secret_file.clone(),
            audience: self.oidc_audience.clone(),
            token_lifetime: Duration::from_secs(self.upload_token_lifetime.max(1)),
            registries: self.registry_origins(),
            any_public_registry: self.any_public_registry(),
        })
    }

    /// What logging and tracing are set up with.
    #[must_use]
    pub fn telemetry(&self) -> TelemetryOptions {
        TelemetryOptions {
            log_level: self.log_level.clone(),
            log_format: self.log_format,
            otlp_endpoint: self.otlp_endpoint.clone(),
            otlp_service_name: self.otlp_service_name.clone(),
            to_stderr: false,
        }
    }

    /// The local store's directory, when the local store is served.
    #[must_use]
    pub fn local_store_dir(&self) -> Option<std::path::PathBuf> {
        match (&self.store_dir, self.registries.is_empty()) {
            (Some(dir), _) => Some(dir.clone()),
            (None, true) => Some(std::path::PathBuf::from(DEFAULT_STORE_DIR)),
            (None, false) => None,
        }
    }

    /// How long a connection may take to send a request's headers (at least 1 s).
    #[must_use]
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout.max(1))
    }

    /// How long a request body may stay silent (at least 1 s).
    #[must_use]
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout.max(1))
    }

    /// Grace period for requests in flight at shutdown.
    #[must_use]
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace)
    }

    /// A configuration for tests and embedding: loopback, no prefix, the given registries.
    #[must_use]
    pub fn for_registries(registries: Vec<Origin>) -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: Some(0),
            subpath: String::new(),
            registries: registries.into_iter().map(RegistryEntry::Origin).collect(),
            store_dir: None,
            local_users: None,
            local_public_reads: false,
            local_allow_anonymous_writes: false,
            max_upload_size: 8 * 1024 * 1024 * 1024,
            bearer_username: None,
            connect_timeout: 10,
            read_timeout: 60,
            listing_concurrency: 32,
            listing_cache_ttl: 5,
            listing_cache_memory: 256 << 20,
            listing_documents: ListingDocumentsMode::Write,
            listing_audit_interval: 600,
            verify_downloads: false,
            attestation_trust_root: None,
            max_versions: 0,
            blob_redirects: BlobRedirects::Stream,
            max_concurrent_uploads: 16,
            header_timeout: 30,
            body_timeout: 60,
            shutdown_grace: 30,
            upstreams: Vec::new(),
            upstream_allow: Vec::new(),
            upstream_deny: Vec::new(),
            upstream_files: UpstreamFiles::Link,
            upstream_proxy: None,
            upstream_cache: Vec::new(),
            upstream_cache_max_size: 0,
            upstream_page_ttl: 30,
            upstream_cache_username: None,
            upstream_cache_password: None,
            trusted_publishers: None,
            oidc_audience: "oci-pypi".to_owned(),
            token_secret_file: None,
            upload_token_lifetime: 900,
            webhooks: None,
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            otlp_endpoint: None,
            otlp_service_name: "oci-pypi".to_owned(),
        }
    }
}

/// One entry of `--registries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEntry {
    /// This registry.
    Origin(Origin),
    /// Any public https registry.
    AnyPublic,
}

fn parse_registry(input: &str) -> Result<RegistryEntry, String> {
    if input.trim() == "*" {
        return Ok(RegistryEntry::AnyPublic);
    }
    Origin::parse(input)
        .map(RegistryEntry::Origin)
        .map_err(|error| error.to_string())
}

fn parse_otlp_endpoint(input: &str) -> Result<url::Url, String> {
    match url::Url::parse(input.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => Ok(url),
        _ => Err(format!(
            "`{input}` is not a collector URL such as `http://127.0.0.1:4318`"
        )),
    }
}

fn parse_subpath(input: &str) -> Result<String, String> {
    let trimmed = input.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') || trimmed.contains("//") || trimmed.contains(['?', '#', '%']) {
        return Err(format!("`{input}` is not a path prefix such as `/pypi`"));
    }
    Ok(trimmed.to_owned())
}

/// Parses `1048576`, `512MiB`, `8GiB`, `2GB`, `100kB` (case-insensitive units).
fn parse_size(input: &str) -> Result<u64, String> {
    let text = input.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .map_err(|_| format!("`{input}` is not a size such as `8GiB` or `500MB`"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "kib" | "k" => 1 << 10,
        "mb" => 1_000_000,
        "mib" | "m" => 1 << 20,
        "gb" => 1_000_000_000,
        "gib" | "g" => 1 << 30,
        "tb" => 1_000_000_000_000,
        "tib" | "t" => 1 << 40,
        _ => {
            return Err(format!(
                "`{input}` has an unknown unit (use B, kB, MB, GB, KiB, MiB, GiB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("`{input}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("8GiB").unwrap(), 8 << 30);
        assert_eq!(parse_size("2GB").unwrap(), 2_000_000_000);
        assert_eq!(parse_size("512 mib").unwrap(), 512 << 20);
        assert_eq!(
            parse_size("5XB").unwrap_err(),
            "`5XB` has an unknown unit (use B, kB, MB, GB, KiB, MiB, GiB)"
        );
        assert!(parse_size("GiB").is_err());
    }

    #[test]
    fn subpaths() {
        assert_eq!(parse_subpath("").unwrap(), "");
        assert_eq!(parse_subpath("/").unwrap(), "");
        assert_eq!(parse_subpath("/pypi/").unwrap(), "/pypi");
        assert!(parse_subpath("pypi").is_err());
    }

    #[test]
    fn parses_registry_list_from_the_command_line() {
        let config = Config::try_parse_from([
            "oci-pypi",
            "--registries",
            "https://ghcr.io,http://127.0.0.1:5000",
        ])
        .unwrap();
        assert_eq!(config.registries.len(), 2);
        assert!(!config.any_public_registry());
        assert_eq!(config.local_store_dir(), None);
        let any = Config::try_parse_from(["oci-pypi", "--registries", "*"]).unwrap();
        assert!(any.any_public_registry());
        assert!(any.registry_origins().is_empty());
        let local = Config::try_parse_from(["oci-pypi"]).unwrap();
        assert_eq!(
            local.local_store_dir(),
            Some(std::path::PathBuf::from("./oci-pypi-data"))
        );
        let error = Config::try_parse_from(["oci-pypi", "--registries", "ftp://x"]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("the scheme must be `http` or `https`")
        );
    }
}
