//! Phase 4: warm project-page throughput with concurrent clients: `wrk` when it is installed,
//! otherwise a closed loop of keep-alive reqwest clients in this process.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};

use crate::stats::percentile;

/// What one load run measured.
pub struct LoadResult {
    pub tool: String,
    pub requests_per_second: f64,
    pub requests: u64,
    pub p50: Duration,
    pub p99: Duration,
    /// Non-2xx answers and socket errors.
    pub errors: u64,
}

/// Loads `url` with `connections` clients for `seconds`, each request with `headers`.
pub async fn run(
    wrk: Option<&Path>,
    (url, headers): (&str, &[(&str, &str)]),
    connections: usize,
    seconds: u64,
) -> anyhow::Result<LoadResult> {
    match wrk {
        Some(wrk) => run_wrk(wrk, (url, headers), connections, seconds).await,
        None => run_builtin((url, headers), connections, seconds).await,
    }
}

async fn run_wrk(
    wrk: &Path,
    (url, headers): (&str, &[(&str, &str)]),
    connections: usize,
    seconds: u64,
) -> anyhow::Result<LoadResult> {
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let mut command = tokio::process::Command::new(wrk);
    for (name, value) in headers {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    let output = command
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .args(["--timeout", "10s", "--latency", url])
        .output()
        .await
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(
        output.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let number_after = |label: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.trim_start().starts_with(label))?;
        line.trim_start()[label.len()..]
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    let latency = |label: &str| -> anyhow::Result<Duration> {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .with_context(|| format!("no `{label}` in wrk output:\n{text}"))?;
        let value = line.trim_start()[label.len()..].trim();
        parse_wrk_duration(value)
    };
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no request count in wrk output:\n{text}"))?;
    let socket_errors: u64 =
        text.lines()
            .find(|l| l.contains("Socket errors:"))
            .map_or(0, |line| {
                line.split(',')
                    .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                    .sum()
            });
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a count or duration printed by a tool, non-negative and in range"
    )]
    let non_2xx = number_after("Non-2xx or 3xx responses:").unwrap_or(0.0) as u64;
    Ok(LoadResult {
        tool: format!("wrk, {threads} threads, {connections} connections"),
        requests_per_second: number_after("Requests/sec:")
            .with_context(|| format!("no Requests/sec in wrk output:\n{text}"))?,
        requests,
        p50: latency("50%")?,
        p99: latency("99%")?,
        errors: socket_errors + non_2xx,
    })
}

/// `812.00us`, `1.23ms`, `2.00s`.
fn parse_wrk_duration(value: &str) -> anyhow::Result<Duration> {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("`{value}` has no unit"))?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse()?;
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => bail!("unknown wrk unit in `{value}`"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

async fn run_builtin(
    (url, headers): (&str, &[(&str, &str)]),
    connections: usize,
    seconds: u64,
) -> anyhow::Result<LoadResult> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let url = url.to_owned();
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(1)
            .build()?;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0_u64;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let mut request = client.get(&url);
                for (name, value) in &headers {
                    request = request.header(name, value);
                }
                match request.send().await {
                    Ok(response) if response.status().is_success() => {
                        if response.bytes().await.is_err() {
                            errors += 1;
                        }
                    }
                    _ => errors += 1,
                }
                latencies.push(sent.elapsed());
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mine, failed) = task.await?;
        latencies.extend(mine);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    #[expect(
        clippy::cast_precision_loss,
        reason = "counts and sizes far below 2^52: exact enough as f64"
    )]
    let requests_per_second = latencies.len() as f64 / elapsed;
    Ok(LoadResult {
        tool: format!("built-in closed loop, {connections} reqwest clients"),
        requests_per_second,
        requests: latencies.len() as u64,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_units() {
        assert_eq!(
            parse_wrk_duration("812.00us").unwrap(),
            Duration::from_micros(812)
        );
        assert_eq!(
            parse_wrk_duration("1.50ms").unwrap(),
            Duration::from_micros(1500)
        );
        assert_eq!(parse_wrk_duration("2.00s").unwrap(), Duration::from_secs(2));
    }
}
