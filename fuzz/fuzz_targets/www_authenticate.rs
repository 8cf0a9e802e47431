//! `WWW-Authenticate` challenges from a registry (untrusted): `parse_challenge` never panics,
//! refuses headers over 4 KiB, and a Bearer challenge always has a non-empty realm whose
//! parameters were read from the header (nothing longer than it).
//!
//! Input: UTF-8 text, the header value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_pypi::storage::registry::{Challenge, parse_challenge};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let challenge = parse_challenge(header);
    if header.len() > 4096 {
        assert_eq!(challenge, None, "a header over 4 KiB was parsed");
    }
    if let Some(Challenge::Bearer {
        realm,
        service,
        scope,
    }) = challenge
    {
        assert!(!realm.is_empty(), "a Bearer challenge without a realm");
        for value in [Some(&realm), service.as_ref(), scope.as_ref()]
            .into_iter()
            .flatten()
        {
            assert!(
                value.len() <= header.len(),
                "`{value}` is longer than `{header}`"
            );
        }
    }
});
