/* schema.c: the SQLite index: opening it, its schema and migrations, and small query helpers. */
#include <assert.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "../common/banned.h"

/* migrations[i] takes the schema from version i to i + 1; user_version holds the version.
 * Never edit a released step: add one. docs/store.md describes each table. */
static const char *const migrations[] = {
    /* 0 -> 1: the first schema */
    "CREATE TABLE blobs (\n"
    "    digest     TEXT PRIMARY KEY\n"
    "               CHECK (length(digest) = 64 AND digest NOT GLOB '*[^0-9a-f]*'),\n"
    "    size       INTEGER NOT NULL CHECK (size >= 0),\n"
    "    media_type TEXT NOT NULL,\n"
    "    added_at   INTEGER NOT NULL\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE manifests (\n"
    "    id             INTEGER PRIMARY KEY,\n"
    "    digest         TEXT NOT NULL UNIQUE,\n"
    "    body           TEXT NOT NULL,\n"
    "    format         TEXT NOT NULL,\n"
    "    architecture   TEXT,\n"
    "    n_params       INTEGER,\n"
    "    context_length INTEGER,\n"
    "    quantization   TEXT,\n"
    "    size           INTEGER NOT NULL,\n"
    "    created_at     INTEGER NOT NULL\n"
    ");\n"
    "CREATE TABLE layers (\n"
    "    manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,\n"
    "    seq         INTEGER NOT NULL,\n"
    "    path        TEXT NOT NULL,\n"
    "    digest      TEXT NOT NULL REFERENCES blobs(digest),\n"
    "    size        INTEGER NOT NULL,\n"
    "    role        TEXT NOT NULL,\n"
    "    media_type  TEXT NOT NULL,\n"
    "    PRIMARY KEY (manifest_id, seq),\n"
    "    UNIQUE (manifest_id, path)\n"
    ");\n"
    "CREATE INDEX layers_digest ON layers(digest);\n"
    "CREATE TABLE models (\n"
    "    name        TEXT PRIMARY KEY COLLATE NOCASE,\n"
    "    manifest_id INTEGER NOT NULL REFERENCES manifests(id),\n"
    "    created_at  INTEGER NOT NULL,\n"
    "    modified_at INTEGER NOT NULL\n"
    ");\n"
    "CREATE INDEX models_manifest ON models(manifest_id);\n"
    "CREATE TABLE provenance (\n"
    "    id          INTEGER PRIMARY KEY,\n"
    "    manifest_id INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,\n"
    "    kind        TEXT NOT NULL,\n"
    "    url         TEXT,\n"
    "    revision    TEXT,\n"
    "    resolved    TEXT,\n"
    "    extra       TEXT,\n"
    "    created_at  INTEGER NOT NULL,\n"
    "    lm_version  TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX provenance_manifest ON provenance(manifest_id);\n"
    "CREATE TABLE provenance_files (\n"
    "    provenance_id   INTEGER NOT NULL REFERENCES provenance(id) ON DELETE CASCADE,\n"
    "    path            TEXT NOT NULL,\n"
    "    upstream_digest TEXT,\n"
    "    algorithm       TEXT,\n"
    "    PRIMARY KEY (provenance_id, path)\n"
    ");\n"
    "CREATE TABLE derivations (\n"
    "    id              INTEGER PRIMARY KEY,\n"
    "    output_manifest TEXT NOT NULL,\n"
    "    input_manifest  TEXT NOT NULL,\n"
    "    operation       TEXT NOT NULL,\n"
    "    parameters      TEXT NOT NULL,\n"
    "    created_at      INTEGER NOT NULL,\n"
    "    lm_version      TEXT NOT NULL,\n"
    "    UNIQUE (output_manifest, input_manifest, operation, parameters)\n"
    ");\n"
    "CREATE TABLE audit_log (\n"
    "    seq     INTEGER PRIMARY KEY,\n"
    "    time    INTEGER NOT NULL,\n"
    "    user    TEXT NOT NULL,\n"
    "    command TEXT NOT NULL,\n"
    "    action  TEXT NOT NULL,\n"
    "    subject TEXT NOT NULL,\n"
    "    digests TEXT NOT NULL,\n"
    "    prev    TEXT NOT NULL,\n"
    "    hash    TEXT NOT NULL\n"
    ");\n"
    /* Append-only by rule; the hash chain is what catches someone who drops these triggers. */
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log\n"
    "    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;\n"
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log\n"
    "    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;\n",
};

static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
              "one migration per schema version");

