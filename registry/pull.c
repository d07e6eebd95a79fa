/* pull.c: lm pull from the Hub: resolve, list, choose, reuse what the store and the local
 * Hugging Face cache have, download the rest, and add the model with its provenance. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include <jansson.h>

#include "internal.h"
#include "../common/banned.h"

#define ZERO_OID "0000000000000000000000000000000000000000"

struct plan {
    size_t li;                      /* index in the listing */
    struct lm_file_kind kind;
    size_t same_as;                 /* an earlier plan with the same bytes, or SIZE_MAX */
    struct lm_blob blob;
    char digest[80];                /* for progress: "sha256:HEX" or "git:SHA1" */
};

struct pull {
    struct lm_store *s;
    const struct lm_pull_opts *o;
    struct hf_env env;
    struct lm_hf_ref ref;
    struct http *h;                 /* for the API; the downloads have their own */
    struct http_opts ho;
    const char *hub[3];
    uint64_t received;              /* file bytes so far */
    char name[LM_NAME_MAX + 1], label[300], commit[41];
    struct lm_hf_listing l;
    struct plan *plan;
    struct lm_pull_file *pub;
    size_t n;
    bool gguf;
    enum lm_pull_phase phase;
    struct lm_pull_result *r;
    size_t sig_k;                   /* the plan of model.sig, or SIZE_MAX */
    const struct fetch_item *dl;    /* the files being downloaded, while their bytes are in tmp/ */
    const size_t *dl_which;         /* the plan of each */
    size_t dl_n;
    bool sig_done;
    json_t *sig;                    /* the provenance's "signature", or NULL */
};

static void report(struct pull *P)
{
    struct lm_pull_progress p;
    if (!P->o->progress)
        return;
    memset(&p, 0, sizeof(p));
    p.phase = P->phase;
    p.repo = P->ref.repo;
    p.commit = P->commit;
    p.files = P->pub;
    p.n_files = P->n;
    for (size_t i = 0; i < P->n; i++) {
        p.total += P->pub[i].size;
        p.done += P->pub[i].done;
    }
    p.received = P->received;
    P->o->progress(P->o->ctx, &p);
}

static void tick(void *ctx)
{
    report(ctx);
}

static const struct lm_hf_file *file_of(const struct pull *P, size_t k)
{
    return &P->l.files[P->plan[k].li];
}

/* ---- offline: the commit and the listing from the cache or from the store ----------------- */

/* The model this pull names, if the store has it from this repository: its commit (for the
 * same requested revision, or equal to want_commit) and its files as a listing. 0 found, 1 not. */
static int from_store(struct pull *P, const char *want_commit, struct lm_err *err)
{
    struct lm_model *m = NULL;
    char url[1400];
    int ret = 1;
    snprintf(url, sizeof(url), "%s/%s", P->env.endpoint, P->ref.repo);
    if (lm_model_get(P->s, P->name, &m, err))
        return err->code == LM_ENOTFOUND ? 1 : -1;
    for (size_t i = m->n_prov; i-- > 0 && ret == 1;) {
        const struct lm_model_prov *pv = &m->prov[i];
        const char *rev = pv->revision ? pv->revision : "";
        if (strcmp(pv->kind, "hf") != 0 || !pv->url || strcmp(pv->url, url) != 0 ||
            !pv->commit || !hf_is_commit(pv->commit) ||
            (want_commit ? strcmp(pv->commit, want_commit) != 0
                         : strcmp(rev, P->ref.revision) != 0))
            continue;
        snprintf(P->commit, sizeof(P->commit), "%s", pv->commit);
        ret = 0;
        for (size_t k = 0; k < m->n_layers && ret == 0; k++) {
            const struct lm_model_layer *ly = &m->layers[k];
            const char *sha = ly->digest, *oid = ZERO_OID;
            for (size_t f = 0; f < pv->n_files; f++) {
                const struct lm_prov_file *pf = &pv->files[f];
                if (strcmp(pf->path, ly->path) == 0 && pf->algorithm && pf->upstream_digest &&
                    strcmp(pf->algorithm, "git-sha1") == 0) {
                    oid = pf->upstream_digest;
                    sha = "";
                }
            }
            if (hf_listing_add(&P->l, ly->path, ly->size, oid, sha, P->label, err))
                ret = -1;
        }
    }
    lm_model_free(m);
    return ret;
}

