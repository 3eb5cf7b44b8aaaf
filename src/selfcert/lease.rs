//! Who writes: a `coordination.k8s.io/v1` Lease, held by renewing it, taken over once its
//! holder stops renewing for `leaseDurationSeconds`. Every change is a create (fails with 409
//! when another replica created it first) or a replace carrying the resourceVersion that was
//! read (fails with 409 when another replica wrote in between): the API server's optimistic
//! concurrency is the lock, as in client-go's `leaderelection`.
//!
//! Not taken from a crate: kube-lease-manager reads the wall clock itself and writes with
//! server-side apply, and tlsgate's tests drive time as a parameter against an in-process API
//! server. The protocol is the ~60 lines below.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};

/// The outcome of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// This replica holds the lease for `leaseDurationSeconds` from `now`.
    ByUs,
    /// Someone else does (their identity, empty when unknown).
    ByOther(String),
}

pub struct Elector {
    pub api: Api<Lease>,
    pub name: String,
    pub identity: String,
    pub duration_seconds: i32,
}

fn micro(unix: i64) -> Option<MicroTime> {
    Timestamp::from_second(unix).ok().map(MicroTime)
}

impl Elector {
    /// Acquires or renews the lease at `now`.
    pub async fn try_hold(&self, now: i64) -> Result<Held, kube::Error> {
        let Some(current) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(now, None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Held::ByUs),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(Held::ByOther(String::new())),
                Err(e) => Err(e),
            };
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let renewed = spec
            .renew_time
            .as_ref()
            .or(spec.acquire_time.as_ref())
            .map(|t| t.0.as_second())
            .unwrap_or(i64::MIN / 2);
        let duration = i64::from(spec.lease_duration_seconds.unwrap_or(self.duration_seconds));
        let ours = holder == self.identity;
        if !ours && !holder.is_empty() && now < renewed + duration {
            return Ok(Held::ByOther(holder));
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        let acquired = if ours { spec.acquire_time } else { micro(now) };
        let mut next = current;
        next.spec = Some(self.spec(now, acquired, transitions));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &next)
            .await
        {
            Ok(_) => Ok(Held::ByUs),
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(Held::ByOther(holder)),
            Err(e) => Err(e),
        }
    }

    fn spec(&self, now: i64, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration_seconds),
            acquire_time: acquired.or_else(|| micro(now)),
            renew_time: micro(now),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }
}
