//! A real browser walks the first-run path: headless Chromium, driven over
//! WebDriver (chromedriver + fantoccini), sets up the admin, creates a
//! project, logs out, fails a login and logs back in. Each page is also saved
//! as a PNG under `target/screenshots/` for a human to look at.

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;

use crate::helpers::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const INSTALL_HINT: &str =
    "install them with `sudo apt-get update && sudo apt-get install -y chromium chromium-driver` (Debian/Ubuntu)";
/// How long a page may take to show what the test waits for.
const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn a_real_browser_sets_up_creates_a_project_logs_out_and_logs_back_in() {
    ensure_browser_installed();
    let app = TestApp::spawn().await;
    let scratch = tempfile::tempdir().expect("temp dir");
    let driver = ChromeDriver::start(&scratch.path().join("chromedriver.log")).await;
    let client = driver.new_session(&scratch.path().join("chromium-profile")).await;
    let shots = screenshot_dir();
    let started = Instant::now();

    // The flow runs as its own task so that a failed assertion still lets us
    // take a screenshot and close the session before the test fails.
    let outcome = tokio::spawn(first_run_flow(client.clone(), app.base.clone(), shots.clone())).await;
    if outcome.is_err() {
        save_failure_evidence(&client, &shots).await;
        eprintln!("server log:\n{}", app.log());
        eprintln!("chromedriver log:\n{}", driver.log());
    }
    let _ = client.close().await;
    drop(driver);
    if let Err(failure) = outcome {
        match failure.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(failure) => panic!("browser flow did not finish: {failure}"),
        }
    }
    eprintln!("browser flow took {:.1?}; screenshots in {}", started.elapsed(), shots.display());
}

/// Setup → empty projects → new project → projects table → log out → wrong password → log in.
async fn first_run_flow(c: Client, base: String, shots: PathBuf) {
    // `/` leads to first-run setup while no user exists.
    must(c.goto(&format!("{base}/")).await, "open /");
    wait_for_path(&c, "/setup").await;
    wait_for(&c, "form[action='/setup']").await;
    assert_text(&c, &["Welcome", "Create the first administrator"]).await;
    assert_styled(&c).await;
    screenshot(&c, &shots, "setup.png").await;
    fill(&c, "input[name='email']", ADMIN_EMAIL).await;
    fill(&c, "input[name='name']", "Ada Admin").await;
    fill(&c, "input[name='password']", ADMIN_PASSWORD).await;
    fill(&c, "input[name='password_confirm']", ADMIN_PASSWORD).await;
    submit(&c, "form[action='/setup']").await;

    // Setup logs the admin in and shows the empty project list.
    wait_for_path(&c, "/projects").await;
    wait_for(&c, "form[action='/projects']").await;
    assert_text(&c, &["Projects", "No projects yet", "Ada Admin", "Log out"]).await;
    assert_styled(&c).await;
    screenshot(&c, &shots, "projects-empty.png").await;

    // Creating a project lands on its page.
    fill(&c, "form[action='/projects'] input[name='name']", "Web App").await;
    fill(&c, "form[action='/projects'] input[name='slug']", "web-app").await;
    submit(&c, "form[action='/projects']").await;
    wait_for_path(&c, "/projects/web-app").await;
    let heading = must(wait_for(&c, "main h1").await.text().await, "read the project heading");
    assert_eq!(heading, "Web App", "project page heading");
    assert_text(&c, &["web-app", "No runs yet"]).await;
    assert_styled(&c).await;
    screenshot(&c, &shots, "project.png").await;

    // The project list now has it in its table.
    must(c.goto(&format!("{base}/projects")).await, "open /projects");
    let link = wait_for(&c, "table a[href='/projects/web-app']").await;
    assert_eq!(must(link.text().await, "read the project link"), "Web App");
    let page = body_text(&c).await;
    assert!(!page.contains("No projects yet"), "empty state shown next to a project:\n{page}");
    screenshot(&c, &shots, "projects.png").await;

    // "Log out" in the top bar ends the session.
    submit(&c, "form[action='/logout']").await;
    wait_for_path(&c, "/login").await;
    wait_for(&c, "form[action='/login']").await;
    assert_text(&c, &["Log in"]).await;
    must(c.goto(&format!("{base}/projects")).await, "open /projects after logout");
    wait_for_path(&c, "/login").await;

    // A wrong password re-renders the login page with one message.
    fill(&c, "form[action='/login'] input[name='email']", ADMIN_EMAIL).await;
    fill(&c, "form[action='/login'] input[name='password']", "not the password").await;
    submit(&c, "form[action='/login']").await;
    let error = wait_for(&c, ".flash.err").await;
    assert_eq!(must(error.text().await, "read the login error"), "Wrong email or password.");
    assert_at(&c, "/login").await;
    assert_styled(&c).await;
    screenshot(&c, &shots, "login-error.png").await;

    // The right password gets back in.
    fill(&c, "form[action='/login'] input[name='email']", ADMIN_EMAIL).await;
    fill(&c, "form[action='/login'] input[name='password']", ADMIN_PASSWORD).await;
    submit(&c, "form[action='/login']").await;
    wait_for_path(&c, "/projects").await;
    wait_for(&c, "table a[href='/projects/web-app']").await;
    assert_text(&c, &["Web App", "Ada Admin", "Log out"]).await;
}