static int resolve_offline(struct pull *P, struct lm_err *err)
{
    const char *rev = P->ref.revision;
    int rc;
    if (hf_is_commit(rev)) {
        memcpy(P->commit, rev, 41);
    } else if (hf_cache_ref(&P->env, P->ref.repo, rev, P->commit)) {
        if ((rc = from_store(P, NULL, err)) <= 0)
            return rc;
        return lm_err_set(err, LM_ENET, P->label, LM_NO_OFFSET,
                          "offline (HF_HUB_OFFLINE is set) and revision '%s' is neither in the "
                          "store nor in the Hugging Face cache", *rev ? rev : "main");
    }
    if ((rc = hf_cache_tree(&P->env, P->ref.repo, P->commit, &P->l, err)) <= 0)
        return rc;
    if ((rc = from_store(P, P->commit, err)) <= 0)
        return rc;
    return lm_err_set(err, LM_ENET, P->label, LM_NO_OFFSET,
                      "offline (HF_HUB_OFFLINE is set) and the listing of commit %s is neither in "
                      "the store nor in the Hugging Face cache", P->commit);
}

static int resolve_online(struct pull *P, struct lm_err *err)
{
    P->hub[0] = P->env.endpoint;
    P->hub[1] = "https://huggingface.co";
    P->hub[2] = "https://hf.co";
    P->ho = (struct http_opts){
        .token = P->env.token[0] ? P->env.token : NULL,
        .hub = P->hub, .n_hub = 3,
        .connections = P->o->connections ? P->o->connections : 8,
        .limit_rate = P->o->limit_rate,
    };
    if (!(P->h = http_new(&P->ho, err)))
        return -1;
    if (hf_resolve(P->h, &P->env, P->ref.repo, P->ref.revision, P->commit, err))
        return -1;
    report(P);
    return hf_list(P->h, &P->env, P->ref.repo, P->commit, &P->l, err);
}

/* ---- planning: what each file is, and whether we have it ---------------------------------- */

static int plan_files(struct pull *P, const size_t *idx, size_t n, struct lm_err *err)
{
    char label[1400];
    if (!(P->plan = calloc(n, sizeof(*P->plan))) || !(P->pub = calloc(n, sizeof(*P->pub))))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    P->n = n;
    for (size_t k = 0; k < n; k++) {
        struct plan *pl = &P->plan[k];
        pl->li = idx[k];
        const struct lm_hf_file *f = file_of(P, k);
        snprintf(label, sizeof(label), "%s/%s", P->label, f->path);
        if (lm_file_kind(label, &pl->kind, err))
            return -1;
        pl->same_as = SIZE_MAX;
        for (size_t j = 0; j < k && pl->same_as == SIZE_MAX; j++) {
            const struct lm_hf_file *g = file_of(P, j);
            if (P->plan[j].same_as == SIZE_MAX && strcmp(f->sha256, g->sha256) == 0 &&
                (f->sha256[0] || strcmp(f->oid, g->oid) == 0))
                pl->same_as = j;
        }
        snprintf(pl->digest, sizeof(pl->digest), "%s:%s", f->sha256[0] ? "sha256" : "git",
                 f->sha256[0] ? f->sha256 : f->oid);
        P->pub[k].path = f->path;
        P->pub[k].digest = pl->digest;
        P->pub[k].size = f->size;
        P->pub[k].state = LM_PULL_QUEUED;
    }
    return 0;
}

static void set_blob(struct pull *P, size_t k, const char *hex, uint64_t size,
                     enum lm_pull_file_state st)
{
    snprintf(P->plan[k].blob.digest, sizeof(P->plan[k].blob.digest), "%s", hex);
    P->plan[k].blob.size = size;
    snprintf(P->plan[k].digest, sizeof(P->plan[k].digest), "sha256:%s", hex);
    P->pub[k].state = st;
    P->pub[k].done = size;
}

/* Files the store has (by sha256, or by the git blob id a model's provenance recorded) and
 * files the local Hugging Face cache has are not downloaded. */
