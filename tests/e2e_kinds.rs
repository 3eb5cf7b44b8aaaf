//! The kinds that name credentials beyond Istio Gateways and Secrets — Istio DestinationRule,
//! Gateway API Gateway `spec.tls`, XListenerSet and BackendTLSPolicy, cert-manager Issuer and
//! Certificate, the Linkerd identity issuer — end to end against a real kube-apiserver
//! (envtest binaries from `KUBEBUILDER_ASSETS`): the projects' CRDs (tests/e2e/, cut down to the
//! fields used) installed first, then the manifests and tlsgate as their ServiceAccount, and
//! every request made by `kubectl apply` (and `--dry-run=server`), so each verdict is what an
//! operator sees. Without `KUBEBUILDER_ASSETS` every test here skips.
//!
//! One control plane and one tlsgate serve all the tests of this binary; each test works in a
//! namespace of its own. tlsgate decides at `--now 2027-01-01` (tests/support/e2e.rs).

mod common;
#[path = "support/e2e.rs"]
mod install;
mod support;

use install::{output_of, Options, Tlsgate};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::envtest::ControlPlane;
use tlsgate::finding::Code;

/// The CRD files installed before tlsgate starts, and the CRDs they hold.
const CRD_FILES: &[&str] = &[
    "tests/e2e/istio-crds.yaml",
    "tests/e2e/gateway-api-crd.yaml",
    "tests/e2e/gateway-api-tls-crds.yaml",
    "tests/e2e/cert-manager-crds.yaml",
];
const CRDS: &[&str] = &[
    "crd/destinationrules.networking.istio.io",
    "crd/gateways.gateway.networking.k8s.io",
    "crd/backendtlspolicies.gateway.networking.k8s.io",
    "crd/xlistenersets.gateway.networking.x-k8s.io",
    "crd/issuers.cert-manager.io",
    "crd/certificates.cert-manager.io",
];

/// How long a just-written object may take to reach tlsgate's view through its watch.
const VIEW_WITHIN: Duration = Duration::from_secs(15);

struct Env {
    cp: &'static ControlPlane,
    gate: Tlsgate,
}

