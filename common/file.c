/* file.c: mapping, reading and crash-safe writing of files. */
#define _GNU_SOURCE   /* mkostemp */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "banned.h"

int lm_map_open(struct lm_map *m, const char *path, struct lm_err *err)
{
    struct stat st;
    m->data = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lm_err_errno(err, path, "open");
    if (fstat(fd, &st) < 0) {
        lm_err_errno(err, path, "stat");
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lm_err_set(err, LM_EIO, path, LM_NO_OFFSET, "not a regular file");
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            lm_err_errno(err, path, "mmap");
            close(fd);
            return -1;
        }
        m->data = p;
        m->len = (uint64_t)st.st_size;
    }
    close(fd);
    return 0;
}

void lm_map_advise_huge(const struct lm_map *m)
{
    if (!m->data || m->len == 0)
        return;
#ifdef MADV_HUGEPAGE
    (void)madvise((void *)m->data, (size_t)m->len, MADV_HUGEPAGE);
#endif
    /* Read the whole file in now, in order: the kernel then caches it in large folios, which it
     * maps 2 MiB at a time. Left to the first forward pass, the pages come in the order the
     * tensors are first touched and land in small folios (and an asynchronous read-ahead
     * races those touches). Pages already cached keep the folios they have. Only for a file
     * that fits in memory twice over; a larger one is paged as the passes go. */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    bool fits = pages > 0 && page > 0 && m->len < (uint64_t)pages / 2 * (uint64_t)page;
#ifdef MADV_POPULATE_READ
    if (fits && madvise((void *)m->data, (size_t)m->len, MADV_POPULATE_READ) == 0)
        return;
#endif
    if (fits)
        (void)madvise((void *)m->data, (size_t)m->len, MADV_WILLNEED);
}

void lm_map_close(struct lm_map *m)
{
    if (m->data)
        munmap((void *)m->data, (size_t)m->len);
    m->data = NULL;
    m->len = 0;
}

int lm_read_file(const char *path, size_t max, struct lm_buf *out, struct lm_err *err)
{
    char chunk[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lm_err_errno(err, path, "open");
    out->max = max;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            lm_err_errno(err, path, "read");
            close(fd);
            return -1;
        }
        if (n == 0)
            break;
        if (lm_buf_add(out, chunk, (size_t)n)) {
            close(fd);
            return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "file is larger than %zu bytes",
                              max);
        }
    }
    close(fd);
    if (!out->data && lm_buf_add(out, "", 0))
        return lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
    return 0;
}

static void write_fault_point(void);

int lm_write_all(int fd, const void *p, size_t n, const char *path, struct lm_err *err)
{
    write_fault_point();
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return lm_err_errno(err, path, "write");
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

int lm_fsync_dir(const char *path, struct lm_err *err)
{
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", path);
    const char *dir = dirname(copy);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return lm_err_errno(err, dir, "open directory");
    int rc = fsync(fd);
    close(fd);
    if (rc < 0 && errno != EINVAL)   /* some filesystems cannot fsync directories */
        return lm_err_errno(err, dir, "fsync directory");
    return 0;
}

int lm_mkdirs(const char *dir, struct lm_err *err)
{
    char p[1024];
    int n = snprintf(p, sizeof(p), "%s", dir);
    if (n < 0 || (size_t)n >= sizeof(p))
        return lm_err_set(err, LM_EUSAGE, dir, LM_NO_OFFSET, "path too long");
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0755) < 0 && errno != EEXIST)
            return lm_err_errno(err, p, "mkdir");
        *s = '/';
    }
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return lm_err_errno(err, p, "mkdir");
    return 0;
}

/* ---- temp files removed when a signal ends lm -------------------------------------------- */

#define TRACK_SLOTS 32
#define TRACK_PATH 1024
static struct {
    volatile sig_atomic_t used;
    char path[TRACK_PATH];
} tracked[TRACK_SLOTS];

void lm_tmp_track(const char *path)
{
    for (int i = 0; i < TRACK_SLOTS; i++) {
        if (!tracked[i].used) {
            snprintf(tracked[i].path, sizeof(tracked[i].path), "%s", path);
            tracked[i].used = 1;
            return;
        }
    }
    /* More writers than slots: a store temp file is left for `lm gc`, another one stays. */
}

