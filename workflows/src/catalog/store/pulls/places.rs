//! Shopify locations, Nhanh depots, and the location mapping (which depots feed which location).
//!
//! The mapping is configuration, not pulled: an operator (or a test, from the simulator's truth)
//! sets it with [`set_location_mapping`], after checking it with [`validate_location_mapping`], and
//! unsets it with [`remove_location_mapping`].

use async_trait::async_trait;
use dongbo_engine::{Db, EffectError, StepEffects, StoreTx};

use super::rows::{dedup_by_id, DepotRow, LocationRow};

/// Upserts Shopify locations by gid (the name is replaced).
#[derive(Debug, Clone)]
pub struct UpsertLocations {
    /// The locations.
    pub rows: Vec<LocationRow>,
}

#[async_trait]
impl StepEffects for UpsertLocations {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        let rows = dedup_by_id(&self.rows, |r| r.id.clone());
        match tx {
            StoreTx::Sqlite(conn) => {
                for r in rows {
                    sqlx::query(
                        "INSERT INTO shopify_locations (id, name) VALUES (?, ?)
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                    )
                    .bind(&r.id)
                    .bind(&r.name)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            StoreTx::Postgres(conn) => {
                for r in rows {
                    sqlx::query(
                        "INSERT INTO shopify_locations (id, name) VALUES ($1, $2)
                         ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
                    )
                    .bind(&r.id)
                    .bind(&r.name)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}

/// Upserts Nhanh depots by id; a row without a name keeps the stored name.
#[derive(Debug, Clone)]
pub struct UpsertDepots {
    /// The depots.
    pub rows: Vec<DepotRow>,
}

#[async_trait]
impl StepEffects for UpsertDepots {
    async fn apply(&self, tx: StoreTx<'_>) -> Result<(), EffectError> {
        let rows = dedup_by_id(&self.rows, |r| r.id);
        match tx {
            StoreTx::Sqlite(conn) => {
                for r in rows {
                    sqlx::query(
                        "INSERT INTO nhanh_depots (id, name) VALUES (?, ?)
                         ON CONFLICT (id) DO UPDATE SET name = COALESCE(excluded.name, nhanh_depots.name)",
                    )
                    .bind(r.id as i64)
                    .bind(&r.name)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            StoreTx::Postgres(conn) => {
                for r in rows {
                    sqlx::query(
                        "INSERT INTO nhanh_depots (id, name) VALUES ($1, $2)
                         ON CONFLICT (id) DO UPDATE SET name = COALESCE(EXCLUDED.name, nhanh_depots.name)",
                    )
                    .bind(r.id as i64)
                    .bind(&r.name)
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}

/// Checks one mapping entry: the location must be a Shopify location gid. Returns the gid trimmed.
pub fn validate_location_mapping(depot_id: u64, location_gid: &str) -> Result<String, String> {
    let gid = location_gid.trim();
    let number = gid.strip_prefix("gid://shopify/Location/").unwrap_or("");
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "depot {depot_id}: {location_gid:?} is not a Shopify location id (gid://shopify/Location/<n>)"
        ));
    }
    Ok(gid.to_owned())
}

/// Maps Nhanh depot `depot_id` onto Shopify location `location_gid` (replacing its previous
/// mapping). Several depots may map onto one location: their stock is summed.
pub async fn set_location_mapping(db: &Db, depot_id: u64, location_gid: &str) -> Result<(), sqlx::Error> {
    let gid = validate_location_mapping(depot_id, location_gid).map_err(sqlx::Error::Protocol)?;
    match db {
        Db::Sqlite(pool) => {
            sqlx::query(
                "INSERT INTO location_mappings (depot_id, location_id) VALUES (?, ?)
                 ON CONFLICT (depot_id) DO UPDATE SET location_id = excluded.location_id",
            )
            .bind(depot_id as i64)
            .bind(&gid)
            .execute(pool)
            .await?;
        }
        Db::Postgres(pool) => {
            sqlx::query(
                "INSERT INTO location_mappings (depot_id, location_id) VALUES ($1, $2)
                 ON CONFLICT (depot_id) DO UPDATE SET location_id = EXCLUDED.location_id",
            )
            .bind(depot_id as i64)
            .bind(&gid)
            .execute(pool)
            .await?;
        }
    }
    Ok(())
}

/// Unmaps Nhanh depot `depot_id`: its stock no longer feeds any location. Returns the location it
/// was mapped onto, or `None` when it was not mapped.
pub async fn remove_location_mapping(db: &Db, depot_id: u64) -> Result<Option<String>, sqlx::Error> {
    match db {
        Db::Sqlite(pool) => {
            sqlx::query_scalar("DELETE FROM location_mappings WHERE depot_id = ? RETURNING location_id")
                .bind(depot_id as i64)
                .fetch_optional(pool)
                .await
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar("DELETE FROM location_mappings WHERE depot_id = $1 RETURNING location_id")
                .bind(depot_id as i64)
                .fetch_optional(pool)
                .await
        }
    }
}

/// Every `(depot id, location gid)` mapping, by depot.
pub async fn location_mappings(db: &Db) -> Result<Vec<(u64, String)>, sqlx::Error> {
    let rows: Vec<(i64, String)> = match db {
        Db::Sqlite(pool) => {
            sqlx::query_as("SELECT depot_id, location_id FROM location_mappings ORDER BY depot_id")
                .fetch_all(pool)
                .await?
        }
        Db::Postgres(pool) => {
            sqlx::query_as("SELECT depot_id, location_id FROM location_mappings ORDER BY depot_id")
                .fetch_all(pool)
                .await?
        }
    };
    Ok(rows.into_iter().map(|(d, l)| (d as u64, l)).collect())
}

#[cfg(test)]
mod tests {
    use super::validate_location_mapping;

    fn check(depot: u64, gid: &str, expect: Result<&str, &str>) {
        match (validate_location_mapping(depot, gid), expect) {
            (Ok(g), Ok(e)) => assert_eq!(g, e),
            (Err(g), Err(e)) => assert!(g.contains(e), "{g}"),
            (g, e) => panic!("{depot} {gid}: got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn a_mapping_names_a_shopify_location_gid() {
        check(1, " gid://shopify/Location/42 ", Ok("gid://shopify/Location/42"));
        check(1, "gid://shopify/Location/", Err("depot 1: \"gid://shopify/Location/\" is not a Shopify location id"));
        check(2, "42", Err("is not a Shopify location id"));
        check(3, "gid://shopify/Product/42", Err("is not a Shopify location id"));
    }
}
