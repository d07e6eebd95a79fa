/* checkpoint.c: a Hugging Face checkpoint directory: config.json and its safetensors shards.
 *
 * With model.safetensors.index.json the weight map names the shards; they are opened in sorted
 * file-name order and must hold exactly the map's tensors, each in the shard the map says
 * (shared/specs/gguf.md §7). Without it, model.safetensors is the one shard. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "format.h"
#include "../common/banned.h"

#define HF_MAX_CONFIG ((size_t)16 << 20)
#define HF_MAX_INDEX ((size_t)64 << 20)
#define HF_MAX_SHARDS 4096      /* real checkpoints have a few hundred; each one is a map */
#define HF_INDEX "model.safetensors.index.json"
#define HF_SINGLE "model.safetensors"

struct hf_checkpoint {
    char *dir;
    json_t *config;
    const char *arch;              /* into config */
    size_t n_shards;
    struct safetensors **shards;
    char **shard_names;
    size_t n_tensors;
    struct hf_tensor *tensors;     /* shard order, then name */
    struct hf_tensor **by_name;    /* into tensors, sorted by name */
};

static int join(char *out, size_t n, const char *dir, const char *name, struct lm_err *err)
{
    int k = snprintf(out, n, "%s/%s", dir, name);
    if (k < 0 || (size_t)k >= n)
        return lm_err_set(err, LM_EUSAGE, dir, LM_NO_OFFSET, "path too long");
    return 0;
}

/* 1 if path is there, 0 if not, -1 (err set) if it cannot be told. */
static int exists(const char *path, struct lm_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    return lm_err_errno(err, path, "stat");
}

/* Read and parse a small JSON file; jansson's position is the byte offset. */
static json_t *load_json(const char *path, size_t max, struct lm_err *err)
{
    struct lm_buf b = LM_BUF_INIT(max);
    if (lm_read_file(path, max, &b, err))
        goto out;
    json_error_t je;
    json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        char *near = strstr(je.text, " near ");   /* drops the quoted input bytes */
        if (near)
            *near = 0;
        lm_err_set(err, LM_ECORRUPT, path, (uint64_t)je.position, "not valid JSON: %s", je.text);
        goto out;
    }
    lm_buf_release(&b);
    if (!json_is_object(j)) {
        json_decref(j);
        lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "not a JSON object");
        return NULL;
    }
    return j;
out:
    lm_buf_release(&b);
    return NULL;
}

static int read_config(struct hf_checkpoint *c, struct lm_err *err)
{
    char path[4096];
    if (join(path, sizeof(path), c->dir, "config.json", err))
        return -1;
    int e = exists(path, err);
    if (e <= 0)
        return e;
    c->config = load_json(path, HF_MAX_CONFIG, err);
    if (!c->config)
        return -1;
    c->arch = json_string_value(json_array_get(json_object_get(c->config, "architectures"), 0));
    return 0;
}

/* A shard must sit next to the index: a bare file name, never a path out of the directory. */
static bool plain_name(const char *s)
{
    if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '/' || *p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_shard(struct hf_checkpoint *c, const char *name, const char *index,
                     struct lm_err *err)
{
    char path[4096], q[LM_QUOTE_MAX + 16];
    if (join(path, sizeof(path), c->dir, name, err))
        return -1;
    int e = exists(path, err);
    if (e < 0)
        return -1;
    if (e == 0)
        return lm_err_set(err, LM_ENOTFOUND, index, LM_NO_OFFSET, "shard '%s' does not exist",
                          lm_quote(name, strlen(name), q, sizeof(q)));
    c->shard_names[c->n_shards] = strdup(name);
    if (!c->shard_names[c->n_shards])
        return lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
    c->shards[c->n_shards] = st_open(path, err);
    if (!c->shards[c->n_shards]) {
        free(c->shard_names[c->n_shards]);
        c->shard_names[c->n_shards] = NULL;
        return -1;
    }
    c->n_shards++;
    return 0;
}

/* The distinct shard names of the weight map, sorted. */
static int shard_list(json_t *wm, const char *index, char ***out, size_t *n_out,
                      struct lm_err *err)
{
    char q[LM_QUOTE_MAX + 16], q2[LM_QUOTE_MAX + 16];
    size_t n = 0;
    const char **v = calloc(json_object_size(wm) + 1, sizeof(*v));
    if (!v)
        return lm_err_set(err, LM_ENOMEM, index, LM_NO_OFFSET, "out of memory");
    const char *k;
    json_t *val;
    json_object_foreach(wm, k, val) {
        lm_quote(k, strlen(k), q, sizeof(q));
        if (!json_is_string(val)) {
            free(v);
            return lm_err_set(err, LM_ECORRUPT, index, LM_NO_OFFSET,
                              "weight map entry '%s' is not a string", q);
        }
        const char *s = json_string_value(val);
        if (strlen(s) != json_string_length(val) || !plain_name(s)) {
            free(v);
            return lm_err_set(err, LM_ECORRUPT, index, LM_NO_OFFSET,
                              "tensor '%s' maps to '%s', which is not a file name in the directory",
                              q, lm_quote(s, json_string_length(val), q2, sizeof(q2)));
        }
        v[n++] = s;
    }
    qsort(v, n, sizeof(*v), cmp_str);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || strcmp(v[u - 1], v[i]))
            v[u++] = v[i];
    if (u > HF_MAX_SHARDS) {
        free(v);
        return lm_err_set(err, LM_ECORRUPT, index, LM_NO_OFFSET, "%zu shards, over %d", u,
                          HF_MAX_SHARDS);
    }
    *out = (char **)v;
    *n_out = u;
    return 0;
}

