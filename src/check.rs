//! `check(object, lookup, policy, now) -> findings`: the rules, written once, shared by the
//! webhook, the linter and the audit.

use crate::analysis::{self, hosts, Analyzer, CredentialSummary};
use crate::exempt;
use crate::finding::{Code, Finding, Issue, ObjectRef, Severity};
use crate::lookup::{Found, Lookup, Referrer, StoredSecret};
use crate::model::{
    ConfigMap, DestinationRule, GatewayApiGateway, IstioGateway, Listener, Object, Secret,
    VirtualService,
};
use crate::policy::Policy;
use crate::refs::{self, istio_mode, CredentialRef, Scope, Target, Via};
use std::sync::Arc;

/// Everything a check needs besides the object.
pub struct Ctx<'a> {
    pub lookup: &'a dyn Lookup,
    pub policy: &'a Policy,
    pub analyzer: &'a Analyzer,
    /// Unix seconds. Never read from the clock in here.
    pub now: i64,
    /// Also check a Secret against every object that references it (the webhook does; the
    /// linter does not, because it checks those objects themselves).
    pub referrers: bool,
}

/// Codes of a referenced credential's own issues that are repeated on the referring object,
/// because they break the Gateway/Ingress that uses it.
const PROPAGATED: [Code; 9] = [
    Code::NoSubjectAltName,
    Code::SecretMalformed,
    Code::CertExpired,
    Code::CertNotYetValid,
    Code::CertExpiringSoon,
    Code::ChainCertExpired,
    Code::KeyMismatch,
    Code::KeyEncrypted,
    Code::WeakSignature,
];

/// Checks one object. `api_version` is only used to label findings.
pub fn check(obj: &Object, api_version: &str, ctx: &Ctx<'_>) -> Vec<Finding> {
    check_analyzed(obj, api_version, ctx, None)
}

/// [`check`] with a Secret's summary already made ([`crate::lookup::Index::analyze_secret`] of
/// this very object, with `ctx.analyzer`), so its PEM, X.509 and key work is not done twice.
/// The Secret's data is then read only for its key names (and the did-you-mean hint, with
/// `ctx.referrers`): `lint` drops the values once a Secret is indexed.
pub fn check_analyzed(
    obj: &Object,
    api_version: &str,
    ctx: &Ctx<'_>,
    summary: Option<&CredentialSummary>,
) -> Vec<Finding> {
    let oref = obj.object_ref(api_version);
    if ctx.policy.excluded(oref.namespace.as_deref()) || exempt::is_ignored(&obj.meta().labels) {
        return Vec::new();
    }
    let exemptions = exemptions_of(obj, ctx.policy);
    let mut issues = match obj {
        Object::Secret(s) => check_secret(s, obj.namespace(), ctx, summary),
        Object::ConfigMap(cm) => check_config_map(cm, obj.namespace(), ctx),
        Object::IstioGateway(gw) => check_istio_gateway(gw, obj, ctx),
        Object::VirtualService(vs) => check_virtual_service(vs, obj.namespace(), ctx),
        Object::DestinationRule(dr) => check_destination_rule(dr, obj, ctx),
        Object::GatewayApiGateway(gw) => check_gateway_api(gw, obj, ctx),
        Object::BackendTlsPolicy(p) => check_backend_tls_policy(p, obj, ctx),
        Object::Service(_) => Vec::new(),
        Object::ListenerSet(ls) => {
            let mut out = check_listeners(&ls.spec.listeners);
            out.extend(check_references(obj, ctx));
            out
        }
        Object::Ingress(_) => check_references(obj, ctx),
        Object::ReferenceGrant(_) => Vec::new(),
        Object::Issuer(_) => check_references(obj, ctx),
        Object::Certificate(c) => check_certificate(c, obj.namespace(), ctx),
    };
    issues.extend(exemptions.invalid.iter().cloned());
    exemptions.apply(
        ctx.policy
            .apply(issues.into_iter().map(|i| i.on(&oref)).collect()),
    )
}

/// Whether `old` gets exactly the findings [`check`] gives `new` (against the same view, at the
/// same time): the same object but for metadata no check reads — labels other than
/// `tlsgate.io/ignore`, annotations other than tlsgate's own (`tlsgate.io/skip`, ...) and
/// cert-manager's. An UPDATE that only edits labels then needs one check, not two. A check
/// that starts reading other metadata must be named here.
pub fn same_for_checks(new: &Object, old: &mut Object) -> bool {
    fn read_annotations(m: &crate::model::Meta) -> impl Iterator<Item = (&String, &String)> {
        m.annotations.iter().filter(|(k, _)| {
            k.starts_with("tlsgate.io/") || *k == crate::lookup::CERT_MANAGER_ANNOTATION
        })
    }
    let (n, o) = (new.meta(), old.meta());
    let same_meta = n.name == o.name
        && n.namespace == o.namespace
        && n.deletion_timestamp == o.deletion_timestamp
        && exempt::is_ignored(&n.labels) == exempt::is_ignored(&o.labels)
        && read_annotations(n).eq(read_annotations(o));
    if !same_meta {
        return false;
    }
    // Everything else compared as decoded (a Secret's data by its base64 text), metadata aside.
    let kept = std::mem::replace(old.meta_mut(), n.clone());
    let same = new == old;
    *old.meta_mut() = kept;
    same
}

/// The `tlsgate.io/skip` annotation and policy `exemptions:` that apply to `obj`.
pub fn exemptions_of(obj: &Object, policy: &Policy) -> exempt::Exemptions {
    exempt::Exemptions::of(
        obj.kind(),
        Some(obj.namespace()),
        obj.name(),
        &obj.meta().annotations,
        &policy.exemptions,
    )
}

