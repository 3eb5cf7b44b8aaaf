//! A real tlsgate server on 127.0.0.1:0 and a real rustls client for it.

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use tlsgate::analysis::Analyzer;
use tlsgate::lookup::Index;
use tlsgate::policy::Policy;
use tlsgate::webhook::{self, metrics::Metrics, tls, AppState, ServeOptions};
use tokio_rustls::rustls;

pub struct Server {
    pub addr: SocketAddr,
    /// Dropped (or sent) to shut the server down.
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub state: AppState,
}

/// Reads a PEM pair and serves it with `view` as the cluster view.
pub async fn start(cert_file: &Path, key_file: &Path, view: Index, clock: fn() -> i64) -> Server {
    start_with(cert_file, key_file, view, clock, ServeOptions::default()).await
}

/// [`start`] with these limits.
pub async fn start_with(
    cert_file: &Path,
    key_file: &Path,
    view: Index,
    clock: fn() -> i64,
    opts: ServeOptions,
) -> Server {
    let analyzer = Arc::new(Analyzer::new());
    let cert = std::fs::read(cert_file).unwrap();
    let key = std::fs::read(key_file).unwrap();
    let loaded = tls::load_pair(&cert, &key, tlsgate::wall_clock(), &analyzer)
        .expect("serving pair is valid");
    let synced = view.is_synced();
    let view = Arc::new(RwLock::new(view));
    let state = AppState {
        metrics: Arc::new(Metrics::new(view.clone(), clock)),
        view,
        policy: Arc::new(Policy::default()),
        analyzer,
        synced: Arc::new(AtomicBool::new(synced)),
        cert: tls::CertStore::new(loaded),
        clock,
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(webhook::serve_on(
        listener,
        state.clone(),
        opts,
        async move {
            let _ = stopped.await;
        },
    ));
    // Wait (bounded) until it accepts.
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Server { addr, stop, state }
}

pub fn roots(ca_pems: &[&[u8]]) -> Arc<rustls::RootCertStore> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        for c in CertificateDer::pem_slice_iter(pem) {
            roots.add(c.unwrap()).unwrap();
        }
    }
    Arc::new(roots)
}

pub fn client_config(
    roots: Arc<rustls::RootCertStore>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// One keep-alive HTTP/1.1 connection over rustls.
pub struct Conn {
    pub sender: http1::SendRequest<Full<Bytes>>,
    /// SHA-256 of the certificate the server presented.
    pub server_cert_sha256: [u8; 32],
    pub version: rustls::ProtocolVersion,
}

pub async fn connect(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> Result<Conn, String> {
    use sha2::Digest;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(cfg)
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (_, session) = tls.get_ref();
    let der = session
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("no server certificate")?;
    let server_cert_sha256 = sha2::Sha256::digest(der.as_ref()).into();
    let version = session.protocol_version().ok_or("no version")?;
    let (sender, conn) = http1::handshake(hyper_util::rt::TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(Conn {
        sender,
        server_cert_sha256,
        version,
    })
}

impl Conn {
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(u16, String), String> {
        self.sender.ready().await.map_err(|e| e.to_string())?;
        let req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }
}
