//! The sections of [`Config`](super::Config), one per concern, each a heading of `--help` and
//! of docs/configuration.md. A default is written once: in its option's clap attribute, or,
//! where the module configured needs it too, in a constant of that module used here.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse::{RegistryEntry, parse_otlp_endpoint, parse_registry, parse_size, parse_subpath};
use crate::net::Origin;
use crate::publishing::{DEFAULT_AUDIENCE, DEFAULT_TOKEN_LIFETIME};
use crate::storage::registry::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT};
use crate::telemetry::{DEFAULT_LOG_LEVEL, LogFormat, TelemetrySettings};
use crate::upstream::DEFAULT_PAGE_TTL;

/// The port used when neither `--port`, `OCI_PYPI_PORT` nor `PORT` is set.
pub const DEFAULT_PORT: u16 = 8080;

/// Where the server listens, and how it treats client connections.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Server")]
pub struct ServerOptions {
    /// Address to listen on (`0.0.0.0` for every interface, as in the container image).
    #[arg(long, env = "OCI_PYPI_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on; without it the `PORT` variable, then 8080
    #[arg(long, env = "OCI_PYPI_PORT")]
    pub port: Option<u16>,

    /// Path prefix the server is mounted under, such as `/pypi` (empty: none).
    #[arg(long, env = "OCI_PYPI_SUBPATH", default_value = "", value_parser = parse_subpath)]
    pub subpath: String,

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

    /// How whole-file downloads from a registry over plain HTTP reach HTTP/1.x clients:
    /// `copy` reads them through the server's memory; `splice` moves them from socket to
    /// socket inside the kernel (Linux only; TLS registries, ranges and checked downloads are
    /// still copied), which costs the server less CPU but was slower on loopback (see
    /// docs/benchmarks.md): try it where the server's CPU is what limits downloads.
    #[arg(long, env = "OCI_PYPI_DOWNLOAD_TRANSFER", value_enum, default_value_t = DownloadTransfer::Copy)]
    pub download_transfer: DownloadTransfer,
}

/// How downloaded bytes cross the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DownloadTransfer {
    /// splice(2) from the registry's socket to the client's, where possible.
    Splice,
    /// Through the server's memory.
    Copy,
}

impl ServerOptions {
    /// The port to listen on.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(DEFAULT_PORT)
    }

    /// How long a connection may take to send a request's headers (at least 1 s).
    #[must_use]
    pub fn header_timeout(&self) -> Duration {
        at_least_a_second(self.header_timeout)
    }

    /// How long a request body may stay silent (at least 1 s).
    #[must_use]
    pub fn body_timeout(&self) -> Duration {
        at_least_a_second(self.body_timeout)
    }

    /// Grace period for requests in flight at shutdown.
    #[must_use]
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace)
    }
}

/// Which registries may be reached, and how they are talked to.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Registries")]
pub struct RegistryOptions {
    /// Registries that may be reached, as comma-separated origins with their scheme, such as
    /// `https://ghcr.io,http://127.0.0.1:5000`; `*` allows any public https registry (private,
    /// loopback and link-local addresses stay refused). None: only the local store.
    #[arg(long, env = "OCI_PYPI_REGISTRIES", value_delimiter = ',', value_parser = parse_registry)]
    pub registries: Vec<RegistryEntry>,

    /// A username whose password is passed to the registry as a ready bearer token (for
    /// registries whose tokens are not obtained through the token flow).
    #[arg(long, env = "OCI_PYPI_BEARER_USERNAME")]
    pub bearer_username: Option<String>,

    /// Seconds allowed to connect to a registry.
    #[arg(long, env = "OCI_PYPI_CONNECT_TIMEOUT", default_value_t = DEFAULT_CONNECT_TIMEOUT.as_secs())]
    pub connect_timeout: u64,

    /// Seconds a registry may stay silent: before the first byte of its answer, and between
    /// two reads in the middle of one (an idle timeout, not a total one: large files are not
    /// cut off).
    #[arg(long, env = "OCI_PYPI_READ_TIMEOUT", default_value_t = DEFAULT_READ_TIMEOUT.as_secs())]
    pub read_timeout: u64,

