//! The pure core of the syncs: what to push for an item, how items are cut into calls, stock
//! summed per location, and which items a reply's `userErrors` reject. No I/O here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::catalog::store::sync::{CustomerSyncRow, MappingState};
use crate::connectors::shopify::UserError;

/// What to do with one customer mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerAction {
    /// Push this total.
    Push(i64),
    /// The value Shopify holds is close enough (under the threshold) or equal.
    SkipUnchanged,
    /// Cannot be pushed; the reason goes to the mapping.
    Fail(String),
}

/// Decides a customer mapping's push: unchanged (|new − last pushed| below `threshold`, ₫)
/// values of a mapping whose last push succeeded are skipped unless `force`.
pub fn customer_action(row: &CustomerSyncRow, force: bool, threshold: i64) -> CustomerAction {
    if !row.in_catalog {
        return CustomerAction::Fail(format!(
            "Nhanh customer {} is not in the local catalog (pull Nhanh customers first)",
            row.nhanh_customer_id
        ));
    }
    let total = row.total_amount.unwrap_or(0);
    let unchanged = row.state == Some(MappingState::Synced)
        && row.synced_value.is_some_and(|last| last == total || (last - total).abs() < threshold);
    if unchanged && !force {
        CustomerAction::SkipUnchanged
    } else {
        CustomerAction::Push(total)
    }
}

/// How many products fit one `inventorySetQuantities` call when each carries one quantity per
/// location (a product is never split over two calls, so its outcome is one call's).
pub fn products_per_call(locations: usize, max_quantities: usize) -> usize {
    (max_quantities / locations.max(1)).max(1)
}

/// The depot → location mapping, arranged for summing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationPlan {
    /// The Shopify locations that receive stock, sorted.
    pub locations: Vec<String>,
    /// Depot id → index into `locations`.
    depot_to_location: HashMap<u64, usize>,
}

/// Where PRODUCT_SYNC sends stock, decided once at the job's start and kept in its checkpoint:
/// the depot → location pairs (mapped, or every depot onto the shop's only active location),
/// and the mapped depots the Nhanh token does not cover.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockPlan {
    /// `(depot, location)` pairs.
    pub pairs: Vec<(u64, String)>,
    /// Mapped depots outside the token's `depotIds`: their locations are never summed.
    pub uncovered_depots: Vec<u64>,
    /// The names `business/depot` gives the uncovered depots (one it does not list has none).
    #[serde(default)]
    pub uncovered_depot_names: BTreeMap<u64, String>,
    /// Set when no depot was mapped and every depot feeds the shop's only active location.
    pub default_location: Option<String>,
    /// Why the token's coverage could not be checked, when it could not.
    pub coverage_unchecked: Option<String>,
}

impl StockPlan {
    /// The pairs arranged for summing (`None` when there are none).
    pub fn locations(&self) -> Option<LocationPlan> {
        LocationPlan::new(&self.pairs)
    }

    /// The uncovered depots as a set.
    pub fn uncovered(&self) -> BTreeSet<u64> {
        self.uncovered_depots.iter().copied().collect()
    }

    /// What the job's metadata says of the plan.
    pub fn metadata(&self) -> Value {
        let mut m = json!({
            "uncoveredDepots": self.uncovered_depots,
            "tokenCoverage": match &self.coverage_unchecked {
                None => "checked".to_string(),
                Some(why) => format!("unchecked: {why}"),
            },
        });
        if !self.uncovered_depot_names.is_empty() {
            m["uncoveredDepotNames"] = json!(self.uncovered_depot_names);
        }
        if let Some(location) = &self.default_location {
            m["defaultLocation"] = json!({
                "location": location,
                "note": "no depot is mapped: every Nhanh depot feeds the shop's only active location",
            });
        }
        m
    }
}

/// One location's stock for one product: read, or why it is not known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationStock {
    /// The sum of `available` over the location's depots, every one of them read.
    Known(i64),
    /// At least one of the location's depots has no number: nothing is pushed there.
    Unknown(String),
}

/// What Nhanh said about one product's stock.
#[derive(Debug, Clone, PartialEq)]
pub enum ProductStock {
    /// Its rows per depot: `(depot id, available)`.
    Depots(Vec<(u64, Option<f64>)>),
    /// Its row came back but could not be read.
    Unreadable(String),
}

