//! The parameters of the small write APIs (yank, promote, project status): each may come as a
//! query parameter, a form field (`application/x-www-form-urlencoded`) or a JSON body key;
//! the query wins over the body.

use axum::body::to_bytes;
use axum::extract::Request;
use http::header;

use super::error::ApiError;

/// The largest request body read for parameters.
const MAX_BODY: usize = 16 * 1024;

/// A request's parameters, read once.
#[derive(Debug)]
pub struct Params {
    query: String,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Empty,
    Form(String),
    Json(serde_json::Value),
}

impl Params {
    /// Reads the query and the body (at most 16 KiB). `json_example` shows the JSON shape in
    /// the error for a body that is not JSON (`{"reason": "..."}`).
    ///
    /// # Errors
    /// [`ApiError::BadRequest`] for a body too large, not UTF-8, or not the JSON it says.
    pub async fn read(request: Request, json_example: &str) -> Result<Self, ApiError> {
        let query = request.uri().query().unwrap_or_default().to_owned();
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let bytes = to_bytes(request.into_body(), MAX_BODY).await.map_err(|_| {
            ApiError::BadRequest(format!("the request body is larger than {MAX_BODY} bytes"))
        })?;
        let body = if bytes.is_empty() {
            Body::Empty
        } else if is_json {
            Body::Json(serde_json::from_slice(&bytes).map_err(|_| {
                ApiError::BadRequest(format!("the body is not JSON like {json_example}"))
            })?)
        } else {
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| ApiError::BadRequest("the body is not UTF-8".to_owned()))?;
            Body::Form(text)
        };
        Ok(Self { query, body })
    }

    /// The parameter `name`: from the query, else the body. A JSON value that is not a
    /// string is given as JSON text (`true`, `3`).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<String> {
        form_field(&self.query, name).or_else(|| match &self.body {
            Body::Empty => None,
            Body::Form(text) => form_field(text, name),
            Body::Json(value) => value.get(name).map(|v| match v.as_str() {
                Some(text) => text.to_owned(),
                None => v.to_string(),
            }),
        })
    }
}

/// The value of `name` in an `application/x-www-form-urlencoded` string (`+` is a space).
pub(crate) fn form_field(encoded: &str, name: &str) -> Option<String> {
    encoded.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| {
            let spaced = value.replace('+', " ");
            percent_encoding::percent_decode_str(&spaced)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use axum::body::Body as AxumBody;

    use super::*;

    #[test]
    fn reads_form_fields() {
        assert_eq!(
            form_field("reason=broken+build%21&x=1", "reason").as_deref(),
            Some("broken build!")
        );
        assert_eq!(form_field("x=1", "reason"), None);
        assert_eq!(form_field("reason", "reason").as_deref(), Some(""));
    }

    async fn params(uri: &str, content_type: &str, body: &'static str) -> Params {
        let request = Request::builder()
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .body(AxumBody::from(body))
            .expect("a request");
        Params::read(request, "{}").await.expect("readable")
    }

    #[tokio::test]
    async fn the_query_wins_over_the_body() {
        let p = params(
            "/x?to=a%2Fb",
            "application/json",
            r#"{"to": "c/d", "move": true}"#,
        )
        .await;
        assert_eq!(p.get("to").as_deref(), Some("a/b"));
        assert_eq!(p.get("move").as_deref(), Some("true"));
        assert_eq!(p.get("reason"), None);
        let p = params("/x", "application/x-www-form-urlencoded", "reason=gone+bad").await;
        assert_eq!(p.get("reason").as_deref(), Some("gone bad"));
    }

    #[tokio::test]
    async fn unreadable_bodies_are_refused_with_a_reason() {
        let request = Request::builder()
            .uri("/x")
            .header(header::CONTENT_TYPE, "application/json")
            .body(AxumBody::from("{not json"))
            .expect("a request");
        let error = Params::read(request, r#"{"reason": "..."}"#)
            .await
            .expect_err("not JSON");
        assert!(
            error.to_string().contains(r#"{"reason": "..."}"#),
            "{error}"
        );
        let request = Request::builder()
            .uri("/x")
            .body(AxumBody::from(vec![b'a'; MAX_BODY + 1]))
            .expect("a request");
        let error = Params::read(request, "{}").await.expect_err("too large");
        assert!(error.to_string().contains("larger than"), "{error}");
    }
}
