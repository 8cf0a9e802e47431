//! The signing keys of the configured OIDC issuers, found through each issuer's discovery
//! document (`<issuer>/.well-known/openid-configuration` → `jwks_uri`) and cached.
//!
//! Specifications: OpenID Connect Discovery 1.0 §4
//! (<https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderConfig>) and RFC 7517
//! (JSON Web Key sets). Only the issuers named by trust policies are ever contacted, and the
//! key set must live on the issuer's own origin; a token's header never names where keys are.
//!
//! Anyone can send a token that names a trusted issuer, so fetches are rationed per issuer:
//! a key set is kept for [`KEYS_TTL`], an unknown key id refetches at most once per
//! [`MIN_REFRESH`], and a failed fetch is not retried for [`FAILURE_TTL`] (exchanges in the
//! meantime are refused with the same reason, or use the previous keys).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use serde::Deserialize;
use tokio::sync::Mutex;

use super::error::PublishingError;
use crate::net::read_limited;

/// How long a key set is used before it is fetched again.
const KEYS_TTL: Duration = Duration::from_secs(3600);
/// The least time between two fetches for an unknown key id (rotation), per issuer.
const MIN_REFRESH: Duration = Duration::from_secs(30);
/// The largest discovery document read.
const MAX_DISCOVERY_SIZE: usize = 64 * 1024;
/// The largest key set read.
const MAX_KEYS_SIZE: usize = 512 * 1024;
/// The most keys kept per issuer.
const MAX_KEYS: usize = 64;
/// The time allowed for one fetch.
const FETCH_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a failed fetch is remembered: no fetch of that issuer is made meanwhile.
const FAILURE_TTL: Duration = Duration::from_secs(30);

/// The key sets of the configured issuers.
#[derive(Debug)]
pub struct KeyCache {
    http: reqwest::Client,
    /// One entry per configured issuer, made at startup: the cache cannot grow.
    issuers: HashMap<String, Arc<Mutex<IssuerKeys>>>,
}

/// What is known of one issuer's keys.
#[derive(Debug, Default)]
struct IssuerKeys {
    /// The last key set fetched.
    set: Option<KeySet>,
    /// The last fetch, when it failed.
    failure: Option<Failure>,
}

#[derive(Debug)]
struct KeySet {
    keys: Vec<Jwk>,
    fetched: Instant,
}

#[derive(Debug)]
struct Failure {
    at: Instant,
    reason: String,
}

impl IssuerKeys {
    /// Whether a fetch may be made at `now`: not while a failure is remembered.
    fn may_fetch(&self, now: Instant) -> bool {
        self.failure
            .as_ref()
            .is_none_or(|failure| now.saturating_duration_since(failure.at) >= FAILURE_TTL)
    }

    /// Whether the key set is missing or older than [`KEYS_TTL`].
    fn stale(&self, now: Instant) -> bool {
        self.set
            .as_ref()
            .is_none_or(|set| now.saturating_duration_since(set.fetched) >= KEYS_TTL)
    }

    /// Whether an unknown key id may refetch the set at `now`.
    fn may_refresh_for_unknown_key(&self, now: Instant) -> bool {
        self.may_fetch(now)
            && self
                .set
                .as_ref()
                .is_some_and(|set| now.saturating_duration_since(set.fetched) >= MIN_REFRESH)
    }
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct RawKeySet {
    keys: Vec<serde_json::Value>,
}

impl KeyCache {
    /// A cache for these issuers (URLs without a trailing `/`); no other is ever contacted.
    ///
    /// # Errors
    /// [`PublishingError::ClientSetup`] when the HTTP client cannot be built.
    pub fn new(issuers: impl IntoIterator<Item = String>) -> Result<Self, PublishingError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("oci-pypi/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .timeout(FETCH_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(PublishingError::ClientSetup)?;
        Ok(Self {
            http,
            issuers: issuers
                .into_iter()
                .map(|issuer| (issuer, Arc::default()))
                .collect(),
        })
    }

