//! Verifying an OIDC ID token (a JWT, RFC 7519) from a CI provider: the algorithm is one of a
//! fixed list of asymmetric ones, the signature verifies against the issuer's published keys,
//! and `iss`, `aud`, `exp`, `nbf` and `iat` hold (with [`LEEWAY`] seconds of clock skew).
//!
//! Nothing in the token's header chooses the key: `jwk`, `jku`, `x5u` and `x5c` are ignored,
//! only `kid` selects among the issuer's keys. `none` and HMAC algorithms are refused.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::error::PublishingError;

/// The algorithms accepted, by their JOSE names.
pub const ALGORITHMS: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
];
/// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY: u64 = 60;
/// The longest token looked at.
const MAX_TOKEN_LENGTH: usize = 16 * 1024;

/// What a token says before it is verified: enough to find the key, and to explain refusals.
#[derive(Debug, Clone)]
pub struct Unverified {
    /// The signing algorithm, one of [`ALGORITHMS`].
    pub algorithm: Algorithm,
    /// The key id, if the header names one.
    pub kid: Option<String>,
    /// The `iss` claim, without a trailing `/`.
    pub issuer: String,
    /// The `aud` claim, as text (for messages only).
    audience: String,
}

fn invalid(reason: impl Into<String>) -> PublishingError {
    PublishingError::InvalidToken(reason.into())
}

/// Reads the header and the issuer of a token, checking only its shape and algorithm.
///
/// # Errors
/// [`PublishingError::InvalidToken`] for anything that is not a JWT with an accepted
/// algorithm and an `iss` claim.
pub fn inspect(token: &str) -> Result<Unverified, PublishingError> {
    if token.len() > MAX_TOKEN_LENGTH {
        return Err(invalid(format!(
            "it is longer than {MAX_TOKEN_LENGTH} bytes"
        )));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, _signature] = parts.as_slice() else {
        return Err(invalid(
            "it is not a JWT (three base64url parts separated by `.`)",
        ));
    };
    let header = decode_part(header).ok_or_else(|| invalid("its header is not base64url JSON"))?;
    let name = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("its header has no `alg`"))?;
    let algorithm = ALGORITHMS
        .iter()
        .find(|(accepted, _)| *accepted == name)
        .map(|(_, algorithm)| *algorithm)
        .ok_or_else(|| {
            let accepted: Vec<&str> = ALGORITHMS.iter().map(|(accepted, _)| *accepted).collect();
            invalid(format!(
                "algorithm `{}` is not accepted (only {})",
                name.escape_default(),
                accepted.join(", ")
            ))
        })?;
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    let claims =
        decode_part(payload).ok_or_else(|| invalid("its payload is not base64url JSON"))?;
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("it has no `iss` claim"))?
        .trim_end_matches('/')
        .to_owned();
    let audience = match claims.get("aud") {
        Some(Value::String(audience)) => format!("`{}`", audience.escape_default()),
        Some(other) => other.to_string(),
        None => "missing".to_owned(),
    };
    Ok(Unverified {
        algorithm,
        kid,
        issuer,
        audience,
    })
}

/// Verifies the token with one of `keys` (the issuer's, selected by `kid`) and checks its
/// claims; the verified claims.
///
/// # Errors
/// [`PublishingError::InvalidToken`] saying which check failed.
pub fn verify(
    token: &str,
    unverified: &Unverified,
    keys: &[Jwk],
    audience: &str,
    now: u64,
) -> Result<Map<String, Value>, PublishingError> {
    let issuer = &unverified.issuer;
    let mut validation = Validation::new(unverified.algorithm);
    validation.leeway = LEEWAY;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    for key in keys.iter().filter(|key| suits(key, unverified.algorithm)) {
        let Ok(decoding) = DecodingKey::from_jwk(key) else {
            continue;
        };
        match jsonwebtoken::decode::<Map<String, Value>>(token, &decoding, &validation) {
            Ok(data) => return check_claims(data.claims, issuer, now),
            Err(error) if is_signature_error(&error) => {}
            Err(error) => return Err(explain(&error, unverified, audience)),
        }
    }
    Err(match &unverified.kid {
        Some(kid) if keys.is_empty() => invalid(format!(
            "it is signed with key `{}`, which issuer `{issuer}` does not publish",
            kid.escape_default()
        )),
        _ => invalid(format!(
            "its signature does not verify with the keys of issuer `{issuer}`"
        )),
    })
}

/// Whether a key can verify this algorithm: the right family, and the same `alg` if it
/// names one.
fn suits(key: &Jwk, algorithm: Algorithm) -> bool {
    use jsonwebtoken::jwk::AlgorithmParameters as Parameters;
    let family = matches!(
        (&key.algorithm, algorithm),
        (
            Parameters::RSA(_),
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512
        ) | (
            Parameters::EllipticCurve(_),
            Algorithm::ES256 | Algorithm::ES384
        )
    );
    let named = key
        .common
        .key_algorithm
        .is_none_or(|named| named.to_string() == format!("{algorithm:?}"));
    family && named
}

