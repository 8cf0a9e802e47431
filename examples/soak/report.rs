//! The soak report: markdown, as recorded in docs/reliability.md.

use std::fmt::Write as _;
use std::time::Duration;

use crate::client::Observations;
use crate::procs::Memory;
use crate::stats::{mib, ms, percentile};
use crate::verify::Verdict;

pub struct Report {
    pub requests: i64,
    pub clients: usize,
    pub auth: String,
    /// `registry` or `local`.
    pub store: String,
    /// Extra server flags.
    pub server_flags: Vec<String>,
    pub elapsed: Duration,
    pub seen: Observations,
    /// The final check through each server, in order.
    pub verdicts: Vec<Verdict>,
    /// Each server's memory.
    pub memory_start: Vec<Memory>,
    pub memory_after_load: Vec<Memory>,
    pub memory_end: Vec<Memory>,
    pub servers_alive: bool,
    /// `panicked` in the servers' logs.
    pub panics: usize,
}

impl Report {
    pub fn passed(&self) -> bool {
        let seen = &self.seen;
        seen.server_errors == 0
            && seen.unexpected == 0
            && seen.transport_errors == 0
            && seen.corrupt == 0
            && !self.verdicts.is_empty()
            && self.verdicts.iter().all(Verdict::passed)
            && self.servers_alive
            && self.panics == 0
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let seconds = self.elapsed.as_secs_f64();
        #[expect(
            clippy::cast_precision_loss,
            reason = "counts and sizes far below 2^52: exact enough as f64"
        )]
        let throughput = self.seen.requests as f64 / seconds;
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let _ = writeln!(
            out,
            "### Soak: {verdict}\n\n{} requests (budget {}) from {} clients in {seconds:.1} s \
             ({throughput:.0} requests/s), registry auth: {}, servers: {} storing to the {}, \
             extra server flags: {}\n",
            self.seen.requests,
            self.requests,
            self.clients,
            self.auth,
            self.verdicts.len(),
            if self.store == "local" {
                "local store they share"
            } else {
                "registry"
            },
            if self.server_flags.is_empty() {
                "none".to_owned()
            } else {
                format!("`{}`", self.server_flags.join(" "))
            }
        );
        self.render_operations(&mut out);
        let seen = &self.seen;
        let _ = writeln!(
            out,
            "\n- 5xx: {}; statuses other than expected: {}; transport errors: {}; \
             corrupt bytes: {}; pages not showing the client's own completed change \
             (reported, not failed): {}",
            seen.server_errors,
            seen.unexpected,
            seen.transport_errors,
            seen.corrupt,
            seen.stale_pages
        );
        for (replica, verdict) in self.verdicts.iter().enumerate() {
            render_verdict(&mut out, replica, verdict);
        }
        let memory = |m: &Memory| format!("VmRSS {} / VmHWM {}", mib(m.rss_kib), mib(m.peak_kib));
        for (replica, ((start, after), end)) in self
            .memory_start
            .iter()
            .zip(&self.memory_after_load)
            .zip(&self.memory_end)
            .enumerate()
        {
            let _ = writeln!(
                out,
                "- server {replica} memory: start {}; after the load {}; end {}",
                memory(start),
                memory(after),
                memory(end)
            );
        }
        let alive = if self.servers_alive { "yes" } else { "**no**" };
        let _ = writeln!(
            out,
            "- servers still running: {alive}; panics in their logs: {}",
            self.panics
        );
        if !self.seen.notes.is_empty() {
            let _ = writeln!(out, "\nFirst problems seen:\n");
            for note in &self.seen.notes {
                let _ = writeln!(out, "- {note}");
            }
        }
        out
    }

    fn render_operations(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "| operation | requests | statuses | p50 | p90 | p99 | max |"
        );
        let _ = writeln!(out, "|---|---:|---|---:|---:|---:|---:|");
        let mut all = Vec::new();
        for (kind, samples) in &self.seen.latencies {
            let statuses = self.seen.statuses.get(kind).map_or_else(String::new, |s| {
                s.iter()
                    .map(|(status, count)| format!("{status}×{count}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            row(out, kind, samples, &statuses);
            all.extend_from_slice(samples);
        }
        row(out, "**all**", &all, "");
    }
}

fn render_verdict(out: &mut String, replica: usize, v: &Verdict) {
    let _ = writeln!(
        out,
        "- final check through server {replica} ({} requests): {} files stored and not deleted, {} listed with their \
         sha256 and yank state and downloaded byte-exact with their metadata; lost: {}; \
         corrupt: {}; yank state wrong: {}; deleted files listed again: {} of {}; refused \
         uploads listed: {} of {}; unknown files listed: {}; uploads with unknown outcome: {}",
        v.requests,
        v.live,
        v.verified,
        v.lost.len(),
        v.corrupt.len(),
        v.yank_mismatch.len(),
        v.resurrected.len(),
        v.deleted,
        v.refused_listed.len(),
        v.refused,
        v.unknown.len(),
        v.uncertain
    );
    for (label, names) in [
        ("lost", &v.lost),
        ("corrupt", &v.corrupt),
        ("yank state wrong", &v.yank_mismatch),
        ("deleted but listed", &v.resurrected),
        ("refused but listed", &v.refused_listed),
        ("unknown", &v.unknown),
        ("check errors", &v.errors),
    ] {
        if !names.is_empty() {
            let shown: Vec<&str> = names.iter().take(10).map(String::as_str).collect();
            let _ = writeln!(out, "  - {label}: {}", shown.join(", "));
        }
    }
}

fn row(out: &mut String, kind: &str, samples: &[Duration], statuses: &str) {
    let _ = writeln!(
        out,
        "| {kind} | {} | {statuses} | {} | {} | {} | {} |",
        samples.len(),
        ms(percentile(samples, 50.0)),
        ms(percentile(samples, 90.0)),
        ms(percentile(samples, 99.0)),
        ms(percentile(samples, 100.0)),
    );
}
