//! A webhook receiver for the tests: plain HTTP on 127.0.0.1 (allowed by
//! the server's `--webhook-allow-hosts loopback`), recording every request,
//! answering what the test scripted (a status, a slow answer, a redirect;
//! 200 when the script is empty), and verifying each signature with the
//! Standard Webhooks reference library, as a real receiver would.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::Value;

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// 200, after this long.
    Slow(Duration),
    /// 302 to this location.
    Redirect(String),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
    /// Whether `standardwebhooks` accepted it, when a secret was set.
    pub verified: Option<bool>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    secret: Mutex<Option<String>>,
}

#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    shared: Arc<Shared>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let shared = Arc::new(Shared::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = shared.clone();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                HttpServer::new(move || {
                    App::new().app_data(web::Data::new(state.clone())).default_service(web::to(receive))
                })
                .workers(2)
                .listen(listener)
                .unwrap()
                .run()
                .await
                .unwrap();
            });
        });
        Receiver { base, shared }
    }

    /// The URL of `path` on the receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Verify signatures with `secret` from now on.
    pub fn expect_secret(&self, secret: &str) {
        *self.shared.secret.lock().unwrap() = Some(secret.to_string());
    }

    /// Answer the next requests with `replies`, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared.script.lock().unwrap().extend(replies);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until at least `n` requests arrived; returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..500 {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected {n} webhook requests, got {:#?}", self.received());
    }
}

type State = web::Data<Arc<Shared>>;

async fn receive(state: State, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut headers = reqwest::header::HeaderMap::new();
    for (name, value) in req.headers() {
        if let (Ok(n), Ok(v)) = (
            reqwest::header::HeaderName::from_bytes(name.as_str().as_bytes()),
            reqwest::header::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    let secret = state.secret.lock().unwrap().clone();
    let verified = secret.map(|s| standardwebhooks::Webhook::new(&s).unwrap().verify(&body, &headers).is_ok());
    state.received.lock().unwrap().push(Received {
        path: req.path().to_string(),
        headers,
        body: body.to_vec(),
        verified,
    });
    let reply = state.script.lock().unwrap().pop_front();
    match reply {
        None => HttpResponse::Ok().body("ok"),
        Some(Reply::Status(code)) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(code).unwrap()).body("x".repeat(5000))
        }
        Some(Reply::Slow(wait)) => {
            actix_web::rt::time::sleep(wait).await;
            HttpResponse::Ok().finish()
        }
        Some(Reply::Redirect(to)) => HttpResponse::Found().insert_header(("location", to)).finish(),
    }
}
