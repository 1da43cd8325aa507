//! Mappings with their ids, the statistics per kind, and the hand-made writes: map (or re-map),
//! unmap, delete, and resolving a conflict by choosing its pair.

use dongbo_engine::Db;

use super::R;
use crate::catalog::store::dialect::on_db;
use crate::catalog::store::matching::MatchKind;

/// Runs one statement on either backend: `$sql` in its PostgreSQL form, `$row` the row type,
/// `|q| …` the binds, `$fetch` the sqlx fetch method.
macro_rules! run {
    ($db:expr, $sql:expr, $row:ty, |$q:ident| $build:expr, $fetch:ident) => {
        $crate::catalog::store::dialect::on_db!($db, |pool, d| {
            let text = d.params(&$sql);
            let $q = sqlx::query_as::<_, $row>(&text);
            $build.$fetch(pool).await
        })
    };
}
pub(super) use run;

/// Runs `$body` in a write transaction holding the writer's lock for `$kind`'s mappings (the
/// dialect's `begin_locked`: on SQLite `BEGIN IMMEDIATE`, on PostgreSQL a transaction-scoped
/// advisory lock). `$q(pg)` gives a statement in the backend's form. A `?` in the body returns
/// early and rolls back.
macro_rules! transaction {
    ($db:expr, $kind:expr, |$tx:ident, $q:ident| $body:block) => {
        on_db!($db, |pool, d| {
            let mut $tx = d.begin_locked(pool, lock_key($kind)).await.map_err(ConsoleError::from)?;
            let $q = |pg: &str| d.params(pg);
            let out = $body;
            $tx.commit().await.map_err(ConsoleError::from)?;
            out
        })
    };
}

/// The advisory lock that serialises hand-made writes of one kind on PostgreSQL ("dongbo" and
/// the kind's number; no other code takes these keys).
fn lock_key(kind: MatchKind) -> i64 {
    0x646f_6e67_626f_0000
        + match kind {
            MatchKind::Products => 1,
            MatchKind::Customers => 2,
        }
}

/// The tables and columns of a kind: `(mappings, nhanh column, shopify column, nhanh records,
/// shopify records)`.
pub(super) fn tables(kind: MatchKind) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
    match kind {
        MatchKind::Products => {
            ("product_mappings", "nhanh_product_id", "shopify_variant_id", "nhanh_products", "shopify_variants")
        }
        MatchKind::Customers => {
            ("customer_mappings", "nhanh_customer_id", "shopify_customer_id", "nhanh_customers", "shopify_customers")
        }
    }
}

/// What a hand-made write can refuse.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// No such Nhanh record (or it was removed upstream).
    #[error("no Nhanh {kind} {id} in the catalog (pull it first)")]
    UnknownNhanh {
        /// `product` or `customer`.
        kind: &'static str,
        /// Its id.
        id: i64,
    },
    /// No such Shopify record (or it was removed upstream).
    #[error("no Shopify {kind} {id:?} in the catalog (pull it first)")]
    UnknownShopify {
        /// `product` (a variant) or `customer`.
        kind: &'static str,
        /// Its gid.
        id: String,
    },
    /// The Shopify record is the Shopify side of another Nhanh record's mapping.
    #[error(
        "Shopify {kind} {shopify_id:?} is already mapped to Nhanh {kind} {nhanh_id} (mapping {mapping_id}): \
         unmap that first, or send \"replace\": true"
    )]
    ShopifyTaken {
        /// `product` or `customer`.
        kind: &'static str,
        /// The Shopify record.
        shopify_id: String,
        /// The mapping that holds it.
        mapping_id: i64,
        /// Its Nhanh record.
        nhanh_id: i64,
    },
    /// No such mapping.
    #[error("no {kind} mapping {id}")]
    UnknownMapping {
        /// `product` or `customer`.
        kind: &'static str,
        /// Its id.
        id: i64,
    },
    /// No such conflict.
    #[error("no {kind} conflict on key {key:?}")]
    UnknownConflict {
        /// `product` or `customer`.
        kind: &'static str,
        /// The key.
        key: String,
    },
    /// The chosen pair is not among the conflict's records.
    #[error("{0}")]
    NotInConflict(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// A mapping as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleMapping {
    /// The mapping's id (per kind).
    pub id: i64,
    /// What is mapped.
    pub kind: MatchKind,
    /// The Nhanh record.
    pub nhanh_id: i64,
    /// The Shopify record; `None` for a Nhanh record unmapped by hand.
    pub shopify_id: Option<String>,
    /// `sku`, `barcode`, `phone` or `manual`.
    pub method: String,
    /// The key it was matched on.
    pub match_key: Option<String>,
    /// The match job that made it.
    pub job_id: Option<String>,
    /// `UNMAPPED`, `PENDING`, `SYNCED` or `FAILED`.
    pub state: String,
    /// Who made it by hand.
    pub created_by: Option<String>,
    /// Why its last push failed.
    pub last_error: Option<String>,
    /// When it was last pushed (unix ms).
    pub synced_at: Option<i64>,
    /// When it last changed (unix ms).
    pub updated_at: i64,
}