fn check_secret(
    s: &Secret,
    namespace: &str,
    ctx: &Ctx<'_>,
    analyzed: Option<&CredentialSummary>,
) -> Vec<Issue> {
    let referrers: Vec<_> = if ctx.referrers {
        referrers_of(ctx.lookup, ctx.policy, namespace, &s.meta.name)
    } else {
        Vec::new()
    };
    // Before anything reads the data: a certificate seen before is then not decoded again.
    ctx.analyzer.resolve(&s.data);
    if !analysis::is_tls_secret(&s.meta.name, &s.secret_type, &s.data) && referrers.is_empty() {
        return Vec::new();
    }
    let made;
    let summary = match analyzed {
        Some(summary) => summary,
        None => {
            made = ctx
                .analyzer
                .credential(&s.meta.name, &s.secret_type, &s.data);
            &made
        }
    };
    let mut out: Vec<Issue> = s
        .data
        .undecodable()
        .iter()
        .map(|k| {
            Issue::new(
                Code::SecretMalformed,
                analysis::data_path(k),
                format!("{k} is not valid base64"),
            )
        })
        .collect();
    out.extend(summary.issues.iter().cloned());
    let linkerd = is_linkerd_issuer(namespace, &s.meta.name);
    let warn_days = if linkerd {
        ctx.policy
            .expiry_warning_days
            .max(analysis::LINKERD_EXPIRY_WARNING_DAYS)
    } else {
        ctx.policy.expiry_warning_days
    };
    let mut validity = analysis::validity_issues(summary, ctx.now, warn_days);
    if linkerd {
        for i in validity.iter_mut().filter(|i| i.code == Code::CertExpired) {
            i.message.push_str("; Linkerd's identity controller cannot issue proxy certificates with it — rotate the issuer (Linkerd's \"Manually rotating the control plane TLS credentials\")");
        }
        out.extend(linkerd_issuer_issues(summary, ctx));
    }
    if analysis::is_istio_ca_secret(&s.meta.name) {
        // The seed's Citadel outage: the CA aged out and istiod could not start.
        for i in validity.iter_mut().filter(|i| i.code == Code::CertExpired) {
            i.message.push_str("; istiod will not start with it and new workloads get no certificates — rotate the root (Istio's root-transition procedure)");
        }
    }
    out.extend(validity);
    out.extend(mesh_root_issues(summary, namespace, &s.meta.name, ctx));
    if summary.server.is_none() {
        if let Some(r) = referrers.iter().find(|r| r.reference.needs_pair) {
            // The seed's "wrong key names": a Gateway reads this Secret, and it has no pair.
            // One finding says it (replacing the lone-half one), first, so a denial leads with it.
            let pair_paths: Vec<String> = analysis::SERVER_PAIRS
                .iter()
                .flat_map(|(c, k)| [analysis::data_path(c), analysis::data_path(k)])
                .collect();
            out.retain(|i| !(i.code == Code::SecretMalformed && pair_paths.contains(&i.path)));
            out.insert(0, Issue::new(
                Code::SecretMalformed,
                "data",
                format!(
                    "{} {} serves this secret ({}), but it has no certificate/key pair: it needs tls.crt+tls.key or cert+key, and has {}{}",
                    r.object.kind,
                    qualified(&r.object),
                    r.reference.path,
                    summary.describe_keys(),
                    analysis::pair_hint(&s.data)
                ),
            ));
        }
    }
    let mut referrer_names: Vec<String> = Vec::new();
    for r in referrers {
        let who = format!("{} {}", r.object.kind, qualified(&r.object));
        if !referrer_names.contains(&who) {
            referrer_names.push(who.clone());
        }
        let served_by = format!(" served by {who} ({})", r.reference.path);
        out.extend(coverage_issues(
            summary,
            &r.reference,
            &served_by,
            &s.meta.name,
        ));
        if r.reference.needs_ca
            && summary.ca.is_none()
            && !companion_ca_exists(namespace, &s.meta.name, ctx)
        {
            let verifies = if r.reference.client {
                "the server certificate"
            } else {
                "client certificates"
            };
            out.push(Issue::new(
                Code::CaMissing,
                "data",
                format!(
                    "{who} verifies {verifies} ({}) with this secret, but it has no ca.crt or cacert and there is no {} secret",
                    r.reference.path, analysis::companion_ca_secret(&s.meta.name)
                ),
            ));
        }
        if r.reference.client {
            out.extend(client_usage_issues(summary, &s.meta.name, &served_by));
        }
        if r.reference.via == Via::CertManagerIssuer {
            out.extend(issuer_ca_issues(summary, &s.meta.name, &served_by));
        }
    }
    if !referrer_names.is_empty() {
        // Whoever replaces a Secret that Gateways serve learns which ones break, whatever the code.
        let users = hosts::list_some(&referrer_names);
        for i in out
            .iter_mut()
            .filter(|i| i.severity == Severity::Deny && !i.message.contains(" served by "))
        {
            i.message.push_str(&format!(" (served by {users})"));
        }
    }
    if s.meta
        .annotations
        .contains_key(crate::lookup::CERT_MANAGER_ANNOTATION)
    {
        soften_for_cert_manager(&mut out);
    }
    out
}

/// `namespace/name`, or `name` for a cluster-scoped object (a ClusterIssuer).
pub fn qualified(o: &ObjectRef) -> String {
    match &o.namespace {
        Some(ns) => format!("{ns}/{}", o.name),
        None => o.name.clone(),
    }
}

/// cert-manager writes a temporary certificate and renews in place: while issuance is in
/// flight, expiry and host mismatch are its job to fix, so they only warn.
fn soften_for_cert_manager(issues: &mut [Issue]) {
    for i in issues.iter_mut() {
        if matches!(
            i.code,
            Code::CertExpired | Code::CertNotYetValid | Code::HostNotCovered
        ) && i.severity == Severity::Deny
        {
            i.severity = Severity::Warn;
            i.message
                .push_str(" (managed by cert-manager: warning only while issuance is in flight)");
        }
    }
}

/// Host coverage of a credential's leaf for one reference; `who` names the referrer when the
/// finding is reported on the Secret (" served by Gateway ns/name (path)"). Bounded: past
/// [`hosts::MAX_SANS_PER_CERT`] or [`hosts::MAX_HOSTS_PER_REFERENCE`] it says so instead.
fn coverage_issues(
    summary: &CredentialSummary,
    r: &CredentialRef,
    who: &str,
    secret_name: &str,
) -> Vec<Issue> {
    let Some(leaf) = summary.leaf() else {
        return Vec::new();
    };
    if r.client {
        // A client certificate names its holder, not the host it is sent to.
        return Vec::new();
    }
    if leaf.san_malformed {
        // Reported as san-malformed; some clients fall back to the CN, so no verdict on hosts.
        return Vec::new();
    }
    let path = summary
        .cert_key()
        .map_or("data".to_string(), analysis::data_path);
    let names = leaf.host_names();
    let sans = names.len() + leaf.ip_addresses.len();
    if sans > hosts::MAX_SANS_PER_CERT || r.hosts.len() > hosts::MAX_HOSTS_PER_REFERENCE {
        return vec![Issue::new(
            Code::LimitExceeded,
            path,
            format!(
                "host coverage of the certificate in {secret_name}{who} was not checked: it has {} for {}, above the limits of {} per certificate and {} per server",
                analysis::validity::count(sans, "name"),
                analysis::validity::count(r.hosts.len(), "host"),
                analysis::validity::grouped(hosts::MAX_SANS_PER_CERT),
                analysis::validity::grouped(hosts::MAX_HOSTS_PER_REFERENCE),
            ),
        )];
    }
    let index = hosts::NameIndex::new(names.iter().copied(), &leaf.ip_addresses);
    let mut uncovered: Vec<String> = Vec::new();
    let mut dns_only_ips: Vec<String> = Vec::new();
    let mut public_suffix: Vec<(String, String)> = Vec::new();
    for host in &r.hosts {
        if hosts::is_catch_all(host) {
            continue;
        }
        let h = hosts::normalize(host);
        match index.coverage(host) {
            hosts::Coverage::Covered => {}
            hosts::Coverage::NotCovered => uncovered.push(h),
            hosts::Coverage::IpOnlyAsDns => dns_only_ips.push(h),
            hosts::Coverage::PublicSuffixWildcard(w) => public_suffix.push((h, w)),
        }
    }
    let presents = || {
        let mut p: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        p.extend(leaf.ip_addresses.iter().map(|ip| format!("IP {ip}")));
        if p.is_empty() {
            "no DNS names".to_string()
        } else {
            hosts::list_some(&p)
        }
    };
    let fix = |h: &str| {
        if h.parse::<std::net::IpAddr>().is_ok() {
            format!("subjectAltName=IP:{h}")
        } else {
            format!("subjectAltName=DNS:{h}")
        }
    };
    let mut out = Vec::new();
    if !uncovered.is_empty() {
        out.push(Issue::new(
            Code::HostNotCovered,
            path.clone(),
            format!(
                "certificate in {secret_name} covers {}, not {}{who}; reissue it with {}",
                presents(),
                hosts::list_some(&uncovered),
                fix(&uncovered[0])
            ),
        ));
    }
    if !dns_only_ips.is_empty() {
        out.push(Issue::new(
            Code::HostNotCovered,
            path.clone(),
            format!(
                "certificate in {secret_name} has {} only as a DNS SAN{who}; clients match an IP host against IP SANs only, so reissue it with {}",
                hosts::list_some(&dns_only_ips),
                fix(&dns_only_ips[0])
            ),
        ));
    }
    if !public_suffix.is_empty() {
        // Go and OpenSSL accept `*.co.uk`; browsers refuse wildcards on public suffixes. Some
        // correct client succeeds, so this warns (a false denial is the worst outcome).
        let hs: Vec<&str> = public_suffix.iter().map(|(h, _)| h.as_str()).collect();
        out.push(
            Issue::new(
                Code::HostNotCovered,
                path,
                format!(
                    "certificate in {secret_name} covers {} only through {}, a wildcard on a public suffix that browsers refuse{who}; reissue it with {}",
                    hosts::list_some(&hs),
                    public_suffix[0].1,
                    fix(hs[0])
                ),
            )
            .with_severity(Severity::Warn),
        );
    }
    out
}

