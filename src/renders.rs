//! Serializations of a page kept with the page they were made of: a page (of the index, or
//! an upstream's) is rendered, hashed for its `ETag` and compressed once per version instead
//! of once per request. Knows nothing of what a page says or which formats exist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use tokio::sync::OnceCell;

/// Serializations of one page version, by format name.
#[derive(Debug, Default)]
pub struct Renders(Mutex<HashMap<&'static str, Arc<Rendered>>>);

/// One serialization of a page.
#[derive(Debug)]
pub struct Rendered {
    /// The body.
    pub body: Bytes,
    /// Its strong `ETag` value, quoted.
    pub etag: String,
    /// The body compressed for transfer, made the first time a client accepts it and kept
    /// with the body, so that a page is compressed once per version.
    pub compressed: OnceCell<Bytes>,
}

impl Rendered {
    /// `body` with its `etag`, not compressed yet.
    #[must_use]
    pub fn new(body: Bytes, etag: String) -> Self {
        Self {
            body,
            etag,
            compressed: OnceCell::new(),
        }
    }
}

impl Renders {
    /// The serialization `format`, made by `render` the first time.
    pub fn get_or_render(
        &self,
        format: &'static str,
        render: impl FnOnce() -> Rendered,
    ) -> Arc<Rendered> {
        let mut renders = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(renders.entry(format).or_insert_with(|| Arc::new(render())))
    }
}

/// A copy of a page is another page (it may be changed): it starts with no serializations.
impl Clone for Renders {
    fn clone(&self) -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_format_is_rendered_once_and_a_copy_starts_empty() {
        let renders = Renders::default();
        let mut calls = 0;
        for _ in 0..3 {
            let rendered = renders.get_or_render("html", || {
                calls += 1;
                Rendered::new(Bytes::from_static(b"<html>"), "\"a\"".to_owned())
            });
            assert_eq!(rendered.body, "<html>");
        }
        assert_eq!(calls, 1);
        let copy = renders.clone();
        let rendered = copy.get_or_render("html", || {
            Rendered::new(Bytes::from_static(b"other"), "\"b\"".to_owned())
        });
        assert_eq!(rendered.body, "other");
    }
}
