/* lookup.c: reading models back: a name to its manifest, layers with blob paths, provenance and
 * the derivation chain. Each result lives in one arena, freed at once. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../common/banned.h"

#define DERIV_DEPTH_MAX 64         /* a chain longer than this is a loop or an attack */

struct chunk {
    struct chunk *next;
    size_t used, cap;
    _Alignas(16) char data[];
};

struct arena {
    struct chunk *head;
};

static void *arena_alloc(struct arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        struct chunk *c = malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(struct arena *a)
{
    while (a && a->head) {
        struct chunk *c = a->head;
        a->head = c->next;
        free(c);
    }
    free(a);
}

/* Column text copied into the arena; NULL for SQL NULL (sets *oom on allocation failure). */
static const char *col(struct arena *a, sqlite3_stmt *st, int i, bool *oom)
{
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
        return NULL;
    const char *t = store_col_text(st, i);
    size_t n = strlen(t);
    char *p = arena_alloc(a, n + 1);
    if (!p) {
        *oom = true;
        return "";
    }
    memcpy(p, t, n + 1);
    return p;
}

static const char *col_nn(struct arena *a, sqlite3_stmt *st, int i, bool *oom)
{
    const char *v = col(a, st, i, oom);
    return v ? v : "";
}

static int64_t count(struct lm_store *s, const char *sql, int64_t id, const char *text)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, id);
    int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return n;
}

static int load_layers(struct lm_store *s, struct arena *a, struct lm_model *m, int64_t mid,
                       bool *oom, struct lm_err *err)
{
    sqlite3_stmt *st;
    int64_t n = count(s, "SELECT count(*) FROM layers WHERE manifest_id = ?", mid, NULL);
    if (n < 0)
        return store_db_fail(s, err, "read layers");
    m->layers = arena_alloc(a, (size_t)n * sizeof(*m->layers) + 1);
    if (!m->layers || store_db_prepare(s, "SELECT path, digest, size, role, media_type FROM layers "
                                          "WHERE manifest_id = ? ORDER BY seq", &st, err))
        return m->layers ? -1 : (*oom = true, 0);
    sqlite3_bind_int64(st, 1, mid);
    while (m->n_layers < (size_t)n && sqlite3_step(st) == SQLITE_ROW) {
        struct lm_model_layer *l = &m->layers[m->n_layers++];
        char blob[STORE_PATH_MAX];
        l->path = col_nn(a, st, 0, oom);
        l->digest = col_nn(a, st, 1, oom);
        l->size = (uint64_t)sqlite3_column_int64(st, 2);
        l->role = col_nn(a, st, 3, oom);
        l->media_type = col_nn(a, st, 4, oom);
        if (lm_blob_path(s, l->digest, blob, sizeof(blob)))
            blob[0] = 0;
        char *b = arena_alloc(a, strlen(blob) + 1);
        if (!b) {
            *oom = true;
            break;
        }
        memcpy(b, blob, strlen(blob) + 1);
        l->blob = b;
    }
    sqlite3_finalize(st);
    return 0;
}

