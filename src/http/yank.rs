//! The yank API (PEP 592 defines the flag, not how to set it):
//! `POST /<registry>/<namespace>/+yank/<project>/<version or filename>` yanks, with an optional
//! reason given as `?reason=`, a form field `reason`, or JSON `{"reason": "..."}`;
//! `DELETE` on the same path un-yanks. Needs credentials allowed to push to the repository.

use axum::body::to_bytes;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, StatusCode, header};

use super::AppState;
use super::error::ApiError;
use super::route::Scope;
use crate::index::{Caller, IndexError};
use crate::packaging::ProjectName;

/// The largest request body read for a reason.
const MAX_BODY: usize = 16 * 1024;

/// POST (yank) or DELETE (un-yank).
///
/// # Errors
/// An unreadable body, and what the index refuses.
pub async fn yank(
    state: &AppState,
    caller: &Caller,
    scope: &Scope,
    project: &str,
    target: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let location = state.index.locate(&scope.registry, &scope.namespace)?;
    let project = ProjectName::parse(project).map_err(IndexError::from)?;
    let yanking = request.method() == Method::POST;
    let reason = if yanking {
        Some(reason(request).await?)
    } else {
        None
    };
    state
        .index
        .set_yanked(caller, &location, &project, target, reason.as_deref())
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

/// The reason from the query, a form body or a JSON body; empty when none is given.
async fn reason(request: Request) -> Result<String, ApiError> {
    let from_query = request
        .uri()
        .query()
        .and_then(|query| super::form_field(query, "reason"));
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("json"));
    let body = to_bytes(request.into_body(), MAX_BODY).await.map_err(|_| {
        ApiError::BadRequest(format!("the request body is larger than {MAX_BODY} bytes"))
    })?;
    if let Some(reason) = from_query {
        return Ok(reason);
    }
    if body.is_empty() {
        return Ok(String::new());
    }
    if is_json {
        let value: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            ApiError::BadRequest("the body is not JSON like {\"reason\": \"...\"}".to_owned())
        })?;
        return Ok(value
            .get("reason")
            .and_then(|r| r.as_str())
            .unwrap_or_default()
            .to_owned());
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8".to_owned()))?;
    Ok(super::form_field(text, "reason").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::super::form_field;

    #[test]
    fn reads_form_fields() {
        assert_eq!(
            form_field("reason=broken+build%21&x=1", "reason").as_deref(),
            Some("broken build!")
        );
        assert_eq!(form_field("x=1", "reason"), None);
        assert_eq!(form_field("reason", "reason").as_deref(), Some(""));
    }
}
