//! How a cluster-facing command (`serve` cluster mode, live `audit`) connects: exactly like
//! kubectl, and only here.
//!
//! Which kubeconfig (client-go's `ClientConfigLoadingRules`):
//!
//! | `--kubeconfig` | `KUBECONFIG`  | read                                                        |
//! |----------------|---------------|-------------------------------------------------------------|
//! | FILE           | (ignored)     | FILE only; missing is an error naming it                    |
//! | —              | `a:b:c`       | each listed file that exists, merged: the first file to set |
//! |                |               | a cluster/user/context name (or `current-context`) wins     |
//! | —              | unset / empty | `~/.kube/config` when it exists                             |
//!
//! Nothing found (and no `--context`): the in-cluster service account, as a pod runs. The
//! context is `--context`, else the merged `current-context`.

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// What the user gave on the command line: `--kubeconfig` and `--context`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Target {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
}

/// Where kubectl would look for kubeconfig files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kubeconfigs {
    /// `--kubeconfig FILE`.
    Flag(PathBuf),
    /// The `KUBECONFIG` list, empty entries dropped, in order.
    Env(Vec<PathBuf>),
    /// `~/.kube/config`.
    Home(PathBuf),
    /// No flag, no `KUBECONFIG`, no home directory.
    Nowhere,
}

impl Kubeconfigs {
    /// kubectl's order: the flag, else `KUBECONFIG` (when it names any file), else the home file.
    pub fn locate(flag: Option<&Path>, env: Option<&OsStr>, home: Option<&Path>) -> Self {
        if let Some(f) = flag {
            return Kubeconfigs::Flag(f.to_path_buf());
        }
        let listed: Vec<PathBuf> = env
            .map(|v| {
                std::env::split_paths(v)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if !listed.is_empty() {
            return Kubeconfigs::Env(listed);
        }
        match home {
            Some(h) => Kubeconfigs::Home(h.join(".kube").join("config")),
            None => Kubeconfigs::Nowhere,
        }
    }

    /// As the process environment says.
    fn from_env(flag: Option<&Path>) -> Self {
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        Self::locate(
            flag,
            std::env::var_os("KUBECONFIG").as_deref(),
            home.as_deref(),
        )
    }

    /// For messages: the file(s) tried, as the user would name them.
    pub fn describe(&self) -> String {
        match self {
            Kubeconfigs::Flag(f) => f.display().to_string(),
            Kubeconfigs::Env(list) => std::env::join_paths(list)
                .map(|j| j.to_string_lossy().into_owned())
                .unwrap_or_else(|_| format!("{list:?}")),
            Kubeconfigs::Home(f) => f.display().to_string(),
            Kubeconfigs::Nowhere => "~/.kube/config (no home directory)".to_string(),
        }
    }

    /// Reads and merges the files; `None` when none exists (a missing `--kubeconfig` is an
    /// error, a missing `KUBECONFIG` entry is skipped, as kubectl does). Errors name the file,
    /// never its content (a kubeconfig holds tokens and keys).
    pub fn load(&self) -> anyhow::Result<Option<Kubeconfig>> {
        let files: Vec<&Path> = match self {
            Kubeconfigs::Flag(f) => {
                anyhow::ensure!(f.exists(), "--kubeconfig {}: no such file", f.display());
                vec![f.as_path()]
            }
            Kubeconfigs::Env(list) => list.iter().map(PathBuf::as_path).collect(),
            Kubeconfigs::Home(f) => vec![f.as_path()],
            Kubeconfigs::Nowhere => vec![],
        };
        let mut merged: Option<Kubeconfig> = None;
        for f in files.into_iter().filter(|f| f.exists()) {
            let next = read(f)?;
            merged = Some(match merged {
                None => next,
                Some(m) => m
                    .merge(next)
                    .with_context(|| format!("kubeconfig {}: cannot merge it", f.display()))?,
            });
        }
        Ok(merged)
    }
}

/// One kubeconfig file, size-limited and with relative file references resolved against its
/// directory (kube's `read_from`, as kubectl does).
fn read(f: &Path) -> anyhow::Result<Kubeconfig> {
    // Refuses FIFOs, directories and oversized files before kube reads it.
    crate::load::read_text(f, crate::load::MAX_CONFIG_BYTES)
        .map_err(|e| anyhow::anyhow!("kubeconfig {e}"))?;
    Kubeconfig::read_from(f).map_err(|e| {
        let why = match e {
            kube::config::KubeconfigError::ReadConfig(io, _) => format!("cannot read it: {io}"),
            // serde_saphyr follows its first line with a snippet of the input: never shown.
            other => {
                let msg = other.to_string();
                let first = msg.lines().next().unwrap_or_default();
                let first = first
                    .strip_prefix("failed to parse kubeconfig YAML: ")
                    .unwrap_or(first);
                format!("not a kubeconfig: {}", crate::redact::serde_error(first))
            }
        };
        anyhow::anyhow!("kubeconfig {}: {why}", f.display())
    })
}

/// The context to use: `wanted`, else the kubeconfig's `current-context`; the error names the
/// context and lists the ones there are.
pub fn pick_context(kubeconfig: &Kubeconfig, wanted: Option<&str>) -> anyhow::Result<String> {
    let name = match wanted.or(kubeconfig.current_context.as_deref()) {
        Some(n) if !n.is_empty() => n,
        _ => anyhow::bail!("it sets no current-context: pass --context NAME"),
    };
    if kubeconfig.contexts.iter().any(|c| c.name == name) {
        return Ok(name.to_string());
    }
    let there: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let flag = if wanted.is_some() {
        "--context"
    } else {
        "current-context"
    };
    if there.is_empty() {
        anyhow::bail!("{flag} {name} is not in it (it has no contexts)");
    }
    anyhow::bail!(
        "{flag} {name} is not in it (contexts: {})",
        there.join(", ")
    )
}

/// A client and what it was made from, for later errors (a refused connection shows up at
/// the first request, not when the client is made).
pub struct Connected {
    pub client: Client,
    /// `context NAME of kubeconfig FILES`, or `in-cluster config`.
    pub via: String,
}

/// A client for `target`, resolved as [`Kubeconfigs`] says. The error names the kubeconfig and
/// the context tried, and `hint` says how to go without a cluster.
pub async fn client(target: &Target, hint: &str) -> anyhow::Result<Client> {
    connect(target, hint).await.map(|c| c.client)
}

/// [`client`], keeping what it was made from.
pub async fn connect(target: &Target, hint: &str) -> anyhow::Result<Connected> {
    let files = Kubeconfigs::from_env(target.kubeconfig.as_deref());
    let what = describe_with(target, &files);
    // kube's infer error repeats its kubeconfig error three times over (700 characters): the
    // root cause alone says why, and it is printed once.
    config(target, &files)
        .await
        .and_then(|(c, via)| {
            Client::try_from(c)
                .map(|client| Connected { client, via })
                .map_err(anyhow::Error::from)
        })
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot connect to a cluster ({what}): {}; {hint}",
                e.root_cause()
            )
        })
}

