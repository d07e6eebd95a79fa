/* bundle_manifest.c: the bundle manifest (lm-bundle.json): built from store models on export,
 * parsed and checked as hostile bytes on import. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bundle_int.h"
#include "../common/banned.h"

/* ---- building ---------------------------------------------------------------------------- */

static json_t *opt_string(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *prov_json(const struct lm_model_prov *p)
{
    json_t *o = json_object(), *files = json_array();
    json_object_set_new(o, "kind", json_string(p->kind));
    json_object_set_new(o, "url", opt_string(p->url));
    json_object_set_new(o, "revision", opt_string(p->revision));
    json_object_set_new(o, "commit", opt_string(p->commit));
    json_object_set_new(o, "extra", opt_string(p->extra_json));   /* as text: kept byte for byte */
    json_object_set_new(o, "time", json_integer(p->time));
    json_object_set_new(o, "lm_version", json_string(p->lm_version ? p->lm_version : ""));
    for (size_t i = 0; i < p->n_files; i++) {
        json_t *f = json_object();
        json_object_set_new(f, "path", json_string(p->files[i].path ? p->files[i].path : ""));
        json_object_set_new(f, "upstream_digest", opt_string(p->files[i].upstream_digest));
        json_object_set_new(f, "algorithm", opt_string(p->files[i].algorithm));
        json_array_append_new(files, f);
    }
    json_object_set_new(o, "files", files);
    return o;
}

static json_t *deriv_json(const struct lm_model_deriv *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "operation", json_string(d->operation));
    json_object_set_new(o, "parameters", json_string(d->params_json));
    json_object_set_new(o, "input_manifest", json_string(d->input_manifest));
    json_object_set_new(o, "output_manifest", json_string(d->output_manifest));
    json_object_set_new(o, "time", json_integer(d->time));
    json_object_set_new(o, "lm_version", json_string(d->lm_version ? d->lm_version : ""));
    return o;
}

static int add_blob(struct bundle_blob **v, size_t *n, const struct lm_model_layer *l)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i].digest, l->digest) == 0)
            return 0;   /* shared by two files or two models: carried once */
    struct bundle_blob *nv = realloc(*v, (*n + 1) * sizeof(**v));
    if (!nv)
        return -1;
    *v = nv;
    memset(&nv[*n], 0, sizeof(nv[*n]));
    snprintf(nv[*n].digest, sizeof(nv[*n].digest), "%s", l->digest);
    nv[*n].size = l->size;
    nv[*n].media_type = l->media_type;
    nv[*n].fd = -1;
    (*n)++;
    return 0;
}

char *bundle_manifest_build(struct lm_model *const *models, size_t n, int64_t created,
                            struct bundle_blob **blobs, size_t *n_blobs, struct lm_err *err)
{
    json_t *root = json_object(), *ms = json_array(), *bs = json_array();
    char *text = NULL;
    *blobs = NULL;
    *n_blobs = 0;
    json_object_set_new(root, "format", json_string(BUNDLE_FORMAT));
    json_object_set_new(root, "version", json_integer(BUNDLE_VERSION));
    json_object_set_new(root, "lm_version", json_string(LM_VERSION));
    json_object_set_new(root, "created", json_integer(created));
    for (size_t i = 0; i < n; i++) {
        const struct lm_model *m = models[i];
        json_t *o = json_object(), *pv = json_array(), *dv = json_array();
        json_object_set_new(o, "name", json_string(m->name));
        json_object_set_new(o, "manifest", json_string(m->manifest));
        json_object_set_new(o, "manifest_json", json_string(m->manifest_json));
        for (size_t k = 0; k < m->n_prov; k++)
            json_array_append_new(pv, prov_json(&m->prov[k]));
        for (size_t k = 0; k < m->n_derivs; k++)
            json_array_append_new(dv, deriv_json(&m->derivs[k]));
        json_object_set_new(o, "provenance", pv);
        json_object_set_new(o, "derivations", dv);
        json_array_append_new(ms, o);
        for (size_t k = 0; k < m->n_layers; k++)
            if (add_blob(blobs, n_blobs, &m->layers[k]))
                goto nomem;
    }
    for (size_t i = 0; i < *n_blobs; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "digest", json_string((*blobs)[i].digest));
        json_object_set_new(o, "size", json_integer((json_int_t)(*blobs)[i].size));
        json_object_set_new(o, "media_type", json_string((*blobs)[i].media_type));
        json_array_append_new(bs, o);
    }
    json_object_set_new(root, "models", ms);
    json_object_set_new(root, "blobs", bs);
    ms = bs = NULL;
    text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        goto nomem;
    json_decref(root);
    return text;
