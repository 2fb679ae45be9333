//! A NiFi ListenHTTP-compatible receiver: the endpoint of tests, local runs and the dev environment's mock NiFi.
//!
//! It answers like ListenHTTP (`POST`/`HEAD` on the content path, `GET <path>/healthcheck`, 503 for backpressure)
//! and checks each bundle the way the NiFi flow does: body hash against `x-content-sha256`, then every file against
//! `MANIFEST.json`. Accepted bundles land in the store directory as `<bundle_id>.tar.gz` plus a `<bundle_id>.json`
//! record. Faults (503, stall, dropped connection) can be switched on in-process or over `POST /_control/fault`.
//! With a [`TlsConfig`] it serves HTTPS, optionally requiring client certificates, as ListenHTTP with an SSL context.
//! [`Limits`] bound what a bad client can make it read, unpack and wait for.

mod auth;
mod fault;
mod limits;
mod server;
mod stats;
mod store;
mod tls;
mod verify;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use auth::BasicCredentials;
pub use fault::{DEFAULT_TIMEOUT_DELAY, Fault, FaultRequest, FaultStatus};
pub use limits::Limits;
pub use stats::Stats;
pub use store::{StoredBundle, read_stored_bundles};
pub use tls::{TlsConfig, TlsError};
pub use verify::VerifyError;

/// NiFi ListenHTTP's default base path.
pub const DEFAULT_PATH: &str = "/contentListener";

/// How to run a receiver.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Where accepted bundles and their records are written; created if missing.
    pub store_dir: PathBuf,
    /// The content path, [`DEFAULT_PATH`] unless the flow says otherwise.
    pub path: String,
    /// When set, the content path and the control API require these Basic credentials.
    pub credentials: Option<BasicCredentials>,
    /// When set, HTTPS instead of HTTP (and, with a client CA, mutual TLS).
    pub tls: Option<TlsConfig>,
    /// What a client may make it read, unpack and wait for.
    pub limits: Limits,
}

