//! Which tables a match kind reads and writes, and SQL text built from templates.
//!
//! Templates name tables as `{nk}` (Nhanh keys), `{nid}` (its record column), `{key}`, `{sk}`,
//! `{sid}` (Shopify keys), `{map}`, `{map_n}`, `{map_s}` (mappings).
//! Templates use PostgreSQL's `$n::type` parameters; the SQLite dialect drops the casts
//! (`Sqlite::params`) for the statements whose text is otherwise the same on both backends.

/// What is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchKind {
    /// Nhanh products to Shopify variants, by `sku:`/`barcode:` key.
    Products,
    /// Nhanh customers to Shopify customers, by E.164 phone key.
    Customers,
}

impl MatchKind {
    /// The kind's name in `match_conflicts.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Products => "product",
            MatchKind::Customers => "customer",
        }
    }

    /// The mapping table.
    pub fn mapping_table(self) -> &'static str {
        match self {
            MatchKind::Products => "product_mappings",
            MatchKind::Customers => "customer_mappings",
        }
    }

    /// Every table matching reads: key tables, mappings.
    pub(super) fn tables(self) -> [&'static str; 3] {
        let n = self.names();
        [n[0].1, n[3].1, n[5].1]
    }

    fn names(self) -> [(&'static str, &'static str); 8] {
        match self {
            MatchKind::Products => [
                ("{nk}", "nhanh_product_keys"),
                ("{nid}", "product_id"),
                ("{key}", "match_key"),
                ("{sk}", "shopify_variant_keys"),
                ("{sid}", "variant_id"),
                ("{map}", "product_mappings"),
                ("{map_n}", "nhanh_product_id"),
                ("{map_s}", "shopify_variant_id"),
            ],
            MatchKind::Customers => [
                ("{nk}", "nhanh_customer_keys"),
                ("{nid}", "customer_id"),
                ("{key}", "phone_key"),
                ("{sk}", "shopify_customer_keys"),
                ("{sid}", "customer_id"),
                ("{map}", "customer_mappings"),
                ("{map_n}", "nhanh_customer_id"),
                ("{map_s}", "shopify_customer_id"),
            ],
        }
    }

    /// The template with this kind's table and column names.
    pub(super) fn sql(self, template: &str) -> String {
        let mut s = template.replace("{eligible_n}", ELIGIBLE_N).replace("{eligible_s}", ELIGIBLE_S);
        for (from, to) in self.names() {
            s = s.replace(from, to);
        }
        s
    }
}

/// `x` (a Nhanh key row) belongs to an eligible record: one that no manual mapping holds. A key
/// row's record is always there and not removed — pulls write a record's keys with it, and the
/// sweep that marks a record removed deletes its keys in the same transaction (migration 0009
/// cleared older databases) — so no probe of the records table is needed. The manual mappings
/// are few: both backends read them once per statement (the partial index of migration 0007)
/// and test each row against that set, where a correlated probe would look up every row's own
/// mapping.
const ELIGIBLE_N: &str = "x.{nid} NOT IN (SELECT em.{map_n} FROM {map} em WHERE em.method = 'manual')";

/// `y` (a Shopify key row) belongs to an eligible record (`NOT IN` needs the `NULL`s out).
const ELIGIBLE_S: &str =
    "y.{sid} NOT IN (SELECT em.{map_s} FROM {map} em WHERE em.method = 'manual' AND em.{map_s} IS NOT NULL)";
