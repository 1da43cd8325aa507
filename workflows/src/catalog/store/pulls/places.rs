//! Shopify locations, Nhanh depots, and the location mapping (which depots feed which location).
//!
//! The mapping is configuration, not pulled: an operator (or a test, from the simulator's truth)
//! sets it with [`set_location_mapping`], after checking it with [`validate_location_mapping`], and
//! unsets it with [`remove_location_mapping`].

use async_trait::async_trait;
use dongbo_engine::{Db, EffectError, StepEffects, StoreTx};

use super::rows::{dedup_by_id, DepotRow, LocationRow};
use crate::catalog::store::dialect::{on_db, on_tx, returned};

/// Upserts Shopify locations by gid (the name is replaced).
#[derive(Debug, Clone)]
pub struct UpsertLocations {
    /// The locations.
    pub rows: Vec<LocationRow>,
}

#[async_trait]
impl StepEffects for UpsertLocations {
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        let rows = dedup_by_id(&self.rows, |r| r.id.clone());
        if rows.is_empty() {
            return Ok(());
        }
        on_tx!(&mut tx, |conn, d| {
            let upsert = format!(
                "INSERT INTO shopify_locations (id, name) SELECT * FROM {} WHERE true
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                d.rows(1, &[("id", "text"), ("name", "text")])
            );
            d.batch(sqlx::query(&upsert), rows.len())
                .col(rows.iter().map(|r| r.id.clone()))
                .col(rows.iter().map(|r| r.name.clone()))
                .done()
                .execute(&mut *conn)
                .await?;
        });
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
    async fn apply(&self, mut tx: StoreTx<'_>) -> Result<(), EffectError> {
        let rows = dedup_by_id(&self.rows, |r| r.id);
        if rows.is_empty() {
            return Ok(());
        }
        on_tx!(&mut tx, |conn, d| {
            let upsert = format!(
                "INSERT INTO nhanh_depots (id, name) SELECT * FROM {} WHERE true
                 ON CONFLICT (id) DO UPDATE SET name = COALESCE(excluded.name, nhanh_depots.name)",
                d.rows(1, &[("id", "bigint"), ("name", "text")])
            );
            d.batch(sqlx::query(&upsert), rows.len())
                .col(rows.iter().map(|r| r.id as i64))
                .col(rows.iter().map(|r| r.name.clone()))
                .done()
                .execute(&mut *conn)
                .await?;
        });
        Ok(())
    }
}

/// Checks one mapping entry: the depot id must be positive (as the API document states) and
/// fit the store's 64-bit signed column, and the location must be a Shopify location gid. Returns
/// the gid trimmed.
pub fn validate_location_mapping(depot_id: u64, location_gid: &str) -> Result<String, String> {
    if depot_id == 0 || i64::try_from(depot_id).is_err() {
        return Err(format!("depot {depot_id} is not a Nhanh depot id (a positive integer, at most {})", i64::MAX));
    }
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
    on_db!(db, |pool, d| {
        sqlx::query(
            "INSERT INTO location_mappings (depot_id, location_id) VALUES ($1, $2)
             ON CONFLICT (depot_id) DO UPDATE SET location_id = excluded.location_id",
        )
        .bind(depot_id as i64)
        .bind(&gid)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Unmaps Nhanh depot `depot_id`: its stock no longer feeds any location. Returns the location it
/// was mapped onto, or `None` when it was not mapped.
pub async fn remove_location_mapping(db: &Db, depot_id: u64) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, |pool, d| {
        let rows = sqlx::query_scalar("DELETE FROM location_mappings WHERE depot_id = $1 RETURNING location_id")
            .bind(depot_id as i64)
            .fetch_all(pool)
            .await?;
        Ok(returned(rows))
    })
}

/// Every `(depot id, location gid)` mapping, by depot.
pub async fn location_mappings(db: &Db) -> Result<Vec<(u64, String)>, sqlx::Error> {
    const SQL: &str = "SELECT depot_id, location_id FROM location_mappings ORDER BY depot_id";
    let rows: Vec<(i64, String)> = on_db!(db, |pool, d| sqlx::query_as(SQL).fetch_all(pool).await?);
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
        check(0, "gid://shopify/Location/42", Err("depot 0 is not a Nhanh depot id (a positive integer"));
        check(u64::MAX, "gid://shopify/Location/42", Err("is not a Nhanh depot id"));
    }
}
