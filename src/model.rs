//! Typed views of the Kubernetes objects tlsgate understands, decoded from JSON/YAML values.
//! Only the fields the checks read are modelled; everything else is ignored, so the same
//! types read v1alpha3, v1beta1 and v1 Istio objects and v1/v1beta1 Gateway API objects.

use crate::analysis::SecretData;
use crate::finding::ObjectRef;
use crate::kinds::{self, Id};
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Meta {
    pub name: String,
    pub namespace: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub deletion_timestamp: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Secret {
    pub meta: Meta,
    pub secret_type: String,
    /// `data` (base64, decoded when first read; see [`SecretData`]) and `stringData`.
    pub data: SecretData,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ConfigMap {
    pub metadata: Meta,
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IstioGatewaySpec {
    /// Shared with every credential reference made from this Gateway
    /// ([`crate::refs::Scope::IstioWorkload`]): a map's first node is 544 bytes for one label.
    pub selector: std::sync::Arc<BTreeMap<String, String>>,
    pub servers: Vec<IstioServer>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IstioServer {
    pub hosts: Vec<String>,
    pub port: Option<IstioPort>,
    pub tls: Option<IstioServerTls>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IstioPort {
    pub number: Option<u32>,
    pub name: Option<String>,
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IstioServerTls {
    pub mode: Option<String>,
    pub credential_name: Option<String>,
    /// Istio 1.26+: up to two credentials for one server (an RSA and an ECDSA certificate for
    /// the same hosts); set, it is what istiod serves and `credentialName` is ignored.
    pub credential_names: Vec<String>,
    pub server_certificate: Option<String>,
    pub ca_certificates: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IstioGateway {
    pub metadata: Meta,
    pub spec: IstioGatewaySpec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct VirtualServiceSpec {
    pub hosts: Vec<String>,
    pub gateways: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct VirtualService {
    pub metadata: Meta,
    pub spec: VirtualServiceSpec,
}

/// Istio `DestinationRule`: how sidecars and gateways originate TLS to a host.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DestinationRule {
    pub metadata: Meta,
    pub spec: DestinationRuleSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DestinationRuleSpec {
    pub host: String,
    pub traffic_policy: Option<TrafficPolicy>,
    pub subsets: Vec<Subset>,
    /// Set: only the selected workloads (an egress gateway) apply the rule.
    pub workload_selector: Option<WorkloadSelector>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TrafficPolicy {
    pub tls: Option<ClientTls>,
    pub port_level_settings: Vec<PortTrafficPolicy>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PortTrafficPolicy {
    pub tls: Option<ClientTls>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Subset {
    pub name: String,
    pub traffic_policy: Option<TrafficPolicy>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkloadSelector {
    pub match_labels: BTreeMap<String, String>,
}

/// Istio `ClientTLSSettings`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientTls {
    pub mode: Option<String>,
    pub credential_name: Option<String>,
    pub ca_certificates: Option<String>,
    pub insecure_skip_verify: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewaySpec {
    pub gateway_class_name: String,
    pub listeners: Vec<Listener>,
    /// Gateway API v1.4+ `spec.tls`: client validation and the backend client certificate.
    pub tls: Option<GatewayTls>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GatewayTls {
    pub backend: Option<GatewayBackendTls>,
    pub frontend: Option<FrontendTls>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GatewayBackendTls {
    pub client_certificate_ref: Option<ObjectReference>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FrontendTls {
    pub default: FrontendTlsConfig,
    pub per_port: Vec<FrontendTlsPort>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FrontendTlsConfig {
    pub validation: Option<FrontendValidation>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FrontendTlsPort {
    pub port: Option<u32>,
    pub tls: FrontendTlsConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Service {
    pub metadata: Meta,
}

/// Gateway API `BackendTLSPolicy`: how Gateways verify the certificate of the Services it targets.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct BackendTlsPolicy {
    pub metadata: Meta,
    pub spec: BackendTlsPolicySpec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BackendTlsPolicySpec {
    pub target_refs: Vec<ObjectReference>,
    pub validation: BackendTlsValidation,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BackendTlsValidation {
    /// LocalObjectReferences: always in the policy's namespace.
    pub ca_certificate_refs: Vec<ObjectReference>,
    pub hostname: String,
    #[serde(rename = "wellKnownCACertificates")]
    pub well_known_ca_certificates: Option<String>,
}

/// Gateway API `ListenerSet` (standard) or `XListenerSet` (experimental group): listeners
/// attached to a parent Gateway.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ListenerSet {
    pub metadata: Meta,
    pub spec: ListenerSetSpec,
    /// Which registry entry it was decoded as (`ListenerSet` or `XListenerSet`).
    #[serde(skip)]
    pub experimental: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ListenerSetSpec {
    pub listeners: Vec<Listener>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Listener {
    pub name: String,
    pub hostname: Option<String>,
    pub port: Option<u32>,
    pub protocol: String,
    pub tls: Option<ListenerTls>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListenerTls {
    pub mode: Option<String>,
    pub certificate_refs: Vec<ObjectReference>,
    pub frontend_validation: Option<FrontendValidation>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FrontendValidation {
    pub ca_certificate_refs: Vec<ObjectReference>,
    /// `AllowValidOnly` (the default) or `AllowInsecureFallback`.
    pub mode: Option<String>,
}

/// Gateway API `SecretObjectReference` / `ObjectReference`: group "" and kind Secret default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ObjectReference {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GatewayApiGateway {
    pub metadata: Meta,
    pub spec: GatewaySpec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ReferenceGrantSpec {
    pub from: Vec<GrantFrom>,
    pub to: Vec<GrantTo>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GrantFrom {
    pub group: String,
    pub kind: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct GrantTo {
    pub group: String,
    pub kind: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ReferenceGrant {
    pub metadata: Meta,
    pub spec: ReferenceGrantSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressSpec {
    pub ingress_class_name: Option<String>,
    pub tls: Vec<IngressTls>,
    pub rules: Vec<IngressRule>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct IngressTls {
    pub hosts: Vec<String>,
    pub secret_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IngressRule {
    pub host: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Ingress {
    pub metadata: Meta,
    pub spec: IngressSpec,
}

/// cert-manager `Issuer` or `ClusterIssuer`; only the CA issuer (`spec.ca`) names a Secret.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Issuer {
    pub metadata: Meta,
    pub spec: IssuerSpec,
    /// Which registry entry it was decoded as (`Issuer` or `ClusterIssuer`).
    #[serde(skip)]
    pub cluster: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IssuerSpec {
    pub ca: Option<CaIssuer>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CaIssuer {
    /// The Secret holding the CA's `tls.crt` and `tls.key`.
    pub secret_name: String,
}

/// cert-manager `Certificate`: only what says how long a leaf its issuer signs lives.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Certificate {
    pub metadata: Meta,
    pub spec: CertificateSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CertificateSpec {
    pub issuer_ref: IssuerRef,
    /// A Go duration (`2160h`); unset means cert-manager's default of 90 days.
    pub duration: Option<String>,
}

impl Certificate {
    /// The cert-manager issuer it names: (`ClusterIssuer`?, name); `None` for issuers of
    /// other groups (external issuers) or kinds.
    pub fn issuer(&self) -> Option<(bool, &str)> {
        let r = &self.spec.issuer_ref;
        if r.group.as_deref().unwrap_or("cert-manager.io") != "cert-manager.io" {
            return None;
        }
        match r.kind.as_deref().unwrap_or("Issuer") {
            "Issuer" => Some((false, &r.name)),
            "ClusterIssuer" => Some((true, &r.name)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct IssuerRef {
    pub name: String,
    /// Unset means `Issuer`.
    pub kind: Option<String>,
    /// Unset means `cert-manager.io`.
    pub group: Option<String>,
}

/// OpenShift `Route` (`route.openshift.io/v1`): only its host and `spec.tls`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Route {
    pub metadata: Meta,
    pub spec: RouteSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteSpec {
    /// Unset: the router picks a name (`<name>-<namespace>.<router domain>`), unknown here.
    pub host: Option<String>,
    /// `None` (the default) or `Subdomain`: the router serves every host under host's parent.
    pub wildcard_policy: Option<String>,
    pub tls: Option<RouteTls>,
}

/// Route `spec.tls` (openshift/api `route/v1` `TLSConfig`). Every PEM field is inline text.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RouteTls {
    /// `edge`, `passthrough` or `reencrypt` (required by the API).
    pub termination: Option<String>,
    pub certificate: Option<String>,
    pub key: Option<String>,
    pub ca_certificate: Option<String>,
    #[serde(rename = "destinationCACertificate")]
    pub destination_ca_certificate: Option<String>,
    /// `Allow`, `None` or `Redirect`.
    pub insecure_edge_termination_policy: Option<String>,
    /// OpenShift 4.16+: a `kubernetes.io/tls` Secret in the Route's namespace.
    pub external_certificate: Option<LocalObjectReference>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct LocalObjectReference {
    pub name: String,
}

/// An object tlsgate has rules for.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Secret(Secret),
    ConfigMap(ConfigMap),
    IstioGateway(IstioGateway),
    VirtualService(VirtualService),
    DestinationRule(DestinationRule),
    GatewayApiGateway(GatewayApiGateway),
    ListenerSet(ListenerSet),
    BackendTlsPolicy(BackendTlsPolicy),
    /// Only its name: BackendTLSPolicy `targetRefs` name Services.
    Service(Service),
    ReferenceGrant(ReferenceGrant),
    Ingress(Ingress),
    Issuer(Issuer),
    Certificate(Certificate),
    Route(Route),
}

/// Why a document could not be read as the object it claims to be.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{kind} {name}: field `{path}`: {reason}")]
pub struct DecodeError {
    pub kind: String,
    pub name: String,
    pub path: String,
    pub reason: String,
}

/// The namespace an object without `metadata.namespace` lands in (what kubectl does without -n).
pub const DEFAULT_NAMESPACE: &str = "default";

impl Object {
    /// Decodes a Kubernetes object. `Ok(None)` for kinds tlsgate has no rules for.
    pub fn from_value(v: &Value) -> Result<Option<Object>, DecodeError> {
        let api_version = v
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = v.get("kind").and_then(Value::as_str).unwrap_or_default();
        let Some(k) = kinds::find_api_version(api_version, kind) else {
            return Ok(None);
        };
        Ok(build(k, kind, v)?.map(Object::with_printable_name))
    }

    /// The API server allows only DNS names as object names, so a name carrying a PEM or base64
    /// (a key pasted in the wrong place, in a manifest that was never applied) is not one it
    /// would store; it is withheld here, once, so no report, log or metric label repeats it.
    fn with_printable_name(mut self) -> Self {
        if let std::borrow::Cow::Owned(clean) = crate::redact::scrub(&self.meta().name) {
            self.meta_mut().name = clean;
        }
        self
    }

    /// Decodes JSON text whose group and kind are already known (an AdmissionReview says them).
    pub fn from_json_typed(
        text: &str,
        group: &str,
        kind: &str,
    ) -> Result<Option<Object>, DecodeError> {
        let Some(k) = kinds::find(group, kind) else {
            return Ok(None);
        };
        Ok(build(k, kind, text)?.map(Object::with_printable_name))
    }

    /// Decodes the object a deserializer is at, for registry entry `k`: what an AdmissionReview
    /// whose `request.kind` came before `request.object` is read with, in one pass. The value
    /// is always consumed (skipped for kinds without a typed model).
    pub fn from_deserializer<'de, D: serde::Deserializer<'de>>(
        k: &kinds::Kind,
        kind: &str,
        d: D,
    ) -> Result<Option<Object>, D::Error> {
        let cell = std::cell::Cell::new(Some(d));
        let built = build(k, kind, Taken(&cell))?;
        if let Some(d) = cell.take() {
            serde::de::IgnoredAny::deserialize(d)?;
        }
        Ok(built.map(Object::with_printable_name))
    }

    pub fn meta_mut(&mut self) -> &mut Meta {
        match self {
            Object::Secret(o) => &mut o.meta,
            Object::ConfigMap(o) => &mut o.metadata,
            Object::IstioGateway(o) => &mut o.metadata,
            Object::VirtualService(o) => &mut o.metadata,
            Object::DestinationRule(o) => &mut o.metadata,
            Object::GatewayApiGateway(o) => &mut o.metadata,
            Object::ListenerSet(o) => &mut o.metadata,
            Object::BackendTlsPolicy(o) => &mut o.metadata,
            Object::Service(o) => &mut o.metadata,
            Object::ReferenceGrant(o) => &mut o.metadata,
            Object::Ingress(o) => &mut o.metadata,
            Object::Issuer(o) => &mut o.metadata,
            Object::Certificate(o) => &mut o.metadata,
            Object::Route(o) => &mut o.metadata,
        }
    }

    pub fn meta(&self) -> &Meta {
        match self {
            Object::Secret(o) => &o.meta,
            Object::ConfigMap(o) => &o.metadata,
            Object::IstioGateway(o) => &o.metadata,
            Object::VirtualService(o) => &o.metadata,
            Object::DestinationRule(o) => &o.metadata,
            Object::GatewayApiGateway(o) => &o.metadata,
            Object::ListenerSet(o) => &o.metadata,
            Object::BackendTlsPolicy(o) => &o.metadata,
            Object::Service(o) => &o.metadata,
            Object::ReferenceGrant(o) => &o.metadata,
            Object::Ingress(o) => &o.metadata,
            Object::Issuer(o) => &o.metadata,
            Object::Certificate(o) => &o.metadata,
            Object::Route(o) => &o.metadata,
        }
    }

    pub fn namespace(&self) -> &str {
        self.meta()
            .namespace
            .as_deref()
            .unwrap_or(DEFAULT_NAMESPACE)
    }

    pub fn name(&self) -> &str {
        &self.meta().name
    }

    /// This object's registry entry.
    pub fn registry(&self) -> &'static kinds::Kind {
        kinds::get(match self {
            Object::Secret(_) => Id::Secret,
            Object::ConfigMap(_) => Id::ConfigMap,
            Object::IstioGateway(_) => Id::IstioGateway,
            Object::VirtualService(_) => Id::VirtualService,
            Object::DestinationRule(_) => Id::DestinationRule,
            Object::GatewayApiGateway(_) => Id::GatewayApiGateway,
            Object::ListenerSet(l) if l.experimental => Id::XListenerSet,
            Object::ListenerSet(_) => Id::ListenerSet,
            Object::BackendTlsPolicy(_) => Id::BackendTlsPolicy,
            Object::Service(_) => Id::Service,
            Object::ReferenceGrant(_) => Id::ReferenceGrant,
            Object::Ingress(_) => Id::Ingress,
            Object::Issuer(i) if i.cluster => Id::ClusterIssuer,
            Object::Issuer(_) => Id::Issuer,
            Object::Certificate(_) => Id::Certificate,
            Object::Route(_) => Id::Route,
        })
    }

    pub fn kind(&self) -> &'static str {
        self.registry().kind
    }

    pub fn api_group(&self) -> &'static str {
        self.registry().group
    }

    pub fn object_ref(&self, api_version: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.to_string(),
            kind: self.kind().to_string(),
            namespace: (self.registry().scope == kinds::Scope::Namespaced)
                .then(|| self.namespace().to_string()),
            name: self.name().to_string(),
        }
    }
}

/// Where an object's JSON is read from: a parsed `Value` (manifests, the cluster view), the
/// raw text of an AdmissionReview's object, or the review's own deserializer (the object
/// decoded in the same pass as the envelope). One dispatch over the registry serves all.
trait Source<'a> {
    type Error;
    fn decode<T: Deserialize<'a>>(self, kind: &str) -> Result<T, Self::Error>;
}

impl<'a> Source<'a> for &'a Value {
    type Error = DecodeError;
    fn decode<T: Deserialize<'a>>(self, kind: &str) -> Result<T, DecodeError> {
        decode(self, kind)
    }
}

impl<'a> Source<'a> for &'a str {
    type Error = DecodeError;
    fn decode<T: Deserialize<'a>>(self, kind: &str) -> Result<T, DecodeError> {
        decode_str(self, kind)
    }
}

/// A deserializer, taken when the registry entry decodes a typed object.
struct Taken<'c, D>(&'c std::cell::Cell<Option<D>>);

impl<'a, D: serde::Deserializer<'a>> Source<'a> for Taken<'_, D> {
    type Error = D::Error;
    fn decode<T: Deserialize<'a>>(self, _kind: &str) -> Result<T, D::Error> {
        match self.0.take() {
            Some(d) => T::deserialize(d),
            None => Err(serde::de::Error::custom("object read twice")),
        }
    }
}

/// The typed object for registry entry `k`; `None` for kinds read only as metadata or caBundles.
fn build<'a, S: Source<'a>>(
    k: &kinds::Kind,
    kind: &str,
    src: S,
) -> Result<Option<Object>, S::Error> {
    Ok(Some(match k.id {
        Id::Secret => Object::Secret(secret_from_raw(src.decode(kind)?)),
        Id::ConfigMap => Object::ConfigMap(src.decode(kind)?),
        Id::IstioGateway => Object::IstioGateway(src.decode(kind)?),
        Id::VirtualService => Object::VirtualService(src.decode(kind)?),
        Id::DestinationRule => Object::DestinationRule(src.decode(kind)?),
        Id::GatewayApiGateway => Object::GatewayApiGateway(src.decode(kind)?),
        Id::ListenerSet | Id::XListenerSet => Object::ListenerSet(ListenerSet {
            experimental: k.id == Id::XListenerSet,
            ..src.decode(kind)?
        }),
        Id::BackendTlsPolicy => Object::BackendTlsPolicy(src.decode(kind)?),
        Id::ReferenceGrant => Object::ReferenceGrant(src.decode(kind)?),
        Id::Ingress => Object::Ingress(src.decode(kind)?),
        Id::Service => Object::Service(src.decode(kind)?),
        Id::Certificate => Object::Certificate(src.decode(kind)?),
        Id::Route => Object::Route(src.decode(kind)?),
        Id::Issuer | Id::ClusterIssuer => Object::Issuer(Issuer {
            cluster: k.id == Id::ClusterIssuer,
            ..src.decode(kind)?
        }),
        Id::Pod
        | Id::Namespace
        | Id::ValidatingWebhookConfiguration
        | Id::MutatingWebhookConfiguration
        | Id::ApiService
        | Id::CustomResourceDefinition => return Ok(None),
    }))
}

fn decode<'a, T: Deserialize<'a>>(v: &'a Value, kind: &str) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(v).map_err(|e| DecodeError {
        kind: kind.to_string(),
        name: v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>")
            .to_string(),
        path: e.path().to_string(),
        reason: crate::redact::serde_error(&e.inner().to_string()),
    })
}

fn decode_str<'a, T: Deserialize<'a>>(text: &'a str, kind: &str) -> Result<T, DecodeError> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        // Only on the error path: find the name for the message.
        let name = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| {
                v.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "<unnamed>".into());
        DecodeError {
            kind: kind.to_string(),
            name,
            path: e.path().to_string(),
            reason: crate::redact::serde_error(&e.inner().to_string()),
        }
    })
}

/// A Secret as written: `data` base64, `stringData` plain.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawSecret<'a> {
    metadata: Meta,
    #[serde(rename = "type")]
    secret_type: Option<String>,
    /// Borrowed from the request body where possible: base64 is decoded once, not copied first.
    #[serde(borrow)]
    data: BTreeMap<String, Option<Cow<'a, str>>>,
    string_data: BTreeMap<String, Option<String>>,
}

/// Decodes a `data` value as the API server does: Go's `base64.StdEncoding`, which skips `\r`
/// and `\n` anywhere (a YAML `|` block wraps base64 across lines), requires padding, and
/// accepts non-zero trailing bits (it is not `Strict`). Spaces and tabs are errors there too.
pub fn decode_data_value(val: &str) -> Result<Vec<u8>, base64::DecodeError> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const GO_STD_ENCODING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::RequireCanonical),
    );
    if val.contains(['\r', '\n']) {
        let joined: Vec<u8> = val
            .bytes()
            .filter(|b| !matches!(b, b'\r' | b'\n'))
            .collect();
        GO_STD_ENCODING.decode(joined)
    } else {
        GO_STD_ENCODING.decode(val)
    }
}

impl Secret {
    /// A Secret from its `metadata`, `type` (`Opaque` when unset, as the API server defaults
    /// it) and `data` as base64 text, decoded when first read. Manifests, reviews and the
    /// cluster watch all make theirs here.
    pub fn from_base64(
        meta: Meta,
        secret_type: Option<String>,
        data: impl IntoIterator<Item = (String, Option<Box<str>>)>,
    ) -> Secret {
        let mut values = SecretData::new();
        for (k, val) in data {
            values.insert_base64(k, val.unwrap_or_default());
        }
        Secret {
            meta,
            secret_type: secret_type.unwrap_or_else(|| "Opaque".to_string()),
            data: values,
        }
    }
}

/// `data` is base64; `stringData` is plain text and wins on conflicts, as the API server does.
fn secret_from_raw(raw: RawSecret<'_>) -> Secret {
    let data = raw.data.into_iter().map(|(k, v)| (k, v.map(Box::from)));
    let mut secret = Secret::from_base64(raw.metadata, raw.secret_type, data);
    for (k, val) in raw.string_data {
        secret.data.insert(k, val.unwrap_or_default().into_bytes());
    }
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kubectl create secret tls httpbin-credential ... --dry-run=client -o yaml`, with `tls.crt`
    /// rewrapped into a YAML `|` block at 76 columns, as editors and `base64` (GNU, default -w 76)
    /// write it. The API server reads it (Go skips the newlines).
    fn wrapped_secret(newline: &str) -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/secrets/httpbin-credential-tls.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            match line.strip_prefix("  tls.crt: ") {
                Some(b64) => {
                    out.push_str("  tls.crt: |\n");
                    for chunk in b64.as_bytes().chunks(76) {
                        out.push_str("    ");
                        out.push_str(std::str::from_utf8(chunk).unwrap());
                        out.push_str(newline);
                    }
                }
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        yaml_serde::from_str(&out).unwrap()
    }

    fn secret(v: &Value) -> Secret {
        match Object::from_value(v) {
            Ok(Some(Object::Secret(s))) => s,
            other => panic!("not a Secret: {other:?}"),
        }
    }

    #[test]
    fn base64_wrapped_in_a_yaml_block_decodes() {
        let s = secret(&wrapped_secret("\n"));
        assert!(
            s.data.undecodable().is_empty(),
            "{:?}",
            s.data.undecodable()
        );
        assert!(s.data["tls.crt"].starts_with(b"-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn base64_wrapped_with_crlf_decodes() {
        let v = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "aGVs\r\nbG8=\r\n"}});
        assert_eq!(secret(&v).data["k"], b"hello");
    }

    #[test]
    fn non_canonical_trailing_bits_decode_as_in_go() {
        // Go's StdEncoding is not Strict: "YR==" is "a" there, as "YQ==" is.
        assert_eq!(decode_data_value("YR==").unwrap(), b"a");
    }

    #[test]
    fn what_go_rejects_stays_undecodable() {
        for bad in [
            "aGVsbG8",
            "aGVs bG8=",
            "aGVs\tbG8=",
            " aGVsbG8=",
            "aGVsbG8=aGVsbG8=",
        ] {
            assert!(decode_data_value(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_decode_error_names_the_type_not_the_value() {
        let v = serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": "-----BEGIN PRIVATE KEY-----"});
        let e = Object::from_value(&v).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Secret s: field `stringData`: expected a map, found a string"
        );
    }
}
