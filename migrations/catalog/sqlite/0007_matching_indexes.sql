-- Matching reads a record's eligibility on both sides of the mapping tables, but only a manual
-- mapping makes a record ineligible: partial indexes over the manual mappings answer that and
-- cost nothing when matching writes its own mappings, which the full index on the Shopify
-- side (0004) paid for on every row.
DROP INDEX matching_customer_mappings_shopify;
DROP INDEX matching_product_mappings_shopify;
CREATE INDEX matching_customer_mappings_manual_n ON customer_mappings (nhanh_customer_id) WHERE method = 'manual';
CREATE INDEX matching_customer_mappings_manual_s ON customer_mappings (shopify_customer_id) WHERE method = 'manual';
CREATE INDEX matching_product_mappings_manual_n ON product_mappings (nhanh_product_id) WHERE method = 'manual';
CREATE INDEX matching_product_mappings_manual_s ON product_mappings (shopify_variant_id) WHERE method = 'manual';

-- Key indexes carry the record id: a range of keys is read in (key, id) order without a sort,
-- and finding a key's holders needs no visit to the table.
DROP INDEX nhanh_customer_keys_key;
DROP INDEX shopify_customer_keys_key;
DROP INDEX nhanh_product_keys_key;
DROP INDEX shopify_variant_keys_key;
CREATE INDEX nhanh_customer_keys_key ON nhanh_customer_keys (phone_key, customer_id);
CREATE INDEX shopify_customer_keys_key ON shopify_customer_keys (phone_key, customer_id);
CREATE INDEX nhanh_product_keys_key ON nhanh_product_keys (match_key, product_id);
CREATE INDEX shopify_variant_keys_key ON shopify_variant_keys (match_key, variant_id);
