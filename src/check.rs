//! `check(object, lookup, policy, now) -> findings`: the rules, written once, shared by the
//! webhook, the linter and the audit.

use crate::analysis::cert::KeyAlgorithm;
use crate::analysis::{self, hosts, Analyzer, CredentialSummary};
use crate::exempt;
use crate::finding::{Code, Finding, Issue, ObjectRef, Severity};
use crate::kinds;
use crate::lookup::{Found, Lookup, Referrer, StoredConfigMap, StoredSecret};
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
        Object::Route(r) => check_route(r, obj, ctx),
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
        with_expiry_fix(&mut validity, "; Linkerd issues no proxy certificates with it: rotate the issuer (Linkerd's manual rotation docs)");
        out.extend(linkerd_issuer_issues(summary, ctx));
    }
    if analysis::is_istio_ca_secret(&s.meta.name) {
        // The seed's Citadel outage: the CA aged out and istiod could not start.
        with_expiry_fix(&mut validity, "; istiod will not start and new workloads get no certificates: rotate the root (Istio's root transition)");
    }
    out.extend(validity);
    out.extend(mesh_root_issues(summary, ctx));
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
        // Who, not which field of theirs: the sentence must leave room for the fix.
        let served_by = format!(" served by {who}");
        let mut coverage = coverage_issues(summary, &r.reference, &served_by, "this secret");
        let own = summary.leaf().map(|l| l.key_algorithm());
        soften_for_alternative(&r.reference, own.as_ref(), &mut coverage, ctx);
        out.extend(coverage);
        if r.reference.needs_ca
            && !summary.has_ca
            && !companion_ca_exists(namespace, &s.meta.name, ctx)
        {
            let verifies = if r.reference.client {
                "the server"
            } else {
                "clients"
            };
            out.push(Issue::new(
                Code::CaMissing,
                "data",
                format!(
                    "no ca.crt or cacert in this secret or in {} for {who} ({}) to verify {verifies} with; add the CA as ca.crt",
                    analysis::companion_ca_secret(&s.meta.name),
                    r.reference.path
                ),
            ));
        }
        if r.reference.client {
            out.extend(client_usage_issues(summary, &s.meta.name, &served_by));
        }
        if r.reference.via == Via::CertManagerIssuer {
            out.extend(issuer_ca_issues(summary, &s.meta.name, &served_by));
            out.extend(outliving_certificates(summary, &r.object, ctx));
        }
        if r.reference.via == Via::Route && s.secret_type != ROUTE_SECRET_TYPE {
            out.push(Issue::new(
                Code::SecretMalformed,
                "type",
                format!(
                    "secret of type {} is{served_by}, but the router serves externalCertificate only from {ROUTE_SECRET_TYPE} secrets; recreate it with kubectl create secret tls",
                    s.secret_type
                ),
            ));
        }
    }
    if !referrer_names.is_empty() {
        // Whoever replaces a Secret that Gateways serve learns which ones break, whatever the code.
        // One name and a count: the sentence before it says which certificate and by how much.
        let users = hosts::list_first(&referrer_names, 1);
        for i in out
            .iter_mut()
            .filter(|i| i.severity == Severity::Deny && !i.message.contains(" served by "))
            .filter(|i| {
                !referrer_names
                    .iter()
                    .any(|n| i.message.contains(n.as_str()))
            })
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
/// finding is reported on the Secret (" served by Gateway ns/name"); `secret` is how the
/// sentence names the Secret ("this secret", "secret ns/name"). Bounded: past
/// [`hosts::MAX_SANS_PER_CERT`] or [`hosts::MAX_HOSTS_PER_REFERENCE`] it says so instead.
fn coverage_issues(
    summary: &CredentialSummary,
    r: &CredentialRef,
    who: &str,
    secret: &str,
) -> Vec<Issue> {
    let mut out = server_usage_issues(summary, r, who, secret);
    out.extend(host_issues(summary, r, who, secret));
    out
}

/// A served certificate must allow server authentication when it restricts its usage
/// (RFC 5280 §4.2.1.12). Warn, not deny: a client that does not check usage still connects.
fn server_usage_issues(
    summary: &CredentialSummary,
    r: &CredentialRef,
    who: &str,
    secret: &str,
) -> Vec<Issue> {
    match summary.leaf() {
        Some(leaf) if !r.client && leaf.eku_lacks_server_auth => vec![Issue::new(
            Code::ServerAuthMissing,
            summary.cert_path(),
            format!(
                "the certificate in {secret}{who} lacks serverAuth in its extendedKeyUsage, so browsers, Go, OpenSSL and rustls refuse it; reissue it with extendedKeyUsage=serverAuth"
            ),
        )],
        _ => Vec::new(),
    }
}

/// The hosts `r` serves that the certificate does not cover.
fn host_issues(
    summary: &CredentialSummary,
    r: &CredentialRef,
    who: &str,
    secret: &str,
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
    let path = summary.cert_path();
    let names = leaf.host_names();
    let ips = leaf.ip_addresses();
    let sans = names.len() + ips.len();
    if sans > hosts::MAX_SANS_PER_CERT || r.hosts.len() > hosts::MAX_HOSTS_PER_REFERENCE {
        return vec![Issue::new(
            Code::LimitExceeded,
            path,
            format!(
                "host coverage of {secret}{who} was not checked: it has {} for {}, above the limits of {} per certificate and {} per server",
                analysis::validity::count(sans, "name"),
                analysis::validity::count(r.hosts.len(), "host"),
                analysis::validity::grouped(hosts::MAX_SANS_PER_CERT),
                analysis::validity::grouped(hosts::MAX_HOSTS_PER_REFERENCE),
            ),
        )];
    }
    let index = hosts::NameIndex::new(names.iter().copied(), &ips);
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
        p.extend(ips.iter().map(|ip| format!("IP {ip}")));
        if p.is_empty() {
            "no DNS names".to_string()
        } else {
            // Two names: the fix after them names the host to add.
            hosts::list_first(&p, 2)
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
        let mut i = Issue::new(
            Code::HostNotCovered,
            path.clone(),
            format!(
                "{secret} covers {}, not {}{who}; reissue it with {}",
                presents(),
                hosts::list_some(&uncovered),
                fix(&uncovered[0])
            ),
        );
        // A Subdomain Route serves spec.host and its siblings (`*.parent`): clients of
        // spec.host still verify when only the wildcard is uncovered.
        if r.via == Via::Route && uncovered.len() < r.hosts.len() {
            i.severity = Severity::Warn;
            i.message
                .push_str(" (spec.host itself is covered: only its sibling subdomains fail)");
        }
        out.push(i);
    }
    if !dns_only_ips.is_empty() {
        out.push(Issue::new(
            Code::HostNotCovered,
            path.clone(),
            format!(
                "{secret} has {} only as a DNS SAN{who}; clients match an IP host against IP SANs only, so reissue it with {}",
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
                    "{secret} covers {} only through {}, a wildcard on a public suffix that browsers refuse{who}; reissue it with {}",
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
        Found::Yes(s) => s.summary.has_ca,
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

/// Who reads the CA bundle of a ConfigMap the index keeps, as the audit's USED BY says it: the
/// objects whose `caCertificateRefs` name it, or by name Linkerd's proxies
/// (`linkerd-identity-trust-roots`) and a namespace's sidecars (`istio-ca-root-cert`). Empty
/// when nothing tlsgate knows of reads it (a `kube-root-ca.crt`): the audit and the x509
/// metrics list only ConfigMaps with readers.
pub fn config_map_readers(lookup: &dyn Lookup, cm: &StoredConfigMap) -> Vec<String> {
    match cm.ca_key {
        analysis::LINKERD_TRUST_ROOTS_KEY => {
            return vec!["Linkerd proxies: trust anchors for every identity, and the issuer in linkerd-identity-issuer".into()]
        }
        analysis::ROOT_CERT_KEY => {
            return vec![format!(
                "sidecars in namespace {} (trust anchor)",
                cm.namespace
            )]
        }
        _ => {}
    }
    config_map_referrers(lookup, &cm.namespace, &cm.name)
        .into_iter()
        .map(|r| {
            format!(
                "{} {} ({})",
                r.object.kind,
                qualified(&r.object),
                r.reference.path
            )
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
    let (found, not_synced) = resolve_secret(r, &namespaces, ctx);
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
    if r.via == Via::Route && summary.secret_type() != ROUTE_SECRET_TYPE {
        out.push(Issue::new(
            Code::SecretMalformed,
            r.path.clone(),
            format!(
                "{src} is of type {}, but the router serves externalCertificate only from {ROUTE_SECRET_TYPE} secrets; recreate it with kubectl create secret tls",
                summary.secret_type()
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
        with_expiry_fix(&mut out, ISSUER_CANNOT_SIGN);
        for mut i in issuer_ca_issues(summary, &src, "") {
            i.path = r.path.clone();
            out.push(i);
        }
    }
    if r.needs_ca && !summary.has_ca && !companion_ca_exists(&secret.namespace, &secret.name, ctx) {
        let message = if r.gateway_api_ref.is_some() {
            format!(
                "client certificates are verified against caCertificateRefs but {src} has no ca.crt; add the client CA as ca.crt"
            )
        } else if r.client {
            format!(
                "{src} has no ca.crt, cacert or {} secret to verify the server with (insecureSkipVerify is not set); add the server's CA as ca.crt",
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
    let own = summary.leaf().map(|l| l.key_algorithm());
    soften_for_alternative(r, own.as_ref(), &mut out, ctx);
    out
}

/// The Secret a reference resolves to: the first of `namespaces` holding it, and whether a
/// namespace could not be answered yet (the view is loading).
fn resolve_secret(
    r: &CredentialRef,
    namespaces: &[String],
    ctx: &Ctx<'_>,
) -> (Option<Arc<StoredSecret>>, bool) {
    let mut not_synced = false;
    for ns in namespaces {
        match ctx.lookup.secret(ns, &r.name) {
            Found::Yes(s) => return (Some(s), not_synced),
            Found::NotSyncedYet => not_synced = true,
            Found::Missing => {}
        }
    }
    (None, not_synced)
}

/// Whether two keys are of one type as TLS negotiates it (RSA, ECDSA, Ed25519): a server
/// holds one certificate per type, and a client that accepts one type gets that certificate.
fn same_key_type(a: &KeyAlgorithm, b: &KeyAlgorithm) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// The key type a client must accept to be served `alg` ("RSA", "ECDSA").
fn key_type_name(alg: &KeyAlgorithm) -> String {
    match alg {
        KeyAlgorithm::Rsa { .. } => "RSA".into(),
        KeyAlgorithm::Ec { .. } => "ECDSA".into(),
        other => other.to_string(),
    }
}

/// Another Secret of the same Istio server's `credentialNames` that serves `r`'s hosts with no
/// denial of its own and holds a key of another type than `own` (the broken one's, when it
/// has a certificate): clients that accept that type get it, so `r` breaking is not an outage.
/// Said by its name: the alternatives are read from the same namespace.
fn healthy_alternative(
    r: &CredentialRef,
    own: Option<&KeyAlgorithm>,
    ctx: &Ctx<'_>,
) -> Option<(String, KeyAlgorithm)> {
    for alt in &r.alternatives {
        let sibling = CredentialRef {
            name: alt.clone(),
            alternatives: Vec::new(),
            ..r.clone()
        };
        let namespaces = resolve_namespaces(&sibling.scope, ctx);
        let Some(secret) = resolve_secret(&sibling, &namespaces, ctx).0 else {
            continue;
        };
        let summary = &secret.summary;
        let Some(leaf) = summary.leaf() else { continue };
        if own.is_some_and(|a| same_key_type(a, &leaf.key_algorithm())) {
            continue;
        }
        let denied = summary
            .issues
            .iter()
            .chain(&analysis::validity_issues(
                summary,
                ctx.now,
                ctx.policy.expiry_warning_days,
            ))
            .chain(&coverage_issues(summary, &sibling, "", alt))
            .any(|i| i.severity == Severity::Deny);
        if !denied {
            return Some((secret.name.to_string(), leaf.key_algorithm()));
        }
    }
    None
}

/// With a healthy alternative ([`healthy_alternative`]) a client that accepts its key type still
/// connects, so `r`'s denials become warnings that say which clients fail (a false denial is
/// the worst outcome; clients that only accept the broken one's type do fail).
fn soften_for_alternative(
    r: &CredentialRef,
    own: Option<&KeyAlgorithm>,
    issues: &mut [Issue],
    ctx: &Ctx<'_>,
) {
    if r.alternatives.is_empty()
        || !issues
            .iter()
            .any(|i| i.severity == Severity::Deny && i.code != Code::CaMissing)
    {
        return;
    }
    let Some((alt, alg)) = healthy_alternative(r, own, ctx) else {
        return;
    };
    // The client CA of a MUTUAL server is read from the first credential for both key types.
    for i in issues
        .iter_mut()
        .filter(|i| i.severity == Severity::Deny && i.code != Code::CaMissing)
    {
        i.severity = Severity::Warn;
        // First, so the API server's 256-character cut keeps it.
        i.message = format!(
            "{alt} still serves {} clients: {}",
            key_type_name(&alg),
            i.message
        );
    }
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
    let Some(bundle) = cm.ca_crt() else {
        return vec![Issue::new(
            Code::CaMissing,
            analysis::data_path(key),
            format!(
                "has no {key} (keys: {}); put the CA bundle there",
                if cm.keys.is_empty() {
                    "none".to_string()
                } else {
                    hosts::list_some(&cm.keys)
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
        (Via::Route, _) => "the router reads a Route's externalCertificate from the Route's namespace",
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
        let creds = refs::istio_server_credentials(i, tls);
        let Some((path, _)) = creds.first() else {
            continue;
        };
        let path = path.clone();
        let cred = creds.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ");
        let field = if tls.credential_names.is_empty() {
            "credentialName"
        } else {
            "credentialNames"
        };
        match istio_mode(tls.mode.as_deref()) {
            "ISTIO_MUTUAL" => out.push(Issue::new(
                Code::IstioMutualWithCredential,
                path,
                format!("tls.mode ISTIO_MUTUAL uses the mesh's own certificates and must not set {field} ({cred}); use MUTUAL to serve {cred}"),
            )),
            m @ ("PASSTHROUGH" | "AUTO_PASSTHROUGH") => {
                let unset = if tls.mode.is_none() { " (tls.mode is unset, which means PASSTHROUGH)" } else { "" };
                out.push(Issue::new(
                    Code::TlsModeIgnoresCredential,
                    path,
                    format!("tls.mode {m}{unset} forwards TLS untouched, so {field} {cred} is ignored; set mode: SIMPLE to terminate TLS with it"),
                ));
            }
            _ => out.extend(credential_names_conflicts(i, tls, obj, ctx)),
        }
    }
    out.extend(check_references(obj, ctx));
    out
}

/// Istio serves `credentialNames` as alternatives for key types, at most two (istio/api's CEL
/// rule; one RSA and one ECDSA certificate), and ignores `credentialName` beside them. Each
/// way a server departs from that warns: traffic still flows on the credential istiod picks.
fn credential_names_conflicts(
    i: usize,
    tls: &crate::model::IstioServerTls,
    obj: &Object,
    ctx: &Ctx<'_>,
) -> Vec<Issue> {
    let mut out = Vec::new();
    if tls.credential_names.is_empty() {
        return out;
    }
    if let Some(single) = tls.credential_name.as_deref().filter(|n| !n.is_empty()) {
        out.push(Issue::new(
            Code::CredentialNamesConflict,
            format!("spec.servers[{i}].tls.credentialName"),
            format!("credentialName {single} is ignored because credentialNames is set (istiod serves only those; Istio 1.26+ rejects both); remove credentialName or add it to credentialNames"),
        ));
    }
    let n = tls.credential_names.len();
    if n > 2 {
        out.push(Issue::new(
            Code::CredentialNamesConflict,
            format!("spec.servers[{i}].tls.credentialNames[2]"),
            format!("credentialNames has {n} entries but Istio serves at most 2 (one RSA and one ECDSA certificate); remove the extra ones"),
        ));
    }
    let mut seen: Vec<(String, String, KeyAlgorithm)> = Vec::new();
    for r in refs::credential_refs(obj).into_iter().filter(|r| {
        r.path
            .starts_with(&format!("spec.servers[{i}].tls.credentialNames["))
    }) {
        let namespaces = resolve_namespaces(&r.scope, ctx);
        let Some(secret) = resolve_secret(&r, &namespaces, ctx).0 else {
            continue;
        };
        let Some(leaf) = secret.summary.leaf() else {
            continue;
        };
        let alg = leaf.key_algorithm();
        if let Some((first_path, first_name, _)) =
            seen.iter().find(|(_, _, a)| same_key_type(a, &alg))
        {
            let field = |p: &str| p.rsplit('.').next().unwrap_or_default().to_string();
            out.push(Issue::new(
                Code::CredentialNamesConflict,
                r.path.clone(),
                format!(
                    "{} (secret {first_name}) and {} (secret {}) both hold {} certificates: not alternatives, as Envoy serves one per key type; make one of them {}",
                    field(first_path),
                    field(&r.path),
                    r.name,
                    key_type_name(&alg),
                    if matches!(alg, KeyAlgorithm::Rsa { .. }) { "ECDSA" } else { "RSA" },
                ),
            ));
        } else {
            seen.push((r.path.clone(), r.name.clone(), alg));
        }
    }
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
    let path = summary.cert_path();
    vec![Issue::new(
        Code::ClientAuthMissing,
        path,
        format!(
            "client certificate in {src}{who} lacks clientAuth, so servers that check extendedKeyUsage refuse it; reissue it with extendedKeyUsage=clientAuth"
        ),
    )]
}

/// An expired certificate's fix ("renew it") said as what its holder must do, `fix` starting
/// with "; ".
fn with_expiry_fix(issues: &mut [Issue], fix: &str) {
    for i in issues.iter_mut().filter(|i| i.code == Code::CertExpired) {
        if let Some(stated) = i.message.strip_suffix(analysis::validity::RENEW_IT) {
            i.message.truncate(stated.len());
        }
        i.message.push_str(fix);
    }
}

/// Said of an expired CA that a cert-manager issuer signs with.
const ISSUER_CANNOT_SIGN: &str =
    "; renew it: until then the issuer signs nothing that clients accept";

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
    let path = summary.cert_path();
    vec![Issue::new(
        Code::CaNotCa,
        path,
        format!(
            "certificate in {src}{who} ({}) is not a CA (no CA:TRUE), so all it signs fails verification; put a CA and its key in tls.crt and tls.key",
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
    let Some((cluster, issuer_name)) = c.issuer() else {
        return Vec::new();
    };
    let Found::Yes(issuer) = ctx.lookup.issuer(cluster, ns, issuer_name) else {
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
    let Some((written, past)) = leaf_outlives(c, leaf.not_after, ctx.now) else {
        return Vec::new();
    };
    let who = if cluster {
        format!("ClusterIssuer {issuer_name}")
    } else {
        format!("Issuer {ns}/{issuer_name}")
    };
    vec![Issue::new(
        Code::LeafOutlivesIssuer,
        if c.spec.duration.is_some() { "spec.duration" } else { "spec.issuerRef" },
        format!(
            "the leaf's duration {written} outlives the CA of {who} by {} (secret {secret_ns}/{}, notAfter {}); renew the CA or shorten spec.duration",
            analysis::validity::human_duration(past),
            ca.secret_name,
            analysis::validity::rfc3339(leaf.not_after)
        ),
    )]
}

/// How far past a CA's `ca_not_after` a leaf issued for `c` at `now` would run: its duration as
/// written and the seconds past; `None` when it ends in time, when the duration is not a Go
/// duration, or when the CA already expired (the issuer reports that).
fn leaf_outlives(
    c: &crate::model::Certificate,
    ca_not_after: i64,
    now: i64,
) -> Option<(&str, i64)> {
    if analysis::validity::is_expired_at(ca_not_after, now) {
        return None;
    }
    let written = c
        .spec
        .duration
        .as_deref()
        .unwrap_or(CERTIFICATE_DEFAULT_DURATION);
    let past = now.saturating_add(go_duration_seconds(written)?) - ca_not_after;
    (past > 0).then_some((written, past))
}

/// When the CA Secret of a cert-manager issuer is replaced: the Certificates it issues whose
/// leaves would outlive the new CA, in one warning on the Secret (the first few named, the rest
/// counted) — `leaf-outlives-issuer` on each Certificate says it again when it is next written.
fn outliving_certificates(
    summary: &CredentialSummary,
    issuer: &ObjectRef,
    ctx: &Ctx<'_>,
) -> Vec<Issue> {
    let Some(leaf) = summary.server.as_ref().and_then(|_| summary.leaf()) else {
        return Vec::new();
    };
    let cluster = issuer.kind == kinds::CLUSTER_ISSUER.kind;
    let certificates = ctx.lookup.certificates_issued_by(
        cluster,
        issuer.namespace.as_deref().unwrap_or_default(),
        &issuer.name,
    );
    let mut named = Vec::new();
    let mut longest = 0;
    for c in &certificates {
        if let Some((_, past)) = leaf_outlives(c, leaf.not_after, ctx.now) {
            named.push(format!(
                "{}/{}",
                c.metadata
                    .namespace
                    .as_deref()
                    .unwrap_or(crate::model::DEFAULT_NAMESPACE),
                c.metadata.name
            ));
            longest = longest.max(past);
        }
    }
    if named.is_empty() {
        return Vec::new();
    }
    let path = summary.cert_path();
    vec![Issue::new(
        Code::LeafOutlivesIssuer,
        path,
        format!(
            "{} of {} {} {} this CA (notAfter {}) by up to {}: {}; renew the CA or shorten spec.duration",
            analysis::validity::count(named.len(), "Certificate"),
            issuer.kind,
            qualified(issuer),
            if named.len() == 1 { "outlives" } else { "outlive" },
            analysis::validity::rfc3339(leaf.not_after),
            analysis::validity::human_duration(longest),
            hosts::list_some(&named),
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
            Found::Yes(s) => s.summary.mesh_root().cloned(),
            _ => None,
        }
    })
}

/// Hex digits of a SHA-256 fingerprint a message shows: enough to tell two roots apart.
const FINGERPRINT_SHOWN: usize = 12;

/// istio.io/key-and-cert secrets whose root-cert.pem is not the current mesh root (the
/// root-transition seed's `verify-certs` step).
fn mesh_root_issues(summary: &CredentialSummary, ctx: &Ctx<'_>) -> Vec<Issue> {
    if summary.secret_type() != "istio.io/key-and-cert" {
        return Vec::new();
    }
    let Some(theirs) = summary.mesh_root() else {
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
            "root-cert.pem ({}, sha256 {}…) is not the current mesh root ({}, sha256 {}…), so its workloads fail mTLS after the transition; delete it so Citadel rewrites it",
            theirs.display_name(),
            &theirs.fingerprint_hex()[..FINGERPRINT_SHOWN],
            root.display_name(),
            &root.fingerprint_hex()[..FINGERPRINT_SHOWN]
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
        summary.linkerd_issuer_der(),
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
            "{cert_key} ({}) is not signed by {} in {}, so proxies reject what it issues; sign it with a trust anchor or add its CA there",
            leaf.display_name(),
            match roots.anchors_der.len() {
                1 => "the anchor".to_string(),
                n => format!("any of the {n} anchors"),
            },
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
        issuer.summary.linkerd_issuer_der(),
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
                    &root.fingerprint_hex()[..FINGERPRINT_SHOWN]
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
            "this secret is still used by {}, which stop serving TLS without it; point them at another secret first",
            hosts::list_first(&users, 1)
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

/// The only Secret type the OpenShift router serves a Route's `externalCertificate` from.
const ROUTE_SECRET_TYPE: &str = "kubernetes.io/tls";

/// An OpenShift Route's `spec.tls`: termination consistency, the inline certificate, key and
/// CAs as the router reads them, and `externalCertificate` (through [`check_references`]).
/// Where the Route API itself rejects a combination (passthrough with certificates, edge with
/// destinationCACertificate), this only warns: the API server's denial is its own.
fn check_route(route: &crate::model::Route, obj: &Object, ctx: &Ctx<'_>) -> Vec<Issue> {
    use analysis::inline::{self as f, inline_pem};
    let Some(tls) = &route.spec.tls else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let termination = tls.termination.as_deref().unwrap_or_default();
    let pems = f::RoutePems {
        certificate: inline_pem(&tls.certificate),
        key: inline_pem(&tls.key),
        ca_certificate: inline_pem(&tls.ca_certificate),
        destination_ca: inline_pem(&tls.destination_ca_certificate),
    };
    let external = tls
        .external_certificate
        .as_ref()
        .is_some_and(|r| !r.name.is_empty());
    if termination == "passthrough" {
        let ignored = [
            (f::ROUTE_CERTIFICATE, pems.certificate.is_some()),
            (f::ROUTE_KEY, pems.key.is_some()),
            (f::ROUTE_CA_CERTIFICATE, pems.ca_certificate.is_some()),
            (f::ROUTE_DESTINATION_CA, pems.destination_ca.is_some()),
            ("spec.tls.externalCertificate", external),
        ];
        for (field, _) in ignored.iter().filter(|(_, set)| *set) {
            out.push(Issue::new(
                Code::TlsModeIgnoresCredential,
                *field,
                format!("termination passthrough forwards TLS to the pod untouched, so the router ignores {field}; serve the certificate from the pod, or use termination edge or reencrypt"),
            ));
        }
        return out;
    }
    if !refs::route_terminates(Some(termination)) {
        return out;
    }
    if termination == "edge" && pems.destination_ca.is_some() {
        out.push(Issue::new(
            Code::TlsModeIgnoresCredential,
            f::ROUTE_DESTINATION_CA,
            format!("termination edge sends plain HTTP to the pod, so the router ignores {}; use termination reencrypt to verify the pod with it", f::ROUTE_DESTINATION_CA),
        ));
    }
    if pems.certificate.is_some() && external {
        // The Route API (OpenShift 4.16+) refuses this itself; lint still says so.
        out.push(
            Issue::new(
                Code::SecretMalformed,
                "spec.tls.externalCertificate",
                format!("{} and spec.tls.externalCertificate are both set, which the Route API rejects; keep one of them", f::ROUTE_CERTIFICATE),
            )
            .with_severity(Severity::Warn),
        );
    }
    match (pems.certificate.is_some(), pems.key.is_some(), external) {
        (false, false, false) => out.push(Issue::new(
            Code::RouteDefaultCertificate,
            "spec.tls",
            format!("termination {termination} with no certificate of its own: the router serves its default certificate (the IngressController's defaultCertificate); set spec.tls.certificate and spec.tls.key, or spec.tls.externalCertificate, to serve your own"),
        )),
        (true, false, false) => out.push(Issue::new(
            Code::SecretMalformed,
            f::ROUTE_KEY,
            format!("{} is set but {} is empty, so the router cannot load the pair and rejects the Route; add the certificate's private key", f::ROUTE_CERTIFICATE, f::ROUTE_KEY),
        )),
        (false, true, false) => out.push(
            Issue::new(
                Code::SecretMalformed,
                f::ROUTE_CERTIFICATE,
                format!("{} is set without {}, so the router ignores it and serves its default certificate; add the certificate or remove the key", f::ROUTE_KEY, f::ROUTE_CERTIFICATE),
            )
            .with_severity(Severity::Warn),
        ),
        _ => {}
    }
    let Some(pems) = refs::route_pems(tls) else {
        return out;
    };
    let summary = ctx.analyzer.route_tls(&pems);
    out.extend(route_inline_issues(&summary, route, ctx));
    out.extend(check_references(obj, ctx));
    out
}

/// The findings of a Route's inline credentials: their own issues, validity (an expired
/// `caCertificate` entry only warns: the router still serves, and clients holding a newer copy
/// of the CA still verify), and whether the certificate covers the Route's host.
fn route_inline_issues(
    summary: &CredentialSummary,
    route: &crate::model::Route,
    ctx: &Ctx<'_>,
) -> Vec<Issue> {
    use analysis::inline as f;
    let mut out = summary.issues.clone();
    for (field, bundle) in &summary.bundles {
        for (code, message) in analysis::validity::bundle_windows(
            field,
            bundle,
            ctx.now,
            ctx.policy.expiry_warning_days,
        ) {
            let mut i = Issue::new(code, *field, message);
            if *field == f::ROUTE_CA_CERTIFICATE
                && matches!(code, Code::CertExpired | Code::CertNotYetValid)
            {
                i.severity = Severity::Warn;
                i.message.push_str("; the router still serves the Route, but clients without a newer copy of this CA fail");
            }
            out.push(i);
        }
    }
    let r = CredentialRef {
        path: f::ROUTE_CERTIFICATE.into(),
        name: route.metadata.name.clone(),
        scope: Scope::Namespace(String::new()),
        hosts: refs::route_hosts(route),
        needs_ca: false,
        needs_pair: true,
        client: false,
        target: Target::Secret,
        via: Via::Route,
        gateway_api_ref: None,
        alternatives: Vec::new(),
    };
    for mut i in coverage_issues(summary, &r, "", f::ROUTE_CERTIFICATE) {
        i.path = f::ROUTE_CERTIFICATE.into();
        out.push(i);
    }
    out
}
