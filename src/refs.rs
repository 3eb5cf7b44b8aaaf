//! The ONE place that maps Kubernetes objects to the credentials they reference, each with
//! the field path a message should point at and the hosts the certificate must cover.

use crate::model::{
    ClientTls, DestinationRule, Listener, Object, ObjectReference, Route, TrafficPolicy,
};
use std::collections::BTreeMap;

/// Where the referenced Secret is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Gateway API and Ingress: an explicit namespace.
    Namespace(String),
    /// Istio: the namespace of the gateway workload (the pods `selector` matches).
    IstioWorkload {
        gateway_namespace: String,
        /// The Gateway's own `spec.selector`, shared.
        selector: std::sync::Arc<BTreeMap<String, String>>,
    },
    /// cert-manager's cluster resource namespace (ClusterIssuer Secrets), which
    /// `--cluster-resource-namespace` sets.
    ClusterResource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    IstioGateway,
    /// Client TLS of the sidecars (or the egress gateway) that apply a DestinationRule.
    DestinationRule,
    /// The CAs Gateways verify a backend's certificate with.
    BackendTlsPolicy,
    GatewayApi,
    Ingress,
    /// The CA a cert-manager `Issuer`/`ClusterIssuer` signs certificates with.
    CertManagerIssuer,
    /// An OpenShift Route's `spec.tls.externalCertificate`, served by the router.
    Route,
}

/// What a reference names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Secret,
    /// A CA bundle under `ca.crt` (Gateway API `caCertificateRefs`).
    ConfigMap,
}

/// The key a Gateway API CA ConfigMap holds its bundle under.
pub const CA_CONFIG_MAP_KEY: &str = "ca.crt";

/// One reference from an object to a credential Secret or a CA ConfigMap.
#[derive(Debug, Clone)]
pub struct CredentialRef {
    /// `spec.servers[0].tls.credentialName`.
    pub path: String,
    pub name: String,
    pub scope: Scope,
    /// Hosts the certificate must cover (empty: nothing to check, e.g. a listener without hostname).
    pub hosts: Vec<String>,
    /// A CA is needed: client certificates are verified (Istio MUTUAL/OPTIONAL_MUTUAL), or,
    /// for a client credential, the server's certificate is (unless `insecureSkipVerify`).
    pub needs_ca: bool,
    /// A certificate/key pair is needed (everything but a DestinationRule in SIMPLE mode,
    /// which reads only the CA from the Secret).
    pub needs_pair: bool,
    /// The pair is a client certificate (DestinationRule): no host coverage, clientAuth usage.
    pub client: bool,
    pub target: Target,
    pub via: Via,
    /// For Gateway API: the reference as written, for kind and ReferenceGrant checks.
    pub gateway_api_ref: Option<ObjectReference>,
    /// The other Secrets of the same Istio server's `credentialNames`: certificates of other
    /// key types for the same hosts, which clients that negotiate those key types get instead.
    pub alternatives: Vec<String>,
}

/// Istio's ServerTLSSettings mode; an unset mode is PASSTHROUGH (enum value 0).
pub fn istio_mode(mode: Option<&str>) -> &str {
    mode.unwrap_or("PASSTHROUGH")
}

/// Istio modes in which the gateway terminates TLS with a credential.
pub fn istio_mode_uses_credential(mode: &str) -> bool {
    matches!(mode, "SIMPLE" | "MUTUAL" | "OPTIONAL_MUTUAL")
}

/// The credentials an Istio server serves, with their field paths: `credentialNames` when it
/// is set (istiod then ignores `credentialName`, `ApplyCredentialSDSToServerCommonTLSContext`),
/// else `credentialName`. Empty names are skipped.
pub fn istio_server_credentials(
    server: usize,
    tls: &crate::model::IstioServerTls,
) -> Vec<(String, &str)> {
    if !tls.credential_names.is_empty() {
        return tls
            .credential_names
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.is_empty())
            .map(|(j, n)| {
                (
                    format!("spec.servers[{server}].tls.credentialNames[{j}]"),
                    n.as_str(),
                )
            })
            .collect();
    }
    tls.credential_name
        .as_deref()
        .filter(|n| !n.is_empty())
        .map(|n| (format!("spec.servers[{server}].tls.credentialName"), n))
        .into_iter()
        .collect()
}

