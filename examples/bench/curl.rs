//! curl, the one client of the transfer phases: streams from and to files, never through a
//! proxy, with `Expect: 100-continue` off.

use std::path::Path;

use anyhow::{Context as _, bail, ensure};

/// Runs curl (never through a proxy, `Expect: 100-continue` off) with the body going to
/// `sink` (a scratch file by default).
pub async fn run(work_dir: &Path, args: &[String], sink: Option<&Path>) -> anyhow::Result<Outcome> {
    let scratch = work_dir.join("curl-body");
    let headers = work_dir.join("curl-headers");
    let output = tokio::process::Command::new("curl")
        .args(["--noproxy", "*", "-sS", "-H", "Expect:"])
        .arg("-o")
        .arg(sink.unwrap_or(&scratch))
        .arg("-D")
        .arg(&headers)
        .args([
            "-w",
            "%{http_code} %{time_total} %{size_upload} %{size_download}",
        ])
        .args(args)
        .output()
        .await
        .context("running curl")?;
    ensure!(
        output.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let fields: Vec<&str> = text.split_whitespace().collect();
    let [status, seconds, uploaded, downloaded] = fields[..] else {
        bail!("unexpected curl -w output `{text}`");
    };
    let body = if sink.is_none() {
        std::fs::read_to_string(&scratch).unwrap_or_default()
    } else {
        String::new()
    };
    Ok(Outcome {
        status: status.parse()?,
        seconds: seconds.parse()?,
        uploaded: uploaded.parse()?,
        downloaded: downloaded.parse()?,
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        body,
    })
}

/// What curl reported.
pub struct Outcome {
    pub status: u16,
    pub seconds: f64,
    pub uploaded: u64,
    pub downloaded: u64,
    headers: String,
    body: String,
}

impl Outcome {
    /// An error unless the status is `status`.
    pub fn expect(&self, status: u16, what: &str) -> anyhow::Result<()> {
        ensure!(
            self.status == status,
            "{what}: HTTP {} (wanted {status}): {}",
            self.status,
            self.body.chars().take(500).collect::<String>()
        );
        Ok(())
    }

    /// The last `Location` header, made absolute against `origin`.
    pub fn location(&self, origin: &str) -> anyhow::Result<String> {
        let value = self
            .headers
            .lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.eq_ignore_ascii_case("location"))
            .map(|(_, value)| value.trim().to_owned())
            .next_back()
            .context("no Location header")?;
        Ok(if value.starts_with('/') {
            format!("{origin}{value}")
        } else {
            value
        })
    }
}
