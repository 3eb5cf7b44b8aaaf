//! `tlsgate audit` on real inputs (tests/fixtures/audit/, made by make-audit-fixtures.sh) at a
//! fixed now, 2027-01-01T00:00:00Z. One behaviour per test.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use tlsgate::analysis::Analyzer;
use tlsgate::audit::{self, AuditedCert, Group, Inventory, Status};
use tlsgate::finding::{Code, Severity};
use tlsgate::policy::Policy;

/// 2027-01-01T00:00:00Z.
const NOW: i64 = 1_798_761_600;
const NOW_ARG: &str = "2027-01-01T00:00:00Z";
const DAYS: i64 = 30;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit")
}

#[track_caller]
fn values(file: &str) -> Vec<Value> {
    let p = dir().join(file);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let list: Value = serde_json::from_str(&text).expect("fixture is JSON");
    list["items"].as_array().expect("a List").clone()
}

fn objects(values: &[Value]) -> Inventory {
    let mut inv = Inventory::new();
    inv.add_objects(values, &Policy::default(), &Arc::new(Analyzer::new()));
    inv
}

fn dump() -> Inventory {
    objects(&values("cluster-dump.json"))
}

fn cabundles() -> Inventory {
    objects(&values("cabundles.json"))
}

fn pki() -> Inventory {
    let mut inv = Inventory::new();
    inv.add_pki(&audit::pki::read_dir(&dir().join("pki")).expect("pki fixture"));
    inv
}

#[track_caller]
fn kubeconfig(rel: &str) -> Inventory {
    let mut inv = Inventory::new();
    inv.add_kubeconfig(&audit::kubeconfig::read(&dir().join(rel)).expect("kubeconfig fixture"));
    inv
}

/// The certificate at `name`/`key`, and its status at NOW.
#[track_caller]
fn find<'a>(inv: &'a Inventory, name: &str, key: &str) -> (&'a AuditedCert, Status) {
    let c = inv
        .certs
        .iter()
        .find(|c| c.name.ends_with(name) && c.key == key)
        .unwrap_or_else(|| {
            let all: Vec<String> = inv
                .certs
                .iter()
                .map(|c| format!("{} {}", c.name, c.key))
                .collect();
            panic!("no certificate {name} {key}; have:\n  {}", all.join("\n  "))
        });
    (c, audit::status_of(&c.cert, NOW, DAYS).0)
}

fn codes(c: &AuditedCert) -> Vec<&str> {
    c.problems.iter().map(|p| p.code.as_str()).collect()
}

// ---- kubeadm PKI ------------------------------------------------------------------------

#[test]
fn pki_expired_apiserver_cert_is_listed_as_expired() {
    let inv = pki();
    let (c, status) = find(&inv, "apiserver", "apiserver.crt");
    assert_eq!(status, Status::Expired);
    assert_eq!(c.group, Group::ControlPlanePki);
    assert_eq!(c.cert.common_name(), Some("kube-apiserver"));
    let (_, msg) = audit::status_of(&c.cert, NOW, DAYS);
    assert!(
        msg.unwrap()
            .contains("expired 31 days ago (notAfter 2026-12-01T00:00:00Z)"),
        "the message carries the numbers"
    );
}

#[test]
fn pki_cert_within_threshold_is_expiring_soon() {
    let inv = pki();
    let (_, status) = find(
        &inv,
        "apiserver-kubelet-client",
        "apiserver-kubelet-client.crt",
    );
    assert_eq!(status, Status::ExpiringSoon);
}

#[test]
fn pki_leaf_not_signed_by_its_ca_is_flagged() {
    let inv = pki();
    let (c, status) = find(&inv, "front-proxy-client", "front-proxy-client.crt");
    assert_eq!(
        status,
        Status::Ok,
        "the dates are fine; the signature is not"
    );
    let pki = c.pki.as_ref().unwrap();
    assert_eq!(pki.certificate_authority.as_deref(), Some("front-proxy-ca"));
    assert_eq!(pki.signed_by_ca, Some(false));
    assert_eq!(codes(c), [Code::NotSignedByCa.as_str()]);
    assert!(c.problems[0]
        .message
        .contains("not signed by front-proxy-ca"));
}