impl ReceiverConfig {
    /// A receiver on a free loopback port, with the default path and no credentials.
    pub fn new(store_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            store_dir: store_dir.into(),
            path: DEFAULT_PATH.to_owned(),
            credentials: None,
            tls: None,
            limits: Limits::default(),
        }
    }

    pub fn with_credentials(mut self, credentials: BasicCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// Why a receiver could not start or read its store.
#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error(
        "invalid content path `{0}`: it must start with `/`, not end with `/`, and not be under `/_control`"
    )]
    InvalidPath(String),
    #[error("cannot use the store directory {}: {source}", path.display())]
    Store {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the record {}: {source}", path.display())]
    Record {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid TLS configuration: {0}")]
    Tls(#[from] TlsError),
    #[error("cannot listen on {addr}: {source} (is another process using the port?)")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Starts a receiver on the current tokio runtime; it serves until [`RunningReceiver::shutdown`] or drop.
pub async fn spawn(config: ReceiverConfig) -> Result<RunningReceiver, ReceiverError> {
    let path = config.path.clone();
    if !path.starts_with('/')
        || (path.len() > 1 && path.ends_with('/'))
        || path.starts_with("/_control")
    {
        return Err(ReceiverError::InvalidPath(path));
    }
    // Checked before binding so that a bad certificate fails start-up instead of every handshake.
    let acceptor = config.tls.as_ref().map(tls::acceptor).transpose()?;
    let client_auth = config
        .tls
        .as_ref()
        .is_some_and(TlsConfig::requires_client_cert);
    tokio::fs::create_dir_all(&config.store_dir)
        .await
        .map_err(|source| ReceiverError::Store {
            path: config.store_dir.clone(),
            source,
        })?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ReceiverError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ReceiverError::Bind {
            addr: config.listen,
            source,
        })?;

    let (stop, stopped) = watch::channel(false);
    let health_path = format!("{}/healthcheck", path.trim_end_matches('/'));
    let shared = Arc::new(server::Shared {
        store_dir: config.store_dir.clone(),
        path,
        health_path,
        credentials: config.credentials,
        tls: acceptor.is_some(),
        limits: config.limits,
        faults: Default::default(),
        counters: Default::default(),
        shutdown: stopped,
    });
    let task = tokio::spawn(server::serve(listener, acceptor, shared.clone()));
    tracing::info!(%addr, path = %shared.path, store = %config.store_dir.display(),
        auth = shared.credentials.is_some(), tls = shared.tls, client_auth, "receiver listening");
    Ok(RunningReceiver {
        handle: ReceiverHandle { addr, shared },
        stop,
        task: Some(task),
    })
}

/// A cheap, cloneable view of a running receiver, for setting faults and reading stats from other tasks.
#[derive(Debug, Clone)]
pub struct ReceiverHandle {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
}

impl ReceiverHandle {
    /// The content URL, e.g. `http://127.0.0.1:PORT/contentListener` (`https://` with TLS).
    pub fn url(&self) -> String {
        format!("{}{}", self.base_url(), self.shared.path)
    }

    /// `http://ADDR` or `https://ADDR`, for the healthcheck and control endpoints.
    pub fn base_url(&self) -> String {
        let scheme = if self.shared.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn store_dir(&self) -> &Path {
        &self.shared.store_dir
    }

    /// Switches a fault on (or off with [`Fault::None`]) until changed.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.faults.set(fault, None);
    }

    /// Switches a fault on for `lasts`; afterwards the receiver behaves normally again by itself.
    pub fn set_fault_for(&self, fault: Fault, lasts: Duration) {
        self.shared.faults.set(fault, Some(lasts));
    }

    /// The fault in force now.
    pub fn fault(&self) -> Fault {
        self.shared.faults.current()
    }

    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The records of all bundles in the store, oldest first.
    pub fn stored_bundles(&self) -> Result<Vec<StoredBundle>, ReceiverError> {
        read_stored_bundles(&self.shared.store_dir)
    }

    /// Where the tar.gz of a stored bundle is.
    pub fn bundle_path(&self, bundle_id: &str) -> PathBuf {
        store::bundle_path(&self.shared.store_dir, bundle_id)
    }
}

/// A receiver serving in the background; stops when shut down or dropped.
#[derive(Debug)]
pub struct RunningReceiver {
    handle: ReceiverHandle,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl RunningReceiver {
    pub fn handle(&self) -> ReceiverHandle {
        self.handle.clone()
    }

    /// The content URL, e.g. `http://127.0.0.1:PORT/contentListener` (`https://` with TLS).
    pub fn url(&self) -> String {
        self.handle.url()
    }

    /// `http://ADDR` or `https://ADDR`, for the healthcheck and control endpoints.
    pub fn base_url(&self) -> String {
        self.handle.base_url()
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.addr()
    }

    pub fn store_dir(&self) -> &Path {
        self.handle.store_dir()
    }

    pub fn set_fault(&self, fault: Fault) {
        self.handle.set_fault(fault);
    }

    pub fn set_fault_for(&self, fault: Fault, lasts: Duration) {
        self.handle.set_fault_for(fault, lasts);
    }

    pub fn fault(&self) -> Fault {
        self.handle.fault()
    }

    pub fn stats(&self) -> Stats {
        self.handle.stats()
    }

    pub fn stored_bundles(&self) -> Result<Vec<StoredBundle>, ReceiverError> {
        self.handle.stored_bundles()
    }

    pub fn bundle_path(&self, bundle_id: &str) -> PathBuf {
        self.handle.bundle_path(bundle_id)
    }

    /// Stops accepting, lets requests in flight finish (stalled ones answer at once), and waits for the server.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take()
            && let Err(error) = task.await
        {
            tracing::warn!(%error, "receiver task ended abnormally");
        }
    }
}

impl Drop for RunningReceiver {
    fn drop(&mut self) {
        // Without this a forgotten receiver would keep its port and tasks for the rest of the runtime's life.
        let _ = self.stop.send(true);
    }
}
