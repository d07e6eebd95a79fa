/* bundle_add.c: adding a bundle's models to the index in one transaction, with the provenance
 * and derivation records as the source store had them (times and lm versions included). */
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "bundle_int.h"
#include "../common/banned.h"

/* Blob rows, the manifest and its layers (if new); the manifest's row id. */
static int64_t add_manifest(struct lm_store *s, const struct bundle_model *m,
                            const struct store_facts *f, struct lm_err *err)
{
    sqlite3_stmt *st;
    int64_t now = store_now();
    uint64_t size = 0;
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct lm_layer *l = &m->layers[i];
        size += l->size;
        if (store_db_prepare(s, "INSERT OR IGNORE INTO blobs (digest, size, media_type, added_at) "
                                "VALUES (?, ?, ?, ?)", &st, err))
            return -1;
        sqlite3_bind_text(st, 1, l->digest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)l->size);
        sqlite3_bind_text(st, 3, l->media_type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now);
        if (store_step_done(s, st, "add a blob", err))
            return -1;
    }
    if (store_db_prepare(s, "INSERT OR IGNORE INTO manifests (digest, body, format, architecture, "
                            "n_params, context_length, quantization, size, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", &st, err))
        return -1;
    sqlite3_bind_text(st, 1, m->manifest, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->body, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, f->format, -1, SQLITE_STATIC);
    store_bind_opt(st, 4, f->architecture[0] ? f->architecture : NULL);
    sqlite3_bind_int64(st, 5, (int64_t)f->n_params);
    sqlite3_bind_int64(st, 6, (int64_t)f->context_length);
    store_bind_opt(st, 7, f->quantization[0] ? f->quantization : NULL);
    sqlite3_bind_int64(st, 8, (int64_t)size);
    sqlite3_bind_int64(st, 9, now);
    if (store_step_done(s, st, "add a manifest", err))
        return -1;
    bool fresh = sqlite3_changes(s->db) > 0;
    if (store_db_prepare(s, "SELECT id FROM manifests WHERE digest = ?", &st, err))
        return -1;
    sqlite3_bind_text(st, 1, m->manifest, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        store_db_fail(s, err, "find the manifest");
        sqlite3_finalize(st);
        return -1;
    }
    int64_t mid = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    for (size_t i = 0; fresh && i < m->n_layers; i++) {
        const struct lm_layer *l = &m->layers[i];
        if (store_db_prepare(s, "INSERT INTO layers (manifest_id, seq, path, digest, size, role, "
                                "media_type) VALUES (?, ?, ?, ?, ?, ?, ?)", &st, err))
            return -1;
        sqlite3_bind_int64(st, 1, mid);
        sqlite3_bind_int64(st, 2, (int64_t)i);
        sqlite3_bind_text(st, 3, l->path, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, l->digest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (int64_t)l->size);
        sqlite3_bind_text(st, 6, l->role, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, l->media_type, -1, SQLITE_STATIC);
        if (store_step_done(s, st, "add a layer", err))
            return -1;
    }
    return mid;
}

static int add_name(struct lm_store *s, const char *full, int64_t mid, const char *manifest,
                    bool force, struct lm_err *err)
{
    sqlite3_stmt *st;
    int64_t now = store_now();
    /* Checked before staging too; this catches a name another process added meanwhile. */
    if (!force) {
        if (store_db_prepare(s, "SELECT f.digest FROM models m JOIN manifests f ON f.id = "
                                "m.manifest_id WHERE m.name = ?", &st, err))
            return -1;
        sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
        bool taken = sqlite3_step(st) == SQLITE_ROW && strcmp(store_col_text(st, 0), manifest);
        char had[65];
        snprintf(had, sizeof(had), "%s", taken ? store_col_text(st, 0) : "");
        sqlite3_finalize(st);
        if (taken) {
            struct lm_name nm;
            char d[LM_NAME_MAX + 1];
            lm_name_parse(full, &nm, NULL);
            lm_name_display(&nm, d, sizeof(d));
            return lm_err_set(err, LM_EEXIST, NULL, LM_NO_OFFSET,
                              "model '%s' exists (id %.12s); --force replaces it", d, had);
        }
    }
    /* An existing name (only with --force, checked before) keeps its spelling and moves. */
    if (store_db_prepare(s, "INSERT INTO models (name, manifest_id, created_at, modified_at) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                            "manifest_id = excluded.manifest_id, modified_at = excluded.modified_at",
                         &st, err))
        return -1;
    sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, mid);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, now);
    return store_step_done(s, st, "name the model", err);
}

