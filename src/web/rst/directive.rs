//! Explicit markup (`.. `): directives, hyperlink targets, substitution definitions,
//! footnotes and citations; anything else is a comment and renders nothing.

use super::block::Parser;
use super::lines::Lines;
use super::markers::field_marker;
use super::references::{normalize, unescape};
use super::{Block, Image, Substitution, Target};

/// Directives that render nothing: they include, configure or generate what a README page
/// cannot show, or (`raw`) would put the author's own HTML into the page.
const DROPPED: [&str; 15] = [
    "raw",
    "contents",
    "sectnum",
    "section-numbering",
    "include",
    "meta",
    "title",
    "header",
    "footer",
    "default-role",
    "role",
    "highlight",
    "toctree",
    "index",
    "target-notes",
];

/// The admonitions: directive (and CSS class), title.
const ADMONITIONS: [(&str, &str); 10] = [
    ("note", "Note"),
    ("warning", "Warning"),
    ("tip", "Tip"),
    ("hint", "Hint"),
    ("important", "Important"),
    ("caution", "Caution"),
    ("danger", "Danger"),
    ("error", "Error"),
    ("attention", "Attention"),
    ("seealso", "See also"),
];

/// A directive, read: its arguments (lines joined), options, and content.
struct Directive<'a> {
    name: String,
    arguments: String,
    options: Vec<(String, String)>,
    /// Everything after `::`: what directives without arguments take as content.
    whole: Lines<'a>,
    /// What follows the arguments and options.
    content: Lines<'a>,
}

impl Directive<'_> {
    fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }
}

impl Parser {
    /// The explicit markup block at `index`; returns where it ends.
    pub(super) fn explicit(
        &mut self,
        lines: Lines<'_>,
        index: usize,
        depth: usize,
        out: &mut Vec<Block>,
    ) -> usize {
        let rest = lines.text(index).get(2..).unwrap_or_default().trim_start();
        let (view, end) = lines.item(index, rest);
        if let Some(target) = rest.strip_prefix('_') {
            out.push(target_block(view, target));
        } else if let Some(label) = rest.strip_prefix('[') {
            let Some(close) = label.find(']') else {
                return end;
            };
            let term = format!("[{}]", label.get(..close).unwrap_or_default());
            let first = label.get(close + 1..).unwrap_or_default().trim_start();
            let body = self.parse(view.dedent(0, view.len(), 0, Some(first)), depth + 1);
            match out.last_mut() {
                Some(Block::Definitions(items)) => items.push((term, body)),
                _ => out.push(Block::Definitions(vec![(term, body)])),
            }
        } else if let Some(definition) = rest.strip_prefix('|') {
            if let Some(block) = substitution(view, definition) {
                out.push(block);
            }
        } else if let Some((name, arguments)) = directive_name(rest) {
            let directive = read(view.dedent(0, view.len(), 0, Some(arguments)), name);
            self.directive(&directive, depth, out);
        }
        end
    }

    /// An anonymous target (`__ uri`) at `index`.
    pub(super) fn anonymous_target(lines: Lines<'_>, index: usize, out: &mut Vec<Block>) -> usize {
        let rest = lines.text(index).get(2..).unwrap_or_default().trim_start();
        let (view, end) = lines.item(index, rest);
        out.push(Block::Target {
            name: None,
            target: link_of(view, rest),
        });
        end
    }