fn env() -> Option<&'static Env> {
    static ENV: OnceLock<Result<Env, String>> = OnceLock::new();
    let cp = ControlPlane::shared()?;
    Some(support::envtest::shared_or_panic(&ENV, || {
        for file in CRD_FILES {
            let path = common::root().join(file);
            cp.kubectl(&["apply", "-f", path.to_str().unwrap()]).ok();
        }
        let mut wait = vec!["wait", "--for=condition=Established", "--timeout=30s"];
        wait.extend_from_slice(CRDS);
        cp.kubectl(&wait).ok();
        Env {
            cp,
            gate: install::install(cp, Options::default()),
        }
    }))
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

    /// Applies `obj`, which must be admitted without a warning.
    #[track_caller]
    fn apply_clean(&self, obj: &Value) {
        let (ok, text) = self.apply(obj, false);
        assert!(ok, "kubectl apply failed: {text}");
        assert!(!text.contains("Warning:"), "admitted, but warned: {text}");
    }

    /// Applies `obj` (it must be admitted) and returns kubectl's output.
    #[track_caller]
    fn apply_ok(&self, obj: &Value) -> String {
        let (ok, text) = self.apply(obj, false);
        assert!(ok, "kubectl apply failed: {text}");
        text
    }

    /// Stores `obj` in namespace `ns` while tlsgate's webhook skips the namespace (label
    /// `tlsgate.io/ignore=true`), as an object broken before tlsgate was installed is stored.
    #[track_caller]
    fn store_unchecked(&self, ns: &str, obj: &Value) {
        self.cp
            .kubectl(&[
                "label",
                "namespace",
                ns,
                "tlsgate.io/ignore=true",
                "--overwrite",
            ])
            .ok();
        // The API server reads namespace labels from its own cache: retry until it skips ns.
        let stored = eventually(VIEW_WITHIN, || self.apply(obj, false).0);
        self.cp
            .kubectl(&["label", "namespace", ns, "tlsgate.io/ignore-"])
            .ok();
        assert!(stored, "not stored unchecked: {}", self.apply(obj, true).1);
    }

    /// Retries `obj` with `--dry-run=server` until it is denied with `code` (the objects it is
    /// judged against have reached the view, and the API server sends it), then applies it for
    /// real: it must be denied again. Returns kubectl's output of the real apply.
    #[track_caller]
    fn denied_once_seen(&self, obj: &Value, code: Code) -> String {
        let tag = format!("[{}]", code.as_str());
        let denied = |dry_run| {
            let (ok, out) = self.apply(obj, dry_run);
            (!ok && out.contains(&tag), out)
        };
        assert!(
            eventually(VIEW_WITHIN, || denied(true).0),
            "not denied with {tag} within {VIEW_WITHIN:?}: {}\ntlsgate log:\n{}",
            denied(true).1,
            self.gate.log()
        );
        let (again, out) = denied(false);
        assert!(
            again,
            "the dry run was denied with {tag}, the apply not: {out}"
        );
        out
    }

    /// Retries `obj` with `--dry-run=server` until kubectl prints a warning with `code`, then
    /// applies it for real: admitted, with that warning. Returns kubectl's output.
    #[track_caller]
    fn warned_once_seen(&self, obj: &Value, code: Code) -> String {
        let tag = format!("[{}]", code.as_str());
        let warned = |dry_run| {
            let (ok, out) = self.apply(obj, dry_run);
            (ok && out.contains("Warning: ") && out.contains(&tag), out)
        };
        assert!(
            eventually(VIEW_WITHIN, || warned(true).0),
            "no warning {tag} within {VIEW_WITHIN:?}: {}\ntlsgate log:\n{}",
            warned(true).1,
            self.gate.log()
        );
        let (again, out) = warned(false);
        assert!(again, "the dry run warned {tag}, the apply did not: {out}");
        out
    }
}

/// Polls `cond` every 200 ms for at most `limit`.
fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A kubectl-made fixture (tests/fixtures/secrets/FILE: a Secret or a ConfigMap) as `ns/name`.
#[track_caller]
fn fixture(file: &str, ns: &str, name: &str) -> Value {
    let mut v: Value =
        yaml_serde::from_str(&common::fixture_text(&format!("secrets/{file}"))).unwrap();
    v["metadata"]["namespace"] = json!(ns);
    v["metadata"]["name"] = json!(name);
    v
}

/// The error line kubectl prints when `webhook` denies creating an object from stdin.
fn creation_denied_by(webhook: &str) -> String {
    format!(
        "Error from server (Forbidden): error when creating \"STDIN\": admission webhook \"{webhook}\" denied the request: "
    )
}

// ---- Istio DestinationRule ---------------------------------------------------------------

const DR: &str = "originate-mtls-for-nginx";
const DR_PORT_PATH: &str = "spec.trafficPolicy.portLevelSettings[0].tls.credentialName";

/// Istio's "Egress Gateways with TLS Origination" DestinationRule (mutual TLS with
/// `credentialName: client-credential`), a sidecar rule: the Secret is read in `ns`.
fn destination_rule(ns: &str) -> Value {
    json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "DestinationRule",
        "metadata": { "name": DR, "namespace": ns },
        "spec": {
            "host": "my-nginx.mesh-external.svc.cluster.local",
            "trafficPolicy": {
                "loadBalancer": { "simple": "ROUND_ROBIN" },
                "portLevelSettings": [{
                    "port": { "number": 443 },
                    "tls": { "mode": "MUTUAL", "credentialName": "client-credential",
                             "sni": "my-nginx.mesh-external.svc.cluster.local" },
                }],
            },
        },
    })
}

