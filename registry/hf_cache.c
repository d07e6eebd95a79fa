/* hf_cache.c: reading the local Hugging Face cache (shared/specs/hf-hub.md §6): refs, cached
 * listings, and blobs a pull can take instead of downloading them (verified first). */
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "internal.h"
#include "../common/banned.h"

#define REF_MAX 128
#define TREE_JSON_MAX (64u << 20)

/* $HF_HUB_CACHE/models--ORG--REPO/ + sub */
static int repo_path(const struct hf_env *e, const char *repo, const char *sub, char *buf,
                     size_t n)
{
    char name[2 * LM_HF_REPO_MAX + 16];
    size_t k = 0;
    for (const char *c = repo; *c && k + 3 < sizeof(name); c++) {
        if (*c == '/') {
            name[k++] = '-';
            name[k++] = '-';
        } else {
            name[k++] = *c;
        }
    }
    name[k] = 0;
    int len = snprintf(buf, n, "%s/models--%s/%s", e->cache, name, sub);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

int hf_cache_ref(const struct hf_env *e, const char *repo, const char *rev, char commit[41])
{
    char sub[LM_HF_REV_MAX + 8], path[2048];
    struct lm_buf b = LM_BUF_INIT(REF_MAX);
    struct lm_err ignore;
    int ret = -1;
    snprintf(sub, sizeof(sub), "refs/%s", rev && *rev ? rev : "main");
    if (repo_path(e, repo, sub, path, sizeof(path)) ||
        lm_read_file(path, REF_MAX, &b, &ignore))
        goto out;
    size_t n = b.len;
    while (n > 0 && (b.data[n - 1] == '\n' || b.data[n - 1] == '\r'))
        n--;
    if (n == 40) {
        memcpy(commit, b.data, 40);
        commit[40] = 0;
        ret = hf_is_commit(commit) ? 0 : -1;
    }
out:
    lm_buf_release(&b);
    return ret;
}

int hf_cache_tree(const struct hf_env *e, const char *repo, const char *commit,
                  struct lm_hf_listing *l, struct lm_err *err)
{
    char sub[64], path[2048];
    struct stat st;
    struct lm_buf b = LM_BUF_INIT(TREE_JSON_MAX);
    snprintf(sub, sizeof(sub), "trees/%s.json", commit);
    if (repo_path(e, repo, sub, path, sizeof(path)) || stat(path, &st) < 0)
        return 1;
    if (lm_read_file(path, TREE_JSON_MAX, &b, err))
        return -1;
    int rc = lm_hf_parse_cached_tree(b.data ? b.data : "", b.len, path, l, err);
    lm_buf_release(&b);
    return rc;
}

/* sha256 and git blob id of a file: 0, or -1 if it cannot be read. */
static int hash_file(const char *path, char sha256[65], char git[41])
{
    struct lm_map m;
    struct lm_err ignore;
    uint8_t d[32], d1[20];
    unsigned n1 = 0;
    char hdr[40];
    if (lm_map_open(&m, path, &ignore))
        return -1;
    int hn = snprintf(hdr, sizeof(hdr), "blob %llu", (unsigned long long)m.len);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) &&
             EVP_DigestUpdate(c, hdr, (size_t)hn + 1) &&
             (m.len == 0 || EVP_DigestUpdate(c, m.data, m.len)) && EVP_DigestFinal_ex(c, d1, &n1);
    EVP_MD_CTX_free(c);
    lm_sha256_buf(m.data ? m.data : (const uint8_t *)"", m.len, d);
    lm_map_close(&m);
    if (!ok || n1 != 20)
        return -1;
    lm_hex(d, 32, sha256);
    lm_hex(d1, 20, git);
    return 0;
}

int hf_cache_take(const struct hf_env *e, struct lm_store *s, const char *repo,
                  const char *commit, const struct lm_hf_file *f, const char *media_type,
                  struct lm_blob *out, struct lm_err *err)
{
    char sub[1200], path[2048], sha[65], git[41];
    struct stat st;
    bool lfs = f->sha256[0] != 0;
    snprintf(sub, sizeof(sub), "blobs/%s", lfs ? f->sha256 : f->oid);
    /* A snapshot entry is a link into blobs/, or a copy where links are off. */
    if (repo_path(e, repo, sub, path, sizeof(path)) || stat(path, &st) < 0) {
        snprintf(sub, sizeof(sub), "snapshots/%s/%s", commit, f->path);
        if (repo_path(e, repo, sub, path, sizeof(path)) || stat(path, &st) < 0)
            return 1;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != f->size)
        return 1;
    /* Re-hash before trusting: for LFS the store checks the sha256 as it takes the bytes; a
     * git blob id is checked here, and the store then gets the sha256 that went with it. */
    if (!lfs && (hash_file(path, sha, git) || strcmp(git, f->oid) != 0))
        return 1;
    struct lm_err e2;
    if (lm_blob_add_file(s, path, media_type, LM_BLOB_LINK, lfs ? f->sha256 : sha, out, &e2)) {
        if (e2.code == LM_EDIGEST || e2.code == LM_EIO)
            return 1;               /* changed under us, or unreadable: download instead */
        *err = e2;
        return -1;
    }
    return 0;
}
