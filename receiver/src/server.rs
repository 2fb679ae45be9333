//! The HTTP side of the receiver: routing, faults, authentication and the streaming upload, served with hyper
//! directly so that the drop fault can close a connection without any response, over TCP or over TLS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use bundle::headers;
use bundle::manifest::Manifest;

use crate::auth::BasicCredentials;
use crate::fault::{Fault, FaultRequest, FaultSwitch};
use crate::limits::Limits;
use crate::stats::Counters;
use crate::store::{self, StoredBundle, TEMP_PREFIX, TEMP_SUFFIX};
use crate::verify::{self, Claimed, VerifyError};

type Resp = Response<Full<Bytes>>;

/// A request body left unread makes hyper close the connection, which a client still sending sees as an error
/// instead of our status; reading a bounded amount lets ordinary senders see the status.
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;
const CONTROL_BODY_LIMIT: usize = 64 * 1024;
/// Connections still busy this long after shutdown was asked for are cut.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// A client that connects and never finishes the handshake would otherwise hold a task (and a descriptor) forever;
/// hyper's header timeout only starts once the handshake is done.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a request handler needs, shared by all connections and the in-process handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub store_dir: PathBuf,
    pub path: String,
    pub health_path: String,
    pub credentials: Option<BasicCredentials>,
    /// Whether connections are served over TLS; only the URL scheme depends on it.
    pub tls: bool,
    pub limits: Limits,
    pub faults: FaultSwitch,
    pub counters: Counters,
    pub shutdown: watch::Receiver<bool>,
}

/// Returned by the service so that hyper tears the connection down without writing a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by the drop fault")]
pub(crate) struct Dropped;

pub(crate) async fn serve(
    listener: TcpListener,
    acceptor: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.clone();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped(&mut shutdown) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match &acceptor {
                    None => {
                        connections.spawn(serve_connection(stream, peer, shared.clone()));
                    }
                    // The handshake runs in the connection's task so that a slow client cannot hold up accepting.
                    Some(acceptor) => {
                        connections.spawn(serve_tls(acceptor.clone(), stream, peer, shared.clone()));
                    }
                },
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open after the grace period, cutting them"
        );
        connections.abort_all();
    }
    tracing::info!("receiver stopped");
}

async fn serve_tls(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.clone();
    let handshake = tokio::select! {
        result = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => result,
        _ = stopped(&mut shutdown) => return,
    };
    match handshake {
        Ok(Ok(stream)) => serve_connection(stream, peer, shared).await,
        Ok(Err(error)) => {
            shared.counters.tls_handshake_failed();
            // rustls's error names the cause (no client certificate, unknown issuer, alert received) and carries
            // no secret material, so it is logged as is.
            tracing::warn!(%peer, %error, "TLS handshake failed");
        }
        Err(_) => {
            shared.counters.tls_handshake_failed();
            tracing::warn!(%peer, timeout_s = HANDSHAKE_TIMEOUT.as_secs(), "TLS handshake timed out");
        }
    }
}

