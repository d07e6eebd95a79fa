/* models.c: adding models (name + manifest + provenance + derivations in one transaction),
 * removing and copying names. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "../common/banned.h"

#define LAYERS_MAX 4096            /* sharded checkpoints have tens of files, not thousands */
#define LAYER_PATH_MAX 1024
#define MANIFEST_MEDIA_TYPE "application/vnd.lm.manifest.v1+json"

/* A path inside a model: relative, '/'-separated, no empty, '.' or '..' part, no control
 * bytes or backslashes, so exporting it later can never write outside its directory. */
static bool layer_path_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > LAYER_PATH_MAX || p[0] == '/')
        return false;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
            return false;
    for (const char *c = p; *c;) {
        size_t k = strcspn(c, "/");
        if (k == 0 || (k == 1 && c[0] == '.') || (k == 2 && c[0] == '.' && c[1] == '.'))
            return false;
        c += k;
        if (*c == '/' && *++c == 0)
            return false;   /* trailing slash */
    }
    return true;
}

static bool json_object_text_ok(const char *s)
{
    if (!s)
        return true;
    json_error_t je;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &je);
    bool ok = json_is_object(j);
    json_decref(j);
    return ok;
}

static int check_layers(struct lm_store *s, const struct lm_model_spec *m, struct lm_err *err)
{
    char q[LM_QUOTE_MAX + 8], blob[STORE_PATH_MAX];
    if (m->n_layers == 0 || m->n_layers > LAYERS_MAX)
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "a model needs 1 to %d files, not %zu",
                          LAYERS_MAX, m->n_layers);
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct lm_layer *l = &m->layers[i];
        struct stat st;
        const char *p = l->path ? l->path : "";
        lm_quote(p, strlen(p), q, sizeof(q));
        if (!layer_path_ok(p))
            return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                              "file '%s': a path in a model must be relative, without '.' or "
                              "'..' parts or control characters", q);
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->layers[k].path, p) == 0)
                return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "file '%s' appears twice",
                                  q);
        if (!store_role_known(l->role) || !store_media_known(l->media_type))
            return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                              "file '%s': unknown role or media type", q);
        if (lm_blob_path(s, l->digest, blob, sizeof(blob)))
            return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                              "file '%s': digest is not 64 lowercase hex digits", q);
        if (stat(blob, &st) < 0)
            return lm_err_set(err, LM_ENOTFOUND, blob, LM_NO_OFFSET,
                              "file '%s': its blob is not in the store", q);
        if ((uint64_t)st.st_size != l->size)
            return lm_err_set(err, LM_ECORRUPT, blob, LM_NO_OFFSET,
                              "file '%s': blob has %llu bytes, the manifest says %llu", q,
                              (unsigned long long)st.st_size, (unsigned long long)l->size);
    }
    if (m->prov && (!m->prov->kind || !*m->prov->kind || !json_object_text_ok(m->prov->extra_json)))
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                          "provenance needs a kind, and extra data must be a JSON object");
    for (size_t i = 0; i < m->n_derivs; i++) {
        const struct lm_derivation *d = &m->derivs[i];
        if (!d->operation || !*d->operation || !lm_digest_valid(d->input_manifest) ||
            !d->params_json || !json_object_text_ok(d->params_json))
            return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                              "a derivation needs an operation, an input manifest digest and "
                              "parameters as a JSON object");
    }
    return 0;
}

char *store_manifest_body(const struct lm_layer *layers, size_t n, struct lm_err *err)
{
    json_t *root = json_object(), *arr = json_array();
    char *body = NULL;
    if (!root || !arr)
        goto out;
    json_object_set_new(root, "schemaVersion", json_integer(1));
    json_object_set_new(root, "mediaType", json_string(MANIFEST_MEDIA_TYPE));
    for (size_t i = 0; i < n; i++) {
        const struct lm_layer *l = &layers[i];
        char digest[72];
        snprintf(digest, sizeof(digest), "sha256:%s", l->digest);
        json_t *path = json_string(l->path);
        if (!path) {
            char q[LM_QUOTE_MAX + 8];
            lm_quote(l->path, strlen(l->path), q, sizeof(q));
            lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "file '%s': path is not UTF-8", q);
            json_decref(root);
            json_decref(arr);
            return NULL;
        }
        json_t *o = json_object();
        json_object_set_new(o, "path", path);
        json_object_set_new(o, "digest", json_string(digest));
        json_object_set_new(o, "size", json_integer((json_int_t)l->size));
        json_object_set_new(o, "role", json_string(l->role));
        json_object_set_new(o, "mediaType", json_string(l->media_type));
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "layers", arr);
    arr = NULL;
    body = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(root);
    json_decref(arr);
    if (!body)
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    return body;
}

