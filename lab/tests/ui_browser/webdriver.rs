//! A small W3C WebDriver client over hyper: enough to drive headless Chromium through
//! chromedriver (new session, navigate, run a script, take a screenshot). chromedriver runs in
//! its own process group on a loopback port; dropping the [`Browser`] (also when a check
//! panics) kills the group, chromedriver and the Chromium it started, and removes Chromium's
//! profile directory.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// The window the screenshots show.
pub const WINDOW: (u32, u32) = (1500, 1000);
/// How long chromedriver may take to answer its status.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a program is on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}

/// Whether headless Chromium and chromedriver are installed (Debian: chromium, chromium-driver).
pub fn check_browser() -> Result<(), String> {
    for program in ["chromium", "chromedriver"] {
        if which(program).is_none() {
            return Err(format!(
                "{program} is not on PATH (apt-get install -y chromium chromium-driver)"
            ));
        }
    }
    Ok(())
}

pub struct Browser {
    driver: Child,
    /// Chromium's profile, removed on drop.
    profile: tempfile::TempDir,
    addr: SocketAddr,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session that resolves no name and talks to
    /// loopback only.
    pub async fn start() -> Result<Browser, String> {
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port for chromedriver: {e}"))?
            .port();
        let profile = tempfile::Builder::new()
            .prefix("probesim-ui-chromium-")
            .tempdir()
            .map_err(|e| format!("no profile directory for Chromium: {e}"))?;
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("chromedriver does not start: {e}"))?;
        let mut browser = Browser {
            driver,
            profile,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            session: String::new(),
        };
        let started = Instant::now();
        while browser.call("GET", "/status", None).await.is_err() {
            if started.elapsed() > START_TIMEOUT {
                return Err(format!(
                    "chromedriver on {port} did not answer within {START_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let args = [
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-extensions".to_owned(),
            "--disable-default-apps".to_owned(),
            "--disable-crash-reporter".to_owned(),
            "--disable-breakpad".to_owned(),
            format!("--user-data-dir={}", browser.profile.path().display()),
            // Nothing but loopback: no name resolves, anything else goes to a closed proxy port.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1".to_owned(),
            "--proxy-server=127.0.0.1:9".to_owned(),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": which("chromium").unwrap_or_default(), "args": args},
        }}});
        let value = browser.call("POST", "/session", Some(caps)).await?;
        browser.session = value["sessionId"]
            .as_str()
            .ok_or_else(|| format!("new session: no sessionId in {value}"))?
            .to_owned();
        Ok(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("chromedriver {}: {e}", self.addr))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("chromedriver handshake: {e}"))?;
        tokio::spawn(conn);
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?
            .to_bytes();
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{method} {path}: HTTP {status}, not JSON: {e}"))?;
        if !status.is_success() {
            return Err(format!(
                "{method} {path}: HTTP {status}: {}",
                value["value"]
            ));
        }
        Ok(value["value"].clone())
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(json!({ "url": url })),
        )
        .await
        .map(|_| ())
    }

    /// Runs `script` (a function body; `return` a JSON value) in the page.
    pub async fn eval(&self, script: &str) -> Result<Value, String> {
        let body = json!({ "script": script, "args": [] });
        self.call("POST", &self.session_path("/execute/sync"), Some(body))
            .await
    }

    /// Runs `script` until it returns something truthy, or fails after `timeout` with the last
    /// value.
    pub async fn wait_for(
        &self,
        what: &str,
        script: &str,
        timeout: Duration,
    ) -> Result<Value, String> {
        let started = Instant::now();
        loop {
            let value = self.eval(script).await?;
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value.as_array().is_none_or(|a| !a.is_empty())
                && value.as_str().is_none_or(|s| !s.is_empty());
            if truthy {
                return Ok(value);
            }
            if started.elapsed() > timeout {
                let page = self
                    .eval("return document.body.innerText.slice(0, 3000)")
                    .await
                    .unwrap_or_default();
                return Err(format!(
                    "{what}: not shown within {timeout:?}; last {value}; page:\n{page}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Saves a PNG screenshot of the window to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<(), String> {
        let value = self
            .call("GET", &self.session_path("/screenshot"), None)
            .await?;
        let encoded = value.as_str().ok_or("screenshot: not a string")?;
        let png = data_encoding::BASE64
            .decode(encoded.as_bytes())
            .map_err(|e| format!("screenshot: {e}"))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub async fn quit(mut self) {
        let _ = self.call("DELETE", &self.session_path(""), None).await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The group is chromedriver's own (process_group(0)): chromedriver and its Chromium.
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            let group = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
