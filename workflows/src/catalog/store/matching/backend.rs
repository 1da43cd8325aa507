//! How the matching reads reach each backend cheaply: the one place where the two truly differ,
//! side by side as the dialects' methods.
//!
//! - **PostgreSQL**: every read runs in a short transaction whose plan settings fit what the
//!   reads are, range lookups of a few thousand keys over indexes in cache. The defaults price
//!   them as cold table scans (`random_page_cost` 4), start parallel workers for them, and
//!   JIT-compile any plan costed over 100,000 (about 90 ms per statement, more than the
//!   statement itself). The settings are `SET LOCAL`: nothing outside the transaction sees them.
//!   Plans stay custom (`persistent(false)`): a generic plan made while the mapping table was
//!   empty would keep scanning it whole after the job filled it.
//! - **SQLite**: the driver hands every result row from its worker thread to the caller one at
//!   a time, which costs about as much as the query itself for thousands of small rows; a read
//!   returns its rows as one JSON document instead (`json_group_array`), decoded here. Id lists
//!   go in the same way, as one JSON parameter read with `json_each`.

use dongbo_engine::Db;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, SqlitePool, Transaction};

use super::tables::MatchKind;
use super::R;
use crate::catalog::store::dialect::{on_db, Postgres, Sqlite};

/// A row a matching read returns: a tuple of the columns `c0`, `c1`, … read from PostgreSQL
/// directly and from SQLite's JSON document.
pub(super) trait ReadRow: DeserializeOwned + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}
impl<T: DeserializeOwned + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin> ReadRow for T {}

/// What a matching read binds.
#[derive(Debug, Clone, Copy)]
pub(super) enum Bind<'a> {
    /// `$1` and `$2`: the key range `after < key <= upto`.
    Range(&'a str, &'a str),
    /// `$1` and `$2`: the keys after `$1`, at most `$2` rows.
    First(&'a str, i64),
    /// `$1`: Nhanh ids (the statement's `{ids}`, [`ids_in`]).
    Ints(&'a [i64]),
    /// `$1`: Shopify ids.
    Texts(&'a [String]),
}

/// The rows of `pg` (columns `c0`…, written with PostgreSQL's parameters), bound with `bind`;
/// `order` orders SQLite's document.
pub(super) async fn read_rows<T: ReadRow>(db: &Db, pg: &str, columns: usize, order: &str, bind: Bind<'_>) -> R<Vec<T>> {
    on_db!(db, |pool, d| d.read_rows(pool, pg, columns, order, bind).await)
}

/// The rows of `pg` over the key range `after < key <= upto`.
pub(super) async fn range_rows<T: ReadRow>(
    db: &Db,
    pg: &str,
    columns: usize,
    order: &str,
    after: &str,
    upto: &str,
) -> R<Vec<T>> {
    read_rows(db, pg, columns, order, Bind::Range(after, upto)).await
}

/// The rows of `template` for the records `ids` (its `{ids}`; `pg_type` the ids' type).
pub(super) async fn id_rows<T: ReadRow>(
    db: &Db,
    kind: MatchKind,
    template: &str,
    pg_type: &str,
    ids: Bind<'_>,
    columns: usize,
    order: &str,
) -> R<Vec<T>> {
    let ids_in = on_db!(db, |_pool, d| d.in_list(1, pg_type));
    read_rows(db, &kind.sql(&template.replace("{ids}", &ids_in)), columns, order, ids).await
}

/// The single value of `pg`, a count.
pub(super) async fn read_count(db: &Db, pg: &str) -> R<i64> {
    on_db!(db, |pool, d| d.read_count(pool, pg).await)
}

impl Sqlite {
    async fn read_rows<T: ReadRow>(
        self,
        pool: &SqlitePool,
        pg: &str,
        columns: usize,
        order: &str,
        bind: Bind<'_>,
    ) -> R<Vec<T>> {
        let sql = json_rows(&self.params(pg), columns, order);
        let q = sqlx::query_scalar(&sql);
        let q = match bind {
            Bind::Range(after, upto) => q.bind(after).bind(upto),
            Bind::First(after, limit) => q.bind(after).bind(limit),
            Bind::Ints(ids) => q.bind(self.list(ids)),
            Bind::Texts(ids) => q.bind(self.list(ids)),
        };
        decode(q.fetch_one(pool).await?)
    }

    async fn read_count(self, pool: &SqlitePool, pg: &str) -> R<i64> {
        sqlx::query_scalar(&self.params(pg)).fetch_one(pool).await
    }
}

impl Postgres {
    async fn read_rows<T: ReadRow>(
        self,
        pool: &PgPool,
        pg: &str,
        _columns: usize,
        _order: &str,
        bind: Bind<'_>,
    ) -> R<Vec<T>> {
        let mut tx = pg_read(pool).await?;
        let q = sqlx::query_as(pg).persistent(false);
        let q = match bind {
            Bind::Range(after, upto) => q.bind(after).bind(upto),
            Bind::First(after, limit) => q.bind(after).bind(limit),
            Bind::Ints(ids) => q.bind(ids),
            Bind::Texts(ids) => q.bind(ids),
        };
        let rows = q.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn read_count(self, pool: &PgPool, pg: &str) -> R<i64> {
        let mut tx = pg_read(pool).await?;
        let n = sqlx::query_scalar(pg).fetch_one(&mut *tx).await?;
        tx.commit().await?;
        Ok(n)
    }
}

const PG_SETTINGS: &str = "SELECT set_config('jit', 'off', true), set_config('random_page_cost', '1.1', true),
  set_config('max_parallel_workers_per_gather', '0', true)";

/// A read transaction with the matching plan settings; commit or drop it when done.
async fn pg_read(pool: &PgPool) -> R<Transaction<'static, sqlx::Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query(PG_SETTINGS).execute(&mut *tx).await?;
    Ok(tx)
}

/// `inner`, whose columns are `c0` … `c{columns-1}`, as one JSON array of row arrays in `order`.
fn json_rows(inner: &str, columns: usize, order: &str) -> String {
    let cols: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let order = if order.is_empty() { String::new() } else { format!(" ORDER BY {order}") };
    format!("SELECT json_group_array(json_array({}){order}) FROM ({inner})", cols.join(", "))
}

/// The rows of a [`json_rows`] document.
fn decode<T: DeserializeOwned>(doc: Option<String>) -> R<Vec<T>> {
    match doc {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e))),
    }
}
