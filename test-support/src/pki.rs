//! Certificates made afresh by every test with rcgen, so nothing secret or expiring lives in the repository:
//! two unrelated CAs, a server certificate and client certificates, as PEM.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A certificate and its key, PEM.
pub struct Pem {
    pub cert: String,
    pub key: String,
}

/// Two unrelated CAs; the first signed the server's and a client's certificate, the second another client's.
pub struct Pki {
    pub ca: String,
    pub server: Pem,
    pub client: Pem,
    pub other_ca: String,
    pub other_client: Pem,
}

fn new_ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).expect("self-sign CA");
    (cert.pem(), Issuer::new(params, key))
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    name: &str,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> Pem {
    let key = KeyPair::generate().expect("leaf key");
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .expect("leaf params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// A fresh set: the server's certificate for 127.0.0.1 and localhost, a client's from the same CA, and a
/// stranger's from an unrelated one.
pub fn pki() -> Pki {
    let (ca, issuer) = new_ca("pipeline test CA");
    let (other_ca, other_issuer) = new_ca("unrelated CA");
    Pki {
        server: leaf(
            &issuer,
            "receiver",
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        ),
        client: leaf(
            &issuer,
            "aggregator",
            &["aggregator"],
            ExtendedKeyUsagePurpose::ClientAuth,
        ),
        other_client: leaf(
            &other_issuer,
            "stranger",
            &["stranger"],
            ExtendedKeyUsagePurpose::ClientAuth,
        ),
        ca,
        other_ca,
    }
}
