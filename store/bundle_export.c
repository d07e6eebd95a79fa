/* bundle_export.c: lm export: models to one pax tar stream (manifest, signature, blobs), zstd
 * compressed by libzstd's multi-threaded streaming API, each blob re-hashed as it is read. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <zstd.h>

#include "bundle_int.h"
#include "../common/banned.h"

struct sink {
    int fd;
    const char *label;
    ZSTD_CCtx *z;                  /* NULL: a plain tar */
    uint8_t *zbuf;
    size_t zcap;
    uint64_t written;
    struct lm_err err;
    bool failed;
};

static int sink_put(struct sink *k, const void *p, size_t n)
{
    if (lm_write_all(k->fd, p, n, k->label, &k->err))
        return -1;
    k->written += n;
    return 0;
}

/* Feed n bytes through zstd (or straight out); mode ZSTD_e_end finishes the frame. */
static int sink_feed(struct sink *k, const void *p, size_t n, ZSTD_EndDirective mode)
{
    if (!k->z)
        return sink_put(k, p, n);
    ZSTD_inBuffer in = { p, n, 0 };
    for (;;) {
        ZSTD_outBuffer out = { k->zbuf, k->zcap, 0 };
        size_t left = ZSTD_compressStream2(k->z, &out, &in, mode);
        if (ZSTD_isError(left))
            return lm_err_set(&k->err, LM_EINTERNAL, k->label, LM_NO_OFFSET, "zstd: %s",
                              ZSTD_getErrorName(left));
        if (out.pos && sink_put(k, k->zbuf, out.pos))
            return -1;
        if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
            return 0;
    }
}

static la_ssize_t on_write(struct archive *a, void *ctx, const void *buf, size_t n)
{
    struct sink *k = ctx;
    (void)a;
    if (k->failed || sink_feed(k, buf, n, ZSTD_e_continue)) {
        k->failed = true;
        return -1;
    }
    return (la_ssize_t)n;
}

static int on_close(struct archive *a, void *ctx)
{
    struct sink *k = ctx;
    (void)a;
    if (k->failed || sink_feed(k, "", 0, ZSTD_e_end)) {
        k->failed = true;
        return ARCHIVE_FATAL;
    }
    return ARCHIVE_OK;
}

static int sink_init(struct sink *k, int fd, const char *label, int level, unsigned threads,
                     struct lm_err *err)
{
    memset(k, 0, sizeof(*k));
    k->fd = fd;
    k->label = label;
    if (level == 0)
        return 0;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    k->zcap = ZSTD_CStreamOutSize();
    k->z = ZSTD_createCCtx();
    k->zbuf = malloc(k->zcap);
    if (!k->z || !k->zbuf)
        return lm_err_set(err, LM_ENOMEM, label, LM_NO_OFFSET, "out of memory");
    ZSTD_CCtx_setParameter(k->z, ZSTD_c_compressionLevel, level);
    ZSTD_CCtx_setParameter(k->z, ZSTD_c_checksumFlag, 1);
    /* Workers compress while this thread reads and hashes; a libzstd built without threads
     * refuses the parameter and compresses here instead. */
    ZSTD_CCtx_setParameter(k->z, ZSTD_c_nbWorkers, (int)threads);
    return 0;
}

static void sink_release(struct sink *k)
{
    ZSTD_freeCCtx(k->z);
    free(k->zbuf);
}

/* A failed archive call: the sink's error if it caused it, else libarchive's message. */
static int arch_fail(struct archive *a, struct sink *k, struct lm_err *err)
{
    if (k->failed && k->err.code) {
        *err = k->err;
        return -1;
    }
    return lm_err_set(err, LM_EIO, k->label, LM_NO_OFFSET, "%s",
                      archive_error_string(a) ? archive_error_string(a) : "tar writer failed");
}

static int put_entry(struct archive *a, struct sink *k, const char *name, uint64_t size,
                     int64_t mtime, struct lm_err *err)
{
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    archive_entry_set_pathname(e, name);
    archive_entry_set_size(e, (la_int64_t)size);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0444);
    archive_entry_set_mtime(e, (time_t)mtime, 0);
    int rc = archive_write_header(a, e);
    archive_entry_free(e);
    return rc == ARCHIVE_OK ? 0 : arch_fail(a, k, err);
}

static int put_bytes(struct archive *a, struct sink *k, const void *p, size_t n,
                     struct lm_err *err)
{
    if (n && archive_write_data(a, p, n) != (la_ssize_t)n)
        return arch_fail(a, k, err);
    return 0;
}

/* One blob, re-hashed while copied: a damaged store must not produce a bundle that only fails
 * on the other side of the air gap. */