// ---- page helpers: each panics with the page's URL and text on failure ----

fn must<T>(result: Result<T, CmdError>, what: &str) -> T {
    result.unwrap_or_else(|error| panic!("WebDriver failed to {what}: {error}"))
}

async fn wait_for(c: &Client, css: &str) -> Element {
    match c.wait().at_most(PAGE_TIMEOUT).for_element(Locator::Css(css)).await {
        Ok(element) => element,
        Err(error) => panic!("`{css}` did not appear ({error}) {}", describe(c).await),
    }
}

/// Waits until the browser is on `path` (ignoring the query string).
async fn wait_for_path(c: &Client, path: &str) {
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

async fn assert_at(c: &Client, path: &str) {
    let url = must(c.current_url().await, "read the URL");
    assert_eq!(url.path(), path, "wrong page: {url}");
}

async fn body_text(c: &Client) -> String {
    let body = must(c.find(Locator::Css("body")).await, "find <body>");
    must(body.text().await, "read the page text")
}

async fn assert_text(c: &Client, needles: &[&str]) {
    let text = body_text(c).await;
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} is not on the page {}", describe(c).await);
    }
}

/// `/static/style.css` loaded (not blocked, e.g. by the CSP) and has rules.
async fn assert_styled(c: &Client) {
    let script = "const sheet = [...document.styleSheets].find(s => (s.href || '').endsWith('/static/style.css'));\
                  return sheet ? sheet.cssRules.length : -1;";
    let rules = must(c.execute(script, vec![]).await, "inspect the stylesheets").as_i64().unwrap_or(-1);
    assert!(rules > 0, "/static/style.css did not apply ({rules} rules) {}", describe(c).await);
}

async fn fill(c: &Client, css: &str, value: &str) {
    let input = wait_for(c, css).await;
    must(input.clear().await, &format!("clear {css}"));
    must(input.send_keys(value).await, &format!("type into {css}"));
}

/// Clicks the submit button of the form matching `form_css`, like a person would.
async fn submit(c: &Client, form_css: &str) {
    let button = wait_for(c, &format!("{form_css} button[type='submit']")).await;
    must(button.click().await, &format!("click the button of {form_css}"));
}

async fn screenshot(c: &Client, dir: &Path, name: &str) {
    let png = must(c.screenshot().await, &format!("take {name}"));
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Where the browser is and what it shows, for failure messages.
async fn describe(c: &Client) -> String {
    let url = c.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("<no URL: {e}>"));
    let text = match c.find(Locator::Css("body")).await {
        Ok(body) => body.text().await.unwrap_or_default(),
        Err(e) => format!("<no body: {e}>"),
    };
    format!("at {url}; page text:\n{text}")
}

async fn save_failure_evidence(c: &Client, dir: &Path) {
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(dir.join("failure.png"), png);
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
                if let Ok(status) = response.json::<serde_json::Value>().await {
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