int store_step_done(struct lm_store *s, sqlite3_stmt *st, const char *what, struct lm_err *err)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        store_db_fail(s, err, what);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

void store_bind_opt(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

int store_insert_prov(struct lm_store *s, int64_t mid, const struct lm_provenance *p,
                      int64_t time, const char *version, struct lm_err *err)
{
    sqlite3_stmt *st;
    /* The same source recorded again (a second import of the same thing) adds nothing. */
    if (store_db_prepare(s, "SELECT 1 FROM provenance WHERE manifest_id = ? AND kind = ? AND "
                            "url IS ? AND revision IS ? AND resolved IS ?", &st, err))
        return -1;
    sqlite3_bind_int64(st, 1, mid);
    store_bind_opt(st, 2, p->kind);
    store_bind_opt(st, 3, p->url);
    store_bind_opt(st, 4, p->revision);
    store_bind_opt(st, 5, p->commit);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (store_db_prepare(s, "INSERT INTO provenance (manifest_id, kind, url, revision, resolved, "
                            "extra, created_at, lm_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                         &st, err))
        return -1;
    sqlite3_bind_int64(st, 1, mid);
    store_bind_opt(st, 2, p->kind);
    store_bind_opt(st, 3, p->url);
    store_bind_opt(st, 4, p->revision);
    store_bind_opt(st, 5, p->commit);
    store_bind_opt(st, 6, p->extra_json);
    sqlite3_bind_int64(st, 7, time);
    store_bind_opt(st, 8, version);
    if (store_step_done(s, st, "record provenance", err))
        return -1;
    int64_t pid = sqlite3_last_insert_rowid(s->db);
    for (size_t i = 0; i < p->n_files; i++) {
        if (store_db_prepare(s, "INSERT OR REPLACE INTO provenance_files (provenance_id, path, "
                                "upstream_digest, algorithm) VALUES (?, ?, ?, ?)", &st, err))
            return -1;
        sqlite3_bind_int64(st, 1, pid);
        store_bind_opt(st, 2, p->files[i].path ? p->files[i].path : "");
        store_bind_opt(st, 3, p->files[i].upstream_digest);
        store_bind_opt(st, 4, p->files[i].algorithm);
        if (store_step_done(s, st, "record provenance", err))
            return -1;
    }
    return 0;
}

/* The display form of a name as the index spells it (the first spelling stored wins). */
static int stored_display(struct lm_store *s, const char *full, char *display, struct lm_err *err)
{
    sqlite3_stmt *st;
    struct lm_name nm;
    if (store_db_prepare(s, "SELECT name FROM models WHERE name = ?", &st, err))
        return -1;
    sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && lm_name_parse(store_col_text(st, 0), &nm, NULL) == 0)
        lm_name_display(&nm, display, LM_NAME_MAX + 1);
    sqlite3_finalize(st);
    return 0;
}

static int insert_one(struct lm_store *s, const char *action, const struct lm_model_spec *m,
                      const char *full, char *display, const char *body, const char *digest,
                      const struct store_facts *f, struct lm_err *err)
{
    sqlite3_stmt *st;
    int64_t now = store_now();
    uint64_t size = 0;
    struct lm_buf digests = LM_BUF_INIT((size_t)LAYERS_MAX * 66 + 128);
    int ret = -1;
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct lm_layer *l = &m->layers[i];
        size += l->size;
        if (store_db_prepare(s, "INSERT OR IGNORE INTO blobs (digest, size, media_type, added_at) "
                                "VALUES (?, ?, ?, ?)", &st, err))
            goto out;
        sqlite3_bind_text(st, 1, l->digest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)l->size);
        sqlite3_bind_text(st, 3, l->media_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now);
        if (store_step_done(s, st, "add a blob", err))
            goto out;
    }
    if (store_db_prepare(s, "INSERT OR IGNORE INTO manifests (digest, body, format, architecture, "
                            "n_params, context_length, quantization, size, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err))
        goto out;
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, body, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, f->format, -1, SQLITE_STATIC);
    store_bind_opt(st, 4, f->architecture[0] ? f->architecture : NULL);
    sqlite3_bind_int64(st, 5, (int64_t)f->n_params);
    sqlite3_bind_int64(st, 6, (int64_t)f->context_length);
    store_bind_opt(st, 7, f->quantization[0] ? f->quantization : NULL);
    sqlite3_bind_int64(st, 8, (int64_t)size);
    sqlite3_bind_int64(st, 9, now);
    if (store_step_done(s, st, "add a manifest", err))
        goto out;
    bool fresh = sqlite3_changes(s->db) > 0;
    int64_t mid;
    if (store_db_prepare(s, "SELECT id FROM manifests WHERE digest = ?", &st, err))
        goto out;
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        store_db_fail(s, err, "find the manifest");
        sqlite3_finalize(st);
        goto out;
    }
    mid = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    for (size_t i = 0; fresh && i < m->n_layers; i++) {
        const struct lm_layer *l = &m->layers[i];
        if (store_db_prepare(s, "INSERT INTO layers (manifest_id, seq, path, digest, size, role, "
                                "media_type) VALUES (?, ?, ?, ?, ?, ?, ?)", &st, err))
            goto out;
        sqlite3_bind_int64(st, 1, mid);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_text(st, 3, l->path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, l->digest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (int64_t)l->size);
        sqlite3_bind_text(st, 6, l->role, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, l->media_type, -1, SQLITE_STATIC);
        if (store_step_done(s, st, "add a layer", err))
            goto out;
    }
    /* An existing name keeps its spelling (names compare case-insensitively) and moves. */
    if (store_db_prepare(s, "INSERT INTO models (name, manifest_id, created_at, modified_at) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                            "manifest_id = excluded.manifest_id, modified_at = excluded.modified_at",
                         &st, err))
        goto out;
    sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, mid);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    if (store_step_done(s, st, "name the model", err) || stored_display(s, full, display, err))
        goto out;
    if (m->prov && store_insert_prov(s, mid, m->prov, store_now(), LM_VERSION, err))
        goto out;
    for (size_t i = 0; i < m->n_derivs; i++) {
        const struct lm_derivation *d = &m->derivs[i];
        if (store_db_prepare(s, "INSERT OR IGNORE INTO derivations (output_manifest, "
                                "input_manifest, operation, parameters, created_at, lm_version) "
                                "VALUES (?, ?, ?, ?, ?, ?)", &st, err))
            goto out;
        sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, d->input_manifest, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, d->operation, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, d->params_json, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_text(st, 6, LM_VERSION, -1, SQLITE_STATIC);
        if (store_step_done(s, st, "record a derivation", err))
            goto out;
    }
    if (lm_buf_add(&digests, digest, 64))
        goto nomem;
    for (size_t i = 0; i < m->n_layers; i++)
        if (lm_buf_printf(&digests, " %s", m->layers[i].digest))
            goto nomem;
    if (store_audit_append(s, action, display, digests.data, err))
        goto out;
    ret = 0;
    goto out;