#[test]
fn pki_leaf_signed_by_its_ca_is_not_flagged() {
    let inv = pki();
    let (c, _) = find(&inv, "apiserver-etcd-client", "apiserver-etcd-client.crt");
    let pki = c.pki.as_ref().unwrap();
    assert_eq!(pki.certificate_authority.as_deref(), Some("etcd-ca"));
    assert_eq!(
        (pki.signed_by_ca, pki.key_matches),
        (Some(true), Some(true))
    );
    assert!(c.problems.is_empty(), "{:?}", c.problems);
}

#[test]
fn pki_key_not_matching_its_cert_is_flagged() {
    let inv = pki();
    let (c, _) = find(&inv, "etcd-server", "etcd/server.crt");
    assert_eq!(c.pki.as_ref().unwrap().key_matches, Some(false));
    assert_eq!(codes(c), [Code::KeyMismatch.as_str()]);
    assert!(c.problems[0]
        .message
        .contains("etcd/server.key does not belong to etcd/server.crt"));
}

#[test]
fn pki_cas_are_listed_with_kubeadm_names_and_no_certificate_authority() {
    let inv = pki();
    for (name, file) in [
        ("ca", "ca.crt"),
        ("front-proxy-ca", "front-proxy-ca.crt"),
        ("etcd-ca", "etcd/ca.crt"),
    ] {
        let (c, status) = find(&inv, name, file);
        let p = c.pki.as_ref().unwrap();
        assert_eq!(p.certificate, name);
        assert_eq!(p.certificate_authority, None);
        assert!(!p.externally_managed, "{name}: its key is in the directory");
        assert_eq!(status, Status::Ok);
    }
    assert_eq!(inv.certs.len(), 10, "3 CAs and 7 leaves");
}

#[test]
fn pki_service_account_key_pair_is_noted_not_listed() {
    let inv = pki();
    assert!(inv.certs.iter().all(|c| !c.key.starts_with("sa.")));
    assert!(
        inv.notes
            .iter()
            .any(|n| n.contains("sa.key, sa.pub: service-account token signing key pair")),
        "{:?}",
        inv.notes
    );
}

#[test]
fn pki_ca_without_its_key_is_externally_managed() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["ca.crt", "apiserver.crt", "apiserver.key"] {
        std::fs::copy(dir().join("pki").join(f), tmp.path().join(f)).unwrap();
    }
    let mut inv = Inventory::new();
    inv.add_pki(&audit::pki::read_dir(tmp.path()).unwrap());
    let (ca, _) = find(&inv, "ca", "ca.crt");
    assert!(ca.pki.as_ref().unwrap().externally_managed);
    let (leaf, _) = find(&inv, "apiserver", "apiserver.crt");
    assert!(leaf.pki.as_ref().unwrap().externally_managed);
    assert!(
        inv.notes
            .iter()
            .any(|n| n.contains("etcd/ca.crt not found")),
        "missing files are noted: {:?}",
        inv.notes
    );
}

#[test]
fn pki_missing_directory_is_an_error_naming_the_flag() {
    let err = audit::pki::read_dir(Path::new("/nonexistent/pki")).unwrap_err();
    assert!(
        format!("{err:#}").contains("--pki-dir /nonexistent/pki"),
        "{err:#}"
    );
}

// ---- kubeconfigs ------------------------------------------------------------------------

#[test]
fn kubeconfig_embedded_client_cert_is_listed_per_user() {
    let inv = kubeconfig("kubeconfigs/dev.conf");
    let (bob, status) = find(&inv, "dev.conf", "users[\"bob\"].client-certificate-data");
    assert_eq!(bob.cert.common_name(), Some("bob"));
    assert_eq!(bob.group, Group::Kubeconfigs);
    assert_eq!(bob.used_by, ["context bob@dev"]);
    assert_eq!(
        status,
        Status::Expired,
        "bob's certificate ended 2026-12-15"
    );
}

#[test]
fn kubeconfig_file_reference_resolves_relative_to_the_kubeconfig() {
    let inv = kubeconfig("kubeconfigs/dev.conf");
    let (alice, status) = find(&inv, "dev.conf", "users[\"alice\"].client-certificate");
    assert_eq!(alice.cert.common_name(), Some("alice"));
    assert_eq!(status, Status::Ok);
    assert!(
        alice.problems.is_empty(),
        "key matches, signed by the cluster CA: {:?}",
        alice.problems
    );
    let (ca, _) = find(&inv, "dev.conf", "clusters[\"dev\"].certificate-authority");
    assert_eq!(ca.cert.common_name(), Some("kubernetes"));
}

