//! Hyperlink targets and substitution definitions: collected from the whole document
//! before it is rendered, so that references may come before what they name.

use std::collections::HashMap;

use super::{Substitution, Target};

/// What references resolve against: the document's targets and substitutions.
#[derive(Debug, Default)]
pub(super) struct References {
    targets: HashMap<String, Target>,
    anonymous: Vec<Target>,
    next_anonymous: usize,
    substitutions: HashMap<String, Substitution>,
}

impl References {
    /// A target named `name` (normalized), anonymous when `None`. A name already taken
    /// keeps its first target, unless that is a section's.
    pub(super) fn define(&mut self, name: Option<&str>, target: &Target) {
        let Some(name) = name else {
            self.anonymous.push(target.clone());
            return;
        };
        let taken = self
            .targets
            .get(name)
            .is_some_and(|known| *known != Target::Internal);
        if !taken {
            self.targets.insert(name.to_owned(), target.clone());
        }
    }

    /// A substitution (names match case-insensitively).
    pub(super) fn define_substitution(&mut self, name: &str, value: &Substitution) {
        self.substitutions
            .entry(normalize(name))
            .or_insert_with(|| value.clone());
    }

    /// What the substitution `name` (normalized) stands for.
    pub(super) fn substitution(&self, name: &str) -> Option<Substitution> {
        self.substitutions.get(name).cloned()
    }

    /// The URI a target name leads to, following aliases.
    pub(super) fn resolve(&self, name: &str) -> Option<String> {
        let mut name = normalize(name);
        for _ in 0..8 {
            match self.targets.get(&name)? {
                Target::Uri(uri) => return Some(uri.clone()),
                Target::Alias(alias) => name.clone_from(alias),
                Target::Internal => return None,
            }
        }
        None
    }

    /// The URI of the next anonymous target, in document order.
    pub(super) fn next_anonymous(&mut self) -> Option<String> {
        let target = self.anonymous.get(self.next_anonymous)?.clone();
        self.next_anonymous += 1;
        match target {
            Target::Uri(uri) => Some(uri),
            Target::Alias(alias) => self.resolve(&alias),
            Target::Internal => None,
        }
    }

    /// Where an image's `:target:` leads: a URI, or a reference `name_`.
    pub(super) fn image_target(&self, target: &str) -> Option<String> {
        match target.strip_suffix('_') {
            Some(name) => self.resolve(name.trim_matches('`')),
            None => Some(unescape(target)),
        }
    }
}

/// `text` without backslash escapes (an escaped whitespace character is removed).
pub(super) fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
        } else if let Some(next) = chars.next().filter(|next| !next.is_whitespace()) {
            out.push(next);
        }
    }
    out
}

/// A reference name as targets are looked up by: whitespace collapsed, lowercase.
pub(super) fn normalize(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}
