//! The one registry of the kinds tlsgate handles: for each, its (group, kind, versions,
//! plural, scope), what the webhook intercepts, and which doors read it. The decoder
//! ([`crate::model::Object`]), the admission dispatcher, the index, the cluster watchers, the
//! live audit and the test of `manifests/` (webhook rules and ClusterRole cover exactly these
//! kinds) all read this table; adding a kind starts with one entry here.

/// Which registry entry a decoded object is (the decoder and the index dispatch on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Id {
    Secret,
    ConfigMap,
    Pod,
    Namespace,
    Service,
    IstioGateway,
    VirtualService,
    DestinationRule,
    GatewayApiGateway,
    ListenerSet,
    XListenerSet,
    BackendTlsPolicy,
    ReferenceGrant,
    Ingress,
    Issuer,
    ClusterIssuer,
    Certificate,
    Route,
    ValidatingWebhookConfiguration,
    MutatingWebhookConfiguration,
    ApiService,
    CustomResourceDefinition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Namespaced,
    Cluster,
}

impl Scope {
    /// As a webhook rule's `scope` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Namespaced => "Namespaced",
            Scope::Cluster => "Cluster",
        }
    }
}

/// How the cluster view (`serve`) follows a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Not watched: the webhook reads it only from the request (and the audit lists it).
    No,
    /// Always served: a typed watch of whole objects (Secrets).
    Typed,
    /// Always served: a metadata-only watch (pod labels, namespace deletion).
    Metadata,
    /// Defined by a CustomResourceDefinition: watched while the CRD is Established, in the
    /// first of [`Kind::versions`] it serves.
    Crd,
    /// [`Watch::Crd`] where a CRD defines it (MicroShift, HyperShift); where none does at
    /// start, probed once, as an aggregated API may serve it (OpenShift's Routes come from
    /// openshift-apiserver through an APIService, not a CRD).
    CrdOrAggregated,
    /// Built in but optional (aggregated or disabled APIs): probed once at start.
    Probe,
}

/// The admission operations, as webhook rules and AdmissionReviews spell them.
pub const CUD: &[&str] = &["CREATE", "UPDATE", "DELETE"];
const CU: &[&str] = &["CREATE", "UPDATE"];

/// Webhook names in `manifests/base/validatingwebhookconfiguration.yaml`.
pub const SECRETS_WEBHOOK: &str = "secrets.tlsgate.io";
pub const REFS_WEBHOOK: &str = "credential-refs.tlsgate.io";
pub const CA_BUNDLES_WEBHOOK: &str = "ca-bundles.tlsgate.io";

/// One kind tlsgate handles.
#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    pub id: Id,
    /// API group; `""` is the core group.
    pub group: &'static str,
    pub kind: &'static str,
    /// Newest first: the watchers and the audit use the first one served.
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    /// `plural[.group]`, as kubectl names a resource: the label of its sync state and of logs.
    pub resource: &'static str,
    pub scope: Scope,
    /// Operations the webhook intercepts (empty: no webhook rule), and in which webhook.
    pub operations: &'static [&'static str],
    pub webhook: Option<&'static str>,
    /// `check` has rules for it: `lint` reports on it and the webhook reviews it.
    pub checked: bool,
    /// Its objects carry caBundles (read for the caBundle audit, never decoded as an Object).
    pub ca_bundles: bool,
    /// `tlsgate audit` lists it from a live cluster.
    pub audit: bool,
    pub watch: Watch,
}

impl Kind {
    /// `group/version` for a version of this kind (`v1` for the core group).
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// Whether the cluster view or the live audit reads it, so the ClusterRole must grant
    /// get/list/watch on it.
    pub fn read_from_cluster(&self) -> bool {
        self.audit || self.watch != Watch::No
    }
}

