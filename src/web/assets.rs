//! The one stylesheet and the one script of the UI, inlined in every page and allowed by
//! their hashes in the Content-Security-Policy.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// The stylesheet: readable on a phone (fluid width, wrapping tables), light and dark.
pub const STYLE: &str = include_str!("assets/ui.css");

/// Copy buttons (progressive enhancement: they stay hidden without JavaScript).
pub const SCRIPT: &str = include_str!("assets/ui.js");

/// `sha256-<base64>`: a CSP source for an inline element whose content is `text`.
pub fn hash_source(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_sources_are_csp_sources() {
        // echo -n "" | openssl dgst -sha256 -binary | base64
        assert_eq!(
            hash_source(""),
            "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }
}
