//! One test per rule, named for the case, asserting the exact code and severity.
//! Inputs are the openssl/kubectl fixtures (tests/fixtures/README.md), time is fixed.

mod common;

use common::*;
use serde_json::json;
use tlsgate::finding::{Code, Severity};

const NS: &str = "istio-system";

fn gw(cred: &str, hosts: &[&str]) -> serde_json::Value {
    mk_istio_gateway(NS, "mygateway", Some("SIMPLE"), cred, hosts)
}

#[test]
fn seed_secret_from_kubectl_passes_with_serial_and_san_warnings() {
    let f = lint_yaml(&yaml_of("secrets/httpbin-credential-tls.yaml"), NOW);
    assert_finding(&f, Code::SerialInvalid, Severity::Warn);
    assert_finding(&f, Code::NoSubjectAltName, Severity::Warn);
    assert!(
        f.iter().all(|f| f.severity != Severity::Deny),
        "{}",
        show(&f)
    );
}

#[test]
fn modern_secret_with_san_is_clean() {
    assert_clean(&lint_yaml(
        &yaml_of("secrets/httpbin-credential-san.yaml"),
        NOW,
    ));
}

#[test]
fn expired_certificate_is_denied_with_days_and_not_after() {
    let f = assert_finding(
        &lint_yaml(&yaml_of("secrets/expired-tls.yaml"), NOW),
        Code::CertExpired,
        Severity::Deny,
    );
    assert_eq!(f.path, "data[\"tls.crt\"]");
    assert!(f.message.contains("expired 2049 days ago"), "{}", f.message);
    assert!(
        f.message.contains("notAfter 2021-05-22T09:03:01Z"),
        "{}",
        f.message
    );
}

#[test]
fn not_yet_valid_certificate_is_denied() {
    let f = assert_finding(
        &lint_yaml(&yaml_of("secrets/future-tls.yaml"), NOW),
        Code::CertNotYetValid,
        Severity::Deny,
    );
    assert!(
        f.message.contains("notBefore 2031-01-01T00:00:00Z"),
        "{}",
        f.message
    );
}

#[test]
fn certificate_expiring_within_threshold_warns() {
    // httpbin-san expires 2027-11-24; 20 days before that.
    let now = NOW + 307 * DAY;
    let f = assert_finding(
        &lint_yaml(&yaml_of("secrets/httpbin-credential-san.yaml"), now),
        Code::CertExpiringSoon,
        Severity::Warn,
    );
    assert!(f.message.contains("expires in"), "{}", f.message);
}

#[test]
fn expiry_threshold_comes_from_the_policy() {
    let policy = tlsgate::policy::Policy::from_yaml("expiryWarningDays: 400").unwrap();
    let f = lint_with(
        &[mk_tls_secret(
            NS,
            "c",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        )],
        NOW,
        &policy,
    );
    assert_finding(&f, Code::CertExpiringSoon, Severity::Warn);
}

#[track_caller]
fn assert_no_deny(findings: &[tlsgate::finding::Finding]) {
    assert!(
        findings.iter().all(|f| f.severity != Severity::Deny),
        "expected no denial, got:\n{}",
        show(findings)
    );
}

#[test]
fn expired_second_certificate_of_a_chain_warns_and_is_not_denied() {
    let mut chain = fixture("certs/httpbin-san.crt");
    chain.extend(fixture("certs/dated/expired-2021.crt"));
    let s = mk_secret(
        NS,
        "c",
        "kubernetes.io/tls",
        &[
            ("tls.crt", &chain),
            ("tls.key", &fixture("certs/httpbin-san.key")),
        ],
    );
    let found = lint_at(&[s], NOW);
    let f = assert_finding(&found, Code::ChainCertExpired, Severity::Warn);
    assert!(f.message.contains("certificate #1"), "{}", f.message);
    assert_no(&found, Code::CertExpired);
    assert_no_deny(&found);
}

