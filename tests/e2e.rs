//! End to end against a real kube-apiserver (envtest binaries from `KUBEBUILDER_ASSETS`):
//! the manifests installed with kubectl, tlsgate running outside the cluster as their
//! ServiceAccount, and every request made by kubectl, so what is checked is what an operator
//! sees. Without `KUBEBUILDER_ASSETS` every test here skips (one line says how to enable them).
//!
//! One control plane and one tlsgate serve all the tests of this binary; each test works in
//! namespaces of its own. Tests that count admission requests take [`METRICS`] exclusively.

mod common;
#[path = "support/e2e.rs"]
mod install;
mod support;

use install::{output_of, Options, Tlsgate};
use serde_json::{json, Value};
use std::sync::{OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};
use support::envtest::ControlPlane;
use tlsgate::finding::{Code, Severity};
use tlsgate::policy::{Override, Policy};

struct Env {
    cp: &'static ControlPlane,
    gate: Tlsgate,
}

/// Writers of webhook-covered objects hold it shared; a test comparing request counts holds it
/// exclusively, so no other test's request lands between its two readings.
static METRICS: RwLock<()> = RwLock::new(());

fn env() -> Option<&'static Env> {
    static ENV: OnceLock<Result<Env, String>> = OnceLock::new();
    let cp = ControlPlane::shared()?;
    Some(support::envtest::shared_or_panic(&ENV, || Env {
        cp,
        gate: install::install(
            cp,
            Options {
                policy_extra: "denyDeleteInUse: true",
                istio: true,
            },
        ),
    }))
}

fn shared() -> RwLockReadGuard<'static, ()> {
    METRICS.read().unwrap_or_else(|e| e.into_inner())
}

impl Env {
    #[track_caller]
    fn namespace(&self, name: &str) {
        let out = self.cp.kubectl(&["create", "namespace", name]).run();
        let text = output_of(&out);
        assert!(
            out.status.success() || text.contains("AlreadyExists"),
            "{text}"
        );
    }

    /// `kubectl apply [--dry-run=server] -f -` of one object: (succeeded, stdout+stderr).
    fn apply(&self, obj: &Value, dry_run: bool) -> (bool, String) {
        let mut args = vec!["apply", "-f", "-"];
        if dry_run {
            args.push("--dry-run=server");
        }
        let out = self.cp.kubectl(&args).stdin(obj.to_string()).run();
        (out.status.success(), output_of(&out))
    }

    #[track_caller]
    fn apply_ok(&self, obj: &Value) -> String {
        let (ok, text) = self.apply(obj, false);
        assert!(ok, "kubectl apply failed: {text}");
        text
    }

    #[track_caller]
    fn apply_denied(&self, obj: &Value, code: Code) -> String {
        let (ok, text) = self.apply(obj, false);
        assert!(!ok, "expected a denial with {code:?}, kubectl said: {text}");
        assert!(
            text.contains(&format!("[{}]", code.as_str())),
            "denied, but not with [{}]: {text}",
            code.as_str()
        );
        text
    }

    fn requests(&self) -> f64 {
        self.gate
            .metric_sum("tlsgate_admission_requests_total", &[])
    }
}

fn yaml_doc(text: &str) -> Value {
    yaml_serde::from_str(text).expect("YAML document")
}

fn fixture_secret(file: &str, ns: &str, name: &str) -> Value {
    let mut v = yaml_doc(&common::fixture_text(&format!("secrets/{file}")));
    v["metadata"]["namespace"] = json!(ns);
    v["metadata"]["name"] = json!(name);
    v
}

fn istio_gateway(ns: &str, name: &str, credential: &str, host: &str) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"namespace": ns, "name": name},
        "spec": {
            "selector": {"istio": "ingressgateway"},
            "servers": [{
                "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                "tls": {"mode": "SIMPLE", "credentialName": credential},
                "hosts": [host],
            }],
        },
    })
}

/// The severity a code has under the manifests' policy (the ConfigMap's config.yaml).
fn severity(policy: &Policy, code: Code) -> Severity {
    match policy.severities.get(&code) {
        Some(Override::Deny) => Severity::Deny,
        Some(Override::Warn) => Severity::Warn,
        Some(Override::Info) | Some(Override::Off) => Severity::Info,
        None => code.default_severity(),
    }
}

