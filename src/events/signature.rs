//! How deliveries are signed, and how a receiver checks them: an HMAC-SHA256, keyed with the
//! webhook's secret, over `<timestamp>.<body>` (the Unix time of the attempt in decimal, a dot,
//! then the exact body bytes), sent hex-encoded as `sha256=<hex>` in [`SIGNATURE_HEADER`],
//! the timestamp in [`TIMESTAMP_HEADER`]. As GitHub's `X-Hub-Signature-256`, with the time
//! inside the signed text (as Stripe and Standard Webhooks do) so that a captured delivery
//! cannot be replayed later: a receiver refuses timestamps outside its window, and within the
//! window the same signed delivery twice ([`Verifier`]).
//!
//! HMAC: RFC 2104; SHA-256: FIPS 180-4. Documented for receivers in docs/events.md.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hmac::{KeyInit as _, Mac as _};
use sha2::Sha256;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "x-oci-pypi-signature";
/// The header carrying the Unix time (seconds) the attempt was signed at.
pub const TIMESTAMP_HEADER: &str = "x-oci-pypi-timestamp";
/// The header carrying the event's id (the same in every attempt).
pub const DELIVERY_HEADER: &str = "x-oci-pypi-delivery";
/// The header carrying the event kind (`upload`, ...).
pub const EVENT_HEADER: &str = "x-oci-pypi-event";

/// The window a receiver should accept timestamps in, either side of its clock.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// `sha256=<hex>` of `<timestamp>.<body>` keyed with `secret`.
#[must_use]
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length (longer ones are hashed first): this cannot fail.
    let mut mac = HmacSha256::new_from_slice(secret)
        .unwrap_or_else(|_| HmacSha256::new(&hmac::digest::Key::<HmacSha256>::default()));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Why a delivery is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The timestamp header is missing or not a number.
    #[error("the timestamp `{0}` is not a Unix time in seconds")]
    BadTimestamp(String),
    /// Signed too long ago, or in the future: a replay, or a clock far off.
    #[error("the timestamp is {0} s away from now, outside the window")]
    OutsideWindow(u64),
    /// The signature header is missing or malformed.
    #[error("the signature header is not `sha256=<64 hex digits>`")]
    BadSignatureHeader,
    /// The signature does not match: a forged or altered delivery, or another secret.
    #[error("the signature does not match the body")]
    Mismatch,
    /// This very delivery was accepted before.
    #[error("this delivery was already accepted: a replay")]
    Replayed,
}

/// Checks one delivery: its signature, and its timestamp within `tolerance` of `now` (Unix
/// seconds). Constant-time comparison.
///
/// # Errors
/// [`VerifyError`] saying what is wrong.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: u64,
    tolerance: Duration,
) -> Result<u64, VerifyError> {
    let shown: String = timestamp.chars().take(32).collect();
    let time: u64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::BadTimestamp(shown.escape_default().to_string()))?;
    let expected = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|digits| hex::decode(digits).ok())
        .filter(|bytes| bytes.len() == 32)
        .ok_or(VerifyError::BadSignatureHeader)?;
    mac(secret, time, body)
        .verify_slice(&expected)
        .map_err(|_| VerifyError::Mismatch)?;
    let age = now.abs_diff(time);
    if age > tolerance.as_secs() {
        return Err(VerifyError::OutsideWindow(age));
    }
    Ok(time)
}

/// A receiver's check of deliveries: [`verify`], and the same signed delivery (delivery id and
/// timestamp) refused a second time within the window. A retry is signed anew with a later
/// timestamp, so it passes; receivers that must act once per event also remember the
/// `id` of what they acted on.
#[derive(Debug)]
pub struct Verifier {
    secret: Vec<u8>,
    tolerance: Duration,
    seen: Mutex<HashMap<(String, u64), u64>>,
}

impl Verifier {
    /// A verifier for deliveries signed with `secret`, accepting timestamps within
    /// `tolerance` of the receiver's clock.
    #[must_use]
    pub fn new(secret: &[u8], tolerance: Duration) -> Self {
        Self {
            secret: secret.to_vec(),
            tolerance,
            seen: Mutex::default(),
        }
    }

    /// Checks a delivery received at `now` (Unix seconds), given its delivery id, timestamp
    /// and signature headers and its body.
    ///
    /// # Errors
    /// [`VerifyError`] saying what is wrong.
    pub fn verify(
        &self,
        delivery: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: u64,
    ) -> Result<(), VerifyError> {
        let time = verify(
            &self.secret,
            timestamp,
            signature,
            body,
            now,
            self.tolerance,
        )?;
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // What is outside the window is refused by its timestamp: no need to remember it.
        let window = self.tolerance.as_secs();
        seen.retain(|_, at| now.abs_diff(*at) <= window);
        if seen.insert((delivery.to_owned(), time), time).is_some() {
            return Err(VerifyError::Replayed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"It's a Secret to Everybody";

    #[test]
    fn signs_timestamp_dot_body() {
        // Computed independently: printf '1700000000.Hello, World!' |
        //   openssl dgst -sha256 -hmac "It's a Secret to Everybody"
        assert_eq!(
            sign(SECRET, 1_700_000_000, b"Hello, World!"),
            "sha256=76c83fd0acdf22faed320674fe8e04d528cfe8a17905e720a9611e40677c03b7"
        );
        // GitHub's published example (no timestamp part) shows the same primitive.
        let mut mac = HmacSha256::new_from_slice(SECRET).unwrap();
        mac.update(b"Hello, World!");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn accepts_a_fresh_delivery_and_refuses_altered_stale_and_replayed_ones() {
        let body = br#"{"event":"upload"}"#;
        let now = 1_700_000_100;
        let signature = sign(SECRET, now - 5, body);
        let window = DEFAULT_TOLERANCE;
        let check = |timestamp: &str, signature: &str, body: &[u8]| {
            verify(SECRET, timestamp, signature, body, now, window)
        };
        assert_eq!(check("1700000095", &signature, body), Ok(now - 5));
        assert_eq!(
            check("1700000095", &signature, br#"{"event":"delete"}"#),
            Err(VerifyError::Mismatch)
        );
        // The timestamp is signed: moving it forward breaks the signature.
        assert_eq!(
            check("1700000099", &signature, body),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify(
                b"another secret",
                "1700000095",
                &signature,
                body,
                now,
                window
            ),
            Err(VerifyError::Mismatch)
        );
        let old = sign(SECRET, now - 301, body);
        assert_eq!(
            check("1699999799", &old, body),
            Err(VerifyError::OutsideWindow(301))
        );
        assert_eq!(
            check("soon", &signature, body),
            Err(VerifyError::BadTimestamp("soon".into()))
        );
        assert_eq!(
            check("1700000095", "sha1=abc", body),
            Err(VerifyError::BadSignatureHeader)
        );

        let verifier = Verifier::new(SECRET, window);
        assert_eq!(
            verifier.verify("d1", "1700000095", &signature, body, now),
            Ok(())
        );
        assert_eq!(
            verifier.verify("d1", "1700000095", &signature, body, now),
            Err(VerifyError::Replayed)
        );
        // A retry of the same event is signed again, later: accepted.
        let retry = sign(SECRET, now, body);
        assert_eq!(
            verifier.verify("d1", "1700000100", &retry, body, now),
            Ok(())
        );
    }
}
