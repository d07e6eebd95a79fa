/* hf_list.c: reading a repository listing (the tree API, or a cache's trees/COMMIT.json) into
 * checked entries: safe relative paths, sizes, git blob ids and LFS sha256 digests. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "../common/banned.h"

#define MAX_FILES 200000
#define PATH_MAX_LEN 1024
#define SIZE_MAX_JSON (1ull << 53)      /* JSON numbers past this lose precision */

bool hf_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Relative, '/'-separated, no empty, '.' or '..' parts, no control bytes or backslashes: the
 * path becomes part of URLs and of the model's file names. */
static const char *path_problem(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > PATH_MAX_LEN)
        return "a path must have 1 to 1024 bytes";
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\')
            return "a path may not hold control bytes or '\\'";
    for (const char *s = p;;) {
        size_t len = strcspn(s, "/");
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return "a path may not have empty, '.' or '..' parts";
        if (!s[len])
            return NULL;
        s += len + 1;
    }
}

static int add_file(struct lm_hf_listing *l, const char *path, uint64_t size, const char *oid,
                    const char *sha256, const char *label, size_t at, struct lm_err *err)
{
    char q[LM_QUOTE_MAX + 8];
    const char *why = path_problem(path);
    if (why)
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "entry %zu '%s': %s", at,
                          lm_quote(path, strlen(path), q, sizeof(q)), why);
    if (l->n >= MAX_FILES)
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                          "the listing holds more than %d files", MAX_FILES);
    if (l->n % 256 == 0) {
        struct lm_hf_file *v = realloc(l->files, (l->n + 256) * sizeof(*v));
        if (!v)
            return lm_err_set(err, LM_ENOMEM, label, LM_NO_OFFSET, "out of memory");
        l->files = v;
    }
    struct lm_hf_file *f = &l->files[l->n];
    memset(f, 0, sizeof(*f));
    if (!(f->path = strdup(path)))
        return lm_err_set(err, LM_ENOMEM, label, LM_NO_OFFSET, "out of memory");
    f->size = size;
    snprintf(f->oid, sizeof(f->oid), "%s", oid);
    snprintf(f->sha256, sizeof(f->sha256), "%s", sha256 ? sha256 : "");
    l->n++;
    return 0;
}

static int get_size(json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > SIZE_MAX_JSON)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int bad_entry(struct lm_err *err, const char *label, size_t at, const char *path,
                     const char *why)
{
    char q[LM_QUOTE_MAX + 8];
    return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "entry %zu '%s': %s", at,
                      lm_quote(path, strlen(path), q, sizeof(q)), why);
}

/* One entry of the tree API. Files: path, size, oid and, for LFS, lfs.oid and lfs.size. */
static int tree_entry(json_t *e, size_t at, const char *label, struct lm_hf_listing *l,
                      struct lm_err *err)
{
    uint64_t size, lsize;
    if (!json_is_object(e))
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "entry %zu is not an object",
                          at);
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *path = json_string_value(json_object_get(e, "path"));
    if (!type || !path)
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                          "entry %zu lacks a \"type\" or \"path\" string", at);
    if (strcmp(type, "file") != 0)
        return 0;                                /* directories, and kinds we do not know */
    const char *oid = json_string_value(json_object_get(e, "oid"));
    if (get_size(json_object_get(e, "size"), &size))
        return bad_entry(err, label, at, path, "\"size\" is not a byte count");
    if (!hf_hex(oid, 40))
        return bad_entry(err, label, at, path, "\"oid\" is not 40 hex digits");
    json_t *lfs = json_object_get(e, "lfs");
    const char *sha = NULL;
    if (lfs && !json_is_null(lfs)) {
        sha = json_string_value(json_object_get(lfs, "oid"));
        if (!hf_hex(sha, 64))
            return bad_entry(err, label, at, path, "\"lfs.oid\" is not 64 hex digits");
        if (get_size(json_object_get(lfs, "size"), &lsize) || lsize != size)
            return bad_entry(err, label, at, path, "\"lfs.size\" differs from \"size\"");
    }
    return add_file(l, path, size, oid, sha, label, at, err);
}

int lm_hf_parse_tree(const char *json, size_t len, const char *label, struct lm_hf_listing *l,
                     struct lm_err *err)
{
    json_error_t je;
    json_t *a = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    int ret = 0;
    if (!a)
        return lm_err_set(err, LM_ECORRUPT, label, (uint64_t)je.position,
                          "the listing is not JSON: %s", je.text);
    if (!json_is_array(a)) {
        json_decref(a);
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "the listing is not an array");
    }
    for (size_t i = 0; i < json_array_size(a) && ret == 0; i++)
        ret = tree_entry(json_array_get(a, i), i, label, l, err);
    json_decref(a);
    return ret;
}

int lm_hf_parse_cached_tree(const char *json, size_t len, const char *label,
                            struct lm_hf_listing *l, struct lm_err *err)
{
    json_error_t je;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je), *v;
    const char *path;
    size_t at = 0;
    int ret = 0;
    if (!o)
        return lm_err_set(err, LM_ECORRUPT, label, (uint64_t)je.position,
                          "the cached listing is not JSON: %s", je.text);
    json_t *files = json_object_get(o, "files");
    if (json_integer_value(json_object_get(o, "format_version")) != 1 || !json_is_object(files)) {
        json_decref(o);
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                          "not a format_version 1 listing with a \"files\" object");
    }
    json_object_foreach(files, path, v) {
        uint64_t size, lsize;
        const char *oid = json_string_value(json_object_get(v, "blob_id"));
        const char *sha = json_string_value(json_object_get(v, "lfs_sha256"));
        if (get_size(json_object_get(v, "size"), &size))
            ret = bad_entry(err, label, at, path, "\"size\" is not a byte count");
        else if (!hf_hex(oid, 40))
            ret = bad_entry(err, label, at, path, "\"blob_id\" is not 40 hex digits");
        else if (sha && !hf_hex(sha, 64))
            ret = bad_entry(err, label, at, path, "\"lfs_sha256\" is not 64 hex digits");
        else if (sha && (get_size(json_object_get(v, "lfs_size"), &lsize) || lsize != size))
            ret = bad_entry(err, label, at, path, "\"lfs_size\" differs from \"size\"");
        else
            ret = add_file(l, path, size, oid, sha, label, at, err);
        if (ret)
            break;
        at++;
    }
    json_decref(o);
    return ret;
}

int hf_listing_add(struct lm_hf_listing *l, const char *path, uint64_t size, const char *oid,
                   const char *sha256, const char *label, struct lm_err *err)
{
    if (!hf_hex(oid, 40) || (sha256 && *sha256 && !hf_hex(sha256, 64)))
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "bad digest for '%s'", path);
    return add_file(l, path, size, oid, sha256, label, l->n, err);
}

void lm_hf_listing_release(struct lm_hf_listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->files[i].path);
    free(l->files);
    l->files = NULL;
    l->n = 0;
}