static int load_prov(struct lm_store *s, struct arena *a, struct lm_model *m, int64_t mid,
                     bool *oom, struct lm_err *err)
{
    sqlite3_stmt *st, *fs;
    int64_t n = count(s, "SELECT count(*) FROM provenance WHERE manifest_id = ?", mid, NULL);
    if (n < 0)
        return store_db_fail(s, err, "read provenance");
    m->prov = arena_alloc(a, (size_t)n * sizeof(*m->prov) + 1);
    if (!m->prov)
        return (*oom = true, 0);
    if (store_db_prepare(s, "SELECT id, kind, url, revision, resolved, extra, created_at, "
                            "lm_version FROM provenance WHERE manifest_id = ? ORDER BY id", &st, err))
        return -1;
    sqlite3_bind_int64(st, 1, mid);
    while (m->n_prov < (size_t)n && sqlite3_step(st) == SQLITE_ROW) {
        struct lm_model_prov *p = &m->prov[m->n_prov++];
        int64_t pid = sqlite3_column_int64(st, 0);
        p->kind = col_nn(a, st, 1, oom);
        p->url = col(a, st, 2, oom);
        p->revision = col(a, st, 3, oom);
        p->commit = col(a, st, 4, oom);
        p->extra_json = col(a, st, 5, oom);
        p->time = sqlite3_column_int64(st, 6);
        p->lm_version = col_nn(a, st, 7, oom);
        int64_t nf = count(s, "SELECT count(*) FROM provenance_files WHERE provenance_id = ?", pid,
                           NULL);
        if (nf < 0 || !(p->files = arena_alloc(a, (size_t)nf * sizeof(*p->files) + 1))) {
            *oom = nf >= 0;
            break;
        }
        if (sqlite3_prepare_v2(s->db, "SELECT path, upstream_digest, algorithm FROM "
                                      "provenance_files WHERE provenance_id = ? ORDER BY path",
                               -1, &fs, NULL) != SQLITE_OK)
            break;
        sqlite3_bind_int64(fs, 1, pid);
        while (p->n_files < (size_t)nf && sqlite3_step(fs) == SQLITE_ROW) {
            struct lm_prov_file *f = &p->files[p->n_files++];
            f->path = col_nn(a, fs, 0, oom);
            f->upstream_digest = col(a, fs, 1, oom);
            f->algorithm = col(a, fs, 2, oom);
        }
        sqlite3_finalize(fs);
    }
    sqlite3_finalize(st);
    return 0;
}

/* Display names of the models whose manifest is `digest`, in the arena; NULL if none. */
static const char *names_of(struct lm_store *s, struct arena *a, const char *digest, bool *oom)
{
    sqlite3_stmt *st;
    struct lm_buf b = LM_BUF_INIT(1u << 20);
    if (sqlite3_prepare_v2(s->db, "SELECT m.name FROM models m JOIN manifests f ON f.id = "
                                  "m.manifest_id WHERE f.digest = ? ORDER BY m.name",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct lm_name nm;
        char disp[LM_NAME_MAX + 1];
        if (lm_name_parse(store_col_text(st, 0), &nm, NULL))
            continue;
        lm_name_display(&nm, disp, sizeof(disp));
        if (lm_buf_printf(&b, "%s%s", b.len ? ", " : "", disp))
            break;
    }
    sqlite3_finalize(st);
    char *p = NULL;
    if (b.len && (p = arena_alloc(a, b.len + 1)))
        memcpy(p, b.data, b.len + 1);
    else if (b.len)
        *oom = true;
    lm_buf_release(&b);
    return p;
}

static int load_derivs(struct lm_store *s, struct arena *a, struct lm_model *m, bool *oom,
                       struct lm_err *err)
{
    sqlite3_stmt *st;
    m->derivs = arena_alloc(a, DERIV_DEPTH_MAX * sizeof(*m->derivs));
    if (!m->derivs)
        return (*oom = true, 0);
    if (store_db_prepare(s, "SELECT output_manifest, input_manifest, operation, parameters, "
                            "created_at, lm_version FROM derivations WHERE output_manifest = ? "
                            "ORDER BY id LIMIT 1", &st, err))
        return -1;
    const char *cur = m->manifest;
    while (m->n_derivs < DERIV_DEPTH_MAX) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, cur, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_ROW)
            break;
        struct lm_model_deriv *d = &m->derivs[m->n_derivs++];
        d->output_manifest = col_nn(a, st, 0, oom);
        d->input_manifest = col_nn(a, st, 1, oom);
        d->operation = col_nn(a, st, 2, oom);
        d->params_json = col_nn(a, st, 3, oom);
        d->time = sqlite3_column_int64(st, 4);
        d->lm_version = col_nn(a, st, 5, oom);
        d->input_names = names_of(s, a, d->input_manifest, oom);
        bool loop = strcmp(d->input_manifest, m->manifest) == 0;
        for (size_t i = 0; i + 1 < m->n_derivs && !loop; i++)
            loop = strcmp(m->derivs[i].output_manifest, d->input_manifest) == 0;
        if (loop || *oom)
            break;
        cur = d->input_manifest;
    }
    sqlite3_finalize(st);
    return 0;
}

