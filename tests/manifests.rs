//! Renders each kustomization under `manifests/` with `kubectl kustomize` and
//! checks the properties the deployment relies on: least-privilege RBAC, a
//! webhook configuration that cannot lock operators out by accident, and a
//! locked-down container.
//!
//! Without kubectl these tests skip with one line; .ci/run installs it and sets
//! `TLSGATE_REQUIRE_TOOLS=1`, so there a missing kubectl fails them instead.

mod tools;

use std::process::Command;

use serde::Deserialize;
use serde_json::Value;

const BASE: &str = "base";
const CERT_MANAGER: &str = "overlays/cert-manager";
const SELF_MANAGED: &str = "overlays/self-managed";
const FAIL_CLOSED: &str = "overlays/fail-closed";
const ALL: [&str; 4] = [BASE, CERT_MANAGER, SELF_MANAGED, FAIL_CLOSED];

/// The webhooks that can deny; the caBundle audit webhook only warns.
const CHECKING_WEBHOOKS: [&str; 2] = ["secrets.tlsgate.io", "credential-refs.tlsgate.io"];
const AUDIT_WEBHOOK: &str = "ca-bundles.tlsgate.io";

const WRITE_VERBS: [&str; 5] = ["create", "update", "patch", "delete", "deletecollection"];

/// `kubectl kustomize manifests/<dir>`, one JSON value per YAML document; `None` (the test
/// skips) when kubectl is missing.
#[track_caller]
fn render(dir: &str) -> Option<Vec<Value>> {
    let kubectl = tools::tool("kubectl", "install kubectl >= 1.27")?;
    let path = format!("{}/manifests/{dir}", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("could not run `kubectl kustomize {path}`: {e}"));
    assert!(
        output.status.success(),
        "`kubectl kustomize {path}` failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout)
        .unwrap_or_else(|e| panic!("`kubectl kustomize {path}` printed non-UTF-8 output: {e}"));
    let mut docs = Vec::new();
    for (i, document) in yaml_serde::Deserializer::from_str(&text).enumerate() {
        let value = Value::deserialize(document)
            .unwrap_or_else(|e| panic!("document {i} of `kubectl kustomize {path}`: {e}"));
        if !value.is_null() {
            docs.push(value);
        }
    }
    assert!(
        !docs.is_empty(),
        "`kubectl kustomize {path}` rendered no objects"
    );
    Some(docs)
}

fn docs_of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

#[track_caller]
fn one_of_kind<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = docs_of_kind(docs, kind)
        .into_iter()
        .filter(|d| d["metadata"]["name"] == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected exactly one {kind} named {name}, found {}",
        found.len()
    );
    found[0]
}

/// Strings of a JSON array; a missing field is an empty list.
#[track_caller]
fn strings(value: &Value) -> Vec<&str> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .unwrap_or_else(|| panic!("expected a string, got {item}"))
            })
            .collect(),
        other => panic!("expected a list of strings, got {other}"),
    }
}

#[track_caller]
fn webhooks(docs: &[Value]) -> &Vec<Value> {
    one_of_kind(docs, "ValidatingWebhookConfiguration", "tlsgate")["webhooks"]
        .as_array()
        .expect("ValidatingWebhookConfiguration tlsgate has no webhooks list")
}

#[track_caller]
fn webhook<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    webhooks(docs)
        .iter()
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| {
            panic!("webhook {name} not found in ValidatingWebhookConfiguration tlsgate")
        })
}

fn is_namespaced(webhook: &Value) -> bool {
    webhook["rules"]
        .as_array()
        .is_some_and(|rules| rules.iter().any(|r| r["scope"] == "Namespaced"))
}

/// Every (object, rule) pair of every ClusterRole and Role.
fn rbac_rules(docs: &[Value]) -> Vec<(String, &Value)> {
    let mut rules = Vec::new();
    for kind in ["ClusterRole", "Role"] {
        for role in docs_of_kind(docs, kind) {
            let label = format!("{kind} {}", role["metadata"]["name"]);
            for rule in role["rules"].as_array().into_iter().flatten() {
                rules.push((label.clone(), rule));
            }
        }
    }
    rules
}

#[track_caller]
fn tlsgate_container(docs: &[Value]) -> &Value {
    let containers = one_of_kind(docs, "Deployment", "tlsgate")["spec"]["template"]["spec"]
        ["containers"]
        .as_array()
        .expect("Deployment tlsgate has no containers");
    containers
        .iter()
        .find(|c| c["name"] == "tlsgate")
        .expect("Deployment tlsgate has no container named tlsgate")
}

