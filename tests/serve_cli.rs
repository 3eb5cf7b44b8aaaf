//! `tlsgate serve` as a process: errors that name the flag or file, and a clean SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn tlsgate() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tlsgate"))
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
    let root = common::root();
    let cert = root.join("tests/fixtures/certs/dated/expired-2021.crt");
    let key = root.join("tests/fixtures/certs/dated/expired-2021.key");
    let o = tlsgate()
        .args([
            "serve",
            "--manifests",
            "examples",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert-file",
        ])
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .current_dir(&root)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("expired-2021.crt cannot be served"), "{err}");
    assert!(err.contains("cert-expired"), "{err}");
}

#[test]
fn mismatched_serving_key_is_refused() {
    let root = common::root();
    let o = tlsgate()
        .args([
            "serve",
            "--manifests",
            "examples",
            "--addr",
            "127.0.0.1:0",
            "--tls-cert-file",
        ])
        .arg(root.join("tests/fixtures/certs/dated/long-valid.crt"))
        .arg("--tls-key-file")
        .arg(root.join("tests/fixtures/certs/httpbin-san.key"))
        .current_dir(&root)
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
    let root = common::root();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = tlsgate()
        .args([
            "serve",
            "--manifests",
            "examples",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--tls-cert-file",
        ])
        .arg(root.join("tests/fixtures/certs/dated/long-valid.crt"))
        .arg("--tls-key-file")
        .arg(root.join("tests/fixtures/certs/dated/long-valid.key"))
        .current_dir(&root)
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
