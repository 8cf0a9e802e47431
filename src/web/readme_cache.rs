//! Rendered READMEs, kept in memory so that a project page shown again renders nothing (a
//! README's parse and sanitizing cost far more than the rest of the page). Content-addressed:
//! keyed by the sha256 of what is rendered (the markup and the text), so the same README of
//! any release, project or namespace is rendered once, a changed one is never confused with
//! it, and what one caller's page rendered is what any other caller's would. Bounded by the
//! bytes of HTML kept, the least recently used dropped first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use sha2::{Digest as _, Sha256};

use super::readme::{Markup, markup_of, render_readme};
use crate::lru::Lru;

/// About how many bytes of rendered READMEs the server keeps.
const BUDGET: usize = 4 << 20;
/// The bytes an entry is counted for besides its HTML (its key and bookkeeping).
const OVERHEAD: usize = 128;

/// The server's rendered READMEs.
pub(super) static READMES: LazyLock<ReadmeCache> = LazyLock::new(|| ReadmeCache::new(BUDGET));

/// The sha256 of a markup and a text.
type Key = [u8; 32];

/// Rendered READMEs within a budget of bytes.
#[derive(Debug)]
pub(super) struct ReadmeCache {
    budget: usize,
    /// The HTML by key, weighing its bytes and [`OVERHEAD`].
    state: Mutex<Lru<Key, Arc<str>>>,
    renders: AtomicU64,
}

impl ReadmeCache {
    /// An empty cache keeping about `budget` bytes; a README whose HTML takes more than a
    /// quarter of it is rendered every time rather than push out all the others.
    pub(super) fn new(budget: usize) -> Self {
        Self {
            budget,
            state: Mutex::default(),
            renders: AtomicU64::new(0),
        }
    }

    /// The README as sanitized HTML ([`render_readme`]), rendered at most once while kept.
    pub(super) fn render(&self, description: &str, content_type: Option<&str>) -> Arc<str> {
        let key = key_of(markup_of(content_type), description);
        if let Some(html) = self.get(&key) {
            return html;
        }
        let html: Arc<str> = render_readme(description, content_type).into();
        self.renders.fetch_add(1, Ordering::Relaxed);
        self.put(key, Arc::clone(&html));
        html
    }

    /// How many READMEs this cache has rendered.
    #[cfg(test)]
    pub(super) fn renders(&self) -> u64 {
        self.renders.load(Ordering::Relaxed)
    }

    fn get(&self, key: &Key) -> Option<Arc<str>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.get(key).map(Arc::clone)
    }

    fn put(&self, key: Key, html: Arc<str>) {
        let weight = html.len() + OVERHEAD;
        if weight > self.budget / 4 {
            return;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // Another request may have rendered the same README meanwhile.
        if state.contains(&key) {
            return;
        }
        let (weight, budget) = (weight as u64, self.budget as u64);
        state.make_room(weight, budget);
        state.insert(key, html, weight);
    }
}

fn key_of(markup: Markup, text: &str) -> Key {
    let tag = match markup {
        Markup::Markdown => b"md",
        Markup::ReStructuredText => b"rs",
        Markup::Plain => b"pl",
    };
    let mut hasher = Sha256::new();
    hasher.update(tag);
    hasher.update(text.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_readme_is_rendered_once_and_served_from_the_cache() {
        let cache = ReadmeCache::new(1 << 20);
        let first = cache.render("Title\n=====\n\n*text*", Some("text/x-rst"));
        assert_eq!(cache.renders(), 1);
        // The same text and markup (however the content type is spelled): no render.
        let again = cache.render("Title\n=====\n\n*text*", None);
        let spelled = cache.render("Title\n=====\n\n*text*", Some("text/x-rst; charset=UTF-8"));
        assert_eq!(cache.renders(), 1);
        assert!(Arc::ptr_eq(&first, &again) && Arc::ptr_eq(&first, &spelled));
        assert_eq!(&*first, "<h3>Title</h3>\n<p><em>text</em></p>\n");
    }

    #[test]
    fn different_content_is_not_confused() {
        let cache = ReadmeCache::new(1 << 20);
        let rst = cache.render("*text*", Some("text/x-rst"));
        let markdown = cache.render("*text*", Some("text/markdown"));
        let plain = cache.render("*text*", Some("text/plain"));
        let other = cache.render("*other*", Some("text/x-rst"));
        assert_eq!(cache.renders(), 4);
        assert_eq!(&*rst, "<p><em>text</em></p>\n");
        assert_eq!(&*markdown, "<p><em>text</em></p>\n");
        assert_eq!(&*plain, "<pre><code>*text*</code></pre>\n");
        assert_eq!(&*other, "<p><em>other</em></p>\n");
        assert_eq!(&*cache.render("*text*", Some("text/plain")), &*plain);
        assert_eq!(cache.renders(), 4);
    }

    #[test]
    fn the_least_recently_used_readme_is_dropped_first() {
        // Room for four READMEs of this size, not five.
        let text = |n: usize| format!("{n}{}", "x".repeat(1000));
        let weight = render_readme(&text(1), Some("text/plain")).len() + OVERHEAD;
        let cache = ReadmeCache::new(weight * 4 + weight / 2);
        for n in 1..=4 {
            cache.render(&text(n), Some("text/plain"));
        }
        cache.render(&text(1), Some("text/plain"));
        assert_eq!(cache.renders(), 4);
        // A fifth pushes out the least recently used: 2, not 1.
        cache.render(&text(5), Some("text/plain"));
        for n in [1, 3, 4, 5] {
            cache.render(&text(n), Some("text/plain"));
        }
        assert_eq!(cache.renders(), 5);
        cache.render(&text(2), Some("text/plain"));
        assert_eq!(cache.renders(), 6);
        let state = cache.state.lock().unwrap();
        assert_eq!(state.len(), 4);
        assert!(state.weight() <= cache.budget as u64);
    }

    #[test]
    fn a_readme_too_large_to_keep_is_rendered_every_time() {
        let cache = ReadmeCache::new(4096);
        let text = "y".repeat(2000);
        cache.render(&text, Some("text/plain"));
        cache.render(&text, Some("text/plain"));
        assert_eq!(cache.renders(), 2);
        assert!(cache.state.lock().unwrap().is_empty());
    }
}