static int load(struct lm_store *s, const char *full, const char *asked, struct lm_model **out,
                struct lm_err *err)
{
    struct arena *a = calloc(1, sizeof(*a));
    struct lm_model *m = a ? arena_alloc(a, sizeof(*m)) : NULL;
    sqlite3_stmt *st = NULL;
    bool oom = false;
    int64_t mid;
    *out = NULL;
    if (!m)
        goto nomem;
    m->priv = a;
    if (store_db_prepare(s, "SELECT m.name, m.created_at, m.modified_at, f.id, f.digest, f.body, "
                            "f.format, f.architecture, f.n_params, f.context_length, "
                            "f.quantization, f.size FROM models m JOIN manifests f "
                            "ON f.id = m.manifest_id WHERE m.name = ?", &st, err))
        goto fail;
    sqlite3_bind_text(st, 1, full, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        char q[LM_QUOTE_MAX + 8];
        lm_quote(asked, strlen(asked), q, sizeof(q));
        lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET, "model '%s' not found", q);
        goto fail;
    }
    if (rc != SQLITE_ROW) {
        store_db_fail(s, err, "read the model");
        goto fail;
    }
    m->name = col_nn(a, st, 0, &oom);
    m->created = sqlite3_column_int64(st, 1);
    m->modified = sqlite3_column_int64(st, 2);
    mid = sqlite3_column_int64(st, 3);
    snprintf(m->manifest, sizeof(m->manifest), "%s", store_col_text(st, 4));
    m->manifest_json = col_nn(a, st, 5, &oom);
    m->format = col_nn(a, st, 6, &oom);
    m->architecture = col(a, st, 7, &oom);
    m->n_params = (uint64_t)sqlite3_column_int64(st, 8);
    m->context_length = (uint64_t)sqlite3_column_int64(st, 9);
    m->quantization = col(a, st, 10, &oom);
    m->size = (uint64_t)sqlite3_column_int64(st, 11);
    sqlite3_finalize(st);
    st = NULL;
    struct lm_name nm;
    char disp[LM_NAME_MAX + 1];
    if (lm_name_parse(m->name, &nm, NULL) == 0)
        lm_name_display(&nm, disp, sizeof(disp));
    else
        snprintf(disp, sizeof(disp), "%s", m->name);
    char *d = arena_alloc(a, strlen(disp) + 1);
    if (!d)
        goto nomem;
    memcpy(d, disp, strlen(disp) + 1);
    m->display = d;
    if (load_layers(s, a, m, mid, &oom, err) || load_prov(s, a, m, mid, &oom, err) ||
        load_derivs(s, a, m, &oom, err))
        goto fail;
    if (oom)
        goto nomem;
    *out = m;
    return 0;
nomem:
    lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
fail:
    sqlite3_finalize(st);
    arena_free(a);
    return -1;
}

int lm_model_get(struct lm_store *s, const char *name, struct lm_model **out, struct lm_err *err)
{
    struct lm_name nm;
    char full[LM_NAME_MAX + 1];
    *out = NULL;
    if (lm_name_parse(name, &nm, err))
        return -1;
    lm_name_full(&nm, full, sizeof(full));
    return load(s, full, name, out, err);
}

void lm_model_free(struct lm_model *m)
{
    if (m)
        arena_free(m->priv);
}

const struct lm_model_layer *lm_model_layer_by_type(const struct lm_model *m, const char *mt)
{
    for (size_t i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].media_type, mt) == 0)
            return &m->layers[i];
    return NULL;
}

int lm_store_list(struct lm_store *s, struct lm_model ***out, size_t *n, struct lm_err *err)
{
    sqlite3_stmt *st;
    struct lm_model **v = NULL;
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (store_db_prepare(s, "SELECT name FROM models ORDER BY modified_at DESC, rowid DESC", &st, err))
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            struct lm_model **nv = realloc(v, nc * sizeof(*nv));
            if (!nv) {
                lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
                goto fail;
            }
            v = nv;
            cap = nc;
        }
        const char *name = store_col_text(st, 0);
        if (load(s, name, name, &v[*n], err))
            goto fail;
        (*n)++;
    }
    if (rc != SQLITE_DONE) {
        store_db_fail(s, err, "list models");
        goto fail;
    }
    sqlite3_finalize(st);
    *out = v;
    return 0;
fail:
    sqlite3_finalize(st);
    lm_model_list_free(v, *n);
    *n = 0;
    return -1;
}

void lm_model_list_free(struct lm_model **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lm_model_free(v[i]);
    free(v);
}