#[test]
fn kubeconfig_cluster_ca_is_used_by_its_contexts() {
    let inv = kubeconfig("kubeconfigs/admin.conf");
    let (ca, _) = find(
        &inv,
        "admin.conf",
        "clusters[\"kubernetes\"].certificate-authority-data",
    );
    assert_eq!(
        ca.used_by,
        ["context kubernetes-admin@kubernetes (https://192.168.0.10:6443)"]
    );
}

#[test]
fn kubeconfig_admin_client_cert_within_threshold_is_expiring_soon() {
    let inv = kubeconfig("kubeconfigs/admin.conf");
    let (admin, status) = find(
        &inv,
        "admin.conf",
        "users[\"kubernetes-admin\"].client-certificate-data",
    );
    assert_eq!(status, Status::ExpiringSoon);
    assert_eq!(admin.cert.common_name(), Some("kubernetes-admin"));
}

#[test]
fn kubeconfig_client_cert_from_another_ca_is_flagged() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(dir().join("kubeconfigs/dev.conf"))
        .unwrap()
        .replace("../pki/ca.crt", "front-proxy-ca.crt");
    std::fs::write(tmp.path().join("dev.conf"), text).unwrap();
    std::fs::create_dir(tmp.path().join("certs")).unwrap();
    for f in ["alice.crt", "alice.key"] {
        std::fs::copy(
            dir().join("kubeconfigs/certs").join(f),
            tmp.path().join("certs").join(f),
        )
        .unwrap();
    }
    std::fs::copy(
        dir().join("pki/front-proxy-ca.crt"),
        tmp.path().join("front-proxy-ca.crt"),
    )
    .unwrap();
    let mut inv = Inventory::new();
    inv.add_kubeconfig(&audit::kubeconfig::read(&tmp.path().join("dev.conf")).unwrap());
    let (alice, _) = find(&inv, "dev.conf", "users[\"alice\"].client-certificate");
    assert_eq!(codes(alice), [Code::NotSignedByCa.as_str()]);
}

#[test]
fn kubeconfig_missing_referenced_file_is_an_error_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir().join("kubeconfigs/dev.conf"),
        tmp.path().join("dev.conf"),
    )
    .unwrap();
    let err = audit::kubeconfig::read(&tmp.path().join("dev.conf")).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("--kubeconfig-certs"), "{msg}");
    assert!(
        msg.contains("clusters[\"dev\"].certificate-authority: cannot read"),
        "{msg}"
    );
}

// ---- caBundles --------------------------------------------------------------------------

#[test]
fn webhook_cabundle_ca_expiry_names_the_webhook() {
    let inv = cabundles();
    let (c, status) = find(&inv, "istio-galley", "webhooks[0].clientConfig.caBundle");
    assert_eq!(status, Status::Expired);
    assert_eq!(c.kind, "ValidatingWebhookConfiguration");
    assert_eq!(c.group, Group::CaBundles);
    assert_eq!(
        c.used_by,
        ["webhook pilot.validation.istio.io → service istio-system/istio-galley:443/admitpilot (failurePolicy Fail)"]
    );
}

#[test]
fn webhook_without_cabundle_is_not_listed() {
    let inv = cabundles();
    assert!(!inv
        .certs
        .iter()
        .any(|c| c.key == "webhooks[1].clientConfig.caBundle"));
    assert!(
        !inv.certs.iter().any(|c| c.name == "v1.apps"),
        "local APIServices have no caBundle"
    );
}

#[test]
fn apiservice_cabundle_within_threshold_is_expiring_soon() {
    let inv = cabundles();
    let (c, status) = find(&inv, "v1beta1.metrics.k8s.io", "spec.caBundle");
    assert_eq!(status, Status::ExpiringSoon);
    assert_eq!(
        c.used_by,
        ["APIService v1beta1.metrics.k8s.io → service kube-system/metrics-server:443"]
    );
}