#[test]
fn cross_signed_chain_with_expired_cross_sign_is_allowed_naming_it() {
    let found = lint_yaml(&yaml_of("secrets/xsign-chain.yaml"), NOW);
    let f = assert_finding(&found, Code::ChainCertExpired, Severity::Warn);
    assert_eq!(f.path, "data[\"tls.crt\"]");
    assert!(
        f.message
            .contains("tls.crt certificate #2 (CN=example New Root CA) expired"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("drop it from the chain"),
        "{}",
        f.message
    );
    assert_no_deny(&found);
}

#[test]
fn expired_leaf_before_a_valid_intermediate_is_denied() {
    let found = lint_yaml(&yaml_of("secrets/xsign-expired-leaf.yaml"), NOW);
    let f = assert_finding(&found, Code::CertExpired, Severity::Deny);
    assert!(
        f.message
            .contains("tls.crt certificate #0 (CN=app.example.com) expired"),
        "{}",
        f.message
    );
    assert_no(&found, Code::ChainCertExpired);
}

#[test]
fn rotating_ca_bundle_with_the_old_ca_expired_warns_and_is_not_denied() {
    let found = lint_yaml(&yaml_of("secrets/ca-rotating.yaml"), NOW);
    let f = found
        .iter()
        .find(|f| f.code == Code::ChainCertExpired && f.path == "data[\"ca.crt\"]")
        .unwrap_or_else(|| panic!("{}", show(&found)));
    assert_eq!(f.severity, Severity::Warn);
    assert!(
        f.message
            .contains("ca.crt certificate #0 (CN=example Old Root CA) expired"),
        "{}",
        f.message
    );
    assert!(f.message.contains("1 valid CA"), "{}", f.message);
    assert_no_deny(&found);
}

#[test]
fn ca_bundle_with_every_ca_expired_is_denied() {
    let found = lint_yaml(&yaml_of("secrets/ca-expired.yaml"), NOW);
    let f = assert_finding(&found, Code::CertExpired, Severity::Deny);
    assert_eq!(f.path, "data[\"ca.crt\"]");
}

#[test]
fn ca_bundle_with_one_ca_not_yet_valid_and_none_valid_is_denied() {
    let mut bundle = fixture("certs/xsign/old-root.crt");
    bundle.extend(fixture("certs/dated/future-2031.crt"));
    let s = mk_secret(NS, "c", "Opaque", &[("ca.crt", &bundle)]);
    let found = lint_at(&[s], NOW);
    assert_finding(&found, Code::CertExpired, Severity::Deny);
    assert_finding(&found, Code::CertNotYetValid, Severity::Deny);
}

#[test]
fn key_of_another_certificate_is_a_mismatch() {
    let f = assert_finding(
        &lint_yaml(&yaml_of("secrets/mismatch.yaml"), NOW),
        Code::KeyMismatch,
        Severity::Deny,
    );
    assert_eq!(f.path, "data[\"tls.key\"]");
}

#[track_caller]
fn key_format_matches(name: &str) {
    let s = mk_tls_secret(
        NS,
        "k",
        &format!("certs/keys/{name}.crt"),
        &format!("certs/keys/{name}.key"),
    );
    let f = lint_at(&[s], NOW);
    assert_no(&f, Code::KeyMismatch);
    assert_no(&f, Code::SecretMalformed);
}

#[test]
fn rsa_pkcs1_key_matches_its_certificate() {
    key_format_matches("rsa-pkcs1");
}

#[test]
fn rsa_pkcs8_key_matches_its_certificate() {
    key_format_matches("rsa-pkcs8");
}

#[test]
fn ec_p256_sec1_key_matches_its_certificate() {
    key_format_matches("ec-p256-sec1");
}

#[test]
fn ec_p256_sec1_key_after_ec_parameters_block_matches() {
    key_format_matches("ec-p256-sec1-params");
}

#[test]
fn ec_p256_pkcs8_key_matches_its_certificate() {
    key_format_matches("ec-p256-pkcs8");
}

#[test]
fn ec_p384_sec1_key_matches_its_certificate() {
    key_format_matches("ec-p384-sec1");
}

#[test]
fn ed25519_key_matches_its_certificate() {
    key_format_matches("ed25519");
}

#[test]
fn ec_key_with_rsa_certificate_is_a_mismatch() {
    let s = mk_tls_secret(
        NS,
        "k",
        "certs/keys/rsa-pkcs1.crt",
        "certs/keys/ec-p256-sec1.key",
    );
    assert_finding(&lint_at(&[s], NOW), Code::KeyMismatch, Severity::Deny);
}

#[test]
fn encrypted_pkcs8_key_is_denied() {
    assert_finding(
        &lint_yaml(&yaml_of("secrets/encrypted-key.yaml"), NOW),
        Code::KeyEncrypted,
        Severity::Deny,
    );
}

#[test]
fn legacy_encrypted_pem_key_is_denied() {
    assert_finding(
        &lint_yaml(&yaml_of("secrets/encrypted-legacy-key.yaml"), NOW),
        Code::KeyEncrypted,
        Severity::Deny,
    );
}

#[test]
fn reversed_chain_warns_that_the_leaf_is_not_first() {
    let f = assert_finding(
        &lint_yaml(&yaml_of("secrets/reversed-chain.yaml"), NOW),
        Code::ChainOrder,
        Severity::Warn,
    );
    assert!(f.message.contains("is #1, not first"), "{}", f.message);
}

#[test]
fn full_chain_in_order_is_clean() {
    assert_clean(&lint_yaml(&yaml_of("secrets/fullchain.yaml"), NOW));
}

#[test]
fn chain_with_an_unrelated_second_certificate_warns() {
    let mut chain = fixture("certs/chain/leaf.crt");
    chain.extend(fixture("certs/example.com.crt"));
    let s = mk_secret(
        NS,
        "c",
        "kubernetes.io/tls",
        &[
            ("tls.crt", &chain),
            ("tls.key", &fixture("certs/chain/leaf.key")),
        ],
    );
    assert_finding(&lint_at(&[s], NOW), Code::ChainOrder, Severity::Warn);
}

#[test]
fn rsa_1024_key_is_weak() {
    let s = mk_tls_secret(NS, "w", "certs/weak/rsa1024.crt", "certs/weak/rsa1024.key");
    let f = assert_finding(&lint_at(&[s], NOW), Code::WeakKey, Severity::Warn);
    assert!(f.message.contains("1024-bit"), "{}", f.message);
}

#[test]
fn md5_signature_is_denied() {
    let s = mk_tls_secret(NS, "w", "certs/weak/md5.crt", "certs/weak/md5.key");
    assert_finding(&lint_at(&[s], NOW), Code::WeakSignature, Severity::Deny);
}

#[test]
fn sha1_signature_warns() {
    let s = mk_tls_secret(NS, "w", "certs/weak/sha1.crt", "certs/weak/sha1.key");
    assert_finding(&lint_at(&[s], NOW), Code::WeakSignature, Severity::Warn);
}

#[test]
fn serial_zero_from_set_serial_0_warns() {
    let s = mk_tls_secret(
        NS,
        "s",
        "certs/httpbin.example.com.crt",
        "certs/httpbin.example.com.key",
    );
    let f = assert_finding(&lint_at(&[s], NOW), Code::SerialInvalid, Severity::Warn);
    assert!(f.message.contains("serial number of 0"), "{}", f.message);
}

#[test]
fn gateway_host_not_in_certificate_is_denied_naming_both() {
    let objs = [
        mk_tls_secret(
            NS,
            "httpbin-credential",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        gw("httpbin-credential", &["helloworld-v1.example.com"]),
    ];
    let f = assert_finding(&lint_at(&objs, NOW), Code::HostNotCovered, Severity::Deny);
    assert_eq!(f.object.kind, "Gateway");
    assert_eq!(f.path, "spec.servers[0].tls.credentialName");
    assert!(
        f.message
            .contains("covers httpbin.example.com, not helloworld-v1.example.com"),
        "{}",
        f.message
    );
}

#[test]
fn wildcard_certificate_covers_one_label() {
    let objs = [
        mk_tls_secret(
            NS,
            "wild",
            "certs/wildcard.example.com.crt",
            "certs/wildcard.example.com.key",
        ),
        gw("wild", &["httpbin.example.com", "a.b.example.com"]),
    ];
    let f = assert_finding(&lint_at(&objs, NOW), Code::HostNotCovered, Severity::Deny);
    assert!(f.message.contains("not a.b.example.com"), "{}", f.message);
    assert!(
        !f.message.contains("httpbin.example.com served"),
        "{}",
        f.message
    );
}

#[test]
fn cn_only_certificate_matches_by_cn_and_warns_about_missing_san() {
    let objs = [
        mk_tls_secret(
            NS,
            "cn",
            "certs/httpbin.example.com.crt",
            "certs/httpbin.example.com.key",
        ),
        gw("cn", &["httpbin.example.com"]),
    ];
    let f = lint_at(&objs, NOW);
    assert_no(&f, Code::HostNotCovered);
    assert_finding(&f, Code::NoSubjectAltName, Severity::Warn);
}

#[test]
fn mutual_without_ca_is_denied() {
    let objs = [
        mk_tls_secret(
            NS,
            "httpbin-credential",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        mk_istio_gateway(
            NS,
            "mygateway",
            Some("MUTUAL"),
            "httpbin-credential",
            &["httpbin.example.com"],
        ),
    ];
    assert_finding(&lint_at(&objs, NOW), Code::CaMissing, Severity::Deny);
}

#[test]
fn mutual_with_ca_crt_from_the_seed_is_accepted() {
    let yaml = yaml_of("secrets/httpbin-credential-mutual.yaml");
    let gw = mk_istio_gateway(
        NS,
        "mygateway",
        Some("MUTUAL"),
        "httpbin-credential",
        &["httpbin.example.com"],
    );
    let text = format!("{yaml}\n---\n{}", serde_json::to_string(&gw).unwrap());
    let f = lint_yaml(&text, NOW);
    assert_no(&f, Code::CaMissing);
    assert!(
        f.iter().all(|f| f.severity != Severity::Deny),
        "{}",
        show(&f)
    );
}

#[test]
fn mutual_with_companion_cacert_secret_is_accepted() {
    let objs = [
        mk_secret(
            NS,
            "httpbin-credential",
            "Opaque",
            &[
                ("cert", &fixture("certs/httpbin-san.crt")),
                ("key", &fixture("certs/httpbin-san.key")),
            ],
        ),
        mk_secret(
            NS,
            "httpbin-credential-cacert",
            "Opaque",
            &[("cacert", &fixture("certs/example.com.crt"))],
        ),
        mk_istio_gateway(
            NS,
            "mygateway",
            Some("MUTUAL"),
            "httpbin-credential",
            &["httpbin.example.com"],
        ),
    ];
    assert_no(&lint_at(&objs, NOW), Code::CaMissing);
}

#[test]
fn ca_bundle_entry_that_is_not_a_ca_is_denied() {
    let s = mk_secret(
        NS,
        "m",
        "Opaque",
        &[
            ("tls.crt", &fixture("certs/chain/leaf.crt")),
            ("tls.key", &fixture("certs/chain/leaf.key")),
            ("ca.crt", &fixture("certs/chain/bundle-with-leaf.pem")),
        ],
    );
    let f = assert_finding(&lint_at(&[s], NOW), Code::CaNotCa, Severity::Deny);
    assert!(f.message.contains("certificate #1"), "{}", f.message);
}

#[test]
fn generic_secret_with_both_pairs_says_which_one_istio_uses() {
    let s = mk_secret(
        NS,
        "both",
        "Opaque",
        &[
            ("cert", &fixture("certs/httpbin-san.crt")),
            ("key", &fixture("certs/httpbin-san.key")),
            ("tls.crt", &fixture("certs/dated/expired-2021.crt")),
            ("tls.key", &fixture("certs/dated/expired-2021.key")),
        ],
    );
    let f = lint_at(&[s], NOW);
    let shadow = assert_finding(&f, Code::CredentialKeysShadowed, Severity::Info);
    assert!(
        shadow.message.contains("use cert/key"),
        "{}",
        shadow.message
    );
}

#[test]
fn plugged_in_cacerts_that_chain_are_clean() {
    let f = lint_yaml(&yaml_of("secrets/cacerts.yaml"), NOW);
    assert_no(&f, Code::IstioCaInvalid);
}

#[test]
fn cacerts_with_a_foreign_root_is_istio_ca_invalid() {
    let f = assert_finding(
        &lint_yaml(&yaml_of("secrets/cacerts-broken.yaml"), NOW),
        Code::IstioCaInvalid,
        Severity::Deny,
    );
    assert!(
        f.message.contains("does not chain to root-cert.pem"),
        "{}",
        f.message
    );
}

#[test]
fn istio_ca_secret_past_its_year_is_expired_as_in_the_citadel_outage() {
    let f = assert_finding(
        &lint_yaml(&yaml_of("secrets/istio-ca-secret-expired.yaml"), NOW),
        Code::CertExpired,
        Severity::Deny,
    );
    assert!(f.message.contains("istiod will not start"), "{}", f.message);
}

#[test]
fn istio_ca_key_not_matching_ca_cert_is_istio_ca_invalid() {
    let s = mk_secret(
        NS,
        "istio-ca-secret",
        "istio.io/ca-root",
        &[
            (
                "ca-cert.pem",
                &fixture("certs/istio/istio-ca-secret/ca-cert.pem"),
            ),
            ("ca-key.pem", &fixture("certs/istio/cacerts/ca-key.pem")),
        ],
    );
    assert_finding(&lint_at(&[s], NOW), Code::IstioCaInvalid, Severity::Deny);
}

#[test]
fn istio_ca_cert_that_is_not_a_ca_is_istio_ca_invalid() {
    let s = mk_secret(
        NS,
        "istio-ca-secret",
        "istio.io/ca-root",
        &[
            ("ca-cert.pem", &fixture("certs/httpbin-san.crt")),
            ("ca-key.pem", &fixture("certs/httpbin-san.key")),
        ],
    );
    let f = assert_finding(&lint_at(&[s], NOW), Code::IstioCaInvalid, Severity::Deny);
    assert!(f.message.contains("not a CA certificate"), "{}", f.message);
}

#[test]
fn credential_in_another_namespace_is_not_found_with_a_hint() {
    let objs = [
        mk_tls_secret(
            "default",
            "httpbin-credential",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        gw("httpbin-credential", &["httpbin.example.com"]),
    ];
    let f = assert_finding(
        &lint_at(&objs, NOW),
        Code::CredentialNotFound,
        Severity::Warn,
    );
    assert!(
        f.message
            .contains("not found in istio-system, where the ingress gateway reads credentials; it exists in default"),
        "{}",
        f.message
    );
}

#[test]
fn credential_not_found_can_be_made_to_deny() {
    let policy =
        tlsgate::policy::Policy::from_yaml("severities: {credential-not-found: deny}").unwrap();
    let f = lint_with(&[gw("nope", &["httpbin.example.com"])], NOW, &policy);
    assert_finding(&f, Code::CredentialNotFound, Severity::Deny);
}

#[test]
fn gateway_outside_istio_system_finds_credential_in_gateway_namespace() {
    let objs = [
        mk_tls_secret(
            "istio-system",
            "httpbin-credential",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        mk_istio_gateway(
            "apps",
            "gw",
            Some("SIMPLE"),
            "httpbin-credential",
            &["httpbin.example.com"],
        ),
    ];
    assert_no(&lint_at(&objs, NOW), Code::CredentialNotFound);
}

#[test]
fn credential_name_with_istio_prefix_is_reserved() {
    let objs = [
        mk_tls_secret(
            NS,
            "istio-httpbin",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        gw("istio-httpbin", &["httpbin.example.com"]),
    ];
    assert_finding(
        &lint_at(&objs, NOW),
        Code::CredentialNameReserved,
        Severity::Warn,
    );
}

#[test]
fn credential_with_token_key_warns() {
    let s = mk_secret(
        NS,
        "tok",
        "Opaque",
        &[
            ("tls.crt", &fixture("certs/httpbin-san.crt")),
            ("tls.key", &fixture("certs/httpbin-san.key")),
            ("token", b"abc"),
        ],
    );
    assert_finding(
        &lint_at(&[s, gw("tok", &["httpbin.example.com"])], NOW),
        Code::CredentialHasToken,
        Severity::Warn,
    );
}

#[test]
fn passthrough_with_credential_warns_it_is_ignored() {
    let g = mk_istio_gateway(
        NS,
        "pt",
        Some("PASSTHROUGH"),
        "httpbin-credential",
        &["nginx.example.com"],
    );
    assert_finding(
        &lint_at(&[g], NOW),
        Code::TlsModeIgnoresCredential,
        Severity::Warn,
    );
}

#[test]
fn unset_tls_mode_is_passthrough_and_says_so() {
    let g = mk_istio_gateway(NS, "pt", None, "httpbin-credential", &["nginx.example.com"]);
    let f = assert_finding(
        &lint_at(&[g], NOW),
        Code::TlsModeIgnoresCredential,
        Severity::Warn,
    );
    assert!(f.message.contains("unset"), "{}", f.message);
}

#[test]
fn istio_mutual_with_credential_is_denied() {
    let g = mk_istio_gateway(
        NS,
        "im",
        Some("ISTIO_MUTUAL"),
        "httpbin-credential",
        &["httpbin.example.com"],
    );
    assert_finding(
        &lint_at(&[g], NOW),
        Code::IstioMutualWithCredential,
        Severity::Deny,
    );
}

#[test]
fn virtual_service_naming_a_missing_gateway_suggests_a_close_name() {
    let objs = [
        gw("x", &["other.example.com"]),
        mk_virtual_service(NS, "httpbin", &["mygatway"], &["httpbin.example.com"]),
    ];
    let f = assert_finding(&lint_at(&objs, NOW), Code::GatewayNotFound, Severity::Warn);
    assert!(
        f.message.contains("did you mean `mygateway`?"),
        "{}",
        f.message
    );
}

#[test]
fn virtual_service_mesh_gateway_is_not_looked_up() {
    assert_no(
        &lint_at(&[mk_virtual_service(NS, "v", &["mesh"], &["a"])], NOW),
        Code::GatewayNotFound,
    );
}

#[test]
fn virtual_service_gateway_in_other_namespace_resolves_explicitly() {
    let objs = [
        gw("x", &["httpbin.example.com"]),
        mk_virtual_service(
            "apps",
            "v",
            &["istio-system/mygateway"],
            &["httpbin.example.com"],
        ),
    ];
    assert_no(&lint_at(&objs, NOW), Code::GatewayNotFound);
}

#[test]
fn virtual_service_host_not_served_by_its_gateway_warns() {
    let objs = [
        gw("x", &["httpbin.example.com"]),
        mk_virtual_service(NS, "v", &["mygateway"], &["other.example.org"]),
    ];
    assert_finding(
        &lint_at(&objs, NOW),
        Code::VirtualserviceHostNotInGateway,
        Severity::Warn,
    );
}

#[test]
fn gateway_api_cross_namespace_ref_without_grant_is_denied() {
    let objs = [
        mk_tls_secret(
            "certs",
            "httpbin-credential",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        mk_gateway_api(
            NS,
            "web",
            "httpbin.example.com",
            json!([{"kind": "Secret", "name": "httpbin-credential", "namespace": "certs"}]),
        ),
    ];
    assert_finding(&lint_at(&objs, NOW), Code::RefNotPermitted, Severity::Deny);
}

#[test]
fn gateway_api_cross_namespace_ref_with_grant_is_accepted() {
    let grant = json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
        "metadata": {"name": "allow", "namespace": "certs"},
        "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": NS}],
                 "to": [{"group": "", "kind": "Secret"}]}
    });
    let objs = [
        mk_tls_secret(
            "certs",
            "httpbin-credential",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        mk_gateway_api(
            NS,
            "web",
            "httpbin.example.com",
            json!([{"kind": "Secret", "name": "httpbin-credential", "namespace": "certs"}]),
        ),
        grant,
    ];
    assert_clean(&lint_at(&objs, NOW));
}

#[test]
fn gateway_api_ref_to_a_configmap_is_invalid_kind() {
    let g = mk_gateway_api(
        NS,
        "web",
        "httpbin.example.com",
        json!([{"kind": "ConfigMap", "name": "x"}]),
    );
    assert_finding(&lint_at(&[g], NOW), Code::RefInvalidKind, Severity::Deny);
}

#[test]
fn ingress_host_not_covered_is_denied() {
    let objs = [
        mk_tls_secret(
            "web",
            "tls",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        mk_ingress("web", "ing", "tls", &["shop.example.com"]),
    ];
    let f = assert_finding(&lint_at(&objs, NOW), Code::HostNotCovered, Severity::Deny);
    assert_eq!(f.path, "spec.tls[0].secretName");
}

#[test]
fn ingress_secret_in_its_own_namespace_only() {
    let objs = [
        mk_tls_secret(
            "other",
            "tls",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        mk_ingress("web", "ing", "tls", &["httpbin.example.com"]),
    ];
    assert_finding(
        &lint_at(&objs, NOW),
        Code::CredentialNotFound,
        Severity::Warn,
    );
}

#[test]
fn gateway_pointing_at_an_expired_secret_is_denied_too() {
    let objs = [
        mk_tls_secret(
            NS,
            "old",
            "certs/dated/expired-2021.crt",
            "certs/dated/expired-2021.key",
        ),
        gw("old", &["httpbin.example.com"]),
    ];
    let f = lint_at(&objs, NOW);
    assert!(
        f.iter().any(|f| f.code == Code::CertExpired
            && f.object.kind == "Gateway"
            && f.severity == Severity::Deny),
        "{}",
        show(&f)
    );
}

#[test]
fn private_key_in_certificate_field_is_malformed_without_leaking_it() {
    let key = fixture("certs/httpbin-san.key");
    let s = mk_secret(
        NS,
        "swap",
        "kubernetes.io/tls",
        &[("tls.crt", &key), ("tls.key", &key)],
    );
    let f = assert_finding(&lint_at(&[s], NOW), Code::SecretMalformed, Severity::Deny);
    assert!(f.message.contains("holds a private key"), "{}", f.message);
    let body = String::from_utf8_lossy(&key);
    let secret_line = body.lines().nth(1).unwrap();
    assert!(!f.message.contains(secret_line));
}

#[test]
fn der_certificate_where_pem_is_expected_is_malformed() {
    let pem = fixture("certs/httpbin-san.crt");
    let der = tlsgate::analysis::pem::parse(&pem, 1)
        .unwrap()
        .remove(0)
        .der;
    let s = mk_secret(
        NS,
        "der",
        "kubernetes.io/tls",
        &[
            ("tls.crt", &der),
            ("tls.key", &fixture("certs/httpbin-san.key")),
        ],
    );
    let f = assert_finding(&lint_at(&[s], NOW), Code::SecretMalformed, Severity::Deny);
    assert!(f.message.contains("DER"), "{}", f.message);
}

#[test]
fn empty_tls_key_is_malformed() {
    let s = mk_secret(
        NS,
        "e",
        "kubernetes.io/tls",
        &[
            ("tls.crt", &fixture("certs/httpbin-san.crt")),
            ("tls.key", b""),
        ],
    );
    let f = assert_finding(&lint_at(&[s], NOW), Code::SecretMalformed, Severity::Deny);
    assert_eq!(f.path, "data[\"tls.key\"]");
}

#[test]
fn invalid_base64_is_malformed() {
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b", "namespace": NS},
        "type": "kubernetes.io/tls", "data": {"tls.crt": "!!!not base64", "tls.key": "AA=="}});
    let f = lint_at(&[s], NOW);
    assert!(
        f.iter()
            .any(|f| f.code == Code::SecretMalformed && f.message.contains("not valid base64")),
        "{}",
        show(&f)
    );
}

#[test]
fn string_data_is_read_as_plain_text() {
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "sd", "namespace": NS},
        "type": "kubernetes.io/tls", "stringData": {
            "tls.crt": String::from_utf8(fixture("certs/dated/expired-2021.crt")).unwrap(),
            "tls.key": String::from_utf8(fixture("certs/dated/expired-2021.key")).unwrap()}});
    assert_finding(&lint_at(&[s], NOW), Code::CertExpired, Severity::Deny);
}