    fn directive(&mut self, directive: &Directive<'_>, depth: usize, out: &mut Vec<Block>) {
        let name = directive.name.as_str();
        let content = directive.content;
        let block = match name {
            "code" | "code-block" | "sourcecode" | "doctest" | "testcode" | "testoutput"
            | "math" => {
                // A first argument line is the language; more lines are code without the
                // blank line that should come before it.
                let mut text = content.literal(0, content.len());
                if text.is_empty() {
                    let rest = directive.arguments.split_once('\n').map(|(_, rest)| rest);
                    text = rest.map(|rest| format!("{rest}\n")).unwrap_or_default();
                }
                Block::Literal(text)
            }
            "parsed-literal" => Block::ParsedLiteral(content.literal(0, content.len())),
            "image" => Block::Image(image(directive)),
            "figure" => Block::Figure(image(directive), self.parse(content, depth + 1)),
            "admonition" | "topic" | "sidebar" => Block::Admonition {
                class: if name == "admonition" {
                    "note"
                } else {
                    "topic"
                },
                title: directive.arguments.clone(),
                body: self.parse(content, depth + 1),
            },
            "versionadded" | "versionchanged" | "deprecated" => {
                let (version, text) = directive
                    .arguments
                    .split_once(char::is_whitespace)
                    .unwrap_or((&directive.arguments, ""));
                let title = match name {
                    "versionadded" => format!("Added in version {version}"),
                    "versionchanged" => format!("Changed in version {version}"),
                    _ => format!("Deprecated since version {version}"),
                };
                let mut body = Vec::new();
                if !text.trim().is_empty() {
                    body.push(Block::Paragraph(text.trim().to_owned()));
                }
                body.extend(self.parse(content, depth + 1));
                Block::Admonition {
                    class: "note",
                    title,
                    body,
                }
            }
            "rubric" => Block::Rubric(directive.arguments.clone()),
            "container" | "compound" | "class" | "rst-class" | "cssclass" | "only" => {
                Block::Container(self.parse(content, depth + 1))
            }
            "epigraph" | "highlights" | "pull-quote" => Block::Quote(self.body(directive, depth)),
            "list-table" | "csv-table" => {
                let caption = Some(directive.arguments.clone()).filter(|text| !text.is_empty());
                let head_rows = directive
                    .option("header-rows")
                    .and_then(|rows| rows.parse().ok());
                let table = if name == "list-table" {
                    self.list_table(content, depth)
                } else {
                    self.csv_table(content, directive.option("header"), depth)
                };
                match table {
                    Some(mut table) => {
                        let rows = head_rows.unwrap_or(0).min(table.body.len());
                        let mut head: Vec<_> = table.body.drain(..rows).collect();
                        table.head.append(&mut head);
                        table.caption = caption;
                        Block::Table(table)
                    }
                    None => Block::Literal(content.literal(0, content.len())),
                }
            }
            _ => {
                if let Some((class, title)) = ADMONITIONS.iter().find(|(known, _)| *known == name) {
                    Block::Admonition {
                        class,
                        title: (*title).to_owned(),
                        body: self.body(directive, depth),
                    }
                } else if DROPPED.contains(&name) || content.len() == 0 {
                    return;
                } else {
                    Block::Literal(content.literal(0, content.len()))
                }
            }
        };
        out.push(block);
    }

    /// The content of a directive that takes no arguments: everything after `::`.
    fn body(&mut self, directive: &Directive<'_>, depth: usize) -> Vec<Block> {
        if directive.options.is_empty() {
            return self.parse(directive.whole, depth + 1);
        }
        let mut body = Vec::new();
        if !directive.arguments.is_empty() {
            body.push(Block::Paragraph(directive.arguments.clone()));
        }
        body.extend(self.parse(directive.content, depth + 1));
        body
    }
}

/// A directive's name and what follows `::` on its line: `name:: arguments`.
fn directive_name(text: &str) -> Option<(&str, &str)> {
    let end = text.find("::")?;
    let name = text.get(..end)?;
    let after = text.get(end + 2..)?;
    let valid = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:+".contains(c));
    (valid && (after.is_empty() || after.starts_with(' '))).then(|| (name, after.trim_start()))
}

/// Reads a directive from its lines (the first: the text after `::`).
fn read<'a>(view: Lines<'a>, name: &str) -> Directive<'a> {
    let mut index = 0;
    let mut arguments: Vec<&str> = Vec::new();
    if view.is_blank(0) {
        index = 1;
    } else {
        while index < view.len()
            && !view.is_blank(index)
            && (index == 0 || field_marker(view.text(index)).is_none())
        {
            arguments.push(view.text(index).trim());
            index += 1;
        }
    }
    let mut options: Vec<(String, String)> = Vec::new();
    while index < view.len() && !view.is_blank(index) {
        if let Some((key, value)) = field_marker(view.text(index)) {
            options.push((key.to_ascii_lowercase(), value.to_owned()));
        } else if let Some((_, value)) = options.last_mut() {
            value.push(' ');
            value.push_str(view.text(index).trim());
        } else {
            break;
        }
        index += 1;
    }
    Directive {
        name: name.to_ascii_lowercase(),
        arguments: arguments.join("\n"),
        options,
        whole: view,
        content: view.range(index, view.len()),
    }
}

