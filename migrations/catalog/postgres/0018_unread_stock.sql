-- A stock figure Nhanh did not send is stored as NULL, never as 0: a product's total when
-- neither the total nor every depot's value was read, and a depot listed without a value.
ALTER TABLE nhanh_products ALTER COLUMN available DROP NOT NULL;
ALTER TABLE nhanh_products ALTER COLUMN available DROP DEFAULT;
ALTER TABLE nhanh_product_depots ALTER COLUMN available DROP NOT NULL;