#[test]
fn too_many_certificates_in_a_bundle_is_malformed_not_slow() {
    let one = fixture("certs/example.com.crt");
    let many: Vec<u8> = one.iter().copied().cycle().take(one.len() * 101).collect();
    let s = mk_secret(NS, "many", "Opaque", &[("ca.crt", &many)]);
    let f = assert_finding(&lint_at(&[s], NOW), Code::SecretMalformed, Severity::Deny);
    assert!(f.message.contains("more than 100"), "{}", f.message);
}

#[test]
fn opaque_secret_without_tls_keys_is_ignored() {
    let s = mk_secret(NS, "app-config", "Opaque", &[("password", b"hunter2")]);
    assert_clean(&lint_at(&[s], NOW));
}

#[test]
fn excluded_namespace_is_not_reported() {
    let policy = tlsgate::policy::Policy::from_yaml("excludeNamespaces: [istio-system]").unwrap();
    assert_clean(&lint_with(
        &[mk_tls_secret(
            NS,
            "old",
            "certs/dated/expired-2021.crt",
            "certs/dated/expired-2021.key",
        )],
        NOW,
        &policy,
    ));
}

#[test]
fn severity_off_drops_the_code() {
    let policy = tlsgate::policy::Policy::from_yaml(
        "severities: {serial-invalid: off, no-subject-alt-name: off}",
    )
    .unwrap();
    assert_clean(&lint_yaml_with(
        &yaml_of("secrets/httpbin-credential-tls.yaml"),
        &policy,
    ));
}