type MappingRaw = (
    i64,
    i64,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    i64,
);

fn columns(kind: MatchKind) -> String {
    let (_, n, s, _, _) = tables(kind);
    format!(
        "m.id, m.{n}, m.{s}, m.method, m.match_key, CAST(m.job_id AS TEXT), m.state, m.created_by, m.last_error, \
         m.synced_at, m.updated_at"
    )
}

fn from_raw(kind: MatchKind, r: MappingRaw) -> ConsoleMapping {
    ConsoleMapping {
        id: r.0,
        kind,
        nhanh_id: r.1,
        shopify_id: r.2,
        method: r.3,
        match_key: r.4,
        job_id: r.5,
        state: r.6,
        created_by: r.7,
        last_error: r.8,
        synced_at: r.9,
        updated_at: r.10,
    }
}

/// One mapping by id.
pub async fn mapping(db: &Db, kind: MatchKind, id: i64) -> R<Option<ConsoleMapping>> {
    let (map, ..) = tables(kind);
    let sql = format!("SELECT {} FROM {map} m WHERE m.id = $1", columns(kind));
    let raw = run!(db, sql, MappingRaw, |q| q.bind(id), fetch_optional)?;
    Ok(raw.map(|r| from_raw(kind, r)))
}

/// Which mappings a listing or export shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MappingFilter {
    /// Only this state (`UNMAPPED`, `PENDING`, `SYNCED`, `FAILED`).
    pub state: Option<String>,
    /// Only hand-made (`Some(true)`) or only matched (`Some(false)`) mappings.
    pub manual: Option<bool>,
}

fn filter_sql(first_param: usize) -> String {
    format!(
        "(${a}::text IS NULL OR m.state = ${a}::text) AND (${b}::bigint IS NULL OR (m.method = 'manual') = (${b}::bigint = 1))",
        a = first_param,
        b = first_param + 1
    )
}

/// The mappings of `kind` by id, after the id `after`, at most `limit`.
pub async fn mappings_by_id(
    db: &Db,
    kind: MatchKind,
    filter: &MappingFilter,
    after: i64,
    limit: i64,
) -> R<Vec<ConsoleMapping>> {
    let (map, ..) = tables(kind);
    let sql =
        format!("SELECT {} FROM {map} m WHERE m.id > $1 AND {} ORDER BY m.id LIMIT $4", columns(kind), filter_sql(2));
    let manual = filter.manual.map(i64::from);
    let raw =
        run!(db, sql, MappingRaw, |q| q.bind(after).bind(filter.state.as_deref()).bind(manual).bind(limit), fetch_all)?;
    Ok(raw.into_iter().map(|r| from_raw(kind, r)).collect())
}

/// The mappings of `kind` by Nhanh id, after the Nhanh id `after`, at most `limit`.
pub async fn mappings_by_nhanh(
    db: &Db,
    kind: MatchKind,
    filter: &MappingFilter,
    after: Option<i64>,
    limit: i64,
) -> R<Vec<ConsoleMapping>> {
    let (map, n, ..) = tables(kind);
    let sql =
        format!("SELECT {} FROM {map} m WHERE m.{n} > $1 AND {} ORDER BY m.{n} LIMIT $4", columns(kind), filter_sql(2));
    let manual = filter.manual.map(i64::from);
    let after = after.unwrap_or(i64::MIN);
    let raw =
        run!(db, sql, MappingRaw, |q| q.bind(after).bind(filter.state.as_deref()).bind(manual).bind(limit), fetch_all)?;
    Ok(raw.into_iter().map(|r| from_raw(kind, r)).collect())
}

