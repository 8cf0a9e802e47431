//! Assembling the server from the configuration: the registry client, the index with its
//! stores and upstreams, trusted publishing, and the connection loop that serves them.

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::config::{
    Config, EventOptions, LocalStoreOptions, PublishingOptions, ServerOptions, UpstreamOptions,
};
use crate::events::{Events, EventsError};
use crate::index::{Index, IndexOptions, ListingDocuments, LocalAccess, RegistryPolicy};
use crate::index::{Target, UpstreamRoute, Upstreams};
use crate::packaging::attestation::TrustRoot;
use crate::publishing::{PublishingError, TrustedPublishing};
use crate::storage::StorageError;
use crate::storage::blob_cache::BlobCache;
use crate::storage::local::LocalStore;
use crate::storage::registry::{ClientOptions, RegistryClient};
use crate::storage::spool::SpoolDir;
use crate::telemetry::Metrics;
use crate::upstream::UpstreamIndex;
use crate::{config, events, http, index, layout, net, server, storage, upstream};

/// Why the application state cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The registry client.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Trusted publishing: its policy file or token secret.
    #[error(transparent)]
    Publishing(#[from] PublishingError),
    /// The webhooks file.
    #[error(transparent)]
    Events(#[from] EventsError),
    /// A setting that cannot be used.
    #[error("{0}")]
    Config(String),
}

/// Builds the application state from the configuration, for serving: the local store takes
/// the access policy the configuration gives it, which is logged.
///
/// # Errors
/// [`StartError`] when the HTTP client cannot be built, or the trusted publishers file, the
/// token secret or the local users file cannot be used.
pub fn state(config: &Config) -> Result<http::AppState, StartError> {
    let access = Arc::new(local_access(&config.local_store, config.server.host)?);
    let state = build_state(config, Arc::clone(&access))?;
    if let Some(dir) = config.local_store_dir() {
        let (description, open_to_strangers) = access.describe();
        let address = format!("{}:{}", config.server.host, config.server.port());
        if open_to_strangers {
            tracing::warn!(listen.address = %address, "{description} (`{}`)", dir.display());
        } else {
            tracing::info!(listen.address = %address, "{description} (`{}`)", dir.display());
        }
    }
    Ok(state)
}

/// Builds the application state for a one-off command run by the operator, who has the local
/// store's directory anyway: no access policy applies to it.
///
/// # Errors
/// As [`state`].
pub fn operator_state(config: &Config) -> Result<http::AppState, StartError> {
    build_state(config, Arc::new(LocalAccess::default()))
}

/// Who may use the local store: `--local-users`, or loopback and `--local-allow-anonymous-writes`.
fn local_access(
    options: &LocalStoreOptions,
    host: std::net::IpAddr,
) -> Result<LocalAccess, StartError> {
    if options.local_users.is_some() && options.local_allow_anonymous_writes {
        return Err(StartError::Config(
            "`--local-users` and `--local-allow-anonymous-writes` contradict each other: \
             give writers, or let anyone write"
                .to_owned(),
        ));
    }
    let Some(path) = &options.local_users else {
        if options.local_public_reads {
            return Err(StartError::Config(
                "`--local-public-reads` needs `--local-users` (without users, reads are public)"
                    .to_owned(),
            ));
        }
        return Ok(LocalAccess::without_users(
            host,
            options.local_allow_anonymous_writes,
        ));
    };
    let bad = |reason: String| {
        StartError::Config(format!("local users file `{}`: {reason}", path.display()))
    };
    let text = std::fs::read_to_string(path).map_err(|error| bad(error.to_string()))?;
    LocalAccess::with_users(&text, options.local_public_reads).map_err(bad)
}

fn build_state(
    config: &Config,
    local_access: Arc<LocalAccess>,
) -> Result<http::AppState, StartError> {
    let metrics = Arc::new(Metrics::default());
    let registry = &config.registry;
    let blob_cache = registry
        .blob_cache_dir
        .as_ref()
        .map(|dir| {
            BlobCache::open_copying(
                dir,
                registry.blob_cache_size,
                registry.blob_cache_copy_max,
                Arc::clone(&metrics),
            )
        })
        .transpose()?;
    let client = RegistryClient::new(&ClientOptions {
        public_addresses_only: registry.any_public(),
        connect_timeout: registry.connect_timeout(),
        read_timeout: registry.read_timeout(),
        metrics: Arc::clone(&metrics),
        blob_cache,
        upload_spool: registry
            .upload_spool_dir
            .as_ref()
            .map(SpoolDir::open)
            .transpose()?,
    })?;
    let registries = RegistryPolicy::new(registry.origins(), registry.any_public());
    let local_store = match config.local_store_dir() {
        Some(dir) => Some(Arc::new(LocalStore::open(dir)?) as Arc<dyn storage::Store>),
        None => None,
    };
    let listing = &config.listing;
    let index = Index::new(
        client,
        Arc::clone(&metrics),
        IndexOptions {
            upstreams: upstreams(&config.upstream, &registries)?,
            registries,
            bearer_username: registry.bearer_username.clone(),
            max_upload_size: config.publishing.max_upload_size,
            max_concurrent_uploads: config.publishing.max_concurrent_uploads,
            listing_concurrency: listing.listing_concurrency.max(1),
            listing_ttl: std::time::Duration::from_secs(listing.listing_cache_ttl),
            listing_cache_memory: usize::try_from(listing.listing_cache_memory)
                .unwrap_or(usize::MAX),
            listing_documents: match listing.listing_documents {
                config::ListingDocumentsMode::Off => ListingDocuments::Off,
                config::ListingDocumentsMode::Read => ListingDocuments::Read,
                config::ListingDocumentsMode::Write => ListingDocuments::Write,
            },
            listing_audit_interval: std::time::Duration::from_secs(listing.listing_audit_interval),
            verify_downloads: registry.verify_downloads,
            max_versions: listing.max_versions,
            pass_blob_redirects: registry.blob_redirects == config::BlobRedirects::Redirect,
            local_store,
            local_access,
            attestation_trust: attestation_trust(&config.publishing)?,
            events: events(&config.events, &metrics)?,
        },
    );
    Ok(http::AppState {
        index,
        metrics,
        subpath: config.server.subpath.clone(),
        publishing: config
            .trusted_publishing()
            .map(|settings| TrustedPublishing::load(&settings))
            .transpose()?
            .map(Arc::new),
    })
}

/// The `--attestation-trust-root`, read and parsed.
fn attestation_trust(options: &PublishingOptions) -> Result<Option<Arc<TrustRoot>>, StartError> {
    let Some(path) = &options.attestation_trust_root else {
        return Ok(None);
    };
    let bad = |reason: String| {
        StartError::Config(format!(
            "attestation trust root `{}`: {reason}",
            path.display()
        ))
    };
    let bytes = std::fs::read(path).map_err(|error| bad(error.to_string()))?;
    let root = TrustRoot::parse(&bytes).map_err(|error| bad(error.to_string()))?;
    Ok(Some(Arc::new(root)))
}

/// The webhooks of `--webhooks`, delivering in the background; none without it.
fn events(options: &EventOptions, metrics: &Arc<Metrics>) -> Result<Events, StartError> {
    Ok(match &options.webhooks {
        Some(path) => {
            let webhooks = events::hooks::load(path, &|name| std::env::var(name).ok())?;
            Events::start(webhooks, Arc::clone(metrics))?
        }
        None => Events::default(),
    })
}

/// The `--upstreams` entries: `<registry>/<namespace>=<simple index URL>`.
fn upstreams(
    options: &UpstreamOptions,
    registries: &RegistryPolicy,
) -> Result<Upstreams, StartError> {
    let mut routes = Vec::new();
    for entry in &options.upstreams {
        let bad = |reason: &str| {
            // The URL may carry credentials, with or without a scheme.
            let shown = match entry.split_once('=') {
                Some((place, url)) => format!("{place}={}", net::redact_url(url)),
                None => net::redact(entry),
            };
            StartError::Config(format!("upstream `{}`: {reason}", shown.escape_default()))
        };
        let (place, url) = entry
            .split_once('=')
            .ok_or_else(|| bad("expected `<registry>/<namespace>=<simple index URL>`"))?;
        let (registry, namespace) = place
            .trim()
            .trim_matches('/')
            .split_once('/')
            .ok_or_else(|| bad("expected `<registry>/<namespace>` before `=`"))?;
        let target = if registry == index::LOCAL_SEGMENT {
            Target::Local
        } else {
            Target::Registry(
                registries
                    .resolve(registry)
                    .map_err(|e| bad(&e.to_string()))?,
            )
        };
        let namespace = layout::Namespace::parse(namespace).map_err(|e| bad(&e.to_string()))?;
        let cached = options
            .upstream_cache
            .iter()
            .any(|place| same_place(place, registry, &namespace, registries));
        routes.push(UpstreamRoute {
            target,
            cache: cached
                .then(|| index::cache_namespace(&namespace))
                .transpose()
                .map_err(|e| bad(&e.to_string()))?,
            namespace,
            index: Arc::new(
                UpstreamIndex::new(url.trim(), options.upstream_proxy.as_deref())
                    .map_err(|e| bad(&e.to_string()))?
                    .with_page_ttl(options.page_ttl()),
            ),
        });
    }
    for place in &options.upstream_cache {
        let known = options
            .upstreams
            .iter()
            .filter_map(|e| e.split_once('='))
            .any(|(p, _)| {
                p.trim()
                    .trim_matches('/')
                    .split_once('/')
                    .is_some_and(|(r, n)| {
                        layout::Namespace::parse(n)
                            .is_ok_and(|n| same_place(place, r, &n, registries))
                    })
            });
        if !known {
            return Err(StartError::Config(format!(
                "upstream cache `{}`: not one of `--upstreams` (expected `<registry>/<namespace>` of an upstream)",
                place.escape_default()
            )));
        }
    }
    let cache_credentials = match (
        &options.upstream_cache_username,
        &options.upstream_cache_password,
    ) {
        (Some(username), Some(password)) => {
            Some((username.clone(), net::Secret::new(password.clone())))
        }
        (None, None) => None,
        _ => {
            return Err(StartError::Config(
                "`--upstream-cache-username` and `--upstream-cache-password` go together"
                    .to_owned(),
            ));
        }
    };
    Ok(Upstreams {
        routes,
        names: upstream::NameFilter::new(&options.upstream_allow, &options.upstream_deny),
        proxy_files: options.upstream_files == config::UpstreamFiles::Proxy,
        cache_credentials,
        cache_max_size: options.upstream_cache_max_size,
    })
}

/// Whether `place` (`<registry>/<namespace>` of `--upstream-cache`) names the registry segment
/// `registry` and `namespace`.
fn same_place(
    place: &str,
    registry: &str,
    namespace: &layout::Namespace,
    registries: &RegistryPolicy,
) -> bool {
    let Some((other_registry, other_namespace)) = place.trim().trim_matches('/').split_once('/')
    else {
        return false;
    };
    let same_registry = other_registry == registry
        || registries
            .resolve(other_registry)
            .ok()
            .zip(registries.resolve(registry).ok())
            .is_some_and(|(a, b)| a == b);
    same_registry
        && layout::Namespace::parse(other_namespace).is_ok_and(|other| other == *namespace)
}

/// Serves the index on `listener` until `shutdown` completes, then stops accepting and lets
/// requests in flight (uploads above all) finish, for at most the configured grace period.
///
/// # Errors
/// When the state cannot be built or the listener fails.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = state(config).map_err(std::io::Error::other)?;
    serve_state(listener, state, ServeOptions::new(&config.server), shutdown).await
}