fn companion_ca_exists(namespace: &str, name: &str, ctx: &Ctx<'_>) -> bool {
    match ctx
        .lookup
        .secret(namespace, &analysis::companion_ca_secret(name))
    {
        Found::Yes(s) => s.summary.ca.is_some(),
        _ => false,
    }
}

/// Namespaces a reference's Secret is looked up in, in order.
fn resolve_namespaces(scope: &Scope, ctx: &Ctx<'_>) -> Vec<String> {
    namespaces_for(scope, ctx.lookup, ctx.policy)
}

/// Where the Secret of a reference is read from: the explicit namespace, or for Istio the
/// gateway workload's namespace (from pods), else the Gateway's own and `gatewayNamespace`.
pub fn namespaces_for(scope: &Scope, lookup: &dyn Lookup, policy: &Policy) -> Vec<String> {
    match scope {
        Scope::Namespace(ns) => vec![ns.clone()],
        Scope::ClusterResource => vec![policy.cluster_resource_namespace.clone()],
        Scope::IstioWorkload {
            gateway_namespace,
            selector,
        } => match lookup.workload_namespaces(selector) {
            Some(nss) => nss,
            None => {
                let mut v = vec![gateway_namespace.clone()];
                if policy.gateway_namespace != *gateway_namespace {
                    v.push(policy.gateway_namespace.clone());
                }
                v
            }
        },
    }
}

/// Everything that reads the Secret `namespace/name` (the reverse index, narrowed to the
/// Secret references that resolve to this namespace).
pub fn referrers_of(
    lookup: &dyn Lookup,
    policy: &Policy,
    namespace: &str,
    name: &str,
) -> Vec<Referrer> {
    lookup
        .referrers(name)
        .into_iter()
        .filter(|r| r.reference.target == Target::Secret)
        .filter(|r| {
            namespaces_for(&r.reference.scope, lookup, policy)
                .iter()
                .any(|n| n == namespace)
        })
        .collect()
}

/// Everything that reads the CA bundle of ConfigMap `namespace/name`.
pub fn config_map_referrers(lookup: &dyn Lookup, namespace: &str, name: &str) -> Vec<Referrer> {
    lookup
        .referrers(name)
        .into_iter()
        .filter(|r| {
            r.reference.target == Target::ConfigMap
                && r.reference.scope == Scope::Namespace(namespace.to_string())
        })
        .collect()
}

/// Checks every credential reference of a Gateway/Ingress.
fn check_references(obj: &Object, ctx: &Ctx<'_>) -> Vec<Issue> {
    let mut out = Vec::new();
    for r in refs::credential_refs(obj) {
        if let Some(gr) = &r.gateway_api_ref {
            let group = gr.group.as_deref().unwrap_or("");
            let kind = gr.kind.as_deref().unwrap_or("Secret");
            let accepted = match r.target {
                Target::Secret => "Secret",
                Target::ConfigMap => "ConfigMap",
            };
            if !(group.is_empty() || group == "core") || kind != accepted {
                out.push(Issue::new(
                    Code::RefInvalidKind,
                    r.path.clone(),
                    format!(
                        "reference {} is a {kind} of group \"{group}\"; this field accepts only core {accepted}s (group \"\", kind {accepted})",
                        r.name
                    ),
                ));
                continue;
            }
            if let Scope::Namespace(target) = &r.scope {
                if target != obj.namespace() && !reference_granted(obj, target, &r, ctx) {
                    out.push(Issue::new(
                        Code::RefNotPermitted,
                        r.path.clone(),
                        format!(
                            "reference {target}/{} crosses namespaces without a ReferenceGrant in {target} allowing {}s from {} to read {}s; add one or move the {}",
                            r.name,
                            obj.kind(),
                            obj.namespace(),
                            accepted,
                            accepted
                        ),
                    ));
                    continue;
                }
            }
        }
        out.extend(check_reference(&r, ctx));
    }
    out
}

/// A ReferenceGrant in `to_ns` lets objects of `from`'s group and kind in its namespace read
/// Secret `name` (grants are not inherited: a Gateway's do not cover its ListenerSets).
fn reference_granted(from: &Object, to_ns: &str, r: &CredentialRef, ctx: &Ctx<'_>) -> bool {
    let (name, to_kind) = (
        r.name.as_str(),
        match r.target {
            Target::Secret => "Secret",
            Target::ConfigMap => "ConfigMap",
        },
    );
    ctx.lookup.reference_grants(to_ns).iter().any(|g| {
        g.spec.from.iter().any(|f| {
            f.group == from.api_group() && f.kind == from.kind() && f.namespace == from.namespace()
        }) && g.spec.to.iter().any(|t| {
            t.group.is_empty() && t.kind == to_kind && t.name.as_deref().is_none_or(|n| n == name)
        })
    })
}