fn is_signature_error(error: &jsonwebtoken::errors::Error) -> bool {
    use jsonwebtoken::errors::ErrorKind as Kind;
    matches!(
        error.kind(),
        Kind::InvalidSignature
            | Kind::InvalidRsaKey(_)
            | Kind::InvalidEcdsaKey
            | Kind::InvalidKeyFormat
    )
}

fn explain(
    error: &jsonwebtoken::errors::Error,
    unverified: &Unverified,
    audience: &str,
) -> PublishingError {
    use jsonwebtoken::errors::ErrorKind as Kind;
    invalid(match error.kind() {
        Kind::ExpiredSignature => "it has expired (`exp` is past)".to_owned(),
        Kind::ImmatureSignature => "it is not valid yet (`nbf` is in the future)".to_owned(),
        Kind::InvalidAudience => format!(
            "its audience is {}, but this server's is `{audience}` (ask the CI provider for a token with that audience)",
            unverified.audience
        ),
        Kind::MissingRequiredClaim(claim) => format!("it has no `{claim}` claim"),
        _ => format!("it cannot be read: {error}"),
    })
}

/// The checks jsonwebtoken does not make: the exact issuer, and `iat`.
fn check_claims(
    claims: Map<String, Value>,
    issuer: &str,
    now: u64,
) -> Result<Map<String, Value>, PublishingError> {
    let claimed = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if claimed.trim_end_matches('/') != issuer {
        return Err(invalid("its `iss` claim is not its issuer"));
    }
    let issued_at = claims
        .get("iat")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("it has no numeric `iat` claim"))?;
    if issued_at > now.saturating_add(LEEWAY) {
        return Err(invalid("it was issued in the future (`iat`)"));
    }
    Ok(claims)
}

fn decode_part(part: &str) -> Option<Map<String, Value>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn part(value: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn token(header: &Value, claims: &Value) -> String {
        format!("{}.{}.c2ln", part(header), part(claims))
    }

    #[test]
    fn refuses_algorithms_outside_the_list() {
        let claims = serde_json::json!({"iss": "https://issuer.example/"});
        for alg in ["none", "HS256", "HS512", "PS256", "EdDSA", "None"] {
            let error = inspect(&token(&serde_json::json!({"alg": alg}), &claims))
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("algorithm `{alg}` is not accepted")),
                "{error}"
            );
        }
        let ok = inspect(&token(
            &serde_json::json!({"alg": "RS256", "kid": "k"}),
            &claims,
        ))
        .unwrap();
        assert_eq!(ok.issuer, "https://issuer.example");
        assert_eq!(ok.kid.as_deref(), Some("k"));
    }

    #[test]
    fn refuses_malformed_tokens() {
        let header = serde_json::json!({"alg": "RS256"});
        let cases = [
            ("a.b".to_owned(), "not a JWT"),
            ("!!.e30.x".to_owned(), "header is not base64url JSON"),
            (
                token(&serde_json::json!({}), &serde_json::json!({})),
                "no `alg`",
            ),
            (
                token(&header, &serde_json::json!({"sub": "x"})),
                "no `iss` claim",
            ),
            (
                format!("{}.!!.x", part(&header)),
                "payload is not base64url JSON",
            ),
            ("a".repeat(MAX_TOKEN_LENGTH + 1), "longer than"),
        ];
        for (text, expected) in cases {
            let error = inspect(&text).unwrap_err().to_string();
            assert!(error.starts_with("the OIDC token was refused: "), "{error}");
            assert!(error.contains(expected), "`{error}` lacks `{expected}`");
        }
    }

    #[test]
    fn checks_issuer_and_issued_at() {
        let claims = |value: Value| value.as_object().unwrap().clone();
        let good = claims(serde_json::json!({"iss": "https://i.example/", "iat": 100}));
        assert!(check_claims(good, "https://i.example", 100).is_ok());
        let other = claims(serde_json::json!({"iss": "https://j.example", "iat": 100}));
        assert!(check_claims(other, "https://i.example", 100).is_err());
        let future = claims(serde_json::json!({"iss": "https://i.example", "iat": 1000}));
        let error = check_claims(future, "https://i.example", 100)
            .unwrap_err()
            .to_string();
        assert!(error.contains("issued in the future"), "{error}");
        let missing = claims(serde_json::json!({"iss": "https://i.example"}));
        assert!(check_claims(missing, "https://i.example", 100).is_err());
    }

    #[test]
    fn keys_must_suit_the_algorithm() {
        let rsa: Jwk = serde_json::from_value(serde_json::json!(
            {"kty": "RSA", "alg": "RS256", "n": "AQAB", "e": "AQAB"}
        ))
        .unwrap();
        assert!(suits(&rsa, Algorithm::RS256));
        assert!(!suits(&rsa, Algorithm::RS384));
        assert!(!suits(&rsa, Algorithm::ES256));
        let unnamed: Jwk =
            serde_json::from_value(serde_json::json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}))
                .unwrap();
        assert!(suits(&unnamed, Algorithm::RS512));
    }
}
