//! `serve --self-managed-certs`: tlsgate makes its own CA and serving certificate, keeps them
//! in a Secret, writes the CA into its webhook configuration's caBundle, and renews both, for
//! clusters without cert-manager. Never the galley outage: the webhook's own certificate is
//! renewed long before it ends, and a CA rollover never leaves the API server distrusting what
//! tlsgate serves.
//!
//! ```text
//!   every replica                                   the Lease holder (one replica)
//!   ─────────────                                   ──────────────────────────────
//!   watch Secret ─> load_pair ─> CertStore::set     Lease renew ─> read Secret + webhook config
//!                                                     ─> plan::plan(stored, published, now)
//!   watch webhook config ─┐                           ─> State::apply ─> PUT Secret
//!   watch Secret ─────────┴─> wake the writer         ─> PATCH webhooks[].clientConfig.caBundle
//! ```
//!
//! Decisions are in [`plan`] (pure, `now` is a parameter), key and certificate generation in
//! [`state`], leader election in [`lease`]; this module only moves bytes to and from the API.
//!
//! # The Secret (`--cert-secret-name` in `--namespace`, type `kubernetes.io/tls`)
//!
//! | key              | holds                                                                 |
//! |------------------|-----------------------------------------------------------------------|
//! | `tls.crt`        | the serving certificate (leaf only), what every replica serves        |
//! | `tls.key`        | its private key (PKCS#8 PEM, ECDSA P-256)                             |
//! | `ca.crt`         | the bundle every webhook's `caBundle` must equal: 1 CA, 2 in rollover |
//! | `ca-signing.crt` | the CA that signs `tls.crt`                                           |
//! | `ca.key`         | its private key                                                       |
//! | `ca-next.crt`    | during a rollover, before promotion: the new CA, already in `ca.crt`   |
//! | `ca-next.key`    | its private key                                                       |
//!
//! Key material never appears in a log line, an error or a `Debug` print.

pub mod lease;
pub mod plan;
pub mod state;

use crate::analysis::{rfc3339, Analyzer, SecretData};
use crate::webhook::metrics::Metrics;
use crate::webhook::tls::{self, CertStore, Loaded};
use futures::StreamExt;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, watcher, Event};
use kube::runtime::WatchStreamExt;
use kube::Client;
use plan::{Action, Published, Schedule, ServiceName};
use sha2::Digest;
use state::State;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tokio::task::AbortHandle;

/// Where everything lives, from the command line.
#[derive(Clone, Debug)]
pub struct Config {
    pub names: ServiceName,
    pub webhook_config: String,
    pub secret: String,
    pub lease: String,
    /// This replica's name in the Lease (the pod name).
    pub identity: String,
    pub lease_duration_seconds: i32,
    pub schedule: Schedule,
}

impl Config {
    fn namespace(&self) -> &str {
        &self.names.namespace
    }
}

/// The clock, injected so tests can step through years.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Kube(#[from] kube::Error),
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{0} kept changing under tlsgate; will retry")]
    Conflict(String),
}

/// What one [`Writer::tick`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tick {
    /// Another replica holds the Lease; nothing was written.
    NotLeader { holder: String },
    /// The Lease is ours; these actions were carried out (Publish included), and nothing
    /// is due before `next_at`.
    Wrote { actions: Vec<Action>, next_at: i64 },
}

/// The replica that holds the Lease keeps the Secret and the caBundle right.
pub struct Writer {
    cfg: Config,
    secrets: Api<Secret>,
    webhooks: Api<ValidatingWebhookConfiguration>,
    elector: lease::Elector,
    /// Digest of the webhook configuration's caBundles and when it was first seen so.
    published_seen: Mutex<Option<([u8; 32], i64)>>,
}

/// More steps than any real sequence needs (bootstrap + publish is the longest).
const MAX_STEPS_PER_TICK: usize = 8;

impl Writer {
    pub fn new(client: Client, cfg: Config) -> Self {
        let ns = cfg.namespace().to_string();
        Writer {
            secrets: Api::namespaced(client.clone(), &ns),
            webhooks: Api::all(client.clone()),
            elector: lease::Elector {
                api: Api::namespaced(client, &ns),
                name: cfg.lease.clone(),
                identity: cfg.identity.clone(),
                duration_seconds: cfg.lease_duration_seconds,
            },
            cfg,
            published_seen: Mutex::new(None),
        }
    }

