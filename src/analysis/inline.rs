//! Certificates written inline in an object rather than in a Secret: an OpenShift Route's
//! `spec.tls`. The same bundle, key and chain rules as a Secret's, with the object's field
//! paths in place of `data["…"]`. The key is read to match it and dropped: the summary holds
//! no private bytes.

use super::{key, Analyzer, Bundle, CredentialSummary, Role, ServerCredential};
use crate::finding::{Code, Issue, Severity};
use std::sync::Arc;

/// The Route `spec.tls` fields, as paths and messages name them (openshift/api `route/v1`).
pub const ROUTE_CERTIFICATE: &str = "spec.tls.certificate";
pub const ROUTE_KEY: &str = "spec.tls.key";
pub const ROUTE_CA_CERTIFICATE: &str = "spec.tls.caCertificate";
pub const ROUTE_DESTINATION_CA: &str = "spec.tls.destinationCACertificate";

/// The inline PEM a router terminates TLS with (`None`: the field is unset or blank).
#[derive(Debug, Default, Clone, Copy)]
pub struct RoutePems<'a> {
    pub certificate: Option<&'a [u8]>,
    pub key: Option<&'a [u8]>,
    pub ca_certificate: Option<&'a [u8]>,
    pub destination_ca: Option<&'a [u8]>,
}

impl Analyzer {
    /// A Route's inline credentials as the OpenShift router reads them: it serves
    /// `certificate` + `caCertificate` with `key`, and verifies the pod with
    /// `destinationCACertificate` (reencrypt). Time-independent issues only; each at its field.
    pub fn route_tls(&self, p: &RoutePems<'_>) -> CredentialSummary {
        let mut s = CredentialSummary {
            shape: Arc::new(crate::analysis::SecretShape {
                secret_type: "route".into(),
                keys: [
                    (ROUTE_CERTIFICATE, p.certificate),
                    (ROUTE_KEY, p.key),
                    (ROUTE_CA_CERTIFICATE, p.ca_certificate),
                    (ROUTE_DESTINATION_CA, p.destination_ca),
                ]
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| std::borrow::Cow::Borrowed(*k))
                .collect(),
                empty_keys: Box::default(),
            }),
            ..Default::default()
        };
        let total: usize = [p.certificate, p.key, p.ca_certificate, p.destination_ca]
            .iter()
            .flatten()
            .map(|b| b.len())
            .sum();
        if total > super::MAX_OBJECT_BYTES {
            s.issues.push(Issue::new(
                Code::SecretMalformed,
                "spec.tls",
                format!(
                    "holds {total} bytes of PEM, above the {}-byte limit; it was not inspected",
                    super::MAX_OBJECT_BYTES
                ),
            ));
            return s;
        }
        let chain = p
            .certificate
            .map(|b| self.field_bundle(&mut s, ROUTE_CERTIFICATE, b, Role::ServerChain));
        if let (Some(chain), Some(key_bytes)) = (&chain, p.key) {
            if let Some(leaf) = chain.leaf() {
                if let Err(e) = key::check_pair(key_bytes, Some(&leaf.public_key)) {
                    let message = match &e {
                        key::PairError::Mismatch { facts } => format!(
                            "{ROUTE_KEY} ({} {}) does not belong to the certificate in {ROUTE_CERTIFICATE} ({}, {}), so the router rejects the Route; put the certificate's own key there",
                            facts.algorithm, facts.encoding, leaf.display_name(), leaf.key_algorithm()
                        ),
                        _ => format!("{ROUTE_KEY} {e}"),
                    };
                    s.issues.push(Issue::new(e.code(), ROUTE_KEY, message));
                }
            }
        }
        if let Some(chain) = chain {
            match p.key {
                Some(_) => {
                    s.server = Some(ServerCredential {
                        cert_key: ROUTE_CERTIFICATE,
                        chain,
                    })
                }
                None => s.rare_mut().lone_chain = Some((ROUTE_CERTIFICATE, chain)),
            }
        }
        if let Some(bytes) = p.ca_certificate {
            let b = self.field_bundle(&mut s, ROUTE_CA_CERTIFICATE, bytes, Role::CaBundle);
            s.has_ca = true;
            if let Some(leaf_pem) = p.certificate {
                route_chain_issues(&mut s, leaf_pem, bytes, &b);
            }
        }
        if let Some(bytes) = p.destination_ca {
            let b = self.field_bundle(&mut s, ROUTE_DESTINATION_CA, bytes, Role::CaBundle);
            destination_ca_issues(&mut s, &b);
        }
        s
    }

    /// Parses the PEM at `field`; its issues are said of the field, except `ca-not-ca`, which
    /// depends on what the field is for (the callers say it).
    fn field_bundle(
        &self,
        s: &mut CredentialSummary,
        field: &'static str,
        bytes: &[u8],
        role: Role,
    ) -> Arc<Bundle> {
        let b = self.bundle(bytes, role);
        for (code, sev, msg) in b.issues.iter().filter(|(c, _, _)| *c != Code::CaNotCa) {
            s.issues
                .push(Issue::new(*code, field, format!("{field} {msg}")).with_severity(*sev));
        }
        s.bundles.push((field, b.clone()));
        b
    }
}

