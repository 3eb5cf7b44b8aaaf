//! Starting the real `tlsgate serve` binary and waiting for `/readyz`: shared by the load and
//! growth benchmarks.
#![allow(dead_code)]

use axum::body::Bytes;
use http_body_util::Full;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_rustls::rustls;

pub fn client_config(ca: &[u8]) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca) {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

pub fn wait_ready(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    rt: &tokio::runtime::Runtime,
    deadline: Duration,
) -> Option<Duration> {
    let start = Instant::now();
    rt.block_on(async {
        while start.elapsed() < deadline {
            if let Ok(Ok(tcp)) = tokio::time::timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
                if let Ok(tls) = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                {
                    let (mut s, conn) =
                        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                            .await
                            .unwrap();
                    tokio::spawn(conn);
                    let req = hyper::Request::get("/readyz")
                        .header("host", "localhost")
                        .body(Full::new(Bytes::new()))
                        .unwrap();
                    if let Ok(r) = s.send_request(req).await {
                        if r.status() == 200 {
                            return Some(start.elapsed());
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    })
}

pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port.
pub fn free_addr() -> SocketAddr {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}").parse().unwrap()
}

/// `tlsgate serve --manifests FILE` on `addr` with the dev serving pair in `certs`.
pub fn spawn_serve(addr: SocketAddr, certs: &Path, manifests: &Path, now: &str) -> Kill {
    Kill(
        Command::new(env!("CARGO_BIN_EXE_tlsgate"))
            .args([
                "serve",
                "--addr",
                &addr.to_string(),
                "--now",
                now,
                "--manifests",
            ])
            .arg(manifests)
            .arg("--tls-cert-file")
            .arg(certs.join("tls.crt"))
            .arg("--tls-key-file")
            .arg(certs.join("tls.key"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start tlsgate serve"),
    )
}
