//! The markers that start list items: bullets, enumerators (`1.`, `(a)`, `iv)`, `#.`) and
//! field names (`:name:`).

use super::Numbering;

/// A bullet list item's bullet and text.
pub(super) fn bullet(text: &str) -> Option<(char, &str)> {
    let mark = text.chars().next().filter(|c| "-*+•‣⁃".contains(*c))?;
    let rest = text.get(mark.len_utf8()..)?;
    (rest.is_empty() || rest.starts_with(' ')).then(|| (mark, rest.trim_start()))
}

/// A field list item's name and text: `:name: text`.
pub(super) fn field_marker(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(':')?;
    if rest.starts_with([' ', ':']) {
        return None;
    }
    let mut chars = rest.char_indices();
    while let Some((position, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            ':' => {
                let after = rest.get(position + 1..).unwrap_or_default();
                if after.starts_with('`') {
                    return None;
                }
                if after.is_empty() || after.starts_with(' ') {
                    let name = rest.get(..position).unwrap_or_default();
                    let spaced = name.is_empty() || name.ends_with(' ');
                    return (!spaced).then(|| (name, after.trim_start()));
                }
            }
            _ => {}
        }
    }
    None
}

/// An enumerated list item's enumerator: `1.`, `(a)`, `iv)`, `#.`.
#[derive(Debug, Clone)]
pub(super) struct Enumerator<'a> {
    pub(super) numbering: Numbering,
    pub(super) value: u32,
    format: (bool, char),
    pub(super) rest: &'a str,
}

/// The enumerator of `text`: of any kind for a list's first item, of the list's `kind`
/// and format for the next ones.
pub(super) fn enumerator<'a>(
    text: &'a str,
    kind: Option<&Enumerator<'_>>,
) -> Option<Enumerator<'a>> {
    let (opened, body) = match text.strip_prefix('(') {
        Some(body) => (true, body),
        None => (false, text),
    };
    let length = body.find(|c: char| !c.is_ascii_alphanumeric() && c != '#')?;
    let (token, after) = body.split_at(length);
    let close = after.chars().next().filter(|c| {
        if opened {
            *c == ')'
        } else {
            matches!(c, '.' | ')')
        }
    })?;
    let rest = after.get(1..)?;
    if !(rest.is_empty() || rest.starts_with(' ')) || token.is_empty() || token.len() > 9 {
        return None;
    }
    let format = (opened, close);
    let (numbering, value) = match kind {
        Some(kind) if kind.format != format => return None,
        Some(kind) if token == "#" => (kind.numbering, 0),
        Some(kind) => (kind.numbering, value_of(token, kind.numbering)?),
        None if token == "#" => (Numbering::Arabic, 1),
        None => first_value(token)?,
    };
    Some(Enumerator {
        numbering,
        value,
        format,
        rest: rest.trim_start(),
    })
}

/// How a first enumerator counts: `i` and `I` start Roman lists, other letters alphabetic.
fn first_value(token: &str) -> Option<(Numbering, u32)> {
    let numbering = if token.bytes().all(|b| b.is_ascii_digit()) {
        Numbering::Arabic
    } else if token == "i" || (token.len() > 1 && token.bytes().all(|b| b"ivxlcdm".contains(&b))) {
        Numbering::LowerRoman
    } else if token == "I" || (token.len() > 1 && token.bytes().all(|b| b"IVXLCDM".contains(&b))) {
        Numbering::UpperRoman
    } else if token.len() == 1 && token.bytes().all(|b| b.is_ascii_lowercase()) {
        Numbering::LowerAlpha
    } else if token.len() == 1 && token.bytes().all(|b| b.is_ascii_uppercase()) {
        Numbering::UpperAlpha
    } else {
        return None;
    };
    Some((numbering, value_of(token, numbering)?))
}

fn value_of(token: &str, numbering: Numbering) -> Option<u32> {
    match numbering {
        Numbering::Arabic => token.parse().ok(),
        Numbering::LowerAlpha | Numbering::UpperAlpha => {
            let letter = token.bytes().next().filter(|_| token.len() == 1)?;
            let base = if numbering == Numbering::LowerAlpha {
                b'a'
            } else {
                b'A'
            };
            letter
                .checked_sub(base)
                .filter(|value| *value < 26)
                .map(|value| u32::from(value) + 1)
        }
        Numbering::LowerRoman => {
            roman(token).filter(|_| token.bytes().all(|b| b.is_ascii_lowercase()))
        }
        Numbering::UpperRoman => {
            roman(token).filter(|_| token.bytes().all(|b| b.is_ascii_uppercase()))
        }
    }
}

/// The value of a Roman numeral written the usual way (`iv`, not `iiii`).
fn roman(token: &str) -> Option<u32> {
    const NUMERALS: [(u32, &str); 13] = [
        (1000, "m"),
        (900, "cm"),
        (500, "d"),
        (400, "cd"),
        (100, "c"),
        (90, "xc"),
        (50, "l"),
        (40, "xl"),
        (10, "x"),
        (9, "ix"),
        (5, "v"),
        (4, "iv"),
        (1, "i"),
    ];
    let lower = token.to_ascii_lowercase();
    let mut rest = lower.as_str();
    let mut value = 0;
    for (worth, numeral) in NUMERALS {
        let mut repeats = 0;
        while let Some(after) = rest.strip_prefix(numeral) {
            rest = after;
            value += worth;
            repeats += 1;
            if repeats > 3 {
                return None;
            }
        }
    }
    (rest.is_empty() && value > 0).then_some(value)
}