/// Every credential reference of an object, in field order.
pub fn credential_refs(obj: &Object) -> Vec<CredentialRef> {
    let ns = obj.namespace().to_string();
    let mut out = Vec::new();
    match obj {
        Object::IstioGateway(gw) => {
            for (i, server) in gw.spec.servers.iter().enumerate() {
                let Some(tls) = &server.tls else { continue };
                let mode = istio_mode(tls.mode.as_deref());
                if !istio_mode_uses_credential(mode) {
                    continue;
                }
                let names = istio_server_credentials(i, tls);
                for (j, (path, name)) in names.iter().enumerate() {
                    out.push(CredentialRef {
                        path: path.clone(),
                        name: name.to_string(),
                        scope: Scope::IstioWorkload {
                            gateway_namespace: ns.clone(),
                            selector: gw.spec.selector.clone(),
                        },
                        hosts: server.hosts.clone(),
                        // istiod reads the client CA of a MUTUAL server with credentialNames
                        // from the first one only (`credentialNames[0]-cacert`).
                        needs_ca: j == 0 && matches!(mode, "MUTUAL" | "OPTIONAL_MUTUAL"),
                        needs_pair: true,
                        client: false,
                        target: Target::Secret,
                        via: Via::IstioGateway,
                        gateway_api_ref: None,
                        alternatives: names
                            .iter()
                            .enumerate()
                            .filter(|(k, (_, n))| *k != j && n != name)
                            .map(|(_, (_, n))| n.to_string())
                            .collect(),
                    });
                }
            }
        }
        Object::GatewayApiGateway(gw) => {
            out.extend(listener_refs(&gw.spec.listeners, &ns));
            let frontend = gw.spec.tls.as_ref().and_then(|t| t.frontend.as_ref());
            if let Some(f) = frontend {
                let mut validations = vec![(
                    "spec.tls.frontend.default.validation".to_string(),
                    f.default.validation.as_ref(),
                )];
                for (i, p) in f.per_port.iter().enumerate() {
                    validations.push((
                        format!("spec.tls.frontend.perPort[{i}].tls.validation"),
                        p.tls.validation.as_ref(),
                    ));
                }
                for (path, v) in validations {
                    if let Some(v) = v {
                        out.extend(ca_refs(&path, &v.ca_certificate_refs, &ns, Via::GatewayApi));
                    }
                }
            }
            let backend = gw.spec.tls.as_ref().and_then(|t| t.backend.as_ref());
            if let Some(r) = backend.and_then(|b| b.client_certificate_ref.as_ref()) {
                out.push(CredentialRef {
                    path: "spec.tls.backend.clientCertificateRef".into(),
                    name: r.name.clone(),
                    scope: Scope::Namespace(r.namespace.clone().unwrap_or_else(|| ns.clone())),
                    hosts: Vec::new(),
                    needs_ca: false,
                    needs_pair: true,
                    client: true,
                    target: Target::Secret,
                    via: Via::GatewayApi,
                    gateway_api_ref: Some(r.clone()),
                    alternatives: Vec::new(),
                });
            }
        }
        Object::BackendTlsPolicy(p) => {
            // LocalObjectReferences: a namespace written anyway is not honoured.
            let local: Vec<ObjectReference> = p
                .spec
                .validation
                .ca_certificate_refs
                .iter()
                .map(|r| ObjectReference {
                    namespace: None,
                    ..r.clone()
                })
                .collect();
            out.extend(ca_refs(
                "spec.validation",
                &local,
                &ns,
                Via::BackendTlsPolicy,
            ));
        }
        // Its listeners read certificates as a Gateway's do, from the ListenerSet's namespace.
        Object::ListenerSet(ls) => out.extend(listener_refs(&ls.spec.listeners, &ns)),
        Object::Ingress(ing) => {
            for (i, t) in ing.spec.tls.iter().enumerate() {
                let Some(name) = t.secret_name.as_deref().filter(|n| !n.is_empty()) else {
                    continue;
                };
                out.push(CredentialRef {
                    path: format!("spec.tls[{i}].secretName"),
                    name: name.to_string(),
                    scope: Scope::Namespace(ns.clone()),
                    // Unlisted TLS hosts fall back to the rules' hosts, as ingress controllers do.
                    hosts: if t.hosts.is_empty() {
                        ing.spec
                            .rules
                            .iter()
                            .filter_map(|r| r.host.clone())
                            .collect()
                    } else {
                        t.hosts.clone()
                    },
                    needs_ca: false,
                    needs_pair: true,
                    client: false,
                    target: Target::Secret,
                    via: Via::Ingress,
                    gateway_api_ref: None,
                    alternatives: Vec::new(),
                });
            }
        }
        Object::DestinationRule(dr) => {
            // Sidecars read credentials from their own namespace, which is the rule's; an egress
            // gateway selected by workloadSelector reads from the namespace its pods run in.
            let scope = match &dr.spec.workload_selector {
                Some(ws) if !ws.match_labels.is_empty() => Scope::IstioWorkload {
                    gateway_namespace: ns.clone(),
                    selector: std::sync::Arc::new(ws.match_labels.clone()),
                },
                _ => Scope::Namespace(ns.clone()),
            };
            for (path, tls) in destination_rule_tls(dr) {
                let mode = istio_client_mode(tls.mode.as_deref());
                let Some(name) = tls.credential_name.as_deref().filter(|n| !n.is_empty()) else {
                    continue;
                };
                if !matches!(mode, "SIMPLE" | "MUTUAL") {
                    continue;
                }
                out.push(CredentialRef {
                    path: format!("{path}.credentialName"),
                    name: name.to_string(),
                    scope: scope.clone(),
                    hosts: Vec::new(),
                    needs_ca: tls.insecure_skip_verify != Some(true),
                    needs_pair: mode == "MUTUAL",
                    client: true,
                    target: Target::Secret,
                    via: Via::DestinationRule,
                    gateway_api_ref: None,
                    alternatives: Vec::new(),
                });
            }
        }
        Object::Issuer(issuer) => {
            if let Some(ca) = issuer
                .spec
                .ca
                .as_ref()
                .filter(|c| !c.secret_name.is_empty())
            {
                out.push(CredentialRef {
                    path: "spec.ca.secretName".into(),
                    name: ca.secret_name.clone(),
                    scope: if issuer.cluster {
                        Scope::ClusterResource
                    } else {
                        Scope::Namespace(ns.clone())
                    },
                    hosts: Vec::new(),
                    needs_ca: false,
                    needs_pair: true,
                    client: false,
                    target: Target::Secret,
                    via: Via::CertManagerIssuer,
                    gateway_api_ref: None,
                    alternatives: Vec::new(),
                });
            }
        }
        Object::Route(route) => {
            let tls = route.spec.tls.as_ref();
            let external = tls
                .filter(|t| route_terminates(t.termination.as_deref()))
                .and_then(|t| t.external_certificate.as_ref())
                .filter(|r| !r.name.is_empty());
            if let Some(r) = external {
                out.push(CredentialRef {
                    // The router reads it from the Route's own namespace only.
                    path: "spec.tls.externalCertificate.name".into(),
                    name: r.name.clone(),
                    scope: Scope::Namespace(ns.clone()),
                    hosts: route_hosts(route),
                    needs_ca: false,
                    needs_pair: true,
                    client: false,
                    target: Target::Secret,
                    via: Via::Route,
                    gateway_api_ref: None,
                    alternatives: Vec::new(),
                });
            }
        }
        _ => {}
    }
    out
}