static int reuse(struct pull *P, struct lm_pull_result *r, struct lm_err *err)
{
    char path[2048], hex[65];
    for (size_t k = 0; k < P->n; k++) {
        const struct lm_hf_file *f = file_of(P, k);
        struct stat st;
        uint64_t size;
        struct lm_err e;
        if (P->plan[k].same_as != SIZE_MAX)
            continue;
        if (f->sha256[0] && lm_blob_path(P->s, f->sha256, path, sizeof(path)) == 0 &&
            stat(path, &st) == 0 && (uint64_t)st.st_size == f->size) {
            set_blob(P, k, f->sha256, f->size, LM_PULL_PRESENT);
            r->n_present++;
            continue;
        }
        if (!f->sha256[0] && lm_blob_by_upstream(P->s, "git-sha1", f->oid, hex, &size, &e) == 0 &&
            size == f->size) {
            set_blob(P, k, hex, size, LM_PULL_PRESENT);
            r->n_present++;
            continue;
        }
        struct lm_blob b;
        int rc = hf_cache_take(&P->env, P->s, P->ref.repo, P->commit, f,
                               P->plan[k].kind.media_type, &b, err);
        if (rc < 0)
            return -1;
        if (rc == 0) {
            set_blob(P, k, b.digest, b.size, LM_PULL_FROM_CACHE);
            r->n_cache++;
        }
    }
    return 0;
}

static int check_space(struct pull *P, struct fetch_item *items, size_t n, struct lm_err *err)
{
    uint64_t need = 0, avail, v;
    struct statvfs sv;
    const char *t = getenv("LM_TEST_FREE_BYTES");
    for (size_t i = 0; i < n; i++) {
        const struct lm_hf_file *f = items[i].f;
        uint64_t kept = lm_partial_peek(P->s, f->sha256[0] ? f->sha256 : f->oid, f->size);
        need += f->size - (kept < f->size ? kept : f->size);
    }
    if (t && lm_parse_u64(t, 0, UINT64_MAX, &v) == 0)
        avail = v;
    else if (statvfs(lm_store_path(P->s), &sv) < 0 ||
             ckd_mul(&avail, (uint64_t)sv.f_bavail, (uint64_t)sv.f_frsize))
        return 0;                   /* cannot tell: let the writes say */
    if (need <= avail)
        return 0;
    char a[32], b[32];
    lm_fmt_bytes(need, a, sizeof(a));
    lm_fmt_bytes(avail, b, sizeof(b));
    return lm_err_set(err, LM_EIO, lm_store_path(P->s), LM_NO_OFFSET,
                      "not enough free space: the pull needs %s more, %s are free", a, b);
}

/* ---- the signature: model.sig checked against the files before any is stored ----------- */

static bool have_trust(const struct pull *P)
{
    return P->o->sig && P->o->sig->method != LM_SIG_NONE;
}

/* Before anything is stored: refuse what --require-signature cannot accept whatever the bytes. */
static int sig_find(struct pull *P, struct lm_err *err)
{
    P->sig_k = SIZE_MAX;
    for (size_t k = 0; k < P->n; k++)
        if (strcmp(file_of(P, k)->path, "model.sig") == 0)
            P->sig_k = k;
    P->r->sig = P->sig_k == SIZE_MAX ? LM_PULL_UNSIGNED : LM_PULL_SIG_UNCHECKED;
    if (!P->o->require_signature)
        return 0;
    if (P->sig_k == SIZE_MAX)
        return lm_err_set(err, LM_ENOTFOUND, P->label, LM_NO_OFFSET,
                          "commit %.12s has no model.sig and a signature is required",
                          P->commit);
    if (!have_trust(P))
        return lm_err_set(err, LM_EUSAGE, P->label, LM_NO_OFFSET,
                          "a signature is required but no trust is given (--key, --cert-chain "
                          "or --trust-root)");
    return 0;
}

/* Where file k's bytes are now: a blob the store has, or a verified download in tmp/. */
static const char *bytes_at(const struct pull *P, size_t k, char *buf, size_t n)
{
    size_t src = P->plan[k].same_as == SIZE_MAX ? k : P->plan[k].same_as;
    if (P->plan[src].blob.digest[0])
        return lm_blob_path(P->s, P->plan[src].blob.digest, buf, n) == 0 ? buf : NULL;
    for (size_t j = 0; j < P->dl_n; j++)
        if (P->dl_which[j] == src)
            return P->dl[j].tmp_path;
    return NULL;
}

