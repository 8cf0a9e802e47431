//! PEP 691 content negotiation: `negotiate` never panics on any `Accept` header or `?format=`
//! value, and answers plain HTML when neither is given.
//!
//! Input: the first byte says whether a `?format=` value is present; the rest is split at the
//! first newline into the `Accept` header and the format value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_pypi::http::negotiate::{Format, negotiate};

fuzz_target!(|data: &[u8]| {
    let Some((flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (accept, format) = text.split_once('\n').unwrap_or((text, ""));
    let format = (flags & 1 != 0).then_some(format);
    let accept = (flags & 2 == 0).then_some(accept);
    match negotiate(accept, format) {
        Ok(chosen) => assert!(!chosen.content_type().is_empty()),
        Err(error) => {
            let _ = error.to_string();
        }
    }
    if format.is_none() && accept.is_none_or(|a| a.trim().is_empty()) {
        assert_eq!(negotiate(accept, None).ok(), Some(Format::TextHtml));
    }
});