#[test]
fn no_rbac_rule_grants_a_wildcard_verb_resource_or_group() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        for (role, rule) in rbac_rules(&docs) {
            for field in ["verbs", "resources", "apiGroups"] {
                for item in strings(&rule[field]) {
                    assert!(
                        !item.contains('*'),
                        "{dir}: {role} has `{item}` in {field}: {rule}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_secret_update_patch_or_delete_rule_names_its_secrets() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        for (role, rule) in rbac_rules(&docs) {
            if !strings(&rule["resources"]).contains(&"secrets") {
                continue;
            }
            let named_writes: Vec<&str> = strings(&rule["verbs"])
                .into_iter()
                .filter(|v| WRITE_VERBS.contains(v) && *v != "create")
                .collect();
            if !named_writes.is_empty() {
                assert!(
                    !strings(&rule["resourceNames"]).is_empty(),
                    "{dir}: {role} grants {named_writes:?} on secrets without resourceNames: {rule}"
                );
            }
        }
    }
}

/// `create` cannot be restricted by name, so it may only appear where it is
/// needed (self-managed) and only in a namespaced Role in tlsgate-system.
#[test]
fn secret_create_is_granted_only_by_the_self_managed_role_in_tlsgate_system() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        for kind in ["ClusterRole", "Role"] {
            for role in docs_of_kind(&docs, kind) {
                for rule in role["rules"].as_array().into_iter().flatten() {
                    let creates_secrets = strings(&rule["resources"]).contains(&"secrets")
                        && strings(&rule["verbs"]).contains(&"create");
                    if !creates_secrets {
                        continue;
                    }
                    let name = &role["metadata"]["name"];
                    assert_eq!(
                        dir, SELF_MANAGED,
                        "{dir}: {kind} {name} grants create on secrets"
                    );
                    assert_eq!(
                        kind, "Role",
                        "{dir}: ClusterRole {name} grants create on secrets"
                    );
                    assert_eq!(
                        role["metadata"]["namespace"], "tlsgate-system",
                        "{dir}: Role {name} grants create on secrets outside tlsgate-system"
                    );
                }
            }
        }
    }
}

#[test]
fn webhooks_declare_no_side_effects() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        for webhook in webhooks(&docs) {
            assert_eq!(webhook["sideEffects"], "None", "{dir}: {}", webhook["name"]);
        }
    }
}

#[test]
fn webhooks_speak_only_admission_review_v1() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        for webhook in webhooks(&docs) {
            assert_eq!(
                strings(&webhook["admissionReviewVersions"]),
                ["v1"],
                "{dir}: {}",
                webhook["name"]
            );
        }
    }
}

#[test]
fn webhooks_time_out_within_ten_seconds() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        for webhook in webhooks(&docs) {
            // Unset means the API server's default of 10 s.
            let timeout = webhook["timeoutSeconds"].as_u64().unwrap_or(10);
            assert!(
                timeout <= 10,
                "{dir}: {} waits {timeout} s",
                webhook["name"]
            );
        }
    }
}

#[test]
fn webhooks_call_the_tlsgate_service_on_validate() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        for webhook in webhooks(&docs) {
            let service = &webhook["clientConfig"]["service"];
            assert_eq!(service["name"], "tlsgate", "{dir}: {}", webhook["name"]);
            assert_eq!(
                service["namespace"], "tlsgate-system",
                "{dir}: {}",
                webhook["name"]
            );
            assert_eq!(service["path"], "/validate", "{dir}: {}", webhook["name"]);
            assert_eq!(service["port"], 443, "{dir}: {}", webhook["name"]);
        }
    }
}

#[test]
fn namespaced_webhooks_skip_kube_system_and_tlsgate_system() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        for webhook in webhooks(&docs).iter().filter(|w| is_namespaced(w)) {
            let expressions = webhook["namespaceSelector"]["matchExpressions"].as_array();
            let excluded: Vec<&str> = expressions
                .into_iter()
                .flatten()
                .filter(|e| e["key"] == "kubernetes.io/metadata.name" && e["operator"] == "NotIn")
                .flat_map(|e| strings(&e["values"]))
                .collect();
            for namespace in ["kube-system", "tlsgate-system"] {
                assert!(
                    excluded.contains(&namespace),
                    "{dir}: {} does not exclude namespace {namespace}",
                    webhook["name"]
                );
            }
        }
    }
}