#[test]
fn crd_conversion_webhook_cabundle_is_listed() {
    let inv = cabundles();
    let (c, status) = find(
        &inv,
        "widgets.example.com",
        "spec.conversion.webhook.clientConfig.caBundle",
    );
    assert_eq!(status, Status::Ok);
    assert_eq!(
        c.used_by,
        ["conversion webhook of widgets.example.com → service example-system/widget-conversion:443/convert"]
    );
}

#[test]
fn mutating_webhook_cabundle_is_listed() {
    let inv = cabundles();
    let (c, status) = find(
        &inv,
        "istio-sidecar-injector",
        "webhooks[0].clientConfig.caBundle",
    );
    assert_eq!(
        (c.kind.as_str(), status),
        ("MutatingWebhookConfiguration", Status::Ok)
    );
}

fn galley(ca_bundle: &str) -> Value {
    let mut v = values("cabundles.json")[0].clone();
    v["webhooks"][0]["clientConfig"]["caBundle"] = json!(ca_bundle);
    v
}

#[test]
fn cabundle_findings_warn_on_an_expired_ca_with_its_field_path() {
    let v = values("cabundles.json")[0].clone();
    let f = audit::cabundle_findings(&v, NOW, DAYS);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(f[0].code, Code::CertExpired);
    assert_eq!(
        f[0].severity,
        Severity::Warn,
        "never deny another webhook's install"
    );
    assert_eq!(f[0].path, "webhooks[0].clientConfig.caBundle");
    assert_eq!(f[0].object.kind, "ValidatingWebhookConfiguration");
    assert_eq!(f[0].object.name, "istio-galley");
    assert!(
        f[0].message.contains("pilot.validation.istio.io"),
        "{}",
        f[0].message
    );
}

#[test]
fn cabundle_findings_warn_on_a_ca_expiring_within_the_threshold() {
    let v = values("cabundles.json")[2].clone();
    let f = audit::cabundle_findings(&v, NOW, DAYS);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].code, f[0].severity),
        (Code::CertExpiringSoon, Severity::Warn)
    );
    assert_eq!(f[0].path, "spec.caBundle");
    assert!(
        f[0].message.contains("expires in 9 days"),
        "{}",
        f[0].message
    );
}

#[test]
fn cabundle_findings_are_empty_for_a_fine_ca() {
    let crd = values("cabundles.json")[4].clone();
    assert!(audit::cabundle_findings(&crd, NOW, DAYS).is_empty());
    let secret = values("cluster-dump.json")[0].clone();
    assert!(
        audit::cabundle_findings(&secret, NOW, DAYS).is_empty(),
        "other kinds"
    );
}

#[test]
fn cabundle_findings_warn_on_a_cabundle_that_is_not_base64() {
    let f = audit::cabundle_findings(&galley("not base64!"), NOW, DAYS);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (f[0].code, f[0].severity),
        (Code::SecretMalformed, Severity::Warn)
    );
}

#[test]
fn cabundle_findings_skip_an_empty_cabundle() {
    assert!(
        audit::cabundle_findings(&galley(""), NOW, DAYS).is_empty(),
        "cert-manager injects it later"
    );
}

// ---- Istio ------------------------------------------------------------------------------

#[test]
fn istio_mesh_root_is_the_ca_secret_in_istio_system() {
    let inv = dump();
    let root = inv
        .mesh_root
        .as_ref()
        .expect("istio-ca-secret is the mesh root");
    assert_eq!(
        (root.namespace.as_str(), root.name.as_str()),
        ("istio-system", "istio-ca-secret")
    );
    assert_eq!(root.cert.subject(), "O=cluster.local");
    let (c, _) = find(&inv, "istio-ca-secret", "data[\"ca-cert.pem\"]");
    assert_eq!(c.group, Group::IstioCa);
    assert!(c.used_by.iter().any(|u| u.contains("Istio mesh root")));
}

#[test]
fn istio_root_cert_configmap_mismatch_is_reported() {
    let inv = dump();
    let f = inv
        .root_mismatches
        .iter()
        .find(|f| f.object.kind == "ConfigMap")
        .expect("default/istio-ca-root-cert holds the old root");
    assert_eq!(f.code, Code::IstioRootMismatch);
    assert_eq!(f.object.namespace.as_deref(), Some("default"));
    assert!(
        f.message.contains("does not contain the current mesh root"),
        "{}",
        f.message
    );
    let c = inv
        .certs
        .iter()
        .find(|c| c.kind == "ConfigMap" && c.namespace.as_deref() == Some("default"))
        .unwrap();
    assert_eq!(codes(c), [Code::IstioRootMismatch.as_str()]);
}