static int put_blob(struct lm_store *s, struct archive *a, struct sink *k,
                    const struct bundle_blob *b, int64_t mtime, uint8_t *buf, struct lm_err *err)
{
    char path[STORE_PATH_MAX], name[96], hex[65];
    uint64_t got = 0;
    int ret = -1, fd = -1;
    struct lm_sha256 *h = lm_sha256_new();
    if (!h)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    snprintf(name, sizeof(name), BUNDLE_BLOB_PREFIX "%s", b->digest);
    if (lm_blob_path(s, b->digest, path, sizeof(path)))
        goto out;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lm_err_errno(err, path, "open");
        goto out;
    }
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if (put_entry(a, k, name, b->size, mtime, err))
        goto out;
    for (;;) {
        ssize_t r = read(fd, buf, BUNDLE_CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            lm_err_errno(err, path, "read");
            goto out;
        }
        if (r == 0)
            break;
        if ((uint64_t)r > b->size - got) {
            lm_err_set(err, LM_ECORRUPT, path, got, "blob is longer than the %llu bytes the index "
                       "says; run lm verify", (unsigned long long)b->size);
            goto out;
        }
        lm_sha256_update(h, buf, (size_t)r);
        if (put_bytes(a, k, buf, (size_t)r, err))
            goto out;
        got += (uint64_t)r;
        store_progress(s, (uint64_t)r);
    }
    if (got != b->size) {
        lm_err_set(err, LM_ECORRUPT, path, got, "blob has %llu bytes, the index says %llu; run "
                   "lm verify", (unsigned long long)got, (unsigned long long)b->size);
        goto out;
    }
    uint8_t d[32];
    lm_sha256_final(h, d);
    lm_hex(d, 32, hex);
    if (strcmp(hex, b->digest) != 0) {
        lm_err_set(err, LM_EDIGEST, path, LM_NO_OFFSET, "the bytes hash to %s; run lm verify", hex);
        goto out;
    }
    ret = 0;
out:
    if (fd >= 0)
        close(fd);
    lm_sha256_free(h);
    return ret;
}

void lm_bundle_result_release(struct lm_bundle_result *r)
{
    for (size_t i = 0; r->names && i < r->n_models; i++)
        free(r->names[i]);
    free(r->names);
    r->names = NULL;
}

static int result_names(struct lm_bundle_result *r, struct lm_model *const *models, size_t n)
{
    r->names = calloc(n ? n : 1, sizeof(*r->names));
    if (!r->names)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!(r->names[i] = strdup(models[i]->display)))
            return -1;
        r->n_models++;
    }
    return 0;
}

static int write_bundle(struct lm_store *s, struct archive *a, struct sink *k, const char *text,
                        const unsigned char *sig, size_t sig_len, const struct bundle_blob *blobs,
                        size_t n_blobs, int64_t now, struct lm_err *err)
{
    int ret = -1;
    uint8_t *buf = malloc(BUNDLE_CHUNK);
    if (!buf)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    if (put_entry(a, k, BUNDLE_MANIFEST_NAME, strlen(text), now, err) ||
        put_bytes(a, k, text, strlen(text), err))
        goto out;
    if (sig_len && (put_entry(a, k, BUNDLE_SIG_NAME, sig_len, now, err) ||
                    put_bytes(a, k, sig, sig_len, err)))
        goto out;
    for (size_t i = 0; i < n_blobs; i++)
        if (put_blob(s, a, k, &blobs[i], now, buf, err))
            goto out;
    if (archive_write_close(a) != ARCHIVE_OK) {
        arch_fail(a, k, err);
        goto out;
    }
    ret = 0;
out:
    free(buf);
    return ret;
}

int lm_bundle_export(struct lm_store *s, const struct lm_bundle_export_opts *o, int fd,
                     const char *label, struct lm_bundle_result *r, struct lm_err *err)
{
    struct lm_model **models = calloc(o->n_names ? o->n_names : 1, sizeof(*models));
    struct bundle_blob *blobs = NULL;
    size_t n_blobs = 0, n = 0;
    char *text = NULL;
    unsigned char sig[BUNDLE_SIG_MAX];
    size_t sig_len = 0;
    struct archive *a = NULL;
    struct sink k;
    int ret = -1;
    int64_t now = store_now();
    memset(r, 0, sizeof(*r));
    memset(&k, 0, sizeof(k));
    if (!models)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    if (o->n_names == 0 || o->n_names > BUNDLE_MODELS_MAX) {
        lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "a bundle holds 1 to %d models",
                   BUNDLE_MODELS_MAX);
        goto out;
    }
    for (size_t i = 0; i < o->n_names; i++) {
        struct lm_model *m;
        bool again = false;
        if (lm_model_get(s, o->names[i], &m, err))
            goto out;
        for (size_t j = 0; j < n && !again; j++)
            again = strcasecmp(models[j]->name, m->name) == 0;   /* "demo demo:latest" */
        if (again)
            lm_model_free(m);
        else
            models[n++] = m;
    }
    if (!(text = bundle_manifest_build(models, n, now, &blobs, &n_blobs, err)))
        goto out;
    if (o->sign_key) {
        sig_len = sizeof(sig);
        if (bundle_sign(o->sign_key, text, strlen(text), sig, &sig_len, r->fingerprint, err))
            goto out;
    }
    s->progress_done = s->progress_total = 0;
    for (size_t i = 0; i < n_blobs; i++)
        s->progress_total += blobs[i].size;
    if (sink_init(&k, fd, label, o->level, o->threads, err))
        goto out;
    a = archive_write_new();
    if (!a || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
        archive_write_open2(a, &k, NULL, on_write, on_close, NULL) != ARCHIVE_OK) {
        lm_err_set(err, LM_EINTERNAL, label, LM_NO_OFFSET, "cannot start the tar writer");
        goto out;
    }
    if (write_bundle(s, a, &k, text, sig, sig_len, blobs, n_blobs, now, err))
        goto out;
    if (result_names(r, models, n)) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    r->n_blobs = n_blobs;
    r->bytes = s->progress_total;
    r->bytes_written = k.written;
    ret = 0;
out:
    if (a)
        archive_write_free(a);
    sink_release(&k);
    free(text);
    free(blobs);
    for (size_t i = 0; i < n; i++)
        lm_model_free(models[i]);
    free(models);
    return ret;
}
