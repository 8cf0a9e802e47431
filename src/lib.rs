//! oci-pypi: a private Python package index on top of any OCI registry.
//!
//! pip, uv and twine talk PEP 503 and the legacy upload API to this server; it stores and reads
//! wheels and sdists as OCI artifacts (PyOCI's layout) through the distribution API, using the
//! caller's own registry credentials.
//!
//! # Layout
//!
//! Dependencies point one way: `http → web → index → layout → {packaging, storage}`.
//!
//! - [`http`]: thin axum adapters: parse the URL, extract the caller, call one index method,
//!   render. The only place a status code is chosen is `http::error`.
//! - [`web`]: the web UI: namespace and project pages for people (askama templates,
//!   READMEs rendered and sanitized), built from the index.
//! - [`index`]: what a Python index means on OCI: listings, downloads, uploads, deletes.
//! - [`layout`]: the mapping between the two worlds (project → repository, version → tag,
//!   release → image index, file → manifest and layer); the only module speaking both.
//! - [`packaging`]: pure Python packaging: names, versions, filenames, the upload form.
//! - [`storage`]: OCI content: the registry client (auth, tokens, manifests, blobs) and the
//!   local image-layout store; knows nothing of Python.
//! - [`publishing`]: trusted publishing: trust policies, OIDC token verification, and the
//!   short-lived upload tokens exchanged for them (used by `http`, uses `storage` types).
//! - [`upstream`]: the client of upstream Python indexes (PyPI and others).
//! - [`events`]: what changed (uploads, yanks, deletes, promotions), told to the operator's
//!   webhooks after the change, signed, retried, never delaying it.
//! - [`server`]: the connection loop (HTTP/1.1 and HTTP/2, header and body timeouts,
//!   graceful shutdown).
//! - [`app`]: assembles the server from the configuration; [`commands`]: one-off commands
//!   (promotion, copying a namespace) run with the same settings.
//! - [`config`]: the settings, read once at startup, in one section per concern (server,
//!   registries, local store, listings, uploads, upstreams, events, telemetry); below the
//!   assembly, the only module that knows [`Config`] (its sections hand the others their own
//!   settings).
//! - [`telemetry`]: logging, traces and metrics.
//! - [`lru`]: a map that lets its least recently used entries go first (the caches' budgets).
//! - [`renders`]: serializations of a page (body, `ETag`, compressed body) kept with the page.
//! - [`net`]: general networking helpers (origins, secrets, which addresses may be contacted,
//!   bounded body reads, how a URL is shown without its secrets).
//!
//! # Layers
//!
//! Top first; a module uses only modules of the layers below its own, never one of its own
//! layer or above (checked by `tests/architecture.rs`, which also refuses sibling modules
//! that use each other at any depth):
//!
//! ```text
//! commands
//! app
//! config
//! http, server
//! web
//! index, publishing
//! layout, upstream, events
//! packaging, storage
//! telemetry
//! net, lru, renders, toml_text
//! ```
//!
//! [`Config`]: config::Config

pub mod app;
pub mod commands;
pub mod config;
pub mod events;
pub mod http;
pub mod index;
pub mod layout;
pub mod lru;
pub mod net;
pub mod packaging;
pub mod publishing;
pub mod renders;
pub mod server;
pub mod storage;
pub mod telemetry;
pub mod toml_text;
pub mod upstream;
pub mod web;

pub use app::{ServeOptions, StartError, operator_state, serve, serve_state, state};