/// Resolves one reference and checks the credential it finds.
fn check_reference(r: &CredentialRef, ctx: &Ctx<'_>) -> Vec<Issue> {
    if r.target == Target::ConfigMap {
        return check_ca_config_map_ref(r, ctx);
    }
    let mut out = Vec::new();
    let reserved = ["istio", "prometheus"]
        .into_iter()
        .find(|p| r.name.starts_with(p));
    if let (Via::IstioGateway, Some(prefix)) = (&r.via, reserved) {
        out.push(Issue::new(
            Code::CredentialNameReserved,
            r.path.clone(),
            format!("credentialName {} starts with `{prefix}`, a prefix Istio reserves for its own secrets; rename the secret", r.name),
        ));
    }
    let namespaces = resolve_namespaces(&r.scope, ctx);
    let mut found: Option<Arc<StoredSecret>> = None;
    let mut not_synced = false;
    for ns in &namespaces {
        match ctx.lookup.secret(ns, &r.name) {
            Found::Yes(s) => {
                found = Some(s);
                break;
            }
            Found::NotSyncedYet => not_synced = true,
            Found::Missing => {}
        }
    }
    let Some(secret) = found else {
        if not_synced {
            out.push(Issue::new(
                Code::ViewNotSynced,
                r.path.clone(),
                format!(
                    "cannot tell yet whether secret {} exists: the cluster view is still loading",
                    r.name
                ),
            ));
        } else {
            out.push(not_found(r, &namespaces, ctx));
        }
        return out;
    };
    let summary = &secret.summary;
    let src = format!("secret {}/{}", secret.namespace, secret.name);
    if summary.has_token && matches!(r.via, Via::IstioGateway | Via::DestinationRule) {
        out.push(Issue::new(
            Code::CredentialHasToken,
            r.path.clone(),
            format!("{src} has a `token` key; Istio refuses to serve secrets that look like service-account tokens"),
        ));
    }
    if r.needs_pair && summary.server.is_none() && !summary.has_lone_half() {
        let has = summary.describe_keys();
        out.push(Issue::new(
            Code::SecretMalformed,
            r.path.clone(),
            format!(
                "{src} has no certificate/key pair (needs tls.crt+tls.key or cert+key; has {has})"
            ),
        ));
    }
    let mut own: Vec<Issue> = summary.issues.clone();
    own.extend(analysis::validity_issues(
        summary,
        ctx.now,
        ctx.policy.expiry_warning_days,
    ));
    // A client certificate names its holder: no host advice (no-subject-alt-name) for it.
    for i in own
        .into_iter()
        .filter(|i| {
            PROPAGATED.contains(&i.code)
                // A CA reference (caCertificateRefs to a Secret) breaks on a non-CA entry.
                || (i.code == Code::CaNotCa && r.needs_ca && !r.needs_pair)
        })
        .filter(|i| !(r.client && i.code == Code::NoSubjectAltName))
    {
        out.push(Issue {
            path: r.path.clone(),
            message: crate::redact::scrub(&format!("{src}: {}", i.message)).into_owned(),
            ..i
        });
    }
    for mut i in coverage_issues(summary, r, "", &src) {
        i.path = r.path.clone();
        out.push(i);
    }
    if r.via == Via::CertManagerIssuer {
        for i in out.iter_mut().filter(|i| i.code == Code::CertExpired) {
            i.message.push_str(ISSUER_CANNOT_SIGN);
        }
        for mut i in issuer_ca_issues(summary, &src, "") {
            i.path = r.path.clone();
            out.push(i);
        }
    }
    if r.needs_ca
        && summary.ca.is_none()
        && !companion_ca_exists(&secret.namespace, &secret.name, ctx)
    {
        let message = if r.gateway_api_ref.is_some() {
            format!(
                "client certificates are verified against caCertificateRefs but {src} has no ca.crt; add the client CA as ca.crt"
            )
        } else if r.client {
            format!(
                "the server certificate is verified (insecureSkipVerify is not set) but {src} has no ca.crt or cacert and there is no {} secret; add the server's CA as ca.crt",
                analysis::companion_ca_secret(&secret.name)
            )
        } else {
            format!(
                "client certificates are verified (MUTUAL) but {src} has no ca.crt or cacert and there is no {} secret; add the client CA as ca.crt",
                analysis::companion_ca_secret(&secret.name)
            )
        };
        out.push(Issue::new(Code::CaMissing, r.path.clone(), message));
    }
    if r.client {
        for mut i in client_usage_issues(summary, &src, "") {
            i.path = r.path.clone();
            out.push(i);
        }
    }
    if secret.cert_manager {
        soften_for_cert_manager(&mut out);
    }
    out
}

/// A `caCertificateRefs` entry naming a ConfigMap: present, a `ca.crt`, every entry a CA,
/// bundle expiry (deny only when no CA is valid).
fn check_ca_config_map_ref(r: &CredentialRef, ctx: &Ctx<'_>) -> Vec<Issue> {
    let Scope::Namespace(ns) = &r.scope else {
        return Vec::new();
    };
    let cm = match ctx.lookup.config_map(ns, &r.name) {
        Found::Yes(cm) => cm,
        Found::NotSyncedYet => {
            return vec![Issue::new(
                Code::ViewNotSynced,
                r.path.clone(),
                format!(
                    "cannot tell yet whether configmap {ns}/{} exists: the cluster view is still loading",
                    r.name
                ),
            )]
        }
        Found::Missing => {
            return vec![Issue::new(
                Code::CredentialNotFound,
                r.path.clone(),
                format!(
                    "configmap {ns}/{} with a ca.crt not found, so {} cannot be verified; create it with {} under ca.crt",
                    r.name,
                    if r.via == Via::BackendTlsPolicy { "the backend's certificate" } else { "client certificates" },
                    if r.via == Via::BackendTlsPolicy { "the backend's CA" } else { "the client CA" },
                ),
            )]
        }
    };
    let src = format!("configmap {ns}/{}", r.name);
    ca_bundle_issues(&cm, ctx)
        .into_iter()
        .map(|i| Issue {
            path: r.path.clone(),
            message: format!("{src}: {}", i.message),
            ..i
        })
        .collect()
}

/// What is wrong with a CA ConfigMap's `ca.crt`, each at `data["ca.crt"]`.
fn ca_bundle_issues(cm: &crate::lookup::StoredConfigMap, ctx: &Ctx<'_>) -> Vec<Issue> {
    let key = refs::CA_CONFIG_MAP_KEY;
    let Some(bundle) = &cm.ca else {
        return vec![Issue::new(
            Code::CaMissing,
            analysis::data_path(key),
            format!(
                "has no {key} (keys: {}); put the CA bundle there",
                if cm.keys.is_empty() {
                    "none".to_string()
                } else {
                    cm.keys.join(", ")
                }
            ),
        )];
    };
    ca_bundle_findings(key, bundle, ctx.now, ctx.policy.expiry_warning_days)
}

fn not_found(r: &CredentialRef, searched: &[String], ctx: &Ctx<'_>) -> Issue {
    let elsewhere: Vec<String> = ctx
        .lookup
        .secret_namespaces(&r.name)
        .into_iter()
        .filter(|ns| !searched.contains(ns))
        .collect();
    let reader = match (&r.via, &r.scope) {
        (Via::DestinationRule, Scope::Namespace(_) | Scope::ClusterResource) => {
            "its sidecars read it (an egress gateway reads its own namespace; select it with workloadSelector)"
        }
        (Via::DestinationRule, Scope::IstioWorkload { .. }) => {
            "the workloads workloadSelector selects read it"
        }
        (Via::IstioGateway, _) => "the ingress gateway reads credentials",
        (Via::GatewayApi, _) => "the listener reads it",
        (Via::BackendTlsPolicy, _) => "the policy reads it",
        (Via::Ingress, _) => "the Ingress reads it",
        (Via::CertManagerIssuer, Scope::ClusterResource) => {
            "cert-manager reads ClusterIssuer secrets (its --cluster-resource-namespace; tlsgate's flag of that name)"
        }
        (Via::CertManagerIssuer, _) => "cert-manager reads the Issuer's secret",
    };
    let place = searched.join(" or ");
    let mut msg = format!("secret {} not found in {place}, where {reader}", r.name);
    if let Some(first) = elsewhere.first() {
        msg.push_str(&format!(
            "; it exists in {first} — create it in {}",
            searched[0]
        ));
    }
    Issue::new(Code::CredentialNotFound, r.path.clone(), msg)
}

