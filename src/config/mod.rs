//! The server's configuration: one clap-derived [`Config`] made of sections (the server, the
//! registries, the local store, listings, uploads, upstream indexes, events, logging), every
//! option also an environment variable `OCI_PYPI_<OPTION>`; and the command line [`Cli`],
//! which adds the one-off commands. Read once at startup; no other module reads the
//! environment, and no other module but the assembly (`app`, `commands`, `main`) knows
//! [`Config`]: each section hands the module it configures that module's own settings.
//!
//! Every default is written once: in its option's clap attribute (where [`Config::default`]
//! takes it from too), or in a constant of the module that needs it as well, which the
//! attribute names.

mod command_args;
mod parse;
mod sections;

use clap::Parser;

pub use command_args::{
    BackfillArgs, Command, CopyNamespaceArgs, Credentials, Ends, ListArgs, LoginArgs, LoginTool,
    MirrorArgs, NamespaceArgs, OutputArgs, ProjectStatusArgs, PromoteArgs, PruneArgs, TargetArgs,
    VersionsArgs, YankArgs,
};
pub use parse::RegistryEntry;
pub use sections::{
    BlobRedirects, DEFAULT_PORT, DownloadTransfer, EventOptions, ListingDocumentsMode,
    ListingOptions, LocalStoreOptions, PublishingOptions, RegistryOptions, ServerOptions,
    TelemetryOptions, UpstreamFiles, UpstreamOptions,
};

use crate::net::Origin;
use crate::publishing::PublishingSettings;

/// oci-pypi: serve and accept Python packages (wheels and sdists) stored in any OCI registry.
///
/// Point pip, uv or twine at `http://HOST:PORT/<registry>/<namespace>/`; the credentials they
/// send are used towards the registry.
#[derive(Debug, Clone, Parser)]
#[command(name = "oci-pypi", version, about, long_about = None)]
pub struct Config {
    /// Where the server listens, and how it treats client connections.
    #[command(flatten)]
    pub server: ServerOptions,
    /// Which registries may be reached, and how.
    #[command(flatten)]
    pub registry: RegistryOptions,
    /// The local store.
    #[command(flatten)]
    pub local_store: LocalStoreOptions,
    /// Project pages.
    #[command(flatten)]
    pub listing: ListingOptions,
    /// Uploads and trusted publishing.
    #[command(flatten)]
    pub publishing: PublishingOptions,
    /// Upstream indexes.
    #[command(flatten)]
    pub upstream: UpstreamOptions,
    /// Webhooks.
    #[command(flatten)]
    pub events: EventOptions,
    /// Logs and traces.
    #[command(flatten)]
    pub telemetry: TelemetryOptions,
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
            "warn".clone_into(&mut cli.config.telemetry.log_level);
        }
        let server = &mut cli.config.server;
        if server.port.is_none() {
            server.port = std::env::var("PORT")
                .ok()
                .and_then(|p| p.trim().parse().ok());
        }
        cli
    }
}

/// The local store's directory when none is configured and no registry is listed.
pub const DEFAULT_STORE_DIR: &str = "./oci-pypi-data";

/// Every option at its default, as `--help` states it: what an empty command line gives
/// without any environment variable.
impl Default for Config {
    fn default() -> Self {
        let command =
            <Self as clap::CommandFactory>::command().mut_args(|argument| argument.env(None));
        let parsed = command
            .try_get_matches_from(["oci-pypi"])
            .and_then(|matches| <Self as clap::FromArgMatches>::from_arg_matches(&matches));
        parsed.unwrap_or_else(|error| panic!("the defaults of the configuration: {error}"))
    }
}

impl Config {
    /// A configuration for tests and embedding: every default, but a port chosen by the
    /// system and the given registries.
    #[must_use]
    pub fn for_registries(registries: Vec<Origin>) -> Self {
        let mut config = Self::default();
        config.server.port = Some(0);
        config.registry.registries = registries.into_iter().map(RegistryEntry::Origin).collect();
        config
    }

    /// What trusted publishing is set up with, or `None` without `--trusted-publishers`.
    #[must_use]
    pub fn trusted_publishing(&self) -> Option<PublishingSettings> {
        let publishing = &self.publishing;
        Some(PublishingSettings {
            policies_file: publishing.trusted_publishers.clone()?,
            token_secret_file: publishing.token_secret_file.clone(),
            audience: publishing.oidc_audience.clone(),
            token_lifetime: publishing.token_lifetime(),
            registries: self.registry.origins(),
            any_public_registry: self.registry.any_public(),
        })
    }

    /// The local store's directory, when the local store is served.
    #[must_use]
    pub fn local_store_dir(&self) -> Option<std::path::PathBuf> {
        match (
            &self.local_store.store_dir,
            self.registry.registries.is_empty(),
        ) {
            (Some(dir), _) => Some(dir.clone()),
            (None, true) => Some(std::path::PathBuf::from(DEFAULT_STORE_DIR)),
            (None, false) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_those_of_the_command_line() {
        let config = Config::default();
        assert_eq!(config.server.port(), DEFAULT_PORT);
        assert_eq!(config.publishing.max_upload_size, 8 << 30);
        assert_eq!(config.listing.listing_cache_memory, 256 << 20);
        assert_eq!(
            config.registry.connect_timeout(),
            crate::storage::registry::DEFAULT_CONNECT_TIMEOUT
        );
        assert_eq!(
            config.publishing.token_lifetime(),
            crate::publishing::DEFAULT_TOKEN_LIFETIME
        );
        assert_eq!(
            config.upstream.page_ttl(),
            crate::upstream::DEFAULT_PAGE_TTL
        );
        assert_eq!(
            config.telemetry.log_level,
            crate::telemetry::DEFAULT_LOG_LEVEL
        );
        let embedded = Config::for_registries(Vec::new());
        assert_eq!(embedded.server.port(), 0);
        assert_eq!(
            embedded.local_store_dir().as_deref(),
            Some(std::path::Path::new(DEFAULT_STORE_DIR))
        );
    }

    #[test]
    fn parses_registry_list_from_the_command_line() {
        let config = Config::try_parse_from([
            "oci-pypi",
            "--registries",
            "https://ghcr.io,http://127.0.0.1:5000",
        ])
        .unwrap();
        assert_eq!(config.registry.registries.len(), 2);
        assert!(!config.registry.any_public());
        assert_eq!(config.local_store_dir(), None);
        let any = Config::try_parse_from(["oci-pypi", "--registries", "*"]).unwrap();
        assert!(any.registry.any_public());
        assert!(any.registry.origins().is_empty());
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