fn image(directive: &Directive<'_>) -> Image {
    let src: String = directive.arguments.split_whitespace().collect();
    let size = |name: &str| {
        let value = directive.option(name)?;
        let value = value.strip_suffix("px").unwrap_or(value);
        value
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| value.to_owned())
    };
    let align = directive
        .option("align")
        .filter(|value| ["left", "center", "right", "top", "middle", "bottom"].contains(value));
    Image {
        alt: Some(
            directive
                .option("alt")
                .map_or_else(|| src.clone(), str::to_owned),
        ),
        src,
        width: size("width"),
        height: size("height"),
        align: align.map(str::to_owned),
        // A URI (its whitespace dropped), or a reference (`name_`, `` `a name`_ ``).
        target: directive.option("target").map(|target| {
            if target.ends_with('_') {
                target.to_owned()
            } else {
                target.split_whitespace().collect()
            }
        }),
    }
}

/// A hyperlink target, from what follows `.. _`.
fn target_block(view: Lines<'_>, text: &str) -> Block {
    let (name, rest) = if let Some(quoted) = text.strip_prefix('`') {
        let close = quoted.find('`').unwrap_or(quoted.len());
        let after = quoted.get(close + 1..).unwrap_or_default();
        (
            quoted.get(..close).unwrap_or_default(),
            after.strip_prefix(':').unwrap_or(after),
        )
    } else {
        let colon = name_end(text);
        (
            text.get(..colon).unwrap_or_default(),
            text.get(colon + 1..).unwrap_or_default(),
        )
    };
    let name = (name != "_").then(|| normalize(&unescape(name)));
    Block::Target {
        name,
        target: link_of(view, rest),
    }
}

/// Where a target's name ends: its first colon not escaped and followed by a space or the
/// end of the line.
fn name_end(text: &str) -> usize {
    let mut escaped = false;
    for (position, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            ':' if !escaped => {
                let after = text.get(position + 1..).unwrap_or_default();
                if after.is_empty() || after.starts_with(' ') {
                    return position;
                }
            }
            _ => escaped = false,
        }
    }
    text.len()
}

/// The link of a target: `first` (the rest of its first line) and the lines after it,
/// without whitespace; `name_` makes it an alias, nothing an internal target.
fn link_of(view: Lines<'_>, first: &str) -> Target {
    let mut link: String = first.split_whitespace().collect();
    for index in 1..view.len() {
        link.extend(view.text(index).split_whitespace());
    }
    if link.is_empty() {
        return Target::Internal;
    }
    if let Some(alias) = link
        .strip_suffix('_')
        .filter(|alias| !alias.ends_with('\\'))
    {
        let alias = alias.trim_matches('`');
        return Target::Alias(normalize(&unescape(alias)));
    }
    Target::Uri(unescape(&link))
}

/// A substitution definition, from what follows `.. |`.
fn substitution(view: Lines<'_>, text: &str) -> Option<Block> {
    let close = text.find('|')?;
    let name = text.get(..close)?.trim();
    let (kind, arguments) = directive_name(text.get(close + 1..)?.trim_start())?;
    let directive = read(view.dedent(0, view.len(), 0, Some(arguments)), kind);
    let value = match directive.name.as_str() {
        "image" => Substitution::Image(image(&directive)),
        "replace" => {
            let content = directive.whole;
            Substitution::Text(content.joined(0, content.len()).trim().to_owned())
        }
        "unicode" => Substitution::Literal(unicode(&directive.arguments)),
        _ => return None,
    };
    Some(Block::Substitution {
        name: name.to_owned(),
        value,
    })
}

/// The text of a `unicode` directive: character codes (`U+2122`, `0x2122`, `x2122`,
/// `\u2122`, `&#x2122;`, `8482`) as characters, other words as they are, `..` a comment.
fn unicode(arguments: &str) -> String {
    let mut text = String::new();
    for word in arguments.split_whitespace() {
        if word == ".." {
            break;
        }
        let lower = word.to_ascii_lowercase();
        let hex = ["u+", "0x", "x", "\\u", "\\x", "&#x"]
            .iter()
            .find_map(|prefix| lower.strip_prefix(prefix))
            .map(|digits| digits.trim_end_matches(';'))
            .and_then(|digits| u32::from_str_radix(digits, 16).ok());
        let code = hex.or_else(|| word.parse::<u32>().ok());
        match code.and_then(char::from_u32).filter(|c| !c.is_control()) {
            Some(c) => text.push(c),
            None => text.push_str(word),
        }
    }
    text
}