/// How the mappings of one kind stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindStats {
    /// Nhanh records present (not removed).
    pub nhanh_records: i64,
    /// Shopify records present.
    pub shopify_records: i64,
    /// Mappings with a Shopify side.
    pub mapped: i64,
    /// Present Nhanh records without a Shopify partner.
    pub unmapped: i64,
    /// Keys recorded as conflicts by the last match.
    pub conflicting: i64,
    /// Mappings whose last push failed.
    pub failing: i64,
    /// Mapped and waiting for their first (or next) push.
    pub pending: i64,
    /// Mapped and pushed.
    pub synced: i64,
    /// Hand-made mappings (including the Nhanh records unmapped by hand).
    pub manual: i64,
}

/// The statistics of `kind`.
pub async fn mapping_stats(db: &Db, kind: MatchKind) -> R<KindStats> {
    let (map, n, s, nt, st) = tables(kind);
    // The mapping table's counts in one scan of it (no index names a mapping's state).
    let sql = format!(
        "SELECT
           (SELECT COUNT(*) FROM {nt} r WHERE r.removed_at IS NULL),
           (SELECT COUNT(*) FROM {st} r WHERE r.removed_at IS NULL),
           m.mapped,
           (SELECT COUNT(*) FROM {nt} r WHERE r.removed_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM {map} m WHERE m.{n} = r.id AND m.{s} IS NOT NULL)),
           (SELECT COUNT(*) FROM match_conflicts c WHERE c.kind = $1),
           m.failing, m.pending, m.synced, m.manual
         FROM (SELECT COUNT(m.{s}) AS mapped,
                 COUNT(*) FILTER (WHERE m.{s} IS NOT NULL AND m.state = 'FAILED') AS failing,
                 COUNT(*) FILTER (WHERE m.{s} IS NOT NULL AND m.state = 'PENDING') AS pending,
                 COUNT(*) FILTER (WHERE m.{s} IS NOT NULL AND m.state = 'SYNCED') AS synced,
                 COUNT(*) FILTER (WHERE m.method = 'manual') AS manual
               FROM {map} m) m"
    );
    type Raw = (i64, i64, i64, i64, i64, i64, i64, i64, i64);
    let r = run!(db, sql, Raw, |q| q.bind(kind.as_str()), fetch_one)?;
    Ok(KindStats {
        nhanh_records: r.0,
        shopify_records: r.1,
        mapped: r.2,
        unmapped: r.3,
        conflicting: r.4,
        failing: r.5,
        pending: r.6,
        synced: r.7,
        manual: r.8,
    })
}

/// A pair to map by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandMapping {
    /// What is mapped.
    pub kind: MatchKind,
    /// The Nhanh record.
    pub nhanh_id: i64,
    /// The Shopify record.
    pub shopify_id: String,
    /// Who asks (kept in `created_by`).
    pub by: String,
    /// Take the Shopify record from the mapping that holds it (that mapping is deleted) instead
    /// of refusing.
    pub replace: bool,
    /// Now, unix ms.
    pub now_ms: i64,
}