#[test]
fn namespaced_webhooks_skip_namespaces_labelled_tlsgate_ignore() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        for webhook in webhooks(&docs).iter().filter(|w| is_namespaced(w)) {
            let expressions = webhook["namespaceSelector"]["matchExpressions"].as_array();
            let skips = expressions.into_iter().flatten().any(|e| {
                e["key"] == "tlsgate.io/ignore"
                    && e["operator"] == "NotIn"
                    && strings(&e["values"]).contains(&"true")
            });
            assert!(
                skips,
                "{dir}: {} does not skip tlsgate.io/ignore=true",
                webhook["name"]
            );
        }
    }
}

#[test]
fn secrets_webhook_never_receives_tokens_or_helm_release_records() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        let conditions = webhook(&docs, "secrets.tlsgate.io")["matchConditions"]
            .as_array()
            .unwrap_or_else(|| panic!("{dir}: secrets.tlsgate.io has no matchConditions"));
        let text: String = conditions
            .iter()
            .map(|c| c["expression"].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        for secret_type in ["kubernetes.io/service-account-token", "helm.sh/release.v1"] {
            assert!(
                text.contains(&format!("'{secret_type}'")),
                "{dir}: no matchCondition mentions {secret_type}"
            );
        }
    }
}

#[test]
fn failure_policy_is_ignore_unless_fail_closed() {
    for dir in [BASE, CERT_MANAGER, SELF_MANAGED] {
        let Some(docs) = render(dir) else {
            return;
        };
        for webhook in webhooks(&docs) {
            assert_eq!(
                webhook["failurePolicy"], "Ignore",
                "{dir}: {}",
                webhook["name"]
            );
        }
    }
}

#[test]
fn fail_closed_overlay_fails_closed_on_the_checking_webhooks() {
    let Some(docs) = render(FAIL_CLOSED) else {
        return;
    };
    for name in CHECKING_WEBHOOKS {
        assert_eq!(
            webhook(&docs, name)["failurePolicy"],
            "Fail",
            "{FAIL_CLOSED}: {name}"
        );
    }
}

#[test]
fn ca_bundle_audit_webhook_ignores_failures_in_every_overlay() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        assert_eq!(
            webhook(&docs, AUDIT_WEBHOOK)["failurePolicy"],
            "Ignore",
            "{dir}"
        );
    }
}

#[test]
fn cert_manager_overlays_inject_the_ca_from_the_serving_certificate() {
    for dir in [CERT_MANAGER, FAIL_CLOSED] {
        let Some(docs) = render(dir) else {
            return;
        };
        let config = one_of_kind(&docs, "ValidatingWebhookConfiguration", "tlsgate");
        assert_eq!(
            config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "tlsgate-system/tlsgate-serving-cert",
            "{dir}"
        );
        let certificate = one_of_kind(&docs, "Certificate", "tlsgate-serving-cert");
        assert_eq!(
            certificate["spec"]["secretName"], "tlsgate-serving-cert",
            "{dir}"
        );
        assert!(
            strings(&certificate["spec"]["dnsNames"]).contains(&"tlsgate.tlsgate-system.svc"),
            "{dir}: serving Certificate does not cover tlsgate.tlsgate-system.svc"
        );
    }
}

#[test]
fn only_the_self_managed_overlay_passes_self_managed_certs() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        let args = strings(&tlsgate_container(&docs)["args"]);
        assert_eq!(
            args.contains(&"--self-managed-certs"),
            dir == SELF_MANAGED,
            "{dir}: args {args:?}"
        );
    }
}

#[test]
fn self_managed_overlay_starts_without_the_serving_secret() {
    let Some(docs) = render(SELF_MANAGED) else {
        return;
    };
    let volumes = one_of_kind(&docs, "Deployment", "tlsgate")["spec"]["template"]["spec"]
        ["volumes"]
        .as_array()
        .expect("Deployment tlsgate has no volumes");
    let tls = volumes
        .iter()
        .find(|v| v["secret"]["secretName"] == "tlsgate-serving-cert")
        .expect("no volume mounts Secret tlsgate-serving-cert");
    assert_eq!(tls["secret"]["optional"], true);
}

#[test]
fn containers_run_as_non_root_with_a_read_only_root_and_no_capabilities() {
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        let pod = &one_of_kind(&docs, "Deployment", "tlsgate")["spec"]["template"]["spec"];
        for container in pod["containers"]
            .as_array()
            .expect("Deployment has no containers")
        {
            let name = &container["name"];
            let security = &container["securityContext"];
            let run_as_non_root = match &security["runAsNonRoot"] {
                Value::Null => &pod["securityContext"]["runAsNonRoot"],
                set => set,
            };
            assert_eq!(
                *run_as_non_root, true,
                "{dir}: container {name} may run as root"
            );
            assert_eq!(
                security["readOnlyRootFilesystem"], true,
                "{dir}: container {name}"
            );
            assert_eq!(
                security["allowPrivilegeEscalation"], false,
                "{dir}: container {name}"
            );
            assert!(
                strings(&security["capabilities"]["drop"]).contains(&"ALL"),
                "{dir}: container {name} does not drop ALL capabilities"
            );
        }
    }
}

