//! A test OIDC issuer on `127.0.0.1:<free port>`, like a CI provider's: the OpenID discovery
//! document, the JWKS with one RS256 key, and the GitHub Actions ID-token request endpoint
//! that `uv publish --trusted-publishing` calls:
//! `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=<aud>` with
//! `Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answered `{"value": "<jwt>"}`.
//!
//! RSA keys are generated once per test run: the published one, and a rogue one that the
//! JWKS never lists (for bad signatures). Like the token server, it runs in its own thread and
//! runtime and stops when dropped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::background::{self, Background};
use super::token_server::random_hex;

/// The key id of the published key.
pub const KEY_ID: &str = "test-key-1";
/// Where the GitHub Actions token request is served.
const GITHUB_TOKEN_PATH: &str = "/github/token";

/// An RS256 signing key and its public JWK.
pub struct SigningKey {
    encoding: EncodingKey,
    jwk: Value,
}

impl SigningKey {
    fn generate() -> anyhow::Result<SigningKey> {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|e| anyhow::anyhow!("generating an RSA key: {e}"))?;
        let der = AsDer::<Pkcs8V1Der>::as_der(&pair)
            .map_err(|e| anyhow::anyhow!("encoding the RSA key: {e}"))?;
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(der.as_ref())
        );
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes())?;
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256)?;
        Ok(SigningKey {
            encoding,
            jwk: serde_json::to_value(jwk)?,
        })
    }

    /// The public key as a JWK (`kty`, `n`, `e`, `alg`).
    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }
}

/// The published key and the rogue one, made once per run (RSA generation is slow).
fn keys() -> &'static (SigningKey, SigningKey) {
    static KEYS: OnceLock<(SigningKey, SigningKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let published = SigningKey::generate().expect("RSA key");
        let rogue = SigningKey::generate().expect("RSA key");
        (published, rogue)
    })
}

struct Shared {
    issuer: String,
    request_token: String,
    /// The claims of the tokens handed to uv (over the defaults).
    github_claims: Mutex<Value>,
    /// Whether discovery and the JWKS answer 503 (an issuer that is down).
    failing: AtomicBool,
    discovery_requests: AtomicUsize,
    jwks_requests: AtomicUsize,
    token_requests: AtomicUsize,
}

pub struct OidcIssuer {
    /// First, so that it stops before anything it uses goes.
    _server: Background,
    shared: Arc<Shared>,
}

impl OidcIssuer {
    /// Starts serving discovery, JWKS and the GitHub token request.
    pub fn start() -> anyhow::Result<OidcIssuer> {
        keys();
        let listener = background::bind("the issuer")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            issuer: format!("http://127.0.0.1:{port}"),
            request_token: random_hex(16),
            github_claims: Mutex::new(json!({})),
            failing: AtomicBool::new(false),
            discovery_requests: AtomicUsize::new(0),
            jwks_requests: AtomicUsize::new(0),
            token_requests: AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route(GITHUB_TOKEN_PATH, get(github_token))
            .with_state(shared.clone());
        let server = Background::serve(listener, "oidc-issuer", app)?;
        Ok(OidcIssuer {
            shared,
            _server: server,
        })
    }

