/* import.c: `lm import`: a Hugging Face checkpoint directory, a GGUF file, or a Hugging Face
 * cache snapshot becomes a model in the store, every file checked before any blob is written. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "../format/format.h"
#include "../common/banned.h"

#define IMPORT_FILES_MAX 4096
#define IMPORT_DEPTH_MAX 16

struct entry {
    char *rel;                     /* path inside the model */
    char *src;                     /* what to read: absolute, symlinks resolved */
    char *shown;                   /* the path as the user would name it, for errors */
    struct lm_file_kind kind;
    char etag[65];                 /* HF cache blob name: sha256 (64 hex) or git sha1 (40 hex) */
    struct lm_blob blob;
};

struct walk {
    char root[PATH_MAX];           /* realpath of the directory */
    const char *given;             /* as the user wrote it */
    char hf_repo[PATH_MAX];        /* snapshots: realpath of models--ORG--REPO, else "" */
    char hf_blobs[PATH_MAX];
    struct entry *v;
    size_t n, cap;
};

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && path[n] == '/';
}

static bool hex_of_len(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static char *join3(const char *a, const char *sep, const char *b)
{
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s%s%s", a, sep, b);
    return p;
}

static int add_entry(struct walk *w, const char *rel, const char *src, const char *shown,
                     struct lm_err *err)
{
    if (w->n == IMPORT_FILES_MAX)
        return lm_err_set(err, LM_EUNSUPPORTED, w->given, LM_NO_OFFSET,
                          "more than %d files: not a model directory", IMPORT_FILES_MAX);
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 32;
        struct entry *v = realloc(w->v, nc * sizeof(*v));
        if (!v)
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        w->v = v;
        w->cap = nc;
    }
    struct entry *e = &w->v[w->n];
    memset(e, 0, sizeof(*e));
    e->rel = strdup(rel);
    e->src = strdup(src);
    e->shown = strdup(shown);
    w->n++;
    if (!e->rel || !e->src || !e->shown)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    return lm_file_kind(shown, &e->kind, err);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read a directory's names, sorted, so the manifest does not depend on readdir order. */
static int list_dir(const char *dir, char ***names, size_t *n, struct lm_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    if (!d)
        return lm_err_errno(err, dir, "open directory");
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')   /* ., .., .git, .gitattributes, .cache: not model files */
            continue;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 32;
            char **v = realloc(*names, nc * sizeof(*v));
            if (!v)
                goto nomem;
            *names = v;
            cap = nc;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            goto nomem;
        (*n)++;
        if (*n > IMPORT_FILES_MAX)
            break;   /* add_entry says why */
    }
    closedir(d);
    qsort(*names, *n, sizeof(**names), cmp_str);
    return 0;
nomem:
    closedir(d);
    return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
}

