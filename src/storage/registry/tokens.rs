//! Answering a registry's authentication challenge: Basic with the caller's credentials, or
//! the token flow (realm, service and scope from `WWW-Authenticate`), with tokens cached per
//! caller, registry and scope until they expire.
//!
//! Specification: <https://distribution.github.io/distribution/spec/auth/token/>.

use std::time::Instant;

use reqwest::StatusCode;
use reqwest::header::AUTHORIZATION;

use super::auth::{self, CachedToken};
use super::{
    Access, Challenge, MAX_ERROR_BODY, Registry, RegistryAuth, Secret, TokenKey, lock, read_limited,
};
use crate::storage::error::StorageError;
use crate::storage::reference::Repository;

/// Tokens kept at most; beyond, new tokens are used but not cached.
const MAX_CACHED_TOKENS: usize = 10_000;
/// Expired tokens are swept whenever the cache reaches a multiple of this size.
const SWEEP_EVERY: usize = 256;

/// Caches `token` under `key`. Expired tokens are otherwise dropped only when their own key is
/// looked up again, so the cache is swept as it grows, and bounded: many distinct callers or
/// repositories cannot make it grow for the life of the process.
fn remember(
    tokens: &mut std::collections::HashMap<TokenKey, CachedToken>,
    key: &TokenKey,
    token: &CachedToken,
    now: Instant,
) {
    if tokens.len() % SWEEP_EVERY == SWEEP_EVERY - 1 || tokens.len() >= MAX_CACHED_TOKENS {
        tokens.retain(|_, cached| cached.expires > now);
    }
    if tokens.len() < MAX_CACHED_TOKENS || tokens.contains_key(key) {
        tokens.insert(key.clone(), token.clone());
    }
}

impl Registry {
    pub(super) fn token_key(&self, access: Access, repository: Option<&Repository>) -> TokenKey {
        TokenKey {
            origin: self.origin.to_string(),
            credentials: self.auth.fingerprint(),
            scope: access.scope(repository),
        }
    }

