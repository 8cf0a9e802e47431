//! The caller's credentials, from the `Authorization` header.

use base64::Engine as _;
use http::HeaderMap;
use http::header::AUTHORIZATION;

use super::error::ApiError;
use crate::index::{Caller, PublisherGrant};
use crate::net::Secret;
use crate::publishing::{TOKEN_PREFIX, TrustedPublishing};

/// The caller, with upload tokens from trusted publishing recognised (a password, whatever
/// the username, or a bearer token that starts with `oci-pypi.`) and verified. Without
/// trusted publishing such a password is an ordinary one.
///
/// # Errors
/// A malformed header; [`ApiError::UploadToken`] for an upload token that does not verify or
/// has expired.
pub fn authenticate(
    headers: &HeaderMap,
    publishing: Option<&TrustedPublishing>,
) -> Result<Caller, ApiError> {
    let caller = caller(headers)?;
    let (token, publishing) = match (&caller, publishing) {
        (
            Caller::Basic {
                password: token, ..
            }
            | Caller::Bearer(token),
            Some(publishing),
        ) if token.expose().starts_with(TOKEN_PREFIX) => (token, publishing),
        _ => return Ok(caller),
    };
    let scope = publishing
        .verify(token.expose())
        .map_err(ApiError::UploadToken)?;
    let credential = scope.credential.current();
    Ok(Caller::Publisher(PublisherGrant {
        publisher: scope.policy,
        registry: scope.registry,
        namespaces: scope.namespaces,
        projects: scope.projects,
        promotions: scope.promotions,
        username: credential.0,
        password: credential.1,
        signer: scope.signer,
    }))
}

/// The caller of a request: Basic credentials (any username, so `__token__` + token works),
/// a bearer token, or nobody.
///
/// # Errors
/// [`ApiError::BadRequest`] for an `Authorization` header that cannot be decoded.
pub fn caller(headers: &HeaderMap) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(Caller::Anonymous);
    };
    let bad = || ApiError::BadRequest("the Authorization header is malformed".to_owned());
    let value = value.to_str().map_err(|_| bad())?.trim();
    let (scheme, rest) = value.split_once(' ').ok_or_else(bad)?;
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| bad())?;
        let text = String::from_utf8(decoded).map_err(|_| bad())?;
        let (username, password) = text.split_once(':').ok_or_else(bad)?;
        return Ok(Caller::Basic {
            username: username.to_owned(),
            password: Secret::new(password.to_owned()),
        });
    }
    if scheme.eq_ignore_ascii_case("bearer") && !rest.trim().is_empty() {
        return Ok(Caller::Bearer(Secret::new(rest.trim().to_owned())));
    }
    Err(bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn reads_basic_and_bearer() {
        let Caller::Basic { username, password } =
            caller(&headers("Basic X190b2tlbl9fOnM6ZWNyZXQ=")).unwrap()
        else {
            panic!("expected basic");
        };
        assert_eq!(username, "__token__");
        assert_eq!(password.expose(), "s:ecret");
        assert!(matches!(
            caller(&headers("Bearer abc")).unwrap(),
            Caller::Bearer(_)
        ));
        assert!(matches!(
            caller(&HeaderMap::new()).unwrap(),
            Caller::Anonymous
        ));
        for bad in ["Basic !!!", "Basic bm9jb2xvbg==", "Digest x", "Bearer "] {
            assert!(caller(&headers(bad)).is_err(), "{bad}");
        }
    }
}
