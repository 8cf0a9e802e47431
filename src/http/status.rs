//! The project status API (PEP 792 defines the markers, not how to set them):
//! `POST /<registry>/<namespace>/+status/<project>` with `status` (`active`, `archived`,
//! `quarantined`, `deprecated`) and an optional `reason`, given as query parameters, form
//! fields or JSON `{"status": "...", "reason": "..."}`. Needs credentials allowed to push to
//! the project's repository.

use axum::body::to_bytes;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};

use super::AppState;
use super::error::ApiError;
use super::route::Scope;
use crate::index::{Caller, IndexError};
use crate::packaging::{PackagingError, ProjectName, ProjectStatus, StatusMarker};

/// The largest request body read.
const MAX_BODY: usize = 16 * 1024;

/// POST: sets the project's status.
///
/// # Errors
/// An unreadable body or a bad status, and what the index refuses.
pub async fn set_status(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    project: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let location = state.index.locate(&scope.registry, &scope.namespace)?;
    let project = ProjectName::parse(project).map_err(IndexError::from)?;
    let (status, reason) = fields(request).await?;
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

/// `status` and `reason` from the query, else from a JSON or form body.
async fn fields(request: Request) -> Result<(Option<String>, Option<String>), ApiError> {
    let query = request.uri().query().unwrap_or_default().to_owned();
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = to_bytes(request.into_body(), MAX_BODY).await.map_err(|_| {
        ApiError::BadRequest(format!("the request body is larger than {MAX_BODY} bytes"))
    })?;
    if let Some(status) = super::form_field(&query, "status") {
        return Ok((Some(status), super::form_field(&query, "reason")));
    }
    if body.is_empty() {
        return Ok((None, None));
    }
    if is_json {
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            ApiError::BadRequest(
                "the body is not JSON like {\"status\": \"archived\", \"reason\": \"...\"}"
                    .to_owned(),
            )
        })?;
        let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        return Ok((text("status"), text("reason")));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8".to_owned()))?;
    Ok((
        super::form_field(text, "status"),
        super::form_field(text, "reason"),
    ))
}