    /// The signature keys of `issuer` with this key id (every signature key when the token
    /// names none). An unknown key id refreshes the set, at most once per [`MIN_REFRESH`].
    ///
    /// # Errors
    /// [`PublishingError::InvalidToken`] for an issuer that is not configured,
    /// [`PublishingError::IssuerUnavailable`] when the keys cannot be fetched.
    pub async fn keys(&self, issuer: &str, kid: Option<&str>) -> Result<Vec<Jwk>, PublishingError> {
        let slot = self.issuers.get(issuer).ok_or_else(|| {
            PublishingError::InvalidToken(format!("issuer `{issuer}` is not trusted here"))
        })?;
        let mut cached = slot.lock().await;
        if cached.stale(Instant::now()) {
            self.refresh(issuer, &mut cached).await?;
        }
        let mut found = select(cached.set.as_ref(), kid);
        if found.is_empty() && kid.is_some() && cached.may_refresh_for_unknown_key(Instant::now()) {
            tracing::info!(
                oidc.issuer = issuer,
                "unknown key id: fetching the keys of `{issuer}` again"
            );
            self.refresh(issuer, &mut cached).await?;
            found = select(cached.set.as_ref(), kid);
        }
        Ok(found)
    }

    /// Fetches the key set, unless a fetch failed less than [`FAILURE_TTL`] ago; on failure
    /// an older set, if any, stays in use.
    async fn refresh(&self, issuer: &str, cached: &mut IssuerKeys) -> Result<(), PublishingError> {
        if !cached.may_fetch(Instant::now()) {
            return match (&cached.set, &cached.failure) {
                (None, Some(failure)) => Err(PublishingError::IssuerUnavailable {
                    issuer: issuer.to_owned(),
                    reason: format!(
                        "{} (not retried for {} s after a failure)",
                        failure.reason,
                        FAILURE_TTL.as_secs()
                    ),
                }),
                _ => Ok(()),
            };
        }
        match self.fetch(issuer).await {
            Ok(keys) => {
                tracing::info!(
                    oidc.issuer = issuer,
                    oidc.keys = keys.len(),
                    "fetched the signing keys of `{issuer}`"
                );
                cached.set = Some(KeySet {
                    keys,
                    fetched: Instant::now(),
                });
                cached.failure = None;
                Ok(())
            }
            Err(error) => {
                let reason = match &error {
                    PublishingError::IssuerUnavailable { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                cached.failure = Some(Failure {
                    at: Instant::now(),
                    reason,
                });
                if cached.set.is_some() {
                    tracing::warn!(oidc.issuer = issuer, "keeping the previous keys: {error}");
                    return Ok(());
                }
                Err(error)
            }
        }
    }

    async fn fetch(&self, issuer: &str) -> Result<Vec<Jwk>, PublishingError> {
        let unavailable = |reason: String| PublishingError::IssuerUnavailable {
            issuer: issuer.to_owned(),
            reason,
        };
        let discovery_url = format!("{issuer}/.well-known/openid-configuration");
        let discovery: Discovery = self
            .get_json(&discovery_url, MAX_DISCOVERY_SIZE)
            .await
            .map_err(&unavailable)?;
        if discovery.issuer.trim_end_matches('/') != issuer {
            return Err(unavailable(format!(
                "its discovery document names another issuer, `{}`",
                discovery.issuer.escape_default()
            )));
        }
        if !same_origin(issuer, &discovery.jwks_uri) {
            return Err(unavailable(format!(
                "its `jwks_uri` `{}` is not on the issuer's origin",
                discovery.jwks_uri.escape_default()
            )));
        }
        let raw: RawKeySet = self
            .get_json(&discovery.jwks_uri, MAX_KEYS_SIZE)
            .await
            .map_err(&unavailable)?;
        // Keys of kinds this library does not know are skipped, not fatal.
        Ok(raw
            .keys
            .into_iter()
            .filter_map(|key| serde_json::from_value::<Jwk>(key).ok())
            .take(MAX_KEYS)
            .collect())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        limit: usize,
    ) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| format!("`{url}`: {}", without_url(&error)))?;
        if !response.status().is_success() {
            return Err(format!("`{url}` answered {}", response.status()));
        }
        let body = read_limited(response, limit + 1)
            .await
            .map_err(|error| format!("`{url}`: {}", without_url(&error)))?;
        if body.len() > limit {
            return Err(format!("`{url}` answered more than {limit} bytes"));
        }
        serde_json::from_slice(&body)
            .map_err(|error| format!("`{url}` answered invalid JSON: {error}"))
    }
}

/// The signature keys with this id, or all of them without one. Symmetric (`oct`) keys are
/// never used: a key set is public, so an HMAC key in it would let anyone sign.
fn select(set: Option<&KeySet>, kid: Option<&str>) -> Vec<Jwk> {
    let Some(set) = set else {
        return Vec::new();
    };
    set.keys
        .iter()
        .filter(|key| !matches!(key.algorithm, AlgorithmParameters::OctetKey(_)))
        .filter(|key| {
            matches!(
                key.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            )
        })
        .filter(|key| kid.is_none_or(|kid| key.common.key_id.as_deref() == Some(kid)))
        .cloned()
        .collect()
}

/// Whether `url` has the scheme, host and port of `issuer`.
fn same_origin(issuer: &str, url: &str) -> bool {
    match (url::Url::parse(issuer), url::Url::parse(url)) {
        (Ok(issuer), Ok(url)) => {
            issuer.scheme() == url.scheme()
                && issuer.host_str() == url.host_str()
                && issuer.port_or_known_default() == url.port_or_known_default()
                && url.username().is_empty()
                && url.password().is_none()
        }
        _ => false,
    }
}

/// A reqwest error's text without the URL it repeats.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_sets_stay_on_the_issuers_origin() {
        let issuer = "https://token.actions.githubusercontent.com";
        assert!(same_origin(
            issuer,
            "https://token.actions.githubusercontent.com/.well-known/jwks"
        ));
        assert!(same_origin(
            issuer,
            "https://token.actions.githubusercontent.com:443/keys"
        ));
        assert!(!same_origin(
            issuer,
            "http://token.actions.githubusercontent.com/keys"
        ));
        assert!(!same_origin(issuer, "https://evil.example/keys"));
        assert!(!same_origin(
            issuer,
            "https://u:p@token.actions.githubusercontent.com/keys"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:80",
            "http://127.0.0.1:81/keys"
        ));
    }

    #[test]
    fn selects_signature_keys_by_id_and_never_hmac_keys() {
        let keys: Vec<Jwk> = serde_json::from_value(serde_json::json!([
            {"kty": "RSA", "kid": "a", "use": "sig", "n": "AQAB", "e": "AQAB"},
            {"kty": "RSA", "kid": "b", "use": "enc", "n": "AQAB", "e": "AQAB"},
            {"kty": "oct", "kid": "c", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "d", "n": "AQAB", "e": "AQAB"},
        ]))
        .unwrap();
        let set = KeySet {
            keys,
            fetched: Instant::now(),
        };
        let ids = |kid| {
            select(Some(&set), kid)
                .into_iter()
                .map(|key| key.common.key_id.unwrap_or_default())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(Some("a")), ["a"]);
        assert!(ids(Some("b")).is_empty());
        assert!(ids(Some("c")).is_empty());
        assert_eq!(ids(None), ["a", "d"]);
        assert!(select(None, Some("a")).is_empty());
    }

    /// Security review, low finding: a failed fetch is remembered, so that tokens naming an
    /// issuer that is down (or answers garbage) do not each make the server fetch again.
    #[test]
    fn failures_ration_fetches() {
        // Times in seconds after `base`; each state is judged at `at(...)`.
        let base = Instant::now();
        let at = |seconds| base + Duration::from_secs(seconds);
        let failed = |seconds| {
            Some(Failure {
                at: at(seconds),
                reason: "down".to_owned(),
            })
        };
        let fetched = |seconds| {
            Some(KeySet {
                keys: Vec::new(),
                fetched: at(seconds),
            })
        };
        let state = |set, failure| IssuerKeys { set, failure };

        let empty = IssuerKeys::default();
        assert!(empty.may_fetch(at(0)) && empty.stale(at(0)));
        assert!(!empty.may_refresh_for_unknown_key(at(0)));
        // Failed, nothing cached: no fetch until FAILURE_TTL has passed.
        let down = state(None, failed(0));
        assert!(!down.may_fetch(at(5)) && !down.may_fetch(at(29)));
        assert!(down.may_fetch(at(30)));
        // Keys past their TTL and the refetch failed: the old keys are used, no fetch.
        let old = state(fetched(0), failed(4000));
        assert!(old.stale(at(4001)) && !old.may_fetch(at(4001)));
        // An unknown key id refetches at most every MIN_REFRESH, and not after a failure.
        assert!(state(fetched(0), None).may_refresh_for_unknown_key(at(40)));
        assert!(!state(fetched(0), None).may_refresh_for_unknown_key(at(10)));
        assert!(!state(fetched(0), failed(30)).may_refresh_for_unknown_key(at(40)));
        assert!(!state(fetched(0), None).stale(at(10)));
    }
}
