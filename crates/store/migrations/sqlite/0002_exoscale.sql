-- The Exoscale dialect: instance labels, API keys, asynchronous operations, and the operator
-- credential of the native API.

ALTER TABLE instances ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';

-- An API key signs requests with its secret (EXO2-HMAC-SHA256), so the secret itself must be
-- kept to verify them; it is stored encrypted (see the README).
CREATE TABLE api_keys (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    user_id    INTEGER NOT NULL REFERENCES users (id),
    key        TEXT NOT NULL UNIQUE,
    secret     TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE operations (
    id                TEXT PRIMARY KEY,
    account_id        INTEGER NOT NULL REFERENCES accounts (id),
    state             TEXT NOT NULL,
    reason            TEXT,
    message           TEXT NOT NULL,
    reference_id      TEXT NOT NULL,
    reference_link    TEXT NOT NULL,
    reference_command TEXT NOT NULL,
    created_at        INTEGER NOT NULL
);
CREATE INDEX operations_created ON operations (created_at);

CREATE TABLE operator_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    label       TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