static int walk_dir(struct walk *w, const char *rel, int depth, struct lm_err *err)
{
    char **names = NULL;
    size_t n = 0;
    int ret = -1;
    char *dir = rel[0] ? join3(w->root, "/", rel) : strdup(w->root);
    if (!dir)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    if (depth > IMPORT_DEPTH_MAX) {
        lm_err_set(err, LM_EUNSUPPORTED, dir, LM_NO_OFFSET, "directories nest too deep");
        goto out;
    }
    if (list_dir(dir, &names, &n, err))
        goto out;
    for (size_t i = 0; i < n; i++) {
        char *r = rel[0] ? join3(rel, "/", names[i]) : strdup(names[i]);
        char *path = join3(dir, "/", names[i]);
        char *shown = join3(w->given, "/", r ? r : "");
        char real[PATH_MAX];
        struct stat st;
        int rc = -1;
        if (!r || !path || !shown) {
            lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        } else if (w->hf_repo[0] && strstr(names[i], ".incomplete")) {
            rc = 0;   /* a download huggingface_hub has not finished */
        } else if (lstat(path, &st) < 0) {
            lm_err_errno(err, shown, "stat");
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk_dir(w, r, depth + 1, err);
        } else if (S_ISREG(st.st_mode)) {
            rc = add_entry(w, r, path, shown, err);
        } else if (!S_ISLNK(st.st_mode)) {
            lm_err_set(err, LM_EUNSUPPORTED, shown, LM_NO_OFFSET, "refused: not a regular file");
        } else if (!realpath(path, real)) {
            lm_err_errno(err, shown, "follow symlink");
        } else if (stat(real, &st) < 0 || !S_ISREG(st.st_mode)) {
            lm_err_set(err, LM_EUNSUPPORTED, shown, LM_NO_OFFSET,
                       "refused: a symlink to something other than a regular file");
        } else if (w->hf_repo[0] && under(real, w->hf_blobs)) {
            /* A snapshot entry: its target's name is the upstream digest. */
            rc = add_entry(w, r, real, shown, err);
            if (rc == 0)
                snprintf(w->v[w->n - 1].etag, sizeof(w->v[w->n - 1].etag), "%.64s",
                         strrchr(real, '/') + 1);
        } else if (under(real, w->root)) {
            rc = add_entry(w, r, real, shown, err);
        } else {
            lm_err_set(err, LM_EUNSUPPORTED, shown, LM_NO_OFFSET,
                       "refused: a symlink that points outside the import directory");
        }
        free(r);
        free(path);
        free(shown);
        if (rc)
            goto out;
    }
    ret = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(dir);
    return ret;
}

/* .../models--ORG--REPO/snapshots/COMMIT: fill hf_repo and hf_blobs. */
static void detect_snapshot(struct walk *w)
{
    char repo[PATH_MAX], blobs[PATH_MAX];
    const char *commit = strrchr(w->root, '/');
    if (!commit || commit == w->root)
        return;
    size_t plen = (size_t)(commit - w->root);
    if (plen < 10 || strncmp(commit - 10, "/snapshots", 10) != 0)
        return;
    snprintf(repo, sizeof(repo), "%.*s", (int)(plen - 10), w->root);
    const char *rbase = strrchr(repo, '/');
    if (!rbase || strncmp(rbase + 1, "models--", 8) != 0)
        return;
    if (store_pathf(blobs, sizeof(blobs), "%s/blobs", repo) || !realpath(blobs, w->hf_blobs))
        return;   /* no blobs/: a copy-mode cache; treat it as a plain directory */
    snprintf(w->hf_repo, sizeof(w->hf_repo), "%s", repo);
}

/* "models--ORG--REPO" -> "ORG/REPO" (no "--" ever appears in a repo id). */
static void hf_repo_id(const char *repo, char *out, size_t n)
{
    const char *base = strrchr(repo, '/') + 1 + strlen("models--");
    snprintf(out, n, "%s", base);
    char *dash = strstr(out, "--");
    if (dash) {
        *dash = '/';
        memmove(dash + 1, dash + 2, strlen(dash + 2) + 1);
    }
}

/* The ref (branch or tag) under refs/ that names this commit, if one does. */
static void hf_ref_of(const char *repo, const char *commit, char *out, size_t n)
{
    char refs[PATH_MAX];
    char **names = NULL;
    size_t k = 0;
    out[0] = 0;
    if (store_pathf(refs, sizeof(refs), "%s/refs", repo) || list_dir(refs, &names, &k, NULL))
        return;
    for (size_t i = 0; i < k; i++) {
        char path[PATH_MAX], buf[64] = "";
        int fd = store_pathf(path, sizeof(path), "%s/%s", refs, names[i]) ? -1
                 : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t r = read(fd, buf, sizeof(buf) - 1);
            buf[r > 0 ? r : 0] = 0;
            close(fd);
        }
        buf[strcspn(buf, "\r\n")] = 0;
        if (!out[0] && strcmp(buf, commit) == 0)
            snprintf(out, n, "%s", names[i]);
        free(names[i]);
    }
    free(names);
}