#[test]
fn destination_rule_with_a_valid_client_credential_is_allowed() {
    let Some(env) = env() else { return };
    let ns = "e2e-dr-valid";
    env.namespace(ns);
    env.apply_clean(&fixture("client-credential.yaml", ns, "client-credential"));
    // Allowed whether or not the Secret has reached the view yet (a missing one only warns):
    // wait until it has, so the verdict is on the credential.
    let rule = destination_rule(ns);
    assert!(
        eventually(VIEW_WITHIN, || {
            let (ok, out) = env.apply(&rule, true);
            ok && !out.contains("credential-not-found")
        }),
        "{}",
        env.apply(&rule, true).1
    );
    env.apply_clean(&rule);
}

#[test]
fn destination_rule_with_an_expired_client_certificate_is_denied_with_kubectls_exact_error() {
    let Some(env) = env() else { return };
    let ns = "e2e-dr-expired";
    env.namespace(ns);
    env.store_unchecked(
        ns,
        &fixture("client-credential-expired.yaml", ns, "client-credential"),
    );
    let out = env.denied_once_seen(&destination_rule(ns), Code::CertExpired);
    let error = out
        .lines()
        .find(|l| l.starts_with("Error from server"))
        .unwrap_or_else(|| panic!("no error line: {out}"));
    assert_eq!(
        error,
        format!(
            "{}tlsgate denied DestinationRule {ns}/{DR}: {DR_PORT_PATH}: secret {ns}/client-credential: tls.crt (CN=httpbin.example.com) expired 2049 days ago (notAfter 2021-05-22T09:03:01Z); renew it [cert-expired]",
            creation_denied_by("credential-refs.tlsgate.io")
        )
    );
}

// ---- Gateway API Gateway spec.tls.frontend ----------------------------------------------

const FRONTEND_GW: &str = "client-validation";

/// The conformance `gateway-frontend-client-certificate-validation` Gateway: HTTPS for
/// httpbin.example.com, clients verified against ConfigMap `client-ca`.
fn frontend_gateway(ns: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "name": FRONTEND_GW, "namespace": ns },
        "spec": {
            "gatewayClassName": "istio",
            "listeners": [{
                "name": "https", "port": 443, "protocol": "HTTPS", "hostname": "httpbin.example.com",
                "tls": { "mode": "Terminate",
                         "certificateRefs": [{ "group": "", "kind": "Secret", "name": "httpbin-credential" }] },
            }],
            "tls": { "frontend": { "default": { "validation": {
                "caCertificateRefs": [{ "group": "", "kind": "ConfigMap", "name": "client-ca" }],
            } } } },
        },
    })
}

/// The Gateway, its serving Secret and its client CA ConfigMap in `ns`; returns once the
/// Gateway is admitted with both in tlsgate's view (no finding at all).
fn frontend_gateway_in(env: &Env, ns: &str) {
    env.namespace(ns);
    env.apply_clean(&fixture(
        "httpbin-credential-san.yaml",
        ns,
        "httpbin-credential",
    ));
    env.apply_clean(&fixture("configmap-client-ca.yaml", ns, "client-ca"));
    let gw = frontend_gateway(ns);
    assert!(
        eventually(VIEW_WITHIN, || {
            let (ok, out) = env.apply(&gw, true);
            ok && !out.contains("Warning:")
        }),
        "{}",
        env.apply(&gw, true).1
    );
    env.apply_clean(&gw);
}

#[test]
fn gateway_verifying_clients_with_a_ca_config_map_is_allowed() {
    let Some(env) = env() else { return };
    frontend_gateway_in(env, "e2e-gw-frontend");
    // The API server kept spec.tls as sent (and defaulted the mode as v1.4 does).
    let stored = env
        .cp
        .kubectl(&[
            "get",
            "gateways.gateway.networking.k8s.io",
            FRONTEND_GW,
            "-n",
            "e2e-gw-frontend",
            "-o",
            "jsonpath={.spec.tls.frontend.default.validation}",
        ])
        .ok();
    let v: Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(
        v,
        json!({ "caCertificateRefs": [{ "group": "", "kind": "ConfigMap", "name": "client-ca" }],
                "mode": "AllowValidOnly" })
    );
}

