-- Matching looks mappings up by their Shopify side (a record on the Shopify side of a manual
-- mapping is never matched again), so both mapping tables get an index on it.
CREATE INDEX matching_customer_mappings_shopify ON customer_mappings (shopify_customer_id);
CREATE INDEX matching_product_mappings_shopify ON product_mappings (shopify_variant_id);
