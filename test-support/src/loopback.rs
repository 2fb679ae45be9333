//! Small HTTP servers on loopback that stand for what an endpoint can turn into: a redirector (a login or
//! maintenance page in front of NiFi) and the place it points to, which records every request it gets.

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

/// A TCP proxy that flips one bit in the middle of every PUT request's body, keeping its length: what a
/// faulty middlebox does. Everything else passes through unchanged, in both directions.
pub struct CorruptingProxy {
    pub addr: SocketAddr,
    flipped: Arc<std::sync::atomic::AtomicUsize>,
    _task: tokio::task::JoinHandle<()>,
}

impl CorruptingProxy {
    pub async fn start(upstream: SocketAddr) -> CorruptingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let flipped: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let counter = flipped.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, counter.clone()));
            }
        });
        CorruptingProxy {
            addr,
            flipped,
            _task: task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many request bodies were corrupted.
    pub fn flipped(&self) -> usize {
        self.flipped.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn relay(
    client: tokio::net::TcpStream,
    upstream: SocketAddr,
    flipped: Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(server) = tokio::net::TcpStream::connect(upstream).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let answers = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    });
    let mut corruptor = Corruptor::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client_read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let chunk = &mut buf[..n];
        if corruptor.pass(chunk) {
            flipped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if server_write.write_all(chunk).await.is_err() {
            break;
        }
    }
    let _ = server_write.shutdown().await;
    let _ = answers.await;
}

/// Follows the HTTP/1.1 requests of one connection (Content-Length bodies) and flips a bit of each PUT body.
#[derive(Default)]
struct Corruptor {
    head: Vec<u8>,
    body_left: u64,
    flip_at: Option<u64>,
}

impl Corruptor {
    /// Passes one chunk of the client's bytes, corrupting in place; true when it flipped a bit in it.
    fn pass(&mut self, chunk: &mut [u8]) -> bool {
        let mut flipped = false;
        let mut i = 0;
        while i < chunk.len() {
            if self.body_left > 0 {
                let n = self.body_left.min((chunk.len() - i) as u64);
                if let Some(at) = self.flip_at {
                    if at < n {
                        chunk[i + at as usize] ^= 0x20;
                        self.flip_at = None;
                        flipped = true;
                    } else {
                        self.flip_at = Some(at - n);
                    }
                }
                self.body_left -= n;
                i += n as usize;
                continue;
            }
            self.head.push(chunk[i]);
            i += 1;
            if self.head.ends_with(b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.head).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(0);
                self.body_left = length;
                self.flip_at = (head.starts_with("put ") && length > 0).then_some(length / 2);
                self.head.clear();
            }
        }
        flipped
    }
}