void lm_tmp_untrack(const char *path)
{
    for (int i = 0; i < TRACK_SLOTS; i++) {
        if (tracked[i].used && strcmp(tracked[i].path, path) == 0) {
            tracked[i].used = 0;
            return;
        }
    }
}

static void on_signal(int sig)
{
    for (int i = 0; i < TRACK_SLOTS; i++)
        if (tracked[i].used)
            unlink(tracked[i].path);
    signal(sig, SIG_DFL);
    raise(sig);
}

void lm_cleanup_on_signal(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

void lm_fault_point(struct lm_fault *f)
{
    if (f->at < 0) {
        uint64_t v;
        const char *e = getenv(f->env);
        f->at = e && lm_parse_u64(e, 1, 1000000000, &v) == 0 ? (long)v : 0;
    }
    if (f->at > 0 && ++f->count == f->at)
        raise(f->sig);
}

/* LM_FAULT_SIGINT_AT=N: SIGINT at the Nth lm_write_all, so tests can interrupt an output file
 * halfway (a person pressing Ctrl-C) and check that nothing stays. */
static void write_fault_point(void)
{
    static struct lm_fault f = { "LM_FAULT_SIGINT_AT", SIGINT, -1, 0 };
    lm_fault_point(&f);
}

/* ---- atomic files ------------------------------------------------------------------------ */

int lm_afile_open(struct lm_afile *f, const char *dst, struct lm_err *err)
{
    f->fd = -1;
    int n = snprintf(f->dst, sizeof(f->dst), "%s", dst);
    if (n < 0 || (size_t)n >= sizeof(f->dst))
        return lm_err_set(err, LM_EUSAGE, dst, LM_NO_OFFSET, "path too long");
    char copy[1024];
    snprintf(copy, sizeof(copy), "%s", dst);
    char *base = basename(copy);
    char dcopy[1024];
    snprintf(dcopy, sizeof(dcopy), "%s", dst);
    const char *dir = dirname(dcopy);
    n = snprintf(f->tmp, sizeof(f->tmp), "%s/.%.200s.tmp-XXXXXX", dir, base);
    if (n < 0 || (size_t)n >= sizeof(f->tmp))
        return lm_err_set(err, LM_EUSAGE, dst, LM_NO_OFFSET, "path too long");
    f->fd = mkostemp(f->tmp, O_CLOEXEC);
    if (f->fd < 0)
        return lm_err_errno(err, dst, "create temporary file");
    lm_tmp_track(f->tmp);
    return 0;
}

int lm_afile_write(struct lm_afile *f, const void *p, size_t n, struct lm_err *err)
{
    return lm_write_all(f->fd, p, n, f->dst, err);
}

int lm_afile_commit(struct lm_afile *f, struct lm_err *err)
{
    if (fchmod(f->fd, 0644) < 0 || fsync(f->fd) < 0) {
        lm_err_errno(err, f->dst, "fsync");
        lm_afile_abort(f);
        return -1;
    }
    if (close(f->fd) < 0) {
        f->fd = -1;
        lm_err_errno(err, f->dst, "close");
        lm_afile_abort(f);
        return -1;
    }
    f->fd = -1;
    if (rename(f->tmp, f->dst) < 0) {
        lm_err_errno(err, f->dst, "rename");
        lm_afile_abort(f);
        return -1;
    }
    lm_tmp_untrack(f->tmp);
    f->tmp[0] = 0;
    return lm_fsync_dir(f->dst, err);
}

void lm_afile_abort(struct lm_afile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    if (f->tmp[0]) {
        unlink(f->tmp);
        lm_tmp_untrack(f->tmp);
    }
    f->tmp[0] = 0;
}

int lm_write_file_atomic(const char *dst, const void *p, size_t n, struct lm_err *err)
{
    struct lm_afile f;
    if (lm_afile_open(&f, dst, err))
        return -1;
    if (lm_afile_write(&f, p, n, err)) {
        lm_afile_abort(&f);
        return -1;
    }
    return lm_afile_commit(&f, err);
}
