//! What every browser test needs: Chromium and chromedriver (installed with
//! apt when missing), one WebDriver session per test, page helpers that fail
//! with the page's URL and text, screenshots (each checked by
//! `super::accessibility`), and failure evidence.

use std::fs::File;
use std::future::Future;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::{Method, Url};
use serde_json::{json, Value};

use super::accessibility::{assert_accessible, assert_reads_well, assert_reflows};
use crate::helpers::TestApp;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL_HINT: &str =
    "install them with `sudo apt-get update && sudo apt-get install -y chromium chromium-driver` (Debian/Ubuntu)";
/// How long a page may take to show what the test waits for.
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// Runs `flow(client, base_url, screenshot_dir)` in a fresh headless Chromium
/// against `app`. The flow runs as its own task so that a failed assertion
/// still lets us save `<name>-failure.png` and the logs, and close the
/// session, before the test fails with the flow's own panic.
pub async fn run_in_browser<F, Fut>(app: &TestApp, name: &str, flow: F)
where
    F: FnOnce(Client, String, PathBuf) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    ensure_browser_installed();
    let scratch = tempfile::tempdir().expect("temp dir");
    let driver = ChromeDriver::start(&scratch.path().join("chromedriver.log")).await;
    let client = driver.new_session(&scratch.path().join("chromium-profile")).await;
    let shots = screenshot_dir();
    let started = Instant::now();

    let outcome = tokio::spawn(flow(client.clone(), app.base.clone(), shots.clone())).await;
    if outcome.is_err() {
        save_failure_evidence(&client, &shots, &format!("{name}-failure.png")).await;
        eprintln!("server log:\n{}", app.log());
        eprintln!("chromedriver log:\n{}", driver.log());
    }
    let _ = client.close().await;
    drop(driver);
    if let Err(failure) = outcome {
        match failure.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(failure) => panic!("browser flow {name} did not finish: {failure}"),
        }
    }
    eprintln!("browser flow {name} took {:.1?}; screenshots in {}", started.elapsed(), shots.display());
}

// ---- page helpers: each panics with the page's URL and text on failure ----

pub fn must<T>(result: Result<T, CmdError>, what: &str) -> T {
    result.unwrap_or_else(|error| panic!("WebDriver failed to {what}: {error}"))
}

pub async fn wait_for(c: &Client, css: &str) -> Element {
    match c.wait().at_most(PAGE_TIMEOUT).for_element(Locator::Css(css)).await {
        Ok(element) => element,
        Err(error) => panic!("`{css}` did not appear ({error}) {}", describe(c).await),
    }
}

/// Opens `/login` and signs in as the test admin; ends on `/projects`.
pub async fn log_in_as_admin(c: &Client, base: &str) {
    must(c.goto(&format!("{base}/login")).await, "open /login");
    fill(c, "form[action='/login'] input[name='email']", crate::helpers::ADMIN_EMAIL).await;
    fill(c, "form[action='/login'] input[name='password']", crate::helpers::ADMIN_PASSWORD).await;
    submit(c, "form[action='/login']").await;
    wait_for_path(c, "/projects").await;
}

