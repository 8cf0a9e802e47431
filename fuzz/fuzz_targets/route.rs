//! The URL scheme: `http::route::parse` never panics on any method and raw path, and every
//! error message it builds is bounded (paths are quoted back at most 200 characters).
//!
//! Input: the first byte picks the method, the rest is the raw path (UTF-8).

#![no_main]

use http::Method;
use libfuzzer_sys::fuzz_target;
use oci_pypi::http::route::{self, Route};

const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::DELETE,
    Method::PUT,
    Method::OPTIONS,
    Method::PATCH,
];

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let method = &METHODS[usize::from(*selector) % METHODS.len()];
    match route::parse(method, path) {
        Ok(route) => {
            let _ = route.name();
            if let Route::File(path) | Route::Metadata(path) | Route::Provenance(path) = &route {
                assert!(route::is_distribution_filename(&path.filename), "{route:?}");
            }
        }
        Err(error) => {
            let message = error.to_string();
            // 200 characters of the path, 4 bytes each at most, and the fixed text.
            assert!(
                message.len() <= 200 * 4 + 64,
                "unbounded message: {message}"
            );
        }
    }
});
