//! The pure core of the dispatcher: what each claimed delivery needs next, with deliveries older
//! than what was already acted on for the same item dropped.
//!
//! Per item the store keeps the newest source time acted on. A claimed batch is read against
//! it: a touch whose time is older than the item's is stale and dropped (the same time is not:
//! source times count whole seconds, and a replay is already caught by its event id); among the batch's
//! touches of one item only the newest counts. So whatever order two deliveries of an item
//! arrive in, the older never wins: arriving first it is superseded in the same batch or acted
//! on and then outdated; arriving last it is dropped.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::{Touch, Touched};
use crate::jobs;

/// Where a claimed delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Just recorded.
    Fresh,
    /// The pull it needed first has finished.
    Pulled,
}

/// A claimed delivery, as the plan reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The delivery id.
    pub id: i64,
    /// What it is about.
    pub touches: Vec<Touched>,
    /// Where it is.
    pub stage: Stage,
}

/// A job the dispatcher may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobKind {
    /// `PRODUCT_SYNC` of some mappings (forced: Nhanh's number is re-asserted).
    ProductSync,
    /// `CUSTOMER_SYNC` of some mappings.
    CustomerSync,
    /// Incremental `PULL_NHANH_PRODUCTS`.
    PullNhanhProducts,
    /// Full `PULL_NHANH_PRODUCTS` (sees removals).
    PullNhanhProductsFull,
    /// Incremental `PULL_NHANH_CUSTOMERS`.
    PullNhanhCustomers,
    /// `PULL_SHOPIFY_CUSTOMERS` of the changed customers.
    PullShopifyCustomers,
    /// Full `PULL_SHOPIFY_CUSTOMERS` (sees removals).
    PullShopifyCustomersFull,
    /// `PULL_SHOPIFY_PRODUCTS` of the changed products.
    PullShopifyProducts,
    /// Full `PULL_SHOPIFY_PRODUCTS` (sees removals).
    PullShopifyProductsFull,
    /// `AUTO_MATCH_PRODUCTS`.
    MatchProducts,
    /// `AUTO_MATCH_CUSTOMERS`.
    MatchCustomers,
}

impl JobKind {
    /// The job type.
    pub fn job_type(self) -> &'static str {
        match self {
            JobKind::ProductSync => jobs::PRODUCT_SYNC,
            JobKind::CustomerSync => jobs::CUSTOMER_SYNC,
            JobKind::PullNhanhProducts | JobKind::PullNhanhProductsFull => jobs::PULL_NHANH_PRODUCTS,
            JobKind::PullNhanhCustomers => jobs::PULL_NHANH_CUSTOMERS,
            JobKind::PullShopifyCustomers | JobKind::PullShopifyCustomersFull => jobs::PULL_SHOPIFY_CUSTOMERS,
            JobKind::PullShopifyProducts | JobKind::PullShopifyProductsFull => jobs::PULL_SHOPIFY_PRODUCTS,
            JobKind::MatchProducts => jobs::AUTO_MATCH_PRODUCTS,
            JobKind::MatchCustomers => jobs::AUTO_MATCH_CUSTOMERS,
        }
    }

    /// Whether the job pushes to Shopify (refused while the app is uninstalled).
    pub fn pushes(self) -> bool {
        matches!(self, JobKind::ProductSync | JobKind::CustomerSync)
    }

    /// Whether something follows this job for its deliveries (they wait for it).
    pub fn is_first_of_two(self, touches: &[Touch]) -> bool {
        touches.iter().any(|t| second_step(t).is_some())
    }

    /// The input of a pull or match job for `touches` (the syncs' inputs need mapping ids: see
    /// [`sync_input`]).
    pub fn input(self, touches: &[Touch]) -> Value {
        match self {
            JobKind::PullNhanhProducts | JobKind::PullNhanhCustomers => json!({"mode": "incremental"}),
            JobKind::PullNhanhProductsFull => json!({"mode": "full"}),
            JobKind::PullShopifyCustomersFull | JobKind::PullShopifyProductsFull => json!({}),
            JobKind::PullShopifyCustomers | JobKind::PullShopifyProducts => {
                let mut ids: Vec<i64> = touches
                    .iter()
                    .filter_map(|t| match t {
                        Touch::ShopifyCustomer { id, .. } | Touch::ShopifyProduct { id, .. } => Some(*id),
                        _ => None,
                    })
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                match ids.as_slice() {
                    [one] => json!({"mode": "paged", "query": format!("id:{one}")}),
                    _ => json!({"incremental": true}),
                }
            }
            JobKind::MatchProducts | JobKind::MatchCustomers | JobKind::ProductSync | JobKind::CustomerSync => {
                json!({})
            }
        }
    }
}

/// The input of a targeted sync: these mappings, forced for stock (Nhanh's number is
/// re-asserted even where dongbo pushed it before), linked to its deliveries.
pub fn sync_input(kind: JobKind, mapping_ids: &[i64], delivery_ids: &[i64]) -> Value {
    let mut input = json!({"mappingIds": mapping_ids, "webhookDeliveryIds": delivery_ids});
    if kind == JobKind::ProductSync {
        input["forceSync"] = json!(true);
    }
    input
}