/// Polls `cond` every 100 ms for at most `limit`.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- install ---------------------------------------------------------------------------

#[test]
fn manifests_rbac_is_enough_tlsgate_lists_and_watches_without_a_403() {
    let Some(env) = env() else { return };
    let log = env.gate.log();
    assert!(log.contains("cluster view synced"), "{log}");
    let refused: Vec<&str> = log
        .lines()
        // A status code, not the digits of a timestamp.
        .filter(|l| {
            l.to_ascii_lowercase().contains("forbidden")
                || l.split(|c: char| !c.is_ascii_digit()).any(|t| t == "403")
        })
        .collect();
    let warned_404: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("404"))
        .collect();
    assert!(warned_404.is_empty(), "{}", warned_404.join("\n"));
    assert!(
        refused.is_empty(),
        "tlsgate's ServiceAccount was refused something:\n{}",
        refused.join("\n")
    );
}

// ---- seed walkthroughs -----------------------------------------------------------------

/// Every document of `examples/FILE` through `kubectl apply --dry-run=server` and then
/// `kubectl apply`: a document whose `# expect:` names a denying code is refused with that
/// code in kubectl's output; one naming warnings is admitted with them printed.
fn walkthrough(env: &Env, file: &str) {
    let policy = Policy::from_file(&env.gate.dir.join("config.yaml")).unwrap();
    let text = std::fs::read_to_string(common::root().join("examples").join(file)).unwrap();
    for doc in text.split("\n---\n") {
        let expect = doc
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .expect("every example document declares what it expects");
        let codes: Vec<Code> = match expect.trim() {
            "none" => Vec::new(),
            list => list.split(", ").map(|c| c.parse().unwrap()).collect(),
        };
        let obj = yaml_doc(doc);
        let denied = codes
            .iter()
            .any(|c| severity(&policy, *c) == Severity::Deny);
        for dry_run in [true, false] {
            let (ok, out) = env.apply(&obj, dry_run);
            let what = format!(
                "{} {} (dry-run={dry_run}, expect {expect})",
                obj["kind"], obj["metadata"]["name"]
            );
            assert_eq!(ok, !denied, "{what}: {out}");
            for c in &codes {
                assert!(out.contains(c.as_str()), "{what}: no {c:?} in: {out}");
            }
            if codes.is_empty() {
                assert!(!out.contains("Warning:"), "{what}: {out}");
            }
        }
    }
}

/// The ingress gateway workload the seed Gateways select (`istio: ingressgateway`), as a Pod the
/// API server stores (no kubelet runs it). Without it tlsgate rightly says no workload serves them
/// (`gateway-workload-not-found`). Returns once the view has it.
fn ingress_gateway_pod(env: &Env) {
    let _ = env
        .cp
        .kubectl(&["create", "serviceaccount", "default", "-n", "istio-system"])
        .run();
    env.apply_ok(&serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "istio-ingressgateway-0", "namespace": "istio-system",
                     "labels": {"istio": "ingressgateway"}},
        "spec": {"automountServiceAccountToken": false,
                 "containers": [{"name": "istio-proxy", "image": "istio/proxyv2"}]}
    }));
    let probe = serde_json::json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "workload-probe", "namespace": "istio-system"},
        "spec": {"selector": {"istio": "ingressgateway"},
                 "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]}
    });
    let until = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (ok, out) = env.apply(&probe, true);
        if ok && !out.contains("gateway-workload-not-found") {
            return;
        }
        assert!(
            std::time::Instant::now() < until,
            "the ingress gateway pod never reached tlsgate's view: {out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn seed_walkthroughs_get_their_expected_verdicts_through_kubectl() {
    let Some(env) = env() else { return };
    let _g = shared();
    env.namespace("istio-system");
    ingress_gateway_pod(env);
    walkthrough(env, "secure-gateway.yaml");
    walkthrough(env, "broken-gateways.yaml");
}

