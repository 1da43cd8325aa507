-- A stock figure Nhanh did not send is stored as NULL, never as 0: a product's total when
-- neither the total nor every depot's value was read, and a depot listed without a value.
-- SQLite cannot drop NOT NULL in place: both tables are rebuilt with their rows.

CREATE TABLE nhanh_products_0018 (
    id            INTEGER PRIMARY KEY,
    parent_id     INTEGER,
    code          TEXT,             -- the SKU as Nhanh holds it
    barcode       TEXT,
    name          TEXT    NOT NULL,
    status        INTEGER,
    price_retail  INTEGER,
    available     INTEGER,          -- total across depots; NULL when not read
    updated_at    INTEGER,
    pulled_by     TEXT    NOT NULL,
    pull_seen     TEXT,             -- the full pull that last saw it
    removed_at    INTEGER
);
INSERT INTO nhanh_products_0018 (id, parent_id, code, barcode, name, status, price_retail, available, updated_at,
                                 pulled_by, pull_seen, removed_at)
    SELECT id, parent_id, code, barcode, name, status, price_retail, available, updated_at, pulled_by, pull_seen,
           removed_at
    FROM nhanh_products;
DROP TABLE nhanh_products;
ALTER TABLE nhanh_products_0018 RENAME TO nhanh_products;
CREATE INDEX nhanh_products_code ON nhanh_products (code);

CREATE TABLE nhanh_product_depots_0018 (
    product_id INTEGER NOT NULL,
    depot_id   INTEGER NOT NULL,
    available  INTEGER,             -- NULL when Nhanh listed the depot without a value
    PRIMARY KEY (product_id, depot_id)
);
INSERT INTO nhanh_product_depots_0018 (product_id, depot_id, available)
    SELECT product_id, depot_id, available FROM nhanh_product_depots;
DROP TABLE nhanh_product_depots;
ALTER TABLE nhanh_product_depots_0018 RENAME TO nhanh_product_depots;
