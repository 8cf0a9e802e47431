//! Inline markup: emphasis, strong, literals, interpreted text and roles, hyperlink,
//! substitution and footnote references, standalone URIs and e-mail addresses, escapes.
//! Markup starts only where docutils lets it (after whitespace or opening punctuation,
//! before something else than whitespace) and ends likewise; inline markup does not nest.
//!
//! Work stays linear in the text: each end-string search that fails is remembered, so a
//! later start of the same kind is not searched for again, and words are read once.

use std::fmt::Write as _;

use super::html::{image_html, is_safe, link, open_link, push_escaped};
use super::references::{References, normalize, unescape};
use super::roles::{render_role, role_name};
use super::scan::{email_length, embedded, uri_length, word_length};
use super::{Substitution, Target};

/// Renders `text` (a paragraph, a title, a term) into `out`.
pub(super) fn render_inline(text: &str, references: &mut References, out: &mut String) {
    Inline {
        text,
        position: 0,
        references,
        out,
        no_end_from: [usize::MAX; 5],
        substitute: true,
    }
    .run();
}

/// Kinds of end-strings, for [`Inline::no_end_from`].
const LITERAL: usize = 0;
const STRONG: usize = 1;
const EMPHASIS: usize = 2;
const INTERPRETED: usize = 3;
const SUBSTITUTION: usize = 4;

struct Inline<'t, 'r> {
    text: &'t str,
    position: usize,
    references: &'r mut References,
    out: &'r mut String,
    /// Per kind of end-string: from where on none is known to follow.
    no_end_from: [usize; 5],
    /// Whether substitution references are replaced (not within a substitution's text).
    substitute: bool,
}

/// What follows the closing backquote of interpreted text.
enum Suffix<'t> {
    None,
    Named,
    Anonymous,
    Role(&'t str),
}

