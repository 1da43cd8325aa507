//! Reading back what a sync may already have set: the `available` quantity of inventory items at
//! locations, and one metafield of customers, each with the time Shopify last changed it
//! (`InventoryLevel.updatedAt`, `Metafield.updatedAt`). A sync step that runs again after its
//! first run was cut off (a killed worker, a failed step) reads these first, and does not send
//! again what that run wrote: a value equal to the one to send *and changed since the step's
//! checkpoint* (see `sync::push::ReadBack`). A value that was already equal before is sent as
//! any other, so the step's outcome is the one an uninterrupted run has.
//!
//! The documents are built per read, one aliased root field an item (`i0: inventoryItem(id:
//! $i0)`, `c0: customer(id: $c0)`), values as variables as everywhere else: the Admin schema's
//! `QueryRoot.inventoryItem(id:)` → `InventoryItem.inventoryLevel(locationId:)` →
//! `InventoryLevel { updatedAt quantities(names:) }`, and `QueryRoot.customer(id:)` →
//! `HasMetafields.metafield(namespace:, key:) { value type updatedAt }` (shopify.dev, GraphQL
//! Admin reference, objects `InventoryItem`, `InventoryLevel`, `Metafield`, `Customer`). Every
//! object costs 1 (the documents' cost rules), so a read of `n` items at `l` locations each asks
//! for `n × (1 + 2l)` points.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::documents::MAX_QUERY_COST;
use super::ShopifyClient;
use crate::connectors::error::{ConnectorError, Result};

/// (item, location) pairs read in one query: at most 100 × 3 points, far below the maximum.
pub const LEVELS_PER_READ: usize = 100;

/// Customers read in one query: 2 points each.
pub const CUSTOMERS_PER_READ: usize = 250;

/// An `available` quantity Shopify shows, and when its level last changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelShown {
    /// `quantities(names: ["available"])`.
    pub available: i64,
    /// `InventoryLevel.updatedAt`.
    pub updated_at: DateTime<Utc>,
}

/// A metafield Shopify shows: its value, its type, and when it last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetafieldShown {
    /// `Metafield.value`.
    pub value: String,
    /// `Metafield.type`, e.g. `number_integer`.
    pub type_: String,
    /// `Metafield.updatedAt`.
    pub updated_at: DateTime<Utc>,
}

/// The distinct locations of `items`, in order: their variables are `$l0`, `$l1`, …
fn locations_of<'a>(items: &[(&'a str, Vec<&'a str>)]) -> Vec<&'a str> {
    let mut locations: Vec<&str> = items.iter().flat_map(|(_, ls)| ls.iter().copied()).collect();
    locations.sort_unstable();
    locations.dedup();
    locations
}

/// The read of `available` at each item's locations, and its variables. `items` are
/// `(inventory item, [locations])`; locations are named once each (`$l0`, …).
pub fn levels_document(items: &[(&str, Vec<&str>)]) -> (String, Value) {
    let locations = locations_of(items);
    let mut vars = Map::new();
    let mut params: Vec<String> = Vec::new();
    let mut body = String::new();
    for (i, (item, ls)) in items.iter().enumerate() {
        params.push(format!("$i{i}: ID!"));
        vars.insert(format!("i{i}"), json!(item));
        body.push_str(&format!("  i{i}: inventoryItem(id: $i{i}) {{ id"));
        for l in ls {
            let l = locations.binary_search(l).unwrap_or_default();
            body.push_str(&format!(
                " l{l}: inventoryLevel(locationId: $l{l}) {{ updatedAt quantities(names: [\"available\"]) {{ name quantity }} }}"
            ));
        }
        body.push_str(" }\n");
    }
    for (l, location) in locations.iter().enumerate() {
        params.push(format!("$l{l}: ID!"));
        vars.insert(format!("l{l}"), json!(location));
    }
    (format!("query InventoryLevelsRead({}) {{\n{body}}}", params.join(", ")), Value::Object(vars))
}

/// The requested cost of [`levels_document`] for these items.
pub fn levels_cost(items: &[(&str, Vec<&str>)]) -> u32 {
    items.iter().map(|(_, ls)| 1 + 2 * ls.len() as u32).sum()
}

/// The read of one metafield of each customer, and its variables.
pub fn metafields_document(owners: &[&str], namespace: &str, key: &str) -> (String, Value) {
    let mut vars = Map::new();
    vars.insert("namespace".into(), json!(namespace));
    vars.insert("key".into(), json!(key));
    let mut params = vec!["$namespace: String!".to_owned(), "$key: String!".to_owned()];
    let mut body = String::new();
    for (i, owner) in owners.iter().enumerate() {
        params.push(format!("$c{i}: ID!"));
        vars.insert(format!("c{i}"), json!(owner));
        body.push_str(&format!(
            "  c{i}: customer(id: $c{i}) {{ id metafield(namespace: $namespace, key: $key) {{ value type updatedAt }} }}\n"
        ));
    }
    (format!("query CustomerMetafieldsRead({}) {{\n{body}}}", params.join(", ")), Value::Object(vars))
}

