//! Cross-site request forgery defence: a browser visiting another site must not be able to
//! make a state-changing request here (an upload, a delete, a yank, a promotion) with the
//! credentials it holds for this server.
//!
//! Browsers say where a request comes from: `Sec-Fetch-Site` (Fetch Metadata,
//! <https://www.w3.org/TR/fetch-metadata/>) on every request of current browsers, and `Origin`
//! (RFC 6454, section 7) on every non-GET request. Packaging clients (pip, uv, twine, poetry,
//! curl) send neither, and pass. A request that is not safe (RFC 9110, section 9.2.1) is
//! refused when `Sec-Fetch-Site` is present and says anything but `same-origin` or `none` (a
//! request the user made, such as a bookmark); without it, when `Origin` is present and is not
//! this server's origin (its host and port equal to the request's `Host`).

use http::{HeaderMap, Method, Uri, header};

use super::error::ApiError;

/// Refuses a state-changing request that a browser sent from another site.
///
/// # Errors
/// [`ApiError::CrossSite`] naming the header and its value.
pub fn refuse_cross_site(method: &Method, uri: &Uri, headers: &HeaderMap) -> Result<(), ApiError> {
    if method.is_safe() {
        return Ok(());
    }
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("(not text)").trim();
        if site.eq_ignore_ascii_case("same-origin") || site.eq_ignore_ascii_case("none") {
            return Ok(());
        }
        return Err(ApiError::CrossSite(format!(
            "`Sec-Fetch-Site: {}`",
            crate::packaging::shown(site)
        )));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("(not text)").trim();
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| uri.authority().map(http::uri::Authority::as_str));
    if host.is_some_and(|host| same_authority(origin, host)) {
        return Ok(());
    }
    Err(ApiError::CrossSite(format!(
        "`Origin: {}`",
        crate::packaging::shown(origin)
    )))
}

/// Whether the serialized origin `scheme://host[:port]` names `host` (`host[:port]`), default
/// ports written or not.
fn same_authority(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let normalize = |authority: &str| {
        let authority = authority.trim().to_ascii_lowercase();
        match authority.strip_suffix(default_port) {
            Some(bare) => bare.to_owned(),
            None => authority,
        }
    };
    !authority.contains('/') && normalize(authority) == normalize(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(method: &Method, headers: &[(&str, &str)]) -> Result<(), String> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let uri: Uri = "/local/team/".parse().unwrap();
        refuse_cross_site(method, &uri, &map).map_err(|error| error.to_string())
    }

    #[test]
    fn browsers_across_sites_are_refused() {
        let host = ("host", "pypi.example.com");
        for headers in [
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "same-site")],
            vec![host, ("origin", "https://evil.example")],
            vec![host, ("origin", "https://pypi.example.com.evil.example")],
            vec![host, ("origin", "http://pypi.example.com:8080")],
            vec![host, ("origin", "null")],
            vec![("origin", "https://pypi.example.com")],
            vec![
                host,
                ("origin", "https://pypi.example.com"),
                ("sec-fetch-site", "cross-site"),
            ],
        ] {
            for method in [Method::POST, Method::DELETE, Method::PUT, Method::PATCH] {
                assert!(check(&method, &headers).is_err(), "{method} {headers:?}");
            }
        }
        assert_eq!(
            check(&Method::POST, &[("sec-fetch-site", "cross-site")]).unwrap_err(),
            "cross-site request refused: `Sec-Fetch-Site: cross-site`; state-changing requests \
             are only taken from this server's own origin or from non-browser clients"
        );
    }

    #[test]
    fn clients_and_same_origin_pass() {
        let host = ("host", "pypi.example.com");
        for headers in [
            vec![],
            vec![host],
            vec![host, ("sec-fetch-site", "same-origin")],
            vec![host, ("sec-fetch-site", "none")],
            vec![
                host,
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://pypi.example.com"),
            ],
            vec![host, ("origin", "https://pypi.example.com")],
            vec![host, ("origin", "https://PyPI.example.com:443")],
            vec![
                ("host", "127.0.0.1:8080"),
                ("origin", "http://127.0.0.1:8080"),
            ],
        ] {
            assert_eq!(check(&Method::POST, &headers), Ok(()), "{headers:?}");
        }
        let evil = [host, ("origin", "https://evil.example")];
        for method in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert_eq!(check(&method, &evil), Ok(()), "{method}");
        }
    }
}