static int sig_verify(struct pull *P, const struct lm_sig_file *files, struct lm_sig_result *res,
                      struct lm_err *err)
{
    struct lm_sig_opts o = *P->o->sig;
    const char **left = calloc(P->l.n + 1, sizeof(*left));
    bool *chosen = calloc(P->l.n + 1, sizeof(*chosen));
    if (!left || !chosen) {
        free(left);
        free(chosen);
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    }
    /* A repository signed as a whole: the files this pull did not choose are not here, and
     * every file it did choose must still match the statement. */
    for (size_t k = 0; k < P->n; k++)
        chosen[P->plan[k].li] = true;
    for (size_t i = 0; i < P->l.n; i++)
        if (!chosen[i])
            left[o.n_unchosen++] = P->l.files[i].path;
    o.unchosen = left;
    o.signature = files[P->sig_k].path;
    int rc = lm_sig_verify_files(files, P->n, &o, res, err);
    free(left);
    free(chosen);
    if (rc == 0)
        return 0;
    /* Name the file as the repository does, not by its temporary path. */
    for (size_t k = 0; k < P->n; k++)
        if (strcmp(err->path, files[k].path) == 0) {
            snprintf(err->path, sizeof(err->path), "%s/%s", P->label, files[k].name);
            break;
        }
    return -1;
}

static int sig_check(struct pull *P, struct lm_err *err)
{
    struct lm_sig_file *files = NULL;
    char (*bufs)[2048] = NULL;
    struct lm_sig_result res;
    char *txt = NULL;
    int ret = -1;
    P->sig_done = true;
    if (P->sig_k == SIZE_MAX)
        return 0;
    if (!have_trust(P)) {
        P->sig = json_pack("{s:s, s:s, s:I}", "status", "present, not verified", "file",
                           "model.sig", "checked_at", (json_int_t)time(NULL));
        return P->sig ? 0 : lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    }
    if (!(files = calloc(P->n, sizeof(*files))) || !(bufs = calloc(P->n, sizeof(*bufs)))) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < P->n; k++) {
        files[k].name = file_of(P, k)->path;
        if (!(files[k].path = bytes_at(P, k, bufs[k], sizeof(bufs[k])))) {
            lm_err_set(err, LM_EINTERNAL, P->label, LM_NO_OFFSET, "'%s' has no bytes to check",
                       files[k].name);
            goto out;
        }
    }
    struct lm_err e;
    lm_err_clear(&e);
    if (sig_verify(P, files, &res, &e) == 0) {
        P->r->sig = LM_PULL_SIG_VERIFIED;
        snprintf(P->r->sig_method, sizeof(P->r->sig_method), "%s",
                 lm_sig_method_name(res.method));
        snprintf(P->r->sig_signer, sizeof(P->r->sig_signer), "%s", res.signer);
        txt = lm_sig_result_json(&res, NULL);
    } else if (P->o->require_signature || e.code == LM_ENOMEM || e.code == LM_EIO) {
        *err = e;
        goto out;
    } else {
        P->r->sig = LM_PULL_SIG_FAILED;
        lm_err_str(&e, P->r->sig_why, sizeof(P->r->sig_why));
        txt = lm_sig_result_json(NULL, P->r->sig_why);
    }
    if (!txt || !(P->sig = json_loads(txt, 0, NULL))) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    json_object_set_new(P->sig, "method", json_string(lm_sig_method_name(P->o->sig->method)));
    json_object_set_new(P->sig, "checked_at", json_integer((json_int_t)time(NULL)));
    ret = 0;
out:
    free(txt);
    free(files);
    free(bufs);
    return ret;
}

static int on_verified(void *ctx, const struct fetch_item *items, size_t n, struct lm_err *err)
{
    struct pull *P = ctx;
    P->dl = items;
    P->dl_n = n;                    /* P->dl_which, set by download(), has n entries */
    int rc = sig_check(P, err);
    P->dl = NULL;
    P->dl_n = 0;
    return rc;
}

/* ---- downloading -------------------------------------------------------------------------- */

/* Files are asked for at the commit: a refusal names the repo (gated, not found) as the API
 * calls do. */
