/* hf_select.c: which files of a listing a pull takes: a safetensors checkpoint with its configs
 * and tokenizer, or one GGUF quantization with all its split parts (shared/specs/hf-hub.md §7.2),
 * or what --include/--exclude globs say. */
#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "../common/banned.h"

#define LIST_MAX 600    /* bytes of candidate names in an error line */

/* Fallbacks when no tag is given and there is no Q4_K_M (the Hub's and llama.cpp's order). */
static const char *const fallback[] = {
    "Q4_K_M", "Q4_K_S", "Q5_K_M", "Q4_0", "Q5_K_S", "Q6_K", "Q8_0", "Q3_K_M", "IQ4_XS", "BF16",
    "F16", "F32",
};

static const char *base_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

static bool ends_ci(const char *s, size_t n, const char *suffix)
{
    size_t m = strlen(suffix);
    return n >= m && strncasecmp(s + n - m, suffix, m) == 0;
}

static bool starts_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- GGUF: logical files (a single file, or all parts of a split) ------------------------ */

struct gfile {
    size_t first;              /* listing index of the part with the lowest number */
    size_t n_parts, want_parts;
    size_t *parts;             /* listing indexes, by part number */
    char stem[300];            /* basename minus .gguf and the -NNNNN-of-NNNNN suffix */
    char key[1100];            /* directory + stem + part count: what makes parts one file */
    uint64_t size;
};

/* "-00001-of-00003.gguf" at the end of a basename: 0 and the numbers, else -1. */
static int split_suffix(const char *base, size_t n, unsigned *part, unsigned *of)
{
    static const size_t len = sizeof("-00001-of-00003.gguf") - 1;
    if (n < len + 1)
        return -1;
    const char *s = base + n - len;
    unsigned a = 0, b = 0;
    for (int i = 0; i < 5; i++) {
        if (s[1 + i] < '0' || s[1 + i] > '9' || s[10 + i] < '0' || s[10 + i] > '9')
            return -1;
        a = a * 10 + (unsigned)(s[1 + i] - '0');
        b = b * 10 + (unsigned)(s[10 + i] - '0');
    }
    if (s[0] != '-' || strncasecmp(s + 6, "-of-", 4) != 0 || a == 0 || a > b)
        return -1;
    *part = a;
    *of = b;
    return 0;
}

/* Model GGUFs only: projectors (mmproj), importance matrices and draft heads are not models. */
static bool model_gguf(const char *path)
{
    const char *b = base_of(path);
    size_t n = strlen(b);
    if (!ends_ci(b, n, ".gguf"))
        return false;
    for (const char *c = b; *c; c++)
        if (starts_ci(c, "mmproj") || starts_ci(c, "imatrix"))
            return false;
    return !starts_ci(b, "mtp-") && !starts_ci(b, "eagle3-");
}

static void gfiles_free(struct gfile *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(g[i].parts);
    free(g);
}

static int gfiles_build(const struct lm_hf_listing *l, struct gfile **out, size_t *n_out,
                        struct lm_err *err)
{
    struct gfile *g = calloc(l->n ? l->n : 1, sizeof(*g));
    size_t n = 0;
    if (!g)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < l->n; i++) {
        const char *path = l->files[i].path, *b = base_of(path);
        size_t blen = strlen(b);
        unsigned part = 1, of = 1;
        if (!model_gguf(path))
            continue;
        bool split = split_suffix(b, blen, &part, &of) == 0;
        size_t stem_len = blen - (split ? sizeof("-00001-of-00003.gguf") - 1 : 5);
        char key[sizeof(g->key)];
        snprintf(key, sizeof(key), "%.*s%.*s#%u", (int)(b - path), path, (int)stem_len, b, of);
        size_t k = 0;
        while (k < n && strcasecmp(g[k].key, key) != 0)
            k++;
        if (k == n) {
            snprintf(g[n].key, sizeof(g[n].key), "%s", key);
            snprintf(g[n].stem, sizeof(g[n].stem), "%.*s", (int)stem_len, b);
            g[n].want_parts = of;
            g[n].first = i;
            if (!(g[n].parts = calloc(of, sizeof(size_t)))) {
                gfiles_free(g, n);
                return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
            }
            for (unsigned p = 0; p < of; p++)
                g[n].parts[p] = SIZE_MAX;
            n++;
        }
        if (g[k].parts[part - 1] == SIZE_MAX) {
            g[k].parts[part - 1] = i;
            g[k].n_parts++;
            g[k].size += l->files[i].size;
            if (part == 1)
                g[k].first = i;
        }
    }
    *out = g;
    *n_out = n;
    return 0;
}