pub const SECRET: Kind = Kind {
    id: Id::Secret,
    group: "",
    kind: "Secret",
    versions: &["v1"],
    plural: "secrets",
    resource: "secrets",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(SECRETS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Typed,
};

/// `istio-ca-root-cert` (the audit lists it by name) and CA bundles (`ca.crt`) that Gateway
/// API `caCertificateRefs` name: watched (only those with `ca.crt` are kept) and reviewed, so
/// replacing one a Gateway uses is checked against it.
pub const CONFIG_MAP: Kind = Kind {
    id: Id::ConfigMap,
    group: "",
    kind: "ConfigMap",
    versions: &["v1"],
    plural: "configmaps",
    resource: "configmaps",
    scope: Scope::Namespaced,
    operations: CU,
    webhook: Some(SECRETS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Probe,
};

/// Pod labels: the namespace an Istio gateway workload runs in.
pub const POD: Kind = Kind {
    id: Id::Pod,
    group: "",
    kind: "Pod",
    versions: &["v1"],
    plural: "pods",
    resource: "pods",
    scope: Scope::Namespaced,
    operations: &[],
    webhook: None,
    checked: false,
    ca_bundles: false,
    audit: false,
    watch: Watch::Metadata,
};

/// Namespace deletion: a Secret DELETE in a terminating namespace is never blocked.
pub const NAMESPACE: Kind = Kind {
    id: Id::Namespace,
    group: "",
    kind: "Namespace",
    versions: &["v1"],
    plural: "namespaces",
    resource: "namespaces",
    scope: Scope::Cluster,
    operations: &[],
    webhook: None,
    checked: false,
    ca_bundles: false,
    audit: false,
    watch: Watch::Metadata,
};

/// Service names (metadata only): whether a BackendTLSPolicy's `targetRefs` exist.
pub const SERVICE: Kind = Kind {
    id: Id::Service,
    group: "",
    kind: "Service",
    versions: &["v1"],
    plural: "services",
    resource: "services",
    scope: Scope::Namespaced,
    operations: &[],
    webhook: None,
    checked: false,
    ca_bundles: false,
    audit: false,
    watch: Watch::Metadata,
};

const ISTIO_VERSIONS: &[&str] = &["v1", "v1beta1", "v1alpha3"];
const GATEWAY_API_VERSIONS: &[&str] = &["v1", "v1beta1"];

pub const ISTIO_GATEWAY: Kind = Kind {
    id: Id::IstioGateway,
    group: "networking.istio.io",
    kind: "Gateway",
    versions: ISTIO_VERSIONS,
    plural: "gateways",
    resource: "gateways.networking.istio.io",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

/// Read only from requests and the audit: its checks resolve the Gateways it names.
pub const VIRTUAL_SERVICE: Kind = Kind {
    id: Id::VirtualService,
    group: "networking.istio.io",
    kind: "VirtualService",
    versions: ISTIO_VERSIONS,
    plural: "virtualservices",
    resource: "virtualservices.networking.istio.io",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::No,
};

/// Client TLS (`credentialName`) of sidecars and egress gateways; watched for the reverse
/// index (a Secret replaced under a DestinationRule is checked against it).
pub const DESTINATION_RULE: Kind = Kind {
    id: Id::DestinationRule,
    group: "networking.istio.io",
    kind: "DestinationRule",
    versions: ISTIO_VERSIONS,
    plural: "destinationrules",
    resource: "destinationrules.networking.istio.io",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

pub const GATEWAY_API_GATEWAY: Kind = Kind {
    id: Id::GatewayApiGateway,
    group: "gateway.networking.k8s.io",
    kind: "Gateway",
    versions: GATEWAY_API_VERSIONS,
    plural: "gateways",
    resource: "gateways.gateway.networking.k8s.io",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

/// Listeners attached to a Gateway (standard group, Gateway API v1.5+).
pub const LISTENER_SET: Kind = Kind {
    id: Id::ListenerSet,
    group: "gateway.networking.k8s.io",
    kind: "ListenerSet",
    versions: &["v1"],
    plural: "listenersets",
    resource: "listenersets.gateway.networking.k8s.io",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

/// The experimental channel's ListenerSet (Gateway API v1.3-v1.4).
pub const X_LISTENER_SET: Kind = Kind {
    id: Id::XListenerSet,
    group: "gateway.networking.x-k8s.io",
    kind: "XListenerSet",
    versions: &["v1alpha1"],
    plural: "xlistenersets",
    resource: "xlistenersets.gateway.networking.x-k8s.io",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

/// How Gateways verify a backend Service's certificate (`validation.caCertificateRefs`).
pub const BACKEND_TLS_POLICY: Kind = Kind {
    id: Id::BackendTlsPolicy,
    group: "gateway.networking.k8s.io",
    kind: "BackendTLSPolicy",
    versions: &["v1", "v1alpha3"],
    plural: "backendtlspolicies",
    resource: "backendtlspolicies.gateway.networking.k8s.io",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

/// Read for the cross-namespace checks of Gateways; not reviewed itself.
pub const REFERENCE_GRANT: Kind = Kind {
    id: Id::ReferenceGrant,
    group: "gateway.networking.k8s.io",
    kind: "ReferenceGrant",
    versions: GATEWAY_API_VERSIONS,
    plural: "referencegrants",
    resource: "referencegrants.gateway.networking.k8s.io",
    scope: Scope::Namespaced,
    operations: &[],
    webhook: None,
    checked: false,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

pub const INGRESS: Kind = Kind {
    id: Id::Ingress,
    group: "networking.k8s.io",
    kind: "Ingress",
    versions: &["v1"],
    plural: "ingresses",
    resource: "ingresses.networking.k8s.io",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Probe,
};

const CERT_MANAGER_VERSIONS: &[&str] = &["v1"];

/// cert-manager CA issuers (`spec.ca.secretName`): watched for the reverse index (a Secret
/// replaced under an Issuer is checked against it).
pub const ISSUER: Kind = Kind {
    id: Id::Issuer,
    group: "cert-manager.io",
    kind: "Issuer",
    versions: CERT_MANAGER_VERSIONS,
    plural: "issuers",
    resource: "issuers.cert-manager.io",
    scope: Scope::Namespaced,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

/// Its CA Secret is read from the cluster resource namespace
/// ([`crate::policy::Policy::cluster_resource_namespace`]).
pub const CLUSTER_ISSUER: Kind = Kind {
    id: Id::ClusterIssuer,
    group: "cert-manager.io",
    kind: "ClusterIssuer",
    versions: CERT_MANAGER_VERSIONS,
    plural: "clusterissuers",
    resource: "clusterissuers.cert-manager.io",
    scope: Scope::Cluster,
    operations: CUD,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

/// Checked against the CA of the issuer it names (`leaf-outlives-issuer`); watched so that
/// replacing an issuer's CA Secret names the Certificates whose leaves would outlive the new CA.
pub const CERTIFICATE: Kind = Kind {
    id: Id::Certificate,
    group: "cert-manager.io",
    kind: "Certificate",
    versions: CERT_MANAGER_VERSIONS,
    plural: "certificates",
    resource: "certificates.cert-manager.io",
    scope: Scope::Namespaced,
    operations: CU,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::Crd,
};

/// OpenShift `Route`: inline PEM in `spec.tls` (certificate, key, caCertificate,
/// destinationCACertificate) and, on OpenShift 4.16+, `spec.tls.externalCertificate` naming a
/// `kubernetes.io/tls` Secret in its namespace; watched for the reverse index (a Secret replaced
/// under a Route is checked against it) and for the x509 metrics of its inline certificates.
/// A CRD on MicroShift and HyperShift, an aggregated API on OpenShift itself.
pub const ROUTE: Kind = Kind {
    id: Id::Route,
    group: "route.openshift.io",
    kind: "Route",
    versions: &["v1"],
    plural: "routes",
    resource: "routes.route.openshift.io",
    scope: Scope::Namespaced,
    operations: CU,
    webhook: Some(REFS_WEBHOOK),
    checked: true,
    ca_bundles: false,
    audit: true,
    watch: Watch::CrdOrAggregated,
};

/// The API server never sends webhook configurations to webhooks (so a broken webhook can
/// always be removed): no rule; read from the watch for the x509 metrics and the audit.
pub const VALIDATING_WEBHOOK_CONFIGURATION: Kind = Kind {
    id: Id::ValidatingWebhookConfiguration,
    group: "admissionregistration.k8s.io",
    kind: "ValidatingWebhookConfiguration",
    versions: &["v1"],
    plural: "validatingwebhookconfigurations",
    resource: "validatingwebhookconfigurations.admissionregistration.k8s.io",
    scope: Scope::Cluster,
    operations: &[],
    webhook: None,
    checked: false,
    ca_bundles: true,
    audit: true,
    watch: Watch::Probe,
};

pub const MUTATING_WEBHOOK_CONFIGURATION: Kind = Kind {
    id: Id::MutatingWebhookConfiguration,
    group: "admissionregistration.k8s.io",
    kind: "MutatingWebhookConfiguration",
    versions: &["v1"],
    plural: "mutatingwebhookconfigurations",
    resource: "mutatingwebhookconfigurations.admissionregistration.k8s.io",
    scope: Scope::Cluster,
    operations: &[],
    webhook: None,
    checked: false,
    ca_bundles: true,
    audit: true,
    watch: Watch::Probe,
};

pub const API_SERVICE: Kind = Kind {
    id: Id::ApiService,
    group: "apiregistration.k8s.io",
    kind: "APIService",
    versions: &["v1"],
    plural: "apiservices",
    resource: "apiservices.apiregistration.k8s.io",
    scope: Scope::Cluster,
    operations: CU,
    webhook: Some(CA_BUNDLES_WEBHOOK),
    checked: false,
    ca_bundles: true,
    audit: true,
    watch: Watch::Probe,
};

/// Also the watch that tells the [`Watch::Crd`] (and [`Watch::CrdOrAggregated`]) kinds when
/// their CRD is Established.
pub const CUSTOM_RESOURCE_DEFINITION: Kind = Kind {
    id: Id::CustomResourceDefinition,
    group: "apiextensions.k8s.io",
    kind: "CustomResourceDefinition",
    versions: &["v1"],
    plural: "customresourcedefinitions",
    resource: "customresourcedefinitions.apiextensions.k8s.io",
    scope: Scope::Cluster,
    operations: CU,
    webhook: Some(CA_BUNDLES_WEBHOOK),
    checked: false,
    ca_bundles: true,
    audit: true,
    watch: Watch::Probe,
};

/// Every kind, in the order the audit lists them and the watchers start.
pub const ALL: [&Kind; 22] = [
    &SECRET,
    &CONFIG_MAP,
    &POD,
    &NAMESPACE,
    &SERVICE,
    &ISTIO_GATEWAY,
    &VIRTUAL_SERVICE,
    &DESTINATION_RULE,
    &GATEWAY_API_GATEWAY,
    &LISTENER_SET,
    &X_LISTENER_SET,
    &BACKEND_TLS_POLICY,
    &REFERENCE_GRANT,
    &INGRESS,
    &ISSUER,
    &CLUSTER_ISSUER,
    &CERTIFICATE,
    &ROUTE,
    &VALIDATING_WEBHOOK_CONFIGURATION,
    &MUTATING_WEBHOOK_CONFIGURATION,
    &API_SERVICE,
    &CUSTOM_RESOURCE_DEFINITION,
];

/// The entry for (group, kind), `None` for kinds tlsgate has no rules for.
pub fn find(group: &str, kind: &str) -> Option<&'static Kind> {
    ALL.iter()
        .copied()
        .find(|k| k.group == group && k.kind == kind)
}

/// The entry for an `apiVersion` (`networking.istio.io/v1`, `v1`) and kind.
pub fn find_api_version(api_version: &str, kind: &str) -> Option<&'static Kind> {
    find(group_of(api_version), kind)
}

/// The group of an `apiVersion`: `""` for the core group's `v1`.
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// The entry of an [`Id`].
pub fn get(id: Id) -> &'static Kind {
    ALL.iter()
        .copied()
        .find(|k| k.id == id)
        .expect("every Id has a registry entry (tested)")
}

/// Kinds whose objects carry caBundles (all cluster-scoped).
pub fn carries_ca_bundle(group: &str, kind: &str) -> bool {
    find(group, kind).is_some_and(|k| k.ca_bundles)
}

/// Kinds the webhook has rules for when a review arrives: the checked kinds and the caBundle
/// holders. Reviews dispatch on it and the metrics' `kind` label takes only these values.
pub fn is_reviewed(group: &str, kind: &str) -> bool {
    find(group, kind).is_some_and(|k| k.checked || k.ca_bundles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_and_kind_is_registered_once() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert!(
                    (a.group, a.kind) != (b.group, b.kind),
                    "{} {} twice",
                    a.group,
                    a.kind
                );
                assert_ne!(a.id, b.id, "{:?} twice", a.id);
            }
        }
    }

    #[test]
    fn every_id_has_its_entry() {
        for k in ALL {
            assert_eq!(get(k.id), k);
        }
    }

    #[test]
    fn resource_is_plural_dot_group() {
        for k in ALL {
            let want = if k.group.is_empty() {
                k.plural.to_string()
            } else {
                format!("{}.{}", k.plural, k.group)
            };
            assert_eq!(k.resource, want, "{}", k.kind);
        }
    }

    #[test]
    fn a_kind_with_operations_names_its_webhook_and_back() {
        for k in ALL {
            assert_eq!(
                k.operations.is_empty(),
                k.webhook.is_none(),
                "{} {}",
                k.group,
                k.kind
            );
        }
    }

    #[test]
    fn ca_bundle_holders_are_cluster_scoped_and_not_decoded() {
        for k in ALL.iter().filter(|k| k.ca_bundles) {
            assert_eq!(k.scope, Scope::Cluster, "{}", k.kind);
            assert!(!k.checked, "{}", k.kind);
        }
    }

    #[test]
    fn the_same_kind_name_in_two_groups_is_two_entries() {
        assert_eq!(
            find("networking.istio.io", "Gateway").map(|k| k.id),
            Some(Id::IstioGateway)
        );
        assert_eq!(
            find_api_version("gateway.networking.k8s.io/v1", "Gateway").map(|k| k.id),
            Some(Id::GatewayApiGateway)
        );
        assert_eq!(find("", "Gateway"), None);
    }
}