#[test]
fn replacing_the_gateways_client_ca_config_map_with_a_non_ca_is_denied_naming_the_gateway() {
    let Some(env) = env() else { return };
    let ns = "e2e-gw-reverse";
    frontend_gateway_in(env, ns);
    let out = env.denied_once_seen(
        &fixture("configmap-client-ca-not-ca.yaml", ns, "client-ca"),
        Code::CaNotCa,
    );
    assert!(
        out.contains("admission webhook \"secrets.tlsgate.io\" denied the request"),
        "{out}"
    );
    assert!(
        out.contains(&format!("Gateway {ns}/{FRONTEND_GW}")),
        "{out}"
    );
}

#[test]
fn per_port_client_validation_with_a_non_ca_config_map_is_denied_at_its_port() {
    let Some(env) = env() else { return };
    let ns = "e2e-gw-per-port";
    env.namespace(ns);
    env.apply_clean(&fixture(
        "httpbin-credential-san.yaml",
        ns,
        "httpbin-credential",
    ));
    env.apply_ok(&fixture("configmap-client-ca-not-ca.yaml", ns, "leaf-ca"));
    env.apply_clean(&fixture("configmap-client-ca.yaml", ns, "client-ca"));
    // Port 443 overrides the default (a real CA) with a ConfigMap holding a leaf.
    let mut gw = frontend_gateway(ns);
    gw["spec"]["tls"]["frontend"]["perPort"] = json!([{ "port": 443, "tls": { "validation": {
        "caCertificateRefs": [{ "group": "", "kind": "ConfigMap", "name": "leaf-ca" }],
    } } }]);
    let out = env.denied_once_seen(&gw, Code::CaNotCa);
    assert!(
        out.contains(&format!(
            "tlsgate denied Gateway {ns}/{FRONTEND_GW}: spec.tls.frontend.perPort[0].tls.validation.caCertificateRefs[0]: configmap {ns}/leaf-ca: "
        )),
        "{out}"
    );
}

// ---- XListenerSet ------------------------------------------------------------------------

/// An experimental XListenerSet attached to `parent-gateway` with one HTTPS listener for
/// `hostname` (conformance `listenerset-*` manifests), serving Secret `httpbin-credential`.
fn listener_set(ns: &str, hostname: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.x-k8s.io/v1alpha1",
        "kind": "XListenerSet",
        "metadata": { "name": "listenerset-https", "namespace": ns },
        "spec": {
            "parentRef": { "name": "parent-gateway", "kind": "Gateway",
                           "group": "gateway.networking.k8s.io" },
            "listeners": [{
                "name": "https", "hostname": hostname, "port": 443, "protocol": "HTTPS",
                "tls": { "mode": "Terminate",
                         "certificateRefs": [{ "group": "", "kind": "Secret", "name": "httpbin-credential" }] },
            }],
        },
    })
}

/// The parent Gateway (accepting ListenerSets from its namespace) and the Secret in `ns`.
fn listener_set_parent_in(env: &Env, ns: &str) {
    env.namespace(ns);
    env.apply_clean(&fixture(
        "httpbin-credential-san.yaml",
        ns,
        "httpbin-credential",
    ));
    env.apply_clean(&json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": { "name": "parent-gateway", "namespace": ns },
        "spec": {
            "gatewayClassName": "istio",
            "allowedListeners": { "namespaces": { "from": "Same" } },
            "listeners": [{ "name": "http", "port": 80, "protocol": "HTTP" }],
        },
    }));
}

#[test]
fn x_listener_set_serving_a_covered_host_is_allowed() {
    let Some(env) = env() else { return };
    let ns = "e2e-ls-covered";
    listener_set_parent_in(env, ns);
    let ls = listener_set(ns, "httpbin.example.com");
    assert!(
        eventually(VIEW_WITHIN, || {
            let (ok, out) = env.apply(&ls, true);
            ok && !out.contains("Warning:")
        }),
        "{}",
        env.apply(&ls, true).1
    );
    env.apply_clean(&ls);
}

