-- Version 13: what each trusted publisher let in (API.md section 11), for
-- its page: when, from which repository, ref, commit and CI run. The newest
-- few per publisher are kept (db::publishers::record_exchange trims the
-- rest in the exchange's own transaction); the audit log keeps every `token.exchanged` event.

CREATE TABLE oidc_exchanges (
    id           INTEGER PRIMARY KEY,
    publisher_id TEXT NOT NULL REFERENCES trusted_publishers(id) ON DELETE CASCADE,
    token_id     TEXT REFERENCES tokens(id) ON DELETE SET NULL,
    at           INTEGER NOT NULL,
    subject      TEXT,
    repository   TEXT,
    git_ref      TEXT,
    sha          TEXT,
    run_url      TEXT                               -- https:// only, built from checked claims
);
CREATE INDEX oidc_exchanges_by_publisher ON oidc_exchanges(publisher_id, id);
CREATE INDEX oidc_exchanges_by_token ON oidc_exchanges(token_id) WHERE token_id IS NOT NULL;