fn lint_yaml_with(yaml: &str, policy: &tlsgate::policy::Policy) -> Vec<tlsgate::finding::Finding> {
    let mut loaded = tlsgate::load::Loaded::default();
    tlsgate::load::load_text(yaml, "t.yaml", &mut loaded);
    let analyzer = std::sync::Arc::new(tlsgate::analysis::Analyzer::new());
    tlsgate::lint::lint(&loaded, policy, NOW, analyzer)
        .findings
        .into_iter()
        .map(|e| e.finding)
        .collect()
}

#[test]
fn unknown_code_in_policy_is_an_error_naming_it() {
    let err = tlsgate::policy::Policy::from_yaml("severities: {cert-expird: off}").unwrap_err();
    assert!(format!("{err:#}").contains("cert-expird"), "{err:#}");
}

#[test]
fn istio_ca_root_cert_configmap_without_current_root_is_a_mismatch() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "istio-ca-root-cert", "namespace": "default"},
        "data": {"root-cert.pem": String::from_utf8(fixture("certs/example.com.crt")).unwrap()}});
    let objs = [
        serde_json::from_str::<serde_json::Value>(
            &serde_json::to_string(&yaml_value("secrets/cacerts.yaml")).unwrap(),
        )
        .unwrap(),
        cm,
    ];
    assert_finding(
        &lint_at(&objs, NOW),
        Code::IstioRootMismatch,
        Severity::Warn,
    );
}