#[test]
fn istio_key_and_cert_secret_mismatch_is_reported() {
    let inv = dump();
    let names: Vec<&str> = inv
        .root_mismatches
        .iter()
        .filter(|f| f.object.kind == "Secret")
        .map(|f| f.object.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["istio.sleep"],
        "istio.default matches the current root"
    );
}

#[test]
fn istio_root_cert_configmap_matching_the_root_is_not_reported() {
    let inv = dump();
    assert!(!inv
        .root_mismatches
        .iter()
        .any(|f| f.object.namespace.as_deref() == Some("istio-system")));
}

// ---- gateway credentials ----------------------------------------------------------------

#[test]
fn gateway_credential_used_by_names_the_gateway() {
    let inv = dump();
    let (c, status) = find(&inv, "httpbin-credential", "data[\"tls.crt\"]");
    assert_eq!((c.group, status), (Group::GatewayCredentials, Status::Ok));
    assert_eq!(
        c.used_by,
        ["Gateway istio-system/mygateway (spec.servers[0].tls.credentialName)"]
    );
}

#[test]
fn ingress_credential_used_by_names_the_ingress() {
    let inv = dump();
    let (c, status) = find(&inv, "legacy-credential", "data[\"tls.crt\"]");
    assert_eq!(status, Status::Expired);
    assert_eq!(
        c.used_by,
        ["Ingress default/legacy (spec.tls[0].secretName)"]
    );
}

#[test]
fn service_account_token_secrets_are_left_out() {
    let inv = dump();
    assert!(!inv
        .certs
        .iter()
        .any(|c| c.name.starts_with("default-token-")));
}

#[test]
fn excluded_namespaces_are_left_out() {
    let policy = Policy::from_yaml("excludeNamespaces: [default]").unwrap();
    let mut inv = Inventory::new();
    inv.add_objects(
        &values("cluster-dump.json"),
        &policy,
        &Arc::new(Analyzer::new()),
    );
    assert!(!inv
        .certs
        .iter()
        .any(|c| c.namespace.as_deref() == Some("default")));
    assert!(inv.root_mismatches.is_empty());
}

// ---- rows, exit code, JSON --------------------------------------------------------------

fn everything() -> Inventory {
    let mut inv = objects(&[values("cluster-dump.json"), values("cabundles.json")].concat());
    inv.add_pki(&audit::pki::read_dir(&dir().join("pki")).unwrap());
    for kc in ["kubeconfigs/admin.conf", "kubeconfigs/dev.conf"] {
        inv.add_kubeconfig(&audit::kubeconfig::read(&dir().join(kc)).unwrap());
    }
    inv
}

#[test]
fn rows_are_sorted_by_expiry() {
    let inv = everything();
    let rows = audit::rows(&inv, NOW, DAYS);
    assert_eq!(rows.len(), inv.certs.len());
    let expiries: Vec<i64> = rows.iter().map(|r| r.cert.cert.not_after).collect();
    let mut sorted = expiries.clone();
    sorted.sort();
    assert_eq!(expiries, sorted);
    assert_eq!(rows[0].status, Status::Expired);
    assert_eq!(rows.last().unwrap().status, Status::Ok);
}

#[test]
fn exit_code_is_1_when_anything_is_within_threshold() {
    let mut inv = Inventory::new();
    inv.add_objects(
        &values("cabundles.json")[2..3],
        &Policy::default(),
        &Arc::new(Analyzer::new()),
    );
    let rows = audit::rows(&inv, NOW, DAYS);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, Status::ExpiringSoon);
    assert!(audit::failing(&rows));
    assert!(
        !audit::failing(&audit::rows(&inv, NOW, 5)),
        "9 days left is fine at a 5-day threshold"
    );
}

#[test]
fn exit_code_is_0_when_everything_is_fine() {
    let inv = objects(&values("cabundles.json")[4..5]);
    assert!(!audit::failing(&audit::rows(&inv, NOW, DAYS)));
}