    /// The `Authorization` header to send up front, from what earlier requests taught us.
    pub(super) async fn known_authorization(
        &self,
        key: &TokenKey,
    ) -> Result<Option<String>, StorageError> {
        if let RegistryAuth::Bearer(token) = &self.auth {
            return Ok(Some(format!("Bearer {}", token.expose())));
        }
        let challenge = lock(&self.client.challenges).get(&key.origin).cloned();
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.auth.basic_header()),
            Some(challenge @ Challenge::Bearer { .. }) => {
                if let Ok(header) = self.answer_challenge(&challenge, key, false).await {
                    Ok(header)
                } else {
                    // The registry may have changed its mind: ask without, and learn again.
                    lock(&self.client.challenges).remove(&key.origin);
                    Ok(None)
                }
            }
        }
    }

    /// The header answering `challenge`, or `None` when we have nothing better to offer than
    /// what was already sent.
    pub(super) async fn answer_challenge(
        &self,
        challenge: &Challenge,
        key: &TokenKey,
        already_sent: bool,
    ) -> Result<Option<String>, StorageError> {
        match (challenge, &self.auth) {
            (Challenge::Basic, RegistryAuth::Basic { .. }) if !already_sent => {
                Ok(self.auth.basic_header())
            }
            (Challenge::Basic, _) | (Challenge::Bearer { .. }, RegistryAuth::Bearer(_)) => Ok(None),
            (
                Challenge::Bearer {
                    realm,
                    service,
                    scope,
                },
                _,
            ) => {
                if !already_sent {
                    if let Some(token) = self.cached_token(key) {
                        return Ok(Some(format!("Bearer {}", token.expose())));
                    }
                }
                let scope = scope.as_deref().unwrap_or(&key.scope);
                let token = self.fetch_token(realm, service.as_deref(), scope).await?;
                remember(&mut lock(&self.client.tokens), key, &token, Instant::now());
                Ok(Some(format!("Bearer {}", token.token.expose())))
            }
        }
    }

    pub(super) fn cached_token(&self, key: &TokenKey) -> Option<Secret> {
        let mut tokens = lock(&self.client.tokens);
        match tokens.get(key) {
            Some(cached) if cached.expires > Instant::now() => Some(cached.token.clone()),
            Some(_) => {
                tokens.remove(key);
                None
            }
            None => None,
        }
    }

    pub(super) fn remember_challenge(&self, challenge: &Challenge) {
        let general = match challenge {
            Challenge::Basic => Challenge::Basic,
            Challenge::Bearer { realm, service, .. } => Challenge::Bearer {
                realm: realm.clone(),
                service: service.clone(),
                scope: None,
            },
        };
        lock(&self.client.challenges).insert(self.origin.to_string(), general);
    }

    /// Runs the token flow against `realm`.
    pub(super) async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
    ) -> Result<CachedToken, StorageError> {
        let mut url = reqwest::Url::parse(realm).map_err(|_| self.bad_realm())?;
        let plain_http_allowed = self.origin.scheme() == "http";
        if !(url.scheme() == "https" || (url.scheme() == "http" && plain_http_allowed)) {
            return Err(self.bad_realm());
        }
        // Serving any public registry, a realm must be public too: a literal internal IP
        // would bypass the public-only resolver and receive the caller's credentials.
        if self.client.public_addresses_only && crate::net::is_internal_literal(&url) {
            return Err(self.bad_realm());
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            // A challenge may ask for several scopes, space-separated: one parameter each.
            for part in scope.split_whitespace() {
                query.append_pair("scope", part);
            }
        }
        let mut request = self.http().get(url);
        if let Some(basic) = self.auth.basic_header() {
            request = request.header(AUTHORIZATION, basic);
        }
        let response = self.observe(request.send().await)?;
        match response.status() {
            status if status.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(self.unauthorized()),
            status => return Err(self.upstream("token request", status, String::new())),
        }
        let body = read_limited(response, MAX_ERROR_BODY * 8)
            .await
            .map_err(|error| self.transport(error))?;
        serde_json::from_slice::<auth::TokenResponse>(&body)
            .ok()
            .and_then(auth::TokenResponse::into_cached)
            .ok_or_else(|| self.invalid("the token endpoint answered without a token"))
    }

    /// The realm itself is not quoted: it comes from the registry and may carry anything.
    pub(super) fn bad_realm(&self) -> StorageError {
        self.invalid("its token realm is not an http(s) URL this server may use")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    fn key(n: usize) -> TokenKey {
        TokenKey {
            origin: "https://registry.example".to_owned(),
            credentials: format!("caller-{n}"),
            scope: "repository:a/b:pull".to_owned(),
        }
    }

    fn token(expires: Instant) -> CachedToken {
        CachedToken {
            token: Secret::new("t".to_owned()),
            expires,
        }
    }

    #[test]
    fn token_cache_is_swept_and_bounded() {
        let now = Instant::now();
        let mut tokens = HashMap::new();
        // Expired tokens of many one-off callers are swept as the cache grows.
        for n in 0..SWEEP_EVERY * 4 {
            remember(
                &mut tokens,
                &key(n),
                &token(now),
                now + Duration::from_secs(1),
            );
        }
        assert!(tokens.len() < SWEEP_EVERY, "{} kept", tokens.len());
        // Live tokens are kept up to the bound, then no more are cached.
        tokens.clear();
        let later = now + Duration::from_secs(3600);
        for n in 0..MAX_CACHED_TOKENS + 10 {
            remember(&mut tokens, &key(n), &token(later), now);
        }
        assert_eq!(tokens.len(), MAX_CACHED_TOKENS);
        assert!(tokens.contains_key(&key(0)));
        assert!(!tokens.contains_key(&key(MAX_CACHED_TOKENS)));
    }
    use crate::net::Origin;
    use crate::storage::registry::{ClientOptions, RegistryAuth, RegistryClient};

    fn registry(public_addresses_only: bool, origin: &str) -> Registry {
        let client = RegistryClient::new(&ClientOptions {
            public_addresses_only,
            ..ClientOptions::default()
        })
        .unwrap();
        client.registry(Origin::parse(origin).unwrap(), RegistryAuth::Anonymous)
    }

    /// Serving any public registry, a hostile one could name an internal address as its token
    /// realm to have the caller's credentials sent there; it is refused before any request.
    #[tokio::test]
    async fn public_only_refuses_internal_realms() {
        let public = registry(true, "https://registry.example");
        for realm in [
            "https://10.0.0.5/token",
            "https://169.254.169.254/latest/meta-data/iam",
            "https://[::1]:8443/token",
            "https://127.0.0.1/token",
        ] {
            let error = public
                .fetch_token(realm, Some("svc"), "repository:a/b:pull")
                .await
                .unwrap_err();
            assert_eq!(
                error.to_string(),
                public.bad_realm().to_string(),
                "realm {realm}"
            );
        }
        let plain = public
            .fetch_token("http://auth.example/token", None, "repository:a/b:pull")
            .await
            .unwrap_err();
        assert_eq!(plain.to_string(), public.bad_realm().to_string());
    }
}