    /// Holds (or tries to take) the Lease at `now`; if held, plans and applies steps until
    /// nothing is due.
    pub async fn tick(&self, now: i64) -> Result<Tick, Error> {
        match self.elector.try_hold(now).await? {
            lease::Held::ByOther(holder) => return Ok(Tick::NotLeader { holder }),
            lease::Held::ByUs => {}
        }
        let mut actions = Vec::new();
        for _ in 0..MAX_STEPS_PER_TICK {
            let secret = self.secrets.get_opt(&self.cfg.secret).await?;
            let data = secret_data(secret.as_ref());
            let (mut st, problems) = State::from_data(&data);
            for p in &problems {
                tracing::warn!(secret = %self.cfg.secret, problem = %p, "ignoring unusable data in the serving Secret");
            }
            let config = self.webhooks.get_opt(&self.cfg.webhook_config).await?;
            let published = self.published(config.as_ref(), st.bundle_pem().as_bytes(), now);
            let d = plan::plan(
                &st.stored(),
                &published,
                &self.cfg.names,
                &self.cfg.schedule,
                now,
            );
            if let Action::Idle { next_at } = d.action {
                return Ok(Tick::Wrote { actions, next_at });
            }
            tracing::info!(action = ?ActionName(&d.action), reason = %d.why, "self-managed certificates");
            if d.action == Action::Publish {
                if let Some(c) = &config {
                    self.publish(c, st.bundle_pem().as_bytes()).await?;
                }
            } else {
                st.apply(&d.action, &self.cfg.names, &self.cfg.schedule, now)?;
                self.write_secret(secret, &st).await?;
            }
            actions.push(d.action);
        }
        Err(Error::Conflict(format!(
            "Secret {} or ValidatingWebhookConfiguration {}",
            self.cfg.secret, self.cfg.webhook_config
        )))
    }

    fn published(
        &self,
        config: Option<&ValidatingWebhookConfiguration>,
        want: &[u8],
        now: i64,
    ) -> Published {
        let bundles: Vec<Vec<u8>> = config
            .and_then(|c| c.webhooks.as_ref())
            .map(|ws| {
                ws.iter()
                    .map(|w| w.client_config.ca_bundle.clone().unwrap_or_default().0)
                    .collect()
            })
            .unwrap_or_default();
        let mut h = sha2::Sha256::new();
        for b in &bundles {
            h.update((b.len() as u64).to_be_bytes());
            h.update(b);
        }
        let digest: [u8; 32] = h.finalize().into();
        let since = {
            let mut seen = self
                .published_seen
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match *seen {
                Some((d, t)) if d == digest => t,
                _ => {
                    *seen = Some((digest, now));
                    now
                }
            }
        };
        Published {
            webhooks: bundles
                .iter()
                .map(|b| {
                    crate::analysis::parse_bundle(b, crate::analysis::Role::CaBundle)
                        .certs
                        .iter()
                        .map(|c| c.sha256)
                        .collect()
                })
                .collect(),
            in_sync: bundles.iter().all(|b| b == want),
            since,
        }
    }

