/* audit.c: the append-only audit log in the index, each entry chained to the one before by hash. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../common/banned.h"

static const char genesis[65] =
    "0000000000000000000000000000000000000000000000000000000000000000";

static void add_field(struct lm_sha256 *h, const char *v)
{
    /* Length-prefixed, so no choice of field contents can mimic another split. */
    char len[24];
    size_t n = strlen(v);
    snprintf(len, sizeof(len), "%zu:", n);
    lm_sha256_update(h, len, strlen(len));
    lm_sha256_update(h, v, n);
}

/* hash = sha256(prev, seq, time, user, command, action, subject, digests), each "len:bytes". */
static int entry_hash(const char *prev, int64_t seq, int64_t time, const char *user,
                      const char *command, const char *action, const char *subject,
                      const char *digests, char out[65])
{
    char num[2][24];
    uint8_t d[32];
    struct lm_sha256 *h = lm_sha256_new();
    if (!h)
        return -1;
    snprintf(num[0], sizeof(num[0]), "%" PRId64, seq);
    snprintf(num[1], sizeof(num[1]), "%" PRId64, time);
    add_field(h, prev);
    add_field(h, num[0]);
    add_field(h, num[1]);
    add_field(h, user);
    add_field(h, command);
    add_field(h, action);
    add_field(h, subject);
    add_field(h, digests);
    lm_sha256_final(h, d);
    lm_sha256_free(h);
    lm_hex(d, 32, out);
    return 0;
}

int store_audit_append(struct lm_store *s, const char *action, const char *subject,
                       const char *digests, struct lm_err *err)
{
    sqlite3_stmt *st = NULL;
    char prev[65], hash[65];
    int64_t seq = 1, now = store_now();
    const char *command = s->command ? s->command : "lm";
    int ret = -1;
    if (store_db_prepare(s, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", &st, err))
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        seq = sqlite3_column_int64(st, 0) + 1;
        snprintf(prev, sizeof(prev), "%s", store_col_text(st, 1));
    } else if (rc == SQLITE_DONE) {
        memcpy(prev, genesis, sizeof(prev));
    } else {
        store_db_fail(s, err, "read the audit log");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (entry_hash(prev, seq, now, s->user, command, action, subject, digests, hash)) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    if (store_db_prepare(s,
                         "INSERT INTO audit_log (seq, time, user, command, action, subject, "
                         "digests, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         &st, err))
        goto out;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_text(st, 3, s->user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, command, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, action, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, digests, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, prev, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, hash, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) {
        store_db_fail(s, err, "append to the audit log");
        goto out;
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    return ret;
}

int lm_store_audit(struct lm_store *s, const char *action, const char *subject,
                   const char *digests, struct lm_err *err)
{
    if (store_begin(s, err))
        return -1;
    if (store_audit_append(s, action, subject, digests ? digests : "", err)) {
        store_rollback(s);
        return -1;
    }
    return store_commit(s, err);
}

static char *dup_col(sqlite3_stmt *st, int col)
{
    return strdup(store_col_text(st, col));
}

/* Check entry e against the one before it (prev_hash, prev_seq); fill l->why on the first break. */
static void check_entry(struct lm_log *l, const struct lm_log_entry *e, const char *prev_hash,
                        int64_t prev_seq)
{
    char want[65];
    if (l->broken_at)
        return;
    if (e->seq != prev_seq + 1)
        snprintf(l->why, sizeof(l->why), "entry %" PRId64 " follows entry %" PRId64
                 ": entries are missing", e->seq, prev_seq);
    else if (strcmp(e->prev, prev_hash) != 0)
        snprintf(l->why, sizeof(l->why), "entry %" PRId64 " does not chain to entry %" PRId64
                 ": it records prev %.12s, entry %" PRId64 " hashes to %.12s", e->seq, prev_seq,
                 e->prev, prev_seq, prev_hash);
    else if (entry_hash(e->prev, e->seq, e->time, e->user, e->command, e->action, e->subject,
                        e->digests, want) == 0 && strcmp(want, e->hash) != 0)
        snprintf(l->why, sizeof(l->why), "entry %" PRId64 " was changed: its contents hash to "
                 "%.12s, it records %.12s", e->seq, want, e->hash);
    else
        return;
    l->broken_at = e->seq;
}

int lm_store_log(struct lm_store *s, struct lm_log *l, struct lm_err *err)
{
    sqlite3_stmt *st = NULL;
    size_t cap = 0;
    char prev_hash[65];
    int64_t prev_seq = 0;
    memset(l, 0, sizeof(*l));
    memcpy(prev_hash, genesis, sizeof(prev_hash));
    if (store_db_prepare(s,
                         "SELECT seq, time, user, command, action, subject, digests, prev, hash "
                         "FROM audit_log ORDER BY seq",
                         &st, err))
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (l->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct lm_log_entry *v = realloc(l->entries, nc * sizeof(*v));
            if (!v)
                goto nomem;
            l->entries = v;
            cap = nc;
        }
        struct lm_log_entry *e = &l->entries[l->n];
        memset(e, 0, sizeof(*e));
        l->n++;
        e->seq = sqlite3_column_int64(st, 0);
        e->time = sqlite3_column_int64(st, 1);
        e->user = dup_col(st, 2);
        e->command = dup_col(st, 3);
        e->action = dup_col(st, 4);
        e->subject = dup_col(st, 5);
        e->digests = dup_col(st, 6);
        snprintf(e->prev, sizeof(e->prev), "%s", store_col_text(st, 7));
        snprintf(e->hash, sizeof(e->hash), "%s", store_col_text(st, 8));
        if (!e->user || !e->command || !e->action || !e->subject || !e->digests)
            goto nomem;
        check_entry(l, e, prev_hash, prev_seq);
        memcpy(prev_hash, e->hash, sizeof(prev_hash));
        prev_seq = e->seq;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        store_db_fail(s, err, "read the audit log");
        lm_log_release(l);
        return -1;
    }
    return 0;
nomem:
    sqlite3_finalize(st);
    lm_log_release(l);
    return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
}

void lm_log_release(struct lm_log *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->entries[i].user);
        free(l->entries[i].command);
        free(l->entries[i].action);
        free(l->entries[i].subject);
        free(l->entries[i].digests);
    }
    free(l->entries);
    memset(l, 0, sizeof(*l));
}
