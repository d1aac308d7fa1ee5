//! Expiry mail (API.md section 12) through a real SMTP peer: a minimal
//! SMTP sink in this file (EHLO, MAIL, RCPT, DATA, QUIT over TCP on
//! 127.0.0.1, and STARTTLS or TLS from the start with a certificate of a
//! test CA) that records each message; the server's `--smtp-url` points
//! at it, and a moved clock brings tokens to 7 days and 1 day from expiry.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::Ordering::SeqCst;
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
    /// Whether it came over TLS.
    tls: bool,
}

/// How the sink speaks TLS.
#[derive(Clone, Copy, PartialEq)]
enum SinkTls {
    /// Plain SMTP only.
    None,
    /// Offers STARTTLS.
    StartTls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// What the sink's sessions share: the mails received, and how many
/// `MAIL` commands to refuse still (a server that is busy for a while).
#[derive(Default)]
struct Store {
    received: Mutex<Vec<Received>>,
    refuse: std::sync::atomic::AtomicUsize,
}

struct Sink {
    url: String,
    store: Arc<Store>,
    /// The test CA that signed the sink's certificate, as PEM.
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sink {
    fn start() -> Sink {
        Sink::start_with(SinkTls::None)
    }

    fn start_with(mode: SinkTls) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let (tls, ca_file) = crate::test_ca::server_tls(dir.path());
        let tls = Arc::new(tls);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match mode {
            SinkTls::None => format!("smtp://127.0.0.1:{port}"),
            SinkTls::StartTls => format!("smtp://127.0.0.1:{port}?tls=required"),
            SinkTls::Implicit => format!("smtps://127.0.0.1:{port}"),
        };
        let store: Arc<Store> = Arc::default();
        let shared = store.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (store, tls) = (shared.clone(), tls.clone());
                std::thread::spawn(move || session(stream, mode, tls, &store));
            }
        });
        Sink { url, store, ca_file, _dir: dir }
    }

    fn received(&self) -> Vec<Received> {
        self.store.received.lock().unwrap().clone()
    }

    /// Answer the next `n` mails' `MAIL` with 451 (try again later).
    fn refuse(&self, n: usize) {
        self.store.refuse.store(n, std::sync::atomic::Ordering::SeqCst);
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

/// One SMTP session on `stream`, in TLS `mode`.
fn session(stream: TcpStream, mode: SinkTls, tls: Arc<rustls::ServerConfig>, store: &Store) {
    let encrypted =
        |stream: TcpStream| rustls::StreamOwned::new(rustls::ServerConnection::new(tls.clone()).unwrap(), stream);
    match mode {
        SinkTls::Implicit => {
            conversation(encrypted(stream), true, false, true, store);
        }
        SinkTls::StartTls => {
            if let Some(plain) = conversation(stream, true, true, false, store) {
                conversation(encrypted(plain), false, false, true, store);
            }
        }
        SinkTls::None => {
            conversation(stream, true, false, false, store);
        }
    }
}

/// Enough of RFC 5321 (and 3207's STARTTLS, when `offer_tls`) for a client
/// that sends mail; greets first when `greet`. Returns the stream when the
/// client asked for STARTTLS, to go on encrypted.
fn conversation<S: Read + Write>(stream: S, greet: bool, offer_tls: bool, tls: bool, store: &Store) -> Option<S> {
    let mut lines = BufReader::new(stream);
    let say = |lines: &mut BufReader<S>, text: &str| {
        let out = lines.get_mut();
        out.write_all(format!("{text}\r\n").as_bytes()).and_then(|()| out.flush()).is_ok()
    };
    if greet {
        say(&mut lines, "220 sink.test ESMTP");
    }
    let mut to = Vec::new();
    let mut line = String::new();
    while lines.read_line(&mut line).unwrap_or(0) > 0 {
        let command = line.trim_end().to_string();
        line.clear();
        let verb = command.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" if offer_tls => say(&mut lines, "250-sink.test\r\n250-STARTTLS\r\n250 8BITMIME"),
            "EHLO" | "HELO" => say(&mut lines, "250-sink.test\r\n250 8BITMIME"),
            "STARTTLS" if offer_tls => {
                say(&mut lines, "220 go ahead");
                return Some(lines.into_inner());
            }
            "MAIL" if offer_tls => say(&mut lines, "530 must issue STARTTLS first"),
            "MAIL" => {
                let busy = store.refuse.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)).is_ok();
                say(&mut lines, if busy { "451 busy, try again later" } else { "250 OK" })
            }
            "RCPT" => {
                to.push(command.split(['<', '>']).nth(1).unwrap_or("").to_string());
                say(&mut lines, "250 OK")
            }
            "DATA" => {
                say(&mut lines, "354 go ahead");
                let mut data = String::new();
                while lines.read_line(&mut line).unwrap_or(0) > 0 {
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(&line);
                    line.clear();
                }
                line.clear();
                let mail = Received { to: std::mem::take(&mut to), data: decoded(&data), tls };
                store.received.lock().unwrap().push(mail);
                say(&mut lines, "250 queued")
            }
            "RSET" | "NOOP" => say(&mut lines, "250 OK"),
            "QUIT" => {
                say(&mut lines, "221 bye");
                return None;
            }
            _ => say(&mut lines, "502 not implemented"),
        };
    }
    None
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

