//! Test harness: every test starts the real `proctor` binary on
//! `127.0.0.1:0` with its own temporary data directory and speaks HTTP to it.
//! The server's log is captured so tests can search it (e.g. for secrets).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{redirect, Client, Response, StatusCode};

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";
pub const PASSWORD: &str = "a long enough passphrase";

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_proctor")
}

/// A running server with its data directory and captured log.
pub struct TestApp {
    pub base: String,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
    child: Child,
    log: Arc<Mutex<String>>,
}

/// Options for [`TestApp::spawn_with`].
#[derive(Default)]
pub struct SpawnOptions {
    pub data_dir: Option<PathBuf>,
    pub args: Vec<String>,
    pub https: bool,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with(SpawnOptions::default()).await
    }

    pub async fn spawn_with(options: SpawnOptions) -> TestApp {
        let (dir, data_dir) = match options.data_dir {
            Some(path) => (None, path),
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("data");
                (Some(dir), path)
            }
        };
        let mut child = Command::new(binary())
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .args(&options.args)
            .env("RUST_LOG", "info")
            .env_remove("PROCTOR_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start proctor");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let log = log.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("Proctor listening on ").nth(1) {
                        let _ = tx.send(rest.split_whitespace().next().unwrap_or_default().to_string());
                    }
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let base = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!("server did not start; log:\n{}", log.lock().unwrap());
        });
        let base = if options.https { base.replace("http://", "https://") } else { base };
        TestApp { base, data_dir, _dir: dir, child, log }
    }

    /// Stops this server and starts another on the same data directory with
    /// `args`: e.g. `later(…)` to see what the server does days from now.
    pub async fn restart_with(mut self, args: Vec<String>) -> TestApp {
        self.terminate();
        let options = SpawnOptions { data_dir: Some(self.data_dir.clone()), args, https: false };
        let mut next = TestApp::spawn_with(options).await;
        next._dir = self._dir.take();
        next
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Runs an offline subcommand on this server's data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli_on(&self.data_dir, args, None)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        cli_on(&self.data_dir, args, Some(stdin))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("kill");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server with `kill -9` (no shutdown code runs) and reaps it.
    pub fn kill9(&mut self) {
        Command::new("kill").args(["-9", &self.child.id().to_string()]).status().expect("kill");
        let _ = self.child.wait();
    }

    /// A browser-like client: keeps cookies, does not follow redirects.
    pub fn browser(&self) -> Client {
        Client::builder()
            .cookie_store(true)
            .redirect(redirect::Policy::none())
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap()
    }

    pub async fn get(&self, client: &Client, path: &str) -> Response {
        client.get(self.url(path)).send().await.expect("GET")
    }

    /// The CSRF token of the form(s) on `path` (as this client's session sees it).
    pub async fn csrf(&self, client: &Client, path: &str) -> String {
        let body = self.get(client, path).await.text().await.unwrap();
        extract_csrf(&body).unwrap_or_else(|| panic!("no csrf_token on {path}:\n{body}"))
    }

    /// POSTs a form with the CSRF token taken from `form_page`.
    pub async fn submit(&self, client: &Client, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let csrf = self.csrf(client, form_page).await;
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", &csrf)];
        all.extend_from_slice(fields);
        client.post(self.url(action)).form(&all).send().await.expect("POST")
    }

    /// First run: creates the admin through `/setup`; returns their session.
    pub async fn setup_admin(&self) -> Client {
        let client = self.browser();
        let response = self
            .submit(
                &client,
                "/setup",
                "/setup",
                &[
                    ("email", ADMIN_EMAIL),
                    ("name", "Ada Admin"),
                    ("password", ADMIN_PASSWORD),
                    ("password_confirm", ADMIN_PASSWORD),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "setup failed: {}", response.text().await.unwrap());
        client
    }

    /// Logs in through `/login`; returns the client and the response status.
    pub async fn login(&self, email: &str, password: &str) -> (Client, StatusCode) {
        let client = self.browser();
        let response = self.submit(&client, "/login", "/login", &[("email", email), ("password", password)]).await;
        (client, response.status())
    }

    /// Creates a user with `role` through the admin UI.
    pub async fn create_user(&self, admin: &Client, email: &str, role: &str) {
        let response = self
            .submit(
                admin,
                "/settings/admin/users",
                "/settings/admin/users",
                &[("email", email), ("name", email.split('@').next().unwrap()), ("role", role), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "create user: {}", response.text().await.unwrap());
    }

    /// Creates a user and returns their logged-in session.
    pub async fn user_session(&self, admin: &Client, email: &str, role: &str) -> Client {
        self.create_user(admin, email, role).await;
        let (client, status) = self.login(email, PASSWORD).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        client
    }

    /// The id of the account with this email or name, read from the admin pages.
    pub async fn account_id(&self, admin: &Client, page: &str, needle: &str) -> String {
        let body = self.get(admin, page).await.text().await.unwrap();
        let row = body
            .split("<tr")
            .skip(1)
            .find(|row| row.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not on {page}"));
        let start = row.find(&format!("{page}/")).expect("row form") + page.len() + 1;
        row[start..].split('"').next().unwrap().to_string()
    }

    /// The audit page's body (for `audit:read` sessions).
    pub async fn audit_page(&self, client: &Client, query: &str) -> String {
        let response = self.get(client, &format!("/settings/admin/audit{query}")).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(Some(status)) = self.child.try_wait() {
                eprintln!("the server had exited ({status}); its log:\n{}", self.log());
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn cli_on(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(binary())
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("PROCTOR_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run proctor");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("proctor output")
}

/// The flag that runs a `proctor` process `secs` seconds in the future (its
/// clock moved, not the machine's): how tests see expiry, retention and
/// idle timeouts without sleeping.
pub fn later(secs: i64) -> Vec<String> {
    vec!["--clock-offset-seconds".into(), secs.to_string()]
}

pub fn extract_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf_token\" value=\"")? + "name=\"csrf_token\" value=\"".len();
    Some(html[at..].split('"').next()?.to_string())
}

pub fn location(response: &Response) -> String {
    response.headers().get("location").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
}

/// A single integer from the app's database, for tests about storage itself
/// (what no interface shows: rows left behind, sizes, orphans).
pub fn sql_count(app: &TestApp, query: &str) -> i64 {
    let conn = rusqlite::Connection::open(app.data_dir.join("proctor.db")).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(query, [], |r| r.get(0)).unwrap()
}
