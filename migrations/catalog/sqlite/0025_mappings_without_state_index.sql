-- The mapping tables lose their `(state, updated_at)` index. Its only readers were the
-- console's reads by state: its counts, which scan the table anyway (its count of mapped records
-- has no index to use), and its listings, which filter by state the rows they page through by
-- id. Every mapping a match writes and every state a sync records paid for it:
-- at 200,000 mappings it was a quarter of AUTO_MATCH's mapping writes (measured in `psql`, 11
-- batches of 18,200: 0.70 s with it, 0.52 s without), and a sync's change of state could never
-- be a heap-only update on PostgreSQL while an index named the state.
DROP INDEX customer_mappings_state;
DROP INDEX product_mappings_state;