fn check_istio_gateway(gw: &IstioGateway, obj: &Object, ctx: &Ctx<'_>) -> Vec<Issue> {
    let mut out = Vec::new();
    if ctx.lookup.no_workload_matches(&gw.spec.selector) {
        let labels: Vec<String> = gw
            .spec
            .selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        out.push(Issue::new(
            Code::GatewayWorkloadNotFound,
            "spec.selector",
            format!(
                "selector {} matches no pod, so no gateway workload serves this Gateway; set it to the labels of the ingress gateway Deployment's pods",
                labels.join(",")
            ),
        ));
    }
    for (i, server) in gw.spec.servers.iter().enumerate() {
        let Some(tls) = &server.tls else { continue };
        let Some(cred) = tls.credential_name.as_deref().filter(|c| !c.is_empty()) else {
            continue;
        };
        let path = format!("spec.servers[{i}].tls.credentialName");
        match istio_mode(tls.mode.as_deref()) {
            "ISTIO_MUTUAL" => out.push(Issue::new(
                Code::IstioMutualWithCredential,
                path,
                format!("tls.mode ISTIO_MUTUAL uses the mesh's own certificates and must not set credentialName ({cred}); use MUTUAL to serve {cred}"),
            )),
            m @ ("PASSTHROUGH" | "AUTO_PASSTHROUGH") => {
                let unset = if tls.mode.is_none() { " (tls.mode is unset, which means PASSTHROUGH)" } else { "" };
                out.push(Issue::new(
                    Code::TlsModeIgnoresCredential,
                    path,
                    format!("tls.mode {m}{unset} forwards TLS untouched, so credentialName {cred} is ignored; set mode: SIMPLE to terminate TLS with it"),
                ));
            }
            _ => {}
        }
    }
    out.extend(check_references(obj, ctx));
    out
}

/// A client certificate must allow client authentication when it restricts its usage
/// (RFC 5280 §4.2.1.12: no extendedKeyUsage means any usage). Warn only: servers that do not
/// check usage accept it.
fn client_usage_issues(summary: &CredentialSummary, src: &str, who: &str) -> Vec<Issue> {
    let Some(leaf) = summary.server.as_ref().and_then(|_| summary.leaf()) else {
        return Vec::new();
    };
    if !leaf.eku_lacks_client_auth {
        return Vec::new();
    }
    let path = summary
        .cert_key()
        .map_or("data".to_string(), analysis::data_path);
    vec![Issue::new(
        Code::ClientAuthMissing,
        path,
        format!(
            "client certificate in {src}{who} has extendedKeyUsage without clientAuth, so servers that check usage refuse it; reissue it with extendedKeyUsage=clientAuth"
        ),
    )]
}

/// Said of an expired CA that a cert-manager issuer signs with.
const ISSUER_CANNOT_SIGN: &str =
    "; the issuer cannot sign certificates that clients accept until the CA is renewed";

/// A cert-manager CA issuer signs with the first certificate of `tls.crt`: without
/// basicConstraints CA:TRUE every certificate it signs fails path validation in every client
/// (RFC 5280 §4.2.1.9).
fn issuer_ca_issues(summary: &CredentialSummary, src: &str, who: &str) -> Vec<Issue> {
    let Some(leaf) = summary.server.as_ref().and_then(|_| summary.leaf()) else {
        return Vec::new();
    };
    if leaf.is_ca {
        return Vec::new();
    }
    let path = summary
        .cert_key()
        .map_or("data".to_string(), analysis::data_path);
    vec![Issue::new(
        Code::CaNotCa,
        path,
        format!(
            "certificate in {src}{who} ({}) is not a CA (no basicConstraints CA:TRUE), so every certificate the issuer signs fails verification; put a CA certificate and its key in tls.crt and tls.key",
            leaf.display_name()
        ),
    )]
}

/// cert-manager's default `spec.duration` (90 days).
const CERTIFICATE_DEFAULT_DURATION: &str = "2160h";

/// A Certificate issued by a CA issuer whose CA expires before a leaf issued now would: the
/// leaf will outlive its issuer (cert-manager shortens it to the CA's notAfter, or clients
/// reject it once the CA has expired). Silent when the issuer or its CA is not visible, and
/// when the CA already expired (the Issuer reports that).
fn check_certificate(c: &crate::model::Certificate, ns: &str, ctx: &Ctx<'_>) -> Vec<Issue> {
    let r = &c.spec.issuer_ref;
    if r.group.as_deref().unwrap_or("cert-manager.io") != "cert-manager.io" {
        return Vec::new();
    }
    let kind = r.kind.as_deref().unwrap_or("Issuer");
    let cluster = match kind {
        "Issuer" => false,
        "ClusterIssuer" => true,
        _ => return Vec::new(),
    };
    let Found::Yes(issuer) = ctx.lookup.issuer(cluster, ns, &r.name) else {
        return Vec::new();
    };
    let Some(ca) = issuer.spec.ca.as_ref() else {
        return Vec::new();
    };
    let secret_ns = if cluster {
        ctx.policy.cluster_resource_namespace.as_str()
    } else {
        ns
    };
    let Found::Yes(secret) = ctx.lookup.secret(secret_ns, &ca.secret_name) else {
        return Vec::new();
    };
    let Some(leaf) = secret.summary.leaf() else {
        return Vec::new();
    };
    if analysis::validity::is_expired_at(leaf.not_after, ctx.now) {
        return Vec::new();
    }
    let written = c
        .spec
        .duration
        .as_deref()
        .unwrap_or(CERTIFICATE_DEFAULT_DURATION);
    let Some(duration) = go_duration_seconds(written) else {
        return Vec::new();
    };
    let past = ctx.now.saturating_add(duration) - leaf.not_after;
    if past <= 0 {
        return Vec::new();
    }
    let who = if cluster {
        format!("ClusterIssuer {}", r.name)
    } else {
        format!("Issuer {ns}/{}", r.name)
    };
    vec![Issue::new(
        Code::LeafOutlivesIssuer,
        if c.spec.duration.is_some() { "spec.duration" } else { "spec.issuerRef" },
        format!(
            "the leaf will outlive its issuer: duration {written} runs {} past the CA of {who} (secret {secret_ns}/{}, notAfter {}); renew the CA or shorten spec.duration",
            analysis::validity::human_duration(past),
            ca.secret_name,
            analysis::validity::rfc3339(leaf.not_after)
        ),
    )]
}

/// Seconds in a Go duration (`2160h`, `1h30m`, `90m`, `1.5h`); `None` if it is not one.
fn go_duration_seconds(s: &str) -> Option<i64> {
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..u] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[u..];
        total += value * scale;
    }
    (total.is_finite() && total < i64::MAX as f64).then_some(total as i64)
}

