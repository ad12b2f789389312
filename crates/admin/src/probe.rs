//! `pdgate health`: asks a running gateway's `/readyz`, for container health checks in an image
//! without curl.

use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The address to ask for a listener bound to `listen`: a wildcard is asked on loopback.
pub(super) fn probe_addr(listen: &str) -> String {
    if let Some(port) = listen.strip_prefix("0.0.0.0:") {
        format!("127.0.0.1:{port}")
    } else if let Some(port) = listen.strip_prefix("[::]:") {
        format!("[::1]:{port}")
    } else {
        listen.to_owned()
    }
}

/// Why the admin listener did not answer ready.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr}: TLS: {source}")]
    Handshake {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr}: {source}")]
    Exchange {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr}/readyz answered `{status}`")]
    NotReady { addr: String, status: String },
    #[error("{addr}/readyz did not answer within 3 s")]
    Timeout { addr: String },
    #[error("cannot read {}: {source}", path.display())]
    ReadCert {
        path: std::path::PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("no certificate in {}", path.display())]
    NoCert { path: std::path::PathBuf },
    #[error("bad certificate {}: {source}", path.display())]
    BadCert {
        path: std::path::PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("{0}")]
    Tls(#[source] rustls::Error),
}

/// `Ok` when `GET /readyz` on the admin listener at `listen` answers 200 within 3 s; over TLS
/// when the listener has `[admin.tls]`, trusting exactly its configured certificate.
pub async fn probe_ready(listen: &str, tls: Option<&pdgate_http::Tls>) -> Result<(), ProbeError> {
    let addr = probe_addr(listen);
    let ask = async {
        let tcp = tokio::net::TcpStream::connect(&addr)
            .await
            .map_err(|source| ProbeError::Connect {
                addr: addr.clone(),
                source,
            })?;
        let head =
            match tls {
                None => exchange(tcp).await,
                Some(t) => {
                    let connector = pinned_connector(&t.cert)?;
                    let name = rustls_pki_types::ServerName::try_from("localhost")
                        .expect("a valid DNS name");
                    let stream = connector.connect(name, tcp).await.map_err(|source| {
                        ProbeError::Handshake {
                            addr: addr.clone(),
                            source,
                        }
                    })?;
                    exchange(stream).await
                }
            }
            .map_err(|source| ProbeError::Exchange {
                addr: addr.clone(),
                source,
            })?;
        let status = String::from_utf8_lossy(&head)
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        match status.split_whitespace().nth(1) {
            Some("200") => Ok(()),
            _ => Err(ProbeError::NotReady {
                addr: addr.clone(),
                status,
            }),
        }
    };
    tokio::time::timeout(Duration::from_secs(3), ask)
        .await
        .unwrap_or_else(|_| Err(ProbeError::Timeout { addr: addr.clone() }))
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) -> std::io::Result<Vec<u8>> {
    s.write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut head = Vec::new();
    // A TLS peer may close without close_notify after a complete answer: what arrived counts.
    match s.read_to_end(&mut head).await {
        Ok(_) => Ok(head),
        Err(_) if !head.is_empty() => Ok(head),
        Err(e) => Err(e),
    }
}

/// A TLS client that trusts the certificate in `cert` (its first) and nothing else: the probe
/// runs beside the gateway and reaches it on loopback, where the certificate's names do not apply.
fn pinned_connector(cert: &std::path::Path) -> Result<tokio_rustls::TlsConnector, ProbeError> {
    use rustls_pki_types::pem::PemObject;
    let path = || cert.to_owned();
    let leaf = rustls_pki_types::CertificateDer::pem_file_iter(cert)
        .map_err(|source| ProbeError::ReadCert {
            path: path(),
            source,
        })?
        .next()
        .ok_or_else(|| ProbeError::NoCert { path: path() })?
        .map_err(|source| ProbeError::BadCert {
            path: path(),
            source,
        })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(ProbeError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { leaf, provider }))
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

#[derive(Debug)]
struct Pinned {
    leaf: rustls_pki_types::CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        _intermediates: &[rustls_pki_types::CertificateDer<'_>],
        _server_name: &rustls_pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match end_entity.as_ref() == self.leaf.as_ref() {
            true => Ok(ServerCertVerified::assertion()),
            false => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_listener_is_asked_on_loopback() {
        assert_eq!(probe_addr("0.0.0.0:8081"), "127.0.0.1:8081");
        assert_eq!(probe_addr("[::]:8081"), "[::1]:8081");
        assert_eq!(probe_addr("10.0.0.5:8081"), "10.0.0.5:8081");
    }
}
