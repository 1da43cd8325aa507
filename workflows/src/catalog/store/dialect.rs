//! What the two backends spell differently, in one place, so that a catalog store function is
//! written once and runs on both.
//!
//! A function's body is written once inside [`on_db!`] (given a [`Db`](dongbo_engine::Db)) or
//! [`on_tx!`] (given a step's [`StoreTx`]), which compiles it once per backend: there the
//! connection is that backend's and `d` is its dialect, [`Sqlite`] or [`Postgres`]. The two
//! types have methods of the same names that give the backend's spelling and its parameter
//! types, so each expansion type-checks against its own driver. No other module of the catalog
//! store matches on the backend.
//!
//! What is the same on both and so needs nothing here:
//! - placeholders: `$n` (SQLite reads `$n` as the n-th parameter too);
//! - upserts: `INSERT … ON CONFLICT (…) DO UPDATE SET … = excluded.…` or `DO NOTHING`; an
//!   `INSERT … SELECT` upsert ends its `SELECT` with `WHERE true`, which SQLite needs to tell the
//!   upsert's `ON` from a join's;
//! - `RETURNING`, row values, `IS DISTINCT FROM`, `CAST(x AS TEXT|BIGINT)` — but a write with
//!   `RETURNING` outside a transaction is fetched whole and its row taken by [`returned`], never
//!   with `fetch_optional` or `fetch_one` (see there why).
//!
//! What differs, each a method:
//! - a job id is PostgreSQL's `uuid` and SQLite's hyphenated text (`job`);
//! - a list of ids is one array parameter (`= ANY($n::bigint[])`) or one JSON array read with
//!   `json_each` (`in_list`, `list`);
//! - a batch of rows is `UNNEST` of one array per column or one JSON array of rows (`rows`,
//!   `batch`): one statement per batch on both;
//! - a JSON value is `jsonb` or text (`json`);
//! - an integer inside a JSON object is `->>` or `json_extract` (`json_int`);
//! - byte order of text is `COLLATE "C"` or SQLite's default (`bytewise`);
//! - a row lock that other takers skip is `FOR UPDATE SKIP LOCKED` or nothing, SQLite having one
//!   writer (`skip_locked`);
//! - a write transaction that holds the writer's lock from its start is `BEGIN IMMEDIATE` or a
//!   transaction-scoped advisory lock (`begin_locked`).

use dongbo_engine::{JobId, StoreTx};
use serde::Serialize;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::sqlite::SqliteArguments;

/// SQLite's spelling.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sqlite;

/// PostgreSQL's spelling.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Postgres;

/// The row a write's `RETURNING` gave, if any, from the whole of its rows: fetch such a write
/// with `fetch_all` when it runs outside a transaction, and take its row here.
///
/// Outside a transaction a write commits when its statement ends. sqlx's `fetch_optional` and
/// `fetch_one` stop SQLite's statement at its first row, before that end: the commit then
/// happens when sqlx resets the statement, which discards its error, so a write whose commit
/// failed (a full disk, a deferred constraint) would read as done, its row in hand. Run to its end,
/// the statement reports the failure.
pub(crate) fn returned<T>(rows: Vec<T>) -> Option<T> {
    rows.into_iter().next()
}

