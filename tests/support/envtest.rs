//! A real control plane for end-to-end tests: etcd + kube-apiserver (+ kube-controller-manager
//! on demand) on 127.0.0.1, found the way controller-runtime's envtest finds them: the
//! directory in `KUBEBUILDER_ASSETS` (what `setup-envtest use -p path` prints, or
//! `../shared/envtest/unpack.sh target/envtest`).
//!
//! Unset `KUBEBUILDER_ASSETS`: each test skips, and the binary prints one line saying how to
//! enable them. `TLSGATE_E2E_REQUIRED=1` (set by `.ci/run`) turns a missing or failing control
//! plane into a test failure instead.
//!
//! Every process runs in its own process group under a tiny `bash` guard whose watchdog reads
//! the guard's stdin: when the test binary exits — normally, by panic, or SIGKILLed — the pipe
//! closes (and its pid goes), the watchdog SIGKILLs the process and the guard removes its data
//! directory. So a control plane shared by all the tests of one binary (a `static`, never
//! dropped) leaves nothing behind either.
#![allow(dead_code)] // each test binary uses a part

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// How long a control-plane component may take to become ready.
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub const ENABLE_HINT: &str = "export KUBEBUILDER_ASSETS=$(../shared/envtest/unpack.sh target/envtest) (or `setup-envtest use -p path`)";

fn required() -> bool {
    std::env::var("TLSGATE_E2E_REQUIRED").is_ok_and(|v| v == "1")
}

/// The assets directory, or `None` (after printing the one skip line) when e2e tests are not
/// enabled. Panics when they are required but the directory is not usable.
pub fn assets() -> Option<PathBuf> {
    static SKIP_LINE: Once = Once::new();
    match std::env::var_os("KUBEBUILDER_ASSETS") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            for bin in ["etcd", "kube-apiserver", "kubectl"] {
                assert!(
                    dir.join(bin).is_file(),
                    "KUBEBUILDER_ASSETS={} holds no {bin}",
                    dir.display()
                );
            }
            Some(dir)
        }
        _ => {
            assert!(
                !required(),
                "TLSGATE_E2E_REQUIRED=1 but KUBEBUILDER_ASSETS is unset: {ENABLE_HINT}"
            );
            SKIP_LINE.call_once(|| {
                eprintln!("skipping end-to-end tests against a real API server: {ENABLE_HINT}")
            });
            None
        }
    }
}

/// The value in `cell`, made by `init` on first use. A failed `init` fails every later caller
/// with its message at once, instead of each test trying (and timing out) again.
pub fn shared_or_panic<T>(
    cell: &'static OnceLock<Result<T, String>>,
    init: impl FnOnce() -> T,
) -> &'static T {
    let made = cell.get_or_init(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(init)).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    match made {
        Ok(v) => v,
        Err(e) => panic!("shared test setup failed earlier: {e}"),
    }
}