/// What a levels read answered per (item, location): `None` where Shopify has no such item, no
/// level of it at that location, or no `available` quantity in the level.
fn read_levels(items: &[(&str, Vec<&str>)], data: &Value) -> Result<HashMap<(String, String), Option<LevelShown>>> {
    let bad = |what: String| ConnectorError::malformed(format!("inventory levels read reply: {what}"));
    let locations = locations_of(items);
    let mut out = HashMap::new();
    for (i, (item, ls)) in items.iter().enumerate() {
        let node = data.get(format!("i{i}")).ok_or_else(|| bad(format!("no field i{i}")))?;
        for l in ls {
            let alias = format!("l{}", locations.binary_search(l).unwrap_or_default());
            let shown = match node {
                Value::Null => None,
                node => match node.get(&alias) {
                    None => return Err(bad(format!("i{i} has no field {alias}"))),
                    Some(Value::Null) => None,
                    Some(level) => shown_level(level).map_err(|e| bad(format!("i{i}.{alias}: {e}")))?,
                },
            };
            out.insert(((*item).to_owned(), (*l).to_owned()), shown);
        }
    }
    Ok(out)
}

/// The `available` quantity of an `InventoryLevel { updatedAt quantities { name quantity } }`.
fn shown_level(level: &Value) -> std::result::Result<Option<LevelShown>, String> {
    let updated_at = updated_at(level)?;
    let quantities = level.get("quantities").and_then(Value::as_array).ok_or("no quantities list")?;
    for q in quantities {
        if q.get("name").and_then(Value::as_str) == Some("available") {
            let available = q.get("quantity").and_then(Value::as_i64).ok_or("quantity not an integer")?;
            return Ok(Some(LevelShown { available, updated_at }));
        }
    }
    Ok(None)
}

/// An object's `updatedAt`.
fn updated_at(object: &Value) -> std::result::Result<DateTime<Utc>, String> {
    let text = object.get("updatedAt").and_then(Value::as_str).ok_or("no updatedAt")?;
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("updatedAt {text:?}: {e}"))
}

/// What a metafields read answered per customer: `None` where the customer or its metafield
/// does not exist.
fn read_metafields(owners: &[&str], data: &Value) -> Result<HashMap<String, Option<MetafieldShown>>> {
    let bad = |what: String| ConnectorError::malformed(format!("customer metafields read reply: {what}"));
    let mut out = HashMap::new();
    for (i, owner) in owners.iter().enumerate() {
        let node = data.get(format!("c{i}")).ok_or_else(|| bad(format!("no field c{i}")))?;
        let shown = match node {
            Value::Null => None,
            node => match node.get("metafield") {
                None => return Err(bad(format!("c{i} has no field metafield"))),
                Some(Value::Null) => None,
                Some(m) => {
                    let text = |field: &str| m.get(field).and_then(Value::as_str).map(str::to_owned);
                    let (Some(value), Some(type_)) = (text("value"), text("type")) else {
                        return Err(bad(format!("c{i}: no value or type")));
                    };
                    let updated_at = updated_at(m).map_err(|e| bad(format!("c{i}: {e}")))?;
                    Some(MetafieldShown { value, type_, updated_at })
                }
            },
        };
        out.insert((*owner).to_owned(), shown);
    }
    Ok(out)
}

impl ShopifyClient {
    /// The `available` quantity Shopify shows for each (inventory item, location) pair, and when
    /// it last changed, in reads of at most [`LEVELS_PER_READ`] pairs.
    pub async fn available_quantities(
        &self,
        pairs: &[(String, String)],
    ) -> Result<HashMap<(String, String), Option<LevelShown>>> {
        let mut out = HashMap::new();
        for chunk in pairs.chunks(LEVELS_PER_READ) {
            let mut by_item: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (item, location) in chunk {
                by_item.entry(item).or_default().push(location);
            }
            let items: Vec<(&str, Vec<&str>)> = by_item.into_iter().collect();
            let (document, variables) = levels_document(&items);
            let cost = levels_cost(&items).min(MAX_QUERY_COST);
            let data: Value = self.execute("inventory levels read", &document, variables, cost).await?;
            out.extend(read_levels(&items, &data)?);
        }
        Ok(out)
    }

