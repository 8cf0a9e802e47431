//! Another index's project page (untrusted: an upstream index such as PyPI): the PEP 691 JSON
//! and PEP 503 HTML readers never panic, whatever the page.
//!
//! Input: byte 0 picks the reader (even: JSON, odd: HTML); the rest is the page.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oci_pypi::packaging::{parse_html_page, parse_json_page};

fuzz_target!(|data: &[u8]| {
    let Some((selector, page)) = data.split_first() else {
        return;
    };
    let parsed = if selector & 1 == 0 {
        parse_json_page(page)
    } else {
        parse_html_page(page)
    };
    if let Ok(page) = parsed {
        for file in &page.files {
            let _ = (file.filename.len(), file.url.len(), file.hashes.len());
        }
    }
});
