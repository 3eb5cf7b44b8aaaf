//! The README's commands, run the way a newcomer runs them: `serve --dev` answering the curl
//! examples, and `lint examples/`. (The test command itself is what runs this file.)

mod common;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn curl(dir: &Path, args: &[&str]) -> Output {
    Command::new("curl")
        .current_dir(dir)
        .args(["-s", "--cacert", "certs-dev/ca.crt"])
        .args(args)
        .output()
        .expect("curl is installed")
}

/// `cargo run --release -- serve --dev` from a fresh checkout: here a temp dir holding only
/// `examples/`, so `certs-dev/` is generated as on a new machine. The port is free rather than
/// 8443 so tests can run in parallel; `--now` pins the admission clock.
fn start_dev(dir: &Path) -> (Server, u16) {
    std::os::unix::fs::symlink(common::root().join("examples"), dir.join("examples")).unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .current_dir(dir)
        .args([
            "serve",
            "--dev",
            "--now",
            "2027-01-01T00:00:00Z",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if dir.join("certs-dev/ca.crt").exists() {
            let o = curl(dir, &[&format!("https://127.0.0.1:{port}/readyz")]);
            if String::from_utf8_lossy(&o.stdout).starts_with("ready") {
                return (server, port);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("serve --dev did not become ready within 20 s");
}

fn validate(dir: &Path, port: u16, example: &str) -> serde_json::Value {
    let o = curl(
        dir,
        &[
            "-H",
            "Content-Type: application/json",
            "--data",
            &format!("@examples/admission/{example}"),
            &format!("https://127.0.0.1:{port}/validate"),
        ],
    );
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

#[test]
fn dev_server_answers_the_readme_curl_examples() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, port) = start_dev(dir.path());

    let expired = validate(dir.path(), port, "secret-create-expired.json");
    assert_eq!(expired["response"]["allowed"], false);
    assert_eq!(expired["response"]["status"]["code"], 403);
    assert!(expired["response"]["status"]["message"]
        .as_str()
        .unwrap()
        .ends_with("[cert-expired]"));

    let mismatch = validate(dir.path(), port, "gateway-create-host-mismatch.json");
    assert!(mismatch["response"]["status"]["message"]
        .as_str()
        .unwrap()
        .contains("[host-not-covered]"));

    assert_eq!(
        validate(dir.path(), port, "gateway-create.json")["response"]["allowed"],
        true
    );
    assert_eq!(
        validate(dir.path(), port, "secret-create-valid.json")["response"]["allowed"],
        true
    );

    for path in ["/healthz", "/metrics"] {
        let o = curl(
            dir.path(),
            &[
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &format!("https://127.0.0.1:{port}{path}"),
            ],
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), "200", "{path}");
    }
}

#[test]
fn lint_examples_reports_the_seed_mistakes_and_exits_1() {
    let o = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .current_dir(common::root())
        .args(["lint", "examples/", "--now", "2027-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("deny [host-not-covered]"), "{text}");
    assert!(
        text.contains("objects checked, 8 with denials: 8 denials"),
        "{text}"
    );
}
