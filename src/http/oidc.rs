//! The trusted publishing endpoints, served at the host root (uv and twine derive them from
//! the upload URL's host) and under the subpath:
//!
//! - `GET /_/oidc/audience` → `{"audience": "<aud>"}`
//! - `POST /_/oidc/mint-token` with `{"token": "<OIDC token>"}` →
//!   `{"success": true, "token": "<upload token>", "expires": <unix time>}`
//!
//! Refusals are `{"message": ..., "errors": [{"code": ..., "description": ...}]}`, as PyPI
//! answers them (<https://docs.pypi.org/trusted-publishers/internals/>).

use axum::Json;
use axum::body::to_bytes;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use crate::publishing::{PublishingError, TrustedPublishing};

/// The largest `mint-token` body read (OIDC tokens are a few KiB).
const MAX_BODY: usize = 64 * 1024;

#[derive(Deserialize)]
struct MintRequest {
    token: String,
}

/// `GET /_/oidc/audience`.
///
/// # Errors
/// `not-enabled` without trust policies.
pub fn audience(state: &AppState) -> Result<Response, ApiError> {
    let publishing = enabled(state)?;
    Ok(no_store(Json(
        serde_json::json!({"audience": publishing.audience()}),
    )))
}

/// `POST /_/oidc/mint-token`.
///
/// # Errors
/// `invalid-payload`, `invalid-token`, `invalid-publisher`, `not-enabled`.
pub async fn mint_token(state: &AppState, request: Request) -> Result<Response, ApiError> {
    let publishing = enabled(state)?;
    let refuse = |reason: String| ApiError::TokenExchange(PublishingError::InvalidPayload(reason));
    let body = to_bytes(request.into_body(), MAX_BODY)
        .await
        .map_err(|_| refuse(format!("it is unreadable or larger than {MAX_BODY} bytes")))?;
    let MintRequest { token } =
        serde_json::from_slice(&body).map_err(|error| refuse(error.to_string()))?;
    let minted = publishing
        .mint(token.trim())
        .await
        .map_err(ApiError::TokenExchange)?;
    Ok(no_store(Json(serde_json::json!({
        "success": true,
        "token": minted.token.expose(),
        "expires": minted.expires,
    }))))
}

fn enabled(state: &AppState) -> Result<&TrustedPublishing, ApiError> {
    state
        .publishing
        .as_deref()
        .ok_or(ApiError::TokenExchange(PublishingError::NotEnabled))
}

fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
