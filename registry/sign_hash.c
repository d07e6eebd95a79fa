/* sign_hash.c: walking a model and hashing it into OMS resources (spec model-signing.md §5). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "sign_internal.h"
#include "../common/banned.h"

#define SIG_DEPTH_MAX 64            /* directory nesting we follow */
#define SIG_READ_CHUNK (1u << 20)

/* ---- resources --------------------------------------------------------------------------- */

int sig_res_add(struct sig_res_list *l, const char *name, const char *algo, const uint8_t *d,
                size_t dlen, struct lm_err *err)
{
    if (l->n >= SIG_FILES_MAX)
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "more than %d files or shards", SIG_FILES_MAX);
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct sig_res *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    struct sig_res *r = &l->v[l->n];
    memset(r, 0, sizeof(*r));
    r->name = strdup(name);
    if (!r->name)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    snprintf(r->algo, sizeof(r->algo), "%s", algo);
    if (dlen > SIG_DIGEST_MAX)
        dlen = SIG_DIGEST_MAX;
    memcpy(r->digest, d, dlen);
    r->dlen = dlen;
    l->n++;
    return 0;
}

void sig_res_list_release(struct sig_res_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

/* ---- ignore set -------------------------------------------------------------------------- */

/* Drop "./" prefixes, doubled and trailing slashes: "./a//b/" -> "a/b". */
static void normalize(char *s)
{
    char *w = s;
    const char *r = s;
    while (r[0] == '.' && r[1] == '/')
        r += 2;
    for (; *r; r++) {
        if (*r == '/' && (w == s || w[-1] == '/'))
            continue;
        if (*r == '/' && r[1] == '.' && r[2] == '/') {   /* "/./" */
            r++;
            continue;
        }
        *w++ = *r;
    }
    while (w > s && w[-1] == '/')
        w--;
    *w = '\0';
}

int sig_ignore_add(struct sig_ignore *ig, const char *rel, struct lm_err *err)
{
    char *c = strdup(rel);
    char **v = realloc(ig->v, (ig->n + 1) * sizeof(*v));
    if (!c || !v) {
        free(c);
        if (v)
            ig->v = v;
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    }
    normalize(c);
    ig->v = v;
    ig->v[ig->n++] = c;
    return 0;
}

bool sig_ignored(const struct sig_ignore *ig, const char *rel)
{
    for (size_t i = 0; i < ig->n; i++) {
        size_t k = strlen(ig->v[i]);
        if (k == 0)
            continue;
        if (strncmp(rel, ig->v[i], k) == 0 && (rel[k] == '\0' || rel[k] == '/'))
            return true;
    }
    return false;
}

void sig_ignore_release(struct sig_ignore *ig)
{
    for (size_t i = 0; i < ig->n; i++)
        free(ig->v[i]);
    free(ig->v);
    memset(ig, 0, sizeof(*ig));
}

/* rel gets p's path below dir when p lies inside it (resolved; p itself need not exist). */
bool sig_rel_inside(const char *dir, const char *p, char *rel, size_t n)
{
    char rd[PATH_MAX], rp[PATH_MAX], parent[PATH_MAX];
    if (!realpath(dir, rd))
        return false;
    if (!realpath(p, rp)) {
        const char *slash = strrchr(p, '/');
        snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - p) : 1, slash ? p : ".");
        if (!realpath(parent[0] ? parent : "/", rp) ||
            strlen(rp) + strlen(slash ? slash : p) + 2 > sizeof(rp))
            return false;
        size_t k = strlen(rp);
        snprintf(rp + k, sizeof(rp) - k, "/%s", slash ? slash + 1 : p);
    }
    size_t k = strlen(rd);
    if (strncmp(rp, rd, k) != 0 || rp[k] != '/')
        return false;
    snprintf(rel, n, "%s", rp + k + 1);
    return true;
}

int sig_ignore_user(struct sig_ignore *ig, const char *model, const char *p, struct lm_err *err)
{
    char m[PATH_MAX], q[PATH_MAX], rel[PATH_MAX];
    snprintf(m, sizeof(m), "%s", model);
    snprintf(q, sizeof(q), "%s", p);
    normalize(m);
    normalize(q);
    size_t k = strlen(m);
    /* Upstream's tests pass "MODEL/ignore-me": a path as seen from where lm runs. */
    if (k && strncmp(q, m, k) == 0 && q[k] == '/')
        return sig_ignore_add(ig, q + k + 1, err);
    if (sig_rel_inside(model, p, rel, sizeof(rel)))
        return sig_ignore_add(ig, rel, err);
    return sig_ignore_add(ig, q, err);
}

/* ---- walking ----------------------------------------------------------------------------- */

