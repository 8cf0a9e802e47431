//! HTTP `Range` requests on a blob of known size: one byte range, as RFC 9110 defines it.
//!
//! Specification: <https://www.rfc-editor.org/rfc/rfc9110#name-range-requests>. A header this
//! store does not serve (another unit, several ranges, bad syntax) is ignored, which the RFC
//! allows: the whole blob is sent.

/// The part of a blob to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ByteRange {
    /// Everything (status 200).
    Whole,
    /// Bytes `start..=end` (status 206).
    Partial {
        /// The first byte.
        start: u64,
        /// The last byte, included.
        end: u64,
    },
    /// Nothing can be sent (status 416).
    Unsatisfiable,
}

/// What `header` asks of a blob of `size` bytes.
pub(super) fn parse_range(header: &str, size: u64) -> ByteRange {
    let Some(spec) = header
        .trim()
        .strip_prefix("bytes=")
        .map(str::trim)
        .filter(|spec| !spec.contains(','))
    else {
        return ByteRange::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return ByteRange::Whole;
    };
    let number = |text: &str| {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u64>().ok())
            .flatten()
    };
    match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            None => ByteRange::Whole,
            Some(0) => ByteRange::Unsatisfiable,
            Some(_) if size == 0 => ByteRange::Unsatisfiable,
            Some(length) => ByteRange::Partial {
                start: size - length.min(size),
                end: size - 1,
            },
        },
        (first, "") => match number(first) {
            None => ByteRange::Whole,
            Some(start) if start >= size => ByteRange::Unsatisfiable,
            Some(start) => ByteRange::Partial {
                start,
                end: size - 1,
            },
        },
        (first, last) => match (number(first), number(last)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= size {
                    ByteRange::Unsatisfiable
                } else {
                    ByteRange::Partial {
                        start,
                        end: end.min(size - 1),
                    }
                }
            }
            _ => ByteRange::Whole,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let partial = |start, end| ByteRange::Partial { start, end };
        for (header, size, expected) in [
            ("bytes=0-9", 100, partial(0, 9)),
            ("bytes=90-200", 100, partial(90, 99)),
            ("bytes=10-", 100, partial(10, 99)),
            ("bytes=-10", 100, partial(90, 99)),
            ("bytes=-1000", 100, partial(0, 99)),
            (" bytes= 5-5 ", 100, partial(5, 5)),
            ("bytes=100-", 100, ByteRange::Unsatisfiable),
            ("bytes=100-200", 100, ByteRange::Unsatisfiable),
            ("bytes=-0", 100, ByteRange::Unsatisfiable),
            ("bytes=-5", 0, ByteRange::Unsatisfiable),
            ("bytes=0-", 0, ByteRange::Unsatisfiable),
            ("bytes=0-1,5-6", 100, ByteRange::Whole),
            ("bytes=9-0", 100, ByteRange::Whole),
            ("bytes=a-b", 100, ByteRange::Whole),
            ("bytes=+1-2", 100, ByteRange::Whole),
            ("bytes=-", 100, ByteRange::Whole),
            ("bytes=5", 100, ByteRange::Whole),
            ("items=0-1", 100, ByteRange::Whole),
            ("bytes=0-99999999999999999999999", 100, ByteRange::Whole),
        ] {
            assert_eq!(parse_range(header, size), expected, "{header} of {size}");
        }
    }
}
