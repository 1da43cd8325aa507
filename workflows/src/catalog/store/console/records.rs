//! The records of both sides (Nhanh products and customers, Shopify variants and customers) with
//! search, filters and each record's mapping, paged by id in the database.

use dongbo_engine::Db;

use super::mappings::{run, tables};
use super::{contains_pattern, R};
use crate::catalog::store::matching::MatchKind;
use crate::keys::PhoneKey;

/// Which store's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Nhanh's (ids are integers).
    Nhanh,
    /// Shopify's (ids are gids).
    Shopify,
}

/// Mapped or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedFilter {
    /// Only records with a partner on the other side.
    Mapped,
    /// Only records without one.
    Unmapped,
}

/// A page of records to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordQuery {
    /// Which store.
    pub side: Side,
    /// Products or customers.
    pub kind: MatchKind,
    /// Text found (case-insensitively) in the name, SKU, barcode, phone or email; a phone
    /// number in any format also finds the records holding it as a match key.
    pub search: Option<String>,
    /// Mapped or not.
    pub mapped: Option<MappedFilter>,
    /// Only records whose mapping is in this state (`PENDING`, `SYNCED`, `FAILED`, `UNMAPPED`).
    pub state: Option<String>,
    /// The id of the last record of the previous page.
    pub after: Option<String>,
    /// Page size.
    pub limit: i64,
}

/// One record with its mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    /// Its id: a Nhanh id in decimal, or a Shopify gid.
    pub id: String,
    /// Product name (a variant: its product's title) or customer name.
    pub name: Option<String>,
    /// SKU (products).
    pub sku: Option<String>,
    /// Barcode (products).
    pub barcode: Option<String>,
    /// Phone as stored (customers).
    pub phone: Option<String>,
    /// Email (Shopify customers).
    pub email: Option<String>,
    /// Its mapping.
    pub mapping_id: Option<i64>,
    /// The record on the other side it is mapped to.
    pub partner: Option<String>,
    /// The mapping's state.
    pub state: Option<String>,
    /// The mapping's method (`manual` for hand-made).
    pub method: Option<String>,
}

type Raw = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// The statement of a page: `$1` after, `$2` search pattern, `$3` phone key, `$4` mapped (1 or
/// 0), `$5` state, `$6` limit.
fn statement(side: Side, kind: MatchKind) -> String {
    let (map, n, s, ..) = tables(kind);
    let keys = match kind {
        MatchKind::Products => None,
        MatchKind::Customers => Some(match side {
            Side::Nhanh => "nhanh_customer_keys",
            Side::Shopify => "shopify_customer_keys",
        }),
    };
    let (select, from, searched, partner_col) = match (side, kind) {
        (Side::Nhanh, MatchKind::Products) => (
            "CAST(r.id AS TEXT), r.name, r.code, r.barcode, NULL, NULL",
            "nhanh_products r",
            vec!["r.name", "r.code", "r.barcode"],
            s,
        ),
        (Side::Nhanh, MatchKind::Customers) => (
            "CAST(r.id AS TEXT), r.name, NULL, NULL, r.mobile, NULL",
            "nhanh_customers r",
            vec!["r.name", "r.mobile"],
            s,
        ),
        (Side::Shopify, MatchKind::Products) => (
            "r.id, p.title, r.sku, r.barcode, NULL, NULL",
            "shopify_variants r LEFT JOIN shopify_products p ON p.id = r.product_id",
            vec!["p.title", "r.sku", "r.barcode"],
            n,
        ),
        (Side::Shopify, MatchKind::Customers) => (
            "r.id, r.display_name, NULL, NULL, COALESCE(r.phone, r.address_phone), r.email",
            "shopify_customers r",
            vec!["r.display_name", "r.email", "r.phone", "r.address_phone"],
            n,
        ),
    };
    // A Shopify record's mapping is found by its Shopify side, which holds at most one mapping
    // (hand-made writes refuse a second; matching pairs one to one): the smallest id is taken.
    let join = match side {
        Side::Nhanh => format!("LEFT JOIN {map} m ON m.{n} = r.id"),
        Side::Shopify => format!("LEFT JOIN {map} m ON m.id = (SELECT MIN(x.id) FROM {map} x WHERE x.{s} = r.id)"),
    };
    let after = match side {
        Side::Nhanh => "r.id > $1::bigint",
        Side::Shopify => "r.id > $1::text",
    };
    let mut search: Vec<String> =
        searched.iter().map(|c| format!("LOWER({c}) LIKE LOWER($2::text) ESCAPE '\\'")).collect();
    match keys {
        Some(keys) => search
            .push(format!("EXISTS (SELECT 1 FROM {keys} k WHERE k.customer_id = r.id AND k.phone_key = $3::text)")),
        // Products have no phone key; `$3` is still named so that both backends see six
        // parameters (it is always NULL here).
        None => search.push("$3::text IS NOT NULL AND r.id IS NULL".to_owned()),
    }
    format!(
        "SELECT {select}, m.id, CAST(m.{partner_col} AS TEXT), m.state, m.method
           FROM {from} {join}
          WHERE r.removed_at IS NULL AND {after}
            AND ($2::text IS NULL OR {search})
            AND ($4::bigint IS NULL OR (m.{partner_col} IS NOT NULL) = ($4::bigint = 1))
            AND ($5::text IS NULL OR m.state = $5::text)
          ORDER BY r.id LIMIT $6",
        search = search.join(" OR ")
    )
}

/// A page of records.
pub async fn records_page(db: &Db, q: &RecordQuery) -> R<Vec<RecordRow>> {
    let sql = statement(q.side, q.kind);
    let search = q.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let pattern = search.map(contains_pattern);
    let phone_key = match q.kind {
        MatchKind::Customers => search.and_then(|s| PhoneKey::parse(s).ok()).map(|k| k.as_str().to_owned()),
        MatchKind::Products => None,
    };
    let mapped = q.mapped.map(|m| i64::from(m == MappedFilter::Mapped));
    let raw: Vec<Raw> = match q.side {
        Side::Nhanh => {
            let after = match q.after.as_deref() {
                None | Some("") => i64::MIN,
                Some(a) => a.parse::<i64>().map_err(|e| sqlx::Error::Protocol(format!("a Nhanh id cursor: {e}")))?,
            };
            run!(
                db,
                sql,
                Raw,
                |s| s.bind(after).bind(&pattern).bind(&phone_key).bind(mapped).bind(q.state.as_deref()).bind(q.limit),
                fetch_all
            )?
        }
        Side::Shopify => {
            let after = q.after.clone().unwrap_or_default();
            run!(
                db,
                sql,
                Raw,
                |s| s.bind(after).bind(&pattern).bind(&phone_key).bind(mapped).bind(q.state.as_deref()).bind(q.limit),
                fetch_all
            )?
        }
    };
    Ok(raw
        .into_iter()
        .map(|r| RecordRow {
            id: r.0,
            name: r.1,
            sku: r.2,
            barcode: r.3,
            phone: r.4,
            email: r.5,
            mapping_id: r.6,
            partner: r.7,
            state: r.8,
            method: r.9,
        })
        .collect())
}
