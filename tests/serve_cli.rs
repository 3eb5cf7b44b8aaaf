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

/// Cluster mode (no --manifests) connects with `--kubeconfig`, over `KUBECONFIG`, as kubectl does.
#[test]
fn kubeconfig_flag_names_a_missing_file_and_wins_over_the_kubeconfig_env() {
    let root = common::root();
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.conf");
    let o = tlsgate()
        .args(["serve", "--addr", "127.0.0.1:0", "--tls-cert-file"])
        .arg(root.join("tests/fixtures/certs/dated/long-valid.crt"))
        .arg("--tls-key-file")
        .arg(root.join("tests/fixtures/certs/dated/long-valid.key"))
        .arg("--kubeconfig")
        .arg(&absent)
        .env(
            "KUBECONFIG",
            root.join("tests/fixtures/audit/kubeconfigs/admin.conf"),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("--kubeconfig {}: no such file", absent.display())),
        "{err}"
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[track_caller]
fn wait_listening(port: u16, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            panic!("serve did not start listening");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM, then the exit status within `within` (killed and failed past it).
#[track_caller]
fn terminate(child: &mut std::process::Child, within: Duration) -> std::process::ExitStatus {
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serve did not exit within {within:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr_of(child: &mut std::process::Child) -> String {
    use std::io::Read;
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn a_ca_certificate_as_the_serving_pair_is_served_with_a_warning() {
    let port = free_port();
    let mut child = serve(
        &format!("127.0.0.1:{port}"),
        "certs/chain/root.crt",
        "certs/chain/root.key",
    )
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_listening(port, &mut child);
    assert!(terminate(&mut child, Duration::from_secs(15)).success());
    let err = stderr_of(&mut child);
    assert!(err.contains("is a CA (basicConstraints CA:TRUE)"), "{err}");
    assert!(
        err.contains("does not name tlsgate.tlsgate-system.svc"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn a_fifo_in_place_of_tls_crt_is_logged_and_sigterm_still_exits() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = common::root().join("tests/fixtures/certs/dated");
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::copy(fixtures.join("long-valid.crt"), &cert).unwrap();
    std::fs::copy(fixtures.join("long-valid.key"), &key).unwrap();
    let port = free_port();
    let mut child = tlsgate()
        .args([
            "serve",
            "--manifests",
            "examples",
            "--cert-check-interval",
            "1",
        ])
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .arg("--tls-cert-file")
        .arg(&cert)
        .arg("--tls-key-file")
        .arg(&key)
        .current_dir(common::root())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(port, &mut child);
    std::fs::remove_file(&cert).unwrap();
    let made = Command::new("mkfifo").arg(&cert).status();
    if !made.is_ok_and(|s| s.success()) {
        let _ = child.kill();
        println!("skipped: mkfifo(1) is not available");
        return;
    }
    // The reloader looks at least every second.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "still serving"
    );
    assert!(terminate(&mut child, Duration::from_secs(15)).success());
    let err = stderr_of(&mut child);
    assert!(err.contains("is a FIFO, not a regular file"), "{err}");
    assert!(err.contains("cannot read the serving pair"), "{err}");
}

#[test]
fn a_duration_flag_without_a_unit_is_refused_naming_the_flag() {
    let o = serve(
        "127.0.0.1:0",
        "certs/dated/long-valid.crt",
        "certs/dated/long-valid.key",
    )
    .args(["--review-deadline", "3"])
    .output()
    .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--review-deadline"), "{err}");
    assert!(err.contains("needs a unit"), "{err}");
}
