//! `tlsgate serve` as a process: errors that name the flag or file, and a clean SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tlsgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlsgate"))
}

/// `tlsgate serve --manifests examples --addr ADDR` with a serving pair from tests/fixtures.
fn serve(addr: &str, cert: &str, key: &str) -> Command {
    let root = common::root();
    let mut c = tlsgate();
    c.args([
        "serve",
        "--manifests",
        "examples",
        "--addr",
        addr,
        "--tls-cert-file",
    ])
    .arg(root.join("tests/fixtures").join(cert))
    .arg("--tls-key-file")
    .arg(root.join("tests/fixtures").join(key))
    .current_dir(root);
    c
}

#[test]
fn missing_certificate_flag_is_named() {
    let o = tlsgate()
        .args(["serve", "--manifests", "examples"])
        .current_dir(common::root())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--tls-cert-file must be set"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn expired_serving_certificate_is_refused_naming_the_file_and_why() {
    let o = serve(
        "127.0.0.1:0",
        "certs/dated/expired-2021.crt",
        "certs/dated/expired-2021.key",
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("expired-2021.crt cannot be served"), "{err}");
    assert!(err.contains("cert-expired"), "{err}");
}

#[test]
fn mismatched_serving_key_is_refused() {
    let o = serve(
        "127.0.0.1:0",
        "certs/dated/long-valid.crt",
        "certs/httpbin-san.key",
    )
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("key-mismatch"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = serve(
        &format!("127.0.0.1:{port}"),
        "certs/dated/long-valid.crt",
        "certs/dated/long-valid.key",
    )
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "serve did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not exit within 15 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
