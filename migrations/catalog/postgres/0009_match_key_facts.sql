-- Matching reads, for every key row of a batch, two facts of the row's record: how many keys
-- it holds and whether this key is its first (smallest, in byte order). They depend on the
-- record alone, so the pulls store them with the keys (`key_count`, and `key_rank`, 0 for the
-- first key) instead of every match probing each record's other keys.
--
-- Matching also takes a key row's record to be present and not removed: pulls write a
-- record's keys with it, and the sweep that marks a record removed deletes its keys in the same
-- transaction. Key rows left from before that rule, of records removed or missing, go.
DELETE FROM nhanh_customer_keys
 WHERE customer_id NOT IN (SELECT id FROM nhanh_customers WHERE removed_at IS NULL);
DELETE FROM shopify_customer_keys
 WHERE customer_id NOT IN (SELECT id FROM shopify_customers WHERE removed_at IS NULL);
DELETE FROM nhanh_product_keys
 WHERE product_id NOT IN (SELECT id FROM nhanh_products WHERE removed_at IS NULL);
DELETE FROM shopify_variant_keys
 WHERE variant_id NOT IN (SELECT id FROM shopify_variants WHERE removed_at IS NULL);

ALTER TABLE nhanh_customer_keys ADD COLUMN key_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE nhanh_customer_keys ADD COLUMN key_rank INTEGER NOT NULL DEFAULT 0;
UPDATE nhanh_customer_keys
   SET key_count = (SELECT COUNT(*) FROM nhanh_customer_keys c WHERE c.customer_id = nhanh_customer_keys.customer_id),
       key_rank = (SELECT COUNT(*) FROM nhanh_customer_keys c WHERE c.customer_id = nhanh_customer_keys.customer_id AND c.phone_key COLLATE "C" < nhanh_customer_keys.phone_key)
 WHERE customer_id IN (SELECT customer_id FROM nhanh_customer_keys GROUP BY customer_id HAVING COUNT(*) > 1);

ALTER TABLE shopify_customer_keys ADD COLUMN key_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE shopify_customer_keys ADD COLUMN key_rank INTEGER NOT NULL DEFAULT 0;
UPDATE shopify_customer_keys
   SET key_count = (SELECT COUNT(*) FROM shopify_customer_keys c WHERE c.customer_id = shopify_customer_keys.customer_id),
       key_rank = (SELECT COUNT(*) FROM shopify_customer_keys c WHERE c.customer_id = shopify_customer_keys.customer_id AND c.phone_key COLLATE "C" < shopify_customer_keys.phone_key)
 WHERE customer_id IN (SELECT customer_id FROM shopify_customer_keys GROUP BY customer_id HAVING COUNT(*) > 1);

ALTER TABLE nhanh_product_keys ADD COLUMN key_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE nhanh_product_keys ADD COLUMN key_rank INTEGER NOT NULL DEFAULT 0;
UPDATE nhanh_product_keys
   SET key_count = (SELECT COUNT(*) FROM nhanh_product_keys c WHERE c.product_id = nhanh_product_keys.product_id),
       key_rank = (SELECT COUNT(*) FROM nhanh_product_keys c WHERE c.product_id = nhanh_product_keys.product_id AND c.match_key COLLATE "C" < nhanh_product_keys.match_key)
 WHERE product_id IN (SELECT product_id FROM nhanh_product_keys GROUP BY product_id HAVING COUNT(*) > 1);

ALTER TABLE shopify_variant_keys ADD COLUMN key_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE shopify_variant_keys ADD COLUMN key_rank INTEGER NOT NULL DEFAULT 0;
UPDATE shopify_variant_keys
   SET key_count = (SELECT COUNT(*) FROM shopify_variant_keys c WHERE c.variant_id = shopify_variant_keys.variant_id),
       key_rank = (SELECT COUNT(*) FROM shopify_variant_keys c WHERE c.variant_id = shopify_variant_keys.variant_id AND c.match_key COLLATE "C" < shopify_variant_keys.match_key)
 WHERE variant_id IN (SELECT variant_id FROM shopify_variant_keys GROUP BY variant_id HAVING COUNT(*) > 1);

