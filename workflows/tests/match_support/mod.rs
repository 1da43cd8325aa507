//! What the match tests share: a fresh store with the match workflows, filling the catalog with
//! the pulls' upserts, running a job to its end, and the reference rule computed by brute force.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dongbo_engine::{
    BackgroundJob, Db, EffectError, Engine, JobId, JobRequest, Registry, SharedStore, StepEffects, StoreTx,
    WorkerConfig, WorkerId,
};
use dongbo_tests::{Backend, TestDb};
use dongbo_workflows::catalog::store::matching::{list_conflicts, list_mappings, MatchKind};
use dongbo_workflows::catalog::store::pulls::{NhanhCustomerRow, ShopifyCustomerRow};
use serde_json::Value;

/// A Nhanh customer with only an id and a mobile field (in any of Nhanh's formats).
pub fn nhanh(id: u64, mobile: &str) -> NhanhCustomerRow {
    NhanhCustomerRow { id, name: None, mobile: Some(mobile.into()), total_amount: Some(1), updated_at: Some(1) }
}

/// A Shopify customer with only a gid and a default phone.
pub fn shopify(id: &str, phone: &str) -> ShopifyCustomerRow {
    ShopifyCustomerRow {
        id: id.into(),
        display_name: None,
        email: None,
        phone: Some(phone.into()),
        address_phone: None,
        amount_spent: None,
        total_spent: None,
        updated_at: None,
    }
}

/// A fresh store with the match job types registered.
pub struct Harness {
    pub store: SharedStore,
    pub engine: Engine,
    pub db: TestDb,
}

impl Harness {
    pub async fn new(backend: Backend) -> Option<Harness> {
        let db = dongbo_tests::fresh_db(backend).await?;
        let store = dongbo_workflows::open(&db.url).await.expect("open store");
        let mut registry = Registry::new();
        dongbo_workflows::matching::register(&mut registry);
        let engine = Engine::new(store.clone(), registry);
        Some(Harness { store, engine, db })
    }

    pub fn with_registry(&mut self, registry: Registry) {
        self.engine = Engine::new(self.store.clone(), registry);
    }

    pub fn db(&self) -> Db {
        self.store.db()
    }

    /// Requests a job and drives it to its end on one in-process worker.
    pub async fn run(&self, job_type: &str, input: Value) -> BackgroundJob {
        let id = self.engine.request(JobRequest::new(job_type, input)).await.expect("request").job.id;
        self.finish(id).await
    }

    pub async fn finish(&self, id: JobId) -> BackgroundJob {
        let mut config = WorkerConfig::new(WorkerId::new("match-test"));
        config.lease = Duration::from_secs(60);
        let worker = self.engine.worker(config);
        for _ in 0..100_000 {
            let job = self.store.job(id).await.unwrap().unwrap();
            if job.status.is_finished() {
                return job;
            }
            worker.run_once().await.expect("run");
        }
        panic!("job {id} did not finish");
    }

    pub async fn apply(&self, effects: impl StepEffects) {
        apply(&self.db(), effects).await
    }

    /// `(nhanh, shopify, method, key)` of every non-manual mapping, and every mapping's state.
    pub async fn mappings(&self, kind: MatchKind) -> BTreeSet<(i64, String, String, String)> {
        list_mappings(&self.db(), kind)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.method != "manual")
            .map(|m| (m.nhanh_id, m.shopify_id.unwrap_or_default(), m.method, m.match_key.unwrap_or_default()))
            .collect()
    }

    /// `key → (nhanh candidates, shopify candidates)` of every recorded conflict.
    pub async fn conflicts(&self, kind: MatchKind) -> BTreeMap<String, (Vec<i64>, Vec<String>)> {
        list_conflicts(&self.db(), kind)
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.key, (c.nhanh_ids, c.shopify_ids)))
            .collect()
    }
}

/// Applies effects in a transaction of their own, as a step would.
pub async fn apply(db: &Db, effects: impl StepEffects) {
    try_apply(db, effects).await.expect("apply effects");
}

/// As [`apply`], returning the effects' error, if any (the transaction then rolled back).
pub async fn try_apply(db: &Db, effects: impl StepEffects) -> Result<(), EffectError> {
    match db {
        Db::Sqlite(pool) => {
            let mut tx = pool.begin().await.unwrap();
            effects.apply(StoreTx::Sqlite(&mut tx)).await?;
            tx.commit().await.unwrap();
        }
        Db::Postgres(pool) => {
            let mut tx = pool.begin().await.unwrap();
            effects.apply(StoreTx::Postgres(&mut tx)).await?;
            tx.commit().await.unwrap();
        }
    }
    Ok(())
}

/// Mappings `(nhanh id, shopify id, smallest shared key)`.
pub type Mappings = BTreeSet<(i64, String, String)>;
/// Conflicts: key → (Nhanh holders, Shopify holders).
pub type Conflicts = BTreeMap<String, (Vec<i64>, Vec<String>)>;

/// The matching rule by brute force over whole records: `nhanh`/`shopify` are the eligible
/// records with their keys. Returns mappings `(n, s, smallest shared key)` and conflicts.
pub fn reference(nhanh: &[(i64, Vec<String>)], shopify: &[(String, Vec<String>)]) -> (Mappings, Conflicts) {
    let c_n = |n: &(i64, Vec<String>)| -> BTreeSet<String> {
        shopify.iter().filter(|s| s.1.iter().any(|k| n.1.contains(k))).map(|s| s.0.clone()).collect()
    };
    let c_s = |s: &(String, Vec<String>)| -> BTreeSet<i64> {
        nhanh.iter().filter(|n| n.1.iter().any(|k| s.1.contains(k))).map(|n| n.0).collect()
    };
    let paired = |n: &(i64, Vec<String>), s: &(String, Vec<String>)| {
        c_n(n) == BTreeSet::from([s.0.clone()]) && c_s(s) == BTreeSet::from([n.0])
    };
    let mut mappings = BTreeSet::new();
    for n in nhanh {
        for s in shopify {
            if paired(n, s) {
                let key = n.1.iter().filter(|k| s.1.contains(k)).min().unwrap().clone();
                mappings.insert((n.0, s.0.clone(), key));
            }
        }
    }
    let keys: BTreeSet<&String> = nhanh.iter().flat_map(|n| n.1.iter()).collect();
    let mut conflicts = BTreeMap::new();
    for k in keys {
        let nk: Vec<&(i64, Vec<String>)> = nhanh.iter().filter(|n| n.1.contains(k)).collect();
        let sk: Vec<&(String, Vec<String>)> = shopify.iter().filter(|s| s.1.contains(k)).collect();
        if sk.is_empty() {
            continue;
        }
        if nk.len() > 1 || sk.len() > 1 {
            let mut n_ids: Vec<i64> = nk.iter().map(|n| n.0).collect();
            n_ids.sort();
            let mut s_ids: Vec<String> = sk.iter().map(|s| s.0.clone()).collect();
            s_ids.sort();
            conflicts.insert(k.clone(), (n_ids, s_ids));
        } else if !paired(nk[0], sk[0]) {
            conflicts.insert(k.clone(), (c_s(sk[0]).into_iter().collect(), c_n(nk[0]).into_iter().collect()));
        }
    }
    (mappings, conflicts)
}