/// The body of a hand mapping, for either backend's transaction (see [`map_by_hand`]). Returns
/// the mapping id.
macro_rules! write_pair {
    ($tx:ident, $q:ident, $m:expr) => {{
        let m: &HandMapping = $m;
        let kind = m.kind.as_str();
        let (map, n, s, nt, st) = tables(m.kind);
        let present = |table: &str| format!("SELECT removed_at IS NULL FROM {table} WHERE id = $1");
        let nhanh: Option<bool> =
            sqlx::query_scalar(&$q(&present(nt))).bind(m.nhanh_id).fetch_optional(&mut *$tx).await?;
        if nhanh != Some(true) {
            return Err(ConsoleError::UnknownNhanh { kind, id: m.nhanh_id });
        }
        let shopify: Option<bool> =
            sqlx::query_scalar(&$q(&present(st))).bind(&m.shopify_id).fetch_optional(&mut *$tx).await?;
        if shopify != Some(true) {
            return Err(ConsoleError::UnknownShopify { kind, id: m.shopify_id.clone() });
        }
        let holders: Vec<(i64, i64)> =
            sqlx::query_as(&$q(&format!("SELECT id, {n} FROM {map} WHERE {s} = $1 AND {n} <> $2 ORDER BY id")))
                .bind(&m.shopify_id)
                .bind(m.nhanh_id)
                .fetch_all(&mut *$tx)
                .await?;
        if let Some(&(mapping_id, nhanh_id)) = holders.first() {
            if !m.replace {
                return Err(ConsoleError::ShopifyTaken {
                    kind,
                    shopify_id: m.shopify_id.clone(),
                    mapping_id,
                    nhanh_id,
                });
            }
            for (holder, _) in &holders {
                sqlx::query(&$q("DELETE FROM sync_failures WHERE kind = $1 AND mapping_id = $2"))
                    .bind(kind)
                    .bind(holder)
                    .execute(&mut *$tx)
                    .await?;
                sqlx::query(&$q(&format!("DELETE FROM {map} WHERE id = $1"))).bind(holder).execute(&mut *$tx).await?;
            }
        }
        let existing: Option<(i64, Option<String>)> =
            sqlx::query_as(&$q(&format!("SELECT id, {s} FROM {map} WHERE {n} = $1")))
                .bind(m.nhanh_id)
                .fetch_optional(&mut *$tx)
                .await?;
        match existing {
            None => {
                let id: i64 = sqlx::query_scalar(&$q(&format!(
                    "INSERT INTO {map} ({n}, {s}, method, state, created_by, updated_at)
                     VALUES ($1, $2, 'manual', 'PENDING', $3, $4) RETURNING id"
                )))
                .bind(m.nhanh_id)
                .bind(&m.shopify_id)
                .bind(&m.by)
                .bind(m.now_ms)
                .fetch_one(&mut *$tx)
                .await?;
                id
            }
            Some((id, Some(current))) if current == m.shopify_id => {
                sqlx::query(&$q(&format!(
                    "UPDATE {map} SET method = 'manual', created_by = $2, updated_at = $3 WHERE id = $1"
                )))
                .bind(id)
                .bind(&m.by)
                .bind(m.now_ms)
                .execute(&mut *$tx)
                .await?;
                id
            }
            Some((id, _)) => {
                sqlx::query(&$q(&format!(
                    "UPDATE {map} SET {s} = $2, method = 'manual', match_key = NULL, job_id = NULL,
                       state = 'PENDING', last_error = NULL, synced_value = NULL, synced_at = NULL,
                       created_by = $3, updated_at = $4
                     WHERE id = $1"
                )))
                .bind(id)
                .bind(&m.shopify_id)
                .bind(&m.by)
                .bind(m.now_ms)
                .execute(&mut *$tx)
                .await?;
                sqlx::query(&$q("DELETE FROM sync_failures WHERE kind = $1 AND mapping_id = $2"))
                    .bind(kind)
                    .bind(id)
                    .execute(&mut *$tx)
                    .await?;
                id
            }
        }
    }};
}

/// Maps a Nhanh record to a Shopify record by hand, creating its mapping or re-mapping the one it
/// has. Mapping the same pair again only marks the mapping hand-made (its sync state stays);
/// another Shopify record resets it to `PENDING` and forgets its sync failures. Refused, with
/// nothing written, when either record is not in the catalog or the Shopify record is held by
/// another mapping (unless `replace`).
pub async fn map_by_hand(db: &Db, m: &HandMapping) -> Result<ConsoleMapping, ConsoleError> {
    let id = transaction!(db, m.kind, |tx, q| { write_pair!(tx, q, m) });
    mapping(db, m.kind, id).await?.ok_or(ConsoleError::UnknownMapping { kind: m.kind.as_str(), id })
}

