/* partial.c: resumable ranged downloads: a blob's bytes arrive in chunks, possibly over several
 * runs, are hashed in order as they become contiguous, and enter blobs/ only when verified. */
#define _GNU_SOURCE   /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "internal.h"
#include "../common/banned.h"

/* The trailer after the data: magic, size, chunk size, chunk count, then each chunk's done
 * count, all little-endian u64. A write updates one done slot after its data, so a killed
 * process never claims bytes it did not write (the final hash catches anything worse). */
#define TRAILER_MAGIC "lmpart1"
#define TRAILER_HEAD 32
#define MAX_CHUNKS 65536u
#define HASH_BUF (1u << 20)
/* Start writeback of hashed data every so often, so the final fsync has little left to do. */
#define WRITEBACK_STEP (16u << 20)

struct lm_partial {
    struct lm_store *s;
    int fd;
    char path[STORE_PATH_MAX];
    char label[STORE_PATH_MAX];
    char media_type[64];
    uint64_t size, chunk_size, kept;
    size_t n_chunks;
    _Atomic uint64_t *done;          /* per chunk: bytes on disk from its start */
    _Atomic uint64_t hashed;         /* bytes hashed from offset 0 */
    uint64_t synced;                 /* writeback started up to here */
    struct lm_sha256 *sha256;
    EVP_MD_CTX *sha1;                /* git blob id, when asked for */
    uint64_t nul_at;
    bool text;                       /* scan for NUL bytes (admission of text files) */
    bool verified;
    uint8_t *buf;                    /* for pread when the file cannot be mapped */
    const uint8_t *map;              /* the data, mapped: hashed without a copy */
    char hex[65];
};

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool key_valid(const char *key)
{
    size_t n = key ? strlen(key) : 0;
    if (n != 40 && n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return false;
    return true;
}

static uint64_t chunk_start(const struct lm_partial *p, size_t i)
{
    return (uint64_t)i * p->chunk_size;
}

static uint64_t chunk_len(const struct lm_partial *p, size_t i)
{
    uint64_t start = chunk_start(p, i);
    return p->size - start < p->chunk_size ? p->size - start : p->chunk_size;
}

static uint64_t trailer_len(size_t n_chunks)
{
    return TRAILER_HEAD + 8 * (uint64_t)n_chunks;
}

static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = pwrite(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* The chunk size a previous run's trailer records for a blob of this size, or 0 if the file
 * holds no usable trailer (then it starts from nothing). */
static uint64_t kept_layout(int fd, uint64_t size, uint64_t file_len)
{
    uint8_t head[TRAILER_HEAD];
    if (file_len < size || file_len - size < TRAILER_HEAD ||
        pread_all(fd, head, sizeof(head), size) ||
        memcmp(head, TRAILER_MAGIC, 8) != 0 || get_le64(head + 8) != size)
        return 0;
    uint64_t cs = get_le64(head + 16), n = get_le64(head + 24);
    if (cs == 0 || n > MAX_CHUNKS || n != size / cs + (size % cs != 0) ||
        file_len - size != trailer_len((size_t)n))
        return 0;
    return cs;
}

/* Take over the done counts of a previous run (1), or of the complete, already-checked blob
 * whose trailer was cut just before a crash (file_len == size: 1); 0 = start from nothing. */
static int load_kept(struct lm_partial *p, uint64_t file_len)
{
    if (file_len == p->size) {
        for (size_t i = 0; i < p->n_chunks; i++)
            p->done[i] = chunk_len(p, i);
        return 1;
    }
    if (file_len != p->size + trailer_len(p->n_chunks))
        return 0;
    for (size_t i = 0; i < p->n_chunks; i++) {
        uint8_t v[8];
        if (pread_all(p->fd, v, 8, p->size + TRAILER_HEAD + 8 * (uint64_t)i))
            return 0;
        uint64_t d = get_le64(v);
        if (d > chunk_len(p, i))
            return 0;
        p->done[i] = d;
    }
    return 1;
}

static int fresh_trailer(struct lm_partial *p, struct lm_err *err)
{
    uint8_t head[TRAILER_HEAD] = TRAILER_MAGIC;
    for (size_t i = 0; i < p->n_chunks; i++)
        p->done[i] = 0;
    put_le64(head + 8, p->size);
    put_le64(head + 16, p->chunk_size);
    put_le64(head + 24, p->n_chunks);
    /* Truncating to 0 first drops old bytes; the new length leaves a sparse hole for the data
     * and zeroed done slots. */
    if (ftruncate(p->fd, 0) < 0 ||
        ftruncate(p->fd, (off_t)(p->size + trailer_len(p->n_chunks))) < 0)
        return lm_err_errno(err, p->path, "truncate");
    if (pwrite_all(p->fd, head, sizeof(head), p->size))
        return lm_err_errno(err, p->path, "write");
    return 0;
}

static void partial_free(struct lm_partial *p)
{
    if (p->map)
        munmap((void *)p->map, p->size);
    if (p->fd >= 0)
        close(p->fd);
    lm_sha256_free(p->sha256);
    EVP_MD_CTX_free(p->sha1);
    free(p->done);
    free(p->buf);
    free(p);
}

static void set_layout(struct lm_partial *p, uint64_t chunk_size)
{
    p->chunk_size = chunk_size;
    p->n_chunks = (size_t)(p->size / chunk_size + (p->size % chunk_size != 0));
}

struct lm_partial *lm_partial_open(struct lm_store *s, const char *key, const char *media_type,
                                   uint64_t size, uint64_t chunk_size, unsigned flags,
                                   const char *label, struct lm_err *err)
{
    struct lm_partial *p = NULL;
    struct stat st;
    if (!key_valid(key) || chunk_size == 0 || !store_media_known(media_type)) {
        lm_err_set(err, LM_EUSAGE, label, LM_NO_OFFSET, "bad partial download request");
        return NULL;
    }
    p = calloc(1, sizeof(*p));
    if (!p) {
        lm_err_set(err, LM_ENOMEM, label, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    p->fd = -1;
    p->s = s;
    p->size = size;
    p->nul_at = UINT64_MAX;
    p->text = strcmp(media_type, LM_MT_JSON) == 0 || strcmp(media_type, LM_MT_TEXT) == 0 ||
              strcmp(media_type, LM_MT_MARKDOWN) == 0;
    snprintf(p->label, sizeof(p->label), "%s", label ? label : key);
    snprintf(p->media_type, sizeof(p->media_type), "%s", media_type);
    if (!(p->sha256 = lm_sha256_new())) {
        lm_err_set(err, LM_ENOMEM, label, LM_NO_OFFSET, "out of memory");
        goto fail;
    }
    if (flags & LM_PARTIAL_GIT_SHA1) {
        char hdr[40];
        int n = snprintf(hdr, sizeof(hdr), "blob %llu", (unsigned long long)size);
        p->sha1 = EVP_MD_CTX_new();
        if (!p->sha1 || !EVP_DigestInit_ex(p->sha1, EVP_sha1(), NULL) ||
            !EVP_DigestUpdate(p->sha1, hdr, (size_t)n + 1)) {   /* the NUL is part of it */
            lm_err_set(err, LM_ENOMEM, label, LM_NO_OFFSET, "cannot start SHA-1");
            goto fail;
        }
    }
    if (store_pathf(p->path, sizeof(p->path), "%s/pull-%s.part", s->tmp, key)) {
        lm_err_set(err, LM_EUSAGE, s->tmp, LM_NO_OFFSET, "path too long");
        goto fail;
    }
    /* Shared store lock, as every blob writer holds: gc waits until our model is added. */
    if (store_lock(s, s->lock_mode == LOCK_EX ? LOCK_EX : LOCK_SH, err))
        goto fail;
    p->fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (p->fd < 0) {
        lm_err_errno(err, p->path, "open");
        goto fail;
    }
    /* The lock also tells gc and verify that a live writer owns the file. */
    if (flock(p->fd, LOCK_EX | LOCK_NB) < 0) {
        lm_err_set(err, LM_EEXIST, label, LM_NO_OFFSET,
                   "another lm is downloading this file into the store now");
        goto fail;
    }
    if (fstat(p->fd, &st) < 0) {
        lm_err_errno(err, p->path, "stat");
        goto fail;
    }
    /* A previous run's layout wins, so its chunks line up; else enough chunks to cover size,
     * at most MAX_CHUNKS. */
    uint64_t kept_cs = kept_layout(p->fd, size, (uint64_t)st.st_size);
    if (size / chunk_size >= MAX_CHUNKS)
        chunk_size = size / (MAX_CHUNKS - 1);
    set_layout(p, kept_cs ? kept_cs : chunk_size);
    if (!(p->done = calloc(p->n_chunks ? p->n_chunks : 1, sizeof(*p->done)))) {
        lm_err_set(err, LM_ENOMEM, label, LM_NO_OFFSET, "out of memory");
        goto fail;
    }
    if (load_kept(p, (uint64_t)st.st_size)) {
        for (size_t i = 0; i < p->n_chunks; i++)
            p->kept += p->done[i];
    } else if (fresh_trailer(p, err)) {
        goto fail;
    }
    return p;
fail:
    partial_free(p);
    return NULL;
}

uint64_t lm_partial_peek(struct lm_store *s, const char *key, uint64_t size)
{
    char path[STORE_PATH_MAX];
    struct stat st;
    uint64_t kept = 0;
    if (!key_valid(key) || store_pathf(path, sizeof(path), "%s/pull-%s.part", s->tmp, key))
        return 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) < 0) {
        close(fd);
        return 0;
    }
    uint64_t cs = kept_layout(fd, size, (uint64_t)st.st_size);
    if ((uint64_t)st.st_size == size) {
        kept = size;
    } else if (cs) {
        uint64_t n = size / cs + (size % cs != 0);
        for (uint64_t i = 0; i < n; i++) {
            uint8_t v[8];
            uint64_t len = size - i * cs < cs ? size - i * cs : cs;
            if (pread_all(fd, v, 8, size + TRAILER_HEAD + 8 * i))
                break;
            kept += get_le64(v) <= len ? get_le64(v) : 0;
        }
    }
    close(fd);
    return kept;
}

uint64_t lm_partial_kept(const struct lm_partial *p) { return p->kept; }
uint64_t lm_partial_hashed(const struct lm_partial *p) { return p->hashed; }
size_t lm_partial_chunks(const struct lm_partial *p) { return p->n_chunks; }

void lm_partial_chunk(const struct lm_partial *p, size_t i, uint64_t *start, uint64_t *end,
                      uint64_t *done)
{
    *start = chunk_start(p, i);
    *end = *start + chunk_len(p, i);
    *done = p->done[i];
}

int lm_partial_write(struct lm_partial *p, size_t i, const void *buf, size_t n,
                     struct lm_err *err)
{
    uint8_t v[8];
    uint64_t done = p->done[i];
    if (n > chunk_len(p, i) - done)
        return lm_err_set(err, LM_ECORRUPT, p->label, chunk_start(p, i) + done,
                          "more bytes than the range asked for");
    if (pwrite_all(p->fd, buf, n, chunk_start(p, i) + done))
        return lm_err_errno(err, p->path, "write");
    put_le64(v, done + n);
    if (pwrite_all(p->fd, v, 8, p->size + TRAILER_HEAD + 8 * (uint64_t)i))
        return lm_err_errno(err, p->path, "write");
    atomic_store_explicit(&p->done[i], done + n, memory_order_release);
    return 0;
}

int64_t lm_partial_hash(struct lm_partial *p, size_t max, struct lm_err *err)
{
    uint64_t pos = p->hashed;
    if (pos >= p->size)
        return 0;
    size_t k = (size_t)(pos / p->chunk_size);
    uint64_t ready = chunk_start(p, k) +
                     atomic_load_explicit(&p->done[k], memory_order_acquire) - pos;
    if (ready == 0)
        return 0;
    size_t n = ready < max ? (size_t)ready : max;
    const uint8_t *at;
    if (!p->map && !p->buf) {
        void *m = mmap(NULL, p->size, PROT_READ, MAP_SHARED, p->fd, 0);
        if (m != MAP_FAILED) {
            madvise(m, p->size, MADV_SEQUENTIAL);
            p->map = m;
        } else if (!(p->buf = malloc(HASH_BUF))) {
            return lm_err_set(err, LM_ENOMEM, p->label, LM_NO_OFFSET, "out of memory");
        }
    }
    if (p->map) {
        at = p->map + pos;
    } else {
        if (n > HASH_BUF)
            n = HASH_BUF;
        if (pread_all(p->fd, p->buf, n, pos))
            return lm_err_errno(err, p->path, "read");
        at = p->buf;
    }
    lm_sha256_update(p->sha256, at, n);
    if (p->sha1 && !EVP_DigestUpdate(p->sha1, at, n))
        return lm_err_set(err, LM_EINTERNAL, p->label, LM_NO_OFFSET, "SHA-1 failed");
    if (p->text && p->nul_at == UINT64_MAX) {
        const uint8_t *z = memchr(at, 0, n);
        if (z)
            p->nul_at = pos + (uint64_t)(z - at);
    }
    atomic_store(&p->hashed, pos + n);
    if (pos + n - p->synced >= WRITEBACK_STEP) {
        sync_file_range(p->fd, (off_t)p->synced, (off_t)(pos + n - p->synced),
                        SYNC_FILE_RANGE_WRITE);
        p->synced = pos + n;
    }
    return (int64_t)n;
}

int lm_partial_verify(struct lm_partial *p, const char *want_sha256, const char *want_git_sha1,
                      struct lm_err *err)
{
    uint8_t d[32], d1[20];
    unsigned n1 = 0;
    char hex1[41];
    if (p->hashed != p->size)
        return lm_err_set(err, LM_EINTERNAL, p->label, p->hashed, "verify before the last byte");
    lm_sha256_final(p->sha256, d);
    lm_hex(d, 32, p->hex);
    if (p->sha1) {
        if (!EVP_DigestFinal_ex(p->sha1, d1, &n1) || n1 != 20)
            return lm_err_set(err, LM_EINTERNAL, p->label, LM_NO_OFFSET, "SHA-1 failed");
        lm_hex(d1, 20, hex1);
        if (want_git_sha1 && strcmp(hex1, want_git_sha1) != 0)
            return lm_err_set(err, LM_EDIGEST, p->label, LM_NO_OFFSET,
                              "git blob id mismatch: expected %s, got %s", want_git_sha1, hex1);
    }
    if (want_sha256 && strcmp(p->hex, want_sha256) != 0)
        return lm_err_set(err, LM_EDIGEST, p->label, LM_NO_OFFSET,
                          "sha256 mismatch: expected %s, got %s", want_sha256, p->hex);
    /* Cut the trailer: the file is now exactly the blob, and a rerun knows it by its length. */
    if (ftruncate(p->fd, (off_t)p->size) < 0)
        return lm_err_errno(err, p->path, "truncate");
    store_fault_point();
    if (fsync(p->fd) < 0)
        return lm_err_errno(err, p->path, "fsync");
    if (store_admit(p->media_type, p->path, p->label, p->size, p->nul_at, err))
        return -1;
    p->verified = true;
    return 0;
}

const char *lm_partial_digest(const struct lm_partial *p)
{
    return p->verified ? p->hex : NULL;
}

const char *lm_partial_path(const struct lm_partial *p)
{
    return p->path;
}

int lm_partial_commit(struct lm_partial *p, struct lm_blob *out, struct lm_err *err)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if (!p->verified) {
        lm_partial_close(p);
        return lm_err_set(err, LM_EINTERNAL, NULL, LM_NO_OFFSET, "commit before verify");
    }
    /* verify ran admission: placing it is all that is left */
    rc = store_blob_place(p->s, p->fd, p->path, p->label, p->hex, p->size, false, out, err);
    if (rc)
        unlink(p->path);
    partial_free(p);
    return rc;
}

int lm_partial_sync(struct lm_store *s, struct lm_err *err)
{
    return store_fsync_dir(s->blobs, err);
}

void lm_partial_close(struct lm_partial *p)
{
    if (p)
        partial_free(p);
}

void lm_partial_discard(struct lm_partial *p)
{
    if (!p)
        return;
    unlink(p->path);
    partial_free(p);
}
