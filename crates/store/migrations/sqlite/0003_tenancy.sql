-- Tenancy: grants of restricted users, and the audit trail of every change.

-- A global grant lets a restricted user do something account-wide, like `add_linodes`.
CREATE TABLE global_grants (
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    grant_name TEXT NOT NULL,
    PRIMARY KEY (user_id, grant_name)
);

-- An entity grant gives a restricted user `read_only` or `read_write` on one resource.
CREATE TABLE entity_grants (
    account_id  INTEGER NOT NULL REFERENCES accounts (id),
    user_id     INTEGER NOT NULL REFERENCES users (id),
    entity_type TEXT NOT NULL,
    entity_id   INTEGER NOT NULL,
    permission  TEXT NOT NULL,
    PRIMARY KEY (user_id, entity_type, entity_id)
);
CREATE INDEX entity_grants_entity ON entity_grants (entity_type, entity_id);

CREATE TABLE events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       INTEGER NOT NULL REFERENCES accounts (id),
    username         TEXT,
    action           TEXT NOT NULL,
    status           TEXT NOT NULL,
    entity_type      TEXT NOT NULL,
    entity_id        INTEGER NOT NULL,
    entity_uuid      TEXT NOT NULL,
    entity_label     TEXT NOT NULL,
    secondary_type   TEXT,
    secondary_id     INTEGER,
    secondary_label  TEXT,
    message          TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX events_account ON events (account_id, id);

ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