/* Git's blob id: sha1("blob <size>\0" + content), what the Hub calls a small file's etag. */
static int git_sha1(const char *path, char hex[41], struct lm_err *err)
{
    struct lm_map m;
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int dl = 0;
    char head[32];
    if (lm_map_open(&m, path, err))
        return -1;
    int hl = snprintf(head, sizeof(head), "blob %llu", (unsigned long long)m.len);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1 &&
             EVP_DigestUpdate(c, head, (size_t)hl + 1) == 1 &&
             (m.len == 0 || EVP_DigestUpdate(c, m.data, (size_t)m.len) == 1) &&
             EVP_DigestFinal_ex(c, d, &dl) == 1;
    EVP_MD_CTX_free(c);
    lm_map_close(&m);
    if (!ok || dl != 20)
        return lm_err_set(err, LM_EINTERNAL, path, LM_NO_OFFSET, "sha1 failed");
    lm_hex(d, 20, hex);
    return 0;
}

static int derive_name(const struct walk *w, const char *path, bool file, char *out, size_t n,
                       struct lm_err *err)
{
    char id[PATH_MAX];
    if (w->hf_repo[0]) {
        hf_repo_id(w->hf_repo, id, sizeof(id));
        if (!strchr(id, '/'))
            return lm_err_set(err, LM_EUSAGE, path, LM_NO_OFFSET,
                              "repo '%.200s' has no organisation: name it with --as NAME", id);
        if (store_pathf(out, n, "hf.co/%s", id))
            return lm_err_set(err, LM_EUSAGE, path, LM_NO_OFFSET,
                              "repo id too long: name it with --as NAME");
        return 0;
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (file && len > 5)
        len -= 5;   /* ".gguf" */
    snprintf(out, n, "%.*s", (int)len, base);
    struct lm_name nm;
    struct lm_err e;
    if (lm_name_parse(out, &nm, &e))
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "%s; name it with --as NAME", e.msg);
    return 0;
}

/* After a failure, unlink the blobs this import created that no model uses. Exclusive lock: a
 * concurrent import may have found one of them and be about to reference it. */
static void drop_new(struct lm_store *s, const struct walk *w)
{
    sqlite3_stmt *st;
    if (store_lock(s, LOCK_EX, NULL) ||
        sqlite3_prepare_v2(s->db, "SELECT 1 FROM blobs WHERE digest = ?", -1, &st, NULL)) {
        store_lock(s, 0, NULL);
        return;
    }
    for (size_t i = 0; i < w->n; i++) {
        const struct lm_blob *b = &w->v[i].blob;
        char path[STORE_PATH_MAX];
        if (!b->digest[0] || b->existed)
            continue;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, b->digest, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_DONE && lm_blob_path(s, b->digest, path, sizeof(path)) == 0)
            unlink(path);
    }
    sqlite3_finalize(st);
    store_lock(s, 0, NULL);
}

