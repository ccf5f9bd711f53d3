-- PostgreSQL twin of migrations/sqlite/0004_fleet_operations.sql.
-- Fleet operations: host lifecycle, offline instances, queued and external migrations, repair.

ALTER TABLE hosts ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
ALTER TABLE hosts ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;

-- Why an instance without a host is offline (its host failed and no other could take it).
ALTER TABLE instances ADD COLUMN offline_reason TEXT;

-- A migration is queued (planned, nothing held), then running (the target's capacity is held),
-- then succeeded, failed or cancelled. An external agent claims a running one with a lease.
ALTER TABLE migrations ADD COLUMN plan_id BIGINT;
ALTER TABLE migrations ADD COLUMN started_at BIGINT;
ALTER TABLE migrations ADD COLUMN claimed_by TEXT;
ALTER TABLE migrations ADD COLUMN lease_expires_at BIGINT;
ALTER TABLE migrations ADD COLUMN failure TEXT;
CREATE INDEX migrations_plan ON migrations (plan_id);

-- Hosts where a migration of an instance failed: repair does not try them again.
CREATE TABLE migration_failures (
    instance_id BIGINT NOT NULL,
    host_id     BIGINT NOT NULL REFERENCES hosts (id),
    failed_at   BIGINT NOT NULL,
    PRIMARY KEY (instance_id, host_id)
);

-- Why the repair of a non-compliant group found no plan, as of its last attempt.
CREATE TABLE repair_notes (
    group_id   BIGINT PRIMARY KEY REFERENCES placement_groups (id),
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    reason     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
