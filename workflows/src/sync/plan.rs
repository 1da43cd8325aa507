//! The pure core of the syncs: what to push for an item, how items are cut into calls, stock
//! summed per location, and which items a reply's `userErrors` reject. No I/O here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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

    /// Stock per location (in `locations` order): the sum of `available` over the depots mapped
    /// to it; unmapped depots are ignored, fractions rounded, negatives kept (Nhanh allows
    /// overselling and Shopify accepts negative available).
    pub fn quantities(&self, depots: &[(u64, Option<f64>)]) -> Vec<i64> {
        let mut sums = vec![0f64; self.locations.len()];
        for (depot, available) in depots {
            if let Some(&l) = self.depot_to_location.get(depot) {
                sums[l] += available.unwrap_or(0.0);
            }
        }
        sums.into_iter().map(|s| s.round() as i64).collect()
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
    fn stock_is_summed_per_location_over_the_mapped_depots() {
        let plan = LocationPlan::new(&[(1, "L/b".into()), (2, "L/a".into()), (3, "L/b".into())]).unwrap();
        assert_eq!(plan.locations, vec!["L/a".to_string(), "L/b".to_string()]);
        let check = |depots: &[(u64, Option<f64>)], expect: Vec<i64>| assert_eq!(plan.quantities(depots), expect);
        check(&[(1, Some(4.0)), (2, Some(2.0)), (3, Some(5.0))], vec![2, 9]);
        check(&[(9, Some(100.0)), (3, Some(1.0))], vec![0, 1]);
        check(&[], vec![0, 0]);
        check(&[(2, None), (1, Some(-2.0))], vec![0, -2]);
        check(&[(2, Some(1.6))], vec![2, 0]);
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
