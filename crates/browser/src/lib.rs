//! Real headless Chromium for tests, driven over W3C WebDriver: Debian's
//! `chromedriver` started on a free port, a Chromium session with a
//! profile of its own, and the handful of commands the console's tests use
//! (navigate, find, click, type, run a script, take a screenshot).
//!
//! The browser is `/usr/bin/chromium` and the driver `/usr/bin/chromedriver`
//! (`VERDICT_CHROMIUM`, `VERDICT_CHROMEDRIVER` to use others), installed by
//! `.ci/run` from Debian's `chromium` and `chromium-driver`. Missing, a test
//! fails saying how to install them, unless `VERDICT_TEST_BROWSER=off`,
//! which [`Browser::start`] answers with `None` (and says so).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The Enter key, for [`Element::type_text`].
pub const ENTER: &str = "\u{E007}";
/// The Tab key.
pub const TAB: &str = "\u{E004}";

fn binary(variable: &str, default: &str, package: &str) -> String {
    let path = std::env::var(variable).unwrap_or_else(|_| default.to_owned());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing; these tests drive a real Chromium: apt-get install chromium chromium-driver \
         (as .ci/run does; package {package}), or set VERDICT_TEST_BROWSER=off to skip them"
    );
    path
}

/// One Chromium, with its own driver and profile; both end when dropped.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// Starts a headless Chromium, or `None` when browser tests are turned
    /// off. Panics, saying what to install, when Chromium is missing.
    pub async fn start() -> Option<Browser> {
        if std::env::var("VERDICT_TEST_BROWSER").is_ok_and(|v| v == "off") {
            eprintln!("VERDICT_TEST_BROWSER=off: skipping a browser test");
            return None;
        }
        let chromium = binary("VERDICT_CHROMIUM", "/usr/bin/chromium", "chromium");
        let chromedriver = binary("VERDICT_CHROMEDRIVER", "/usr/bin/chromedriver", "chromium-driver");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().await.ok();
            if let Some(r) = ready
                && r.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer on port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1280,1000", format!("--user-data-dir={}", profile.path().display())],
            },
        }}});
        let created: Value =
            http.post(format!("{base}/session")).json(&capabilities).send().await.unwrap().json().await.unwrap();
        let id = created["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {created}"));
        let session = format!("{base}/session/{id}");
        Some(Browser { http, session, driver, _profile: profile })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.session);
        let request = self.http.request(method, &url);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    /// Goes to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// The address of the page shown.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        self.call(reqwest::Method::GET, "/title", None).await.as_str().unwrap_or_default().to_owned()
    }

    /// The first element matching a CSS selector; panics if none does.
    pub async fn find(&self, css: &str) -> Element<'_> {
        let found =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        Element::from(self, &found)
    }

    /// Every element matching a CSS selector.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found =
            self.call(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css}))).await;
        found.as_array().into_iter().flatten().map(|e| Element::from(self, e)).collect()
    }

    /// The element that has the keyboard focus.
    pub async fn focused(&self) -> Element<'_> {
        let found = self.call(reqwest::Method::GET, "/element/active", None).await;
        Element::from(self, &found)
    }

    /// Runs `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": args}))).await
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1]` with its
    /// answer when done.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.call(reqwest::Method::POST, "/execute/async", Some(json!({"script": script, "args": args}))).await
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let text = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD.decode(text.as_str().unwrap_or_default()).unwrap_or_default()
    }

    /// With `VERDICT_SCREENSHOTS=DIR` set, saves a PNG of the window as
    /// `DIR/NAME.png` (how `docs/console/` is made); otherwise nothing.
    pub async fn screenshot_as(&self, name: &str) {
        let Ok(dir) = std::env::var("VERDICT_SCREENSHOTS") else { return };
        let png = self.screenshot().await;
        assert!(png.starts_with(b"\x89PNG"), "WebDriver sent no PNG");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }

    /// Waits (at most 10 s) until `script` returns true in the page.
    pub async fn wait_for(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.execute(script, vec![]).await != Value::Bool(true) {
            assert!(Instant::now() < deadline, "timed out waiting until {what} at {}", self.url().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An element of the page shown.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl<'a> Element<'a> {
    fn from(browser: &'a Browser, reference: &Value) -> Element<'a> {
        let id = reference[ELEMENT].as_str().unwrap_or_else(|| panic!("not an element reference: {reference}"));
        Element { browser, id: id.to_owned() }
    }

    /// Clicks it.
    pub async fn click(&self) {
        self.browser.call(reqwest::Method::POST, &format!("/element/{}/click", self.id), Some(json!({}))).await;
    }

    /// Types `text` into it (with [`ENTER`] or [`TAB`] for those keys).
    pub async fn type_text(&self, text: &str) {
        let body = json!({"text": text});
        self.browser.call(reqwest::Method::POST, &format!("/element/{}/value", self.id), Some(body)).await;
    }

    /// Its rendered text.
    pub async fn text(&self) -> String {
        let text = self.browser.call(reqwest::Method::GET, &format!("/element/{}/text", self.id), None).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// One of its attributes.
    pub async fn attribute(&self, name: &str) -> Option<String> {
        let value =
            self.browser.call(reqwest::Method::GET, &format!("/element/{}/attribute/{name}", self.id), None).await;
        value.as_str().map(str::to_owned)
    }
}