async fn serve_connection<S>(stream: S, peer: SocketAddr, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut shutdown = shared.shutdown.clone();
    let service = {
        let shared = shared.clone();
        hyper::service::service_fn(move |req| handle(shared.clone(), req, peer))
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(shared.limits.read_timeout);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stopped(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Content,
    Health,
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Resp, Dropped> {
    let path = req.uri().path().to_owned();
    if let Some(rest) = path.strip_prefix("/_control/") {
        let rest = rest.to_owned();
        return Ok(control(&shared, req, &rest).await);
    }
    shared.counters.request();
    let method = req.method().clone();
    let route = if path == shared.path {
        Route::Content
    } else if path == shared.health_path {
        Route::Health
    } else {
        shared.counters.rejected("not_found");
        drain(req.into_body()).await;
        return Ok(text(StatusCode::NOT_FOUND, "not found"));
    };
    let allowed = match route {
        Route::Content => method == Method::POST || method == Method::HEAD,
        Route::Health => method == Method::GET || method == Method::HEAD,
    };
    if !allowed {
        shared.counters.rejected("method_not_allowed");
        drain(req.into_body()).await;
        let mut resp = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        let allow = if route == Route::Content {
            "POST, HEAD"
        } else {
            "GET, HEAD"
        };
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return Ok(resp);
    }

    match shared.faults.current() {
        Fault::None => {}
        Fault::Unavailable => {
            shared.counters.faulted();
            tracing::info!(%peer, %method, %path, "fault 503: refusing");
            drain(req.into_body()).await;
            return Ok(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "fault injected: backpressure (503)",
            ));
        }
        Fault::Timeout { delay } => {
            shared.counters.faulted();
            tracing::info!(%peer, %method, %path, delay_ms = delay.as_millis() as u64, "fault timeout: stalling");
            let mut shutdown = shared.shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopped(&mut shutdown) => {}
            }
            return Ok(text(
                StatusCode::SERVICE_UNAVAILABLE,
                "fault injected: stalled, then 503",
            ));
        }
        Fault::Drop => {
            shared.counters.faulted();
            tracing::info!(%peer, %method, %path, "fault drop: closing the connection");
            return Err(Dropped);
        }
    }

    // The healthcheck stays open so that scripts can wait for readiness without the password.
    if route == Route::Content && !authorized(&shared, req.headers()) {
        shared.counters.unauthorized();
        tracing::warn!(%peer, %method, %path, "missing or wrong credentials");
        drain(req.into_body()).await;
        return Ok(unauthorized_response());
    }

    Ok(match (route, method) {
        (Route::Health, _) => text(StatusCode::OK, "OK"),
        (Route::Content, Method::HEAD) => text(StatusCode::OK, ""),
        (Route::Content, _) => receive(&shared, req, peer).await,
    })
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    match &shared.credentials {
        None => true,
        Some(creds) => creds.accepts(
            headers
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
        ),
    }
}

fn unauthorized_response() -> Resp {
    let mut resp = text(StatusCode::UNAUTHORIZED, "missing or wrong credentials");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Basic realm="receiver", charset="UTF-8""#),
    );
    resp
}

/// The request headers a bundle must carry, parsed.
#[derive(Debug)]
struct BundleHeaders {
    sha256: String,
    bundle_id: String,
    file_count: u64,
    filename: Option<String>,
    replay: bool,
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, String> {
    headers
        .get(name)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map_err(|_| format!("header {name} is not visible ASCII"))
        })
        .transpose()
}

fn parse_bundle_headers(headers: &HeaderMap) -> Result<BundleHeaders, String> {
    let sha256 = header_str(headers, headers::CONTENT_SHA256)?
        .ok_or_else(|| format!("header {} is missing", headers::CONTENT_SHA256))?;
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "header {} must be 64 hex digits",
            headers::CONTENT_SHA256
        ));
    }
    let bundle_id = header_str(headers, headers::BUNDLE_ID)?
        .ok_or_else(|| format!("header {} is missing", headers::BUNDLE_ID))?;
    if !store::valid_bundle_id(bundle_id) {
        return Err(format!(
            "header {} must be 1-200 of [A-Za-z0-9._-], not starting with a dot",
            headers::BUNDLE_ID
        ));
    }
    let file_count = header_str(headers, headers::FILE_COUNT)?
        .ok_or_else(|| format!("header {} is missing", headers::FILE_COUNT))?
        .parse::<u64>()
        .map_err(|_| {
            format!(
                "header {} must be a non-negative integer",
                headers::FILE_COUNT
            )
        })?;
    let filename = header_str(headers, headers::FILENAME)?.map(str::to_owned);
    let replay =
        header_str(headers, headers::REPLAY)?.is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Ok(BundleHeaders {
        sha256: sha256.to_ascii_lowercase(),
        bundle_id: bundle_id.to_owned(),
        file_count,
        filename,
        replay,
    })
}

/// A `Content-Encoding` NiFi would act on, named for the rejection.
fn content_encoding_problem(headers: &HeaderMap) -> Option<String> {
    let mut problem = None;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let value = String::from_utf8_lossy(value.as_bytes());
        for token in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if token.eq_ignore_ascii_case("identity") {
                continue;
            }
            if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                return Some(
                    "Content-Encoding: gzip is refused: NiFi ListenHTTP would gunzip the body and corrupt the \
                     tar.gz bundle; send it as Content-Type: application/gzip without Content-Encoding"
                        .to_owned(),
                );
            }
            problem = Some(format!(
                "Content-Encoding: {token} is not supported: send the bundle as is, without Content-Encoding"
            ));
        }
    }
    problem
}

struct Rejection {
    status: StatusCode,
    reason: &'static str,
    message: String,
}

impl Rejection {
    fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }
}

