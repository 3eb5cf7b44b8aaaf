//! Findings: the one vocabulary every front door speaks.
//!
//! A finding is a stable kebab-case [`Code`], a [`Severity`], the object and field it is about,
//! and one sentence a tired operator understands. Codes never change meaning (cargo-deny's
//! `diags.rs` is the model): they appear in JSON output, the policy file and the tests.

use serde::{Deserialize, Serialize};
use std::fmt;

/// How bad a finding is. `Deny` refuses an admission and fails `lint`; `Warn` is printed by
/// kubectl as a warning; `Info` is only shown in reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warn,
    Deny,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warn => "warn",
            Severity::Deny => "deny",
        })
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $sev:ident; )*) => {
        /// Stable identifiers of everything tlsgate can find.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $( $(#[$doc])* $variant, )* }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $(Code::$variant => $name,)* }
            }

            pub fn default_severity(self) -> Severity {
                match self { $(Code::$variant => Severity::$sev,)* }
            }
        }

        impl std::str::FromStr for Code {
            type Err = UnknownCode;
            fn from_str(s: &str) -> Result<Self, UnknownCode> {
                match s { $($name => Ok(Code::$variant),)* _ => Err(UnknownCode(s.to_string())) }
            }
        }
    };
}

codes! {
    /// Missing or empty keys, bad base64, not PEM, DER where PEM is expected, garbage.
    SecretMalformed = "secret-malformed", Deny;
    CertExpired = "cert-expired", Deny;
    CertNotYetValid = "cert-not-yet-valid", Deny;
    CertExpiringSoon = "cert-expiring-soon", Warn;
    /// A certificate other than the leaf of a chain (an expired cross-sign or intermediate), or
    /// some but not all CAs of a bundle, are outside their validity window: a valid path remains.
    ChainCertExpired = "chain-cert-expired", Warn;
    KeyMismatch = "key-mismatch", Deny;
    KeyEncrypted = "key-encrypted", Deny;
    ChainOrder = "chain-order", Warn;
    HostNotCovered = "host-not-covered", Deny;
    NoSubjectAltName = "no-subject-alt-name", Warn;
    /// The subjectAltName extension is present but cannot be parsed.
    SanMalformed = "san-malformed", Warn;
    WeakKey = "weak-key", Warn;
    /// MD5 is denied by the code that raises it; SHA-1 is a warning.
    WeakSignature = "weak-signature", Warn;
    SerialInvalid = "serial-invalid", Warn;
    CaMissing = "ca-missing", Deny;
    CaNotCa = "ca-not-ca", Deny;
    IstioCaInvalid = "istio-ca-invalid", Deny;
    /// The mesh root in `istio-ca-root-cert` or a workload secret is not the current root.
    IstioRootMismatch = "istio-root-mismatch", Warn;
    CredentialNotFound = "credential-not-found", Warn;
    CredentialNameReserved = "credential-name-reserved", Warn;
    CredentialHasToken = "credential-has-token", Warn;
    /// Both `cert`/`key` and `tls.crt`/`tls.key` exist: says which pair the gateway uses.
    CredentialKeysShadowed = "credential-keys-shadowed", Info;
    TlsModeIgnoresCredential = "tls-mode-ignores-credential", Warn;
    IstioMutualWithCredential = "istio-mutual-with-credential", Deny;
    GatewayNotFound = "gateway-not-found", Warn;
    /// An Istio Gateway whose `selector` matches no pod: nothing serves it (Istio's IST0101).
    GatewayWorkloadNotFound = "gateway-workload-not-found", Warn;
    VirtualserviceHostNotInGateway = "virtualservice-host-not-in-gateway", Warn;
    RefNotPermitted = "ref-not-permitted", Deny;
    /// A BackendTLSPolicy `validation.hostname` that is not a precise DNS name.
    HostnameInvalid = "hostname-invalid", Deny;
    /// BackendTLSPolicy `wellKnownCACertificates`: the implementation's CAs, not checkable.
    SystemCasUsed = "system-cas-used", Info;
    /// A BackendTLSPolicy `targetRefs` entry names a Service that does not exist.
    TargetNotFound = "target-not-found", Warn;
    /// Gateway API frontend validation with `mode: AllowInsecureFallback`: clients without a
    /// valid certificate are let through.
    ClientValidationOptional = "client-validation-optional", Info;
    /// A client certificate (DestinationRule `credentialName`) whose extendedKeyUsage lacks
    /// clientAuth: servers that check usage refuse it.
    ClientAuthMissing = "client-auth-missing", Warn;
    RefInvalidKind = "ref-invalid-kind", Deny;
    /// A cert-manager Certificate whose `spec.duration` runs past the notAfter of its CA
    /// issuer's certificate.
    LeafOutlivesIssuer = "leaf-outlives-issuer", Warn;
    /// An OpenShift Route terminating TLS (edge/reencrypt) with no certificate of its own: the
    /// router serves its default certificate.
    RouteDefaultCertificate = "route-default-certificate", Info;
    /// An Istio server's `credentialNames` are not alternatives Istio serves as written: set
    /// beside `credentialName` (ignored), more than two, or two of one key type.
    CredentialNamesConflict = "credential-names-conflict", Warn;
    /// A Secret being deleted is still referenced by a Gateway or Ingress.
    SecretInUse = "secret-in-use", Warn;
    /// The webhook answered before its cluster view finished syncing.
    ViewNotSynced = "view-not-synced", Warn;
    /// More SANs or hosts than tlsgate checks (see the README's limits): the check was skipped.
    LimitExceeded = "limit-exceeded", Warn;
    /// A document in the input could not be parsed as a Kubernetes object.
    ManifestInvalid = "manifest-invalid", Deny;
    /// A kubeadm leaf or kubeconfig client certificate whose signature does not verify with its
    /// CA's public key (the audit's check; a copied subject is not enough).
    NotSignedByCa = "not-signed-by-ca", Deny;
    /// A `tlsgate.io/skip` annotation names something that is not a finding code.
    ExemptionInvalid = "exemption-invalid", Warn;
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown finding code `{0}`")]
pub struct UnknownCode(pub String);

/// The Kubernetes object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct ObjectRef {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// One thing found, with where it is and what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub code: Code,
    pub severity: Severity,
    pub object: ObjectRef,
    /// Field path inside the object: `spec.servers[1].tls.credentialName`, `data["tls.crt"]`.
    pub path: String,
    pub message: String,
    /// Set when an exemption turned this finding into `info`: who skipped it and why
    /// ([`crate::exempt`]). Such a finding is still shown, never dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// A finding before it is attached to an object: what the analysis layer produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub code: Code,
    pub severity: Severity,
    pub path: String,
    pub message: String,
}

impl Issue {
    /// Messages repeat what the user wrote (a reference name); one where a PEM or base64 was
    /// pasted has it withheld ([`crate::redact::scrub`]), so no door prints key material.
    pub fn new(code: Code, path: impl Into<String>, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = match crate::redact::scrub(&message) {
            std::borrow::Cow::Borrowed(_) => message,
            std::borrow::Cow::Owned(clean) => clean,
        };
        Issue {
            code,
            severity: code.default_severity(),
            path: path.into(),
            message,
        }
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    pub fn on(self, object: &ObjectRef) -> Finding {
        Finding {
            code: self.code,
            severity: self.severity,
            object: object.clone(),
            path: self.path,
            message: self.message,
            skipped: None,
        }
    }
}
