//! The upload endpoint end to end, minus the registry: any bytes as the `multipart/form-data`
//! body of `POST /<registry>/<namespace>/`, through the real router (`oci_pypi::http::router`),
//! whose only registry is an unreachable origin (`http://127.0.0.1:9`, the discard port, where
//! nothing listens). The answer is always a 4xx or 5xx (nothing can be stored), never a panic.
//!
//! Input: the request body; the boundary is fixed (`BOUNDARY`).

#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use clap::Parser as _;
use http::{Request, header};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

const BOUNDARY: &str = "oci-pypi-fuzz-boundary";
const REGISTRY: &str = "127.0.0.1:9";

struct App {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let config = oci_pypi::config::Config::try_parse_from([
            "oci-pypi",
            "--registries",
            &format!("http://{REGISTRY}"),
            "--connect-timeout",
            "1",
            "--read-timeout",
            "1",
        ])
        .unwrap_or_else(|error| panic!("fuzz configuration: {error}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|error| panic!("runtime: {error}"));
        let state = runtime
            .block_on(async { oci_pypi::state(&config) })
            .unwrap_or_else(|error| panic!("state: {error}"));
        App {
            runtime,
            router: oci_pypi::http::router(state),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let app = app();
    let request = Request::post(format!("/{REGISTRY}/fuzz/"))
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header(header::CONTENT_LENGTH, data.len())
        .body(Body::from(data.to_vec()))
        .unwrap_or_else(|error| panic!("request: {error}"));
    let router = app.router.clone();
    let (status, body) = app.runtime.block_on(async move {
        let Ok(response) = router.oneshot(request).await;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await;
        (status, body)
    });
    assert!(
        status.is_client_error() || status.is_server_error(),
        "status {status} for a body that cannot have been stored: {:?}",
        String::from_utf8_lossy(data)
    );
    assert!(body.is_ok(), "the {status} response body could not be read");
});