async fn receive(shared: &Shared, req: Request<Incoming>, peer: SocketAddr) -> Resp {
    match receive_inner(shared, req, peer).await {
        Ok(resp) => resp,
        Err(rejection) => {
            shared.counters.rejected(rejection.reason);
            tracing::warn!(%peer, status = rejection.status.as_u16(), reason = rejection.reason, problem = %rejection.message, "bundle rejected");
            text(rejection.status, &rejection.message)
        }
    }
}

async fn receive_inner(
    shared: &Shared,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Resp, Rejection> {
    let (parts, body) = req.into_parts();
    let claimed = match admit(&parts.headers, &shared.limits) {
        Ok(claimed) => claimed,
        Err(rejection) => {
            // Draining a bounded amount lets the sender see the status.
            drain(body).await;
            return Err(rejection);
        }
    };
    let spooled = spool(shared, body).await?;
    if spooled.sha256 != claimed.sha256 {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "hash_mismatch",
            format!(
                "{} is {} but the {}-byte body hashes to {}",
                headers::CONTENT_SHA256,
                claimed.sha256,
                spooled.size,
                spooled.sha256
            ),
        ));
    }
    let manifest = verify_upload(&spooled, &claimed, shared.limits).await?;
    let record = StoredBundle {
        bundle_id: claimed.bundle_id.clone(),
        sha256: spooled.sha256,
        size: spooled.size,
        replay: claimed.replay,
        filename: claimed.filename.clone(),
        received_at: OffsetDateTime::now_utc(),
        manifest,
    };
    let store_dir = shared.store_dir.clone();
    let to_persist = record.clone();
    let upload = spooled.file;
    tokio::task::spawn_blocking(move || store::persist(&store_dir, upload, &to_persist))
        .await
        .map_err(|e| internal("the store task failed", &e))?
        .map_err(|e| internal("cannot store the bundle", &e))?;

    let duplicate = shared.counters.stored(&record.bundle_id);
    tracing::info!(
        %peer,
        bundle_id = %record.bundle_id,
        size = record.size,
        files = record.manifest.files.len(),
        replay = record.replay,
        duplicate,
        "bundle stored"
    );
    let body = serde_json::json!({
        "bundle_id": record.bundle_id,
        "sha256": record.sha256,
        "size": record.size,
        "duplicate": duplicate,
    });
    Ok(json(StatusCode::OK, &body))
}

/// What the headers alone decide, before a byte of the body is written: its encoding, the bundle's headers, and
/// a declared length above the limit.
fn admit(headers: &HeaderMap, limits: &Limits) -> Result<BundleHeaders, Rejection> {
    if let Some(problem) = content_encoding_problem(headers) {
        return Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content_encoding",
            problem,
        ));
    }
    let claimed = parse_bundle_headers(headers)
        .map_err(|problem| Rejection::new(StatusCode::BAD_REQUEST, "bad_header", problem))?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes) {
        return Err(too_large(limits));
    }
    Ok(claimed)
}

fn too_large(limits: &Limits) -> Rejection {
    Rejection::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "the body is larger than {} bytes, this receiver's limit (--max-body-bytes)",
            limits.max_body_bytes
        ),
    )
}

/// A failure of this receiver, not of the request.
fn internal(what: &str, error: &dyn std::fmt::Display) -> Rejection {
    tracing::error!(%error, "{what}");
    Rejection::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "store_failed",
        format!("{what}: {error}"),
    )
}

/// A body written to a temp file in the store, with its size and SHA-256.
struct Spooled {
    file: tempfile::NamedTempFile,
    size: u64,
    sha256: String,
}