#[test]
fn x_listener_set_for_a_host_its_certificate_does_not_cover_is_denied() {
    let Some(env) = env() else { return };
    let ns = "e2e-ls-uncovered";
    listener_set_parent_in(env, ns);
    let out = env.denied_once_seen(
        &listener_set(ns, "helloworld-v1.example.com"),
        Code::HostNotCovered,
    );
    assert_eq!(
        out.trim_end(),
        format!(
            "{}tlsgate denied XListenerSet {ns}/listenerset-https: spec.listeners[0].tls.certificateRefs[0]: secret {ns}/httpbin-credential covers httpbin.example.com, not helloworld-v1.example.com; reissue it with subjectAltName=DNS:helloworld-v1.example.com [host-not-covered]",
            creation_denied_by("credential-refs.tlsgate.io")
        )
    );
}

// ---- BackendTLSPolicy --------------------------------------------------------------------

/// The conformance `backendtlspolicy-normative` policy: Service `backendtlspolicy-test`
/// verified against ConfigMap `backend-tls-checks-certificate` as abc.example.com.
fn backend_tls_policy(ns: &str) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "BackendTLSPolicy",
        "metadata": { "name": "normative-test-backendtlspolicy", "namespace": ns },
        "spec": {
            "targetRefs": [{ "group": "", "kind": "Service", "name": "backendtlspolicy-test" }],
            "validation": {
                "caCertificateRefs": [{ "group": "", "kind": "ConfigMap",
                                        "name": "backend-tls-checks-certificate" }],
                "hostname": "abc.example.com",
            },
        },
    })
}

/// The Service the policy targets and the CA ConfigMap (from `ca_file`) in `ns`.
fn backend_in(env: &Env, ns: &str, ca_file: &str) {
    env.namespace(ns);
    env.apply_ok(&json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "backendtlspolicy-test", "namespace": ns },
        "spec": { "selector": { "app": "backendtlspolicy-test" },
                  "ports": [{ "name": "https", "port": 443 }] },
    }));
    env.apply_ok(&fixture(ca_file, ns, "backend-tls-checks-certificate"));
}

#[test]
fn backend_tls_policy_with_a_ca_config_map_is_allowed() {
    let Some(env) = env() else { return };
    let ns = "e2e-btp-valid";
    backend_in(env, ns, "configmap-client-ca.yaml");
    let p = backend_tls_policy(ns);
    assert!(
        eventually(VIEW_WITHIN, || {
            let (ok, out) = env.apply(&p, true);
            ok && !out.contains("Warning:")
        }),
        "{}",
        env.apply(&p, true).1
    );
    env.apply_clean(&p);
}

#[test]
fn backend_tls_policy_whose_ca_config_map_holds_no_ca_is_denied() {
    let Some(env) = env() else { return };
    let ns = "e2e-btp-not-ca";
    backend_in(env, ns, "configmap-client-ca-not-ca.yaml");
    let out = env.denied_once_seen(&backend_tls_policy(ns), Code::CaNotCa);
    assert_eq!(
        out.trim_end(),
        format!(
            "{}tlsgate denied BackendTLSPolicy {ns}/normative-test-backendtlspolicy: spec.validation.caCertificateRefs[0]: configmap {ns}/backend-tls-checks-certificate: ca.crt certificate #0 (CN=httpbin.example.com) is not a CA (no CA:TRUE), so nothing verifies against it; put the issuing CA here [ca-not-ca]",
            creation_denied_by("credential-refs.tlsgate.io")
        )
    );
}

// ---- cert-manager ------------------------------------------------------------------------

/// cert-manager's CA issuer example: Issuer `ca-issuer` signing with Secret `ca-key-pair`.
fn ca_issuer(ns: &str) -> Value {
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Issuer",
        "metadata": { "name": "ca-issuer", "namespace": ns },
        "spec": { "ca": { "secretName": "ca-key-pair" } },
    })
}

