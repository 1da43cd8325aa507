-- A Shopify `inventory_levels/update` webhook names an inventory item, not a variant: the
-- dispatcher finds its mapping through `shopify_variants.inventory_item_id`
-- (`catalog::store::webhooks::product_mappings_of_items`), a whole-table scan per batch of
-- deliveries without this index. It does not touch matching, which joins the key tables.
CREATE INDEX shopify_variants_inventory_item ON shopify_variants (inventory_item_id)
    WHERE inventory_item_id IS NOT NULL;