    /// Metafield `namespace.key` as Shopify shows it on each customer, in reads of at most
    /// [`CUSTOMERS_PER_READ`] customers.
    pub async fn customer_metafields(
        &self,
        owners: &[String],
        namespace: &str,
        key: &str,
    ) -> Result<HashMap<String, Option<MetafieldShown>>> {
        let mut out = HashMap::new();
        for chunk in owners.chunks(CUSTOMERS_PER_READ) {
            let owners: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let (document, variables) = metafields_document(&owners, namespace, key);
            let cost = (2 * owners.len() as u32).min(MAX_QUERY_COST);
            let data: Value = self.execute("customer metafields read", &document, variables, cost).await?;
            out.extend(read_metafields(&owners, &data)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEM_1: &str = "gid://shopify/InventoryItem/30322695";
    const ITEM_2: &str = "gid://shopify/InventoryItem/43729076";
    const SHOP: &str = "gid://shopify/Location/124656943";
    const DEPOT: &str = "gid://shopify/Location/346779380";

    fn at(t: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_levels_read_names_each_location_once_and_asks_for_available_and_its_time() {
        let items = vec![(ITEM_1, vec![SHOP, DEPOT]), (ITEM_2, vec![DEPOT])];
        let (document, variables) = levels_document(&items);
        assert!(document.starts_with("query InventoryLevelsRead($i0: ID!, $i1: ID!, $l0: ID!, $l1: ID!) {"));
        assert_eq!(document.matches("inventoryItem(id:").count(), 2);
        assert_eq!(document.matches("inventoryLevel(locationId: $l1)").count(), 2, "{document}");
        assert!(document.contains("{ updatedAt quantities(names: [\"available\"]) { name quantity } }"));
        assert_eq!(variables, json!({"i0": ITEM_1, "i1": ITEM_2, "l0": SHOP, "l1": DEPOT}));
        assert_eq!(levels_cost(&items), 3 + 5);
    }

    /// The reply's shape is `InventoryLevel.quantities(names:) { name quantity }` as the Admin
    /// reference's example "Get the location, inventory item, and quantities for an inventory
    /// level" asks for it (shopify.dev/docs/api/admin-graphql/latest/queries/inventoryLevel; its
    /// ids are reused here), with the level's `updatedAt` (`DateTime!`), under the aliases this
    /// client asks for.
    #[test]
    fn a_levels_reply_reads_per_pair_and_tells_missing_from_zero() {
        let items =
            vec![(ITEM_1, vec![SHOP, DEPOT]), (ITEM_2, vec![DEPOT]), ("gid://shopify/InventoryItem/1", vec![SHOP])];
        let data = json!({
            "i0": {"id": ITEM_1,
                   "l0": {"updatedAt": "2026-12-07T10:00:00Z", "quantities": [{"name": "available", "quantity": 0}]},
                   "l1": {"updatedAt": "2026-12-07T10:00:05Z", "quantities": [{"name": "available", "quantity": 12}]}},
            "i1": {"id": ITEM_2, "l1": null},
            "i2": null,
        });
        let read = read_levels(&items, &data).unwrap();
        let shop = LevelShown { available: 0, updated_at: at("2026-12-07T10:00:00Z") };
        assert_eq!(read[&(ITEM_1.to_owned(), SHOP.to_owned())], Some(shop));
        assert_eq!(read[&(ITEM_1.to_owned(), DEPOT.to_owned())].map(|l| l.available), Some(12));
        assert_eq!(read[&(ITEM_2.to_owned(), DEPOT.to_owned())], None);
        assert_eq!(read[&("gid://shopify/InventoryItem/1".to_owned(), SHOP.to_owned())], None);
        let level = |l: Value| json!({"i0": {"id": ITEM_1, "l0": l}});
        let torn =
            level(json!({"updatedAt": "2026-12-07T10:00:00Z", "quantities": [{"name": "available", "quantity": "7"}]}));
        assert!(read_levels(&items[..1], &torn).is_err(), "a quantity that is not an integer is not read as anything");
        let timeless = level(json!({"quantities": [{"name": "available", "quantity": 7}]}));
        assert!(read_levels(&items[..1], &timeless).is_err(), "a level without its time is not read");
        assert!(matches!(read_levels(&items[..1], &json!({})), Err(ConnectorError::Malformed { .. })));
    }

    /// An aliased `metafield(namespace: $namespace, key: $key)` under an owner read by id, as the
    /// Admin reference's example `LocationMetafield` reads one (objects/Location), with the
    /// metafield's `type` and `updatedAt`.
    #[test]
    fn a_metafields_read_tells_a_value_from_none() {
        let owners = ["gid://shopify/Customer/1", "gid://shopify/Customer/2", "gid://shopify/Customer/3"];
        let (document, variables) = metafields_document(&owners, "custom", "total_spent");
        assert!(document.starts_with("query CustomerMetafieldsRead($namespace: String!, $key: String!, $c0: ID!"));
        assert!(document.contains("metafield(namespace: $namespace, key: $key) { value type updatedAt }"));
        assert_eq!(variables["c2"], json!(owners[2]));
        let data = json!({
            "c0": {"id": owners[0], "metafield": {"value": "125000", "type": "number_integer", "updatedAt": "2026-12-07T10:00:00Z"}},
            "c1": {"id": owners[1], "metafield": null},
            "c2": null,
        });
        let read = read_metafields(&owners, &data).unwrap();
        let shown = MetafieldShown {
            value: "125000".into(),
            type_: "number_integer".into(),
            updated_at: at("2026-12-07T10:00:00Z"),
        };
        assert_eq!(read[owners[0]], Some(shown));
        assert_eq!(read[owners[1]], None);
        assert_eq!(read[owners[2]], None);
        assert!(read_metafields(&owners, &json!({"c0": {"id": owners[0], "metafield": {"value": "1"}}})).is_err());
    }
}