/// A port on 127.0.0.1 nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// One guarded process; killed (whole process group) on drop.
pub struct Proc {
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `bin args` under the guard, stdout and stderr to `log`. `cleanup` is removed
    /// after the process ends.
    pub fn spawn(
        bin: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: PathBuf,
        cleanup: Option<&Path>,
    ) -> Proc {
        use std::os::unix::process::CommandExt;
        let out = std::fs::File::create(&log).expect("log file");
        // The watchdog is a process of its own (so it outlives a killed guard) and SIGKILLs
        // the process as soon as the test binary closes the guard's stdin (dropped, exited,
        // panicked or killed: the kernel closes the pipe) or its pid is gone. SIGKILL, not
        // SIGTERM: kube-apiserver and etcd take their time over a SIGTERM, long enough to
        // outlive the test run. The guard ends when the process does, so an exit is seen.
        let script = r#"bin=$1; shift; rm_dir=$1; shift; owner=$1; shift
exec 3<&0
"$bin" "$@" </dev/null 3<&- & child=$!
(
  while kill -0 "$child" 2>/dev/null; do
    if ! kill -0 "$owner" 2>/dev/null; then kill -KILL "$child" 2>/dev/null; break; fi
    read -r -t 1 _ <&3
    if [ $? -le 128 ]; then kill -KILL "$child" 2>/dev/null; break; fi
  done
) </dev/null &
exec 3<&-
wait "$child"
[ -n "$rm_dir" ] && rm -rf "$rm_dir"
exit 0"#;
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(script)
            .arg("guard")
            .arg(bin)
            .arg(
                cleanup
                    .map(|p| p.as_os_str().to_owned())
                    .unwrap_or_default(),
            )
            .arg(std::process::id().to_string())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .process_group(0);
        for var in [
            "https_proxy",
            "HTTPS_PROXY",
            "http_proxy",
            "HTTP_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ] {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Proc { child, log }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops the process and waits for its guard (so its port is free again).
    pub fn stop(&mut self) {
        // Closing the guard's stdin makes its watchdog SIGKILL the process; the guard then
        // exits.
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }

    /// The process `spawn` started (not its guard), once it runs: for reading its
    /// `/proc/PID/status` (RSS). Linux only.
    pub fn pid(&self) -> Option<u32> {
        let guard = self.child.id().to_string();
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces, so split after the last ')'.
            let (comm, rest) = stat.rsplit_once(')')?;
            let ppid = rest.split_whitespace().nth(1)?;
            (ppid == guard && !comm.ends_with("(bash")).then_some(pid)
        })
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The control plane's PKI: one CA signs the API server's serving certificate and the admin
/// client certificate (`O=system:masters`); a separate key signs service-account tokens.
pub struct Pki {
    pub ca_pem: String,
    pub dir: PathBuf,
}

fn cert_params(cn: &str, org: Option<&str>) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    if let Some(o) = org {
        p.distinguished_name.push(DnType::OrganizationName, o);
    }
    let start = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    p.not_before = start;
    p.not_after = start + time::Duration::days(2);
    p
}

impl Pki {
    pub fn generate(dir: &Path) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = cert_params("envtest CA", None);
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let serving_key = KeyPair::generate().unwrap();
        let mut serving = cert_params("127.0.0.1", None);
        serving.subject_alt_names = vec![
            rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()),
            rcgen::SanType::DnsName("localhost".try_into().unwrap()),
        ];
        serving.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let serving_cert = serving.signed_by(&serving_key, &issuer).unwrap();

        let admin_key = KeyPair::generate().unwrap();
        let mut admin = cert_params("envtest-admin", Some("system:masters"));
        admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let admin_cert = admin.signed_by(&admin_key, &issuer).unwrap();

        let sa_key = KeyPair::generate().unwrap();
        let files = [
            ("ca.crt", ca_cert.pem()),
            ("apiserver.crt", serving_cert.pem()),
            ("apiserver.key", serving_key.serialize_pem()),
            ("admin.crt", admin_cert.pem()),
            ("admin.key", admin_key.serialize_pem()),
            ("sa.key", sa_key.serialize_pem()),
            // The API server reads verification keys only as public keys (or PKCS#1/SEC1).
            ("sa.pub", sa_key.public_key_pem()),
        ];
        for (name, pem) in files {
            std::fs::write(dir.join(name), pem).unwrap();
        }
        Pki {
            ca_pem: ca_cert.pem(),
            dir: dir.to_path_buf(),
        }
    }

    pub fn file(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A kubeconfig for `server` trusting `ca_pem`, with one user given as YAML lines under `user:`.
pub fn kubeconfig(server: &str, ca_pem: &str, context: &str, user_yaml: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: envtest\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {context}\n  user:\n{user_yaml}\ncontexts:\n- name: {context}\n  context:\n    cluster: envtest\n    user: {context}\ncurrent-context: {context}\n",
        ca = b64(ca_pem),
    )
}

