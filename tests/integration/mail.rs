//! Expiry mail (API.md section 12) through a real SMTP peer: a minimal
//! SMTP sink in this file (EHLO, MAIL, RCPT, DATA, QUIT over TCP on
//! 127.0.0.1) that records each message; the server's `--smtp-url` points
//! at it, and a moved clock brings tokens to 7 days and 1 day from expiry.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::json;

use crate::api_helpers::*;
use crate::helpers::*;

/// One message as the sink received it.
#[derive(Debug, Clone)]
struct Received {
    to: Vec<String>,
    data: String,
}

struct Sink {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Sink {
    fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("smtp://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let store = received.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let store = store.clone();
                std::thread::spawn(move || session(stream, &store));
            }
        });
        Sink { url, received }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..500 {
            if self.received().len() >= n {
                return self.received();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("expected {n} mails, got {:#?}", self.received());
    }
}

/// One SMTP session: enough of RFC 5321 for a client that sends mail.
fn session(stream: TcpStream, store: &Mutex<Vec<Received>>) {
    let mut out = stream.try_clone().unwrap();
    let mut lines = BufReader::new(stream);
    let mut say = |text: &str| out.write_all(format!("{text}\r\n").as_bytes()).is_ok();
    say("220 sink.test ESMTP");
    let mut to = Vec::new();
    let mut line = String::new();
    while lines.read_line(&mut line).unwrap_or(0) > 0 {
        let command = line.trim_end().to_string();
        line.clear();
        let verb = command.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => say("250-sink.test\r\n250 8BITMIME"),
            "MAIL" => say("250 OK"),
            "RCPT" => {
                to.push(command.split(['<', '>']).nth(1).unwrap_or("").to_string());
                say("250 OK")
            }
            "DATA" => {
                say("354 go ahead");
                let mut data = String::new();
                while lines.read_line(&mut line).unwrap_or(0) > 0 {
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(&line);
                    line.clear();
                }
                line.clear();
                store.lock().unwrap().push(Received { to: std::mem::take(&mut to), data: decoded(&data) });
                say("250 queued")
            }
            "RSET" | "NOOP" => say("250 OK"),
            "QUIT" => {
                say("221 bye");
                return;
            }
            _ => say("502 not implemented"),
        };
    }
}

/// The message with a quoted-printable body decoded (lettre picks that
/// encoding for mostly-ASCII text such as a preview's `…`).
fn decoded(data: &str) -> String {
    if !data.contains("Content-Transfer-Encoding: quoted-printable") {
        return data.to_string();
    }
    let joined = data.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn args(sink: &Sink, offset: i64) -> Vec<String> {
    let mut args =
        vec!["--smtp-url".to_string(), sink.url.clone(), "--public-url".into(), "https://proctor.example.com".into()];
    if offset > 0 {
        args.extend(later(offset));
    }
    args
}

#[tokio::test]
async fn owners_get_one_mail_seven_days_and_one_day_before_a_token_expires() {
    let sink = Sink::start();
    let app = TestApp::spawn_with(SpawnOptions { args: args(&sink, 0), ..Default::default() }).await;
    let admin = admin_token(&app).await;
    create_project(&app, "web");
    let pat = post(
        &app,
        "/api/v1/tokens",
        &admin,
        json!({"name": "laptop", "permissions": ["runs:read"], "expires_in_days": 30}),
    )
    .await
    .expect(StatusCode::CREATED);
    let key = post(
        &app,
        "/api/v1/projects/web/keys",
        &admin,
        json!({"name": "CI upload", "permissions": ["runs:write"], "expires_in_days": 30}),
    )
    .await
    .expect(StatusCode::CREATED);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    assert!(sink.received().is_empty(), "30 days out: no mail");

    let app = app.restart_with(args(&sink, 24 * 86_400)).await;
    let got = sink.wait_for(2).await;
    let pat_mail = got.iter().find(|m| m.data.contains("laptop")).expect("the token's mail");
    assert_eq!(pat_mail.to, [ADMIN_EMAIL]);
    assert!(pat_mail.data.contains("Subject: [Proctor] Token laptop expires within 7 days"), "{}", pat_mail.data);
    let key_mail = got.iter().find(|m| m.data.contains("CI upload")).expect("the key's mail");
    assert_eq!(key_mail.to, [ADMIN_EMAIL], "a key's warning goes to those who manage users");
    assert!(key_mail.data.contains("https://proctor.example.com/projects/web/settings"), "{}", key_mail.data);
    for (mail, token) in [(pat_mail, &pat), (key_mail, &key)] {
        assert!(mail.data.contains(token["preview"].as_str().unwrap()), "names the token by its preview");
        assert!(!mail.data.contains(token["token"].as_str().unwrap()), "never the secret");
    }

    let app = app.restart_with(args(&sink, 24 * 86_400 + 3600)).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(sink.received().len(), 2, "each warning once");
    let _app = app.restart_with(args(&sink, 29 * 86_400 + 43_200)).await;
    let got = sink.wait_for(4).await;
    assert!(got[2..].iter().all(|m| m.data.contains("expires within a day")), "{got:#?}");
}

#[tokio::test]
async fn send_test_mail_checks_the_settings_and_says_what_is_missing() {
    let sink = Sink::start();
    let app = TestApp::spawn().await;
    let out = app.cli(&["admin", "send-test-mail", "--to", "ops@example.com", "--smtp-url", &sink.url]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got = sink.wait_for(1).await;
    assert_eq!(got[0].to, ["ops@example.com"]);
    assert!(got[0].data.contains("Subject: [Proctor] Test mail"), "{}", got[0].data);

    let missing = app.cli(&["admin", "send-test-mail", "--to", "ops@example.com"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--smtp-url"));
    let bad = app.cli(&["admin", "send-test-mail", "--to", "not an address", "--smtp-url", &sink.url]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an address"));
    // Nothing listens here: the failure is said, not hidden.
    let closed = app.cli(&["admin", "send-test-mail", "--to", "ops@example.com", "--smtp-url", "smtp://127.0.0.1:1"]);
    assert!(!closed.status.success());
    assert!(
        String::from_utf8_lossy(&closed.stderr).contains("SMTP server"),
        "{}",
        String::from_utf8_lossy(&closed.stderr)
    );
}