#[test]
fn seed_secret_cn_only_serial_zero_is_admitted_with_warnings_kubectl_prints() {
    let Some(env) = env() else { return };
    let _g = shared();
    env.namespace("e2e-seed");
    let secret = fixture_secret(
        "httpbin-credential-tls.yaml",
        "e2e-seed",
        "httpbin-credential",
    );
    for dry_run in [true, false] {
        let (ok, out) = env.apply(&secret, dry_run);
        assert!(ok, "{out}");
        assert!(
            out.contains("[serial-invalid]") && out.contains("[no-subject-alt-name]"),
            "{out}"
        );
    }
}

#[test]
fn an_expired_secret_annotated_tlsgate_io_skip_is_admitted_with_a_warning_saying_skipped() {
    let Some(env) = env() else { return };
    let _g = shared();
    env.namespace("e2e-skip");
    let skipped = fixture_secret("expired-tls-skipped.yaml", "e2e-skip", "skipped-credential");
    let out = env.apply_ok(&skipped);
    assert!(
        out.contains("Warning: ")
            && out.contains("(skipped by annotation tlsgate.io/skip: partner rotates in March (TICKET-123)) [cert-expired] at data[\"tls.crt\"]"),
        "{out}"
    );
    // The same Secret without the annotation is denied.
    env.apply_denied(
        &fixture_secret("expired-tls.yaml", "e2e-skip", "unskipped-credential"),
        Code::CertExpired,
    );
}

#[test]
fn an_expired_secret_labelled_tlsgate_io_ignore_never_reaches_tlsgate() {
    let Some(env) = env() else { return };
    // Counts requests: no other test may send one meanwhile.
    let _g = METRICS.write().unwrap_or_else(|e| e.into_inner());
    env.namespace("e2e-skip");
    let mut ignored = fixture_secret("expired-tls.yaml", "e2e-skip", "ignored-credential");
    ignored["metadata"]["labels"] = json!({"tlsgate.io/ignore": "true"});
    let before = env.requests();
    let out = env.apply_ok(&ignored);
    assert!(!out.contains("tlsgate"), "{out}");
    assert_eq!(env.requests(), before, "the objectSelector let it through");
}

// ---- matchConditions -------------------------------------------------------------------

#[test]
fn secrets_the_match_conditions_exclude_never_reach_tlsgate() {
    let Some(env) = env() else { return };
    let _g = METRICS.write().unwrap_or_else(|e| e.into_inner());
    let ns = "e2e-match";
    env.namespace(ns);
    let before = env.requests();
    let excluded = [
        (
            "kubernetes.io/service-account-token",
            json!({"kubernetes.io/service-account.name": "default"}),
            json!({}),
        ),
        (
            "helm.sh/release.v1",
            json!({}),
            json!({"release": common::b64(b"H4sIAAAA")}),
        ),
        (
            "kubernetes.io/dockerconfigjson",
            json!({}),
            json!({".dockerconfigjson": common::b64(br#"{"auths":{}}"#)}),
        ),
        (
            "bootstrap.kubernetes.io/token",
            json!({}),
            json!({"token-id": common::b64(b"abcdef"), "token-secret": common::b64(b"0123456789abcdef")}),
        ),
    ];
    for (i, (ty, annotations, data)) in excluded.iter().enumerate() {
        env.apply_ok(&json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"namespace": ns, "name": format!("excluded-{i}"), "annotations": annotations},
            "type": ty, "data": data,
        }));
    }
    assert_eq!(
        env.requests(),
        before,
        "an excluded Secret type reached tlsgate"
    );
    env.apply_ok(&fixture_secret(
        "httpbin-credential-san.yaml",
        ns,
        "tls-one",
    ));
    env.apply_ok(&json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"namespace": ns, "name": "opaque-one"},
        "type": "Opaque", "data": {"note": common::b64(b"x")},
    }));
    assert_eq!(
        env.requests(),
        before + 2.0,
        "tls and Opaque Secrets are checked"
    );
}

// ---- reverse index and ratcheting ------------------------------------------------------