/* Everything the format readers can say about every file, before any byte is written. */
static int precheck(struct walk *w, bool has_st, struct lm_err *err)
{
    for (size_t i = 0; i < w->n; i++) {
        struct entry *e = &w->v[i];
        struct stat st;
        if (stat(e->src, &st) < 0)
            return lm_err_errno(err, e->shown, "stat");
        uint64_t nul_at = UINT64_MAX;
        const char *mt = e->kind.media_type;
        if (strcmp(mt, LM_MT_JSON) == 0 || strncmp(mt, "text/", 5) == 0) {
            struct lm_map m;
            if (lm_map_open(&m, e->src, err))
                return -1;
            const uint8_t *z = m.len ? memchr(m.data, 0, (size_t)m.len) : NULL;
            nul_at = z ? (uint64_t)(z - m.data) : UINT64_MAX;
            lm_map_close(&m);
        }
        /* The same checks run again on the copy in tmp/: the source may change meanwhile. */
        if (store_admit(mt, e->src, e->shown, (uint64_t)st.st_size, nul_at, err))
            return -1;
        if (e->etag[0] && !hex_of_len(e->etag, 64) && !hex_of_len(e->etag, 40))
            e->etag[0] = 0;   /* not a name huggingface_hub gives: nothing to check against */
    }
    if (has_st) {
        struct hf_checkpoint *c = hf_checkpoint_open(w->root, err);
        if (!c) {
            if (err && strncmp(err->path, w->root, strlen(w->root)) == 0) {
                char tail[sizeof(err->path)];
                snprintf(tail, sizeof(tail), "%s", err->path + strlen(w->root));
                snprintf(err->path, sizeof(err->path), "%s%s", w->given, tail);
            }
            return -1;
        }
        hf_checkpoint_close(c);
    }
    return 0;
}

static int write_blobs(struct lm_store *s, struct walk *w, struct lm_err *err)
{
    s->progress_done = s->progress_total = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct stat st;
        if (stat(w->v[i].src, &st) == 0)
            s->progress_total += (uint64_t)st.st_size;
    }
    for (size_t i = 0; i < w->n; i++) {
        struct entry *e = &w->v[i];
        const char *want = hex_of_len(e->etag, 64) ? e->etag : NULL;
        if (hex_of_len(e->etag, 40)) {
            char sha1[41];
            if (git_sha1(e->src, sha1, err))
                return -1;
            if (strcmp(sha1, e->etag) != 0)
                return lm_err_set(err, LM_EDIGEST, e->shown, LM_NO_OFFSET,
                                  "git blob id mismatch: expected %s, got %s", e->etag, sha1);
        }
        unsigned flags = w->hf_repo[0] ? LM_BLOB_LINK : 0;
        if (lm_blob_add_file(s, e->src, e->kind.media_type, flags, want, &e->blob, err)) {
            snprintf(err->path, sizeof(err->path), "%s", e->shown);
            return -1;
        }
    }
    return 0;
}

static int add_model(struct lm_store *s, struct walk *w, const char *name, const char *url,
                     bool file, struct lm_import_result *r, struct lm_err *err)
{
    struct lm_layer *layers = calloc(w->n, sizeof(*layers));
    struct lm_prov_file *files = calloc(w->n, sizeof(*files));
    char commit[PATH_MAX] = "", ref[256] = "", extra[PATH_MAX + 64] = "";
    int ret = -1;
    if (!layers || !files) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < w->n; i++) {
        const struct entry *e = &w->v[i];
        layers[i] = (struct lm_layer){ e->rel, e->blob.digest, e->blob.size, e->kind.role,
                                       e->kind.media_type };
        files[i].path = e->rel;
        files[i].upstream_digest = e->etag[0] ? e->etag : e->blob.digest;
        files[i].algorithm = strlen(files[i].upstream_digest) == 40 ? "git-sha1" : "sha256";
    }
    struct lm_provenance prov = { file ? "local-file" : "local-dir", url, NULL, NULL, NULL,
                                  files, w->n };
    if (w->hf_repo[0]) {
        snprintf(commit, sizeof(commit), "%s", strrchr(w->root, '/') + 1);
        hf_ref_of(w->hf_repo, commit, ref, sizeof(ref));
        prov.kind = "hf-cache";
        prov.revision = ref[0] ? ref : NULL;
        prov.commit = commit;
        /* Where the cache was, as a JSON string: escape what JSON needs escaped. */
        struct lm_buf b = LM_BUF_INIT(sizeof(extra));
        lm_buf_add(&b, "{\"cache\":\"", 10);
        for (const char *c = w->hf_repo; *c; c++) {
            if (*c == '"' || *c == '\\')
                lm_buf_add(&b, "\\", 1);
            if ((unsigned char)*c >= 0x20)
                lm_buf_add(&b, c, 1);
        }
        lm_buf_add(&b, "\"}", 2);
        snprintf(extra, sizeof(extra), "%s", b.data ? b.data : "{}");
        lm_buf_release(&b);
        prov.extra_json = extra;
    }
    struct lm_model_spec spec = { name, layers, w->n, &prov, NULL, 0 };
    char manifest[1][65];
    if (lm_store_add_models(s, "import", &spec, 1, manifest, err))
        goto out;
    struct lm_model *m;   /* the name as stored: an existing model keeps its spelling */
    if (lm_model_get(s, name, &m, err))
        goto out;
    snprintf(r->name, sizeof(r->name), "%s", m->display);
    lm_model_free(m);
    memcpy(r->manifest, manifest[0], 65);
    for (size_t i = 0; i < w->n; i++) {
        r->n_files++;
        r->bytes += w->v[i].blob.size;
        if (!w->v[i].blob.existed) {
            r->n_new++;
            if (!w->v[i].blob.linked)
                r->bytes_copied += w->v[i].blob.size;
        }
        r->n_linked += w->v[i].blob.linked;
    }
    ret = 0;