fn yaml_value(rel: &str) -> serde_json::Value {
    yaml_serde::from_str(&yaml_of(rel)).unwrap()
}

#[test]
fn virtual_service_naming_a_missing_gateway_suggests_the_one_serving_its_host() {
    let objs = [
        gw("x", &["httpbin.example.com"]),
        mk_virtual_service(
            NS,
            "httpbin",
            &["httpbin-gateway"],
            &["httpbin.example.com"],
        ),
    ];
    let f = assert_finding(&lint_at(&objs, NOW), Code::GatewayNotFound, Severity::Warn);
    assert!(
        f.message
            .contains("did you mean `mygateway` (it serves httpbin.example.com)?"),
        "{}",
        f.message
    );
}

#[test]
fn workload_certificate_without_subject_is_named_by_its_spiffe_id() {
    let dump: serde_json::Value =
        serde_json::from_slice(&fixture("audit/cluster-dump.json")).unwrap();
    let sleep = dump["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["metadata"]["name"] == "istio.sleep")
        .unwrap()
        .clone();
    let f = lint_at(&[sleep], NOW);
    let expired = f
        .iter()
        .find(|f| f.code == Code::CertExpired && f.path == "data[\"cert-chain.pem\"]")
        .unwrap_or_else(|| panic!("{}", show(&f)));
    assert!(
        expired
            .message
            .contains("(spiffe://cluster.local/ns/default/sa/sleep)"),
        "{}",
        expired.message
    );
}

// ---- Real-world misses: half a Secret, host forms, public suffixes, SAN parsing ------------

fn only(found: &[tlsgate::finding::Finding], code: Code) -> Vec<tlsgate::finding::Finding> {
    found.iter().filter(|f| f.code == code).cloned().collect()
}

#[test]
fn secret_missing_its_key_still_reports_the_expired_certificate() {
    let found = lint_yaml(&yaml_of("secrets/expired-key-missing.yaml"), NOW);
    let malformed = only(&found, Code::SecretMalformed);
    assert_eq!(malformed.len(), 1, "{}", show(&found));
    assert_eq!(malformed[0].path, "data[\"tls.key\"]");
    assert_finding(&found, Code::CertExpired, Severity::Deny);
}

#[test]
fn secret_missing_its_key_still_reports_the_uncovered_host() {
    let s = mk_secret(
        NS,
        "cred",
        "Opaque",
        &[("tls.crt", &fixture("certs/httpbin-san.crt"))],
    );
    let found = lint_at(&[s, gw("cred", &["other.example.com"])], NOW);
    let f = assert_finding(&found, Code::HostNotCovered, Severity::Deny);
    assert!(f.message.contains("not other.example.com"), "{}", f.message);
}

#[test]
fn istio_own_namespace_host_form_is_matched_against_the_certificate() {
    let found = lint_at(
        &[
            mk_tls_secret(NS, "cred", "certs/httpbin-san.crt", "certs/httpbin-san.key"),
            gw(
                "cred",
                &["./httpbin.example.com", "*/helloworld.example.com"],
            ),
        ],
        NOW,
    );
    let f = assert_finding(&found, Code::HostNotCovered, Severity::Deny);
    // `./httpbin.example.com` is covered: only the other host is named.
    assert!(
        f.message.contains("not helloworld.example.com;"),
        "{}",
        f.message
    );
}

#[test]
fn dot_host_admits_virtual_services_of_the_gateways_namespace_only() {
    let gateway = gw("cred", &["./httpbin.example.com"]);
    let same = mk_virtual_service(NS, "vs", &["mygateway"], &["httpbin.example.com"]);
    assert_no(
        &lint_at(&[gateway.clone(), same], NOW),
        Code::VirtualserviceHostNotInGateway,
    );
    let other = mk_virtual_service(
        "default",
        "vs",
        &["istio-system/mygateway"],
        &["httpbin.example.com"],
    );
    assert_finding(
        &lint_at(&[gateway, other], NOW),
        Code::VirtualserviceHostNotInGateway,
        Severity::Warn,
    );
}

#[test]
fn star_slash_host_admits_virtual_services_of_any_namespace() {
    let gateway = gw("cred", &["*/httpbin.example.com"]);
    let vs = mk_virtual_service(
        "default",
        "vs",
        &["istio-system/mygateway"],
        &["httpbin.example.com"],
    );
    assert_no(
        &lint_at(&[gateway, vs], NOW),
        Code::VirtualserviceHostNotInGateway,
    );
}

#[track_caller]
fn public_suffix_case(cert: &str, key: &str, host: &str, wildcard: &str) {
    let found = lint_at(
        &[mk_tls_secret(NS, "cred", cert, key), gw("cred", &[host])],
        NOW,
    );
    let f = assert_finding(&found, Code::HostNotCovered, Severity::Warn);
    assert!(
        f.message.contains(&format!(
            "only through {wildcard}, a wildcard on a public suffix"
        )),
        "{}",
        f.message
    );
}

#[test]
fn wildcard_on_com_does_not_cover_a_name() {
    public_suffix_case(
        "certs/names/wildcard-com.crt",
        "certs/names/wildcard-com.key",
        "example.com",
        "*.com",
    );
}

#[test]
fn wildcard_on_co_uk_does_not_cover_a_name() {
    public_suffix_case(
        "certs/names/wildcard-co-uk.crt",
        "certs/names/wildcard-co-uk.key",
        "shop.co.uk",
        "*.co.uk",
    );
}

#[test]
fn malformed_subject_alt_name_is_reported_as_malformed_not_missing() {
    let found = lint_at(
        &[
            mk_tls_secret(
                NS,
                "cred",
                "certs/names/bad-san.crt",
                "certs/names/bad-san.key",
            ),
            gw("cred", &["bad-san.example.com"]),
        ],
        NOW,
    );
    let f = assert_finding(&found, Code::SanMalformed, Severity::Warn);
    assert!(f.message.contains("cannot be parsed"), "{}", f.message);
    assert_no(&found, Code::NoSubjectAltName);
    assert_no(&found, Code::HostNotCovered);
}

#[test]
fn ip_host_not_in_the_certificate_gets_an_ip_san_hint() {
    let found = lint_at(
        &[
            mk_tls_secret(NS, "cred", "certs/names/ip.crt", "certs/names/ip.key"),
            gw("cred", &["10.9.9.9"]),
        ],
        NOW,
    );
    let f = assert_finding(&found, Code::HostNotCovered, Severity::Deny);
    assert!(
        f.message.contains("covers IP 10.1.2.3, not 10.9.9.9"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("subjectAltName=IP:10.9.9.9"),
        "{}",
        f.message
    );
}

#[test]
fn ip_host_present_only_as_a_dns_san_says_so() {
    let found = lint_at(
        &[
            mk_tls_secret(
                NS,
                "cred",
                "certs/names/ip-as-dns.crt",
                "certs/names/ip-as-dns.key",
            ),
            gw("cred", &["10.1.2.3"]),
        ],
        NOW,
    );
    let f = assert_finding(&found, Code::HostNotCovered, Severity::Deny);
    assert!(
        f.message.contains("has 10.1.2.3 only as a DNS SAN"),
        "{}",
        f.message
    );
    assert!(
        f.message.contains("subjectAltName=IP:10.1.2.3"),
        "{}",
        f.message
    );
    assert!(!f.message.contains("not 10.1.2.3"), "{}", f.message);
}

#[test]
fn ip_host_in_an_ip_san_is_covered() {
    let found = lint_at(
        &[
            mk_tls_secret(NS, "cred", "certs/names/ip.crt", "certs/names/ip.key"),
            gw("cred", &["10.1.2.3"]),
        ],
        NOW,
    );
    assert_no(&found, Code::HostNotCovered);
}

#[test]
fn client_authentication_certificate_gets_no_dns_name_advice() {
    let s = mk_tls_secret(
        NS,
        "client",
        "certs/names/client-only.crt",
        "certs/names/client-only.key",
    );
    assert_no(&lint_at(&[s], NOW), Code::NoSubjectAltName);
}

#[test]
fn one_missing_key_is_one_secret_malformed() {
    let s = mk_secret(
        NS,
        "cred",
        "kubernetes.io/tls",
        &[("tls.crt", &fixture("certs/httpbin-san.crt"))],
    );
    let found = lint_at(&[s, gw("cred", &["httpbin.example.com"])], NOW);
    let on_secret: Vec<_> = only(&found, Code::SecretMalformed)
        .into_iter()
        .filter(|f| f.object.kind == "Secret")
        .collect();
    assert_eq!(on_secret.len(), 1, "{}", show(&found));
    let on_gateway: Vec<_> = only(&found, Code::SecretMalformed)
        .into_iter()
        .filter(|f| f.object.kind == "Gateway")
        .collect();
    assert_eq!(on_gateway.len(), 1, "{}", show(&found));
}

#[test]
fn tls_cert_key_name_gets_a_did_you_mean_tls_crt_hint() {
    let s = mk_secret(
        NS,
        "cred",
        "kubernetes.io/tls",
        &[
            ("tls.cert", &fixture("certs/httpbin-san.crt")),
            ("tls.key", &fixture("certs/httpbin-san.key")),
        ],
    );
    let f = assert_finding(&lint_at(&[s], NOW), Code::SecretMalformed, Severity::Deny);
    assert_eq!(f.path, "data[\"tls.crt\"]");
    assert!(
        f.message
            .contains("it has `tls.cert`: did you mean `tls.crt`?"),
        "{}",
        f.message
    );
}

#[test]
fn empty_value_is_not_listed_as_present() {
    let s = mk_secret(
        NS,
        "cred",
        "Opaque",
        &[("crt", &fixture("certs/httpbin-san.crt")), ("tls.crt", b"")],
    );
    let found = lint_at(&[s, gw("cred", &["httpbin.example.com"])], NOW);
    let f = found
        .iter()
        .find(|f| f.code == Code::SecretMalformed && f.object.kind == "Gateway")
        .unwrap_or_else(|| panic!("{}", show(&found)));
    assert!(
        f.message.contains("has crt (tls.crt is empty)"),
        "{}",
        f.message
    );
}

#[track_caller]
fn dsa_case(key: &str) {
    let s = mk_secret(
        NS,
        "cred",
        "kubernetes.io/tls",
        &[
            ("tls.crt", &fixture("certs/keys/dsa.crt")),
            ("tls.key", &fixture(key)),
        ],
    );
    let f = assert_finding(&lint_at(&[s], NOW), Code::SecretMalformed, Severity::Deny);
    assert!(
        f.message.contains("DSA keys are not supported by Envoy"),
        "{}",
        f.message
    );
}

#[test]
fn traditional_dsa_key_is_named_as_unsupported_by_envoy() {
    dsa_case("certs/keys/dsa-traditional.key");
}

#[test]
fn pkcs8_dsa_key_is_named_as_unsupported_by_envoy() {
    dsa_case("certs/keys/dsa.key");
}

#[test]
fn virtual_service_naming_a_gateway_without_servers_says_it_serves_no_hosts() {
    let empty = json!({
        "apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "mygateway", "namespace": NS},
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": []}
    });
    let vs = mk_virtual_service(NS, "vs", &["mygateway"], &["httpbin.example.com"]);
    let f = assert_finding(
        &lint_at(&[empty, vs], NOW),
        Code::VirtualserviceHostNotInGateway,
        Severity::Warn,
    );
    assert!(f.message.contains("(it serves no hosts)"), "{}", f.message);
}

fn deployment(ns: &str, labels: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "istio-ingressgateway", "namespace": ns},
        "spec": {"template": {"metadata": {"labels": labels}}}
    })
}