#[test]
fn every_overlay_passes_tlsgate_lint() {
    for overlay in ALL {
        let Some(docs) = render(overlay) else {
            return;
        };
        let text = serde_json::to_string(&Value::Array(docs)).unwrap();
        let mut loaded = tlsgate::load::Loaded::default();
        tlsgate::load::load_text(&text, overlay, &mut loaded);
        let report = tlsgate::lint::lint(
            &loaded,
            &Default::default(),
            1_798_761_600,
            Default::default(),
        );
        // Skipped findings stay in the report as notes; warnings and denials fail.
        assert!(
            report
                .findings
                .iter()
                .all(|e| e.finding.severity == tlsgate::finding::Severity::Info),
            "{overlay}: {}",
            report.to_text(false)
        );
        assert!(
            report.summary.objects >= 1,
            "{overlay}: the tlsgate-config ConfigMap was not read"
        );
    }
}

/// (webhook, group, version, resource, operation, scope) that the webhook rules of `docs`
/// intercept.
type RuleKey = (String, String, String, String, String, String);

fn intercepted(docs: &[Value]) -> std::collections::BTreeSet<RuleKey> {
    let mut out = std::collections::BTreeSet::new();
    for w in webhooks(docs) {
        let name = w["name"].as_str().unwrap_or_default();
        for rule in w["rules"].as_array().into_iter().flatten() {
            let scope = rule["scope"].as_str().unwrap_or("*");
            for g in strings(&rule["apiGroups"]) {
                for v in strings(&rule["apiVersions"]) {
                    for r in strings(&rule["resources"]) {
                        for op in strings(&rule["operations"]) {
                            out.insert((
                                name.into(),
                                g.into(),
                                v.into(),
                                r.into(),
                                op.into(),
                                scope.into(),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

/// The webhook rules are the registry's (`src/kinds.rs`) operations, versions and scopes,
/// no more, no less: a kind added there without a rule is never reviewed, and a rule without
/// a kind sends requests tlsgate only answers "allowed" to.
#[test]
fn webhook_rules_intercept_exactly_the_registry_kinds() {
    let want: std::collections::BTreeSet<RuleKey> = tlsgate::kinds::ALL
        .iter()
        .filter_map(|k| k.webhook.map(|w| (w, k)))
        .flat_map(|(w, k)| {
            k.versions.iter().flat_map(move |v| {
                k.operations.iter().map(move |op| {
                    (
                        w.to_string(),
                        k.group.to_string(),
                        v.to_string(),
                        k.plural.to_string(),
                        op.to_string(),
                        k.scope.as_str().to_string(),
                    )
                })
            })
        })
        .collect();
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        let got = intercepted(&docs);
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{dir}: webhook rules differ from src/kinds.rs\n  missing: {missing:?}\n  not in the registry: {extra:?}"
        );
    }
}

/// The ClusterRole grants get/list/watch on exactly the kinds the cluster view watches or
/// the live audit lists (the registry's `read_from_cluster`).
#[test]
fn cluster_role_reads_exactly_the_registry_kinds() {
    let want: std::collections::BTreeSet<(String, String)> = tlsgate::kinds::ALL
        .iter()
        .filter(|k| k.read_from_cluster())
        .map(|k| (k.group.to_string(), k.plural.to_string()))
        .collect();
    for dir in ALL {
        let Some(docs) = render(dir) else {
            return;
        };
        let role = one_of_kind(&docs, "ClusterRole", "tlsgate");
        let mut got = std::collections::BTreeSet::new();
        for rule in role["rules"].as_array().into_iter().flatten() {
            let mut verbs = strings(&rule["verbs"]);
            verbs.sort_unstable();
            assert_eq!(
                verbs,
                ["get", "list", "watch"],
                "{dir}: ClusterRole tlsgate rule is not read-only: {rule}"
            );
            assert!(
                strings(&rule["resourceNames"]).is_empty(),
                "{dir}: ClusterRole tlsgate rule names objects: {rule}"
            );
            for g in strings(&rule["apiGroups"]) {
                for r in strings(&rule["resources"]) {
                    got.insert((g.to_string(), r.to_string()));
                }
            }
        }
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{dir}: ClusterRole tlsgate differs from src/kinds.rs\n  missing: {missing:?}\n  not in the registry: {extra:?}"
        );
    }
}
