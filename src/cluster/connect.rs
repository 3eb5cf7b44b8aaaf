//! How a cluster-facing command connects: like kubectl. A `--context` picks a context from the
//! kubeconfig that `KUBECONFIG` names (a `:`-separated list, merged) or `~/.kube/config`;
//! without one, in-cluster config first, then that kubeconfig's current context.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// A client for `context` (`None`: in-cluster, else the kubeconfig's current context). The
/// error names the kubeconfig and the context tried, and `hint` says how to go without.
pub async fn client(context: Option<&str>, hint: &str) -> anyhow::Result<Client> {
    let tried = kubeconfig_source();
    let config = match context {
        None => Config::infer().await.map_err(anyhow::Error::from),
        Some(name) => match Kubeconfig::read() {
            Ok(kubeconfig) => Config::from_custom_kubeconfig(
                kubeconfig,
                &KubeConfigOptions {
                    context: Some(name.to_string()),
                    ..KubeConfigOptions::default()
                },
            )
            .await
            .map_err(anyhow::Error::from),
            Err(e) => Err(e.into()),
        },
    };
    let what = match context {
        Some(name) => format!("context {name} of kubeconfig {tried}"),
        None => format!("no in-cluster config, nor the current context of kubeconfig {tried}"),
    };
    // kube's infer error repeats its kubeconfig error three times over (700 characters): the
    // root cause alone says why, and it is printed once.
    config
        .and_then(|c| Client::try_from(c).map_err(anyhow::Error::from))
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to a cluster ({what}): {}; {hint}",
                e.root_cause()
            )
        })
}

/// Which cluster `context` means, for an error about reaching it: "context NAME of kubeconfig
/// PATH", or the in-cluster/current-context fallback.
pub fn describe(context: Option<&str>) -> String {
    let tried = kubeconfig_source();
    match context {
        Some(name) => format!("context {name} of kubeconfig {tried}"),
        None => format!("in-cluster config, else the current context of kubeconfig {tried}"),
    }
}

/// The kubeconfig file(s) kubectl would read: `KUBECONFIG`, else `~/.kube/config`.
fn kubeconfig_source() -> String {
    match std::env::var("KUBECONFIG") {
        Ok(v) if !v.is_empty() => v,
        _ => "~/.kube/config".to_string(),
    }
}