#[test]
fn gateway_selector_matching_no_deployment_in_the_input_warns() {
    let found = lint_at(
        &[
            gw("cred", &["httpbin.example.com"]),
            deployment(NS, json!({"istio": "egressgateway"})),
        ],
        NOW,
    );
    let f = assert_finding(&found, Code::GatewayWorkloadNotFound, Severity::Warn);
    assert_eq!(f.path, "spec.selector");
    assert!(
        f.message.contains("istio=ingressgateway matches no pod"),
        "{}",
        f.message
    );
}

#[test]
fn gateway_selector_matching_a_deployment_pod_template_is_silent() {
    let found = lint_at(
        &[
            gw("cred", &["httpbin.example.com"]),
            deployment(NS, json!({"istio": "ingressgateway", "app": "x"})),
        ],
        NOW,
    );
    assert_no(&found, Code::GatewayWorkloadNotFound);
}

#[test]
fn gateway_selector_without_workloads_in_the_input_is_silent() {
    assert_no(
        &lint_at(&[gw("cred", &["httpbin.example.com"])], NOW),
        Code::GatewayWorkloadNotFound,
    );
}

#[test]
fn virtual_service_bound_to_a_gateway_api_gateway_is_resolved() {
    let g = mk_gateway_api("default", "gw", "*.example.com", json!([{"name": "cred"}]));
    let vs = mk_virtual_service("default", "vs", &["gw"], &["a.example.com"]);
    let found = lint_at(&[g, vs], NOW);
    assert_no(&found, Code::GatewayNotFound);
    assert_no(&found, Code::VirtualserviceHostNotInGateway);
}