    /// A strategic merge patch naming each webhook (the list's merge key) and the
    /// resourceVersion that was read, so a concurrent `kubectl apply` makes it fail with 409
    /// rather than be overwritten half-way.
    async fn publish(
        &self,
        c: &ValidatingWebhookConfiguration,
        bundle: &[u8],
    ) -> Result<(), Error> {
        let webhooks: Vec<serde_json::Value> = c
            .webhooks
            .iter()
            .flatten()
            .map(|w| {
                serde_json::json!({
                    "name": w.name,
                    "clientConfig": { "caBundle": ByteString(bundle.to_vec()) },
                })
            })
            .collect();
        let patch = serde_json::json!({
            "metadata": { "resourceVersion": c.metadata.resource_version },
            "webhooks": webhooks,
        });
        match self
            .webhooks
            .patch(
                &self.cfg.webhook_config,
                &PatchParams::default(),
                &Patch::Strategic(patch),
            )
            .await
        {
            Ok(_) => {
                tracing::info!(webhook_config = %self.cfg.webhook_config, webhooks = webhooks.len(), "caBundle written");
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 409 => Err(Error::Conflict(format!(
                "ValidatingWebhookConfiguration {}",
                self.cfg.webhook_config
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the Secret, or replaces it carrying the resourceVersion that was read.
    async fn write_secret(&self, read: Option<Secret>, st: &State) -> Result<(), Error> {
        let data = st
            .to_data()
            .into_iter()
            .map(|(k, v)| (k, ByteString(v)))
            .collect();
        let pp = PostParams::default();
        let result = match read {
            Some(mut s) => {
                s.data = Some(data);
                s.string_data = None;
                self.secrets.replace(&self.cfg.secret, &pp, &s).await
            }
            None => {
                let s = Secret {
                    metadata: kube::api::ObjectMeta {
                        name: Some(self.cfg.secret.clone()),
                        namespace: Some(self.cfg.namespace().to_string()),
                        labels: Some(
                            [("app.kubernetes.io/name".to_string(), "tlsgate".to_string())].into(),
                        ),
                        ..Default::default()
                    },
                    type_: Some("kubernetes.io/tls".into()),
                    data: Some(data),
                    ..Default::default()
                };
                self.secrets.create(&pp, &s).await
            }
        };
        match result {
            Ok(_) => {
                if let Some(s) = &st.serving {
                    tracing::info!(
                        secret = %self.cfg.secret,
                        serving_not_after = %rfc3339(s.info.not_after),
                        serving_sha256 = %s.info.fingerprint_hex(),
                        cas = st.bundle.len(),
                        "serving Secret written"
                    );
                }
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                Err(Error::Conflict(format!("Secret {}", self.cfg.secret)))
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Logs an action without the retired fingerprints' bytes.
struct ActionName<'a>(&'a Action);

impl std::fmt::Debug for ActionName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Action::RetireOldCas(v) => write!(f, "RetireOldCas({})", v.len()),
            a => write!(f, "{a:?}"),
        }
    }
}

fn secret_data(s: Option<&Secret>) -> SecretData {
    s.and_then(|s| s.data.as_ref())
        .map(|d| d.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect())
        .unwrap_or_default()
}

/// Follows the Secret and hands every valid new pair to `tx`. Runs until the task is
/// dropped. `wake` is notified on every change (a deleted Secret must be recreated).
pub async fn follow_secret(
    client: Client,
    cfg: Config,
    analyzer: Arc<Analyzer>,
    clock: Clock,
    metrics: Option<Arc<Metrics>>,
    tx: mpsc::UnboundedSender<Loaded>,
    wake: Arc<Notify>,
) {
    let api: Api<Secret> = Api::namespaced(client, cfg.namespace());
    let wc = watcher::Config::default().fields(&format!("metadata.name={}", cfg.secret));
    let mut stream = std::pin::pin!(watcher(api, wc).default_backoff());
    let mut seen: Option<[u8; 32]> = None;
    while let Some(ev) = stream.next().await {
        let s = match ev {
            Ok(Event::Apply(s) | Event::InitApply(s)) => s,
            Ok(Event::Delete(_)) => {
                tracing::warn!(secret = %cfg.secret, "serving Secret deleted; still serving the last pair until it is recreated");
                wake.notify_one();
                continue;
            }
            Ok(Event::Init | Event::InitDone) => continue,
            Err(e) => {
                tracing::warn!(secret = %cfg.secret, error = %e, "watching the serving Secret failed; retrying");
                continue;
            }
        };
        wake.notify_one();
        let data = secret_data(Some(&s));
        let (Some(cert), Some(key)) = (data.get(state::TLS_CRT), data.get(state::TLS_KEY)) else {
            continue;
        };
        let digest: [u8; 32] = sha2::Sha256::new()
            .chain_update(cert)
            .chain_update([0])
            .chain_update(key)
            .finalize()
            .into();
        if seen == Some(digest) {
            continue;
        }
        seen = Some(digest);
        match tls::load_pair(cert, key, clock(), &analyzer) {
            Ok(loaded) => {
                if tx.send(loaded).is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::error!(secret = %cfg.secret, reason = %e, "serving Secret holds an unusable pair; still serving the last good one");
                if let Some(m) = &metrics {
                    m.serving_cert_reload_errors.inc();
                }
            }
        }
    }
}

/// Wakes `wake` whenever the webhook configuration changes (a `kubectl apply` may have
/// emptied its caBundle).
pub async fn follow_webhook_config(client: Client, cfg: Config, wake: Arc<Notify>) {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client);
    let wc = watcher::Config::default().fields(&format!("metadata.name={}", cfg.webhook_config));
    let mut stream = std::pin::pin!(watcher(api, wc).default_backoff());
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(_) | Event::Delete(_) | Event::InitDone) => wake.notify_one(),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(webhook_config = %cfg.webhook_config, error = %e, "watching the webhook configuration failed; retrying")
            }
        }
    }
}

/// The writer loop: a tick at every wake-up and at least every `interval` (which also
/// renews the Lease, so keep it well under the Lease duration).
pub async fn write_loop(writer: Writer, clock: Clock, wake: Arc<Notify>, interval: Duration) {
    let mut leading = false;
    loop {
        match writer.tick(clock()).await {
            Ok(Tick::NotLeader { holder }) => {
                if leading {
                    tracing::warn!(lease = %writer.cfg.lease, %holder, "lost the Lease; another replica writes certificates now");
                }
                leading = false;
            }
            Ok(Tick::Wrote { actions, next_at }) => {
                if !leading || !actions.is_empty() {
                    tracing::info!(lease = %writer.cfg.lease, next_check = %rfc3339(next_at), "this replica writes the self-managed certificates");
                }
                leading = true;
            }
            Err(e) => tracing::warn!(error = %e, "self-managed certificates: will retry"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Running self-managed certificates. Dropping it stops every task.
pub struct SelfManaged {
    pub store: Arc<CertStore>,
    tasks: Vec<AbortHandle>,
}

impl Drop for SelfManaged {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the writer (Lease-guarded) and the webhook configuration watch, then serves from
/// the Secret as [`serve_from_secret`] does: returns once the Secret holds a valid pair.
pub async fn start(
    client: Client,
    cfg: Config,
    analyzer: Arc<Analyzer>,
    clock: Clock,
    metrics: Option<Arc<Metrics>>,
    interval: Duration,
) -> SelfManaged {
    let wake = Arc::new(Notify::new());
    let writers = vec![
        tokio::spawn(write_loop(
            Writer::new(client.clone(), cfg.clone()),
            clock.clone(),
            wake.clone(),
            interval,
        ))
        .abort_handle(),
        tokio::spawn(follow_webhook_config(
            client.clone(),
            cfg.clone(),
            wake.clone(),
        ))
        .abort_handle(),
    ];
    let mut writers = SelfManagedTasks(writers);
    let mut running = serve_from_secret(client, cfg, analyzer, clock, metrics, wake).await;
    running.tasks.append(&mut writers.0);
    running
}

/// Aborts its tasks if dropped before they are handed over (the caller gave up waiting).
struct SelfManagedTasks(Vec<AbortHandle>);

impl Drop for SelfManagedTasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Follows the Secret; returns once it holds a valid serving pair, with the store that
/// every later valid pair goes into. What every replica runs, leader or not. `wake` is
/// notified on every change of the Secret.
pub async fn serve_from_secret(
    client: Client,
    cfg: Config,
    analyzer: Arc<Analyzer>,
    clock: Clock,
    metrics: Option<Arc<Metrics>>,
    wake: Arc<Notify>,
) -> SelfManaged {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let clock_for_logs = clock.clone();
    let mut tasks = SelfManagedTasks(vec![tokio::spawn(follow_secret(
        client,
        cfg.clone(),
        analyzer,
        clock,
        metrics.clone(),
        tx,
        wake,
    ))
    .abort_handle()]);
    tracing::info!(
        secret = %format!("{}/{}", cfg.namespace(), cfg.secret),
        lease = %cfg.lease,
        "not serving until the serving Secret holds a valid certificate (the replica holding the Lease writes it)"
    );
    // The sender lives in a task that only ends when aborted.
    let first = match rx.recv().await {
        Some(f) => f,
        None => std::future::pending().await,
    };
    log_loaded(&first, "serving certificate loaded from the Secret");
    if let Some(m) = &metrics {
        m.serving_cert_not_after.set(first.not_after);
    }
    let store = CertStore::new(first);
    let s = store.clone();
    tasks.0.push(
        tokio::spawn(async move {
            while let Some(next) = rx.recv().await {
                log_loaded(&next, "serving certificate reloaded from the Secret");
                if let Some(m) = &metrics {
                    m.serving_cert_not_after.set(next.not_after);
                    m.serving_cert_reloads.inc();
                }
                s.set(next);
            }
        })
        .abort_handle(),
    );
    tasks
        .0
        .push(tokio::spawn(log_expiry(store.clone(), clock_for_logs)).abort_handle());
    SelfManaged {
        store,
        tasks: std::mem::take(&mut tasks.0),
    }
}

/// The same daily warnings as file mode (30 days before expiry) and errors (7 days). With
/// renewal at 2/3 of a year they only appear when the writer has been failing for months.
async fn log_expiry(store: Arc<CertStore>, clock: Clock) {
    let mut last_day = i64::MIN;
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        ticker.tick().await;
        let (now, not_after) = (clock(), store.not_after());
        if now / 86_400 == last_day {
            continue;
        }
        let left = crate::analysis::human_duration(not_after - now);
        match crate::webhook::reload::expiry_level(not_after, now) {
            Some(tracing::Level::ERROR) => tracing::error!(
                not_after = %rfc3339(not_after),
                "serving certificate expires in {left} and has not been renewed: check the writer's logs (Lease holder) and its RBAC"
            ),
            Some(_) => tracing::warn!(
                not_after = %rfc3339(not_after),
                "serving certificate expires in {left} and has not been renewed"
            ),
            None => continue,
        }
        last_day = now / 86_400;
    }
}

fn log_loaded(l: &Loaded, msg: &str) {
    tracing::info!(subject = %l.subject, not_after = %rfc3339(l.not_after), sha256 = %l.fingerprint, "{msg}");
}
#[cfg(test)]
mod tests;