nomem:
    lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
out:
    lm_buf_release(&digests);
    return ret;
}

struct prepared {
    char full[LM_NAME_MAX + 1], display[LM_NAME_MAX + 1];
    char *body;
    char digest[65];
    struct store_facts facts;
};

int lm_store_add_models(struct lm_store *s, const char *action, const struct lm_model_spec *m,
                        size_t n, char (*manifests)[65], struct lm_err *err)
{
    struct prepared *p = calloc(n ? n : 1, sizeof(*p));
    int ret = -1;
    if (!p)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    /* Everything that reads files or can refuse happens before the transaction. */
    for (size_t i = 0; i < n; i++) {
        struct lm_name nm;
        uint8_t d[32];
        if (lm_name_parse(m[i].name ? m[i].name : "", &nm, err) || check_layers(s, &m[i], err))
            goto out;
        lm_name_full(&nm, p[i].full, sizeof(p[i].full));
        lm_name_display(&nm, p[i].display, sizeof(p[i].display));
        if (store_facts(s, m[i].layers, m[i].n_layers, &p[i].facts, err))
            goto out;
        if (!(p[i].body = store_manifest_body(m[i].layers, m[i].n_layers, err)))
            goto out;
        lm_sha256_buf(p[i].body, strlen(p[i].body), d);
        lm_hex(d, 32, p[i].digest);
    }
    if (store_begin(s, err))
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (insert_one(s, action, &m[i], p[i].full, p[i].display, p[i].body, p[i].digest,
                       &p[i].facts, err)) {
            store_rollback(s);
            goto out;
        }
    }
    if (store_commit(s, err))
        goto out;
    for (size_t i = 0; manifests && i < n; i++)
        memcpy(manifests[i], p[i].digest, 65);
    ret = 0;