#[test]
fn issuer_whose_ca_secret_has_expired_is_denied() {
    let Some(env) = env() else { return };
    let ns = "e2e-issuer-expired";
    env.namespace(ns);
    env.store_unchecked(
        ns,
        &common::mk_tls_secret(
            ns,
            "ca-key-pair",
            "certs/istio/istio-ca-secret-expired/ca-cert.pem",
            "certs/istio/istio-ca-secret-expired/ca-key.pem",
        ),
    );
    let out = env.denied_once_seen(&ca_issuer(ns), Code::CertExpired);
    assert_eq!(
        out.trim_end(),
        format!(
            "{}tlsgate denied Issuer {ns}/ca-issuer: spec.ca.secretName: secret {ns}/ca-key-pair: tls.crt (O=cluster.local) expired 2597 days ago (notAfter 2019-11-22T00:00:00Z); renew it: until then the issuer signs nothing that clients accept [cert-expired]",
            creation_denied_by("credential-refs.tlsgate.io")
        )
    );
}

#[test]
fn certificate_whose_duration_outlives_its_issuer_ca_is_admitted_with_a_warning() {
    let Some(env) = env() else { return };
    let ns = "e2e-certificate";
    env.namespace(ns);
    // The chain's intermediate CA: valid until 2036-11-21.
    env.apply_ok(&common::mk_tls_secret(
        ns,
        "ca-key-pair",
        "certs/chain/intermediate.crt",
        "certs/chain/intermediate.key",
    ));
    env.apply_ok(&ca_issuer(ns));
    // Ten years from 2027-01-01 ends after the CA does.
    let certificate = json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": { "name": "example-com", "namespace": ns },
        "spec": {
            "secretName": "example-com-tls",
            "duration": "87600h",
            "dnsNames": ["example.com"],
            "issuerRef": { "name": "ca-issuer", "kind": "Issuer", "group": "cert-manager.io" },
        },
    });
    let out = env.warned_once_seen(&certificate, Code::LeafOutlivesIssuer);
    let warning = out
        .lines()
        .find(|l| l.contains("[leaf-outlives-issuer]"))
        .unwrap();
    // Whole, as kubectl prints it: nothing is cut.
    assert_eq!(
        warning,
        format!(
            "Warning: the leaf's duration 87600h outlives the CA of Issuer {ns}/ca-issuer by 37 days (secret {ns}/ca-key-pair, notAfter 2036-11-21T07:25:08Z); renew the CA or shorten spec.duration [leaf-outlives-issuer] at spec.duration"
        ),
        "{out}"
    );
}

// ---- Linkerd -----------------------------------------------------------------------------

#[test]
fn linkerd_identity_issuer_not_signed_by_the_trust_roots_is_denied() {
    let Some(env) = env() else { return };
    let ns = "linkerd";
    env.namespace(ns);
    env.apply_ok(&fixture(
        "linkerd-trust-roots.yaml",
        ns,
        "linkerd-identity-trust-roots",
    ));
    // Issued by a root of the same name, not the one in the trust roots bundle.
    let out = env.denied_once_seen(
        &fixture(
            "linkerd-identity-issuer-other.yaml",
            ns,
            "linkerd-identity-issuer",
        ),
        Code::NotSignedByCa,
    );
    let error = out
        .lines()
        .find(|l| l.starts_with("Error from server"))
        .unwrap_or_else(|| panic!("no error line: {out}"));
    assert_eq!(
        error,
        format!(
            "{}tlsgate denied Secret {ns}/linkerd-identity-issuer: data[\"tls.crt\"]: tls.crt (CN=identity.linkerd.cluster.local) is not signed by the anchor in configmap {ns}/linkerd-identity-trust-roots ca-bundle.crt, so proxies reject what it issues; sign it with a trust anchor or add its CA there [not-signed-by-ca]",
            creation_denied_by("secrets.tlsgate.io")
        )
    );
}
