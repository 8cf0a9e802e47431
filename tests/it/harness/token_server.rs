//! A small Docker token-auth server (the "token" flow of CNCF distribution)
//! for integration tests.
//!
//! It runs on `127.0.0.1:<free port>` in its own OS thread with its own tokio
//! runtime, so it outlives the runtime of any single `#[tokio::test]`, and it
//! stops when the [`TokenServer`] is dropped.
//!
//! Tokens are ES256 JWTs signed with a per-run P-256 key. The key's
//! self-signed certificate is written to [`TokenServer::cert_path`] and is meant
//! for the registry's `auth.token.rootcertbundle`. Distribution 2.8 finds the
//! verification key through the JWT header `kid`, which must be the libtrust
//! key id of that key (see [`libtrust_key_id`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use rcgen::PublicKeyData as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::background::{self, Background};

pub const SERVICE: &str = "test-registry";
pub const ISSUER: &str = "test-issuer";
/// Lifetime of issued tokens, in seconds.
pub const TOKEN_TTL_SECS: i64 = 300;

/// What a user (or a secret) may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grant {
    /// Every requested action on every repository, and the catalog.
    All,
    /// Only `pull` on repositories; nothing on the catalog.
    PullOnly,
    /// Every requested action on repositories whose name starts with one of these prefixes
    /// (`team-b/`); nothing elsewhere, nothing on the catalog.
    Within(Vec<String>),
    /// At most this access: what a registry token carries, when it is presented as a password.
    Exactly(Vec<Access>),
}

#[derive(Debug, Clone)]
pub struct TokenUser {
    pub username: String,
    pub password: String,
    pub grant: Grant,
}

impl TokenUser {
    pub fn new(username: impl Into<String>, password: impl Into<String>, grant: Grant) -> Self {
        TokenUser {
            username: username.into(),
            password: password.into(),
            grant,
        }
    }
}

/// One entry of the JWT `access` claim.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Access {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
}

/// What a client asked for, as recorded by the server (for assertions).
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// Username from Basic auth, `None` for an anonymous request.
    pub user: Option<String>,
    pub scopes: Vec<String>,
    /// HTTP status the server answered with.
    pub status: u16,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    /// A plain string: distribution 2.8's `ClaimSet.Audience` is a string.
    aud: &'a str,
    exp: u64,
    nbf: u64,
    iat: u64,
    jti: String,
    access: &'a [Access],
}

struct Signer {
    key: jsonwebtoken::EncodingKey,
    kid: String,
}

impl Signer {
    fn sign(
        &self,
        sub: &str,
        aud: &str,
        access: &[Access],
        ttl_secs: i64,
    ) -> anyhow::Result<String> {
        let now = unix_now();
        let exp = now.saturating_add_signed(ttl_secs);
        let claims = Claims {
            iss: ISSUER,
            sub,
            aud,
            exp,
            nbf: now.min(exp).saturating_sub(10),
            iat: now,
            jti: random_hex(16),
            access,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.typ = Some("JWT".into());
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).context("signing JWT")
    }
}

struct Shared {
    users: Mutex<HashMap<String, TokenUser>>,
    /// Passwords accepted under any username (as ghcr.io takes a PAT): operator secrets, and
    /// every registry token this server issued (granting at most that token's access).
    secrets: Mutex<HashMap<String, Grant>>,
    signer: Signer,
    requests: AtomicUsize,
    log: Mutex<Vec<TokenRequest>>,
}

pub struct TokenServer {
    /// First, so that it stops before anything it uses goes.
    server: Background,
    shared: Arc<Shared>,
    dir: tempfile::TempDir,
}

impl TokenServer {
    /// Generates a fresh key + certificate and starts serving `GET /token`.
    pub fn start(users: Vec<TokenUser>) -> anyhow::Result<TokenServer> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()])?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "oci-pypi test token issuer");
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        let kid = libtrust_key_id(&key.subject_public_key_info());
        let signer = Signer {
            key: jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
            kid,
        };

        let dir = tempfile::Builder::new()
            .prefix("oci-pypi-token-")
            .tempdir()?;
        std::fs::write(dir.path().join("root.crt"), &cert_pem)?;

        let shared = Arc::new(Shared {
            users: Mutex::new(users.into_iter().map(|u| (u.username.clone(), u)).collect()),
            secrets: Mutex::new(HashMap::new()),
            signer,
            requests: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        });

        let app = Router::new()
            .route("/token", get(token))
            .with_state(shared.clone());
        let server = Background::serve(background::bind("the token server")?, "token-server", app)?;
        Ok(TokenServer {
            shared,
            dir,
            server,
        })
    }

    /// The usual pair for tests: "ci-user" (everything) and "reader" (pull only).
    pub fn start_default(ci_password: &str, reader_password: &str) -> anyhow::Result<TokenServer> {
        TokenServer::start(vec![
            TokenUser::new("ci-user", ci_password, Grant::All),
            TokenUser::new("reader", reader_password, Grant::PullOnly),
        ])
    }

    /// `http://127.0.0.1:PORT/token`, for `auth.token.realm`.
    pub fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.server.port())
    }

    pub fn service(&self) -> &'static str {
        SERVICE
    }

    pub fn issuer(&self) -> &'static str {
        ISSUER
    }

    /// PEM file with the signing key's certificate, for `auth.token.rootcertbundle`.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("root.crt")
    }

    /// Number of requests to `/token` so far (successful or not).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Every request to `/token` so far, oldest first.
    pub fn request_log(&self) -> Vec<TokenRequest> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Adds a user (for example one with [`Grant::Within`]) while the server runs.
    pub fn add_user(&self, user: TokenUser) {
        let mut users = self.shared.users.lock().unwrap();
        users.insert(user.username.clone(), user);
    }

    /// A new personal-access-token-like secret with `grant`, accepted as the password of any
    /// username (as ghcr.io accepts a PAT whatever the username).
    pub fn personal_access_token(&self, grant: Grant) -> String {
        let secret = format!("pat_{}", random_hex(20));
        let mut secrets = self.shared.secrets.lock().unwrap();
        secrets.insert(secret.clone(), grant);
        secret
    }

    /// Mints a token directly, signed with the trusted key: one with hand-picked
    /// access, or an expired one with a negative `ttl_secs` (distribution 2.8
    /// allows 60 s of clock leeway, so use e.g. -120).
    pub fn mint(&self, subject: &str, access: &[Access], ttl_secs: i64) -> anyhow::Result<String> {
        self.shared.signer.sign(subject, SERVICE, access, ttl_secs)
    }
}

