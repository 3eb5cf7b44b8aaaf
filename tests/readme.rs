//! The README's commands, run the way a newcomer runs them: `serve --dev` answering the curl
//! examples, and `lint examples/`. (The test command itself is what runs this file.)

mod common;
mod sarif_check;
mod tools;

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
    if tools::tool("curl", "apt-get install curl").is_none() {
        return;
    }
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

/// The README's "Use in CI" section.
fn use_in_ci() -> String {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let start = readme
        .find("### Use in CI\n")
        .expect("README has ### Use in CI");
    let rest = &readme[start..];
    let end = rest[4..].find("\n## ").map_or(rest.len(), |e| e + 4);
    rest[..end].to_string()
}

/// Runs `command` with `sh` in `dir`, the built tlsgate first on PATH, as a CI step runs it.
fn run_step(dir: &Path, command: &str) -> Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_tlsgate")).parent().unwrap();
    let mut path = vec![bin.to_path_buf()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    Command::new("sh")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", std::env::join_paths(path).unwrap())
        .output()
        .unwrap()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        let target = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &target);
        } else {
            std::fs::copy(&p, &target).unwrap();
        }
    }
}

#[test]
fn readme_github_actions_step_writes_uploadable_sarif() {
    let section = use_in_ci();
    let steps: Vec<&str> = section
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- run: "))
        .filter(|c| c.starts_with("tlsgate lint"))
        .collect();
    assert_eq!(steps.len(), 1, "one tlsgate step in:\n{section}");
    // The repository being checked: k8s/ holds the examples, as a user's manifests.
    let repo = tempfile::tempdir().unwrap();
    copy_dir(&common::root().join("examples"), &repo.path().join("k8s"));
    let o = run_step(repo.path(), steps[0]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.path().join("tlsgate.sarif")).unwrap()).unwrap();
    assert!(!sarif["runs"][0]["results"].as_array().unwrap().is_empty());
    sarif_check::assert_uploadable(&sarif, repo.path());
}

#[test]
fn readme_kustomize_command_writes_sarif_pointing_at_the_base() {
    let section = use_in_ci();
    let command = section
        .split('`')
        .find(|c| c.starts_with("tlsgate lint -k "))
        .expect("a `tlsgate lint -k ...` command in Use in CI");
    if tools::tool("kubectl", "install kubectl >= 1.27").is_none() {
        return;
    }
    let repo = tempfile::tempdir().unwrap();
    let fixture = common::root().join("tests/fixtures/kustomize");
    copy_dir(&fixture.join("base"), &repo.path().join("k8s/base"));
    copy_dir(&fixture.join("overlays"), &repo.path().join("k8s/overlays"));
    let o = run_step(repo.path(), command);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let sarif: serde_json::Value =
        serde_json::from_slice(&std::fs::read(repo.path().join("tlsgate.sarif")).unwrap()).unwrap();
    sarif_check::assert_uploadable(&sarif, repo.path());
    let uri = &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
        ["artifactLocation"]["uri"];
    assert_eq!(uri, "k8s/base/secrets.yaml");
}