/* Every shard tensor is in the map under its own shard, and every map key is in a shard. */
static int check_weight_map(struct hf_checkpoint *c, json_t *wm, const char *index,
                            struct lm_err *err)
{
    char q[LM_QUOTE_MAX + 16], q2[LM_QUOTE_MAX + 16], q3[LM_QUOTE_MAX + 16];
    size_t total = 0;
    for (size_t i = 0; i < c->n_shards; i++) {
        const char *sn = c->shard_names[i];
        for (size_t j = 0; j < st_n_tensors(c->shards[i]); j++) {
            const char *name = st_tensor_at(c->shards[i], j)->name;
            const char *want = json_string_value(json_object_get(wm, name));
            lm_quote(name, strlen(name), q, sizeof(q));
            lm_quote(sn, strlen(sn), q2, sizeof(q2));
            if (!want)
                return lm_err_set(err, LM_ECORRUPT, index, LM_NO_OFFSET,
                                  "tensor '%s' is in shard '%s' but not in the weight map", q, q2);
            if (strcmp(want, sn))
                return lm_err_set(err, LM_ECORRUPT, index, LM_NO_OFFSET,
                                  "tensor '%s' is in shard '%s' but the weight map says '%s'", q,
                                  q2, lm_quote(want, strlen(want), q3, sizeof(q3)));
        }
        total += st_n_tensors(c->shards[i]);
    }
    if (total == json_object_size(wm))
        return 0;
    /* Names are unique per shard and each sits in its mapped shard, so some key is uncovered. */
    const char *k;
    json_t *v;
    json_object_foreach(wm, k, v) {
        const char *sn = json_string_value(v);
        const char **hit = bsearch(&sn, c->shard_names, c->n_shards, sizeof(char *), cmp_str);
        if (!hit || !st_tensor_find(c->shards[(char **)hit - c->shard_names], k))
            return lm_err_set(err, LM_ECORRUPT, index, LM_NO_OFFSET,
                              "tensor '%s' is in the weight map but in no shard",
                              lm_quote(k, strlen(k), q, sizeof(q)));
    }
    return lm_err_set(err, LM_EINTERNAL, index, LM_NO_OFFSET, "weight map count mismatch");
}

