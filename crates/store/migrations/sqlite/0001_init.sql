-- The first schema of berth. Every resource row carries the account that owns it; fleet rows
-- (regions, hosts) belong to the operator. Integers are 64-bit; booleans are 0/1 integers;
-- times are milliseconds since the UNIX epoch; JSON documents are text.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    username   TEXT NOT NULL UNIQUE,
    email      TEXT NOT NULL,
    restricted INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

CREATE TABLE tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    label       TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
);

CREATE TABLE regions (
    id                     TEXT PRIMARY KEY,
    label                  TEXT NOT NULL,
    country                TEXT NOT NULL,
    site_type              TEXT NOT NULL,
    status                 TEXT NOT NULL,
    max_members_per_group  INTEGER NOT NULL,
    max_groups_per_account INTEGER,
    created_at             INTEGER NOT NULL
);

CREATE TABLE hosts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL UNIQUE,
    region_id       TEXT NOT NULL REFERENCES regions (id),
    rack            TEXT NOT NULL,
    state           TEXT NOT NULL,
    vcpus           INTEGER NOT NULL,
    memory_mib      INTEGER NOT NULL,
    disk_mib        INTEGER NOT NULL,
    gpus            INTEGER NOT NULL,
    used_vcpus      INTEGER NOT NULL DEFAULT 0,
    used_memory_mib INTEGER NOT NULL DEFAULT 0,
    used_disk_mib   INTEGER NOT NULL DEFAULT 0,
    used_gpus       INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    -- The last line of defence: whatever the code above does, a host is never overcommitted.
    CHECK (used_vcpus BETWEEN 0 AND vcpus),
    CHECK (used_memory_mib BETWEEN 0 AND memory_mib),
    CHECK (used_disk_mib BETWEEN 0 AND disk_mib),
    CHECK (used_gpus BETWEEN 0 AND gpus)
);
CREATE INDEX hosts_region ON hosts (region_id);

CREATE TABLE placement_groups (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid           TEXT NOT NULL UNIQUE,
    account_id     INTEGER NOT NULL REFERENCES accounts (id),
    label          TEXT NOT NULL,
    description    TEXT NOT NULL,
    -- NULL for a global group (Exoscale's anti-affinity groups span every zone).
    region_id      TEXT REFERENCES regions (id),
    kind           TEXT NOT NULL,
    policy         TEXT NOT NULL,
    domain         TEXT NOT NULL,
    max_per_domain INTEGER NOT NULL,
    -- NULL: the region's limit on members per group applies.
    max_members    INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX placement_groups_account ON placement_groups (account_id);

CREATE TABLE firewalls (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    label      TEXT NOT NULL,
    status     TEXT NOT NULL,
    rules      TEXT NOT NULL,
    tags       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX firewalls_account ON firewalls (account_id);

CREATE TABLE instances (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid           TEXT NOT NULL UNIQUE,
    account_id     INTEGER NOT NULL REFERENCES accounts (id),
    label          TEXT NOT NULL,
    region_id      TEXT NOT NULL REFERENCES regions (id),
    type_id        TEXT NOT NULL,
    vcpus          INTEGER NOT NULL,
    memory_mib     INTEGER NOT NULL,
    disk_mib       INTEGER NOT NULL,
    gpus           INTEGER NOT NULL,
    host_id        INTEGER REFERENCES hosts (id),
    target_host_id INTEGER REFERENCES hosts (id),
    state          TEXT NOT NULL,
    image          TEXT,
    tags           TEXT NOT NULL,
    firewall_id    INTEGER REFERENCES firewalls (id),
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX instances_account ON instances (account_id);
CREATE INDEX instances_host ON instances (host_id);
CREATE INDEX instances_target_host ON instances (target_host_id);

-- seq gives the join order across the whole store: the earlier joiner wins a collision.
CREATE TABLE group_members (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    group_id    INTEGER NOT NULL REFERENCES placement_groups (id),
    instance_id INTEGER NOT NULL REFERENCES instances (id),
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    UNIQUE (group_id, instance_id)
);
CREATE INDEX group_members_instance ON group_members (instance_id);

CREATE TABLE migrations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    instance_id      INTEGER NOT NULL,
    source_host_id   INTEGER NOT NULL REFERENCES hosts (id),
    target_host_id   INTEGER NOT NULL REFERENCES hosts (id),
    source_region_id TEXT NOT NULL,
    target_region_id TEXT NOT NULL,
    source_group_id  INTEGER,
    target_group_id  INTEGER,
    reason           TEXT NOT NULL,
    state            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    due_at           INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX migrations_state_due ON migrations (state, due_at);
CREATE INDEX migrations_instance ON migrations (instance_id);