nomem:
    json_decref(root);
    json_decref(ms);
    json_decref(bs);
    free(*blobs);
    *blobs = NULL;
    lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    return NULL;
}

/* ---- parsing ----------------------------------------------------------------------------- */

struct parse {
    const char *label;
    struct lm_err *err;
    char where[160];               /* "model 'x': " context for messages */
};

static int bad(struct parse *p, const char *fmt, const char *a)
{
    char q[LM_QUOTE_MAX + 8];
    lm_quote(a ? a : "", a ? strlen(a) : 0, q, sizeof(q));
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, q);
    return lm_err_set(p->err, LM_ECORRUPT, p->label, LM_NO_OFFSET, "bundle manifest: %s%s",
                      p->where, msg);
}

/* A string member: required, or optional (absent/null gives NULL). */
static int get_str(struct parse *p, json_t *o, const char *key, bool required, const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return required ? bad(p, "'%s' is missing", key) : 0;
    if (!json_is_string(v))
        return bad(p, "'%s' is not a string", key);
    if (strlen(json_string_value(v)) != json_string_length(v))
        return bad(p, "'%s' holds a NUL byte", key);
    *out = json_string_value(v);
    return 0;
}

static int get_int(struct parse *p, json_t *o, const char *key, int64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return bad(p, "'%s' is not a non-negative integer", key);
    *out = (int64_t)json_integer_value(v);
    return 0;
}

static int get_array(struct parse *p, json_t *o, const char *key, size_t max, json_t **out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_array(v))
        return bad(p, "'%s' is not an array", key);
    if (json_array_size(v) > max) {
        char m[64];
        snprintf(m, sizeof(m), "'%%s' has more than %zu entries", max);
        return bad(p, m, key);
    }
    *out = v;
    return 0;
}

static bool is_json_object_text(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, &je);
    bool ok = json_is_object(j);
    json_decref(j);
    return ok;
}

/* A path inside a model, as the store allows it: relative, '/'-separated, no empty, '.' or
 * '..' part, no control bytes or backslash (a later export to a directory stays inside it). */
static bool layer_path_ok(const char *p)
{
    if (!*p || *p == '/' || strlen(p) > 1024)
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
            return false;
    }
    return true;
}

static int blob_cmp(const void *a, const void *b)
{
    return strcmp(((const struct bundle_blob *)a)->digest, ((const struct bundle_blob *)b)->digest);
}

static int parse_blobs(struct parse *p, struct bundle_manifest *bm)
{
    json_t *arr;
    if (get_array(p, bm->root, "blobs", BUNDLE_BLOBS_MAX, &arr))
        return -1;
    size_t n = json_array_size(arr);
    bm->blobs = calloc(n ? n : 1, sizeof(*bm->blobs));
    if (!bm->blobs)
        return lm_err_set(p->err, LM_ENOMEM, p->label, LM_NO_OFFSET, "out of memory");
    bm->n_blobs = n;   /* only once there is an array to walk */
    for (size_t i = 0; i < bm->n_blobs; i++)
        bm->blobs[i].fd = -1;
    for (size_t i = 0; i < bm->n_blobs; i++) {
        json_t *o = json_array_get(arr, i);
        struct bundle_blob *b = &bm->blobs[i];
        const char *d;
        int64_t size;
        b->fd = -1;
        if (!json_is_object(o))
            return bad(p, "a blob entry is not an object%s", "");
        if (get_str(p, o, "digest", true, &d) || get_int(p, o, "size", &size) ||
            get_str(p, o, "media_type", true, &b->media_type))
            return -1;
        if (!lm_digest_valid(d))
            return bad(p, "blob digest '%s' is not 64 lowercase hex digits", d);
        if (!store_media_known(b->media_type))
            return bad(p, "media type '%s' is not one the store takes", b->media_type);
        snprintf(b->digest, sizeof(b->digest), "%s", d);
        b->size = (uint64_t)size;
        if (ckd_add(&bm->bytes, bm->bytes, b->size))
            return bad(p, "blob sizes add up past 2^64%s", "");
    }
    /* Sorted by digest: lookups are binary searches, and a digest listed twice is adjacent. */
    qsort(bm->blobs, bm->n_blobs, sizeof(*bm->blobs), blob_cmp);
    for (size_t i = 1; i < bm->n_blobs; i++)
        if (strcmp(bm->blobs[i - 1].digest, bm->blobs[i].digest) == 0)
            return bad(p, "blob %s is listed twice", bm->blobs[i].digest);
    return 0;
}