/// A BackendTLSPolicy: its CA ConfigMaps (through [`check_references`]), `hostname`, and
/// whether its target Services exist.
fn check_backend_tls_policy(
    p: &crate::model::BackendTlsPolicy,
    obj: &Object,
    ctx: &Ctx<'_>,
) -> Vec<Issue> {
    let mut out = Vec::new();
    let v = &p.spec.validation;
    if let Some(why) = precise_hostname_problem(&v.hostname) {
        out.push(Issue::new(
            Code::HostnameInvalid,
            "spec.validation.hostname",
            format!("hostname {why}; set it to the DNS name the backend's certificate is issued for (no wildcard, no IP)"),
        ));
    }
    if let Some(w) = &v.well_known_ca_certificates {
        out.push(Issue::new(
            Code::SystemCasUsed,
            "spec.validation.wellKnownCACertificates",
            format!("backend certificates are verified with the implementation's {w} CAs, which tlsgate cannot check; name a ConfigMap in caCertificateRefs to have them checked"),
        ));
    }
    let ns = obj.namespace();
    for (i, t) in p.spec.target_refs.iter().enumerate() {
        let kind = t.kind.as_deref().unwrap_or_default();
        if kind != "Service" || !t.group.as_deref().unwrap_or_default().is_empty() {
            continue;
        }
        if ctx.lookup.service_exists(ns, &t.name) == Some(false) {
            out.push(Issue::new(
                Code::TargetNotFound,
                format!("spec.targetRefs[{i}]"),
                format!("service {ns}/{} not found, so this policy applies to nothing; fix the name or create the Service", t.name),
            ));
        }
    }
    out.extend(check_references(obj, ctx));
    out
}

/// Why `h` is not a Gateway API `PreciseHostname` (RFC 1123 labels, lower case, no wildcard,
/// at most 253 characters, not an IP address), or `None`.
fn precise_hostname_problem(h: &str) -> Option<&'static str> {
    if h.is_empty() {
        return Some("is empty");
    }
    if h.len() > 253 {
        return Some("is longer than 253 characters");
    }
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Some("is an IP address");
    }
    if h.starts_with("*.") || h == "*" {
        return Some("is a wildcard");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !h.split('.').all(label_ok) {
        return Some("is not a DNS name of lower-case letters, digits and hyphens");
    }
    None
}

/// Modes that never send the credential: the rule reads as if it did.
fn check_destination_rule(dr: &DestinationRule, obj: &Object, ctx: &Ctx<'_>) -> Vec<Issue> {
    let mut out = Vec::new();
    for (path, tls) in refs::destination_rule_tls(dr) {
        let Some(cred) = tls.credential_name.as_deref().filter(|c| !c.is_empty()) else {
            continue;
        };
        let mode = refs::istio_client_mode(tls.mode.as_deref());
        if matches!(mode, "DISABLE" | "ISTIO_MUTUAL") {
            let unset = if tls.mode.is_none() {
                " (tls.mode is unset, which means DISABLE)"
            } else {
                ""
            };
            out.push(Issue::new(
                Code::TlsModeIgnoresCredential,
                format!("{path}.credentialName"),
                format!("tls.mode {mode}{unset} does not use credentialName {cred}; set mode: MUTUAL to present its certificate, or SIMPLE to verify the server with its CA"),
            ));
        }
    }
    out.extend(check_references(obj, ctx));
    out
}

fn check_virtual_service(vs: &VirtualService, namespace: &str, ctx: &Ctx<'_>) -> Vec<Issue> {
    let mut out = Vec::new();
    for (j, g) in vs.spec.gateways.iter().enumerate() {
        if g == "mesh" || g.is_empty() {
            continue;
        }
        let (gns, gname) = g.split_once('/').unwrap_or((namespace, g.as_str()));
        let path = format!("spec.gateways[{j}]");
        // Istio resolves the name against Istio Gateways and Gateway API Gateways alike.
        let served: Vec<String> = match ctx.lookup.istio_gateway(gns, gname) {
            Found::Yes(gw) => gw
                .spec
                .servers
                .iter()
                .flat_map(|s| s.hosts.iter().cloned())
                .collect(),
            Found::NotSyncedYet => {
                out.push(Issue::new(
                    Code::ViewNotSynced,
                    path,
                    format!("cannot tell yet whether gateway {gns}/{gname} exists: the cluster view is still loading"),
                ));
                continue;
            }
            Found::Missing => match ctx.lookup.gateway_api_gateway(gns, gname) {
                // A listener without a hostname accepts every host.
                Found::Yes(gw) => gw
                    .spec
                    .listeners
                    .iter()
                    .map(|l| l.hostname.clone().unwrap_or_else(|| "*".into()))
                    .map(|h| format!("{gns}/{h}"))
                    .collect(),
                _ => {
                    let hint = gateway_hint(gname, gns, &vs.spec.hosts, namespace, ctx);
                    out.push(Issue::new(
                        Code::GatewayNotFound,
                        path,
                        format!("gateway {gns}/{gname} not found{hint}"),
                    ));
                    continue;
                }
            },
        };
        let admitted = vs
            .spec
            .hosts
            .iter()
            .any(|h| served.iter().any(|s| host_in_server(s, h, namespace, gns)));
        if !admitted && !vs.spec.hosts.is_empty() {
            let shown = if served.is_empty() {
                "no hosts".to_string()
            } else {
                hosts::list_some(&served)
            };
            out.push(Issue::new(
                Code::VirtualserviceHostNotInGateway,
                "spec.hosts",
                format!(
                    "none of {} is served by gateway {gns}/{gname} (it serves {shown}); this VirtualService gets no traffic from it",
                    hosts::list_some(&vs.spec.hosts),
                ),
            ));
        }
    }
    out
}

/// "did you mean": a gateway in the namespace that serves one of the hosts, else a close name,
/// else the few gateways that exist.
fn gateway_hint(name: &str, ns: &str, vs_hosts: &[String], vs_ns: &str, ctx: &Ctx<'_>) -> String {
    let names = ctx.lookup.istio_gateway_names(ns);
    // Gateways that serve one of the VirtualService's hosts, the most similar name first.
    let serving =
        names
            .iter()
            .filter_map(|candidate| match ctx.lookup.istio_gateway(ns, candidate) {
                Found::Yes(gw) => gw
                    .spec
                    .servers
                    .iter()
                    .flat_map(|s| s.hosts.iter())
                    .find_map(|s| vs_hosts.iter().find(|h| host_in_server(s, h, vs_ns, ns)))
                    .map(|host| {
                        (
                            hosts::edit_distance(name, candidate),
                            candidate,
                            host.clone(),
                        )
                    }),
                _ => None,
            });
    if let Some((_, candidate, host)) = serving.min() {
        return format!("; did you mean `{candidate}` (it serves {host})?");
    }
    match hosts::closest(name, names.iter().map(String::as_str)) {
        Some(c) => format!("; did you mean `{c}`?"),
        None if !names.is_empty() && names.len() <= 3 => {
            format!("; gateways in {ns}: {}", names.join(", "))
        }
        None => String::new(),
    }
}

