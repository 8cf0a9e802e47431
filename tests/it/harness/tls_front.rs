//! A TLS terminator in front of the server under test, on `127.0.0.1:<free port>`, with a
//! self-signed certificate made per run. uv asks for the trusted publishing endpoints at
//! `https://<upload host>/_/oidc/...` whatever the upload URL's scheme, so an end-to-end
//! `uv publish --trusted-publishing` needs the server behind https; clients trust the
//! certificate through `SSL_CERT_FILE=<cert_path>`.
//!
//! Each connection is decrypted and its bytes copied to the backend as they are. Runs in its
//! own thread and runtime; stops when dropped.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::background::{self, Background};

pub struct TlsFront {
    /// First, so that it stops before anything it uses goes.
    server: Background,
    dir: tempfile::TempDir,
}

impl TlsFront {
    /// Terminates TLS and forwards to `backend` (`127.0.0.1:PORT`).
    pub fn start(backend: String) -> anyhow::Result<TlsFront> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        let cert = params.self_signed(&key)?;
        let dir = tempfile::Builder::new().prefix("oci-pypi-tls-").tempdir()?;
        std::fs::write(dir.path().join("cert.pem"), cert.pem())?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )?;
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let server = Background::run(
            background::bind("the TLS front")?,
            "tls-front",
            2,
            |listener| accept_loop(listener, acceptor, backend),
        )?;
        Ok(TlsFront { dir, server })
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.port())
    }

    /// The certificate to trust (PEM).
    pub fn cert_path(&self) -> PathBuf {
        self.dir.path().join("cert.pem")
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, acceptor: TlsAcceptor, backend: String) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let backend = backend.clone();
        tokio::spawn(async move {
            let Ok(mut client) = acceptor.accept(client).await else {
                return;
            };
            let Ok(mut server) = tokio::net::TcpStream::connect(&backend).await else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
    }
}
