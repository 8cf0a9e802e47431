//! The project status API (PEP 792 defines the markers, not how to set them):
//! `POST /<registry>/<namespace>/+status/<project>` with `status` (`active`, `archived`,
//! `quarantined`, `deprecated`) and an optional `reason`, given as query parameters, form
//! fields or JSON `{"status": "...", "reason": "..."}`. Needs credentials allowed to push to
//! the project's repository.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::AppState;
use super::error::ApiError;
use super::params::Params;
use super::route::ProjectPath;
use crate::index::{Caller, IndexError};
use crate::packaging::{PackagingError, ProjectStatus, StatusMarker};

/// POST: sets the project's status.
///
/// # Errors
/// An unreadable body or a bad status, and what the index refuses.
pub async fn set_status(
    state: &AppState,
    caller: &Caller,
    path: &ProjectPath,
    request: Request,
) -> Result<Response, ApiError> {
    let (location, project) = path.resolve(&state.index)?;
    let params = Params::read(request, r#"{"status": "archived", "reason": "..."}"#).await?;
    let (status, reason) = (params.get("status"), params.get("reason"));
    let status = status.ok_or(IndexError::Packaging(PackagingError::MissingField(
        "status",
    )))?;
    let status = ProjectStatus::parse(&status).map_err(IndexError::from)?;
    let marker = StatusMarker::new(status, reason.as_deref().unwrap_or_default());
    state
        .index
        .set_project_status(caller, &location, &project, &marker)
        .await?;
    let mut response = (StatusCode::OK, format!("Project status: {status}\n")).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
