//! A real headless Chromium driven over WebDriver (W3C, <https://www.w3.org/TR/webdriver2/>):
//! Debian's `chromium` and `chromium-driver`, one chromedriver per test on a free loopback
//! port, spoken to with a small client over reqwest.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// The key of an element reference in WebDriver answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A browser session; the driver (and its browser) end when it is dropped.
pub struct Browser {
    client: reqwest::Client,
    base: String,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

fn binary(names: &[&str]) -> anyhow::Result<String> {
    for name in names {
        for dir in ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"] {
            let path = format!("{dir}/{name}");
            if std::path::Path::new(&path).exists() {
                return Ok(path);
            }
        }
    }
    bail!("none of {names:?} is installed: run scripts/test-deps.sh (chromium, chromium-driver)")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start() -> anyhow::Result<Browser> {
        let driver_path = binary(&["chromedriver"])?;
        let chromium = binary(&["chromium", "chromium-browser"])?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            // Its own process group: the browser it starts goes with it (see `Drop`).
            .process_group(0)
            .spawn()
            .context("starting chromedriver")?;
        let client = reqwest::Client::builder().no_proxy().build()?;
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Ok(response) = client.get(format!("{base}/status")).send().await {
                let status: Value = response.json().await.unwrap_or_default();
                if status["value"]["ready"] == json!(true) {
                    break;
                }
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("chromedriver did not become ready");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir()?;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--window-size=1200,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let answer: Value = client
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await?
            .json()
            .await?;
        let session = answer["value"]["sessionId"]
            .as_str()
            .with_context(|| format!("no session: {answer}"))?
            .to_owned();
        Ok(Browser {
            client,
            base,
            session,
            driver,
            _profile: profile,
        })
    }

    async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> anyhow::Result<Value> {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let request = self.client.request(method.clone(), url);
        let request = if method == reqwest::Method::GET {
            request
        } else {
            request.json(&body)
        };
        let response = request.send().await?;
        let status = response.status();
        let answer: Value = response.json().await?;
        if !status.is_success() {
            bail!("WebDriver {path} failed ({status}): {}", answer["value"]);
        }
        Ok(answer["value"].clone())
    }

    /// Opens `url` and waits for it to load.
    pub async fn open(&self, url: &str) -> anyhow::Result<()> {
        self.command(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await
            .map(|_| ())
    }

    /// The URL of the current page.
    pub async fn url(&self) -> anyhow::Result<String> {
        let value = self
            .command(reqwest::Method::GET, "/url", Value::Null)
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// The URL of the current page once `holds` is true of it (up to 20 s): a click that
    /// submits a form or follows a link returns before the browser has navigated.
    pub async fn url_once(&self, holds: impl Fn(&str) -> bool) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            let url = self.url().await?;
            if holds(&url) {
                return Ok(url);
            }
            if started.elapsed() > Duration::from_secs(20) {
                bail!("the browser did not navigate; still at {url}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The first element matching the CSS `selector`.
    pub async fn find(&self, selector: &str) -> anyhow::Result<Element<'_>> {
        let body = json!({ "using": "css selector", "value": selector });
        let value = self
            .command(reqwest::Method::POST, "/element", body)
            .await
            .with_context(|| format!("finding `{selector}`"))?;
        let id = value[ELEMENT]
            .as_str()
            .with_context(|| format!("no element id for `{selector}` in {value}"))?
            .to_owned();
        Ok(Element { browser: self, id })
    }

    /// How many elements match the CSS `selector`.
    pub async fn count(&self, selector: &str) -> anyhow::Result<usize> {
        let body = json!({ "using": "css selector", "value": selector });
        let value = self
            .command(reqwest::Method::POST, "/elements", body)
            .await?;
        Ok(value.as_array().map_or(0, Vec::len))
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub async fn run(&self, script: &str) -> anyhow::Result<Value> {
        let body = json!({ "script": script, "args": [] });
        self.command(reqwest::Method::POST, "/execute/sync", body)
            .await
    }

    /// Runs `script`, whose last argument is the callback to call with the result.
    pub async fn run_async(&self, script: &str) -> anyhow::Result<Value> {
        let body = json!({ "script": script, "args": [] });
        self.command(reqwest::Method::POST, "/execute/async", body)
            .await
    }

    /// When `OCI_PYPI_UI_SCREENSHOTS` names a directory, saves the page there as
    /// `<name>-desktop.png` and `<name>-phone.png` (for people to look at; no assertion).
    pub async fn save_screenshots(&self, name: &str) -> anyhow::Result<()> {
        use base64::Engine as _;
        let Some(dir) = std::env::var_os("OCI_PYPI_UI_SCREENSHOTS") else {
            return Ok(());
        };
        for (size, width, height) in [("desktop", 1200, 900), ("phone", 390, 844)] {
            let rect = json!({ "width": width, "height": height });
            self.command(reqwest::Method::POST, "/window/rect", rect)
                .await?;
            let png = self
                .command(reqwest::Method::GET, "/screenshot", Value::Null)
                .await?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(png.as_str().unwrap_or_default())?;
            std::fs::write(
                std::path::Path::new(&dir).join(format!("{name}-{size}.png")),
                bytes,
            )?;
        }
        let rect = json!({ "width": 1200, "height": 900 });
        self.command(reqwest::Method::POST, "/window/rect", rect)
            .await?;
        Ok(())
    }

    /// Grants the page a permission (`clipboard-read`, ...).
    pub async fn grant(&self, permission: &str) -> anyhow::Result<()> {
        let body = json!({ "descriptor": { "name": permission }, "state": "granted" });
        self.command(reqwest::Method::POST, "/permissions", body)
            .await
            .map(|_| ())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver and every browser process it started share its process group: end them
        // all (killing the driver alone would leave the browser running).
        if let Some(pid) = self.driver.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Element<'_> {
    /// Its rendered text.
    pub async fn text(&self) -> anyhow::Result<String> {
        let path = format!("/element/{}/text", self.id);
        let value = self
            .browser
            .command(reqwest::Method::GET, &path, Value::Null)
            .await?;
        Ok(value.as_str().unwrap_or_default().to_owned())
    }

    /// An attribute or property value.
    pub async fn property(&self, name: &str) -> anyhow::Result<Value> {
        let path = format!("/element/{}/property/{name}", self.id);
        self.browser
            .command(reqwest::Method::GET, &path, Value::Null)
            .await
    }

    /// Clicks it.
    pub async fn click(&self) -> anyhow::Result<()> {
        let path = format!("/element/{}/click", self.id);
        self.browser
            .command(reqwest::Method::POST, &path, json!({}))
            .await
            .map(|_| ())
    }

    /// Types `text` into it.
    pub async fn type_text(&self, text: &str) -> anyhow::Result<()> {
        let path = format!("/element/{}/value", self.id);
        self.browser
            .command(reqwest::Method::POST, &path, json!({ "text": text }))
            .await
            .map(|_| ())
    }
}