static int parse_layers(struct parse *p, struct bundle_manifest *bm, struct bundle_model *m)
{
    json_error_t je;
    json_t *body = json_loads(m->body, JSON_REJECT_DUPLICATES, &je), *arr;
    int ret = -1;
    char *canon = NULL;
    if (!json_is_object(body)) {
        bad(p, "manifest_json is not a JSON object%s", "");
        goto out;
    }
    if (get_array(p, body, "layers", 4096, &arr))
        goto out;
    m->n_layers = json_array_size(arr);
    if (m->n_layers == 0) {
        bad(p, "no files%s", "");
        goto out;
    }
    m->layers = calloc(m->n_layers ? m->n_layers : 1, sizeof(*m->layers));
    if (!m->layers) {
        lm_err_set(p->err, LM_ENOMEM, p->label, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < m->n_layers; i++) {
        json_t *o = json_array_get(arr, i);
        struct lm_layer *l = &m->layers[i];
        const char *d;
        int64_t size;
        if (!json_is_object(o)) {
            bad(p, "a file entry is not an object%s", "");
            goto out;
        }
        if (get_str(p, o, "path", true, &l->path) || get_str(p, o, "digest", true, &d) ||
            get_int(p, o, "size", &size) || get_str(p, o, "role", true, &l->role) ||
            get_str(p, o, "mediaType", true, &l->media_type))
            goto out;
        l->size = (uint64_t)size;
        if (!layer_path_ok(l->path)) {
            bad(p, "file path '%s' is not relative or has a '.' or '..' part", l->path);
            goto out;
        }
        if (!store_role_known(l->role) || !store_media_known(l->media_type)) {
            bad(p, "file '%s' has an unknown role or media type", l->path);
            goto out;
        }
        struct bundle_blob *b = strncmp(d, "sha256:", 7) == 0 ? bundle_find_blob(bm, d + 7) : NULL;
        if (b)
            b->used = true;
        if (!b) {
            bad(p, "file '%s' names a blob the bundle does not list", l->path);
            goto out;
        }
        if (b->size != l->size) {
            bad(p, "file '%s' has a size other than its blob's", l->path);
            goto out;
        }
        l->digest = b->digest;
        for (size_t k = 0; k < i; k++)
            if (strcmp(m->layers[k].path, l->path) == 0) {
                bad(p, "file '%s' is listed twice", l->path);
                goto out;
            }
    }
    /* The body must be exactly what the store would write for these files, so its digest is
     * the model's ID and nothing else rides along in it. Strings stay owned by `body`, which
     * is kept in the root for as long as the manifest lives. */
    if (!(canon = store_manifest_body(m->layers, m->n_layers, p->err)))
        goto out;
    if (strcmp(canon, m->body) != 0) {
        bad(p, "manifest_json is not in canonical form%s", "");
        goto out;
    }
    if (json_array_append_new(bm->keep, body)) {   /* keeps the layer strings alive */
        body = NULL;
        lm_err_set(p->err, LM_ENOMEM, p->label, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    body = NULL;
    ret = 0;
out:
    free(canon);
    json_decref(body);
    return ret;
}

static int parse_prov(struct parse *p, json_t *o, struct bundle_prov *bp)
{
    json_t *files;
    int64_t t;
    if (!json_is_object(o))
        return bad(p, "a provenance record is not an object%s", "");
    if (get_str(p, o, "kind", true, &bp->p.kind) || get_str(p, o, "url", false, &bp->p.url) ||
        get_str(p, o, "revision", false, &bp->p.revision) ||
        get_str(p, o, "commit", false, &bp->p.commit) ||
        get_str(p, o, "extra", false, &bp->p.extra_json) || get_int(p, o, "time", &t) ||
        get_str(p, o, "lm_version", true, &bp->lm_version) ||
        get_array(p, o, "files", 65536, &files))
        return -1;
    if (!*bp->p.kind)
        return bad(p, "a provenance record has an empty kind%s", "");
    if (bp->p.extra_json && !is_json_object_text(bp->p.extra_json))
        return bad(p, "provenance 'extra' is not a JSON object%s", "");
    bp->time = t;
    bp->p.n_files = json_array_size(files);
    struct lm_prov_file *f = calloc(bp->p.n_files ? bp->p.n_files : 1, sizeof(*f));
    if (!f)
        return lm_err_set(p->err, LM_ENOMEM, p->label, LM_NO_OFFSET, "out of memory");
    bp->p.files = f;
    for (size_t i = 0; i < bp->p.n_files; i++) {
        json_t *fo = json_array_get(files, i);
        if (!json_is_object(fo))
            return bad(p, "a provenance file is not an object%s", "");
        if (get_str(p, fo, "path", true, &f[i].path) ||
            get_str(p, fo, "upstream_digest", false, &f[i].upstream_digest) ||
            get_str(p, fo, "algorithm", false, &f[i].algorithm))
            return -1;
    }
    return 0;
}

static int parse_deriv(struct parse *p, json_t *o, struct bundle_deriv *bd)
{
    int64_t t;
    if (!json_is_object(o))
        return bad(p, "a derivation is not an object%s", "");
    if (get_str(p, o, "operation", true, &bd->d.operation) ||
        get_str(p, o, "parameters", true, &bd->d.params_json) ||
        get_str(p, o, "input_manifest", true, &bd->d.input_manifest) ||
        get_str(p, o, "output_manifest", true, &bd->output_manifest) ||
        get_int(p, o, "time", &t) || get_str(p, o, "lm_version", true, &bd->lm_version))
        return -1;
    if (!*bd->d.operation || !lm_digest_valid(bd->d.input_manifest) ||
        !lm_digest_valid(bd->output_manifest) || !is_json_object_text(bd->d.params_json))
        return bad(p, "a derivation needs an operation, two manifest digests and parameters as "
                      "a JSON object%s", "");
    bd->time = t;
    return 0;
}

static int parse_model(struct parse *p, struct bundle_manifest *bm, json_t *o,
                       struct bundle_model *m)
{
    const char *manifest;
    json_t *pv, *dv;
    struct lm_name nm;
    uint8_t d[32];
    if (!json_is_object(o))
        return bad(p, "a model entry is not an object%s", "");
    if (get_str(p, o, "name", true, &m->name))
        return -1;
    if (lm_name_parse(m->name, &nm, NULL))
        return bad(p, "model name '%s' is not valid", m->name);
    lm_name_full(&nm, m->full, sizeof(m->full));   /* "demo" and its full form are one name */
    char q[LM_QUOTE_MAX + 8];
    snprintf(p->where, sizeof(p->where), "model '%s': ",
             lm_quote(m->name, strlen(m->name), q, sizeof(q)));
    if (get_str(p, o, "manifest", true, &manifest) ||
        get_str(p, o, "manifest_json", true, &m->body) ||
        get_array(p, o, "provenance", BUNDLE_PROV_MAX, &pv) ||
        get_array(p, o, "derivations", BUNDLE_DERIVS_MAX, &dv))
        return -1;
    lm_sha256_buf(m->body, strlen(m->body), d);
    lm_hex(d, 32, m->manifest);
    if (strcmp(manifest, m->manifest) != 0)
        return bad(p, "manifest_json does not hash to the manifest digest %s", manifest);
    if (parse_layers(p, bm, m))
        return -1;
    m->n_prov = json_array_size(pv);
    m->n_derivs = json_array_size(dv);
    m->prov = calloc(m->n_prov ? m->n_prov : 1, sizeof(*m->prov));
    m->derivs = calloc(m->n_derivs ? m->n_derivs : 1, sizeof(*m->derivs));
    if (!m->prov || !m->derivs)
        return lm_err_set(p->err, LM_ENOMEM, p->label, LM_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < m->n_prov; i++)
        if (parse_prov(p, json_array_get(pv, i), &m->prov[i]))
            return -1;
    for (size_t i = 0; i < m->n_derivs; i++)
        if (parse_deriv(p, json_array_get(dv, i), &m->derivs[i]))
            return -1;
    p->where[0] = 0;
    return 0;
}

int bundle_manifest_parse(struct bundle_manifest *bm, const char *text, size_t len,
                          const char *label, struct lm_err *err)
{
    struct parse p = { label, err, "" };
    json_error_t je;
    json_t *models;
    const char *fmt;
    int64_t version;
    memset(bm, 0, sizeof(*bm));
    bm->keep = json_array();
    bm->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(bm->root))
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                          "bundle manifest: not a JSON object (line %d: %s)", je.line, je.text);
    if (get_str(&p, bm->root, "format", true, &fmt))
        return -1;
    if (strcmp(fmt, BUNDLE_FORMAT) != 0)
        return bad(&p, "format is '%s', not lm-bundle", fmt);
    if (get_int(&p, bm->root, "version", &version))
        return -1;
    if (version != BUNDLE_VERSION)
        return lm_err_set(err, LM_EUNSUPPORTED, label, LM_NO_OFFSET,
                          "bundle format version %lld is not one this lm reads (%d)",
                          (long long)version, BUNDLE_VERSION);
    if (get_str(&p, bm->root, "lm_version", true, &bm->lm_version) ||
        get_int(&p, bm->root, "created", &bm->created) || parse_blobs(&p, bm) ||
        get_array(&p, bm->root, "models", BUNDLE_MODELS_MAX, &models))
        return -1;
    size_t n = json_array_size(models);
    if (n == 0)
        return bad(&p, "no models%s", "");
    bm->models = calloc(n, sizeof(*bm->models));
    if (!bm->models)
        return lm_err_set(err, LM_ENOMEM, label, LM_NO_OFFSET, "out of memory");
    bm->n_models = n;
    for (size_t i = 0; i < bm->n_models; i++) {
        if (parse_model(&p, bm, json_array_get(models, i), &bm->models[i]))
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcasecmp(bm->models[k].full, bm->models[i].full) == 0)
                return bad(&p, "model '%s' is listed twice", bm->models[i].name);
    }
    /* Every listed blob belongs to a model: nothing unnamed rides into the store. */
    for (size_t i = 0; i < bm->n_blobs; i++)
        if (!bm->blobs[i].used)
            return bad(&p, "blob %s is not used by any model", bm->blobs[i].digest);
    return 0;
}

void bundle_manifest_release(struct bundle_manifest *bm)
{
    for (size_t i = 0; bm->models && i < bm->n_models; i++) {
        free(bm->models[i].layers);
        for (size_t k = 0; bm->models[i].prov && k < bm->models[i].n_prov; k++)
            free((void *)bm->models[i].prov[k].p.files);
        free(bm->models[i].prov);
        free(bm->models[i].derivs);
    }
    free(bm->models);
    free(bm->blobs);
    json_decref(bm->root);
    json_decref(bm->keep);
    memset(bm, 0, sizeof(*bm));
}

struct bundle_blob *bundle_find_blob(struct bundle_manifest *bm, const char *hex)
{
    struct bundle_blob key;
    snprintf(key.digest, sizeof(key.digest), "%s", hex);
    return bsearch(&key, bm->blobs, bm->n_blobs, sizeof(*bm->blobs), blob_cmp);
}