/// Waits until the browser is on `path` (ignoring the query string).
pub async fn wait_for_path(c: &Client, path: &str) {
    let deadline = Instant::now() + PAGE_TIMEOUT;
    loop {
        if must(c.current_url().await, "read the URL").path() == path {
            return;
        }
        if Instant::now() > deadline {
            panic!("never reached {path} {}", describe(c).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn assert_at(c: &Client, path: &str) {
    let url = must(c.current_url().await, "read the URL");
    assert_eq!(url.path(), path, "wrong page: {url}");
}

pub async fn body_text(c: &Client) -> String {
    let body = must(c.find(Locator::Css("body")).await, "find <body>");
    must(body.text().await, "read the page text")
}

pub async fn assert_text(c: &Client, needles: &[&str]) {
    let text = body_text(c).await;
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} is not on the page {}", describe(c).await);
    }
}

/// `/static/style.css` loaded (not blocked, e.g. by the CSP) and has rules.
pub async fn assert_styled(c: &Client) {
    let script = "const sheet = [...document.styleSheets].find(s => (s.href || '').endsWith('/static/style.css'));\
                  return sheet ? sheet.cssRules.length : -1;";
    let rules = must(c.execute(script, vec![]).await, "inspect the stylesheets").as_i64().unwrap_or(-1);
    assert!(rules > 0, "/static/style.css did not apply ({rules} rules) {}", describe(c).await);
}

pub async fn fill(c: &Client, css: &str, value: &str) {
    let input = wait_for(c, css).await;
    must(input.clear().await, &format!("clear {css}"));
    must(input.send_keys(value).await, &format!("type into {css}"));
}

pub async fn click(c: &Client, css: &str) {
    let element = wait_for(c, css).await;
    must(element.click().await, &format!("click {css}"));
}

/// Clicks the submit button of the form matching `form_css`, like a person would.
pub async fn submit(c: &Client, form_css: &str) {
    click(c, &format!("{form_css} button[type='submit']")).await;
}

/// Saves the whole page, not just the 1280×900 viewport: the window grows to
/// the page's height for the shot and shrinks back afterwards.
pub async fn screenshot(c: &Client, dir: &Path, name: &str) {
    let script = "return [document.documentElement.scrollHeight, window.innerHeight];";
    let heights = must(c.execute(script, vec![]).await, "measure the page");
    let (page, viewport) = (heights[0].as_u64().unwrap_or(0), heights[1].as_u64().unwrap_or(0));
    let (width, height) = must(c.get_window_size().await, "read the window size");
    let grow = page.saturating_sub(viewport).min(8_000);
    if grow > 0 {
        must(c.set_window_size(width as u32, (height + grow) as u32).await, "grow the window");
    }
    let png = c.screenshot().await;
    if grow > 0 {
        must(c.set_window_size(width as u32, height as u32).await, "restore the window");
    }
    let path = dir.join(name);
    std::fs::write(&path, must(png, &format!("take {name}")))
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    assert_accessible(c, name).await;
    assert_reads_well(c, dir, name).await;
    assert_reflows(c, name).await;
}

/// Where the browser is and what it shows, for failure messages.
pub async fn describe(c: &Client) -> String {
    let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("<no URL: {e}>"));
    let text = match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(e) => format!("<no body: {e}>"),
    };
    format!("at {url}; page text:\n{text}")
}

async fn save_failure_evidence(c: &Client, dir: &Path, name: &str) {
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(dir.join(name), png);
    }
    eprintln!("browser {}", describe(c).await);
}

/// `$CARGO_TARGET_DIR/screenshots` (or `target/screenshots` in the package), created if needed.
fn screenshot_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| manifest.join("target"), |dir| manifest.join(dir));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

// ---- Chrome DevTools Protocol, through chromedriver ----

/// `url::ParseError`, named through `reqwest::Url` (the `url` crate is not a dependency of its own).
type UrlError = <Url as std::str::FromStr>::Err;

/// A CDP command sent through chromedriver's `goog/cdp/execute` endpoint,
/// for what WebDriver itself cannot do (e.g. grant permissions).
#[derive(Debug)]
pub(super) struct Cdp {
    pub(super) method: &'static str,
    pub(super) params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base_url: &Url, session_id: Option<&str>) -> Result<Url, UrlError> {
        base_url.join(&format!("session/{}/goog/cdp/execute", session_id.unwrap_or_default()))
    }

    fn method_and_body(&self, _request_url: &Url) -> (Method, Option<String>) {
        (Method::POST, Some(json!({ "cmd": self.method, "params": self.params }).to_string()))
    }
}

/// Lets pages of `origin` read and write the clipboard without a prompt.
pub async fn grant_clipboard(c: &Client, origin: &str) {
    let grant = Cdp {
        method: "Browser.grantPermissions",
        params: json!({ "origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"] }),
    };
    must(c.issue_cmd(grant).await, "grant clipboard permissions over CDP");
    // The clipboard wants a focused document; a headless window that was
    // only typed into (no click) may not count as focused.
    let focus = Cdp { method: "Emulation.setFocusEmulationEnabled", params: json!({ "enabled": true }) };
    must(c.issue_cmd(focus).await, "emulate a focused page over CDP");
}