/// etcd + kube-apiserver, and the kubectl that talks to them.
pub struct ControlPlane {
    pub assets: PathBuf,
    pub dir: PathBuf,
    pub pki: Pki,
    pub port: u16,
    pub etcd_port: u16,
    /// Admin (`system:masters`) kubeconfig.
    pub admin: PathBuf,
    // Dropped in this order: the API server before etcd (whose guard removes `dir`).
    apiserver: Mutex<Proc>,
    etcd: Mutex<Proc>,
    restarts: Mutex<u32>,
}

impl ControlPlane {
    /// The control plane shared by every test in this binary, started on first use. `None`
    /// when e2e tests are not enabled (see [`assets`]).
    pub fn shared() -> Option<&'static ControlPlane> {
        static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
        let assets = assets()?;
        Some(shared_or_panic(&SHARED, || ControlPlane::start(assets)))
    }

    /// A control plane of its own (for tests that restart the API server).
    pub fn own() -> Option<ControlPlane> {
        assets().map(ControlPlane::start)
    }

    pub fn start(assets: PathBuf) -> ControlPlane {
        // Kept, not removed on drop: the guard of the etcd process removes it when it ends.
        let dir = tempfile::Builder::new()
            .prefix("tlsgate-envtest-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let pki = Pki::generate(&dir.join("pki"));
        let etcd_port = free_port();
        let peer_port = free_port();
        let etcd = Proc::spawn(
            &assets.join("etcd"),
            &[
                format!("--data-dir={}", dir.join("etcd").display()),
                format!("--listen-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--advertise-client-urls=http://127.0.0.1:{etcd_port}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}"),
                format!("--initial-cluster=default=http://127.0.0.1:{peer_port}"),
                "--unsafe-no-fsync=true".into(),
            ],
            &[],
            dir.join("etcd.log"),
            Some(&dir),
        );
        let port = free_port();
        let admin = dir.join("admin.kubeconfig");
        std::fs::write(
            &admin,
            kubeconfig(
                &format!("https://127.0.0.1:{port}"),
                &pki.ca_pem,
                "envtest-admin",
                &format!(
                    "    client-certificate: {}\n    client-key: {}",
                    pki.file("admin.crt"),
                    pki.file("admin.key")
                ),
            ),
        )
        .unwrap();
        let cp = ControlPlane {
            apiserver: Mutex::new(Self::spawn_apiserver(
                &assets, &dir, &pki, port, etcd_port, 0,
            )),
            etcd: Mutex::new(etcd),
            restarts: Mutex::new(0),
            assets,
            dir,
            pki,
            port,
            etcd_port,
            admin,
        };
        cp.wait_ready();
        cp
    }

    fn spawn_apiserver(
        assets: &Path,
        dir: &Path,
        pki: &Pki,
        port: u16,
        etcd_port: u16,
        n: u32,
    ) -> Proc {
        Proc::spawn(
            &assets.join("kube-apiserver"),
            &[
                format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={port}"),
                format!("--cert-dir={}", dir.join("apiserver-certs").display()),
                format!("--tls-cert-file={}", pki.file("apiserver.crt")),
                format!("--tls-private-key-file={}", pki.file("apiserver.key")),
                format!("--client-ca-file={}", pki.file("ca.crt")),
                "--authorization-mode=RBAC".into(),
                format!("--service-account-issuer=https://127.0.0.1:{port}"),
                format!("--service-account-key-file={}", pki.file("sa.pub")),
                format!("--service-account-signing-key-file={}", pki.file("sa.key")),
                "--service-cluster-ip-range=10.0.0.0/24".into(),
                "--endpoint-reconciler-type=none".into(),
                "--allow-privileged=true".into(),
            ],
            &[],
            dir.join(format!("kube-apiserver.{n}.log")),
            None,
        )
    }

    /// The running kube-apiserver's pid (for benchmarks reading its CPU time).
    pub fn apiserver_pid(&self) -> Option<u32> {
        self.apiserver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pid()
    }

    pub fn server(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Waits until `GET /readyz` answers `ok` (panics after [`START_TIMEOUT`], with the log tail).
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let out = self
                .kubectl(&["get", "--raw=/readyz", "--request-timeout=2s"])
                .run();
            if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
                return;
            }
            let running = self.apiserver.lock().unwrap().is_running();
            if !running || Instant::now() > deadline {
                let log = self.apiserver.lock().unwrap().log_text();
                let tail: String = log
                    .lines()
                    .rev()
                    .take(30)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                panic!(
                    "kube-apiserver did not become ready ({}):\n{tail}",
                    if running { "timed out" } else { "exited" }
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Stops the API server (etcd keeps running), calls `while_down`, starts it again on the
    /// same port and returns when it is ready.
    pub fn restart_apiserver(&self, while_down: impl FnOnce()) {
        let mut guard = self.apiserver.lock().unwrap();
        guard.stop();
        while_down();
        let mut n = self.restarts.lock().unwrap();
        *n += 1;
        *guard = Self::spawn_apiserver(
            &self.assets,
            &self.dir,
            &self.pki,
            self.port,
            self.etcd_port,
            *n,
        );
        drop(guard);
        self.wait_ready();
    }

    pub fn apiserver_log(&self) -> String {
        self.apiserver.lock().unwrap().log_text()
    }

    /// kubectl as the admin.
    pub fn kubectl(&self, args: &[&str]) -> Kubectl {
        self.kubectl_as(&self.admin, args)
    }

    pub fn kubectl_as(&self, kubeconfig: &Path, args: &[&str]) -> Kubectl {
        let mut cmd = Command::new(self.assets.join("kubectl"));
        cmd.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(args)
            .env_remove("KUBECONFIG");
        for var in ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"] {
            cmd.env_remove(var);
        }
        Kubectl { cmd, stdin: None }
    }

    /// A kubeconfig that authenticates as ServiceAccount `ns/name` with a fresh token
    /// (`kubectl create token`, the TokenRequest API).
    pub fn service_account_kubeconfig(&self, ns: &str, name: &str, path: &Path) {
        let token = self
            .kubectl(&["create", "token", name, "-n", ns, "--duration=2h"])
            .ok();
        std::fs::write(
            path,
            kubeconfig(
                &self.server(),
                &self.pki.ca_pem,
                &format!("{ns}-{name}"),
                &format!("    token: {}", token.trim()),
            ),
        )
        .unwrap();
    }

    /// Starts kube-controller-manager with the namespace controller (namespace deletion).
    /// `sa_credentials`: each controller as its own ServiceAccount, as kubeadm clusters run it.
    pub fn controller_manager(&self, sa_credentials: bool) -> Proc {
        let mut args = vec![
            format!("--kubeconfig={}", self.admin.display()),
            "--controllers=namespace,serviceaccount,garbagecollector".into(),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port()),
            format!("--cert-dir={}", self.dir.join("kcm-certs").display()),
        ];
        if sa_credentials {
            args.push("--use-service-account-credentials".into());
            args.push(format!(
                "--service-account-private-key-file={}",
                self.pki.file("sa.key")
            ));
        }
        Proc::spawn(
            &self.assets.join("kube-controller-manager"),
            &args,
            &[],
            self.dir.join(format!("kcm-{sa_credentials}.log")),
            None,
        )
    }
}

/// A kubectl invocation being built.
pub struct Kubectl {
    cmd: Command,
    stdin: Option<Vec<u8>>,
}

impl Kubectl {
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    pub fn run(mut self) -> Output {
        self.cmd
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.cmd.spawn().expect("kubectl from KUBEBUILDER_ASSETS");
        if let Some(input) = self.stdin.take() {
            let mut w = child.stdin.take().unwrap();
            std::thread::spawn(move || {
                let _ = w.write_all(&input);
            });
        }
        child.wait_with_output().expect("kubectl output")
    }

    /// Runs and returns stdout; panics with stderr when kubectl fails.
    #[track_caller]
    pub fn ok(self) -> String {
        let out = self.run();
        assert!(
            out.status.success(),
            "kubectl failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// stdout and stderr of a finished kubectl, as one string (kubectl prints warnings on stderr).
pub fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