/// What to do with one claimed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Ask for this job with these (fresh) touches.
    Job(JobKind, Vec<Touch>),
    /// Its pull finished and nothing follows: done, linked to that pull.
    Done,
    /// Nothing to do, and why.
    Ignore(String),
    /// Every touch was older than what was already acted on for its item.
    Stale(String),
}

/// The plan of one batch: a decision per delivery, and the items' new newest times.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// Per delivery id.
    pub decisions: BTreeMap<i64, Decision>,
    /// Item key → the newest source time acted on now, and the delivery that carries it (its
    /// time counts only once that delivery is handled, not when it is put back).
    pub versions: BTreeMap<String, (i64, i64)>,
}

/// The job a fresh touch needs first.
fn first_step(t: &Touch) -> Option<JobKind> {
    Some(match t {
        Touch::NhanhStock { .. } | Touch::ShopifyStock { .. } => JobKind::ProductSync,
        Touch::NhanhProduct { .. } => JobKind::PullNhanhProducts,
        Touch::NhanhProductDeleted { .. } => JobKind::PullNhanhProductsFull,
        Touch::NhanhCustomerTotal { .. } => JobKind::PullNhanhCustomers,
        Touch::ShopifyCustomer { .. } => JobKind::PullShopifyCustomers,
        Touch::ShopifyProduct { .. } => JobKind::PullShopifyProducts,
        Touch::ShopifyDeleted { what, .. } if what == "customer" => JobKind::PullShopifyCustomersFull,
        Touch::ShopifyDeleted { .. } => JobKind::PullShopifyProductsFull,
        Touch::AppUninstalled => return None,
    })
}

/// The job a touch needs once its pull finished.
fn second_step(t: &Touch) -> Option<JobKind> {
    match t {
        Touch::NhanhProduct { .. } | Touch::ShopifyProduct { new: true, .. } => Some(JobKind::MatchProducts),
        Touch::ShopifyCustomer { new: true, .. } => Some(JobKind::MatchCustomers),
        Touch::NhanhCustomerTotal { .. } => Some(JobKind::CustomerSync),
        _ => None,
    }
}

/// Plans a claimed batch against `versions` (item key → newest source time acted on).
/// `pushes_stopped` (the app was uninstalled) turns every push into an ignored delivery.
pub fn plan(batch: &[Claimed], versions: &HashMap<String, i64>, pushes_stopped: bool) -> Plan {
    // The newest time of each item in the batch, and which delivery carries it.
    let mut newest: HashMap<String, (i64, i64)> = HashMap::new();
    for d in batch.iter().filter(|d| d.stage == Stage::Fresh) {
        for t in &d.touches {
            if let (Some(key), Some(at)) = (t.touch.item_key(), t.at) {
                let e = newest.entry(key).or_insert((at, d.id));
                if (at, d.id) > *e {
                    *e = (at, d.id);
                }
            }
        }
    }
    let mut out = Plan::default();
    for d in batch {
        let mut stale = 0;
        let mut kept: Vec<Touch> = Vec::new();
        for t in &d.touches {
            if d.stage == Stage::Fresh {
                if let (Some(key), Some(at)) = (t.touch.item_key(), t.at) {
                    // Only an older time is stale: source times have a resolution of a second
                    // (Shopify's `updated_at`), so a hand change in the same second as dongbo's
                    // own echo is a new fact, not a replay (replays are caught by the event id).
                    let outdated = versions.get(&key).is_some_and(|&v| at < v);
                    let superseded = newest.get(&key).is_some_and(|&(_, by)| by != d.id);
                    if outdated || superseded {
                        stale += 1;
                        continue;
                    }
                    out.versions.insert(key, (at, d.id));
                }
            }
            kept.push(t.touch.clone());
        }
        let decision = decide(d.stage, kept, stale, pushes_stopped);
        out.decisions.insert(d.id, decision);
    }
    out
}