static void on_http_error(void *ctx, const struct http_req *r, struct lm_err *err)
{
    struct pull *P = ctx;
    hf_http_error(r, &P->env, P->ref.repo, P->commit, err);
}

static int download(struct pull *P, struct lm_pull_result *r, struct lm_err *err)
{
    size_t n = 0, j = 0;
    uint64_t kept = 0;
    int ret = -1;
    for (size_t k = 0; k < P->n; k++)
        n += P->plan[k].same_as == SIZE_MAX && P->pub[k].state == LM_PULL_QUEUED;
    if (n == 0)
        return 0;
    if (P->env.offline) {
        for (size_t k = 0; k < P->n; k++)
            if (P->pub[k].state == LM_PULL_QUEUED && P->plan[k].same_as == SIZE_MAX)
                return lm_err_set(err, LM_ENET, P->label, LM_NO_OFFSET,
                                  "offline (HF_HUB_OFFLINE is set) and '%s' is neither in the "
                                  "store nor in the Hugging Face cache", file_of(P, k)->path);
    }
    struct fetch_item *items = calloc(n, sizeof(*items));
    size_t *which = calloc(n, sizeof(*which));
    if (!items || !which) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < P->n; k++) {
        if (P->plan[k].same_as != SIZE_MAX || P->pub[k].state != LM_PULL_QUEUED)
            continue;
        struct fetch_item *it = &items[j];
        it->f = file_of(P, k);
        it->media_type = P->plan[k].kind.media_type;
        it->pub = &P->pub[k];
        snprintf(it->label, sizeof(it->label), "%s/%s", P->label, it->f->path);
        if (hf_resolve_url(&P->env, P->ref.repo, P->commit, it->f->path, it->url,
                           sizeof(it->url))) {
            lm_err_set(err, LM_EUSAGE, it->label, LM_NO_OFFSET, "the URL is too long");
            goto out;
        }
        which[j++] = k;
    }
    if (check_space(P, items, n, err))
        goto out;
    P->phase = LM_PULL_DOWNLOADING;
    report(P);
    struct fetch_opts fo = {
        .s = P->s, .http = &P->ho, .connections = P->o->connections ? P->o->connections : 8,
        .tick = tick, .ctx = P, .received = &P->received, .http_error = on_http_error,
        .verified = on_verified,
    };
    P->dl_which = which;
    P->dl_n = n;
    uint64_t received = 0;
    int rc = fetch_all(&fo, items, n, &kept, &received, err);
    r->bytes_received += received;
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            set_blob(P, which[i], items[i].blob.digest, items[i].blob.size, LM_PULL_STORED);
        r->n_downloaded = n;
        ret = 0;
    }
    r->bytes_kept = kept;
out:
    P->dl_which = NULL;
    P->dl_n = 0;
    free(items);
    free(which);
    return ret;
}

/* ---- the model ---------------------------------------------------------------------------- */

static char *extra_json(const struct pull *P)
{
    json_t *o = json_object();
    json_object_set_new(o, "endpoint", json_string(P->env.endpoint));
    json_object_set_new(o, "repo", json_string(P->ref.repo));
    json_object_set_new(o, "tag", P->ref.quant[0] ? json_string(P->ref.quant) : json_null());
    json_object_set_new(o, "gguf", json_boolean(P->gguf));
    if (P->sig)
        json_object_set(o, "signature", P->sig);
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return s;
}

static int add_model(struct pull *P, struct lm_pull_result *r, struct lm_err *err)
{
    struct lm_layer *layers = calloc(P->n, sizeof(*layers));
    struct lm_prov_file *pf = calloc(P->n, sizeof(*pf));
    char url[1400], manifest[1][65];
    char *extra = extra_json(P);
    int ret = -1;
    if (!layers || !pf || !extra) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t k = 0; k < P->n; k++) {
        const struct lm_hf_file *f = file_of(P, k);
        size_t src = P->plan[k].same_as == SIZE_MAX ? k : P->plan[k].same_as;
        layers[k] = (struct lm_layer){ f->path, P->plan[src].blob.digest, f->size,
                                       P->plan[k].kind.role, P->plan[k].kind.media_type };
        pf[k] = (struct lm_prov_file){ f->path, f->sha256[0] ? f->sha256 : f->oid,
                                       f->sha256[0] ? "sha256" : "git-sha1" };
        r->bytes += f->size;
    }
    snprintf(url, sizeof(url), "%s/%s", P->env.endpoint, P->ref.repo);
    struct lm_provenance prov = {
        .kind = "hf", .url = url, .revision = P->ref.revision[0] ? P->ref.revision : NULL,
        .commit = P->commit, .extra_json = extra, .files = pf, .n_files = P->n,
    };
    struct lm_model_spec spec = { .name = P->name, .layers = layers, .n_layers = P->n,
                                  .prov = &prov };
    if (lm_store_add_models(P->s, "pull", &spec, 1, manifest, err))
        goto out;
    snprintf(r->manifest, sizeof(r->manifest), "%s", manifest[0]);
    ret = 0;
