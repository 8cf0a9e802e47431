//! Percentiles and number formatting for the reports of `examples/bench` and `examples/soak`
//! (shared through `#[path]`; each uses its own part).
#![allow(dead_code)] // each driver uses its own part of this

use std::time::Duration;

/// The nearest-rank percentile `q` (0–100) of `samples` (with 20 samples, p99 is the largest).
pub fn percentile(samples: &[Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "percentile index and values in range: non-negative, below 2^52"
    )]
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of `values` (the lower middle one for an even count).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[(sorted.len() - 1) / 2]
}

/// Milliseconds with enough digits for sub-millisecond values.
pub fn ms(duration: Duration) -> String {
    let value = duration.as_secs_f64() * 1000.0;
    if value < 10.0 {
        format!("{value:.3} ms")
    } else if value < 100.0 {
        format!("{value:.2} ms")
    } else {
        format!("{value:.1} ms")
    }
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts and sizes far below 2^52: exact enough as f64"
    )]
    let value = kib as f64 / 1024.0;
    format!("{value:.1} MiB")
}

/// Bytes per second as MB/s (10^6 bytes).
pub fn mb_per_s(bytes: u64, seconds: f64) -> f64 {
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts and sizes far below 2^52: exact enough as f64"
    )]
    let bytes = bytes as f64;
    bytes / seconds / 1e6
}

/// "met" or "**missed**".
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "**missed**" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let samples: Vec<Duration> = (1..=20).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 50.0), Duration::from_millis(10));
        assert_eq!(percentile(&samples, 99.0), Duration::from_millis(20));
        assert_eq!(percentile(&samples, 0.0), Duration::from_millis(1));
        assert!((median(&[3.0, 1.0, 2.0]) - 2.0).abs() < f64::EPSILON);
    }
}