int store_db_fail(struct lm_store *s, struct lm_err *err, const char *what)
{
    int rc = s->db ? sqlite3_extended_errcode(s->db) & 0xff : SQLITE_CANTOPEN;
    s->last_rc = rc;
    enum lm_errcode code = rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB ? LM_ECORRUPT
                         : rc == SQLITE_NOMEM ? LM_ENOMEM : LM_EIO;
    const char *msg = s->db ? sqlite3_errmsg(s->db) : "cannot open";
    if (!what)
        return lm_err_set(err, code, s->index, LM_NO_OFFSET, "%s", msg);
    return lm_err_set(err, code, s->index, LM_NO_OFFSET, "%s: %s", what, msg);
}

int store_db_exec(struct lm_store *s, const char *sql, struct lm_err *err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return store_db_fail(s, err, NULL);
    return 0;
}

int store_db_prepare(struct lm_store *s, const char *sql, sqlite3_stmt **st, struct lm_err *err)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return store_db_fail(s, err, NULL);
    }
    return 0;
}

int store_begin(struct lm_store *s, struct lm_err *err)
{
    store_fault_point();
    /* IMMEDIATE takes the write lock now, so two writers queue on busy_timeout instead of
     * failing with SQLITE_BUSY when a read transaction tries to become a write one. */
    return store_db_exec(s, "BEGIN IMMEDIATE", err);
}

int store_commit(struct lm_store *s, struct lm_err *err)
{
    store_fault_point();
    if (store_db_exec(s, "COMMIT", err)) {
        store_rollback(s);
        return -1;
    }
    store_fault_point();
    return 0;
}

void store_rollback(struct lm_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

const char *store_col_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}

static int user_version(struct lm_store *s, int *v, struct lm_err *err)
{
    sqlite3_stmt *st;
    if (store_db_prepare(s, "PRAGMA user_version", &st, err))
        return -1;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return store_db_fail(s, err, "read the schema version");
    }
    *v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return 0;
}

static int migrate(struct lm_store *s, struct lm_err *err)
{
    int v;
    if (user_version(s, &v, err))
        return -1;
    if (v == STORE_SCHEMA_VERSION)
        return 0;
    if (store_begin(s, err))
        return -1;
    if (user_version(s, &v, err))   /* another process may have migrated meanwhile */
        goto fail;
    if (v < 0 || v > STORE_SCHEMA_VERSION) {
        lm_err_set(err, LM_EUNSUPPORTED, s->index, LM_NO_OFFSET,
                   "schema version %d is newer than this lm understands (%d)", v,
                   STORE_SCHEMA_VERSION);
        goto fail;
    }
    for (; v < STORE_SCHEMA_VERSION; v++) {
        char set[64];
        if (store_db_exec(s, migrations[v], err))
            goto fail;
        snprintf(set, sizeof(set), "PRAGMA user_version = %d", v + 1);
        if (store_db_exec(s, set, err))
            goto fail;
    }
    return store_commit(s, err);
fail:
    store_rollback(s);
    return -1;
}

/* Journal mode, pragmas and migrations: what every open does before the index is used. */
static int setup(struct lm_store *s, struct lm_err *err)
{
    /* journal_mode is persistent; setting it again on every open would need an exclusive lock. */
    sqlite3_stmt *st;
    if (store_db_prepare(s, "PRAGMA journal_mode", &st, err))
        return -1;
    int rc = sqlite3_step(st);
    bool wal = rc == SQLITE_ROW && strcmp(store_col_text(st, 0), "wal") == 0;
    if (rc != SQLITE_ROW) {
        store_db_fail(s, err, "read the journal mode");
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    if (!wal && store_db_exec(s, "PRAGMA journal_mode = WAL", err))
        return -1;
    /* FULL: a committed import survives power loss, not just a crash of lm. */
    if (store_db_exec(s, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL", err))
        return -1;
    return migrate(s, err);
}

int store_index_open(struct lm_store *s, struct lm_err *err)
{
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(s->index, &s->db, flags, NULL) != SQLITE_OK)
        return store_db_fail(s, err, "open");
    sqlite3_extended_result_codes(s->db, 1);
    /* Long imports hold the write lock only for their final transaction: a minute is plenty. */
    sqlite3_busy_timeout(s->db, 60000);
    store_fault_point();
    /* Processes that open a new store at once race for the exclusive lock that switching it to
     * WAL takes, and SQLite answers the loser SQLITE_BUSY at once instead of waiting (it would
     * deadlock): wait and try again, for about as long as the busy timeout. */
    for (int tries = 0;; tries++) {
        s->last_rc = SQLITE_OK;
        if (setup(s, err) == 0)
            return 0;
        if ((s->last_rc != SQLITE_BUSY && s->last_rc != SQLITE_LOCKED) || tries >= 600)
            return -1;
        usleep(100000);
    }
}
