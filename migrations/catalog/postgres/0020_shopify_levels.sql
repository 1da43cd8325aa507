-- What Shopify holds per inventory item and location, as RECONCILE last read it (a bulk export
-- of every active location's inventory levels): compared with the Nhanh depots that feed each
-- mapped location, it shows stock moved between two Shopify locations by hand, which leaves a
-- variant's total unchanged. `available` is NULL when the export did not carry it (never read
-- as zero); `read_by` is the RECONCILE job that read the row, and a reconcile compares only
-- the rows it read itself.
CREATE TABLE shopify_inventory_levels (
    inventory_item_id TEXT   NOT NULL,
    location_id       TEXT   NOT NULL,
    available         BIGINT,
    read_by           UUID   NOT NULL,
    PRIMARY KEY (inventory_item_id, location_id)
);