#[test]
fn replacing_a_secret_a_gateway_uses_with_a_broken_one_is_denied_naming_the_gateway() {
    let Some(env) = env() else { return };
    let _g = shared();
    env.namespace("istio-system");
    env.apply_ok(&fixture_secret(
        "httpbin-credential-san.yaml",
        "istio-system",
        "e2e-reverse-cred",
    ));
    env.apply_ok(&istio_gateway(
        "istio-system",
        "e2e-reverse-gw",
        "e2e-reverse-cred",
        "httpbin.example.com",
    ));
    // The Gateway is seen through the watch before the replacement can be judged against it.
    // A valid pair, for the wrong host: only the Gateway makes it wrong.
    let broken = fixture_secret(
        "helloworld-credential-tls.yaml",
        "istio-system",
        "e2e-reverse-cred",
    );
    assert!(
        eventually(Duration::from_secs(10), || {
            let (ok, out) = env.apply(&broken, true);
            !ok && out.contains("e2e-reverse-gw")
        }),
        "a breaking replacement was not denied naming the Gateway: {}",
        env.apply(&broken, true).1
    );
    let out = env.apply_denied(&broken, Code::HostNotCovered);
    assert!(out.contains("e2e-reverse-gw"), "{out}");
}

#[test]
fn relabelling_an_already_broken_secret_is_allowed() {
    let Some(env) = env() else { return };
    let _g = shared();
    let ns = "e2e-ratchet";
    env.namespace(ns);
    // Broken before tlsgate could object: stored while its webhook skipped the namespace.
    env.cp
        .kubectl(&["label", "namespace", ns, "tlsgate.io/ignore=true"])
        .ok();
    let mut broken = fixture_secret("mismatch.yaml", ns, "already-broken");
    env.apply_ok(&broken);
    env.cp
        .kubectl(&["label", "namespace", ns, "tlsgate.io/ignore-"])
        .ok();
    broken["metadata"]["labels"] = json!({"team": "payments"});
    let (ok, out) = env.apply(&broken, false);
    assert!(
        ok,
        "a relabel of an already broken Secret was denied: {out}"
    );
    assert!(out.contains("key-mismatch"), "still warned about: {out}");
}

// ---- late CRDs -------------------------------------------------------------------------

#[test]
fn gateway_api_crd_installed_after_start_is_watched_within_seconds_and_dropped_when_deleted() {
    let Some(env) = env() else { return };
    let _g = shared();
    let crd = common::root().join("tests/e2e/gateway-api-crd.yaml");
    env.cp.kubectl(&["apply", "-f", crd.to_str().unwrap()]).ok();
    env.cp
        .kubectl(&[
            "wait",
            "--for=condition=Established",
            "--timeout=30s",
            "crd/gateways.gateway.networking.k8s.io",
        ])
        .ok();
    let established = Instant::now();
    let ns = "e2e-late";
    env.namespace(ns);
    env.apply_ok(&fixture_secret(
        "httpbin-credential-san.yaml",
        ns,
        "late-cred",
    ));
    env.apply_ok(&common::mk_gateway_api(
        ns,
        "late-gw",
        "httpbin.example.com",
        json!([{"kind": "Secret", "name": "late-cred"}]),
    ));
    let broken = fixture_secret("helloworld-credential-tls.yaml", ns, "late-cred");
    let denied_naming_gateway = || {
        let (ok, out) = env.apply(&broken, true);
        !ok && out.contains("late-gw")
    };
    assert!(
        eventually(Duration::from_secs(10), denied_naming_gateway),
        "the late Gateway API Gateway was not seen within {:?}",
        established.elapsed()
    );

    env.cp
        .kubectl(&["delete", "-f", crd.to_str().unwrap(), "--wait=true"])
        .ok();
    assert!(
        eventually(Duration::from_secs(10), || env.apply(&broken, true).0),
        "the Gateways of a deleted CRD still count as referrers"
    );
}

// ---- namespace deletion ----------------------------------------------------------------

