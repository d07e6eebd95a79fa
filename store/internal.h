/* internal.h: what the files of store/ share with each other. Private to store/; the module's
 * interface is store.h. */
#ifndef LM_STORE_INTERNAL_H
#define LM_STORE_INTERNAL_H

#include <sqlite3.h>

#include "store.h"

#define STORE_PATH_MAX 1024
#define STORE_SCHEMA_VERSION 1

struct lm_store {
    char home[STORE_PATH_MAX];
    char blobs[STORE_PATH_MAX];    /* home/blobs/sha256 */
    char tmp[STORE_PATH_MAX];      /* home/tmp */
    char index[STORE_PATH_MAX];    /* home/index.db */
    sqlite3 *db;
    int last_rc;                   /* primary code of the last SQLite failure (store_db_fail) */
    int lock_fd;
    int lock_mode;                 /* 0, LOCK_SH or LOCK_EX */
    char *command;                 /* for the audit log */
    char user[64];
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    uint64_t progress_done, progress_total;
};

/* ---- index (schema.c) -------------------------------------------------------------------- */
int store_index_open(struct lm_store *s, struct lm_err *err);
/* err from the last SQLite failure of s->db: "index.db: what: sqlite's message" (what NULL:
 * the message alone). */
int store_db_fail(struct lm_store *s, struct lm_err *err, const char *what);
int store_db_exec(struct lm_store *s, const char *sql, struct lm_err *err);
int store_db_prepare(struct lm_store *s, const char *sql, sqlite3_stmt **st, struct lm_err *err);
int store_begin(struct lm_store *s, struct lm_err *err);     /* BEGIN IMMEDIATE */
int store_commit(struct lm_store *s, struct lm_err *err);
void store_rollback(struct lm_store *s);
/* Text of a column, "" for NULL. */
const char *store_col_text(sqlite3_stmt *st, int col);

/* ---- locks (store.c) --------------------------------------------------------------------- */
/* Take the store lock in mode LOCK_SH or LOCK_EX (waiting), or drop it with 0. */
int store_lock(struct lm_store *s, int mode, struct lm_err *err);
int64_t store_now(void);
/* One provenance record for manifest row `mid`, unless an equal one (same kind, url, revision,
 * commit) is there already; `time` and `version` as recorded (a bundle keeps the source's). */
/* Step a statement to its end and finalize it; -1 with `what` in the error if it failed. */
int store_step_done(struct lm_store *s, sqlite3_stmt *st, const char *what, struct lm_err *err);
/* Bind text (copied) or NULL. */
void store_bind_opt(sqlite3_stmt *st, int i, const char *v);
int store_insert_prov(struct lm_store *s, int64_t mid, const struct lm_provenance *p,
                      int64_t time, const char *version, struct lm_err *err);
/* n more bytes of the current operation are done. */
void store_progress(struct lm_store *s, uint64_t n);
/* snprintf that says whether it fit: -1 if the result was cut. */
int store_pathf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- fault injection (fault.c) ---------------------------------------------------------- */
/* A write, fsync, rename or commit step. LM_FAULT_AT=N kills the process at the Nth. Temp
 * files are tracked for signals with common's lm_tmp_track. */
void store_fault_point(void);

/* ---- blobs (blobs.c) --------------------------------------------------------------------- */
/* Create a fresh temp file in tmp/, flocked, tracked. fd -1 and err on failure. */
int store_tmp_create(struct lm_store *s, const char *suffix, char *path, size_t n, struct lm_err *err);
/* fsync a directory. */
int store_fsync_dir(const char *dir, struct lm_err *err);
/* Hash an fd from offset 0: digest, size; nul_at gets the offset of the first NUL byte or
 * UINT64_MAX (NULL to skip the scan). */
int store_hash_fd(int fd, const char *path, char hex[65], uint64_t *size, uint64_t *nul_at,
                  struct lm_err *err);
/* Move the complete, fsynced and checked file tmp (open as fd) into blobs/ as hex, or drop it
 * if the blob exists; sync_dir false leaves the directory fsync to the caller (many renames,
 * one fsync: partial.c). */
int store_blob_place(struct lm_store *s, int fd, const char *tmp, const char *label,
                     const char *hex, uint64_t size, bool sync_dir, struct lm_blob *out,
                     struct lm_err *err);

/* ---- admission (admit.c) ----------------------------------------------------------------- */
/* Is this a media type the store takes? */
bool store_media_known(const char *mt);
bool store_role_known(const char *role);
/* Structural checks on the complete file at `path` (errors name `label`). nul_at from hashing. */
int store_admit(const char *mt, const char *path, const char *label, uint64_t size, uint64_t nul_at,
                struct lm_err *err);

/* ---- facts (facts.c) --------------------------------------------------------------------- */
struct store_facts {
    const char *format;            /* static string */
    char architecture[64];
    char quantization[32];
    uint64_t n_params, context_length;
};
int store_facts(struct lm_store *s, const struct lm_layer *layers, size_t n,
                struct store_facts *f, struct lm_err *err);

/* ---- audit log (audit.c) ----------------------------------------------------------------- */
/* Append inside an open transaction. */
int store_audit_append(struct lm_store *s, const char *action, const char *subject,
                       const char *digests, struct lm_err *err);

/* ---- models (models.c) ------------------------------------------------------------------- */
/* The canonical manifest: compact JSON, keys in a fixed order, layers in the given order.
 * malloc'd; its sha256 is the manifest digest. */
char *store_manifest_body(const struct lm_layer *layers, size_t n, struct lm_err *err);

#endif