/// Which cluster `target` means, for an error about reaching it: "context NAME of kubeconfig
/// PATH", or the kubeconfig/in-cluster fallback.
pub fn describe(target: &Target) -> String {
    describe_with(target, &Kubeconfigs::from_env(target.kubeconfig.as_deref()))
}

fn describe_with(target: &Target, files: &Kubeconfigs) -> String {
    let tried = files.describe();
    match &target.context {
        Some(name) => format!("context {name} of kubeconfig {tried}"),
        None => format!("kubeconfig {tried}, else in-cluster config"),
    }
}

async fn config(target: &Target, files: &Kubeconfigs) -> anyhow::Result<(Config, String)> {
    let Some(kubeconfig) = files.load()? else {
        if let Some(name) = &target.context {
            anyhow::bail!(
                "--context {name}: no kubeconfig file exists ({})",
                files.describe()
            );
        }
        // The caller's message already names the kubeconfig tried. Outside a pod the in-cluster
        // error only says an environment variable is unset; inside one it says what is missing.
        let config = Config::incluster().map_err(|e| {
            if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() {
                anyhow::anyhow!("no kubeconfig file exists and the in-cluster config failed: {e}")
            } else {
                anyhow::anyhow!("no kubeconfig file exists and not running in a cluster")
            }
        })?;
        return Ok((config, "in-cluster config".to_string()));
    };
    let context = pick_context(&kubeconfig, target.context.as_deref())
        .with_context(|| format!("kubeconfig {}", files.describe()))?;
    let via = format!("context {context} of kubeconfig {}", files.describe());
    let config = Config::from_custom_kubeconfig(
        kubeconfig,
        &KubeConfigOptions {
            context: Some(context),
            ..KubeConfigOptions::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", crate::redact::serde_error(&e.to_string())))?;
    Ok((config, via))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(
        dir: &Path,
        file: &str,
        server: &str,
        contexts: &[&str],
        current: &str,
    ) -> PathBuf {
        let mut text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n"
        );
        for c in contexts {
            text.push_str(&format!(
                "- name: {c}\n  context:\n    cluster: c\n    user: u\n"
            ));
        }
        if !current.is_empty() {
            text.push_str(&format!("current-context: {current}\n"));
        }
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn env(paths: &[&Path]) -> std::ffi::OsString {
        std::env::join_paths(paths).unwrap()
    }

    fn server_of(kc: &Kubeconfig) -> &str {
        kc.clusters[0]
            .cluster
            .as_ref()
            .unwrap()
            .server
            .as_deref()
            .unwrap()
    }

    #[test]
    fn flag_wins_over_kubeconfig_env_and_home() {
        let env = env(&[Path::new("/a"), Path::new("/b")]);
        let got = Kubeconfigs::locate(
            Some(Path::new("/flag")),
            Some(&env),
            Some(Path::new("/home/u")),
        );
        assert_eq!(got, Kubeconfigs::Flag("/flag".into()));
    }

    #[test]
    fn kubeconfig_env_list_drops_empty_entries_and_wins_over_home() {
        let got = Kubeconfigs::locate(
            None,
            Some(OsStr::new("/a::/b:")),
            Some(Path::new("/home/u")),
        );
        assert_eq!(got, Kubeconfigs::Env(vec!["/a".into(), "/b".into()]));
    }

    #[test]
    fn empty_kubeconfig_env_falls_back_to_home() {
        let got = Kubeconfigs::locate(None, Some(OsStr::new("")), Some(Path::new("/home/u")));
        assert_eq!(got, Kubeconfigs::Home("/home/u/.kube/config".into()));
    }

    #[test]
    fn merged_list_takes_each_entry_and_current_context_from_the_first_file_that_sets_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = kubeconfig(dir.path(), "first", "https://first:6443", &["shared"], "");
        let second = kubeconfig(
            dir.path(),
            "second",
            "https://second:6443",
            &["shared", "only-second"],
            "only-second",
        );
        let third = kubeconfig(
            dir.path(),
            "third",
            "https://third:6443",
            &["third"],
            "third",
        );
        let kc = Kubeconfigs::Env(vec![first, second, third])
            .load()
            .unwrap()
            .unwrap();
        assert_eq!(
            server_of(&kc),
            "https://first:6443",
            "cluster c: the first file wins"
        );
        assert_eq!(kc.clusters.len(), 1);
        let names: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["shared", "only-second", "third"]);
        assert_eq!(
            kc.current_context.as_deref(),
            Some("only-second"),
            "the first file that sets it"
        );
    }

    #[test]
    fn missing_entries_of_the_kubeconfig_list_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let present = kubeconfig(dir.path(), "present", "https://present:6443", &["p"], "p");
        let kc = Kubeconfigs::Env(vec![dir.path().join("absent"), present])
            .load()
            .unwrap()
            .unwrap();
        assert_eq!(server_of(&kc), "https://present:6443");
    }

    #[test]
    fn a_kubeconfig_list_of_missing_files_is_no_kubeconfig() {
        let dir = tempfile::tempdir().unwrap();
        let got = Kubeconfigs::Env(vec![dir.path().join("absent")])
            .load()
            .unwrap();
        assert!(got.is_none());
    }

    #[test]
    fn missing_kubeconfig_flag_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("absent.conf");
        let e = Kubeconfigs::Flag(absent.clone())
            .load()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("--kubeconfig {}: no such file", absent.display())
        );
    }

    #[test]
    fn unreadable_kubeconfig_names_the_file_not_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.conf");
        std::fs::write(&bad, "clusters: \"sekret-token-value\"\n").unwrap();
        let e = format!("{:#}", Kubeconfigs::Flag(bad.clone()).load().unwrap_err());
        assert!(
            e.starts_with(&format!("kubeconfig {}: not a kubeconfig", bad.display())),
            "{e}"
        );
        assert!(!e.contains("sekret"), "{e}");
    }

    #[test]
    fn unknown_context_is_named_with_the_contexts_there_are() {
        let dir = tempfile::tempdir().unwrap();
        let f = kubeconfig(dir.path(), "kc", "https://x:6443", &["a", "b"], "a");
        let kc = Kubeconfigs::Flag(f).load().unwrap().unwrap();
        let e = pick_context(&kc, Some("c")).unwrap_err().to_string();
        assert_eq!(e, "--context c is not in it (contexts: a, b)");
    }

    #[test]
    fn context_flag_wins_over_current_context() {
        let dir = tempfile::tempdir().unwrap();
        let f = kubeconfig(dir.path(), "kc", "https://x:6443", &["a", "b"], "a");
        let kc = Kubeconfigs::Flag(f).load().unwrap().unwrap();
        assert_eq!(pick_context(&kc, Some("b")).unwrap(), "b");
        assert_eq!(pick_context(&kc, None).unwrap(), "a");
    }

    #[test]
    fn no_current_context_asks_for_the_context_flag() {
        let dir = tempfile::tempdir().unwrap();
        let f = kubeconfig(dir.path(), "kc", "https://x:6443", &["a"], "");
        let kc = Kubeconfigs::Flag(f).load().unwrap().unwrap();
        let e = pick_context(&kc, None).unwrap_err().to_string();
        assert_eq!(e, "it sets no current-context: pass --context NAME");
    }
}