#[test]
fn virtual_service_host_not_on_a_gateway_api_listener_is_host_not_in_gateway() {
    let g = mk_gateway_api("default", "gw", "*.example.com", json!([{"name": "cred"}]));
    let vs = mk_virtual_service("default", "vs", &["default/gw"], &["a.example.org"]);
    let found = lint_at(&[g, vs], NOW);
    assert_no(&found, Code::GatewayNotFound);
    assert_finding(&found, Code::VirtualserviceHostNotInGateway, Severity::Warn);
}

#[test]
fn gateway_server_past_the_host_limit_gets_limit_exceeded_not_a_denial() {
    let many: Vec<String> = (0..=tlsgate::analysis::hosts::MAX_HOSTS_PER_REFERENCE)
        .map(|i| format!("h{i}.other.example.com"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let found = lint_at(
        &[
            mk_tls_secret(NS, "cred", "certs/httpbin-san.crt", "certs/httpbin-san.key"),
            gw("cred", &many),
        ],
        NOW,
    );
    let f = assert_finding(&found, Code::LimitExceeded, Severity::Warn);
    assert!(f.message.contains("5,001 hosts"), "{}", f.message);
    assert_no(&found, Code::HostNotCovered);
}

#[test]
fn uncovered_hosts_are_named_a_few_and_counted() {
    let many: Vec<String> = (0..2000)
        .map(|i| format!("h{i}.other.example.com"))
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let found = lint_at(
        &[
            mk_tls_secret(NS, "cred", "certs/httpbin-san.crt", "certs/httpbin-san.key"),
            gw("cred", &many),
        ],
        NOW,
    );
    let f = assert_finding(&found, Code::HostNotCovered, Severity::Deny);
    assert!(f.message.contains("and 1,997 more"), "{}", f.message);
    assert!(f.message.len() < 400, "{}", f.message);
}

#[test]
fn served_certificate_with_client_auth_only_usage_warns_server_auth_missing() {
    let objs = [
        mk_tls_secret(
            NS,
            "client-credential",
            "certs/egress/client-eku.crt",
            "certs/egress/client-eku.key",
        ),
        gw("client-credential", &["client.example.com"]),
    ];
    let f = assert_finding(
        &lint_at(&objs, NOW),
        Code::ServerAuthMissing,
        Severity::Warn,
    );
    assert_eq!(f.object.kind, "Gateway");
    assert_eq!(f.path, "spec.servers[0].tls.credentialName");
    assert!(f.message.contains("lacks serverAuth"), "{}", f.message);
}

#[test]
fn served_certificate_with_server_auth_usage_has_no_usage_finding() {
    let objs = [
        mk_tls_secret(
            NS,
            "httpbin-credential",
            "certs/httpbin-san.crt",
            "certs/httpbin-san.key",
        ),
        gw("httpbin-credential", &["httpbin.example.com"]),
    ];
    assert_no(&lint_at(&objs, NOW), Code::ServerAuthMissing);
}

#[test]
fn served_certificate_without_extended_key_usage_has_no_usage_finding() {
    let objs = [
        mk_tls_secret(
            NS,
            "client-credential",
            "certs/client.example.com.crt",
            "certs/client.example.com.key",
        ),
        gw("client-credential", &["client.example.com"]),
    ];
    assert_no(&lint_at(&objs, NOW), Code::ServerAuthMissing);
}