/// Streams the body to a temp file chunk by chunk, so memory stays flat whatever the bundle's size; a body
/// that passes the limit or stalls is refused as soon as it does.
async fn spool(shared: &Shared, mut body: Incoming) -> Result<Spooled, Rejection> {
    let limits = shared.limits;
    let upload = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .tempfile_in(&shared.store_dir)
        .map_err(|e| internal("cannot create a temp file in the store", &e))?;
    let file = upload
        .reopen()
        .map_err(|e| internal("cannot open the temp file", &e))?;
    let mut writer = BufWriter::with_capacity(256 * 1024, tokio::fs::File::from_std(file));
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    loop {
        // A client that stops sending (or trickles) must not hold the connection and the temp file for ever.
        let Ok(frame) = tokio::time::timeout(limits.read_timeout, body.frame()).await else {
            return Err(Rejection::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_stalled",
                format!(
                    "no part of the body arrived for {} s (this receiver's --read-timeout-seconds) after {size} bytes",
                    limits.read_timeout.as_secs()
                ),
            ));
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| {
            Rejection::new(
                StatusCode::BAD_REQUEST,
                "incomplete_body",
                format!("reading the body failed: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            size += data.len() as u64;
            if size > limits.max_body_bytes {
                drain(body).await;
                return Err(too_large(&limits));
            }
            hasher.update(&data);
            writer
                .write_all(&data)
                .await
                .map_err(|e| internal("cannot write the temp file", &e))?;
        }
    }
    writer
        .flush()
        .await
        .map_err(|e| internal("cannot write the temp file", &e))?;
    drop(writer);
    Ok(Spooled {
        file: upload,
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Unpacks the spooled bundle (off the async threads) and checks its manifest against its content and headers.
async fn verify_upload(
    spooled: &Spooled,
    claimed: &BundleHeaders,
    limits: Limits,
) -> Result<Manifest, Rejection> {
    let upload_path = spooled.file.path().to_owned();
    let (bundle_id, file_count) = (claimed.bundle_id.clone(), claimed.file_count);
    let verified = tokio::task::spawn_blocking(move || {
        verify::verify_bundle(
            &upload_path,
            &Claimed {
                bundle_id: &bundle_id,
                file_count,
            },
            &limits,
        )
    })
    .await
    .map_err(|e| internal("the verification task failed", &e))?;
    verified.map_err(|e| {
        let (status, reason) = match e {
            VerifyError::Unreadable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_bundle"),
            VerifyError::UnpackedTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "unpacked_too_large")
            }
            VerifyError::TooManyEntries(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "too_many_entries")
            }
            _ => (StatusCode::UNPROCESSABLE_ENTITY, "manifest_mismatch"),
        };
        Rejection::new(status, reason, e.to_string())
    })
}

async fn control(shared: &Shared, req: Request<Incoming>, rest: &str) -> Resp {
    // The control API reveals bundle ids and can stop deliveries, so it sits behind the same credentials.
    if !authorized(shared, req.headers()) {
        shared.counters.unauthorized();
        drain(req.into_body()).await;
        return unauthorized_response();
    }
    match (req.method().clone(), rest) {
        (Method::GET, "stats") => json(StatusCode::OK, &shared.counters.snapshot()),
        (Method::GET, "fault") => json(StatusCode::OK, &shared.faults.status()),
        (Method::POST, "fault") => {
            let raw = match Limited::new(req.into_body(), CONTROL_BODY_LIMIT)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!("cannot read the body: {e}"),
                    );
                }
            };
            let request: FaultRequest = match serde_json::from_slice(&raw) {
                Ok(request) => request,
                Err(e) => {
                    return text(
                        StatusCode::BAD_REQUEST,
                        &format!(
                            r#"expected {{"mode":"none"|"503"|"timeout"|"drop","seconds":N?,"delay_ms":N?}}: {e}"#
                        ),
                    );
                }
            };
            match request.parse() {
                Ok((fault, lasts)) => {
                    shared.faults.set(fault, lasts);
                    tracing::info!(
                        mode = fault.mode(),
                        lasts_s = lasts.map(|d| d.as_secs_f64()),
                        "fault set"
                    );
                    json(StatusCode::OK, &shared.faults.status())
                }
                Err(problem) => text(StatusCode::BAD_REQUEST, &problem),
            }
        }
        (_, "stats" | "fault") => {
            drain(req.into_body()).await;
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed")
        }
        _ => {
            drain(req.into_body()).await;
            text(StatusCode::NOT_FOUND, "not found")
        }
    }
}

/// Resolves once shutdown is asked for; the guard `wait_for` returns is dropped here so callers' futures stay `Send`.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn drain(mut body: Incoming) {
    let mut read = 0usize;
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(data) = frame.data_ref() {
            read += data.len();
            if read > DRAIN_LIMIT {
                break;
            }
        }
    }
}

fn text(status: StatusCode, message: &str) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(if message.is_empty() {
        String::new()
    } else {
        format!("{message}\n")
    })));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Resp {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut resp = Response::new(Full::new(Bytes::from(body)));
            *resp.status_mut() = status;
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("cannot encode the answer: {e}"),
        ),
    }
}