out:
    free(layers);
    free(files);
    return ret;
}

int lm_store_import(struct lm_store *s, const char *path, const char *name,
                    struct lm_import_result *r, struct lm_err *err)
{
    struct walk w = { .given = path };
    struct stat st;
    char derived[LM_NAME_MAX + 1], *url = NULL;
    bool file = false, has_st = false, has_weights = false;
    int ret = -1;
    memset(r, 0, sizeof(*r));
    if (!realpath(path, w.root) || stat(w.root, &st) < 0)
        return lm_err_errno(err, path, "open");
    if (S_ISREG(st.st_mode)) {
        const char *base = strrchr(w.root, '/') + 1;
        file = true;
        if (add_entry(&w, base, w.root, path, err))
            goto out;
        if (strcmp(w.v[0].kind.media_type, LM_MT_GGUF) != 0) {
            lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                       "refused: import a GGUF file, or a directory with a checkpoint");
            goto out;
        }
    } else if (S_ISDIR(st.st_mode)) {
        detect_snapshot(&w);
        if (walk_dir(&w, "", 0, err))
            goto out;
    } else {
        lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                   "refused: not a file or a directory");
        goto out;
    }
    for (size_t i = 0; i < w.n; i++) {
        const char *mt = w.v[i].kind.media_type;
        has_weights |= strcmp(mt, LM_MT_GGUF) == 0 || strcmp(mt, LM_MT_SAFETENSORS) == 0;
        has_st |= strcmp(mt, LM_MT_SAFETENSORS) == 0 && !strchr(w.v[i].rel, '/');
    }
    if (!has_weights) {
        lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                   "refused: no safetensors or GGUF weights here");
        goto out;
    }
    if (!name) {
        if (derive_name(&w, w.root, file, derived, sizeof(derived), err))
            goto out;
        name = derived;
    } else {
        struct lm_name nm;
        if (lm_name_parse(name, &nm, err))
            goto out;
    }
    if (precheck(&w, has_st, err))
        goto out;
    url = join3("file://", "", w.hf_repo[0] ? "" : w.root);
    if (w.hf_repo[0]) {
        char id[PATH_MAX];
        free(url);
        hf_repo_id(w.hf_repo, id, sizeof(id));
        url = join3("https://huggingface.co/", "", id);
    }
    if (!url) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    if (write_blobs(s, &w, err) || add_model(s, &w, name, url, file, r, err)) {
        drop_new(s, &w);
        goto out;
    }
    ret = 0;
out:
    for (size_t i = 0; i < w.n; i++) {
        free(w.v[i].rel);
        free(w.v[i].src);
        free(w.v[i].shown);
    }
    free(w.v);
    free(url);
    return ret;
}