static int open_sharded(struct hf_checkpoint *c, const char *index, struct lm_err *err)
{
    char **names = NULL;
    size_t n = 0;
    int ret = -1;
    json_t *root = load_json(index, HF_MAX_INDEX, err);
    if (!root)
        return -1;
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm)) {
        lm_err_set(err, LM_ECORRUPT, index, LM_NO_OFFSET, "weight_map is missing or not an object");
        goto out;
    }
    if (shard_list(wm, index, &names, &n, err))
        goto out;
    c->shards = calloc(n + 1, sizeof(*c->shards));
    c->shard_names = calloc(n + 1, sizeof(*c->shard_names));
    if (!c->shards || !c->shard_names) {
        lm_err_set(err, LM_ENOMEM, index, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (add_shard(c, names[i], index, err))
            goto out;
    ret = check_weight_map(c, wm, index, err);
out:
    free(names);   /* the strings live in root */
    json_decref(root);
    return ret;
}

static int open_single(struct hf_checkpoint *c, const char *path, struct lm_err *err)
{
    c->shards = calloc(1, sizeof(*c->shards));
    c->shard_names = calloc(1, sizeof(*c->shard_names));
    if (!c->shards || !c->shard_names)
        return lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
    return add_shard(c, HF_SINGLE, path, err);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const struct hf_tensor *x = *(const struct hf_tensor *const *)a;
    const struct hf_tensor *y = *(const struct hf_tensor *const *)b;
    return strcmp(x->t->name, y->t->name);
}

static int list_tensors(struct hf_checkpoint *c, struct lm_err *err)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_shards; i++)
        n += st_n_tensors(c->shards[i]);
    c->tensors = calloc(n + 1, sizeof(*c->tensors));
    c->by_name = calloc(n + 1, sizeof(*c->by_name));
    if (!c->tensors || !c->by_name)
        return lm_err_set(err, LM_ENOMEM, c->dir, LM_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < c->n_shards; i++)
        for (size_t j = 0; j < st_n_tensors(c->shards[i]); j++) {
            c->tensors[c->n_tensors] = (struct hf_tensor){ st_tensor_at(c->shards[i], j), i };
            c->by_name[c->n_tensors] = &c->tensors[c->n_tensors];
            c->n_tensors++;
        }
    qsort(c->by_name, c->n_tensors, sizeof(*c->by_name), cmp_tensor_name);
    return 0;
}

struct hf_checkpoint *hf_checkpoint_open(const char *dir, struct lm_err *err)
{
    char index[4096], single[4096];
    struct hf_checkpoint *c = calloc(1, sizeof(*c));
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        lm_err_set(err, LM_ENOMEM, dir, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    if (join(index, sizeof(index), dir, HF_INDEX, err) ||
        join(single, sizeof(single), dir, HF_SINGLE, err) || read_config(c, err))
        goto fail;
    int has_index = exists(index, err);
    int has_single = has_index ? 0 : exists(single, err);
    if (has_index < 0 || has_single < 0)
        goto fail;
    if (has_index ? open_sharded(c, index, err)
                  : has_single ? open_single(c, single, err)
                               : lm_err_set(err, LM_ENOTFOUND, dir, LM_NO_OFFSET,
                                            "no " HF_SINGLE " or " HF_INDEX))
        goto fail;
    if (list_tensors(c, err))
        goto fail;
    return c;
fail:
    hf_checkpoint_close(c);
    return NULL;
}

void hf_checkpoint_close(struct hf_checkpoint *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_shards; i++) {
        st_close(c->shards[i]);
        free(c->shard_names[i]);
    }
    free(c->shards);
    free(c->shard_names);
    free(c->tensors);
    free(c->by_name);
    json_decref(c->config);
    free(c->dir);
    free(c);
}

const char *hf_checkpoint_architecture(const struct hf_checkpoint *c)
{
    return c->arch;
}

const char *hf_checkpoint_dir(const struct hf_checkpoint *c)
{
    return c->dir;
}

size_t hf_checkpoint_n_shards(const struct hf_checkpoint *c)
{
    return c->n_shards;
}

const struct safetensors *hf_checkpoint_shard(const struct hf_checkpoint *c, size_t i)
{
    return i < c->n_shards ? c->shards[i] : NULL;
}

const char *hf_checkpoint_shard_name(const struct hf_checkpoint *c, size_t i)
{
    return i < c->n_shards ? c->shard_names[i] : NULL;
}

size_t hf_checkpoint_n_tensors(const struct hf_checkpoint *c)
{
    return c->n_tensors;
}

const struct hf_tensor *hf_checkpoint_tensor_at(const struct hf_checkpoint *c, size_t i)
{
    return i < c->n_tensors ? &c->tensors[i] : NULL;
}

const struct hf_tensor *hf_checkpoint_tensor_find(const struct hf_checkpoint *c, const char *name)
{
    size_t lo = 0, hi = c->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct hf_tensor *t = c->by_name[mid];
        int r = strcmp(name, t->t->name);
        if (r == 0)
            return t;
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

struct json_t *hf_checkpoint_config(const struct hf_checkpoint *c)
{
    return c->config;
}