/// A namespace whose Secret a Gateway in it uses, deleted; `denyDeleteInUse: true` must not
/// keep it from going away. The namespace controller empties a namespace with DeleteCollection,
/// which this API server does not send to webhooks; a Secret DELETE sent one by one while the
/// namespace terminates (Helm, a GitOps prune, an operator) is what tlsgate sees, and it must
/// not deny that whoever sends it: tlsgate knows the namespace is terminating from its view.
fn namespace_deletion_completes(env: &Env, ns: &str, sa_credentials: bool) {
    env.namespace(ns);
    env.apply_ok(&fixture_secret("httpbin-credential-san.yaml", ns, "in-use"));
    let mut gw = istio_gateway(ns, "uses-it", "in-use", "httpbin.example.com");
    // Holds the namespace in Terminating until the test lets it go.
    gw["metadata"]["finalizers"] = json!(["e2e.tlsgate.io/hold"]);
    env.apply_ok(&gw);
    let delete_secret = || {
        let out = env
            .cp
            .kubectl(&["delete", "secret", "in-use", "-n", ns, "--dry-run=server"])
            .run();
        (out.status.success(), output_of(&out))
    };
    assert!(
        eventually(Duration::from_secs(10), || !delete_secret().0),
        "denyDeleteInUse: deleting a Secret a Gateway uses is denied: {}",
        delete_secret().1
    );
    env.cp
        .kubectl(&["delete", "namespace", ns, "--wait=false"])
        .ok();
    assert!(
        eventually(Duration::from_secs(10), || delete_secret().0),
        "a Secret DELETE in terminating namespace {ns} is still denied: {}",
        delete_secret().1
    );

    let _kcm = env.cp.controller_manager(sa_credentials);
    env.cp
        .kubectl(&[
            "patch",
            "gateways.networking.istio.io",
            "uses-it",
            "-n",
            ns,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .ok();
    let out = env
        .cp
        .kubectl(&[
            "wait",
            "--for=delete",
            &format!("namespace/{ns}"),
            "--timeout=60s",
        ])
        .run();
    assert!(
        out.status.success(),
        "namespace {ns} not deleted (sa_credentials={sa_credentials}): {}",
        output_of(&out)
    );
}

#[test]
fn namespace_deletion_completes_with_deny_delete_in_use_whoever_runs_the_namespace_controller() {
    let Some(env) = env() else { return };
    let _g = shared();
    // kubeadm's way: each controller as its own ServiceAccount (namespace-controller).
    namespace_deletion_completes(env, "e2e-nsdel-sa", true);
    // Without --use-service-account-credentials the DELETEs come from
    // system:kube-controller-manager; the view knows the namespace is terminating.
    namespace_deletion_completes(env, "e2e-nsdel-kcm", false);
}

// ---- live audit ------------------------------------------------------------------------

/// `tlsgate audit --context NAME` reads the cluster through that context of a merged
/// `KUBECONFIG` list, not through the list's current context (here one whose API server is gone).
#[test]
fn audit_context_reads_the_live_cluster_through_the_named_context_of_a_merged_kubeconfig() {
    let Some(env) = env() else { return };
    let _g = shared();
    let ns = "e2e-audit-context";
    env.namespace(ns);
    env.apply_ok(&fixture_secret(
        "httpbin-credential-san.yaml",
        ns,
        "audited-by-context",
    ));
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone.kubeconfig");
    std::fs::write(
        &gone,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: gone\n  cluster:\n    server: https://127.0.0.1:{}\n    insecure-skip-tls-verify: true\nusers:\n- name: nobody\n  user:\n    token: none\ncontexts:\n- name: gone\n  context:\n    cluster: gone\n    user: nobody\ncurrent-context: gone\n",
            support::envtest::free_port()
        ),
    )
    .unwrap();
    let kubeconfig = format!("{}:{}", gone.display(), env.cp.admin.display());
    let audit = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tlsgate"));
        cmd.arg("audit")
            .args(["-o", "json"])
            .args(extra)
            .env("KUBECONFIG", &kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST");
        for var in ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"] {
            cmd.env_remove(var);
        }
        cmd.output().expect("run tlsgate audit")
    };

    let through_current = audit(&[]);
    assert_eq!(
        through_current.status.code(),
        Some(2),
        "the current context's API server is gone: {}",
        output_of(&through_current)
    );
    let through_admin = audit(&["--context", "envtest-admin"]);
    let stdout = String::from_utf8_lossy(&through_admin.stdout);
    assert!(
        matches!(through_admin.status.code(), Some(0 | 1)),
        "{}",
        output_of(&through_admin)
    );
    assert!(
        stdout.contains("audited-by-context"),
        "the live audit through --context envtest-admin misses the Secret: {stdout}"
    );
}

