//! Small HTTP servers on loopback that stand for what an endpoint can turn into: a redirector (a login or
//! maintenance page in front of NiFi) and the place it points to, which records every request it gets.

// Each test crate that includes this uses what it needs of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;

/// One request as the recorder saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body_len: usize,
}

/// A server that answers every request 200 and remembers it.
pub struct Recorder {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    pub async fn start() -> Recorder {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let log = log.clone();
                async move {
                    log.lock().expect("recorder lock").push(Seen {
                        method,
                        uri,
                        headers,
                        body_len: body.len(),
                    });
                    (StatusCode::OK, "welcome to the login page")
                }
            },
        );
        let (addr, task) = serve(app).await;
        Recorder {
            addr,
            seen,
            _task: task,
        }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().expect("recorder lock").clone()
    }
}

/// A server that answers every request with `status` and `Location: location`.
pub struct Redirector {
    pub addr: SocketAddr,
    _task: tokio::task::JoinHandle<()>,
}

impl Redirector {
    pub async fn start(status: StatusCode, location: String) -> Redirector {
        let app = Router::new().fallback(move || {
            let location = location.clone();
            async move { (status, [(header::LOCATION, location)], "moved").into_response() }
        });
        let (addr, task) = serve(app).await;
        Redirector { addr, _task: task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn serve(app: Router) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, task)
}