out:
    /* The blobs are referenced now (or the add failed): gc may run again. */
    if (s->lock_mode == LOCK_SH)
        store_lock(s, 0, NULL);
    for (size_t i = 0; i < n; i++)
        free(p[i].body);
    free(p);
    return ret;
}

static int not_found(const char *name, struct lm_err *err)
{
    char q[LM_QUOTE_MAX + 8];
    lm_quote(name, strlen(name), q, sizeof(q));
    return lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET, "model '%s' not found", q);
}

/* A model's manifest id and digest by full name; -1 with LM_ENOTFOUND if there is none. */
static int64_t find_model(struct lm_store *s, const char *full, const char *asked,
                          char manifest[65], struct lm_err *err)
{
    sqlite3_stmt *st;
    if (store_db_prepare(s, "SELECT m.manifest_id, f.digest FROM models m JOIN manifests f "
                            "ON f.id = m.manifest_id WHERE m.name = ?", &st, err))
        return -1;
    sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    if (rc == SQLITE_ROW)
        snprintf(manifest, 65, "%s", store_col_text(st, 1));
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return not_found(asked, err);
    if (rc != SQLITE_ROW)
        return store_db_fail(s, err, "find the model");
    return id;
}

static int collect(struct lm_store *s, const char *sql, int64_t id, struct lm_buf *out,
                   struct lm_err *err)
{
    sqlite3_stmt *st;
    if (store_db_prepare(s, sql, &st, err))
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (lm_buf_printf(out, "%s%s", out->len ? " " : "", store_col_text(st, 0))) {
            sqlite3_finalize(st);
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_db_fail(s, err, NULL);
}

static int exec_id(struct lm_store *s, const char *sql, int64_t id, const char *text,
                   struct lm_err *err)
{
    sqlite3_stmt *st;
    if (store_db_prepare(s, sql, &st, err))
        return -1;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, id);
    return store_step_done(s, st, NULL, err);
}

/* Inside the transaction: drop the manifest if no name uses it, then blobs no layer uses.
 * `gone` gets the digests whose files are to be unlinked after COMMIT. */
static int drop_unused(struct lm_store *s, int64_t mid, struct lm_buf *gone, struct lm_err *err)
{
    struct lm_buf cand = LM_BUF_INIT(64u << 20);
    sqlite3_stmt *st;
    int ret = -1;
    if (store_db_prepare(s, "SELECT count(*) FROM models WHERE manifest_id = ?", &st, err))
        return -1;
    sqlite3_bind_int64(st, 1, mid);
    int64_t users = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    if (users != 0)
        return users < 0 ? store_db_fail(s, err, NULL) : 0;
    if (collect(s, "SELECT DISTINCT digest FROM layers WHERE manifest_id = ?", mid, &cand, err) ||
        exec_id(s, "DELETE FROM manifests WHERE id = ?", mid, NULL, err))
        goto out;
    for (char *d = cand.data; d && *d;) {
        char hex[65];
        snprintf(hex, sizeof(hex), "%.64s", d);
        d += strlen(hex) + (d[64] == ' ');
        if (store_db_prepare(s, "DELETE FROM blobs WHERE digest = ?1 AND NOT EXISTS "
                                "(SELECT 1 FROM layers WHERE digest = ?1)", &st, err))
            goto out;
        sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
        if (store_step_done(s, st, NULL, err))
            goto out;
        if (sqlite3_changes(s->db) > 0 &&
            lm_buf_printf(gone, "%s%s", gone->len ? " " : "", hex)) {
            lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
            goto out;
        }
    }
    ret = 0;
out:
    lm_buf_release(&cand);
    return ret;
}

