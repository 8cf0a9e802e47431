//! The targets the benchmark is judged against, and their table in the report.

use std::fmt::Write as _;
use std::time::Duration;

use crate::report::{Report, directions, ratio, ratios};
use crate::stats::{median, mib, ms, percentile, verdict};

/// Target: throughput through oci-pypi relative to direct.
const TARGET_RATIO: f64 = 0.9;
/// Target: server peak RSS while moving a 1 GiB file, KiB.
const TARGET_PEAK_KIB: u64 = 64 * 1024;
/// Target: warm page p50 for 500 releases.
const TARGET_WARM_P50: Duration = Duration::from_millis(2);
/// Target: warm page throughput for 500 releases with 64 clients.
const TARGET_RPS: f64 = 5000.0;
/// Target: cold page over its slowest registry request.
const TARGET_COLD_RATIO: f64 = 3.0;
/// Target: registry requests of a cold page of a project with a listing document.
const TARGET_COLD_REQUESTS: usize = 6;
/// Target: warm page p99 while its cache expires during the run.
const TARGET_EXPIRING_P99: Duration = Duration::from_millis(5);
/// Target: throughput on the 100-release page with 64 clients (what it was before listing
/// documents, issue 14).
const TARGET_RPS_100: f64 = 29_000.0;

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
    for transfer in &report.transfers {
        let (label, result) = (&transfer.label, &transfer.download);
        ratio_row(
            out,
            &format!(
                "download {label} through oci-pypi ≥ {TARGET_RATIO}x through HAProxy (a reference proxy on the same machine)"
            ),
            (&result.proxy, &result.via_reference),
        );
        ratio_row(
            out,
            &format!(
                "download {label} from the blob cache (`--blob-cache-dir`, after the first) ≥ {TARGET_RATIO}x direct"
            ),
            (&result.proxy_cached, &result.direct),
        );
        ratio_row(
            out,
            &format!(
                "first download {label} filling the blob cache ≥ {TARGET_RATIO}x a first download without it (fresh servers; the cache must not slow it)"
            ),
            (&result.cache_fills, &result.proxy_fresh),
        );
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
                "| warm page, {} releases, ttl {}{}, ≥ 5,000 req/s with {} | {:.0} req/s (p50 {}) | {} |",
                row.releases,
                row.ttl,
                match row.coding {
                    crate::pages::Coding::Identity => "",
                    crate::pages::Coding::Gzip => ", gzip",
                },
                r.tool,
                r.requests_per_second,
                ms(r.p50),
                verdict(r.requests_per_second >= TARGET_RPS && r.errors == 0)
            );
        }
    }
    for row in &report.load {
        if row.releases == 100
            && row.ttl.contains("default")
            && row.coding == crate::pages::Coding::Identity
        {
            let r = &row.result;
            let _ = writeln!(
                out,
                "| warm page, 100 releases, ≥ 29,000 req/s with {} (no worse than before) | {:.0} req/s | {} |",
                r.tool,
                r.requests_per_second,
                verdict(r.requests_per_second >= TARGET_RPS_100 && r.errors == 0)
            );
        }
    }
    render_pages(report, out);
    render_pyoci(report, out);
}

/// With phase 6: oci-pypi's cold page of PyOCI's data faster than PyOCI's page of it.
fn render_pyoci(report: &Report, out: &mut String) {
    let Some(pyoci) = &report.pyoci else {
        return;
    };
    for row in pyoci
        .pages
        .iter()
        .filter(|row| row.written_by == crate::seed::Writer::Pyoci && row.failure.is_none())
    {
        let Some(cold) = report.cold_row(row.releases, row.written_by) else {
            continue;
        };
        let theirs = percentile(&row.latencies, 50.0);
        let running = report.page_row(row.releases, |mode| mode == crate::pages::PYOCI_WARMED);
        let straight = report
            .page_row(row.releases, |mode| mode == crate::pages::PYOCI_STRAIGHT)
            .map_or_else(String::new, |straight| {
                format!(
                    " (the same requests from curl, no server: {})",
                    ms(percentile(&straight.latencies, 50.0))
                )
            });
        for (what, ours) in [
            ("a fresh server's first page", Some(cold)),
            ("a running server's first page of the project", running),
        ] {
            let Some(ours) = ours else { continue };
            let ours = percentile(&ours.latencies, 50.0);
            let _ = writeln!(
                out,
                "| {} releases, PyOCI's data: {what} faster than PyOCI's page (p50) | \
                 {} against {}{straight} | {} |",
                row.releases,
                ms(ours),
                ms(theirs),
                verdict(ours < theirs)
            );
        }
    }
}

/// The row of a target on the ratio of two medians, `≥ TARGET_RATIO`; none unless both
/// were measured.
fn ratio_row(out: &mut String, target: &str, (measured, basis): (&[f64], &[f64])) {
    if measured.is_empty() || basis.is_empty() {
        return;
    }
    let value = median(measured) / median(basis);
    let _ = writeln!(
        out,
        "| {target} | {value:.2}x | {} |",
        verdict(value >= TARGET_RATIO)
    );
}

/// The page targets: requests per cold page, latency while the cache expires, each cold
/// page over its slowest registry request.
fn render_pages(report: &Report, out: &mut String) {
    for page in &report.pages {
        // The plain client's row is a reference, not a page of oci-pypi's.
        let served = || {
            page.rows
                .iter()
                .filter(|r| r.mode != crate::pages::PYOCI_STRAIGHT)
        };
        for row in page
            .rows
            .iter()
            .filter(|r| r.mode.starts_with("warm, ttl 1 s"))
        {
            let p99 = percentile(&row.latencies, 99.0);
            let _ = writeln!(
                out,
                "| {} releases, {}: p99 ≤ 5 ms | {} ({} pages) | {} |",
                page.releases,
                row.mode,
                ms(p99),
                row.latencies.len(),
                verdict(p99 <= TARGET_EXPIRING_P99)
            );
        }
        for row in served().filter(|r| !r.requests.is_empty()) {
            let most = row.requests.iter().copied().max().unwrap_or(0);
            let (limit, label) = if row.mode.contains("PyOCI") {
                (page.releases + 1, format!("≤ N+1 = {}", page.releases + 1))
            } else {
                (TARGET_COLD_REQUESTS, format!("≤ {TARGET_COLD_REQUESTS}"))
            };
            let _ = writeln!(
                out,
                "| {} releases, {}: registry requests per page {label} | {most} at most | {} |",
                page.releases,
                row.mode,
                verdict(most <= limit)
            );
        }
        for row in served().filter(|r| !r.slowest.is_empty()) {
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
