//! The yank API (PEP 592 defines the flag, not how to set it):
//! `POST /<registry>/<namespace>/+yank/<project>/<version or filename>` yanks, with an optional
//! reason given as `?reason=`, a form field `reason`, or JSON `{"reason": "..."}`;
//! `DELETE` on the same path un-yanks. Needs credentials allowed to push to the repository.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};

use super::AppState;
use super::error::ApiError;
use super::params::Params;
use super::route::TargetPath;
use crate::index::Caller;

/// POST (yank) or DELETE (un-yank).
///
/// # Errors
/// An unreadable body, and what the index refuses.
pub async fn yank(
    state: &AppState,
    caller: &Caller,
    path: &TargetPath,
    request: Request,
) -> Result<Response, ApiError> {
    let (location, release) = path.release(&state.index)?;
    let yanking = request.method() == Method::POST;
    let reason = if yanking {
        let params = Params::read(request, r#"{"reason": "..."}"#).await?;
        Some(params.get("reason").unwrap_or_default())
    } else {
        None
    };
    state
        .index
        .set_yanked(caller, &location, &release, reason.as_deref())
        .await?;
    let mut response = (
        StatusCode::OK,
        if yanking { "Yanked\n" } else { "Un-yanked\n" },
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