/// Route terminations in which the router serves a certificate (its own default one when the
/// Route has none): `edge` and `reencrypt`. `passthrough` forwards TLS to the pod untouched.
pub fn route_terminates(termination: Option<&str>) -> bool {
    matches!(termination, Some("edge" | "reencrypt"))
}

/// The inline PEM of a Route that the router uses: everything under edge and reencrypt except
/// `destinationCACertificate`, which only reencrypt reads; `None` for passthrough (the router
/// reads none of it). What the checks, the index (x509 metrics) and the audit analyse.
pub fn route_pems(tls: &crate::model::RouteTls) -> Option<crate::analysis::inline::RoutePems<'_>> {
    use crate::analysis::inline::inline_pem;
    let termination = tls.termination.as_deref();
    route_terminates(termination).then(|| crate::analysis::inline::RoutePems {
        certificate: inline_pem(&tls.certificate),
        key: inline_pem(&tls.key),
        ca_certificate: inline_pem(&tls.ca_certificate),
        destination_ca: inline_pem(&tls.destination_ca_certificate)
            .filter(|_| termination == Some("reencrypt")),
    })
}

/// The hosts a Route's certificate must cover: `spec.host`, and with `wildcardPolicy: Subdomain`
/// every host beside it (`www.example.com` also serves `*.example.com`, as the router maps it).
/// No host: the router generates one, unknown here, so nothing is checked.
pub fn route_hosts(route: &Route) -> Vec<String> {
    let Some(host) = route.spec.host.as_deref().filter(|h| !h.is_empty()) else {
        return Vec::new();
    };
    if route.spec.wildcard_policy.as_deref() == Some("Subdomain") {
        if let Some((_, parent)) = host.split_once('.') {
            return vec![host.to_string(), format!("*.{parent}")];
        }
    }
    vec![host.to_string()]
}

