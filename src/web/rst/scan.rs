//! What inline markup recognizes without delimiters, measured: standalone URIs, e-mail
//! addresses, reference names; and the target embedded in a reference. Each scan reads no
//! further than what it recognizes.

/// `text <target>` (or `<target>` alone): the text and the target.
pub(super) fn embedded(content: &str) -> Option<(&str, &str)> {
    let inner = content.strip_suffix('>')?;
    let open = inner.rfind('<')?;
    let label = inner.get(..open)?;
    if !label.is_empty() && !label.ends_with(char::is_whitespace) {
        return None;
    }
    Some((label.trim_end(), inner.get(open + 1..)?))
}

/// The length of the URI at the start of `text`, if one starts there; trailing punctuation
/// (and closing brackets without their opening ones) is left out.
pub(super) fn uri_length(text: &str) -> Option<usize> {
    let scheme = ["http://", "https://", "ftp://", "mailto:"]
        .into_iter()
        .find(|scheme| {
            text.get(..scheme.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
        })?;
    let end = text
        .find(|c: char| c.is_whitespace() || "<>\"`\\".contains(c))
        .unwrap_or(text.len());
    let mut uri = text.get(..end)?;
    // Opening brackets less closing ones: a closing bracket too many is not the URI's.
    let balance = |open: char, close: char| {
        let count = |c| isize::try_from(uri.matches(c).count()).unwrap_or(isize::MAX);
        count(open) - count(close)
    };
    let mut balances = [balance('(', ')'), balance('[', ']'), balance('{', '}')];
    while let Some(last) = uri.chars().next_back() {
        let bracket = match last {
            ')' => Some(0),
            ']' => Some(1),
            '}' => Some(2),
            _ => None,
        };
        let drop = match bracket.and_then(|bracket| balances.get_mut(bracket)) {
            Some(balance) if *balance < 0 => {
                *balance += 1;
                true
            }
            Some(_) => false,
            None => ".,;:!?'*".contains(last),
        };
        if !drop {
            break;
        }
        uri = uri.get(..uri.len() - last.len_utf8())?;
    }
    (uri.len() > scheme.len()).then_some(uri.len())
}

/// The length of the e-mail address at the start of `text`, if one starts there.
pub(super) fn email_length(text: &str) -> Option<usize> {
    let local = text
        .bytes()
        .take(65)
        .take_while(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(b))
        .count();
    if local == 0 || local > 64 || text.as_bytes().get(local) != Some(&b'@') {
        return None;
    }
    let domain = text.get(local + 1..)?;
    let length = domain
        .bytes()
        .take(254)
        .take_while(|b| b.is_ascii_alphanumeric() || b".-".contains(b))
        .count();
    let domain = domain.get(..length)?.trim_end_matches('.');
    let valid = domain.contains('.') && !domain.starts_with(['.', '-']) && !domain.contains("..");
    valid.then_some(local + 1 + domain.len())
}

/// The length of the word at the start of `text`: alphanumerics, joined by single `-`,
/// `_`, `.`, `:` or `+` (what a simple reference name is made of).
pub(super) fn word_length(text: &str) -> usize {
    let mut length = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((position, c)) = chars.next() {
        if c.is_alphanumeric() {
            length = position + c.len_utf8();
        } else if !"-_.:+".contains(c)
            || !chars.peek().is_some_and(|(_, next)| next.is_alphanumeric())
        {
            break;
        }
    }
    length.max(text.chars().next().map_or(0, char::len_utf8))
}