/// The router verifies `certificate` with `caCertificate` as both roots and intermediates
/// (openshift/router `ExtendedValidateRoute`; expiry is tolerated there) and rejects the Route
/// when no path exists. A certificate in `caCertificate` that is the leaf itself verifies it
/// (Go's `Verify` accepts a leaf found among the roots).
fn route_chain_issues(s: &mut CredentialSummary, leaf_pem: &[u8], ca_pem: &[u8], ca: &Bundle) {
    let Some(leaf_der) = super::first_cert_der(leaf_pem) else {
        return;
    };
    let Some(leaf) = s.leaf().cloned() else {
        return;
    };
    let cas = super::cert_ders(ca_pem);
    if cas.is_empty() {
        return;
    }
    let signer = cas
        .iter()
        .position(|c| *c == leaf_der || crate::audit::signed_by(&leaf_der, c));
    for (i, c) in ca.certs.iter().enumerate() {
        if c.is_ca || c.sha256 == leaf.sha256 {
            continue;
        }
        // Go refuses a signer without CA:TRUE; any other non-CA entry is only dead weight.
        let signs = signer == Some(i);
        let sev = if signs {
            Severity::Deny
        } else {
            Severity::Warn
        };
        let why = if signs {
            "so the router cannot verify the certificate with it and rejects the Route"
        } else {
            "so it signs nothing the router serves"
        };
        s.issues.push(
            Issue::new(
                Code::CaNotCa,
                ROUTE_CA_CERTIFICATE,
                format!("{ROUTE_CA_CERTIFICATE} certificate #{i} ({}) is not a CA (no basicConstraints CA:TRUE), {why}; put the issuing CA chain of the certificate here", c.display_name()),
            )
            .with_severity(sev),
        );
    }
    if signer.is_none() {
        s.issues.push(Issue::new(
            Code::NotSignedByCa,
            ROUTE_CA_CERTIFICATE,
            format!(
                "{ROUTE_CERTIFICATE} ({}, issued by {}) is signed by no certificate in {ROUTE_CA_CERTIFICATE} ({}), so the router rejects the Route (ExtendedValidationFailed); put the certificate's issuing CA there",
                leaf.display_name(),
                leaf.issuer(),
                super::validity::count(ca.certs.len(), "certificate")
            ),
        ));
    }
}

/// The router verifies the pod's certificate with `destinationCACertificate`. A non-CA entry
/// verifies only itself (a pod's self-signed certificate); the field is useless, and denied,
/// only when no entry is a CA or self-issued.
fn destination_ca_issues(s: &mut CredentialSummary, b: &Bundle) {
    let usable = b.certs.iter().any(|c| c.is_ca || c.is_self_issued());
    for (i, c) in b.certs.iter().enumerate().filter(|(_, c)| !c.is_ca) {
        let sev = if usable {
            Severity::Warn
        } else {
            Severity::Deny
        };
        s.issues.push(
            Issue::new(
                Code::CaNotCa,
                ROUTE_DESTINATION_CA,
                format!("{ROUTE_DESTINATION_CA} certificate #{i} ({}) is not a CA (no basicConstraints CA:TRUE), so the router verifies only that exact certificate with it; put the CA that signs the pod's certificate here", c.display_name()),
            )
            .with_severity(sev),
        );
    }
}

/// The PEM of an inline field, `None` when unset or blank (the router treats both as unset).
pub fn inline_pem(v: &Option<String>) -> Option<&[u8]> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(str::as_bytes)
}