fn decide(stage: Stage, kept: Vec<Touch>, stale: usize, pushes_stopped: bool) -> Decision {
    if kept.is_empty() {
        return if stale > 0 {
            Decision::Stale(format!(
                "older than a delivery already acted on for the same item ({stale} touch{})",
                if stale == 1 { "" } else { "es" }
            ))
        } else if stage == Stage::Pulled {
            Decision::Done
        } else {
            Decision::Ignore("the delivery names no item".into())
        };
    }
    if kept.contains(&Touch::AppUninstalled) {
        return Decision::Ignore("the Shopify app was uninstalled: pushes are stopped".into());
    }
    let step = match stage {
        Stage::Fresh => kept.iter().find_map(first_step),
        Stage::Pulled => kept.iter().find_map(second_step),
    };
    match step {
        None if stage == Stage::Pulled => Decision::Done,
        None => Decision::Ignore("the delivery names no item dongbo follows".into()),
        Some(kind) if kind.pushes() && pushes_stopped => {
            Decision::Ignore("the Shopify app is uninstalled: pushes are stopped until it is reinstalled".into())
        }
        Some(kind) => Decision::Job(kind, kept),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(item: i64, at: i64) -> Touched {
        Touched {
            touch: Touch::ShopifyStock { inventory_item_id: item, location_id: 1, available: Some(5) },
            at: Some(at),
        }
    }

    fn fresh(id: i64, touches: Vec<Touched>) -> Claimed {
        Claimed { id, touches, stage: Stage::Fresh }
    }

    fn check(batch: Vec<Claimed>, versions: &[(&str, i64)], stopped: bool, expect: &[(i64, &str)]) {
        let versions: HashMap<String, i64> = versions.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let p = plan(&batch, &versions, stopped);
        let got: Vec<(i64, String)> = p
            .decisions
            .iter()
            .map(|(id, d)| {
                let label = match d {
                    Decision::Job(k, _) => format!("{k:?}"),
                    Decision::Done => "Done".into(),
                    Decision::Ignore(_) => "Ignore".into(),
                    Decision::Stale(_) => "Stale".into(),
                };
                (*id, label)
            })
            .collect();
        let want: Vec<(i64, String)> = expect.iter().map(|(i, s)| (*i, s.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn an_out_of_order_pair_keeps_the_newer_whatever_the_order() {
        // Same batch, older second or first: only the newer acts.
        check(
            vec![fresh(1, vec![stock(7, 200)]), fresh(2, vec![stock(7, 100)])],
            &[],
            false,
            &[(1, "ProductSync"), (2, "Stale")],
        );
        check(
            vec![fresh(1, vec![stock(7, 100)]), fresh(2, vec![stock(7, 200)])],
            &[],
            false,
            &[(1, "Stale"), (2, "ProductSync")],
        );
        // Across batches: the older arriving after the newer was acted on is dropped.
        check(vec![fresh(3, vec![stock(7, 100)])], &[("stock:shopify:7:1", 200)], false, &[(3, "Stale")]);
        check(vec![fresh(3, vec![stock(7, 199)])], &[("stock:shopify:7:1", 200)], false, &[(3, "Stale")]);
        // The same second is not older: a hand change right after an echo still acts.
        check(vec![fresh(3, vec![stock(7, 200)])], &[("stock:shopify:7:1", 200)], false, &[(3, "ProductSync")]);
        check(vec![fresh(3, vec![stock(7, 201)])], &[("stock:shopify:7:1", 200)], false, &[(3, "ProductSync")]);
        let p = plan(&[fresh(1, vec![stock(7, 200)]), fresh(2, vec![stock(7, 100)])], &HashMap::new(), false);
        assert_eq!(p.versions.get("stock:shopify:7:1"), Some(&(200, 1)));
    }

    #[test]
    fn each_touch_gets_its_first_and_second_job() {
        let t = |touch: Touch| Touched { touch, at: None };
        check(
            vec![
                fresh(1, vec![t(Touch::NhanhStock { product_id: 1 })]),
                fresh(2, vec![t(Touch::NhanhProduct { product_id: 1, new: true })]),
                fresh(3, vec![t(Touch::NhanhCustomerTotal { customer_id: 4 })]),
                fresh(4, vec![t(Touch::ShopifyDeleted { what: "customer".into(), id: 4 })]),
                fresh(5, vec![t(Touch::AppUninstalled)]),
                fresh(6, vec![]),
            ],
            &[],
            false,
            &[
                (1, "ProductSync"),
                (2, "PullNhanhProducts"),
                (3, "PullNhanhCustomers"),
                (4, "PullShopifyCustomersFull"),
                (5, "Ignore"),
                (6, "Ignore"),
            ],
        );
        let pulled = |id, touch| Claimed { id, touches: vec![t(touch)], stage: Stage::Pulled };
        check(
            vec![
                pulled(1, Touch::NhanhCustomerTotal { customer_id: 4 }),
                pulled(2, Touch::ShopifyCustomer { id: 4, new: false }),
                pulled(3, Touch::ShopifyCustomer { id: 4, new: true }),
            ],
            &[],
            false,
            &[(1, "CustomerSync"), (2, "Done"), (3, "MatchCustomers")],
        );
        // Pushes stop while the app is uninstalled; pulls go on.
        check(
            vec![
                fresh(1, vec![t(Touch::NhanhStock { product_id: 1 })]),
                fresh(2, vec![t(Touch::NhanhCustomerTotal { customer_id: 4 })]),
            ],
            &[],
            true,
            &[(1, "Ignore"), (2, "PullNhanhCustomers")],
        );
    }

    #[test]
    fn shopify_pulls_name_one_id_or_go_incremental() {
        let one = [Touch::ShopifyCustomer { id: 9, new: true }];
        assert_eq!(JobKind::PullShopifyCustomers.input(&one), json!({"mode": "paged", "query": "id:9"}));
        let two = [Touch::ShopifyCustomer { id: 9, new: true }, Touch::ShopifyCustomer { id: 8, new: false }];
        assert_eq!(JobKind::PullShopifyCustomers.input(&two), json!({"incremental": true}));
        assert_eq!(
            sync_input(JobKind::ProductSync, &[1, 2], &[5]),
            json!({"mappingIds": [1, 2], "webhookDeliveryIds": [5], "forceSync": true})
        );
    }
}