int lm_store_remove(struct lm_store *s, const char *name, uint64_t *freed, struct lm_err *err)
{
    struct lm_name nm;
    char full[LM_NAME_MAX + 1], display[LM_NAME_MAX + 1], manifest[65] = "";
    struct lm_buf gone = LM_BUF_INIT(64u << 20), digests = LM_BUF_INIT(64u << 20);
    int old_mode = s->lock_mode, ret = -1;
    *freed = 0;
    if (lm_name_parse(name, &nm, err))
        return -1;
    lm_name_full(&nm, full, sizeof(full));
    lm_name_display(&nm, display, sizeof(display));
    /* Exclusive: an import must not adopt a blob we are about to unlink. */
    if (store_lock(s, LOCK_EX, err))
        return -1;
    if (store_begin(s, err))
        goto out;
    int64_t mid = find_model(s, full, name, manifest, err);
    if (mid < 0)
        goto fail;
    if (exec_id(s, "DELETE FROM models WHERE name = ?", 0, full, err) ||
        drop_unused(s, mid, &gone, err))
        goto fail;
    if (lm_buf_printf(&digests, "%s%s%s", manifest, gone.len ? " " : "", gone.data ? gone.data : "")) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto fail;
    }
    if (store_audit_append(s, "rm", display, digests.data, err))
        goto fail;
    if (store_commit(s, err))
        goto out;
    /* The index no longer names these blobs; a crash from here on leaves orphans for gc. */
    for (char *d = gone.data; d && *d;) {
        char hex[65], path[STORE_PATH_MAX];
        struct stat sb;
        snprintf(hex, sizeof(hex), "%.64s", d);
        d += strlen(hex) + (d[64] == ' ');
        if (lm_blob_path(s, hex, path, sizeof(path)) == 0 && stat(path, &sb) == 0) {
            store_fault_point();
            if (unlink(path) == 0)
                *freed += (uint64_t)sb.st_size;
        }
    }
    if (gone.len && store_fsync_dir(s->blobs, err))
        goto out;
    ret = 0;
    goto out;
fail:
    store_rollback(s);
out:
    store_lock(s, old_mode, NULL);
    lm_buf_release(&gone);
    lm_buf_release(&digests);
    return ret;
}

int lm_store_copy(struct lm_store *s, const char *src, const char *dst, struct lm_err *err)
{
    struct lm_name a, b;
    char sfull[LM_NAME_MAX + 1], dfull[LM_NAME_MAX + 1], sdisp[LM_NAME_MAX + 1],
        ddisp[LM_NAME_MAX + 1], subject[2 * LM_NAME_MAX + 8], manifest[65] = "";
    sqlite3_stmt *st;
    if (lm_name_parse(src, &a, err) || lm_name_parse(dst, &b, err))
        return -1;
    lm_name_full(&a, sfull, sizeof(sfull));
    lm_name_full(&b, dfull, sizeof(dfull));
    lm_name_display(&a, sdisp, sizeof(sdisp));
    lm_name_display(&b, ddisp, sizeof(ddisp));
    if (store_begin(s, err))
        return -1;
    int64_t mid = find_model(s, sfull, src, manifest, err);
    if (mid < 0)
        goto fail;
    if (store_db_prepare(s, "INSERT INTO models (name, manifest_id, created_at, modified_at) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                            "manifest_id = excluded.manifest_id, modified_at = excluded.modified_at",
                         &st, err))
        goto fail;
    int64_t now = store_now();
    sqlite3_bind_text(st, 1, dfull, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, mid);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    if (store_step_done(s, st, "name the model", err))
        goto fail;
    /* The manifest DST named before stays until gc if nothing else uses it: its blobs are
     * only unlinked under the exclusive lock, which rm and gc take. */
    snprintf(subject, sizeof(subject), "%s -> %s", sdisp, ddisp);
    if (store_audit_append(s, "cp", subject, manifest, err))
        goto fail;
    return store_commit(s, err);
fail:
    store_rollback(s);
    return -1;
}