static int files_add(struct sig_files *f, const char *name, const char *path, struct lm_err *err)
{
    if (f->n >= SIG_FILES_MAX)
        return lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET, "more than %d files",
                          SIG_FILES_MAX);
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        struct lm_sig_file *v = realloc(f->v, cap * sizeof(*v));
        if (!v)
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        f->v = v;
        f->cap = cap;
    }
    char *a = strdup(name), *b = strdup(path);
    if (!a || !b) {
        free(a);
        free(b);
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    }
    f->v[f->n].name = a;
    f->v[f->n].path = b;
    f->n++;
    return 0;
}

void sig_files_release(struct sig_files *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free((char *)f->v[i].name);
        free((char *)f->v[i].path);
    }
    free(f->v);
    memset(f, 0, sizeof(*f));
}

/* Upstream's order: compare by path components, so "a/b" < "a-c" (strcmp puts '-' first). */
static int path_cmp(const char *a, const char *b)
{
    for (;;) {
        size_t la = strcspn(a, "/"), lb = strcspn(b, "/");
        size_t m = la < lb ? la : lb;
        int c = memcmp(a, b, m);
        if (c)
            return c;
        if (la != lb)
            return la < lb ? -1 : 1;
        if (!a[la] || !b[lb])
            return a[la] ? 1 : b[lb] ? -1 : 0;
        a += la + 1;
        b += lb + 1;
    }
}

static int file_cmp(const void *x, const void *y)
{
    return path_cmp(((const struct lm_sig_file *)x)->name, ((const struct lm_sig_file *)y)->name);
}

void sig_files_sort(struct lm_sig_file *v, size_t n)
{
    qsort(v, n, sizeof(*v), file_cmp);
}

static int walk(const char *dir, const char *rel, int depth, const struct sig_ignore *ig,
                bool links, struct sig_files *out, struct lm_err *err)
{
    if (depth > SIG_DEPTH_MAX)
        return lm_err_set(err, LM_EUNSUPPORTED, dir, LM_NO_OFFSET,
                          "directories nest deeper than %d", SIG_DEPTH_MAX);
    DIR *d = opendir(dir);
    if (!d)
        return lm_err_errno(err, dir, "cannot open directory");
    int ret = -1;
    struct dirent *e;
    char path[PATH_MAX], name[PATH_MAX];
    errno = 0;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= sizeof(path) ||
            (size_t)snprintf(name, sizeof(name), "%s%s%s", rel, *rel ? "/" : "", e->d_name) >=
                sizeof(name)) {
            lm_err_set(err, LM_EUNSUPPORTED, dir, LM_NO_OFFSET, "path too long");
            goto out;
        }
        if (sig_ignored(ig, name))
            continue;
        struct stat st;
        if (lstat(path, &st) != 0) {
            lm_err_errno(err, path, "cannot stat");
            goto out;
        }
        if (S_ISLNK(st.st_mode)) {
            if (!links) {
                lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                           "is a symbolic link and the signature does not allow them");
                goto out;
            }
            if (stat(path, &st) != 0) {
                lm_err_errno(err, path, "cannot follow symbolic link");
                goto out;
            }
            /* Upstream lists a linked directory but never descends into it. */
            if (S_ISDIR(st.st_mode))
                continue;
        } else if (S_ISDIR(st.st_mode)) {
            if (walk(path, name, depth + 1, ig, links, out, err))
                goto out;
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                       "is neither a regular file nor a directory");
            goto out;
        }
        if (files_add(out, name, path, err))
            goto out;
    }
    if (errno) {
        lm_err_errno(err, dir, "cannot read directory");
        goto out;
    }
    ret = 0;
out:
    closedir(d);
    return ret;
}

int sig_walk(const char *model, const struct sig_ignore *ig, bool allow_symlinks,
             struct sig_files *out, struct lm_err *err)
{
    struct stat st;
    if (lstat(model, &st) != 0)
        return lm_err_errno(err, model, "cannot stat model");
    if (S_ISLNK(st.st_mode)) {
        if (!allow_symlinks)
            return lm_err_set(err, LM_EUNSUPPORTED, model, LM_NO_OFFSET,
                              "is a symbolic link and the signature does not allow them");
        if (stat(model, &st) != 0)
            return lm_err_errno(err, model, "cannot follow symbolic link");
    }
    if (S_ISREG(st.st_mode))
        return files_add(out, ".", model, err);    /* a one-file model is named "." */
    if (!S_ISDIR(st.st_mode))
        return lm_err_set(err, LM_EUNSUPPORTED, model, LM_NO_OFFSET,
                          "is neither a regular file nor a directory");
    if (walk(model, "", 0, ig, allow_symlinks, out, err))
        return -1;
    sig_files_sort(out->v, out->n);
    return 0;
}

