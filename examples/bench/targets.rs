//! The targets the benchmark is judged against, and their table in the report.

use std::fmt::Write as _;
use std::time::Duration;

use crate::report::{Report, directions, ratio, ratios};
use crate::stats::{median, mib, ms, percentile, verdict};

/// Target: throughput through oci-pypi relative to direct.
const TARGET_RATIO: f64 = 0.8;
/// Target: server peak RSS while moving a 1 GiB file, KiB.
const TARGET_PEAK_KIB: u64 = 64 * 1024;
/// Target: warm page p50 for 500 releases.
const TARGET_WARM_P50: Duration = Duration::from_millis(2);
/// Target: warm page throughput for 500 releases with 64 clients.
const TARGET_RPS: f64 = 5000.0;
/// Target: cold page over its slowest registry request.
const TARGET_COLD_RATIO: f64 = 3.0;

/// The targets table: each target, what was measured, met or missed.
pub fn render(report: &Report, out: &mut String) {
    out.push_str("\n## Targets\n\n| target | measured | verdict |\n|---|---|---|\n");
    for transfer in &report.transfers {
        for (direction, result) in directions(transfer) {
            let value = ratio(result);
            let _ = writeln!(
                out,
                "| {direction} {} through oci-pypi ≥ {TARGET_RATIO}x direct | {value:.2}x | {} |",
                transfer.label,
                verdict(value >= TARGET_RATIO)
            );
        }
    }
    if let Some(largest) = report.transfers.iter().max_by_key(|t| t.size) {
        for (direction, result) in directions(largest) {
            let _ = writeln!(
                out,
                "| server peak RSS < 64 MiB, {direction} of {} | {} | {} |",
                largest.label,
                mib(result.peak_kib),
                verdict(result.peak_kib < TARGET_PEAK_KIB)
            );
        }
    }
    if let Some(page) = report.pages.iter().max_by_key(|p| p.releases) {
        if let Some(warm) = page.rows.iter().find(|r| r.mode.starts_with("warm")) {
            let p50 = percentile(&warm.latencies, 50.0);
            let _ = writeln!(
                out,
                "| warm page, {} releases, p50 < 2 ms (one client) | {} | {} |",
                page.releases,
                ms(p50),
                verdict(p50 < TARGET_WARM_P50)
            );
        }
    }
    for row in &report.load {
        if Some(row.releases) == report.pages.iter().map(|p| p.releases).max() {
            let r = &row.result;
            let _ = writeln!(
                out,
                "| warm page, {} releases, ttl {}, ≥ 5,000 req/s with {} | {:.0} req/s (p50 {}) | {} |",
                row.releases,
                row.ttl,
                r.tool,
                r.requests_per_second,
                ms(r.p50),
                verdict(r.requests_per_second >= TARGET_RPS && r.errors == 0)
            );
        }
    }
    for page in &report.pages {
        for row in page.rows.iter().filter(|r| !r.slowest.is_empty()) {
            for (basis, slowest) in [
                ("as timed during the page", &row.slowest),
                ("timed alone", &row.alone_slowest),
            ] {
                let values = ratios(&row.latencies, slowest);
                let value = median(&values);
                let _ = writeln!(
                    out,
                    "| {} releases, {}: page ≤ 3x its slowest registry request ({basis}) | \
                     {value:.1}x (p50 of {} pages; worst {:.1}x) | {} |",
                    page.releases,
                    row.mode,
                    values.len(),
                    values.iter().copied().fold(0.0, f64::max),
                    verdict(value <= TARGET_COLD_RATIO)
                );
            }
        }
    }
}