#[tokio::test]
async fn mail_goes_over_starttls_or_tls_to_a_server_the_extra_ca_vouches_for_and_never_in_clear_when_asked() {
    let app = TestApp::spawn().await;
    for mode in [SinkTls::StartTls, SinkTls::Implicit] {
        let sink = Sink::start_with(mode);
        let ca = sink.ca_file.to_str().unwrap();
        let send = |extra: &[&str]| {
            let mut args = vec!["admin", "send-test-mail", "--to", "ops@example.com", "--smtp-url", &sink.url];
            args.extend_from_slice(extra);
            app.cli(&args)
        };
        // The test CA is no built-in root: refused, and said.
        let untrusted = send(&[]);
        assert!(!untrusted.status.success());
        let said = String::from_utf8_lossy(&untrusted.stderr);
        assert!(said.contains("SMTP server") && said.contains("UnknownIssuer"), "{said}");
        assert!(sink.received().is_empty(), "nothing sent to a server that could not be verified");

        let sent = send(&["--extra-ca-file", ca]);
        assert!(sent.status.success(), "{}", String::from_utf8_lossy(&sent.stderr));
        let got = sink.wait_for(1).await;
        assert!(got[0].tls, "over TLS ({})", sink.url);
        assert_eq!(got[0].to, ["ops@example.com"]);
    }
    // `?tls=required` against a server without STARTTLS: refused, nothing in clear.
    let plain = Sink::start();
    let url = format!("{}?tls=required", plain.url);
    let out = app.cli(&["admin", "send-test-mail", "--to", "ops@example.com", "--smtp-url", &url]);
    assert!(!out.status.success());
    assert!(plain.received().is_empty(), "no mail in clear when TLS is required");
}

#[tokio::test]
async fn the_server_sends_its_expiry_mail_over_starttls_with_the_extra_ca() {
    let sink = Sink::start_with(SinkTls::StartTls);
    let mut server_args = args(&sink, 0);
    server_args.extend(["--extra-ca-file".to_string(), sink.ca_file.to_str().unwrap().to_string()]);
    let app = TestApp::spawn_with(SpawnOptions { args: server_args.clone(), ..Default::default() }).await;
    let admin = admin_token(&app).await;
    post(&app, "/api/v1/tokens", &admin, json!({"name": "laptop", "permissions": ["runs:read"], "expires_in_days": 3}))
        .await
        .expect(StatusCode::CREATED);
    // Housekeeping decides the warnings at start, then every minute.
    let _app = app.restart_with(server_args).await;
    let got = sink.wait_for(1).await;
    assert!(got[0].tls && got[0].data.contains("laptop"), "{got:#?}");
}

#[tokio::test]
async fn a_mail_the_smtp_server_turned_away_is_sent_again_later_once() {
    let sink = Sink::start();
    let app = TestApp::spawn_with(SpawnOptions { args: args(&sink, 0), ..Default::default() }).await;
    let admin = admin_token(&app).await;
    post(&app, "/api/v1/tokens", &admin, json!({"name": "laptop", "permissions": ["runs:read"], "expires_in_days": 3}))
        .await
        .expect(StatusCode::CREATED);
    sink.refuse(1);
    let app = app.restart_with(args(&sink, 0)).await;
    poll(std::time::Duration::from_secs(10), "the first attempt turned away", || async {
        let failed = sql_count(&app, "SELECT count(*) FROM mail_deliveries WHERE attempt = 1 AND status = 'pending'");
        (failed == 1).then_some(())
    })
    .await;
    assert!(sink.received().is_empty());
    // The retry falls due within a minute of the server's clock.
    let app = app.restart_with(args(&sink, 120)).await;
    let got = sink.wait_for(1).await;
    assert!(got[0].data.contains("laptop"));
    poll(std::time::Duration::from_secs(10), "the second attempt recorded", || async {
        let sent = sql_count(&app, "SELECT count(*) FROM mail_deliveries WHERE status = 'succeeded' AND attempt = 2");
        (sent == 1).then_some(())
    })
    .await;
    assert_eq!(
        sql_count(&app, "SELECT count(*) FROM mail_deliveries WHERE status = 'pending'"),
        0,
        "nothing left to send"
    );
    assert_eq!(sink.received().len(), 1, "sent once");
}