/// `tlsgate audit ARGS -o json` with `KUBECONFIG` naming nothing: only the flags connect.
fn audit_live(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tlsgate"));
    cmd.arg("audit")
        .args(["-o", "json"])
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("KUBERNETES_SERVICE_HOST");
    for var in ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"] {
        cmd.env_remove(var);
    }
    cmd.output().expect("run tlsgate audit")
}

/// `namespace/name` of every audited Secret.
fn audited_secrets(out: &std::process::Output) -> Vec<String> {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("audit JSON: {}", output_of(out)));
    v["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "Secret")
        .map(|c| {
            format!(
                "{}/{}",
                c["namespace"].as_str().unwrap(),
                c["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// `--kubeconfig FILE --context NAME`: FILE holds a context whose API server is gone (its
/// current context) and the admin's; `--context` picks the admin's, and `KUBECONFIG` (naming
/// nothing) is not read.
#[test]
fn audit_kubeconfig_flag_with_context_reads_the_cluster_through_that_context_of_that_file() {
    let Some(env) = env() else { return };
    let _g = shared();
    let ns = "e2e-audit-kubeconfig-flag";
    env.namespace(ns);
    env.apply_ok(&fixture_secret(
        "httpbin-credential-san.yaml",
        ns,
        "audited-by-flag",
    ));
    let admin: Value =
        yaml_serde::from_str(&install::admin_kubeconfig_inline(env.cp, "e2e-admin")).unwrap();
    let mut both = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {
            "server": format!("https://127.0.0.1:{}", support::envtest::free_port()),
            "insecure-skip-tls-verify": true}}],
        "users": [{"name": "nobody", "user": {"token": "none"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "nobody"}}],
        "current-context": "gone",
    });
    for list in ["clusters", "users", "contexts"] {
        let more = admin[list].as_array().unwrap().clone();
        both[list].as_array_mut().unwrap().extend(more);
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two-contexts.kubeconfig");
    std::fs::write(&file, yaml_serde::to_string(&both).unwrap()).unwrap();
    let file = file.to_str().unwrap();

    let current = audit_live(&["--kubeconfig", file]);
    assert_eq!(
        current.status.code(),
        Some(2),
        "the current context's API server is gone: {}",
        output_of(&current)
    );
    let named = audit_live(&["--kubeconfig", file, "--context", "e2e-admin"]);
    assert!(
        matches!(named.status.code(), Some(0 | 1)),
        "{}",
        output_of(&named)
    );
    assert!(
        audited_secrets(&named).contains(&format!("{ns}/audited-by-flag")),
        "{}",
        output_of(&named)
    );
}

/// `-n NS`: that namespace's Secrets only.
#[test]
fn audit_namespace_flag_reads_only_that_namespace() {
    let Some(env) = env() else { return };
    let _g = shared();
    for ns in ["e2e-audit-n-in", "e2e-audit-n-out"] {
        env.namespace(ns);
        env.apply_ok(&fixture_secret(
            "httpbin-credential-san.yaml",
            ns,
            "audited-by-namespace",
        ));
    }
    let admin = env.cp.admin.to_str().unwrap();
    let out = audit_live(&["--kubeconfig", admin, "-n", "e2e-audit-n-in"]);
    assert_eq!(
        audited_secrets(&out),
        ["e2e-audit-n-in/audited-by-namespace"],
        "{}",
        output_of(&out)
    );
}

/// `-l SELECTOR`: the API server's label selection, here one labelled Secret of two.
#[test]
fn audit_selector_flag_reads_only_the_labelled_objects() {
    let Some(env) = env() else { return };
    let _g = shared();
    let ns = "e2e-audit-l";
    env.namespace(ns);
    let mut labelled = fixture_secret("httpbin-credential-san.yaml", ns, "labelled");
    labelled["metadata"]["labels"] = json!({"e2e-audit": "selected"});
    env.apply_ok(&labelled);
    env.apply_ok(&fixture_secret(
        "httpbin-credential-san.yaml",
        ns,
        "unlabelled",
    ));
    let admin = env.cp.admin.to_str().unwrap();
    let out = audit_live(&["--kubeconfig", admin, "-l", "e2e-audit=selected"]);
    assert_eq!(
        audited_secrets(&out),
        [format!("{ns}/labelled")],
        "{}",
        output_of(&out)
    );
}