/// Unmaps a mapping by hand: its Nhanh record keeps no Shopify partner (`manual`, `UNMAPPED`)
/// and matching leaves it alone until someone maps it again or deletes the mapping. Its sync
/// failures go.
pub async fn unmap_by_hand(
    db: &Db,
    kind: MatchKind,
    id: i64,
    by: &str,
    now_ms: i64,
) -> Result<ConsoleMapping, ConsoleError> {
    let (map, _, s, _, _) = tables(kind);
    let changed = transaction!(db, kind, |tx, q| {
        let n = sqlx::query(&q(&format!(
            "UPDATE {map} SET {s} = NULL, method = 'manual', match_key = NULL, job_id = NULL, state = 'UNMAPPED',
               last_error = NULL, synced_value = NULL, synced_at = NULL, created_by = $2, updated_at = $3
             WHERE id = $1"
        )))
        .bind(id)
        .bind(by)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(&q("DELETE FROM sync_failures WHERE kind = $1 AND mapping_id = $2"))
            .bind(kind.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        n
    });
    if changed == 0 {
        return Err(ConsoleError::UnknownMapping { kind: kind.as_str(), id });
    }
    mapping(db, kind, id).await?.ok_or(ConsoleError::UnknownMapping { kind: kind.as_str(), id })
}

/// Deletes a mapping (hand-made or matched) with its sync failures: its records are free for the
/// next match to pair. Returns the mapping as it was.
pub async fn delete_mapping(db: &Db, kind: MatchKind, id: i64) -> Result<ConsoleMapping, ConsoleError> {
    let (map, ..) = tables(kind);
    let cols = columns(kind);
    let gone = transaction!(db, kind, |tx, q| {
        let raw: Option<MappingRaw> = sqlx::query_as(&q(&format!("SELECT {cols} FROM {map} m WHERE m.id = $1")))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(&q("DELETE FROM sync_failures WHERE kind = $1 AND mapping_id = $2"))
            .bind(kind.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&q(&format!("DELETE FROM {map} WHERE id = $1"))).bind(id).execute(&mut *tx).await?;
        raw
    });
    gone.map(|r| from_raw(kind, r)).ok_or(ConsoleError::UnknownMapping { kind: kind.as_str(), id })
}

/// Resolves the conflict on `key` by mapping the chosen pair by hand (both must be among the
/// conflict's records); the conflict row goes in the same transaction. The next match records
/// it again only if the key is still ambiguous among the records left.
pub async fn resolve_conflict(db: &Db, key: &str, m: &HandMapping) -> Result<ConsoleMapping, ConsoleError> {
    let kind = m.kind.as_str();
    let id = transaction!(db, m.kind, |tx, q| {
        let row: Option<(String, String)> = sqlx::query_as(&q(
            "SELECT CAST(nhanh_ids AS TEXT), CAST(shopify_ids AS TEXT) FROM match_conflicts WHERE kind = $1 AND match_key = $2",
        ))
        .bind(kind)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((nhanh_ids, shopify_ids)) = row else {
            return Err(ConsoleError::UnknownConflict { kind, key: key.to_owned() });
        };
        let nhanh_ids: Vec<i64> = serde_json::from_str(&nhanh_ids).unwrap_or_default();
        let shopify_ids: Vec<String> = serde_json::from_str(&shopify_ids).unwrap_or_default();
        if !nhanh_ids.contains(&m.nhanh_id) {
            return Err(ConsoleError::NotInConflict(format!(
                "Nhanh {kind} {} is not one of the conflict's Nhanh records {nhanh_ids:?}",
                m.nhanh_id
            )));
        }
        if !shopify_ids.contains(&m.shopify_id) {
            return Err(ConsoleError::NotInConflict(format!(
                "Shopify {kind} {:?} is not one of the conflict's Shopify records {shopify_ids:?}",
                m.shopify_id
            )));
        }
        let id = write_pair!(tx, q, m);
        sqlx::query(&q("DELETE FROM match_conflicts WHERE kind = $1 AND match_key = $2"))
            .bind(kind)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        id
    });
    mapping(db, m.kind, id).await?.ok_or(ConsoleError::UnknownMapping { kind, id })
}
