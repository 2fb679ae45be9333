//! HTTPS for the receiver: the server certificate, and optionally the CA whose client certificates it requires,
//! as NiFi ListenHTTP does with an SSL context service and `needClientAuth`.

use std::fmt;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, RootCertStore, ServerConfig};

/// The receiver's certificate and key, and the CA of the client certificates it requires, all PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The server certificate first, then any intermediates.
    pub cert_chain_pem: String,
    /// The server certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: String,
    /// When set, every client must present a certificate signed by one of these CAs; the handshake fails otherwise.
    pub client_ca_pem: Option<String>,
}

impl TlsConfig {
    /// Server authentication only: any client that trusts the server's CA may connect.
    pub fn new(cert_chain_pem: impl Into<String>, key_pem: impl Into<String>) -> Self {
        Self {
            cert_chain_pem: cert_chain_pem.into(),
            key_pem: key_pem.into(),
            client_ca_pem: None,
        }
    }

    /// Requires a client certificate signed by this CA (mutual TLS).
    pub fn with_client_ca(mut self, client_ca_pem: impl Into<String>) -> Self {
        self.client_ca_pem = Some(client_ca_pem.into());
        self
    }

    pub fn requires_client_cert(&self) -> bool {
        self.client_ca_pem.is_some()
    }
}

impl fmt::Debug for TlsConfig {
    // The private key must never reach a log line, even through `{:?}` of a config.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field(
                "cert_chain_pem",
                &format_args!("<{} bytes>", self.cert_chain_pem.len()),
            )
            .field("key_pem", &"<redacted>")
            .field("client_ca", &self.client_ca_pem.is_some())
            .finish()
    }
}

/// What is wrong with a [`TlsConfig`]; never quotes the key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("the certificate chain is not PEM certificates: {0}")]
    CertChain(#[source] rustls::pki_types::pem::Error),
    #[error("the certificate chain holds no `-----BEGIN CERTIFICATE-----` block")]
    NoCertificate,
    #[error(
        "the private key is not a PEM private key (PKCS#8 `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY`)"
    )]
    Key,
    #[error("the client CA is not PEM certificates: {0}")]
    ClientCaPem(#[source] rustls::pki_types::pem::Error),
    #[error("the client CA holds no `-----BEGIN CERTIFICATE-----` block")]
    NoClientCa,
    #[error("a client CA certificate is not usable as a trust anchor: {0}")]
    ClientCaAnchor(#[source] rustls::Error),
    #[error("cannot require client certificates: {0}")]
    ClientVerifier(#[source] rustls::server::VerifierBuilderError),
    #[error("the certificate and key do not make a TLS server configuration: {0}")]
    Server(#[source] rustls::Error),
}

/// Builds the acceptor: TLS 1.2 at least (as the sink insists on too), HTTP/1.1 only, aws-lc-rs as the provider.
pub(crate) fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates(&config.cert_chain_pem).map_err(|e| match e {
        None => TlsError::NoCertificate,
        Some(e) => TlsError::CertChain(e),
    })?;
    let key =
        PrivateKeyDer::from_pem_slice(config.key_pem.as_bytes()).map_err(|_| TlsError::Key)?;
    // Named explicitly rather than taken from the process default, so that another crate in the graph enabling a
    // second provider cannot make building the config ambiguous.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Server)?;
    let builder = match &config.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(ca_pem) => {
            let mut roots = RootCertStore::empty();
            for ca in certificates(ca_pem).map_err(|e| match e {
                None => TlsError::NoClientCa,
                Some(e) => TlsError::ClientCaPem(e),
            })? {
                roots.add(ca).map_err(TlsError::ClientCaAnchor)?;
            }
            // Without `allow_unauthenticated`, a client without a certificate fails the handshake: needClientAuth.
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(TlsError::ClientVerifier)?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(TlsError::Server)?;
    // The server speaks HTTP/1.1 only; saying so stops a client that offers h2 from choosing it.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The certificates of a PEM text; `Err(None)` when it holds none.
fn certificates(
    pem: &str,
) -> Result<Vec<CertificateDer<'static>>, Option<rustls::pki_types::pem::Error>> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(Some)?;
    if certs.is_empty() {
        return Err(None);
    }
    Ok(certs)
}