/* Does logical file g answer to tag t? Its stem ends with t after '-', '.' or '_', or one of
 * its directories is t; a tag ending in .gguf names a file (or a part) exactly. */
static bool gfile_matches(const struct lm_hf_listing *l, const struct gfile *g, const char *t)
{
    size_t tn = strlen(t), sn = strlen(g->stem);
    if (ends_ci(t, tn, ".gguf")) {
        for (size_t p = 0; p < g->want_parts; p++) {
            if (g->parts[p] == SIZE_MAX)
                continue;
            const char *path = l->files[g->parts[p]].path;
            if (strcasecmp(path, t) == 0 || strcasecmp(base_of(path), t) == 0)
                return true;
        }
        return false;
    }
    if (sn > tn && strncasecmp(g->stem + sn - tn, t, tn) == 0 &&
        strchr("-._", g->stem[sn - tn - 1]))
        return true;
    const char *path = l->files[g->first].path;
    for (const char *s = path; strchr(s, '/');) {
        size_t len = strcspn(s, "/");
        if (len == tn && strncasecmp(s, t, tn) == 0)
            return true;
        s += len + 1;
    }
    return false;
}

static void list_candidates(const struct lm_hf_listing *l, const struct gfile *g, size_t n,
                            const char *t, char *buf, size_t cap)
{
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        if (t && !gfile_matches(l, &g[i], t))
            continue;
        int w = snprintf(buf + k, cap - k, "%s%s", k ? ", " : "", base_of(l->files[g[i].first].path));
        if (w < 0 || (size_t)w >= cap - k) {
            snprintf(buf + (cap > 5 ? cap - 5 : 0), cap > 5 ? 5 : cap, "...");
            return;
        }
        k += (size_t)w;
    }
}

/* Pick one logical file for tag t (NULL or "latest": the default order). */
static int gguf_pick(const struct lm_hf_listing *l, const struct gfile *g, size_t n, const char *t,
                     size_t *pick, struct lm_err *err)
{
    char names[LIST_MAX], q[LM_QUOTE_MAX + 8];
    size_t found = SIZE_MAX, count = 0;
    if (n == 0)
        return lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET, "the repository has no GGUF model file");
    if (!t || !*t || strcasecmp(t, "latest") == 0) {
        for (size_t f = 0; f < sizeof(fallback) / sizeof(fallback[0]) && found == SIZE_MAX; f++)
            for (size_t i = 0; i < n && found == SIZE_MAX; i++)
                if (g[i].n_parts == g[i].want_parts && gfile_matches(l, &g[i], fallback[f]))
                    found = i;
        size_t best = SIZE_MAX;                                  /* else the smallest */
        for (size_t i = 0; i < n && found == SIZE_MAX; i++)
            if (g[i].n_parts == g[i].want_parts && (best == SIZE_MAX || g[i].size < g[best].size))
                best = i;
        if (found == SIZE_MAX)
            found = best;
        if (found == SIZE_MAX)
            return lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET,
                              "every GGUF in the repository is a split file with missing parts");
        *pick = found;
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (gfile_matches(l, &g[i], t)) {
            found = i;
            count++;
        }
    }
    lm_quote(t, strlen(t), q, sizeof(q));
    if (count == 0) {
        list_candidates(l, g, n, NULL, names, sizeof(names));
        return lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET,
                          "no GGUF file matches the tag '%s'; there are: %s", q, names);
    }
    if (count > 1) {
        list_candidates(l, g, n, t, names, sizeof(names));
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                          "the tag '%s' matches %zu GGUF files: %s; name one with :FILE.gguf", q,
                          count, names);
    }
    if (g[found].n_parts != g[found].want_parts)
        return lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET,
                          "the split GGUF '%s' has %zu of its %zu parts in the repository",
                          g[found].stem, g[found].n_parts, g[found].want_parts);
    *pick = found;
    return 0;
}

/* ---- the default file sets ---------------------------------------------------------------- */

/* Top-level metadata both kinds of repository take. */
static bool meta_file(const char *base)
{
    return starts_ci(base, "LICENSE") || strcasecmp(base, "README.md") == 0 ||
           strcasecmp(base, "model.sig") == 0;
}

static bool checkpoint_file(const char *base)
{
    size_t n = strlen(base);
    return ends_ci(base, n, ".safetensors") || ends_ci(base, n, ".json") ||
           strcasecmp(base, "tokenizer.model") == 0 || strcasecmp(base, "merges.txt") == 0 ||
           starts_ci(base, "vocab.") || meta_file(base);
}