    /// What to do when a registry redirects a file download to object storage on another
    /// host: `stream` the bytes through this server, or `redirect` the client there.
    #[arg(long, env = "OCI_PYPI_BLOB_REDIRECTS", value_enum, default_value_t = BlobRedirects::Stream)]
    pub blob_redirects: BlobRedirects,

    /// Check the sha256 of every whole-file download on the server. Off by default: files are
    /// fetched from the registry by their sha256 (content-addressed, checked by the registry
    /// on push), and clients check it against the page; a file whose blob had to be found
    /// through its manifest is always checked.
    #[arg(long, env = "OCI_PYPI_VERIFY_DOWNLOADS")]
    pub verify_downloads: bool,

    /// Keep the files downloaded from registries in this directory, and send them from there
    /// the next time: the registry is still asked (`HEAD`, with the caller's credentials)
    /// whether the caller may read the file, but its bytes no longer cross the network. Off
    /// by default: the directory holds copies of private packages (it is created readable by
    /// this user only).
    #[arg(long, env = "OCI_PYPI_BLOB_CACHE_DIR")]
    pub blob_cache_dir: Option<PathBuf>,

    /// With `--blob-cache-dir`: the most the cache may hold, in bytes or with a unit
    /// (`20GiB`); the files used longest ago are removed first.
    #[arg(long, env = "OCI_PYPI_BLOB_CACHE_SIZE", default_value = "10GiB", value_parser = parse_size)]
    pub blob_cache_size: u64,

    /// With `--blob-cache-dir`: files of up to this size (bytes or with a unit) are copied to
    /// the cache as their first download passes; a larger one is fetched from the registry
    /// again once its download is over, so the registry sends it twice and the download keeps
    /// its speed where CPU is short. Raise it where registry traffic costs more than the
    /// copy's CPU: a copy that falls 16 MiB behind its download is finished by a fetch. Also
    /// the largest upload kept as it passes.
    #[arg(long, env = "OCI_PYPI_BLOB_CACHE_COPY_MAX", default_value = "16MiB", value_parser = parse_size)]
    pub blob_cache_copy_max: u64,

    /// Keep the bytes of each upload larger than 4 MiB in a file in this directory until the
    /// registry has committed them, so that an upload whose `PATCH` or commit the registry
    /// refuses with a short 429 or fails (5xx, a lost connection) is sent again whole, in a
    /// new upload session, instead of failing (smaller uploads are kept in memory and sent
    /// again without it). Off by default: the directory briefly holds the bytes of private
    /// packages (each file is unlinked as soon as it is open, in a directory readable by this
    /// user only), and a large upload then also costs its size in disk writes.
    #[arg(long, env = "OCI_PYPI_UPLOAD_SPOOL_DIR")]
    pub upload_spool_dir: Option<PathBuf>,
}

impl RegistryOptions {
    /// Connect timeout towards registries (at least 1 s).
    #[must_use]
    pub fn connect_timeout(&self) -> Duration {
        at_least_a_second(self.connect_timeout)
    }

    /// Idle read timeout towards registries (at least 1 s).
    #[must_use]
    pub fn read_timeout(&self) -> Duration {
        at_least_a_second(self.read_timeout)
    }

    /// The registry origins listed.
    #[must_use]
    pub fn origins(&self) -> Vec<Origin> {
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
    pub fn any_public(&self) -> bool {
        self.registries.contains(&RegistryEntry::AnyPublic)
    }
}

/// The local OCI image-layout store, and who may use it.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Local store")]
pub struct LocalStoreOptions {
    /// Directory of the local OCI image-layout store, served under the registry segment
    /// `local` (`/local/<namespace>/`). Without registries it defaults to `./oci-pypi-data`.
    #[arg(long, env = "OCI_PYPI_STORE_DIR")]
    pub store_dir: Option<PathBuf>,

    /// Users of the local store: an htpasswd file of bcrypt entries (`htpasswd -nB NAME`
    /// prints one). Writes to the local store (upload, delete, yank, promote) need one of them
    /// (HTTP Basic), and so do reads unless `--local-public-reads` is given.
    #[arg(long, env = "OCI_PYPI_LOCAL_USERS")]
    pub local_users: Option<PathBuf>,

