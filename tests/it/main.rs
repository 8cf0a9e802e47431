//! Integration tests: the real registry (CNCF distribution) in three auth modes, the server,
//! and the real clients (pip, uv, twine).

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::pedantic,
    reason = "integration tests: a failed step is a failure"
)]

mod harness;

mod ops;

mod attestation_tlog;
mod attestations;
mod auth;
mod bad_input;
mod blob_cache;
mod cli;
mod compat;
mod compression;
mod downloads;
mod examples;
mod exposure;
mod faults;
mod lifecycle;
mod listing_documents;
mod local_store;
mod login;
mod promotion;
mod publish;
mod redirects;
mod replicas;
mod secrets;
mod slow_clients;
mod standards;
mod telemetry;
mod trusted_publishing;
mod upload_inspection;
mod upstream;
mod upstream_cache;
mod upstream_followers;
mod urls;
mod web_ui;
mod webhook_spool;
mod webhooks;

/// Instantiates an `async fn scenario(mode: AuthMode) -> anyhow::Result<()>` as one test per
/// registry auth mode: `scenario::anonymous`, `scenario::htpasswd`, `scenario::token`.
#[macro_export]
macro_rules! in_every_auth_mode {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use $crate::harness::AuthMode;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn anonymous() -> anyhow::Result<()> {
                super::$scenario(AuthMode::Anonymous).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn htpasswd() -> anyhow::Result<()> {
                super::$scenario(AuthMode::Htpasswd).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn token() -> anyhow::Result<()> {
                super::$scenario(AuthMode::Token).await
            }
        }
    )*};
}

/// Instantiates an `async fn scenario(backend: Backend) -> anyhow::Result<()>` once per
/// backend: the real registry in each auth mode, and the local store.
#[macro_export]
macro_rules! in_every_backend {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            use $crate::harness::{AuthMode, Backend};

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn anonymous() -> anyhow::Result<()> {
                super::$scenario(Backend::Registry(AuthMode::Anonymous)).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn htpasswd() -> anyhow::Result<()> {
                super::$scenario(Backend::Registry(AuthMode::Htpasswd)).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn token() -> anyhow::Result<()> {
                super::$scenario(Backend::Registry(AuthMode::Token)).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local() -> anyhow::Result<()> {
                super::$scenario(Backend::Local).await
            }
        }
    )*};
}
