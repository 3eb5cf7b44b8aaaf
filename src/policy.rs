//! The policy file: severity overrides per code, the expiry threshold, excluded namespaces.
//!
//! ```yaml
//! expiryWarningDays: 30
//! severities: { credential-not-found: deny, serial-invalid: off }
//! excludeNamespaces: [kube-system]
//! gatewayNamespace: istio-system
//! denyDeleteInUse: false
//! exemptions:                       # see crate::exempt
//!   - { kind: Secret, namespace: legacy, name: old-cert, codes: [cert-expired], reason: TICKET-1 }
//! ```

use crate::finding::{Code, Finding, Severity};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Override {
    Deny,
    Warn,
    Info,
    Off,
}

/// cert-manager's default `--cluster-resource-namespace` (the namespace it is installed in).
pub const DEFAULT_CLUSTER_RESOURCE_NAMESPACE: &str = "cert-manager";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Policy {
    /// Warn when a certificate expires within this many days.
    pub expiry_warning_days: i64,
    pub severities: BTreeMap<Code, Override>,
    pub exclude_namespaces: Vec<String>,
    /// Where Istio gateway workloads run when tlsgate cannot see pods.
    pub gateway_namespace: String,
    /// Where cert-manager reads ClusterIssuer Secrets (its `--cluster-resource-namespace`).
    pub cluster_resource_namespace: String,
    /// Deny (rather than warn about) deleting a Secret a Gateway or Ingress still uses.
    pub deny_delete_in_use: bool,
    /// Findings skipped on objects one cannot annotate ([`crate::exempt`]).
    pub exemptions: Vec<crate::exempt::PolicyExemption>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            expiry_warning_days: 30,
            severities: BTreeMap::new(),
            exclude_namespaces: Vec::new(),
            gateway_namespace: "istio-system".to_string(),
            cluster_resource_namespace: DEFAULT_CLUSTER_RESOURCE_NAMESPACE.to_string(),
            deny_delete_in_use: false,
            exemptions: Vec::new(),
        }
    }
}

impl Policy {
    /// Reads the `--config` file: a regular file of at most
    /// [`MAX_CONFIG_BYTES`](crate::load::MAX_CONFIG_BYTES). Errors name the flag and the file,
    /// never what the file contains (a mixed-up `--config tls.key` must not print the key).
    pub fn from_file(path: &Path) -> anyhow::Result<Policy> {
        use anyhow::Context;
        let text = crate::load::read_text(path, crate::load::MAX_CONFIG_BYTES)
            .map_err(|e| anyhow::anyhow!("--config: cannot read the policy file {e}"))?;
        Self::from_yaml(&text)
            .with_context(|| format!("--config {}: invalid policy file", path.display()))
    }

    pub fn from_yaml(text: &str) -> anyhow::Result<Policy> {
        if text.trim().is_empty() {
            return Ok(Policy::default());
        }
        let p: Policy = yaml_serde::from_str(text)
            .map_err(|e| anyhow::anyhow!(crate::redact::serde_error(&e.to_string())))?;
        anyhow::ensure!(
            p.expiry_warning_days >= 0,
            "expiryWarningDays must not be negative"
        );
        for (i, e) in p.exemptions.iter().enumerate() {
            e.validate(i)?;
        }
        Ok(p)
    }

    pub fn excluded(&self, namespace: Option<&str>) -> bool {
        namespace.is_some_and(|ns| self.exclude_namespaces.iter().any(|e| e == ns))
    }

    /// Applies overrides and exclusions: the last step before findings are reported.
    pub fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter(|f| !self.excluded(f.object.namespace.as_deref()))
            .filter_map(|mut f| {
                match self.severities.get(&f.code) {
                    Some(Override::Off) => return None,
                    Some(Override::Deny) => f.severity = Severity::Deny,
                    Some(Override::Warn) => f.severity = Severity::Warn,
                    Some(Override::Info) => f.severity = Severity::Info,
                    None => {}
                }
                Some(f)
            })
            .collect()
    }
}