#[derive(Serialize)]
struct TokenResponse {
    token: String,
    access_token: String,
    expires_in: i64,
    issued_at: String,
}

async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let service = params
        .iter()
        .find(|(k, _)| k == "service")
        .map(|(_, v)| v.clone());
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').filter(|s| !s.is_empty()).map(str::to_string))
        .collect();
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let (user, grant) = match auth.map(parse_basic) {
        None | Some(None) => (None, None),
        Some(Some((name, password))) => {
            let grant = shared.grant_of(&name, &password);
            (Some(name), grant)
        }
    };
    let record = |status: StatusCode| {
        shared.log.lock().unwrap().push(TokenRequest {
            user: user.clone(),
            scopes: scopes.clone(),
            status: status.as_u16(),
        });
    };
    if auth.is_some() && grant.is_none() {
        record(StatusCode::UNAUTHORIZED);
        let body = serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication failed"}]});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let access: Vec<Access> = match &grant {
        Some(g) => scopes.iter().filter_map(|s| grant_scope(g, s)).collect(),
        None => Vec::new(),
    };
    let audience = service.clone().unwrap_or_else(|| SERVICE.to_string());
    match shared.signer.sign(
        user.as_deref().unwrap_or(""),
        &audience,
        &access,
        TOKEN_TTL_SECS,
    ) {
        Ok(jwt) => {
            record(StatusCode::OK);
            if grant.is_some() {
                let mut secrets = shared.secrets.lock().unwrap();
                secrets.insert(jwt.clone(), Grant::Exactly(access));
            }
            let issued_at = time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            Json(TokenResponse {
                token: jwt.clone(),
                access_token: jwt,
                expires_in: TOKEN_TTL_SECS,
                issued_at,
            })
            .into_response()
        }
        Err(e) => {
            record(StatusCode::INTERNAL_SERVER_ERROR);
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")).into_response()
        }
    }
}

impl Shared {
    /// What `username` with `password` may do: a user's own password, or a secret (a PAT or an
    /// issued token) under any username; `None` when neither matches.
    fn grant_of(&self, username: &str, password: &str) -> Option<Grant> {
        let users = self.users.lock().unwrap();
        if let Some(user) = users.get(username).filter(|u| u.password == password) {
            return Some(user.grant.clone());
        }
        self.secrets.lock().unwrap().get(password).cloned()
    }
}

/// `type:name:actions` → granted access entry, if any action is granted.
fn grant_scope(grant: &Grant, scope: &str) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let requested = actions
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_string);
    let granted: Vec<String> = match (grant, kind) {
        (Grant::All, _) => requested.collect(),
        (Grant::PullOnly, "repository") => requested.filter(|a| a == "pull").collect(),
        (Grant::Within(prefixes), "repository")
            if prefixes.iter().any(|p| name.starts_with(p.as_str())) =>
        {
            requested.collect()
        }
        (Grant::PullOnly | Grant::Within(_), _) => Vec::new(),
        (Grant::Exactly(held), _) => requested
            .filter(|a| {
                held.iter()
                    .any(|h| h.kind == kind && h.name == name && h.actions.contains(a))
            })
            .collect(),
    };
    (!granted.is_empty()).then(|| Access {
        kind: kind.to_string(),
        name: name.to_string(),
        actions: granted,
    })
}

fn parse_basic(value: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let (u, p) = String::from_utf8(decoded)
        .ok()?
        .split_once(':')
        .map(|(u, p)| (u.to_string(), p.to_string()))?;
    Some((u, p))
}

/// libtrust key id, as distribution 2.8 computes it for `rootcertbundle` keys:
/// base32 (RFC 4648 alphabet, no padding) of the first 30 bytes of
/// sha256(SPKI DER), in 12 groups of 4 characters joined by `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(spki_der);
    let mut out = String::new();
    // 30 bytes = 6 blocks of 5 bytes = 48 characters, no padding needed.
    for block in digest[..30].chunks(5) {
        let n = block.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        for i in (0..8).rev() {
            out.push(ALPHABET[((n >> (i * 5)) & 31) as usize] as char);
        }
    }
    let groups: Vec<&str> = (0..12).map(|i| &out[i * 4..i * 4 + 4]).collect();
    groups.join(":")
}

/// Random lowercase hex of `bytes` bytes (not cryptographic quality, but
/// unpredictable enough for per-run test passwords and secrets).
pub fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut out = String::new();
    while out.len() < bytes * 2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        h.write_u32(std::process::id());
        let seed = h.finish().to_le_bytes();
        let d = Sha256::digest(seed);
        out.extend(d.iter().map(|b| format!("{b:02x}")));
    }
    out.truncate(bytes * 2);
    out
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}
