//! How the matching reads reach each backend cheaply.
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
use serde::Serialize;
use sqlx::postgres::{PgHasArrayType, PgRow};
use sqlx::{PgPool, Postgres, Transaction};

use super::tables::{sqlite, MatchKind};
use super::R;

/// A row a matching read returns: a tuple of the columns `c0`, `c1`, … read from PostgreSQL
/// directly and from SQLite's JSON document.
pub(super) trait ReadRow: DeserializeOwned + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}
impl<T: DeserializeOwned + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin> ReadRow for T {}

/// The rows of `pg` (`columns` columns `c0`…, parameters `$1` and `$2` the key range
/// `after < key <= upto`), on either backend; `order` orders SQLite's document.
pub(super) async fn range_rows<T: ReadRow>(
    db: &Db,
    pg: &str,
    columns: usize,
    order: &str,
    after: &str,
    upto: &str,
) -> R<Vec<T>> {
    match db {
        Db::Sqlite(pool) => {
            let sql = json_rows(&sqlite(pg), columns, order);
            decode(sqlx::query_scalar(&sql).bind(after).bind(upto).fetch_one(pool).await?)
        }
        Db::Postgres(pool) => {
            let mut tx = pg_read(pool).await?;
            let rows = sqlx::query_as(pg).persistent(false).bind(after).bind(upto).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows)
        }
    }
}

/// The rows of `template` for the records `ids` (its `{ids}`; `pg_type` the array's element
/// type on PostgreSQL), on either backend; `order` orders SQLite's document.
pub(super) async fn id_rows<T: ReadRow, I>(
    db: &Db,
    kind: MatchKind,
    template: &str,
    pg_type: &str,
    ids: &[I],
    columns: usize,
    order: &str,
) -> R<Vec<T>>
where
    I: Serialize + sqlx::Type<Postgres> + PgHasArrayType + for<'q> sqlx::Encode<'q, Postgres> + Sync,
{
    match db {
        Db::Sqlite(pool) => {
            let sql = json_rows(&sqlite(&kind.sql(&ids_in(template, false, ""))), columns, order);
            decode(sqlx::query_scalar(&sql).bind(json_param(ids)).fetch_one(pool).await?)
        }
        Db::Postgres(pool) => {
            let sql = kind.sql(&ids_in(template, true, pg_type));
            let mut tx = pg_read(pool).await?;
            let rows = sqlx::query_as(&sql).persistent(false).bind(ids).fetch_all(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows)
        }
    }
}

const PG_SETTINGS: &str = "SELECT set_config('jit', 'off', true), set_config('random_page_cost', '1.1', true),
  set_config('max_parallel_workers_per_gather', '0', true)";

/// A read transaction with the matching plan settings; commit or drop it when done.
pub(super) async fn pg_read(pool: &PgPool) -> R<Transaction<'static, Postgres>> {
    let mut tx = pool.begin().await?;
    sqlx::query(PG_SETTINGS).execute(&mut *tx).await?;
    Ok(tx)
}

/// `inner`, whose columns are `c0` … `c{columns-1}`, as one JSON array of row arrays in `order`.
pub(super) fn json_rows(inner: &str, columns: usize, order: &str) -> String {
    let cols: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let order = if order.is_empty() { String::new() } else { format!(" ORDER BY {order}") };
    format!("SELECT json_group_array(json_array({}){order}) FROM ({inner})", cols.join(", "))
}

/// The rows of a [`json_rows`] document.
pub(super) fn decode<T: DeserializeOwned>(doc: Option<String>) -> R<Vec<T>> {
    match doc {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e))),
    }
}

/// A list as one JSON parameter (for `json_each`).
pub(super) fn json_param<T: Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

/// `{ids}` for a list of ids bound as parameter 1: `json_each` on SQLite, `ANY` of an array on
/// PostgreSQL (`pg_type` is the array's element type).
pub(super) fn ids_in(template: &str, pg: bool, pg_type: &str) -> String {
    if pg {
        template.replace("{ids}", &format!("= ANY($1::{pg_type}[])"))
    } else {
        template.replace("{ids}", "IN (SELECT value FROM json_each($1))")
    }
}