/// A gateway server host `ns/host` only admits VirtualServices from `ns`; `*/host` admits any
/// namespace and `./host` only the Gateway's own.
fn host_in_server(
    server_host: &str,
    vs_host: &str,
    vs_namespace: &str,
    gw_namespace: &str,
) -> bool {
    if let Some((ns, _)) = server_host.split_once('/') {
        let allowed = match ns {
            "*" => true,
            "." => vs_namespace == gw_namespace,
            ns => ns == vs_namespace,
        };
        if !allowed {
            return false;
        }
    }
    hosts::gateway_host_admits(server_host, vs_host)
}

fn check_gateway_api(gw: &GatewayApiGateway, obj: &Object, ctx: &Ctx<'_>) -> Vec<Issue> {
    let mut out = check_listeners(&gw.spec.listeners);
    if let Some(f) = gw.spec.tls.as_ref().and_then(|t| t.frontend.as_ref()) {
        let ports = f.per_port.iter().enumerate().map(|(i, p)| {
            (
                format!("spec.tls.frontend.perPort[{i}].tls.validation"),
                &p.tls,
            )
        });
        for (path, tls) in std::iter::once((
            "spec.tls.frontend.default.validation".to_string(),
            &f.default,
        ))
        .chain(ports)
        {
            let Some(v) = &tls.validation else { continue };
            if v.mode.as_deref() == Some("AllowInsecureFallback") {
                out.push(Issue::new(
                    Code::ClientValidationOptional,
                    format!("{path}.mode"),
                    "mode AllowInsecureFallback lets clients without a valid certificate through; use AllowValidOnly to require one",
                ));
            }
        }
    }
    out.extend(check_references(obj, ctx));
    out
}

/// Listener rules that need no lookup (a Gateway's or a ListenerSet's listeners).
fn check_listeners(listeners: &[Listener]) -> Vec<Issue> {
    let mut out = Vec::new();
    for (i, l) in listeners.iter().enumerate() {
        let Some(tls) = &l.tls else { continue };
        let mode = tls.mode.as_deref().unwrap_or("Terminate");
        if mode == "Passthrough" && !tls.certificate_refs.is_empty() {
            out.push(Issue::new(
                Code::TlsModeIgnoresCredential,
                format!("spec.listeners[{i}].tls.certificateRefs"),
                format!("listener {} uses tls.mode Passthrough, so its certificateRefs are ignored; use Terminate to serve them", l.name),
            ));
        }
        if let Some(fv) = &tls.frontend_validation {
            if fv.ca_certificate_refs.is_empty() {
                out.push(Issue::new(
                    Code::CaMissing,
                    format!("spec.listeners[{i}].tls.frontendValidation.caCertificateRefs"),
                    format!("listener {} validates client certificates but names no CA in caCertificateRefs", l.name),
                ));
            }
        }
    }
    out
}

/// The mesh root, from `cacerts` or `istio-ca-secret` in the gateway namespace.
fn current_mesh_root(ctx: &Ctx<'_>) -> Option<Arc<analysis::cert::CertInfo>> {
    analysis::ISTIO_CA_SECRETS.iter().find_map(|n| {
        match ctx.lookup.secret(&ctx.policy.gateway_namespace, n) {
            Found::Yes(s) => s.summary.mesh_root.clone(),
            _ => None,
        }
    })
}

/// istio.io/key-and-cert secrets whose root-cert.pem is not the current mesh root (the
/// root-transition seed's `verify-certs` step).
fn mesh_root_issues(
    summary: &CredentialSummary,
    namespace: &str,
    name: &str,
    ctx: &Ctx<'_>,
) -> Vec<Issue> {
    if summary.secret_type != "istio.io/key-and-cert" {
        return Vec::new();
    }
    let Some(theirs) = &summary.mesh_root else {
        return Vec::new();
    };
    let Some(root) = current_mesh_root(ctx) else {
        return Vec::new();
    };
    if root.sha256 == theirs.sha256 {
        return Vec::new();
    }
    vec![Issue::new(
        Code::IstioRootMismatch,
        analysis::data_path(analysis::ROOT_CERT_KEY),
        format!(
            "root-cert.pem of {namespace}/{name} ({}, sha256 {}…) is not the current mesh root ({}, sha256 {}…); workloads using it will fail mTLS after the root transition",
            theirs.display_name(),
            &theirs.fingerprint_hex()[..16],
            root.display_name(),
            &root.fingerprint_hex()[..16]
        ),
    )]
}

fn is_linkerd_issuer(namespace: &str, name: &str) -> bool {
    namespace == analysis::LINKERD_NAMESPACE && analysis::is_linkerd_issuer(name)
}

fn linkerd_roots_ref() -> String {
    format!(
        "configmap {}/{} {}",
        analysis::LINKERD_NAMESPACE,
        analysis::LINKERD_TRUST_ROOTS,
        analysis::LINKERD_TRUST_ROOTS_KEY
    )
}

/// Is the issuer certificate signed by one of the trust anchors (by signature, as Linkerd's
/// identity controller verifies it at start)? `None`: nothing to check against.
fn issuer_verifies(issuer_der: &[u8], anchors: &[Vec<u8>]) -> bool {
    anchors
        .iter()
        .any(|a| a.as_slice() == issuer_der || crate::audit::signed_by(issuer_der, a))
}

/// The issuer Secret against the trust roots the index holds (the ConfigMap may be absent in
/// a `lint` input or not synced yet: then nothing is said).
fn linkerd_issuer_issues(summary: &CredentialSummary, ctx: &Ctx<'_>) -> Vec<Issue> {
    let (Some(der), Some(cert_key), Some(leaf)) = (
        summary.linkerd_issuer_der.as_deref(),
        summary.cert_key(),
        summary.leaf(),
    ) else {
        return Vec::new();
    };
    let Found::Yes(roots) = ctx
        .lookup
        .config_map(analysis::LINKERD_NAMESPACE, analysis::LINKERD_TRUST_ROOTS)
    else {
        return Vec::new();
    };
    if roots.anchors_der.is_empty() || issuer_verifies(der, &roots.anchors_der) {
        return Vec::new();
    }
    vec![Issue::new(
        Code::NotSignedByCa,
        analysis::data_path(cert_key),
        format!(
            "the Linkerd issuer in {cert_key} ({}) is not signed by any of the {} in {}, so Linkerd's identity cannot verify it and proxies reject what it issues; sign the issuer with a trust anchor or add its CA to the bundle",
            leaf.display_name(),
            analysis::validity::count(roots.anchors_der.len(), "trust anchor"),
            linkerd_roots_ref()
        ),
    )]
}