impl<'t> Inline<'t, '_> {
    fn rest(&self) -> &'t str {
        self.text.get(self.position..).unwrap_or_default()
    }

    fn run(&mut self) {
        while let Some(c) = self.rest().chars().next() {
            if c == '\\' {
                let next = self.rest().chars().nth(1);
                if let Some(next) = next.filter(|next| !next.is_whitespace()) {
                    push_escaped(self.out, next.encode_utf8(&mut [0; 4]));
                }
                self.position += 1 + next.map_or(0, char::len_utf8);
                continue;
            }
            if self.starts_here() && self.markup(c) {
                continue;
            }
            push_escaped(self.out, c.encode_utf8(&mut [0; 4]));
            self.position += c.len_utf8();
        }
    }

    /// Whether markup may start here: at the start, or after whitespace or opening punctuation.
    fn starts_here(&self) -> bool {
        let before = self.text.get(..self.position).unwrap_or_default();
        before
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || "-:/'\"<([{‘“«–—".contains(c))
    }

    /// Whether a start-string of `length` bytes at `at` is followed by text: not by
    /// whitespace, nor by the closing quote of the opening one before it.
    fn opens(&self, at: usize, length: usize) -> bool {
        let Some(next) = self
            .text
            .get(at + length..)
            .and_then(|rest| rest.chars().next())
        else {
            return false;
        };
        let before = self
            .text
            .get(..self.position)
            .unwrap_or_default()
            .chars()
            .next_back();
        let quoted = matches!(
            (before, next),
            (Some('\''), '\'')
                | (Some('"'), '"')
                | (Some('<'), '>')
                | (Some('('), ')')
                | (Some('['), ']')
                | (Some('{'), '}')
        );
        !next.is_whitespace() && !quoted
    }

    /// Whether markup may end before `at`: at the end, or before whitespace or punctuation.
    fn ends_before(&self, at: usize) -> bool {
        self.text
            .get(at..)
            .and_then(|rest| rest.chars().next())
            .is_none_or(|c| c.is_whitespace() || "-.,:;!?\\/'\")]}>’”»–—…".contains(c))
    }

    /// Tries the markup that may start with `c` here; whether it was.
    fn markup(&mut self, c: char) -> bool {
        let rest = self.rest();
        let start = self.position;
        match c {
            '`' if rest.starts_with("``") => self.literal(),
            '`' => self.interpreted(None, start),
            '*' if rest.starts_with("**") => self.delimited("**", STRONG, "strong"),
            '*' => self.delimited("*", EMPHASIS, "em"),
            '_' if rest.starts_with("_`") => self.inline_target(),
            ':' => self
                .role_prefix()
                .is_some_and(|(role, length)| self.interpreted(Some(role), start + length)),
            '|' => self.substitution_reference(),
            '[' => self.footnote_reference(),
            _ if c.is_alphanumeric() => {
                if !self.standalone_link() {
                    self.word();
                }
                true
            }
            _ => false,
        }
    }

    /// The first end-string `delimiter` after `from` that may close markup of `kind`.
    fn find_end(
        &mut self,
        from: usize,
        delimiter: &str,
        kind: usize,
        escapable: bool,
    ) -> Option<usize> {
        if from >= self.no_end_from.get(kind).copied().unwrap_or(0) {
            return None;
        }
        let mut search = from;
        while let Some(found) = self
            .text
            .get(search..)
            .and_then(|rest| rest.find(delimiter))
        {
            let at = search + found;
            if at > from && self.closes(at, delimiter, kind, escapable) {
                return Some(at);
            }
            search = at + 1;
        }
        if let Some(slot) = self.no_end_from.get_mut(kind) {
            *slot = (*slot).min(from);
        }
        None
    }

    /// Whether the `delimiter` at `at` closes markup of `kind` (what came before it aside).
    fn closes(&self, at: usize, delimiter: &str, kind: usize, escapable: bool) -> bool {
        let before = self.text.get(..at).unwrap_or_default();
        if before.chars().next_back().is_none_or(char::is_whitespace) {
            return false;
        }
        let backslashes = before.len() - before.trim_end_matches('\\').len();
        if escapable && backslashes % 2 == 1 {
            return false;
        }
        let after = at + delimiter.len();
        match kind {
            INTERPRETED => self.suffix(after).is_some(),
            SUBSTITUTION => self.reference_suffix(after).is_some(),
            _ => self.ends_before(after),
        }
    }

    /// `_` or `__` (or nothing) after `at`, ending markup: its length.
    fn reference_suffix(&self, at: usize) -> Option<usize> {
        let rest = self.text.get(at..).unwrap_or_default();
        [2, 1, 0].into_iter().find(|&length| {
            rest.get(..length)
                .is_some_and(|suffix| suffix.bytes().all(|b| b == b'_'))
                && self.ends_before(at + length)
        })
    }

    /// What follows interpreted text's closing backquote at `at`, and its length.
    fn suffix(&self, at: usize) -> Option<(Suffix<'t>, usize)> {
        let rest = self.text.get(at..).unwrap_or_default();
        if let Some(name) = rest.strip_prefix(':').and_then(role_name)
            && self.ends_before(at + name.len() + 2)
        {
            return Some((Suffix::Role(name), name.len() + 2));
        }
        match self.reference_suffix(at)? {
            2 => Some((Suffix::Anonymous, 2)),
            1 => Some((Suffix::Named, 1)),
            _ => Some((Suffix::None, 0)),
        }
    }

    fn literal(&mut self) -> bool {
        let from = self.position + 2;
        if !self.opens(self.position, 2) {
            return false;
        }
        let Some(end) = self.find_end(from, "``", LITERAL, false) else {
            return false;
        };
        self.out.push_str("<code>");
        push_escaped(self.out, self.text.get(from..end).unwrap_or_default());
        self.out.push_str("</code>");
        self.position = end + 2;
        true
    }

    fn delimited(&mut self, delimiter: &str, kind: usize, tag: &str) -> bool {
        let from = self.position + delimiter.len();
        if !self.opens(self.position, delimiter.len()) {
            return false;
        }
        let Some(end) = self.find_end(from, delimiter, kind, true) else {
            return false;
        };
        let content = unescape(self.text.get(from..end).unwrap_or_default());
        let _ = write!(self.out, "<{tag}>");
        push_escaped(self.out, &content);
        let _ = write!(self.out, "</{tag}>");
        self.position = end + delimiter.len();
        true
    }

    /// A role before interpreted text (`:name:` then a backquote): the name, and the
    /// length up to the backquote.
    fn role_prefix(&self) -> Option<(&'t str, usize)> {
        let name = self.rest().strip_prefix(':').and_then(role_name)?;
        let after = self.rest().get(name.len() + 2..)?;
        after.starts_with('`').then_some((name, name.len() + 2))
    }

    /// Interpreted text whose backquote is at `tick`, with the `role` before it if any.
    fn interpreted(&mut self, role: Option<&'t str>, tick: usize) -> bool {
        let from = tick + 1;
        if !self.opens(tick, 1) {
            return false;
        }
        let Some(end) = self.find_end(from, "`", INTERPRETED, true) else {
            return false;
        };
        let Some((suffix, length)) = self.suffix(end + 1) else {
            return false;
        };
        let content = self.text.get(from..end).unwrap_or_default();
        match (role, suffix) {
            (Some(role), _) | (None, Suffix::Role(role)) => render_role(role, content, self.out),
            (None, Suffix::Named) => self.reference(content, false),
            (None, Suffix::Anonymous) => self.reference(content, true),
            (None, Suffix::None) => {
                self.out.push_str("<cite>");
                push_escaped(self.out, &unescape(content));
                self.out.push_str("</cite>");
            }
        }
        self.position = end + 1 + length;
        true
    }

    fn inline_target(&mut self) -> bool {
        let from = self.position + 2;
        if !self.opens(self.position, 2) {
            return false;
        }
        let Some(end) = self.find_end(from, "`", INTERPRETED, true) else {
            return false;
        };
        push_escaped(
            self.out,
            &unescape(self.text.get(from..end).unwrap_or_default()),
        );
        self.position = end + 1;
        true
    }

    /// `|name|`, `|name|_` or `|name|__`.
    fn substitution_reference(&mut self) -> bool {
        let from = self.position + 1;
        if !self.opens(self.position, 1) {
            return false;
        }
        let Some(end) = self.find_end(from, "|", SUBSTITUTION, true) else {
            return false;
        };
        let length = self.reference_suffix(end + 1).unwrap_or(0);
        let raw = self
            .text
            .get(self.position..end + 1 + length)
            .unwrap_or_default();
        let name = normalize(&unescape(self.text.get(from..end).unwrap_or_default()));
        self.position = end + 1 + length;
        let value = self
            .references
            .substitution(&name)
            .filter(|_| self.substitute);
        let href = match length {
            1 => self.references.resolve(&name),
            2 => self.references.next_anonymous(),
            _ => None,
        };
        match value {
            Some(Substitution::Image(image)) => {
                let target = image.target.as_deref();
                let href = href.or_else(|| target.and_then(|t| self.references.image_target(t)));
                image_html(&image, href.as_deref(), self.out);
            }
            Some(Substitution::Text(text)) => {
                let link = href.filter(|href| is_safe(href));
                if let Some(href) = &link {
                    open_link(href, self.out);
                }
                Inline {
                    text: &text,
                    position: 0,
                    references: self.references,
                    out: self.out,
                    no_end_from: [usize::MAX; 5],
                    substitute: false,
                }
                .run();
                if link.is_some() {
                    self.out.push_str("</a>");
                }
            }
            Some(Substitution::Literal(text)) => link(href.as_deref(), &text, self.out),
            None => push_escaped(self.out, raw),
        }
        true
    }

    /// `[1]_`, `[#]_`, `[*]_`, `[label]_`: the label, raised.
    fn footnote_reference(&mut self) -> bool {
        let rest = self.rest();
        let label = rest.get(1..).unwrap_or_default();
        let close = label.char_indices().take(41).find(|(_, c)| *c == ']');
        let Some((close, _)) = close else {
            return false;
        };
        let label = rest.get(1..=close).unwrap_or_default();
        let valid = !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_alphanumeric() || "#*-_.".contains(c));
        let end = self.position + close + 3;
        if !valid || rest.get(close + 1..close + 3) != Some("]_") || !self.ends_before(end) {
            return false;
        }
        self.out.push_str("<sup>[");
        push_escaped(self.out, label);
        self.out.push_str("]</sup>");
        self.position = end;
        true
    }

    /// A URI (`http`, `https`, `ftp`, `mailto`) or an e-mail address standing alone.
    fn standalone_link(&mut self) -> bool {
        let rest = self.rest();
        let (text, href) = if let Some(length) = uri_length(rest) {
            let uri = rest.get(..length).unwrap_or_default();
            (uri, uri.to_owned())
        } else if let Some(length) = email_length(rest) {
            let address = rest.get(..length).unwrap_or_default();
            (address, format!("mailto:{address}"))
        } else {
            return false;
        };
        link(Some(&href), text, self.out);
        self.position += text.len();
        true
    }

    /// A word: a simple reference (`name_`, `name__`) or text.
    fn word(&mut self) {
        let rest = self.rest();
        let length = word_length(rest);
        let word = rest.get(..length).unwrap_or_default();
        let after = self.position + length;
        let underscores = rest
            .get(length..)
            .unwrap_or_default()
            .bytes()
            .take_while(|b| *b == b'_')
            .count();
        let href = match underscores {
            1 | 2 if self.ends_before(after + underscores) => {
                self.position = after + underscores;
                if underscores == 1 {
                    self.references.resolve(word)
                } else {
                    self.references.next_anonymous()
                }
            }
            _ => {
                self.position = after;
                push_escaped(self.out, word);
                return;
            }
        };
        link(href.as_deref(), word, self.out);
    }

    /// A hyperlink reference: `text <uri>`_, `text <name_>`_, `name`_, anonymous with `__`.
    fn reference(&mut self, content: &str, anonymous: bool) {
        let Some((label, target)) = embedded(content) else {
            let name = unescape(content);
            let href = if anonymous {
                self.references.next_anonymous()
            } else {
                self.references.resolve(&name)
            };
            return link(href.as_deref(), &name, self.out);
        };
        let target: String = target.split_whitespace().collect();
        let label = unescape(label);
        if let Some(alias) = target
            .strip_suffix('_')
            .filter(|alias| !alias.ends_with('\\'))
        {
            let alias = unescape(alias.trim_matches('`'));
            let href = self.references.resolve(&alias);
            let shown = if label.is_empty() { alias } else { label };
            return link(href.as_deref(), &shown, self.out);
        }
        let mut uri = unescape(&target);
        // An e-mail address alone is a `mailto:` link, as in docutils.
        if !uri.contains(':') && !uri.contains('/') && uri.contains('@') {
            uri.insert_str(0, "mailto:");
        }
        if !anonymous && !label.is_empty() {
            self.references
                .define(Some(&normalize(&label)), &Target::Uri(uri.clone()));
        }
        let shown = if label.is_empty() { &uri } else { &label };
        link(Some(&uri), shown, self.out);
    }
}
