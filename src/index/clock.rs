//! The time written into documents: now, RFC 3339 UTC with seconds (`2026-12-05T07:00:00Z`).

/// The time now, RFC 3339 UTC with seconds.
#[must_use]
pub fn now_rfc3339() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}