/// How connections are served: the settings of [`serve_state`].
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// How long requests in flight may take to finish after shutdown.
    pub grace: std::time::Duration,
    /// How client connections are served (timeouts, splicing).
    pub connections: server::ConnectionOptions,
}

impl ServeOptions {
    /// The options the server section of the configuration sets.
    #[must_use]
    pub fn new(options: &ServerOptions) -> Self {
        Self {
            grace: options.shutdown_grace(),
            connections: server::ConnectionOptions {
                header_timeout: options.header_timeout(),
                body_timeout: options.body_timeout(),
                splice: options.download_transfer == config::DownloadTransfer::Splice,
            },
        }
    }
}

/// Serves an already built state (see [`serve`]), letting requests in flight finish for at
/// most `options.grace` after `shutdown` completes.
///
/// # Errors
/// When the listener fails.
pub async fn serve_state(
    listener: TcpListener,
    state: http::AppState,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let index = state.index.clone();
    let app = http::router(state);
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    let signal = async move {
        shutdown.await;
        let _ = stopping.send(true);
    };
    let server = server::run(listener, app, options.connections, signal);
    let grace = options.grace;
    // Listing documents being brought up to date after changes are finished too.
    let server = async move {
        let result = server.await;
        index.finish_background_work().await;
        result
    };
    let deadline = async move {
        let _ = stopped.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        result = server => result,
        () = deadline => {
            tracing::warn!("requests still in flight after {}s: exiting anyway", grace.as_secs());
            Ok(())
        }
    }
}