impl LocationPlan {
    /// Builds the plan from `(depot, location)` pairs; `None` when no depot is mapped.
    pub fn new(pairs: &[(u64, String)]) -> Option<LocationPlan> {
        let locations: Vec<String> =
            pairs.iter().map(|(_, l)| l.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        if locations.is_empty() {
            return None;
        }
        let depot_to_location =
            pairs.iter().filter_map(|(d, l)| Some((*d, locations.binary_search(l).ok()?))).collect();
        Some(LocationPlan { locations, depot_to_location })
    }

    /// The depots that feed some location, ascending.
    pub fn depots(&self) -> Vec<u64> {
        let mut d: Vec<u64> = self.depot_to_location.keys().copied().collect();
        d.sort_unstable();
        d
    }

    /// Stock per location (in `locations` order) from what Nhanh said of one product (`None`:
    /// the product was missing from the reply). A location is the sum of `available` over the
    /// depots mapped to it, fractions rounded, negatives kept (Nhanh allows overselling and
    /// Shopify accepts negative available) — but only when every one of those depots was read:
    /// a depot the token does not cover (`uncovered`), a depot absent from the product's rows,
    /// a row without `available`, or an unreadable or missing product leaves the location
    /// [`LocationStock::Unknown`], never 0. (The v3 pages, apidocs.nhanh.vn/v3/product/inventory
    /// and /v3/product/list, list per-depot rows without promising a row for every depot, and
    /// say a token limited to some depots reports stock only for those; so an absent row is
    /// not a zero.) Unmapped depots are ignored.
    pub fn stock(&self, product: Option<&ProductStock>, uncovered: &BTreeSet<u64>) -> Vec<LocationStock> {
        let depots = match product {
            None => {
                let reason = "missing from Nhanh's stock reply".to_string();
                return vec![LocationStock::Unknown(reason); self.locations.len()];
            }
            Some(ProductStock::Unreadable(why)) => {
                let reason = format!("Nhanh's stock row could not be read ({why})");
                return vec![LocationStock::Unknown(reason); self.locations.len()];
            }
            Some(ProductStock::Depots(d)) => d,
        };
        let read: HashMap<u64, Option<f64>> = depots.iter().copied().collect();
        let mut sums = vec![0f64; self.locations.len()];
        let mut unknown: Vec<Vec<String>> = vec![Vec::new(); self.locations.len()];
        for depot in self.depots() {
            let l = self.depot_to_location[&depot];
            match read.get(&depot) {
                _ if uncovered.contains(&depot) => {
                    unknown[l].push(format!("depot {depot} is not covered by the Nhanh access token"))
                }
                Some(Some(available)) if available.is_finite() => sums[l] += available,
                Some(_) => unknown[l].push(format!("depot {depot} has no `available` number")),
                None => unknown[l].push(format!("depot {depot} is absent from Nhanh's stock of this product")),
            }
        }
        sums.into_iter()
            .zip(unknown)
            .map(|(sum, why)| match why.is_empty() {
                true => LocationStock::Known(sum.round() as i64),
                false => LocationStock::Unknown(why.join("; ")),
            })
            .collect()
    }
}

/// The items of a call that a reply's `userErrors` reject, with the reason of each.
/// `owner_of` maps an input index (a metafield, a quantity) to the item it belongs to; an
/// error that names no input rejects every item of the call.
pub fn rejected_items(
    errors: &[UserError],
    items: usize,
    owner_of: impl Fn(usize) -> Option<usize>,
) -> BTreeMap<usize, String> {
    let mut out = BTreeMap::new();
    for e in errors {
        let reason = describe(e);
        match e.item_index().and_then(&owner_of).filter(|&i| i < items) {
            Some(i) => {
                out.entry(i).or_insert(reason);
            }
            None => {
                for i in 0..items {
                    out.entry(i).or_insert_with(|| reason.clone());
                }
            }
        }
    }
    out
}

/// A userError as an operator reads it: `message (CODE)`.
pub fn describe(e: &UserError) -> String {
    match &e.code {
        Some(code) => format!("Shopify rejected the item: {} ({code})", e.message),
        None => format!("Shopify rejected the item: {}", e.message),
    }
}

/// Cuts `items` into consecutive chunks of at most `size`.
pub fn chunks<T: Clone>(items: &[T], size: usize) -> Vec<Vec<T>> {
    items.chunks(size.max(1)).map(<[T]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(in_catalog: bool, total: Option<i64>, state: MappingState, synced: Option<i64>) -> CustomerSyncRow {
        CustomerSyncRow {
            mapping_id: 1,
            nhanh_customer_id: 7,
            shopify_customer_id: "gid://shopify/Customer/1".into(),
            state: Some(state),
            synced_value: synced,
            in_catalog,
            total_amount: total,
        }
    }

    fn check_customer(input: (CustomerSyncRow, bool), expect: CustomerAction) {
        assert_eq!(customer_action(&input.0, input.1, 1000), expect, "{input:?}");
    }

    #[test]
    fn customer_totals_are_pushed_unless_unchanged_by_less_than_the_threshold() {
        use MappingState::*;
        check_customer((row(true, Some(5000), Pending, None), false), CustomerAction::Push(5000));
        check_customer((row(true, Some(5000), Synced, Some(5000)), false), CustomerAction::SkipUnchanged);
        check_customer((row(true, Some(5999), Synced, Some(5000)), false), CustomerAction::SkipUnchanged);
        check_customer((row(true, Some(4001), Synced, Some(5000)), false), CustomerAction::SkipUnchanged);
        check_customer((row(true, Some(6000), Synced, Some(5000)), false), CustomerAction::Push(6000));
        check_customer((row(true, Some(5000), Synced, Some(5000)), true), CustomerAction::Push(5000));
        check_customer((row(true, Some(5000), Failed, Some(5000)), false), CustomerAction::Push(5000));
        check_customer((row(true, None, Pending, None), false), CustomerAction::Push(0));
        assert!(matches!(customer_action(&row(false, None, Pending, None), false, 1000), CustomerAction::Fail(_)));
    }

    #[test]
    fn a_zero_threshold_skips_only_equal_values() {
        let r = row(true, Some(5001), MappingState::Synced, Some(5000));
        assert_eq!(customer_action(&r, false, 0), CustomerAction::Push(5001));
        let r = row(true, Some(5000), MappingState::Synced, Some(5000));
        assert_eq!(customer_action(&r, false, 0), CustomerAction::SkipUnchanged);
    }

    #[test]
    fn whole_products_fit_a_call() {
        for (input, expect) in [((3, 250), 83), ((1, 250), 250), ((0, 250), 250), ((300, 250), 1), ((2, 250), 125)] {
            assert_eq!(products_per_call(input.0, input.1), expect, "{input:?}");
        }
    }

    #[test]
    fn stock_is_summed_per_location_over_the_mapped_depots_only_when_every_one_was_read() {
        use LocationStock::{Known, Unknown};
        let plan = LocationPlan::new(&[(1, "L/b".into()), (2, "L/a".into()), (3, "L/b".into())]).unwrap();
        assert_eq!(plan.locations, vec!["L/a".to_string(), "L/b".to_string()]);
        assert_eq!(plan.depots(), vec![1, 2, 3]);
        let none = BTreeSet::new();
        let read = |d: &[(u64, Option<f64>)]| ProductStock::Depots(d.to_vec());
        let known = |p: &ProductStock, uncovered: &BTreeSet<u64>| {
            plan.stock(Some(p), uncovered)
                .into_iter()
                .map(|s| match s {
                    Known(q) => Some(q),
                    Unknown(_) => None,
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(known(&read(&[(1, Some(4.0)), (2, Some(2.0)), (3, Some(5.0))]), &none), vec![Some(2), Some(9)]);
        // Unmapped depots are ignored; a read zero is a zero.
        let all = [(1, Some(0.0)), (2, Some(1.6)), (3, Some(-2.0)), (9, Some(100.0))];
        assert_eq!(known(&read(&all), &none), vec![Some(2), Some(-2)]);
        // A covered depot absent from the product's rows is unknown, not 0: only its location.
        assert_eq!(known(&read(&[(1, Some(4.0)), (2, Some(2.0))]), &none), vec![Some(2), None]);
        // A row without `available` is unknown.
        assert_eq!(known(&read(&[(1, Some(4.0)), (2, None), (3, Some(1.0))]), &none), vec![None, Some(5)]);
        // A depot the token does not cover is unknown even when a row is there.
        let uncovered: BTreeSet<u64> = [3].into();
        let stock = plan.stock(Some(&read(&[(1, Some(4.0)), (2, Some(2.0)), (3, Some(5.0))])), &uncovered);
        assert_eq!(stock[0], Known(2));
        assert!(matches!(&stock[1], Unknown(why) if why.contains("depot 3 is not covered")), "{stock:?}");
        // A missing or unreadable product: every location unknown, with the reason.
        assert!(plan.stock(None, &none).iter().all(|s| matches!(s, Unknown(w) if w.contains("missing"))));
        let bad = ProductStock::Unreadable("bad number".into());
        assert!(plan.stock(Some(&bad), &none).iter().all(|s| matches!(s, Unknown(w) if w.contains("bad number"))));
        assert_eq!(LocationPlan::new(&[]), None);
    }

    fn err(field: Option<&[&str]>, message: &str) -> UserError {
        UserError {
            code: Some("INVALID".into()),
            field: field.map(|f| f.iter().map(|s| s.to_string()).collect()),
            message: message.into(),
        }
    }

    #[test]
    fn user_errors_reject_the_item_owning_the_named_input_or_the_whole_call() {
        let by_index = |i: usize| Some(i);
        let r = rejected_items(&[err(Some(&["metafields", "2", "value"]), "bad")], 5, by_index);
        assert_eq!(r.keys().copied().collect::<Vec<_>>(), vec![2]);
        assert_eq!(r[&2], "Shopify rejected the item: bad (INVALID)");
        let r = rejected_items(&[err(Some(&["metafields"]), "too many")], 3, by_index);
        assert_eq!(r.len(), 3);
        // Quantities: three per product, the 5th quantity belongs to the 2nd product.
        let r = rejected_items(&[err(Some(&["input", "quantities", "4", "x"]), "no")], 4, |q| Some(q / 3));
        assert_eq!(r.keys().copied().collect::<Vec<_>>(), vec![1]);
        let r = rejected_items(&[err(Some(&["metafields", "9"]), "out of range")], 2, by_index);
        assert_eq!(r.len(), 2, "an index past the call rejects the whole call");
    }

    #[test]
    fn items_are_cut_into_calls_of_the_limit() {
        let items: Vec<u32> = (0..60).collect();
        let c = chunks(&items, 25);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), vec![25, 25, 10]);
        assert!(chunks::<u32>(&[], 25).is_empty());
    }
}