    /// The issuer URL (`iss`): `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.shared.issuer.clone()
    }

    /// What GitHub puts in `ACTIONS_ID_TOKEN_REQUEST_URL` (it already has a query).
    pub fn request_url(&self) -> String {
        format!("{}{GITHUB_TOKEN_PATH}?api-version=2.0", self.shared.issuer)
    }

    /// What GitHub puts in `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
    pub fn request_token(&self) -> String {
        self.shared.request_token.clone()
    }

    /// The environment of a GitHub Actions job with `id-token: write`.
    pub fn github_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", self.request_url()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", self.request_token()),
        ]
    }

    /// Sets the claims of the tokens the GitHub endpoint hands out (over the defaults).
    pub fn set_github_claims(&self, claims: Value) {
        *self.shared.github_claims.lock().unwrap() = claims;
    }

    /// Makes discovery and the JWKS answer 503 (`true`) or work again (`false`).
    pub fn set_failing(&self, failing: bool) {
        self.shared.failing.store(failing, Ordering::SeqCst);
    }

    /// A token signed with the published key: `claims` over the defaults (`iss`, `aud`
    /// `oci-pypi`, `iat`/`nbf` now, `exp` in 5 minutes); a `null` claim is left out.
    pub fn mint(&self, claims: Value) -> String {
        self.sign(
            &header(Some(KEY_ID)),
            &self.claims(claims),
            &keys().0.encoding,
        )
    }

    /// A token signed with a key the JWKS does not list, with this `kid` (or none).
    pub fn mint_rogue(&self, claims: Value, kid: Option<&str>) -> String {
        self.sign(&header(kid), &self.claims(claims), &keys().1.encoding)
    }

    /// A token signed with the rogue key whose header carries that key as `jwk` (and a
    /// `jku` pointing here): a verifier must never take keys from the token.
    pub fn mint_with_embedded_key(&self, claims: Value) -> String {
        let mut header = header(None);
        header.jwk = serde_json::from_value(keys().1.jwk()).ok();
        header.jku = Some(format!("{}/jwks", self.shared.issuer));
        self.sign(&header, &self.claims(claims), &keys().1.encoding)
    }

    /// An unsigned token: `{"alg": "none"}`.
    pub fn mint_unsigned(&self, claims: Value) -> String {
        let part = |value: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
        };
        let header = json!({"alg": "none", "typ": "JWT", "kid": KEY_ID});
        format!("{}.{}.", part(&header), part(&self.claims(claims)))
    }

    /// An HS256 token whose HMAC key is `secret` (such as the public key's modulus, the
    /// classic algorithm-confusion attack).
    pub fn mint_hs256(&self, claims: Value, secret: &[u8]) -> String {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(KEY_ID.to_owned());
        self.sign(
            &header,
            &self.claims(claims),
            &EncodingKey::from_secret(secret),
        )
    }

    /// The published key's JWK.
    pub fn published_jwk(&self) -> Value {
        keys().0.jwk()
    }

    /// Requests for the discovery document so far.
    pub fn discovery_requests(&self) -> usize {
        self.shared.discovery_requests.load(Ordering::SeqCst)
    }

    /// Requests for the JWKS so far.
    pub fn jwks_requests(&self) -> usize {
        self.shared.jwks_requests.load(Ordering::SeqCst)
    }

    /// Requests to the GitHub token endpoint so far.
    pub fn token_requests(&self) -> usize {
        self.shared.token_requests.load(Ordering::SeqCst)
    }

    fn claims(&self, overrides: Value) -> Value {
        default_claims(&self.shared.issuer, overrides)
    }

    fn sign(&self, header: &Header, claims: &Value, key: &EncodingKey) -> String {
        jsonwebtoken::encode(header, claims, key).expect("signing a test token")
    }
}

fn header(kid: Option<&str>) -> Header {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    header
}

/// Seconds since the epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn default_claims(issuer: &str, overrides: Value) -> Value {
    let now = unix_now();
    let mut claims = json!({
        "iss": issuer,
        "aud": "oci-pypi",
        "sub": "repo:acme/app:ref:refs/tags/v1.0",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": random_hex(8),
    });
    let object = claims.as_object_mut().unwrap();
    for (name, value) in overrides.as_object().cloned().unwrap_or_default() {
        if value.is_null() {
            object.remove(&name);
        } else {
            object.insert(name, value);
        }
    }
    claims
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_requests.fetch_add(1, Ordering::SeqCst);
    if shared.failing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    Json(json!({
        "issuer": shared.issuer,
        "jwks_uri": format!("{}/jwks", shared.issuer),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
    .into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>) -> Response {
    shared.jwks_requests.fetch_add(1, Ordering::SeqCst);
    if shared.failing.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "down").into_response();
    }
    let mut key = keys().0.jwk();
    key["kid"] = json!(KEY_ID);
    key["use"] = json!("sig");
    Json(json!({"keys": [key]})).into_response()
}

async fn github_token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    shared.token_requests.fetch_add(1, Ordering::SeqCst);
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, token)| {
            scheme.eq_ignore_ascii_case("bearer") && token == shared.request_token
        });
    if !authorized {
        return (StatusCode::UNAUTHORIZED, "bad request token").into_response();
    }
    let Some(audience) = params
        .iter()
        .find(|(k, _)| k == "audience")
        .map(|(_, v)| v.clone())
    else {
        return (StatusCode::BAD_REQUEST, "no audience").into_response();
    };
    let mut overrides = shared.github_claims.lock().unwrap().clone();
    overrides["aud"] = json!(audience);
    let claims = default_claims(&shared.issuer, overrides);
    match jsonwebtoken::encode(&header(Some(KEY_ID)), &claims, &keys().0.encoding) {
        Ok(jwt) => Json(json!({"count": 1, "value": jwt})).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