/// `caCertificateRefs` entries: ConfigMaps (key `ca.crt`) or Secrets holding the CAs that
/// client certificates are verified against.
pub fn ca_refs(path: &str, refs: &[ObjectReference], ns: &str, via: Via) -> Vec<CredentialRef> {
    refs.iter()
        .enumerate()
        .map(|(k, r)| CredentialRef {
            path: format!("{path}.caCertificateRefs[{k}]"),
            name: r.name.clone(),
            scope: Scope::Namespace(r.namespace.clone().unwrap_or_else(|| ns.to_string())),
            hosts: Vec::new(),
            needs_ca: true,
            needs_pair: false,
            client: false,
            target: if r.kind.as_deref() == Some("ConfigMap") {
                Target::ConfigMap
            } else {
                Target::Secret
            },
            via: via.clone(),
            gateway_api_ref: Some(r.clone()),
            alternatives: Vec::new(),
        })
        .collect()
}

/// `certificateRefs` of Gateway API listeners (a Gateway's or a ListenerSet's) in Terminate mode.
fn listener_refs(listeners: &[Listener], ns: &str) -> Vec<CredentialRef> {
    let mut out = Vec::new();
    for (i, l) in listeners.iter().enumerate() {
        let Some(tls) = &l.tls else { continue };
        if tls.mode.as_deref().unwrap_or("Terminate") != "Terminate" {
            continue;
        }
        if let Some(fv) = &tls.frontend_validation {
            out.extend(ca_refs(
                &format!("spec.listeners[{i}].tls.frontendValidation"),
                &fv.ca_certificate_refs,
                ns,
                Via::GatewayApi,
            ));
        }
        for (j, r) in tls.certificate_refs.iter().enumerate() {
            out.push(CredentialRef {
                path: format!("spec.listeners[{i}].tls.certificateRefs[{j}]"),
                name: r.name.clone(),
                scope: Scope::Namespace(r.namespace.clone().unwrap_or_else(|| ns.to_string())),
                hosts: l.hostname.iter().cloned().collect(),
                needs_ca: false,
                needs_pair: true,
                client: false,
                target: Target::Secret,
                via: Via::GatewayApi,
                gateway_api_ref: Some(r.clone()),
                alternatives: Vec::new(),
            });
        }
    }
    out
}

/// Istio's ClientTLSSettings mode; an unset mode is DISABLE (enum value 0).
pub fn istio_client_mode(mode: Option<&str>) -> &str {
    mode.unwrap_or("DISABLE")
}

/// Every `tls` block of a DestinationRule with its field path, in field order: the rule's
/// traffic policy, its port-level settings, then each subset's.
pub fn destination_rule_tls(dr: &DestinationRule) -> Vec<(String, &ClientTls)> {
    fn policy<'a>(prefix: String, tp: &'a TrafficPolicy, out: &mut Vec<(String, &'a ClientTls)>) {
        if let Some(tls) = &tp.tls {
            out.push((format!("{prefix}.tls"), tls));
        }
        for (j, p) in tp.port_level_settings.iter().enumerate() {
            if let Some(tls) = &p.tls {
                out.push((format!("{prefix}.portLevelSettings[{j}].tls"), tls));
            }
        }
    }
    let mut out = Vec::new();
    if let Some(tp) = &dr.spec.traffic_policy {
        policy("spec.trafficPolicy".into(), tp, &mut out);
    }
    for (i, s) in dr.spec.subsets.iter().enumerate() {
        if let Some(tp) = &s.traffic_policy {
            policy(format!("spec.subsets[{i}].trafficPolicy"), tp, &mut out);
        }
    }
    out
}