/// The clipboard's text, as the page sees it (`navigator.clipboard.readText()`).
pub async fn clipboard_text(c: &Client) -> Result<String, String> {
    let script = "const done = arguments[arguments.length - 1];\
                  navigator.clipboard.readText().then(text => done({ text }), e => done({ error: String(e) }));";
    let answer = must(c.execute_async(script, vec![]).await, "read the clipboard");
    match answer["text"].as_str() {
        Some(text) => Ok(text.to_string()),
        None => Err(answer["error"].as_str().unwrap_or("no answer").to_string()),
    }
}

/// Puts `text` on the clipboard from the page.
pub async fn set_clipboard_text(c: &Client, text: &str) {
    let script = "const [text, done] = arguments;\
                  navigator.clipboard.writeText(text).then(() => done(null), e => done(String(e)));";
    let error = must(c.execute_async(script, vec![json!(text)]).await, "write the clipboard");
    assert!(error.is_null(), "could not write the clipboard: {error}");
}

// ---- browser and driver ----

fn browser_installed() -> bool {
    Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists()
}

/// Makes sure Chromium and chromedriver exist, installing them with apt when
/// running as root. A mutex serialises the tests of this process and `flock`
/// the processes of this machine; the second one in finds the work done.
fn ensure_browser_installed() {
    static INSTALL: Mutex<()> = Mutex::new(());
    let _guard = INSTALL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if browser_installed() {
        return;
    }
    let root = std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false);
    assert!(root, "{CHROMEDRIVER} or {CHROMIUM} is missing and the tests do not run as root; {INSTALL_HINT}");
    eprintln!("installing chromium and chromium-driver with apt-get…");
    let script = format!(
        "test -x {CHROMEDRIVER} && test -x {CHROMIUM} || {{ apt-get update && apt-get install -y chromium chromium-driver; }}"
    );
    let output = Command::new("flock")
        .args(["/tmp/proctor-browser-install.lock", "sh", "-c", &script])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(output) if output.status.success() && browser_installed() => {}
        Ok(output) => panic!(
            "installing the browser failed ({}); {INSTALL_HINT}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
        Err(error) => panic!("could not run apt-get via flock ({error}); {INSTALL_HINT}"),
    }
}

/// A chromedriver on a free local port, in its own process group so that
/// dropping it also ends any Chromium it started.
struct ChromeDriver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl ChromeDriver {
    async fn start(log: &Path) -> ChromeDriver {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let log_file = File::create(log).expect("chromedriver log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log handle"))
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}; {INSTALL_HINT}"));
        let mut driver = ChromeDriver { child, url: format!("http://127.0.0.1:{port}"), log: log.to_path_buf() };
        driver.wait_until_ready().await;
        driver
    }

    async fn wait_until_ready(&mut self) {
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(response) = http.get(format!("{}/status", self.url)).send().await {
                if let Ok(status) = response.json::<Value>().await {
                    if status["value"]["ready"] == true {
                        return;
                    }
                }
            }
            if let Ok(Some(exit)) = self.child.try_wait() {
                panic!("chromedriver exited with {exit}; log:\n{}", self.log());
            }
            assert!(Instant::now() < deadline, "chromedriver did not answer on {}; log:\n{}", self.url, self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens a headless Chromium session with a fresh profile in `profile_dir`.
    async fn new_session(&self, profile_dir: &Path) -> Client {
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            // Without these, Chromium's own connections are refused by a closed network and slow it down.
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,900",
        ]
        .map(String::from);
        let mut args = args.to_vec();
        args.push(format!("--user-data-dir={}", profile_dir.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let capabilities = capabilities.as_object().expect("capabilities object").clone();
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("start a Chromium session: {e}; chromedriver log:\n{}", self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        // The process group is chromedriver's own id (`process_group(0)`), so this reaches only what it started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