/// Runs `$body` once per backend with `$pool` the [`Db`](dongbo_engine::Db)'s pool and `$d` its
/// dialect.
macro_rules! on_db {
    ($db:expr, |$pool:ident, $d:ident| $body:expr) => {
        match $db {
            dongbo_engine::Db::Sqlite($pool) => {
                #[allow(unused_variables)]
                let $d = $crate::catalog::store::dialect::Sqlite;
                $body
            }
            dongbo_engine::Db::Postgres($pool) => {
                #[allow(unused_variables)]
                let $d = $crate::catalog::store::dialect::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_db;

/// Runs `$body` once per backend with `$conn` the step's connection (`$tx`: a
/// `&mut StoreTx`) and `$d` its dialect.
macro_rules! on_tx {
    ($tx:expr, |$conn:ident, $d:ident| $body:expr) => {
        match $tx {
            dongbo_engine::StoreTx::Sqlite(c) => {
                let $conn: &mut sqlx::SqliteConnection = &mut **c;
                #[allow(unused_variables)]
                let $d = $crate::catalog::store::dialect::Sqlite;
                $body
            }
            dongbo_engine::StoreTx::Postgres(c) => {
                let $conn: &mut sqlx::PgConnection = &mut **c;
                #[allow(unused_variables)]
                let $d = $crate::catalog::store::dialect::Postgres;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

/// Column `(name, PostgreSQL type)` of a batch of rows ([`Sqlite::rows`], [`Postgres::rows`]).
pub(crate) type Col<'a> = (&'a str, &'a str);

impl Sqlite {
    /// Whether this is PostgreSQL.
    pub(crate) fn postgres(self) -> bool {
        false
    }

    /// The SQLite form of a statement written with PostgreSQL's parameters: `$n::type` becomes
    /// `$n` (the type is the bound value's).
    pub(crate) fn params(self, pg: &str) -> String {
        strip_casts(pg)
    }

    /// A job id as the catalog stores it: its hyphenated text.
    pub(crate) fn job(self, id: JobId) -> String {
        id.to_string()
    }

    /// A list as one parameter: a JSON array.
    pub(crate) fn list<T: Serialize>(self, items: &[T]) -> String {
        serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
    }

    /// `IN` the list parameter `$n` ([`Sqlite::list`]).
    pub(crate) fn in_list(self, n: usize, _pg_type: &str) -> String {
        format!("IN (SELECT value FROM json_each(${n}))")
    }

    /// The batch parameter `$n` as a table `t` of the columns `cols`: one JSON array of rows
    /// ([`Sqlite::batch`]).
    pub(crate) fn rows(self, n: usize, cols: &[Col<'_>]) -> String {
        let cols: Vec<String> = cols.iter().enumerate().map(|(i, (c, _))| format!("j.value ->> {i} AS {c}")).collect();
        format!("(SELECT {} FROM json_each(${n}) j) AS t", cols.join(", "))
    }

    /// Binds a batch of `len` rows as the next parameter, one [`SqliteBatch::col`] per column.
    pub(crate) fn batch<'q>(self, q: Query<'q, sqlx::Sqlite, SqliteArguments<'q>>, len: usize) -> SqliteBatch<'q> {
        SqliteBatch { q, rows: JsonRows::new(len) }
    }

    /// A JSON value from text: stored as the text.
    pub(crate) fn json(self, text: &str) -> String {
        text.to_owned()
    }

    /// The integer at key `key` (an SQL text expression) of the JSON object `object`; NULL when
    /// absent.
    pub(crate) fn json_int(self, object: &str, key: &str) -> String {
        format!("CAST(json_extract({object}, '$.\"' || {key} || '\"') AS INTEGER)")
    }

    /// `expr` compared and ordered byte by byte (SQLite's default).
    pub(crate) fn bytewise(self, expr: &str) -> String {
        expr.to_owned()
    }

    /// The step transaction of a connection.
    pub(crate) fn tx(self, conn: &mut sqlx::SqliteConnection) -> StoreTx<'_> {
        StoreTx::Sqlite(conn)
    }

    /// The end of a `SELECT` whose rows concurrent takers skip: nothing (one writer at a time).
    pub(crate) fn skip_locked(self) -> &'static str {
        ""
    }

    /// A write transaction holding the writer's lock from its start (`BEGIN IMMEDIATE`), so
    /// its first write never finds its snapshot stale.
    pub(crate) async fn begin_write(
        self,
        pool: &sqlx::SqlitePool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// A write transaction holding the writer's lock from its start (`BEGIN IMMEDIATE`: the
    /// database's one writer, whatever `_key`).
    pub(crate) async fn begin_locked(
        self,
        pool: &sqlx::SqlitePool,
        _key: i64,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }
}

impl Postgres {
    /// Whether this is PostgreSQL.
    pub(crate) fn postgres(self) -> bool {
        true
    }

    /// A statement written with PostgreSQL's parameters, as it is.
    pub(crate) fn params(self, pg: &str) -> String {
        pg.to_owned()
    }

    /// A job id as the catalog stores it: a `uuid`.
    pub(crate) fn job(self, id: JobId) -> uuid::Uuid {
        id.as_uuid()
    }

    /// A list as one parameter: an array.
    pub(crate) fn list<T: Clone>(self, items: &[T]) -> Vec<T> {
        items.to_vec()
    }

    /// `IN` the list parameter `$n`, an array of `pg_type`.
    pub(crate) fn in_list(self, n: usize, pg_type: &str) -> String {
        format!("= ANY(${n}::{pg_type}[])")
    }

    /// The batch parameters `$n…` (one array per column) as a table `t` of the columns `cols`.
    pub(crate) fn rows(self, n: usize, cols: &[Col<'_>]) -> String {
        let arrays: Vec<String> = cols.iter().enumerate().map(|(i, (_, ty))| format!("${}::{ty}[]", n + i)).collect();
        let names: Vec<&str> = cols.iter().map(|(c, _)| *c).collect();
        format!("UNNEST({}) AS t({})", arrays.join(", "), names.join(", "))
    }

    /// Binds a batch of rows as the next parameters, one [`PgBatch::col`] per column.
    pub(crate) fn batch(self, q: Query<'_, sqlx::Postgres, PgArguments>, _len: usize) -> PgBatch<'_> {
        PgBatch { q }
    }

    /// A JSON value from text: `jsonb`.
    pub(crate) fn json(self, text: &str) -> String {
        format!("CAST({text} AS jsonb)")
    }

    /// The integer at key `key` (an SQL text expression) of the JSON object `object`; NULL when
    /// absent.
    pub(crate) fn json_int(self, object: &str, key: &str) -> String {
        format!("CAST(({object} ->> {key}) AS BIGINT)")
    }

    /// `expr` compared and ordered byte by byte, whatever the database's collation.
    pub(crate) fn bytewise(self, expr: &str) -> String {
        format!("{expr} COLLATE \"C\"")
    }

    /// The step transaction of a connection.
    pub(crate) fn tx(self, conn: &mut sqlx::PgConnection) -> StoreTx<'_> {
        StoreTx::Postgres(conn)
    }

    /// The end of a `SELECT` whose rows concurrent takers skip.
    pub(crate) fn skip_locked(self) -> &'static str {
        " FOR UPDATE SKIP LOCKED"
    }

    /// A write transaction (rows lock as they are written).
    pub(crate) async fn begin_write(
        self,
        pool: &sqlx::PgPool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        pool.begin().await
    }

    /// A write transaction holding the transaction-scoped advisory lock `key` from its start.
    pub(crate) async fn begin_locked(
        self,
        pool: &sqlx::PgPool,
        key: i64,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(&mut *tx).await?;
        Ok(tx)
    }
}

/// `pg` with every `$n::type` parameter as `$n`.
fn strip_casts(pg: &str) -> String {
    let mut out = String::with_capacity(pg.len());
    let mut chars = pg.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
            out.push(d);
            chars.next();
        }
        if chars.peek() == Some(&':') {
            chars.next();
            chars.next();
            while chars.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
                chars.next();
            }
        }
    }
    out
}

/// The pool of a PostgreSQL database, for what only PostgreSQL has (the cluster-wide limiter's
/// slots); `None` on SQLite.
pub fn postgres_pool(db: &dongbo_engine::Db) -> Option<sqlx::PgPool> {
    on_db!(db, |pool, d| d.pool_if_postgres(pool))
}

impl Sqlite {
    fn pool_if_postgres(self, _pool: &sqlx::SqlitePool) -> Option<sqlx::PgPool> {
        None
    }
}

impl Postgres {
    fn pool_if_postgres(self, pool: &sqlx::PgPool) -> Option<sqlx::PgPool> {
        Some(pool.clone())
    }
}

/// A batch of rows being bound on SQLite: collected row by row into one JSON array.
pub(crate) struct SqliteBatch<'q> {
    q: Query<'q, sqlx::Sqlite, SqliteArguments<'q>>,
    rows: JsonRows,
}

impl<'q> SqliteBatch<'q> {
    /// The next column, a value per row.
    pub(crate) fn col<T: Serialize>(mut self, values: impl IntoIterator<Item = T>) -> Self {
        self.rows.col(values);
        self
    }

    /// The query with the batch bound.
    pub(crate) fn done(self) -> Query<'q, sqlx::Sqlite, SqliteArguments<'q>> {
        self.q.bind(self.rows.into_text())
    }
}

/// Rows of cells as one JSON array of arrays, each cell written as JSON text as it comes (no
/// value tree: a match batch binds 20,000 rows of four cells).
struct JsonRows {
    /// Each row's cells so far, as JSON text separated by commas.
    rows: Vec<Vec<u8>>,
}

impl JsonRows {
    fn new(len: usize) -> JsonRows {
        JsonRows { rows: vec![Vec::new(); len] }
    }

    /// Adds a cell to each row (a value that does not serialise is `null`).
    fn col<T: Serialize>(&mut self, values: impl IntoIterator<Item = T>) {
        for (row, v) in self.rows.iter_mut().zip(values) {
            if !row.is_empty() {
                row.push(b',');
            }
            let start = row.len();
            if serde_json::to_writer(&mut *row, &v).is_err() {
                row.truncate(start);
                row.extend_from_slice(b"null");
            }
        }
    }

    /// The document: `[[cell, …], …]`.
    fn into_text(self) -> String {
        let mut doc = String::with_capacity(self.rows.iter().map(|r| r.len() + 3).sum::<usize>() + 2);
        doc.push('[');
        for (i, row) in self.rows.iter().enumerate() {
            if i > 0 {
                doc.push(',');
            }
            doc.push('[');
            // serde_json writes UTF-8 only.
            doc.push_str(&String::from_utf8_lossy(row));
            doc.push(']');
        }
        doc.push(']');
        doc
    }
}

/// A batch of rows being bound on PostgreSQL: an array per column.
pub(crate) struct PgBatch<'q> {
    q: Query<'q, sqlx::Postgres, PgArguments>,
}

impl<'q> PgBatch<'q> {
    /// The next column, a value per row.
    pub(crate) fn col<T>(self, values: impl IntoIterator<Item = T>) -> Self
    where
        Vec<T>: 'q + sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
    {
        PgBatch { q: self.q.bind(values.into_iter().collect::<Vec<T>>()) }
    }

    /// The query with the batch bound.
    pub(crate) fn done(self) -> Query<'q, sqlx::Postgres, PgArguments> {
        self.q
    }
}

#[cfg(test)]
mod tests {
    use super::{JsonRows, Postgres, Sqlite};

    #[test]
    fn a_batch_is_a_table_of_arrays_on_postgres_and_of_json_rows_on_sqlite() {
        let cols = [("id", "bigint"), ("name", "text")];
        assert_eq!(Postgres.rows(3, &cols), "UNNEST($3::bigint[], $4::text[]) AS t(id, name)");
        assert_eq!(
            Sqlite.rows(3, &cols),
            "(SELECT j.value ->> 0 AS id, j.value ->> 1 AS name FROM json_each($3) j) AS t"
        );
    }

    #[test]
    fn a_sqlite_batch_is_one_json_array_of_rows() {
        let mut rows = JsonRows::new(3);
        rows.col([1i64, -2, 3]);
        rows.col(["plain", "quote \" and \\ and\nline", "Nguyễn Văn Ánh"]);
        rows.col([Some(7i64), None, Some(9)]);
        let doc: serde_json::Value = serde_json::from_str(&rows.into_text()).expect("JSON");
        assert_eq!(
            doc,
            serde_json::json!([[1, "plain", 7], [-2, "quote \" and \\ and\nline", null], [3, "Nguyễn Văn Ánh", 9]])
        );
        assert_eq!(JsonRows::new(0).into_text(), "[]");
        let mut short = JsonRows::new(2);
        short.col([1i64]);
        assert_eq!(short.into_text(), "[[1],[]]", "a column shorter than the batch leaves its rows short");
    }

    #[test]
    fn a_list_is_an_array_on_postgres_and_json_on_sqlite() {
        assert_eq!(Postgres.in_list(1, "text"), "= ANY($1::text[])");
        assert_eq!(Sqlite.in_list(1, "text"), "IN (SELECT value FROM json_each($1))");
        assert_eq!(Sqlite.list(&[1i64, 2]), "[1,2]");
    }

    #[test]
    fn postgres_parameters_lose_their_casts_on_sqlite() {
        let pg = "a > $1::text AND b <= $2 LIMIT $3::bigint";
        assert_eq!(Sqlite.params(pg), "a > $1 AND b <= $2 LIMIT $3");
        assert_eq!(Postgres.params(pg), pg);
    }
}
