/* blobs.c: writing blobs: stream into tmp/ while hashing, fsync, check, rename into blobs/. */
#define _GNU_SOURCE   /* mkostemps */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "../common/banned.h"

/* Each write is a step LM_FAULT_AT can stop at; 256 KiB copies as fast as bigger chunks. */
#define COPY_CHUNK (256u << 10)

struct lm_blob_writer {
    struct lm_store *s;
    int fd;
    char tmp[STORE_PATH_MAX];
    char label[STORE_PATH_MAX];
    char media_type[64];
    struct lm_sha256 *h;
    uint64_t size, want_size, nul_at;
    bool direct;                   /* bytes went through the fd: hash them from disk */
};

bool lm_digest_valid(const char *hex)
{
    if (!hex || strlen(hex) != 64)
        return false;
    for (int i = 0; i < 64; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return false;
    return true;
}

int lm_blob_path(const struct lm_store *s, const char *hex, char *buf, size_t n)
{
    if (!lm_digest_valid(hex))
        return -1;
    int len = snprintf(buf, n, "%s/%s", s->blobs, hex);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

int store_fsync_dir(const char *dir, struct lm_err *err)
{
    store_fault_point();
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return lm_err_errno(err, dir, "open directory");
    int rc = fsync(fd);
    close(fd);
    if (rc < 0 && errno != EINVAL)
        return lm_err_errno(err, dir, "fsync directory");
    return 0;
}

int store_tmp_create(struct lm_store *s, const char *suffix, char *path, size_t n, struct lm_err *err)
{
    int len = snprintf(path, n, "%s/%ld-XXXXXX%s", s->tmp, (long)getpid(), suffix);
    if (len < 0 || (size_t)len >= n)
        return lm_err_set(err, LM_EUSAGE, s->tmp, LM_NO_OFFSET, "path too long");
    store_fault_point();
    int fd = mkostemps(path, (int)strlen(suffix), O_CLOEXEC);
    if (fd < 0)
        return lm_err_errno(err, s->tmp, "create a temporary file");
    lm_tmp_track(path);
    /* The lock says "a live writer owns this": gc and verify leave locked files alone. */
    flock(fd, LOCK_EX | LOCK_NB);
    return fd;
}

int store_hash_fd(int fd, const char *path, char hex[65], uint64_t *size, uint64_t *nul_at,
                  struct lm_err *err)
{
    int ret = -1;
    uint64_t off = 0;
    uint8_t *buf = malloc(COPY_CHUNK);
    struct lm_sha256 *h = lm_sha256_new();
    if (nul_at)
        *nul_at = UINT64_MAX;
    if (!buf || !h) {
        lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t r = pread(fd, buf, COPY_CHUNK, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            lm_err_errno(err, path, "read");
            goto out;
        }
        if (r == 0)
            break;
        if (nul_at && *nul_at == UINT64_MAX) {
            const uint8_t *z = memchr(buf, 0, (size_t)r);
            if (z)
                *nul_at = off + (uint64_t)(z - buf);
        }
        lm_sha256_update(h, buf, (size_t)r);
        off += (uint64_t)r;
    }
    uint8_t d[32];
    lm_sha256_final(h, d);
    lm_hex(d, 32, hex);
    *size = off;
    ret = 0;
out:
    lm_sha256_free(h);
    free(buf);
    return ret;
}

struct lm_blob_writer *lm_blob_begin(struct lm_store *s, const char *media_type, uint64_t want_size,
                                     const char *label, struct lm_err *err)
{
    if (!store_media_known(media_type)) {
        lm_err_set(err, LM_EUNSUPPORTED, label, LM_NO_OFFSET,
                   "refused: media type '%s' is not one the store takes",
                   media_type ? media_type : "");
        return NULL;
    }
    struct lm_blob_writer *w = calloc(1, sizeof(*w));
    if (!w || !(w->h = lm_sha256_new())) {
        free(w);
        lm_err_set(err, LM_ENOMEM, label, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    w->s = s;
    w->fd = -1;
    w->want_size = want_size;
    w->nul_at = UINT64_MAX;
    snprintf(w->label, sizeof(w->label), "%s", label ? label : "blob");
    snprintf(w->media_type, sizeof(w->media_type), "%s", media_type);
    /* Shared store lock: gc cannot remove what we write until our model is added. */
    if (store_lock(s, s->lock_mode == LOCK_EX ? LOCK_EX : LOCK_SH, err))
        goto fail;
    w->fd = store_tmp_create(s, ".part", w->tmp, sizeof(w->tmp), err);
    if (w->fd < 0)
        goto fail;
    return w;
fail:
    lm_blob_abort(w);
    return NULL;
}

int lm_blob_write(struct lm_blob_writer *w, const void *p, size_t n, struct lm_err *err)
{
    if (w->want_size != LM_SIZE_ANY && n > w->want_size - w->size)
        return lm_err_set(err, LM_ECORRUPT, w->label, w->size,
                          "more than the expected %llu bytes", (unsigned long long)w->want_size);
    if (w->nul_at == UINT64_MAX) {
        const uint8_t *z = memchr(p, 0, n);
        if (z)
            w->nul_at = w->size + (uint64_t)(z - (const uint8_t *)p);
    }
    store_fault_point();
    if (lm_write_all(w->fd, p, n, w->label, err))
        return -1;
    lm_sha256_update(w->h, p, n);
    w->size += n;
    return 0;
}

int lm_blob_fd(struct lm_blob_writer *w)
{
    w->direct = true;
    return w->fd;
}

int store_blob_place(struct lm_store *s, int fd, const char *tmp, const char *label,
                     const char *hex, uint64_t size, bool sync_dir, struct lm_blob *out,
                     struct lm_err *err)
{
    char dst[STORE_PATH_MAX];
    struct stat st;
    if (lm_blob_path(s, hex, dst, sizeof(dst)))
        return lm_err_set(err, LM_EINTERNAL, label, LM_NO_OFFSET, "bad digest");
    snprintf(out->digest, sizeof(out->digest), "%s", hex);
    out->size = size;
    /* Dedup: an existing blob is never rewritten. One of the wrong size is damaged, and the
     * verified bytes replace it (rename is atomic, so readers see old or new, never half). */
    if (stat(dst, &st) == 0 && (uint64_t)st.st_size == size) {
        out->existed = true;
        unlink(tmp);
        lm_tmp_untrack(tmp);
        return 0;
    }
    if (!out->linked)
        fchmod(fd, 0444);   /* blobs are never edited in place */
    store_fault_point();
    if (rename(tmp, dst) < 0)
        return lm_err_errno(err, dst, "rename");
    lm_tmp_untrack(tmp);
    return sync_dir ? store_fsync_dir(s->blobs, err) : 0;
}

/* The file at tmp (open as fd) is complete and fsynced: check it and move it into blobs/. */
static int finish(struct lm_store *s, int fd, const char *tmp, const char *mt, const char *label,
                  uint64_t want_size, const char *want_hex, const char *hex, uint64_t size,
                  uint64_t nul_at, struct lm_blob *out, struct lm_err *err)
{
    if (want_size != LM_SIZE_ANY && size != want_size)
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "got %llu bytes, expected %llu",
                          (unsigned long long)size, (unsigned long long)want_size);
    if (want_hex && strcmp(want_hex, hex) != 0)
        return lm_err_set(err, LM_EDIGEST, label, LM_NO_OFFSET,
                          "sha256 mismatch: expected %s, got %s", want_hex, hex);
    if (store_admit(mt, tmp, label, size, nul_at, err))
        return -1;
    return store_blob_place(s, fd, tmp, label, hex, size, true, out, err);
}

static void writer_free(struct lm_blob_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    lm_sha256_free(w->h);
    free(w);
}

void lm_blob_abort(struct lm_blob_writer *w)
{
    if (!w)
        return;
    if (w->tmp[0]) {
        unlink(w->tmp);
        lm_tmp_untrack(w->tmp);
    }
    writer_free(w);
}

int lm_blob_commit(struct lm_blob_writer *w, const char *want_hex, struct lm_blob *out,
                   struct lm_err *err)
{
    char hex[65];
    uint64_t size = w->size, nul_at = w->nul_at;
    memset(out, 0, sizeof(*out));
    store_fault_point();
    if (fsync(w->fd) < 0) {
        lm_err_errno(err, w->label, "fsync");
        goto fail;
    }
    if (w->direct) {
        if (store_hash_fd(w->fd, w->tmp, hex, &size, &nul_at, err))
            goto fail;
    } else {
        uint8_t d[32];
        lm_sha256_final(w->h, d);
        lm_hex(d, 32, hex);
    }
    if (finish(w->s, w->fd, w->tmp, w->media_type, w->label, w->want_size, want_hex, hex, size,
               nul_at, out, err))
        goto fail;
    w->tmp[0] = 0;   /* renamed or removed: nothing left to unlink */
    writer_free(w);
    return 0;
fail:
    lm_blob_abort(w);
    return -1;
}

/* Hard-link src into tmp/ (same inode: zero copy), hash that, and adopt it. 1 = cannot link
 * here (other filesystem, not permitted): the caller copies instead. */
static int add_linked(struct lm_store *s, const char *src, const char *mt, const char *want_hex,
                      struct lm_blob *out, struct lm_err *err)
{
    char tmp[STORE_PATH_MAX], hex[65];
    uint64_t size, nul_at;
    int ret = -1, fd = -1;
    /* link() cannot replace a file, so take a fresh name from mkostemps and free it. */
    int pfd = store_tmp_create(s, ".link", tmp, sizeof(tmp), err);
    if (pfd < 0)
        return -1;
    close(pfd);
    unlink(tmp);
    store_fault_point();
    if (link(src, tmp) < 0) {
        int e = errno;
        lm_tmp_untrack(tmp);
        if (e == EXDEV || e == EPERM || e == EMLINK || e == EACCES || e == ENOTSUP)
            return 1;
        errno = e;
        return lm_err_errno(err, src, "link");
    }
    fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lm_err_errno(err, tmp, "open");
        goto out;
    }
    flock(fd, LOCK_EX | LOCK_NB);
    store_fault_point();
    if (fsync(fd) < 0) {   /* the source's writer may never have fsynced it */
        lm_err_errno(err, src, "fsync");
        goto out;
    }
    if (store_hash_fd(fd, src, hex, &size, &nul_at, err))
        goto out;
    out->linked = true;
    if (finish(s, fd, tmp, mt, src, LM_SIZE_ANY, want_hex, hex, size, nul_at, out, err))
        goto out;
    if (out->existed)
        out->linked = false;
    tmp[0] = 0;
    ret = 0;
out:
    if (fd >= 0)
        close(fd);
    if (tmp[0]) {
        unlink(tmp);
        lm_tmp_untrack(tmp);
    }
    return ret;
}

int lm_blob_add_file(struct lm_store *s, const char *path, const char *media_type, unsigned flags,
                     const char *want_hex, struct lm_blob *out, struct lm_err *err)
{
    struct lm_blob_writer *w = NULL;
    uint8_t *buf = NULL;
    int ret = -1;
    memset(out, 0, sizeof(*out));
    if (flags & LM_BLOB_LINK) {
        if (store_lock(s, s->lock_mode == LOCK_EX ? LOCK_EX : LOCK_SH, err))
            return -1;
        int rc = add_linked(s, path, media_type, want_hex, out, err);
        if (rc == 0)
            store_progress(s, out->size);
        if (rc <= 0)
            return rc;
    }
    int src = open(path, O_RDONLY | O_CLOEXEC);
    if (src < 0)
        return lm_err_errno(err, path, "open");
    w = lm_blob_begin(s, media_type, LM_SIZE_ANY, path, err);
    if (!w)
        goto out;
    /* A reflink shares blocks copy-on-write: zero-copy where the filesystem can, and still a
     * private copy, so editing the source later cannot change the blob. */
    if (ioctl(w->fd, FICLONE, src) == 0) {
        lm_blob_fd(w);
    } else {
        buf = malloc(COPY_CHUNK);
        if (!buf) {
            lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
            goto out;
        }
        for (;;) {
            ssize_t r = read(src, buf, COPY_CHUNK);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                lm_err_errno(err, path, "read");
                goto out;
            }
            if (r == 0)
                break;
            if (lm_blob_write(w, buf, (size_t)r, err))
                goto out;
            store_progress(s, (uint64_t)r);
        }
    }
    ret = lm_blob_commit(w, want_hex, out, err);
    w = NULL;
    if (ret == 0 && !buf)
        store_progress(s, out->size);   /* reflinked: counted once it is hashed */
out:
    lm_blob_abort(w);
    free(buf);
    close(src);
    return ret;
}