/* Also something the store takes: a default never picks a file the store would refuse. */
static bool storable(const char *path)
{
    struct lm_file_kind k;
    return lm_file_kind(path, &k, NULL) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_unique(const struct lm_hf_listing *l, struct lm_err *err)
{
    char q[LM_QUOTE_MAX + 8];
    int ret = 0;
    char **v = malloc((l->n ? l->n : 1) * sizeof(*v));
    if (!v)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < l->n; i++)
        v[i] = l->files[i].path;
    qsort(v, l->n, sizeof(*v), cmp_str);
    for (size_t i = 1; i < l->n && ret == 0; i++)
        if (strcmp(v[i - 1], v[i]) == 0)
            ret = lm_err_set(err, LM_ECORRUPT, NULL, LM_NO_OFFSET,
                             "the listing names '%s' twice", lm_quote(v[i], strlen(v[i]), q, sizeof(q)));
    free(v);
    return ret;
}

static bool glob_any(const char *const *globs, size_t n, const char *path)
{
    for (size_t i = 0; i < n; i++) {
        char g[1100];
        size_t len = strlen(globs[i]);
        /* "dir/" means everything under dir, as the Hub client reads it. */
        snprintf(g, sizeof(g), "%s%s", globs[i], len && globs[i][len - 1] == '/' ? "*" : "");
        if (fnmatch(g, path, 0) == 0)
            return true;
    }
    return false;
}

enum { SKIP, TAKE, PLACED };

static int select_gguf(const struct lm_hf_listing *l, const char *quant, char *take,
                       size_t *order, size_t *n_order, struct lm_err *err)
{
    struct gfile *g = NULL;
    size_t n = 0, pick = 0;
    if (gfiles_build(l, &g, &n, err))
        return -1;
    int rc = gguf_pick(l, g, n, quant, &pick, err);
    if (rc == 0) {
        for (size_t p = 0; p < g[pick].want_parts; p++) {   /* parts first, in order */
            take[g[pick].parts[p]] = PLACED;
            order[(*n_order)++] = g[pick].parts[p];
        }
    }
    gfiles_free(g, n);
    return rc;
}

int lm_hf_select_files(const struct lm_hf_listing *l, const struct lm_hf_select *sel,
                       size_t *idx, size_t *n_idx, bool *gguf, struct lm_err *err)
{
    bool any_st = false, any_gguf = false, is_gguf = false;
    char *take = calloc(l->n ? l->n : 1, 1);
    size_t n = 0;
    int ret = -1;
    *n_idx = 0;
    if (!take)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    if (check_unique(l, err))
        goto out;
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->files[i].path;
        any_st = any_st || (!strchr(p, '/') && ends_ci(p, strlen(p), ".safetensors"));
        any_gguf = any_gguf || model_gguf(p);
    }
    bool tagged = sel->quant && *sel->quant && strcasecmp(sel->quant, "latest") != 0;
    if (tagged && !any_gguf && !sel->n_include) {
        char q[LM_QUOTE_MAX + 8];
        lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET,
                   "the repository has no GGUF file for the tag '%s'%s",
                   lm_quote(sel->quant, strlen(sel->quant), q, sizeof(q)),
                   any_st ? "; without a tag lm pulls its safetensors checkpoint" : "");
        goto out;
    }
    if (sel->n_include) {
        for (size_t i = 0; i < l->n; i++)
            if (glob_any(sel->include, sel->n_include, l->files[i].path))
                take[i] = TAKE;
    } else if (any_gguf && (tagged || !any_st)) {
        is_gguf = true;
        if (select_gguf(l, sel->quant, take, idx, &n, err))
            goto out;
    } else if (any_st) {
        for (size_t i = 0; i < l->n; i++)
            if (!strchr(l->files[i].path, '/') && checkpoint_file(l->files[i].path) &&
                storable(l->files[i].path))
                take[i] = TAKE;
    } else {
        lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET,
                   "the repository has no safetensors or GGUF weights at its top level; choose "
                   "files with --include");
        goto out;
    }
    if (is_gguf)
        for (size_t i = 0; i < l->n; i++)
            if (take[i] == SKIP && !strchr(l->files[i].path, '/') &&
                meta_file(l->files[i].path) && storable(l->files[i].path))
                take[i] = TAKE;
    for (size_t i = 0; i < l->n; i++)
        if (take[i] == TAKE)
            idx[n++] = i;
    size_t kept = 0;
    for (size_t k = 0; k < n; k++)
        if (!glob_any(sel->exclude, sel->n_exclude, l->files[idx[k]].path))
            idx[kept++] = idx[k];
    if (kept == 0) {
        lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET, "no file of the repository is chosen%s",
                   sel->n_include || sel->n_exclude ? " by --include/--exclude" : "");
        goto out;
    }
    *n_idx = kept;
    if (gguf)
        *gguf = is_gguf;
    ret = 0;
out:
    free(take);
    return ret;
}