/// `linkerd-identity-trust-roots`: the anchors' validity (bundle semantics) and, when the
/// webhook reviews a replacement, whether the stored issuer still verifies with it.
fn check_linkerd_trust_roots(cm: &ConfigMap, ctx: &Ctx<'_>) -> Vec<Issue> {
    let key = analysis::LINKERD_TRUST_ROOTS_KEY;
    let path = analysis::data_path(key);
    let Some(pem) = cm.data.get(key) else {
        return vec![Issue::new(
            Code::SecretMalformed,
            path,
            format!("{} has no {key}; Linkerd's proxies cannot verify any identity — add the trust anchors under {key}", analysis::LINKERD_TRUST_ROOTS),
        )];
    };
    let bundle = ctx
        .analyzer
        .bundle(pem.as_bytes(), analysis::Role::CaBundle);
    let days = ctx
        .policy
        .expiry_warning_days
        .max(analysis::LINKERD_EXPIRY_WARNING_DAYS);
    let mut out = ca_bundle_findings(key, &bundle, ctx.now, days);
    if !ctx.referrers {
        return out;
    }
    let Found::Yes(issuer) = ctx
        .lookup
        .secret(analysis::LINKERD_NAMESPACE, analysis::LINKERD_ISSUER_SECRET)
    else {
        return out;
    };
    let anchors = analysis::cert_ders(pem.as_bytes());
    if let (Some(der), Some(cert_key)) = (
        issuer.summary.linkerd_issuer_der.as_deref(),
        issuer.summary.cert_key(),
    ) {
        if !issuer_verifies(der, &anchors) {
            let name = issuer
                .summary
                .leaf()
                .map(|c| c.display_name())
                .unwrap_or_default();
            out.push(Issue::new(
                Code::NotSignedByCa,
                path,
                format!(
                    "{key} no longer holds the CA of the issuer in secret {}/{} {cert_key} ({name}), so Linkerd's identity cannot verify it and proxies reject new certificates; keep the old anchor in the bundle until the issuer is rotated",
                    analysis::LINKERD_NAMESPACE,
                    analysis::LINKERD_ISSUER_SECRET
                ),
            ));
        }
    }
    out
}

fn check_config_map(cm: &ConfigMap, namespace: &str, ctx: &Ctx<'_>) -> Vec<Issue> {
    if namespace == analysis::LINKERD_NAMESPACE && cm.metadata.name == analysis::LINKERD_TRUST_ROOTS
    {
        return check_linkerd_trust_roots(cm, ctx);
    }
    if cm.metadata.name != "istio-ca-root-cert" {
        return check_referenced_config_map(cm, namespace, ctx);
    }
    let key = analysis::ROOT_CERT_KEY;
    let Some(pem) = cm.data.get(key) else {
        return vec![Issue::new(
            Code::SecretMalformed,
            analysis::data_path(key),
            "istio-ca-root-cert has no root-cert.pem",
        )];
    };
    let bundle = ctx
        .analyzer
        .bundle(pem.as_bytes(), analysis::Role::CaBundle);
    let mut out = ca_bundle_findings(key, &bundle, ctx.now, ctx.policy.expiry_warning_days);
    if let Some(root) = current_mesh_root(ctx) {
        if !bundle.certs.iter().any(|c| c.sha256 == root.sha256) {
            out.push(Issue::new(
                Code::IstioRootMismatch,
                analysis::data_path(key),
                format!(
                    "istio-ca-root-cert in {namespace} does not contain the current mesh root ({}, sha256 {}…); sidecars here will reject the new workload certificates",
                    root.display_name(),
                    &root.fingerprint_hex()[..16]
                ),
            ));
        }
    }
    out
}

/// A ConfigMap that Gateways name in `caCertificateRefs`, checked against them when it is
/// written (the reverse index): a denial names every Gateway that would stop verifying clients.
fn check_referenced_config_map(cm: &ConfigMap, namespace: &str, ctx: &Ctx<'_>) -> Vec<Issue> {
    if !ctx.referrers {
        return Vec::new();
    }
    let referrers = config_map_referrers(ctx.lookup, namespace, &cm.metadata.name);
    if referrers.is_empty() {
        return Vec::new();
    }
    let users: Vec<String> = referrers
        .iter()
        .map(|r| {
            format!(
                "{} {} ({})",
                r.object.kind,
                qualified(&r.object),
                r.reference.path
            )
        })
        .collect();
    let stored = crate::lookup::StoredConfigMap::new(ctx.analyzer, cm);
    let mut out = ca_bundle_issues(&stored, ctx);
    let users = hosts::list_some(&users);
    for i in out.iter_mut() {
        i.message = format!(
            "configmap {namespace}/{} {} (used by {users})",
            cm.metadata.name, i.message
        );
    }
    out
}

/// DELETE of a Secret: who still uses it. Never denies inside a terminating namespace.
/// `old` is the Secret being deleted, when the request carries it: its `tlsgate.io/skip`
/// annotation and ignore label count as on any other write.
pub fn check_delete(
    secret_ns: &str,
    secret_name: &str,
    namespace_terminating: bool,
    old: Option<&crate::model::Meta>,
    ctx: &Ctx<'_>,
) -> Vec<Finding> {
    if old.is_some_and(|m| exempt::is_ignored(&m.labels)) {
        return Vec::new();
    }
    let oref = ObjectRef {
        api_version: "v1".into(),
        kind: "Secret".into(),
        namespace: Some(secret_ns.into()),
        name: secret_name.into(),
    };
    let users: Vec<String> = referrers_of(ctx.lookup, ctx.policy, secret_ns, secret_name)
        .into_iter()
        .filter(|r| r.object.namespace.as_deref() != Some(secret_ns) || !namespace_terminating)
        .map(|r| {
            format!(
                "{} {} ({})",
                r.object.kind,
                qualified(&r.object),
                r.reference.path
            )
        })
        .collect();
    if users.is_empty() {
        return Vec::new();
    }
    let severity = if ctx.policy.deny_delete_in_use && !namespace_terminating {
        Severity::Deny
    } else {
        Severity::Warn
    };
    let f = Issue::new(
        Code::SecretInUse,
        "metadata.name",
        format!(
            "secret {secret_ns}/{secret_name} is still used by {}; those will stop serving TLS",
            users.join(", ")
        ),
    )
    .with_severity(severity)
    .on(&oref);
    let none = std::collections::BTreeMap::new();
    let exemptions = exempt::Exemptions::of(
        "Secret",
        Some(secret_ns),
        secret_name,
        old.map_or(&none, |m| &m.annotations),
        &ctx.policy.exemptions,
    );
    exemptions.apply(ctx.policy.apply(vec![f]))
}

/// UPDATE ratchet: a finding that was already present on the old object only warns, so
/// unrelated edits to a broken object are not blocked; what the update makes worse is denied.
pub fn ratchet(new: Vec<Finding>, old: &[Finding]) -> Vec<Finding> {
    new.into_iter()
        .map(|mut f| {
            if f.severity == Severity::Deny
                && old.iter().any(|o| o.code == f.code && o.path == f.path)
            {
                f.severity = Severity::Warn;
                f.message.push_str(" (already true before this update)");
            }
            f
        })
        .collect()
}

/// The findings of a CA bundle read from `data[key]` of a ConfigMap: its parse issues, then the
/// bundle's validity (some entries expired warn, all expired deny) with `warning_days` of notice.
fn ca_bundle_findings(
    key: &'static str,
    bundle: &Arc<analysis::Bundle>,
    now: i64,
    warning_days: i64,
) -> Vec<Issue> {
    let mut out: Vec<Issue> = bundle
        .issues
        .iter()
        .map(|(c, s, m)| {
            Issue::new(*c, analysis::data_path(key), format!("{key} {m}")).with_severity(*s)
        })
        .collect();
    let summary = CredentialSummary {
        bundles: vec![(key, bundle.clone())],
        ..Default::default()
    };
    out.extend(analysis::validity_issues(&summary, now, warning_days));
    out
}
