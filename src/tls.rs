//! TLS, as s2-lite offers it: `--tls-self` (a self-signed certificate for localhost,
//! 127.0.0.1 and ::1, made at start-up) or `--tls-cert` with `--tls-key` (PEM files). ALPN
//! offers `h2` and `http/1.1`; after the handshake the connection is served exactly as a
//! cleartext one (the preface sniff still decides the protocol), so every route, limit and
//! deadline is the same on both.

use futures_rustls::rustls;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// What the acceptor needs to serve TLS: the rustls config, shared by every shard.
pub type TlsConfig = Arc<rustls::ServerConfig>;

/// Which certificate the server presents.
pub enum Certificate<'a> {
    /// Made now, for localhost, 127.0.0.1 and ::1 (clients must skip verification, e.g.
    /// `S2_SSL_NO_VERIFY=1`).
    SelfSigned,
    /// A PEM certificate chain and its PEM private key.
    Files { cert: &'a Path, key: &'a Path },
}

pub fn server_config(cert: Certificate<'_>) -> Result<TlsConfig, String> {
    let (chain, key) = match cert {
        Certificate::SelfSigned => self_signed()?,
        Certificate::Files { cert, key } => from_files(cert, key)?,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS: the certificate and key do not make a server: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn self_signed() -> Result<CertAndKey, String> {
    let names = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("TLS: making a self-signed certificate: {e}"))?;
    let key = PrivateKeyDer::try_from(made.signing_key.serialize_der())
        .map_err(|e| format!("TLS: self-signed key: {e}"))?;
    Ok((vec![made.cert.der().clone()], key))
}

fn from_files(cert: &Path, key: &Path) -> Result<CertAndKey, String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("TLS: reading {}: {e}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            format!(
                "TLS: {} is not a PEM certificate chain: {e}",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!("TLS: no certificate in {}", cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("TLS: no PEM private key in {}: {e}", key.display()))?;
    Ok((chain, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_config_offers_h2_and_http1() {
        let c = server_config(Certificate::SelfSigned).unwrap();
        assert_eq!(c.alpn_protocols, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    }

    #[test]
    fn bad_files_are_refused_with_their_names() {
        let dir = std::env::temp_dir().join(format!("strand-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let junk = dir.join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = server_config(Certificate::Files {
            cert: &junk,
            key: &junk,
        })
        .err()
        .unwrap();
        assert!(e.contains("junk.pem"), "{e}");
        let missing = dir.join("missing.pem");
        let e = server_config(Certificate::Files {
            cert: &missing,
            key: &junk,
        })
        .err()
        .unwrap();
        assert!(e.contains("missing.pem"), "{e}");
        // A real pair from rcgen, written as PEM, loads.
        let made = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        assert!(server_config(Certificate::Files {
            cert: &cert,
            key: &key
        })
        .is_ok());
    }
}
