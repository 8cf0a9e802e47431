//! The promotion API: `POST /<registry>/<namespace>/+promote/<project>/<version or filename>`
//! with `to=<registry>/<namespace>` (query, form field or JSON `{"to": ..., "move": ...}`) and
//! optionally `move=true` to delete from the source once copied. The caller's credentials are
//! used on both sides; for different credentials per side, use `oci-pypi promote`.

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::params::Params;
use super::route::TargetPath;
use crate::index::{Caller, Promotion};

/// POST of a promotion.
///
/// # Errors
/// A missing or malformed destination, and what the index refuses.
pub async fn promote(
    state: &AppState,
    caller: &Caller,
    path: &TargetPath,
    request: Request,
) -> Result<Response, ApiError> {
    let (from, release) = path.release(&state.index)?;
    let (to, remove_source) = parameters(request).await?;
    let (registry, namespace) = to.split_once('/').ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`to` = `{}` is not `<registry>/<namespace>`",
            to.escape_default()
        ))
    })?;
    let to = state.index.locate(registry, namespace)?;
    let promotion = Promotion {
        from: &from,
        to: &to,
        release: &release,
        remove_source,
    };
    let report = state.index.promote(caller, caller, &promotion).await?;
    let body = json!({
        "copied": report.copied,
        "already_there": report.already_there,
        "removed_source": report.removed_source,
    });
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `to` and `move`, from the query, a form body or a JSON body.
async fn parameters(request: Request) -> Result<(String, bool), ApiError> {
    let params = Params::read(request, r#"{"to": "<registry>/<namespace>"}"#).await?;
    let to = params.get("to").filter(|t| !t.is_empty()).ok_or_else(|| {
        ApiError::BadRequest("missing `to`: the destination `<registry>/<namespace>`".to_owned())
    })?;
    let remove = match params.get("move").as_deref().map(str::trim) {
        None | Some("" | "false" | "0" | "no") => false,
        Some("true" | "1" | "yes") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "`move` = `{}` is not true or false",
                other.escape_default()
            )));
        }
    };
    Ok((to, remove))
}