/* ---- hashing ----------------------------------------------------------------------------- */

static const EVP_MD *ser_md(const struct sig_ser *s)
{
    if (strcmp(s->hash, "sha256") == 0)
        return EVP_sha256();
    if (strcmp(s->hash, "blake2b") == 0 || strcmp(s->hash, "blake2") == 0)
        return EVP_blake2b512();
    return NULL;
}

/* Hash [start, end) of fd; buf is SIG_READ_CHUNK bytes. */
static int hash_range(int fd, const char *path, const EVP_MD *md, uint64_t start, uint64_t end,
                      uint8_t *buf, uint8_t *out, size_t *olen, struct lm_err *err)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ret = -1;
    if (!c || EVP_DigestInit_ex(c, md, NULL) != 1) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "cannot start a digest");
        goto out;
    }
    for (uint64_t off = start; off < end;) {
        size_t want = end - off < SIG_READ_CHUNK ? (size_t)(end - off) : SIG_READ_CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            lm_err_errno(err, path, "cannot read");
            goto out;
        }
        if (got == 0) {
            lm_err_set(err, LM_EIO, path, off, "file shrank while hashing");
            goto out;
        }
        EVP_DigestUpdate(c, buf, (size_t)got);
        off += (uint64_t)got;
    }
    unsigned int n = 0;
    EVP_DigestFinal_ex(c, out, &n);
    *olen = n;
    ret = 0;
out:
    EVP_MD_CTX_free(c);
    return ret;
}

static int hash_one(const struct lm_sig_file *f, const struct sig_ser *ser, const EVP_MD *md,
                    uint8_t *buf, struct sig_res_list *out, struct lm_err *err)
{
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lm_err_errno(err, f->path, "cannot open");
    int ret = -1;
    struct stat st;
    uint8_t d[EVP_MAX_MD_SIZE];
    size_t dl;
    char name[PATH_MAX + 48], algo[64];
    if (fstat(fd, &st) != 0) {
        lm_err_errno(err, f->path, "cannot stat");
        goto out;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (!ser->shards) {
        if (hash_range(fd, f->path, md, 0, size, buf, d, &dl, err) ||
            sig_res_add(out, f->name, ser->hash, d, dl, err))
            goto out;
    } else {
        snprintf(algo, sizeof(algo), "%s-sharded-%" PRIu64, ser->hash, ser->shard_size);
        for (uint64_t s = 0; s < size;) {
            uint64_t e = size - s > ser->shard_size ? s + ser->shard_size : size;
            snprintf(name, sizeof(name), "%s:%" PRIu64 ":%" PRIu64, f->name, s, e);
            if (hash_range(fd, f->path, md, s, e, buf, d, &dl, err) ||
                sig_res_add(out, name, algo, d, dl, err))
                goto out;
            s = e;
        }
    }
    ret = 0;
out:
    close(fd);
    return ret;
}

int sig_hash_files(const struct lm_sig_file *files, size_t n, const struct sig_ser *ser,
                   struct sig_res_list *out, struct lm_err *err)
{
    const EVP_MD *md = ser_md(ser);
    if (!md)
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "hash type '%s' is not supported (sha256, blake2b)", ser->hash);
    if (ser->shards && ser->shard_size == 0)
        return lm_err_set(err, LM_ECORRUPT, NULL, LM_NO_OFFSET, "shard size is 0");
    uint8_t *buf = malloc(SIG_READ_CHUNK);
    if (!buf)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++)
        ret = hash_one(&files[i], ser, md, buf, out, err);
    free(buf);
    return ret;
}

/* ---- encodings --------------------------------------------------------------------------- */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int sig_b64_decode(const char *s, size_t len, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (len % 4)
        return -1;
    uint8_t *o = malloc(len / 4 * 3 + 1);
    if (!o)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)s[i + j];
            if (c == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            v[j] = pad ? -1 : b64val(c);   /* nothing but '=' after the first '=' */
            if (v[j] < 0) {
                free(o);
                return -1;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                     (uint32_t)v[3];
        o[k++] = (uint8_t)(w >> 16);
        if (pad < 2)
            o[k++] = (uint8_t)(w >> 8);
        if (pad < 1)
            o[k++] = (uint8_t)w;
    }
    *out = o;
    *n = k;
    return 0;
}

char *sig_b64_encode(const uint8_t *p, size_t n)
{
    size_t m = 4 * ((n + 2) / 3) + 1;
    char *o = malloc(m);
    if (o)
        EVP_EncodeBlock((unsigned char *)o, p, (int)n);
    return o;
}

int sig_hex_decode(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = s[2 * i + j];
            int x = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
            if (x < 0)
                return -1;
            v = v * 16 + x;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}