static int add_derivs(struct lm_store *s, const struct bundle_model *m, struct lm_err *err)
{
    for (size_t i = 0; i < m->n_derivs; i++) {
        const struct bundle_deriv *d = &m->derivs[i];
        sqlite3_stmt *st;
        if (store_db_prepare(s, "INSERT OR IGNORE INTO derivations (output_manifest, "
                                "input_manifest, operation, parameters, created_at, lm_version) "
                                "VALUES (?, ?, ?, ?, ?, ?)", &st, err))
            return -1;
        sqlite3_bind_text(st, 1, d->output_manifest, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, d->d.input_manifest, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, d->d.operation, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, d->d.params_json, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, d->time);
        sqlite3_bind_text(st, 6, d->lm_version, -1, SQLITE_STATIC);
        if (store_step_done(s, st, "record a derivation", err))
            return -1;
    }
    return 0;
}

static int add_one(struct lm_store *s, const struct bundle_model *m, const struct store_facts *f,
                   const struct lm_provenance *via, bool force, struct lm_err *err)
{
    struct lm_name nm;
    char full[LM_NAME_MAX + 1], display[LM_NAME_MAX + 1];
    struct lm_buf digests = LM_BUF_INIT((size_t)BUNDLE_BLOBS_MAX * 66 + 128);
    int ret = -1;
    if (lm_name_parse(m->name, &nm, err))
        return -1;
    lm_name_full(&nm, full, sizeof(full));
    lm_name_display(&nm, display, sizeof(display));
    int64_t mid = add_manifest(s, m, f, err);
    if (mid < 0 || add_name(s, full, mid, m->manifest, force, err))
        goto out;
    for (size_t i = 0; i < m->n_prov; i++)
        if (store_insert_prov(s, mid, &m->prov[i].p, m->prov[i].time, m->prov[i].lm_version, err))
            goto out;
    if (store_insert_prov(s, mid, via, store_now(), LM_VERSION, err) || add_derivs(s, m, err))
        goto out;
    if (lm_buf_add(&digests, m->manifest, 64)) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->n_layers; i++)
        if (lm_buf_printf(&digests, " %s", m->layers[i].digest)) {
            lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
            goto out;
        }
    ret = store_audit_append(s, "import", display, digests.data, err);
out:
    lm_buf_release(&digests);
    return ret;
}

int bundle_add_models(struct lm_store *s, const struct bundle_manifest *bm,
                      const struct lm_provenance *via, bool force, struct lm_err *err)
{
    struct store_facts *f = calloc(bm->n_models, sizeof(*f));
    int ret = -1;
    if (!f)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    /* Facts read the blobs (now in place); everything that reads files happens before BEGIN. */
    for (size_t i = 0; i < bm->n_models; i++)
        if (store_facts(s, bm->models[i].layers, bm->models[i].n_layers, &f[i], err))
            goto out;
    if (store_begin(s, err))
        goto out;
    for (size_t i = 0; i < bm->n_models; i++) {
        if (add_one(s, &bm->models[i], &f[i], via, force, err)) {
            store_rollback(s);
            goto out;
        }
    }
    store_fault_point();
    if (store_commit(s, err))
        goto out;
    ret = 0;
out:
    free(f);
    return ret;
}
