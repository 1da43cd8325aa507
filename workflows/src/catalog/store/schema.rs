//! The catalog's migrations (`migrations/catalog/{sqlite,postgres}`) and [`open`], which gives a
//! database every table of the engine and of this crate: the engine's migrations first, then
//! the catalog's.
//!
//! Both sets keep their bookkeeping in the one table sqlx knows, `_sqlx_migrations`, keyed by
//! version: the sets split one sequence of numbers (a version belongs to one set only,
//! `migrations/README.md`), and each runs as a
//! [`shared`](dongbo_engine::store::migrations::shared) set that leaves the other's rows alone.
//! A database made before the split recorded versions 0001–0011 under one migrator from the
//! same files, so each row is now claimed by exactly one set with its checksum unchanged: nothing
//! runs again and no row is rewritten. What one migrator checked alone — that the database holds
//! no version this binary does not know (a newer release migrated it) — [`open`] checks over
//! both sets before either runs.

use std::collections::BTreeSet;

use dongbo_engine::store::migrations as engine;
use dongbo_engine::{Db, SharedStore, StoreError};
use sqlx::migrate::{AppliedMigration, Migrate, MigrateError, Migrator};

use super::dialect::{on_db, Postgres, Sqlite};

/// The catalog's SQLite migrations, shared with the engine's in `_sqlx_migrations`.
pub fn sqlite_migrations() -> Migrator {
    engine::shared(sqlx::migrate!("../migrations/catalog/sqlite"))
}

/// The catalog's PostgreSQL migrations, shared with the engine's in `_sqlx_migrations`.
pub fn postgres_migrations() -> Migrator {
    engine::shared(sqlx::migrate!("../migrations/catalog/postgres"))
}

/// Every set a database of this binary holds on `db`'s backend, in the order they apply:
/// the engine's, then the catalog's.
pub fn migration_sets(db: &Db) -> [Migrator; 2] {
    on_db!(db, |_pool, d| d.migration_sets())
}

/// Opens the database `url` names (`sqlite://path`, `sqlite::memory:`, `postgres://…`) with the
/// engine's tables and the catalog's, migrated in that order. A database holding a migration
/// neither set knows is refused before anything runs
/// ([`MigrateError::VersionMissing`]).
pub async fn open(url: &str) -> Result<SharedStore, StoreError> {
    let store = dongbo_engine::connect(url).await?;
    let db = store.db();
    let sets = migration_sets(&db);
    let known: BTreeSet<i64> = sets.iter().flat_map(|set| set.iter().map(|m| m.version)).collect();
    if let Some(unknown) = applied(&db).await?.iter().find(|m| !known.contains(&m.version)) {
        return Err(MigrateError::VersionMissing(unknown.version).into());
    }
    store.migrate().await?;
    migrate(&db).await?;
    Ok(store)
}

/// Applies the catalog's migrations; the engine's must have run (as [`open`] does).
pub async fn migrate(db: &Db) -> Result<(), MigrateError> {
    on_db!(db, |pool, d| {
        let [_, catalog] = d.migration_sets();
        catalog.run(pool).await
    })
}

/// The migrations recorded in `_sqlx_migrations` (created empty if missing), read under the
/// migrators' lock so a process migrating at the same time is waited for.
async fn applied(db: &Db) -> Result<Vec<AppliedMigration>, MigrateError> {
    async fn read<C: Migrate>(conn: &mut C) -> Result<Vec<AppliedMigration>, MigrateError> {
        conn.lock().await?;
        conn.ensure_migrations_table().await?;
        let applied = conn.list_applied_migrations().await;
        conn.unlock().await?;
        applied
    }
    on_db!(db, |pool, d| read(&mut *pool.acquire().await?).await)
}

impl Sqlite {
    fn migration_sets(self) -> [Migrator; 2] {
        [engine::sqlite(), sqlite_migrations()]
    }
}

impl Postgres {
    fn migration_sets(self) -> [Migrator; 2] {
        [engine::postgres(), postgres_migrations()]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use sqlx::migrate::Migrator;

    /// `(version, set)` of every migration of `sets`; panics on a version two sets share.
    fn versions(sets: &[(&str, Migrator)]) -> BTreeMap<i64, String> {
        let mut seen = BTreeMap::new();
        for (name, set) in sets {
            for m in set.iter() {
                if let Some(other) = seen.insert(m.version, name.to_string()) {
                    panic!("version {} is in both the {other} and the {name} migrations", m.version);
                }
            }
        }
        seen
    }

    #[test]
    fn the_engine_and_the_catalog_never_share_a_migration_version() {
        use dongbo_engine::store::migrations as engine;
        let sqlite = versions(&[("engine", engine::sqlite()), ("catalog", super::sqlite_migrations())]);
        let postgres = versions(&[("engine", engine::postgres()), ("catalog", super::postgres_migrations())]);
        // The release before the split recorded 0001-0011 from one set: each is one set's now
        // (0008 is PostgreSQL's alone), so an existing database's rows are all claimed.
        let before_split = |v: BTreeMap<i64, String>| v.into_iter().filter(|(n, _)| *n <= 11).collect::<Vec<_>>();
        let expect = |with_0008: bool| {
            let sets = [(1, "engine"), (2, "catalog"), (4, "catalog"), (6, "engine"), (7, "catalog")]
                .into_iter()
                .chain(with_0008.then_some((8, "catalog")))
                .chain([(9, "catalog"), (10, "engine"), (11, "catalog")]);
            sets.map(|(n, s)| (n, s.to_string())).collect::<Vec<_>>()
        };
        assert_eq!(before_split(sqlite), expect(false));
        assert_eq!(before_split(postgres), expect(true));
    }
}
