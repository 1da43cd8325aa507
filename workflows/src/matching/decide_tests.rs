//! Data-first tests of the matching rule: a whole small catalog in one batch.

use std::collections::BTreeMap;

use super::*;

/// Builds one batch holding every key of `nhanh` and `shopify` (records with their keys), with
/// neighbourhoods as the store would load them, and decides it.
fn run(nhanh: &[(i64, &[&str])], shopify: &[(&str, &[&str])]) -> BatchDecision {
    let mut n_rows = Vec::new();
    for &(id, keys) in nhanh {
        let min = keys.iter().min().copied();
        for &k in keys {
            let first = Some(k) == min;
            n_rows.push(NhanhKeyRow { key: k.into(), id, key_count: keys.len() as i64, first, existing: None });
        }
    }
    n_rows.sort_by(|a, b| (&a.key, a.id).cmp(&(&b.key, b.id)));
    let s_rows: Vec<ShopifyKeyRow> = shopify
        .iter()
        .flat_map(|&(id, keys)| {
            keys.iter().map(move |&k| ShopifyKeyRow { key: k.into(), id: id.into(), key_count: keys.len() as i64 })
        })
        .collect();
    let holders_s = |k: &str| -> Vec<String> {
        shopify.iter().filter(|(_, ks)| ks.contains(&k)).map(|(id, _)| id.to_string()).collect()
    };
    let holders_n =
        |k: &str| -> Vec<i64> { nhanh.iter().filter(|(_, ks)| ks.contains(&k)).map(|(id, _)| *id).collect() };
    let mut hoods = Neighbourhoods::default();
    for id in nhanh_lookups(&n_rows, &s_rows) {
        let mut ks: Vec<&str> = nhanh.iter().find(|(n, _)| *n == id).map(|(_, ks)| ks.to_vec()).unwrap_or_default();
        ks.sort();
        hoods.nhanh.insert(id, ks.iter().map(|k| (k.to_string(), holders_s(k))).collect());
    }
    for id in shopify_lookups(&n_rows, &s_rows, &hoods) {
        let keys = shopify.iter().find(|(s, _)| *s == id).map(|(_, ks)| ks.to_vec()).unwrap_or_default();
        hoods.shopify.insert(id, keys.iter().map(|k| (k.to_string(), holders_n(k))).collect());
    }
    decide(&n_rows, &s_rows, &hoods)
}

fn check(
    nhanh: &[(i64, &[&str])],
    shopify: &[(&str, &[&str])],
    mappings: &[(i64, &str, &str)],
    conflicts: &[(&str, &[i64], &[&str])],
) {
    let d = run(nhanh, shopify);
    let got: Vec<(i64, String, String)> =
        d.mappings.iter().map(|m| (m.nhanh_id, m.shopify_id.clone(), m.key.clone())).collect();
    let want: Vec<(i64, String, String)> = mappings.iter().map(|&(n, s, k)| (n, s.into(), k.into())).collect();
    assert_eq!(got, want, "mappings");
    let got: BTreeMap<String, (Vec<i64>, Vec<String>)> =
        d.conflicts.iter().map(|c| (c.key.clone(), (c.nhanh_ids.clone(), c.shopify_ids.clone()))).collect();
    let want: BTreeMap<String, (Vec<i64>, Vec<String>)> = conflicts
        .iter()
        .map(|&(k, n, s)| (k.to_string(), (n.to_vec(), s.iter().map(|x| x.to_string()).collect())))
        .collect();
    assert_eq!(got, want, "conflicts");
    let considered: Vec<i64> = d.considered.iter().map(|c| c.nhanh_id).collect();
    let mut want: Vec<i64> = nhanh.iter().filter(|(_, ks)| !ks.is_empty()).map(|(id, _)| *id).collect();
    let mut got = considered.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every Nhanh record with a key is considered once");
}

#[test]
fn one_record_on_each_side_with_the_same_key_is_a_mapping() {
    check(&[(1, &["a"])], &[("s1", &["a"])], &[(1, "s1", "a")], &[]);
}

#[test]
fn a_key_on_one_side_only_is_neither_mapped_nor_a_conflict() {
    check(&[(1, &["a"]), (2, &["b"]), (3, &["b"])], &[("s1", &["c"])], &[], &[]);
}

#[test]
fn a_key_held_by_two_nhanh_records_is_a_conflict_with_its_candidates() {
    check(&[(1, &["a"]), (2, &["a"])], &[("s1", &["a"])], &[], &[("a", &[1, 2], &["s1"])]);
}

#[test]
fn a_key_held_by_two_shopify_records_is_a_conflict_with_its_candidates() {
    check(&[(1, &["a"])], &[("s1", &["a"]), ("s2", &["a"])], &[], &[("a", &[1], &["s1", "s2"])]);
}

#[test]
fn several_numbers_match_through_the_one_shopify_holds() {
    check(&[(1, &["a", "b"])], &[("s1", &["b"])], &[(1, "s1", "b")], &[]);
}

#[test]
fn a_pair_sharing_two_keys_maps_once_on_the_smallest() {
    check(&[(1, &["b", "a"])], &[("s1", &["a", "b"])], &[(1, "s1", "a")], &[]);
}

#[test]
fn numbers_leading_to_two_shopify_records_map_neither_and_name_both() {
    check(
        &[(1, &["a", "b"])],
        &[("s1", &["a"]), ("s2", &["b"])],
        &[],
        &[("a", &[1], &["s1", "s2"]), ("b", &[1], &["s1", "s2"])],
    );
}

#[test]
fn a_unique_key_is_not_mapped_when_the_shopify_record_is_contested_through_another_key() {
    // s1 holds a (only Nhanh 1) and b (Nhanh 2 and 3): s1 could be 1, 2 or 3.
    check(
        &[(1, &["a"]), (2, &["b"]), (3, &["b"])],
        &[("s1", &["a", "b"])],
        &[],
        &[("a", &[1, 2, 3], &["s1"]), ("b", &[2, 3], &["s1"])],
    );
}

#[test]
fn a_record_with_a_conflicting_key_is_not_mapped_through_its_other_key() {
    check(
        &[(1, &["a", "b"]), (2, &["b"])],
        &[("s1", &["a"]), ("s2", &["b"])],
        &[],
        &[("a", &[1], &["s1", "s2"]), ("b", &[1, 2], &["s2"])],
    );
}

#[test]
fn independent_pairs_and_conflicts_do_not_disturb_each_other() {
    check(
        &[(1, &["a"]), (2, &["b"]), (3, &["b"]), (4, &["c", "d"]), (5, &[])],
        &[("s1", &["a"]), ("s2", &["b"]), ("s4", &["d"]), ("s9", &["z"])],
        &[(1, "s1", "a"), (4, "s4", "d")],
        &[("b", &[2, 3], &["s2"])],
    );
}