#[test]
fn json_output_schema() {
    let inv = everything();
    let v: Value = serde_json::from_str(&audit::render::to_json(&inv, NOW, DAYS)).unwrap();
    assert_eq!(v["apiVersion"], "tlsgate.io/audit/v1");
    assert_eq!(v["now"], NOW_ARG);
    assert_eq!(v["expiryWarningDays"], 30);
    assert_eq!(v["failing"], true);
    let certs = v["certificates"].as_array().unwrap();
    assert_eq!(v["summary"]["certificates"], certs.len());
    let apiserver = certs.iter().find(|c| c["name"] == "apiserver").unwrap();
    for field in [
        "group",
        "kind",
        "namespace",
        "name",
        "key",
        "index",
        "subject",
        "issuer",
        "serial",
        "sha256",
        "isCa",
        "notBefore",
        "notAfter",
        "residualSeconds",
        "residualTime",
        "status",
        "message",
        "usedBy",
        "managedBy",
        "pki",
        "problems",
    ] {
        assert!(
            apiserver.get(field).is_some(),
            "certificates[].{field} missing: {apiserver:#}"
        );
    }
    assert_eq!(apiserver["group"], "control-plane-pki");
    assert_eq!(apiserver["status"], "expired");
    assert_eq!(apiserver["notAfter"], "2026-12-01T00:00:00Z");
    assert_eq!(apiserver["residualSeconds"], -31 * 86_400);
    assert_eq!(apiserver["pki"]["certificateAuthority"], "ca");
    assert_eq!(apiserver["pki"]["externallyManaged"], false);
    assert_eq!(apiserver["pki"]["signedByCa"], true);
    let root = &v["istio"]["meshRoot"];
    assert_eq!(root["name"], "istio-ca-secret");
    assert_eq!(root["status"], "ok");
    let mismatches = v["istio"]["rootMismatches"].as_array().unwrap();
    assert_eq!(mismatches.len(), 2);
    assert_eq!(mismatches[0]["code"], "istio-root-mismatch");
    assert!(v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n.as_str().unwrap().contains("sa.key")));
}

// ---- the binary -------------------------------------------------------------------------