    /// With `--local-users`: let anyone who reaches the port read the local store (pages,
    /// files, metadata); writes still need a user.
    #[arg(long, env = "OCI_PYPI_LOCAL_PUBLIC_READS")]
    pub local_public_reads: bool,

    /// Let anyone who reaches the port write to the local store (upload, delete, yank,
    /// promote). Listening on loopback (the default), they may anyway; listening beyond it
    /// without this or `--local-users`, the local store refuses writes (403).
    #[arg(long, env = "OCI_PYPI_LOCAL_ALLOW_ANONYMOUS_WRITES")]
    pub local_allow_anonymous_writes: bool,
}

/// How project pages are built and cached.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Listings")]
pub struct ListingOptions {
    /// Registry requests made at once to build one project page. A project without a listing
    /// document (PyOCI's data) costs one request per release: with the registry 100 ms away,
    /// 500 releases take 16 round trips at 32, 2 at 256. A registry that answers 429 (too
    /// many requests) is sent fewer at once for a while (docs/deployment.md, "Sizing").
    #[arg(long, env = "OCI_PYPI_LISTING_CONCURRENCY", default_value_t = 256)]
    pub listing_concurrency: usize,

    /// Seconds a project page may be served from memory without asking the registry (0:
    /// never). From half of it on, a request starts a background refresh and is answered at
    /// once. Changes made through this server are visible at once; changes made elsewhere
    /// (another replica, another tool) within this delay. Each caller's right to read a
    /// project is also checked with the registry at most this often. Downloads of files a
    /// cached page lists find them there (the registry is asked for the bytes alone).
    #[arg(long, env = "OCI_PYPI_LISTING_CACHE_TTL", default_value_t = 5)]
    pub listing_cache_ttl: u64,

    /// About how much memory cached project pages may take, in bytes or with a unit
    /// (`256MiB`); the pages read longest ago are dropped first.
    #[arg(long, env = "OCI_PYPI_LISTING_CACHE_MEMORY", default_value = "256MiB", value_parser = parse_size)]
    pub listing_cache_memory: u64,

    /// Per-project listing documents (under the tag `0-oci-pypi.listing`, see docs/design.md),
    /// which make a project page cost a few registry requests whatever its number of
    /// releases: `write` reads them and keeps them up to date, `read` only reads them, `off`
    /// reads every release tag instead.
    #[arg(long, env = "OCI_PYPI_LISTING_DOCUMENTS", value_enum, default_value_t = ListingDocumentsMode::Write)]
    pub listing_documents: ListingDocumentsMode,

    /// Seconds between background checks of a project served from its listing document
    /// against every release tag, which catch releases changed by tools that do not keep
    /// the document (0: never). A release with a file uploaded less than this long ago is
    /// checked at every read instead (one more request a page while it is that young), so
    /// files added to it in place by such a tool show within the page cache's TTL.
    #[arg(long, env = "OCI_PYPI_LISTING_AUDIT_INTERVAL", default_value_t = 600)]
    pub listing_audit_interval: u64,

    /// Keep only the newest N releases of a project in listings (PEP 440 order); 0 lists all.
    #[arg(long, env = "OCI_PYPI_MAX_VERSIONS", default_value_t = 0)]
    pub max_versions: usize,
}

/// What uploads are accepted, and trusted publishing.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Uploads and trusted publishing")]
pub struct PublishingOptions {
    /// Largest distribution file accepted, in bytes or with a unit (`512MiB`, `8GiB`, `2GB`).
    #[arg(long, env = "OCI_PYPI_MAX_UPLOAD_SIZE", default_value = "8GiB", value_parser = parse_size)]
    pub max_upload_size: u64,

    /// Uploads handled at once by this server; more are answered 503 with `Retry-After`
    /// (0: no limit). Each wheel upload holds up to about 16 MiB of memory.
    #[arg(long, env = "OCI_PYPI_MAX_CONCURRENT_UPLOADS", default_value_t = 16)]
    pub max_concurrent_uploads: usize,