out:
    free(layers);
    free(pf);
    free(extra);
    return ret;
}

static int set_name(struct pull *P, struct lm_pull_result *r, struct lm_err *err)
{
    struct lm_name nm;
    snprintf(P->label, sizeof(P->label), "hf.co/%s", P->ref.repo);
    snprintf(P->name, sizeof(P->name), "hf.co/%s:%s", P->ref.repo,
             P->ref.quant[0] ? P->ref.quant : "latest");
    if (lm_name_parse(P->name, &nm, err))
        return -1;
    lm_name_display(&nm, r->name, sizeof(r->name));
    return 0;
}

int lm_pull(struct lm_store *s, const struct lm_pull_opts *o, struct lm_pull_result *r,
            struct lm_err *err)
{
    struct pull P;
    size_t *idx = NULL, n_idx = 0;
    int ret = -1;
    memset(&P, 0, sizeof(P));
    memset(r, 0, sizeof(*r));
    P.s = s;
    P.o = o;
    P.r = r;
    P.sig_k = SIZE_MAX;
    if (lm_hf_ref_parse(o->ref, &P.ref, err) || set_name(&P, r, err))
        return -1;
    if (hf_env_load(&P.env, err))
        goto out;
    P.phase = LM_PULL_RESOLVING;
    report(&P);
    double t0 = lm_now();
    if (P.env.offline ? resolve_offline(&P, err) : resolve_online(&P, err))
        goto out;
    lm_debugf(1, "pull: commit %s and %zu listed files in %.2f s", P.commit, P.l.n, lm_now() - t0);
    snprintf(r->commit, sizeof(r->commit), "%s", P.commit);
    struct lm_hf_select sel = { P.ref.quant, o->include, o->n_include, o->exclude, o->n_exclude };
    if (!(idx = calloc(P.l.n ? P.l.n : 1, sizeof(*idx)))) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    if (lm_hf_select_files(&P.l, &sel, idx, &n_idx, &P.gguf, err)) {
        if (!err->path[0])
            snprintf(err->path, sizeof(err->path), "%s@%.12s", P.label, P.commit);
        goto out;
    }
    if (plan_files(&P, idx, n_idx, err) || sig_find(&P, err) || reuse(&P, r, err))
        goto out;
    r->n_files = n_idx;
    report(&P);
    lm_debugf(1, "pull: %zu files chosen, the store and the cache looked at: %.2f s", n_idx,
              lm_now() - t0);
    if (download(&P, r, err) || (!P.sig_done && sig_check(&P, err)))
        goto out;
    lm_debugf(1, "pull: downloaded and verified: %.2f s", lm_now() - t0);
    for (size_t k = 0; k < P.n; k++)          /* the same bytes under two paths */
        if (P.plan[k].same_as != SIZE_MAX)
            set_blob(&P, k, P.plan[P.plan[k].same_as].blob.digest, file_of(&P, k)->size,
                     P.pub[P.plan[k].same_as].state);
    P.phase = LM_PULL_WRITING;
    report(&P);
    if (add_model(&P, r, err))
        goto out;
    lm_debugf(1, "pull: model added: %.2f s", lm_now() - t0);
    P.phase = LM_PULL_DONE;
    report(&P);
    ret = 0;
out:
    if (P.h)
        r->bytes_received += http_received(P.h);
    http_free(P.h);
    hf_env_release(&P.env);
    lm_hf_listing_release(&P.l);
    free(P.plan);
    free(P.pub);
    free(idx);
    json_decref(P.sig);
    return ret;
}