#[track_caller]
fn tlsgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .current_dir(dir())
        .arg("audit")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run tlsgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn cli_audit_of_a_dump_prints_the_table_sorted_by_expiry_and_exits_1() {
    let o = tlsgate(&[
        "-f",
        "cluster-dump.json",
        "-f",
        "cabundles.json",
        "--now",
        NOW_ARG,
        "-o",
        "wide",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = stdout(&o);
    let header = out.lines().next().unwrap();
    for col in [
        "NAMESPACE",
        "NAME",
        "KEY",
        "SUBJECT",
        "EXPIRES",
        "RESIDUAL TIME",
        "ISSUER",
        "USED BY",
        "STATUS",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let first = out.lines().nth(1).unwrap();
    assert!(
        first.contains("Nov 22, 2019 00:00 UTC") && first.contains("expired"),
        "oldest first: {first}"
    );
    assert!(
        out.contains("MISMATCH ConfigMap default/istio-ca-root-cert"),
        "{out}"
    );
    assert!(
        out.contains("Istio mesh root: istio-system/istio-ca-secret"),
        "{out}"
    );
}

#[test]
fn cli_pki_dir_prints_kubeadm_tables() {
    let o = tlsgate(&["--pki-dir", "pki", "--now", NOW_ARG, "-o", "wide"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("CERTIFICATE AUTHORITY   EXTERNALLY MANAGED"),
        "{out}"
    );
    let apiserver = out.lines().find(|l| l.starts_with("apiserver ")).unwrap();
    assert!(
        apiserver.contains("Dec 01, 2026 00:00 UTC") && apiserver.contains("<invalid>"),
        "{apiserver}"
    );
    let fp = out
        .lines()
        .find(|l| l.starts_with("front-proxy-client "))
        .unwrap();
    assert!(
        fp.contains("front-proxy-ca") && fp.contains(" no "),
        "SIGNED BY CA no: {fp}"
    );
    assert!(
        out.contains("[not-signed-by-ca] kubeadm PKI front-proxy-client"),
        "{out}"
    );
}

#[test]
fn cli_exit_code_is_0_when_nothing_is_within_threshold() {
    let o = tlsgate(&[
        "--kubeconfig-certs",
        "kubeconfigs/admin.conf",
        "--now",
        NOW_ARG,
        "--expiry-warning-days",
        "7",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("nothing to renew"));
}

#[test]
fn cli_expiry_warning_days_moves_the_threshold() {
    let o = tlsgate(&[
        "--kubeconfig-certs",
        "kubeconfigs/admin.conf",
        "--now",
        NOW_ARG,
        "--expiry-warning-days",
        "30",
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the admin certificate has 14 days left"
    );
}

#[test]
fn cli_json_output_is_the_documented_document() {
    let o = tlsgate(&[
        "--kubeconfig-certs",
        "kubeconfigs/dev.conf",
        "--now",
        NOW_ARG,
        "-o",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v["apiVersion"], "tlsgate.io/audit/v1");
    assert_eq!(v["summary"]["expired"], 1);
}

#[test]
fn cli_reads_a_dump_from_stdin() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(["audit", "-f", "-", "--now", NOW_ARG, "-o", "json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let dump = std::fs::read(dir().join("cabundles.json")).unwrap();
    child.stdin.take().unwrap().write_all(&dump).unwrap();
    let o = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v["summary"]["certificates"], 4);
}

#[test]
fn cli_missing_file_exits_2_naming_it() {
    let o = tlsgate(&["-f", "no-such-dump.json", "--now", NOW_ARG]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-dump.json"));
}

#[test]
fn cli_missing_kubeconfig_certs_file_exits_2_naming_the_flag() {
    let o = tlsgate(&["--kubeconfig-certs", "nope.conf"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--kubeconfig-certs nope.conf"));
}

#[test]
fn cli_missing_kubeconfig_to_connect_with_exits_2_naming_the_flag() {
    let o = tlsgate(&["--kubeconfig", "nope.conf"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--kubeconfig nope.conf: no such file"));
}

/// The old meaning of `--kubeconfig` (audit the certificates inside it), recognisable beside
/// `--pki-dir`: still audited, with one note naming the new flag.
#[test]
fn cli_kubeconfig_beside_pki_dir_audits_its_certificates_with_a_deprecation_note() {
    let old = tlsgate(&[
        "--pki-dir",
        "pki",
        "--kubeconfig",
        "kubeconfigs/admin.conf",
        "--now",
        NOW_ARG,
        "-o",
        "json",
    ]);
    let new = tlsgate(&[
        "--pki-dir",
        "pki",
        "--kubeconfig-certs",
        "kubeconfigs/admin.conf",
        "--now",
        NOW_ARG,
        "-o",
        "json",
    ]);
    let err = String::from_utf8_lossy(&old.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("deprecated") && err.contains("--kubeconfig-certs"),
        "{err}"
    );
    assert_eq!(stdout(&old), stdout(&new));
    assert_eq!(old.status.code(), new.status.code());
    assert!(String::from_utf8_lossy(&new.stderr).is_empty());
}

/// `--cluster` says which meaning: beside `--pki-dir` it connects with the kubeconfig (whose
/// API server, 127.0.0.1:1 here, is not there), no deprecation note.
#[test]
fn cli_kubeconfig_beside_pki_dir_with_cluster_connects_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("unreachable.conf");
    std::fs::write(
        &kc,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\n",
    )
    .unwrap();
    let o = tlsgate(&[
        "--pki-dir",
        "pki",
        "--cluster",
        "--kubeconfig",
        kc.to_str().unwrap(),
        "--now",
        NOW_ARG,
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("context c of kubeconfig {}", kc.display()))
            || err.contains(&format!("kubeconfig {}", kc.display())),
        "{err}"
    );
    assert!(!err.contains("deprecated"), "{err}");
}

#[test]
fn cli_two_kubeconfigs_to_connect_with_are_a_usage_error() {
    let o = tlsgate(&[
        "--cluster",
        "--kubeconfig",
        "a.conf",
        "--kubeconfig",
        "b.conf",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--kubeconfig takes one file"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn cli_bad_now_exits_2_naming_the_flag() {
    let o = tlsgate(&["--pki-dir", "pki", "--now", "yesterday"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--now"));
}

#[test]
fn cli_without_sources_or_cluster_exits_2_saying_how_to_audit_offline() {
    let home = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tlsgate"))
        .args(["audit"])
        .env_remove("KUBECONFIG")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("-f FILE"));
}