    /// The trust root of PEP 740 attestations: a PEM file of CA certificates, or a Sigstore
    /// `trusted_root.json`. With it, every attestation sent with an upload must chain to it,
    /// be signed for the file's name and sha256, and (for an upload token from trusted
    /// publishing) name the token's publisher, or the upload is refused; the provenance is
    /// stored and served. Without it, attestations are ignored (nothing unverified is served).
    #[arg(long, env = "OCI_PYPI_ATTESTATION_TRUST_ROOT")]
    pub attestation_trust_root: Option<PathBuf>,

    /// A TOML file of trust policies that enables trusted publishing (OIDC tokens from CI
    /// exchanged at `/_/oidc/mint-token` for short-lived upload tokens); see
    /// docs/trusted-publishing.md.
    #[arg(long, env = "OCI_PYPI_TRUSTED_PUBLISHERS")]
    pub trusted_publishers: Option<PathBuf>,

    /// The audience (`aud`) that OIDC tokens must be issued for, announced at
    /// `/_/oidc/audience`.
    #[arg(long, env = "OCI_PYPI_OIDC_AUDIENCE", default_value = DEFAULT_AUDIENCE)]
    pub oidc_audience: String,

    /// A file holding the secret (at least 32 bytes) that signs upload tokens; give every
    /// replica the same one. Without it a random secret is made at startup, and tokens work
    /// only on the replica that minted them.
    #[arg(long, env = "OCI_PYPI_TOKEN_SECRET_FILE")]
    pub token_secret_file: Option<PathBuf>,

    /// Seconds an upload token minted by trusted publishing stays valid.
    #[arg(long, env = "OCI_PYPI_UPLOAD_TOKEN_LIFETIME", default_value_t = DEFAULT_TOKEN_LIFETIME.as_secs())]
    pub upload_token_lifetime: u64,
}

impl PublishingOptions {
    /// How long a minted upload token lives (at least 1 s).
    #[must_use]
    pub fn token_lifetime(&self) -> Duration {
        at_least_a_second(self.upload_token_lifetime)
    }
}

/// Upstream indexes for names a namespace does not have, and their pull-through cache.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Upstream indexes")]
pub struct UpstreamOptions {
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
    #[arg(long, env = "OCI_PYPI_UPSTREAM_PAGE_TTL", default_value_t = DEFAULT_PAGE_TTL.as_secs())]
    pub upstream_page_ttl: u64,

    /// Send requests to upstream indexes through this HTTP proxy
    /// (`http://user:password@proxy.internal:3128`). None: they go directly, whatever
    /// `HTTP_PROXY`, `HTTPS_PROXY` or `ALL_PROXY` say (no client of this server reads those).
    #[arg(long, env = "OCI_PYPI_UPSTREAM_PROXY", hide_env_values = true)]
    pub upstream_proxy: Option<String>,
}

impl UpstreamOptions {
    /// How long an upstream page is reused before it is revalidated.
    #[must_use]
    pub fn page_ttl(&self) -> Duration {
        Duration::from_secs(self.upstream_page_ttl)
    }
}

/// Who is told of changes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Events")]
pub struct EventOptions {
    /// A TOML file of webhooks told of uploads, yanks, deletes and promotions, per namespace
    /// (signed, retried, never delaying the change); see docs/events.md. None: no webhooks.
    #[arg(long, env = "OCI_PYPI_WEBHOOKS")]
    pub webhooks: Option<PathBuf>,
}

/// Logs and traces.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Logging and tracing")]
pub struct TelemetryOptions {
    /// Log filter: a level (`info`, `debug`) or tracing directives (`oci_pypi=debug`).
    #[arg(long, env = "OCI_PYPI_LOG_LEVEL", default_value = DEFAULT_LOG_LEVEL)]
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

impl TelemetryOptions {
    /// What logging and tracing are set up with (log lines to stdout).
    #[must_use]
    pub fn settings(&self) -> TelemetrySettings {
        TelemetrySettings {
            log_level: self.log_level.clone(),
            log_format: self.log_format,
            otlp_endpoint: self.otlp_endpoint.clone(),
            otlp_service_name: self.otlp_service_name.clone(),
            to_stderr: false,
        }
    }
}

/// `seconds` as a duration, 1 s at the least: a timeout or lifetime of 0 would fail everything.
fn at_least_a_second(seconds: u64) -> Duration {
    Duration::from_secs(seconds.max(1))
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
