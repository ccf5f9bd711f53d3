-- PostgreSQL twin of migrations/sqlite/0005_leases.sql.
-- Leases: which process runs the background work (the reconciler, the migration executor,
-- the purge of old operations). Exactly one process holds a lease at a time; it renews it
-- well before it expires, and another takes it over when it does. Times come from the
-- database's clock, so processes on machines whose clocks disagree still agree on a lease.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
