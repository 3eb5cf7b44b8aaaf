//! `tlsgate lint [PATH|-]...`: the same checks as the webhook, offline, for CD pipelines.

use crate::analysis::Analyzer;
use crate::policy::Policy;
use anyhow::Context;
use clap::ValueEnum;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Output {
    /// One block per object, one sentence per finding.
    Text,
    /// `findings[]` (code, severity, object, path, message, source) and `summary`.
    Json,
    /// SARIF 2.1.0 for code-scanning UIs (GitHub code scanning, GitLab).
    Sarif,
    /// JUnit XML, one testcase per checked object, for CI test reports.
    Junit,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files or directories (recursive *.yaml|*.yml|*.json); `-` reads stdin.
    #[arg(value_name = "PATH", required_unless_present_any = ["filenames", "kustomize"])]
    pub paths: Vec<PathBuf>,
    /// A file or directory to check, as with `kubectl apply -f` (the same as a PATH). Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "PATH")]
    pub filenames: Vec<PathBuf>,
    /// A kustomization directory to build (with `kubectl kustomize`) and check, as with
    /// `kubectl apply -k`. Findings point at the files the objects come from when the
    /// kustomization sets `buildMetadata: [originAnnotations]`, else at its kustomization.yaml.
    #[arg(short = 'k', long = "kustomize", value_name = "DIR")]
    pub kustomize: Vec<PathBuf>,
    /// Accepted for kubectl's `-R`: directories are always read recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// The file standard input stands for (as eslint and ruff take it), or the kustomization or
    /// chart it was rendered from: `--stdin-filename overlays/prod/kustomization.yaml`. Names
    /// `-` in output, and roots the paths of kustomize origin annotations and helm `# Source:`
    /// comments so SARIF and JUnit results point at real files.
    #[arg(long, value_name = "NAME")]
    pub stdin_filename: Option<String>,
    /// Check as of this time (RFC 3339), for reproducible CI runs. Default: now.
    #[arg(long, value_parser = crate::parse_time)]
    pub now: Option<i64>,
    /// Policy file (YAML): severities, expiryWarningDays, excludeNamespaces.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[arg(long, short = 'o', value_enum, default_value = "text")]
    pub output: Output,
    /// Where Istio gateway workloads run (credentials are read there).
    #[arg(long)]
    pub gateway_namespace: Option<String>,
    #[command(flatten)]
    pub cert_manager: super::CertManagerArgs,
    /// Warn about certificates expiring within this many days (overrides the policy file).
    #[arg(long)]
    pub expiry_warning_days: Option<i64>,
    /// Exit 1 on findings of this severity or worse: `deny` (what the webhook would refuse)
    /// or `warn` (a strict pipeline, e.g. fail a month before a certificate expires).
    #[arg(long, value_enum, default_value = "deny")]
    pub fail_on: FailOn,
    /// Exit 0 when the input holds nothing tlsgate checks. Without it that is exit 2: an empty
    /// pipe or a mistyped directory must not pass a CI gate.
    #[arg(long)]
    pub allow_empty: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum FailOn {
    Deny,
    Warn,
}

pub fn load_policy(
    config: Option<&PathBuf>,
    gateway_namespace: Option<String>,
    days: Option<i64>,
    cert_manager: &super::CertManagerArgs,
) -> anyhow::Result<Policy> {
    let mut policy = match config {
        Some(p) => Policy::from_file(p)?,
        None => Policy::default(),
    };
    if let Some(ns) = gateway_namespace {
        policy.gateway_namespace = ns;
    }
    if let Some(ns) = &cert_manager.cluster_resource_namespace {
        anyhow::ensure!(
            !ns.is_empty(),
            "--cluster-resource-namespace must not be empty"
        );
        policy.cluster_resource_namespace = ns.clone();
    }
    if let Some(d) = days {
        anyhow::ensure!(d >= 0, "--expiry-warning-days must not be negative");
        policy.expiry_warning_days = d;
    }
    Ok(policy)
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let policy = load_policy(
        args.config.as_ref(),
        args.gateway_namespace,
        args.expiry_warning_days,
        &args.cert_manager,
    )?;
    let mut paths = args.paths;
    paths.extend(args.filenames);
    // Streamed: each document is indexed and dropped as it is parsed.
    let mut sink = crate::lint::LintSink::new(Arc::new(Analyzer::new()));
    crate::load::visit_paths_as(&paths, args.stdin_filename.as_deref(), &mut sink)
        .context("cannot load manifests")?;
    for dir in &args.kustomize {
        let text = kustomize(dir)?;
        let name = kustomization_file(dir);
        crate::load::load_rendered(&text, &name, Some(dir.clone()), &mut sink);
        paths.push(dir.clone());
    }
    let now = args.now.unwrap_or_else(crate::wall_clock);
    let documents = sink.documents();
    let subjects = (args.output == Output::Junit).then(|| sink.subjects());
    let report = sink.finish(&policy, now);
    if report.summary.objects == 0 && report.findings.is_empty() && !args.allow_empty {
        anyhow::bail!(
            "nothing to check in {}: {}; pass --allow-empty if that is expected",
            names(&paths),
            match documents {
                0 => "no documents".to_string(),
                1 => "1 document, not of a kind tlsgate checks".to_string(),
                n => format!("{n} documents, none of a kind tlsgate checks"),
            }
        );
    }
    if args.output == Output::Sarif {
        let unplaced = report
            .findings
            .iter()
            .filter(|e| crate::report::sarif::location(e.source.as_ref()).is_none())
            .count();
        anyhow::ensure!(
            unplaced == 0,
            "cannot write SARIF: {unplaced} findings come from standard input with no file to \
             point at, and code scanning drops such results; pass --stdin-filename NAME (the \
             kustomization.yaml or chart the stream was rendered from), set `buildMetadata: \
             [originAnnotations]` in the kustomization, or lint with -k DIR or the files directly"
        );
    }
    let text = match args.output {
        Output::Json => report.to_json() + "\n",
        Output::Text => {
            report.to_text(super::ColorWhen::Auto.enabled(std::io::stdout().is_terminal()))
        }
        Output::Sarif => report.to_sarif(),
        Output::Junit => report.to_junit(subjects.as_deref().unwrap_or_default()),
    };
    write_stdout(&text)?;
    let failing = match args.fail_on {
        FailOn::Deny => report.has_deny(),
        FailOn::Warn => report.has_deny() || report.summary.warn > 0,
    };
    Ok(if failing {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `kubectl kustomize DIR`: the same build `kubectl apply -k DIR` applies.
fn kustomize(dir: &std::path::Path) -> anyhow::Result<String> {
    let out = match std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "-k {}: needs kubectl on PATH to run `kubectl kustomize`; install kubectl, or pipe \
             the build: `kustomize build {0} | tlsgate lint --stdin-filename {0}/kustomization.yaml -`",
            dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("-k {}: cannot run kubectl", dir.display())),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or_default();
        anyhow::bail!(
            "-k {}: `kubectl kustomize` failed ({}): {}",
            dir.display(),
            out.status,
            first.chars().take(300).collect::<String>()
        );
    }
    String::from_utf8(out.stdout).with_context(|| {
        format!(
            "-k {}: `kubectl kustomize` printed non-UTF-8",
            dir.display()
        )
    })
}

/// The kustomization file in `dir`, under the names kustomize accepts; the findings of objects
/// that nothing attributes point at it.
fn kustomization_file(dir: &std::path::Path) -> String {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join("kustomization.yaml"))
        .display()
        .to_string()
}

fn names(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths
        .iter()
        .map(|p| match p.to_str() {
            Some("-") => "standard input".to_string(),
            _ => p.display().to_string(),
        })
        .collect();
    names.join(", ")
}

/// Writes to stdout; a closed pipe (`tlsgate lint ... | head`) is not an error.
pub fn write_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
