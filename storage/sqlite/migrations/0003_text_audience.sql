-- Pillars storage/sqlite schema, version 3: audience tokens in the text index.
--
-- The FTS5 table pillars_text_fts gains the aud column, which holds each
-- entry's tenant, kind, owner and group tokens (ids of the new dictionary
-- pillars_text_aud) so that a search intersects its words with the
-- actor's read scope inside FTS5. FTS5 cannot add a
-- column, and the table exists only once text was indexed, so the rebuild
-- is Go code run in the same transaction (see textAudience in
-- search_audience.go); this file changes nothing itself.
SELECT 1;
