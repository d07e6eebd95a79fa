/* common: errors, logging, progress, hashing, checked sizes, buffers and atomic files for lm. */
#ifndef LM_COMMON_H
#define LM_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LM_VERSION "0.1.0"

/* ---- errors ------------------------------------------------------------------------------ */

enum lm_errcode {
    LM_OK = 0,
    LM_EIO,        /* the OS said no: open, read, write, fsync, rename */
    LM_ECORRUPT,   /* input bytes break the format */
    LM_EUNSUPPORTED, /* valid but not something lm handles */
    LM_EUSAGE,     /* the caller asked for something impossible */
    LM_ENOMEM,
    LM_ENOTFOUND,
    LM_EEXIST,
    LM_EDIGEST,    /* bytes do not hash to what they should */
    LM_ENET,
    LM_EINTERNAL,
};

#define LM_NO_OFFSET UINT64_MAX

struct lm_err {
    enum lm_errcode code;
    uint64_t off;        /* byte offset in `path`, or LM_NO_OFFSET */
    char path[512];
    char msg[768];
};

/* Fill `err` (may be NULL) and return -1. `path` may be NULL. */
int lm_err_set(struct lm_err *err, enum lm_errcode code, const char *path, uint64_t off,
               const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int lm_err_errno(struct lm_err *err, const char *path, const char *what);
void lm_err_clear(struct lm_err *err);
const char *lm_errcode_name(enum lm_errcode code);
/* "PATH: at byte N: msg" (parts present as set); returns buf. */
const char *lm_err_str(const struct lm_err *err, char *buf, size_t n);

/* ---- printing (only cmd/ calls the ones that print) -------------------------------------- */

extern int lm_verbose;   /* -v count */
extern bool lm_quiet;    /* --quiet: no progress */
extern const char *lm_progname; /* "lm" or "lm inspect" for messages */

void lm_report(const struct lm_err *err);  /* "lm: PATH: msg\n" on stderr */
void lm_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lm_warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void lm_debugf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Escape control and non-ASCII bytes of outside text and cap its length; returns buf. */
const char *lm_quote(const char *s, size_t len, char *buf, size_t n);
#define LM_QUOTE_MAX 256

/* ---- checked arithmetic ------------------------------------------------------------------ */

#define ckd_add(r, a, b) __builtin_add_overflow((a), (b), (r))
#define ckd_mul(r, a, b) __builtin_mul_overflow((a), (b), (r))
#define ckd_sub(r, a, b) __builtin_sub_overflow((a), (b), (r))

static inline uint64_t lm_pad(uint64_t x, uint64_t align) { return (x + align - 1) / align * align; }

/* Parse an unsigned decimal in [min, max]; -1 on junk or range. */
int lm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

#define LM_BUG_ON(c) do { if (c) lm_bug(__FILE__, __LINE__, #c); } while (0)
_Noreturn void lm_bug(const char *file, int line, const char *what);

/* ---- bounded growable buffer ------------------------------------------------------------- */

struct lm_buf {
    char *data;
    size_t len, cap, max;
};
#define LM_BUF_INIT(maxbytes) { NULL, 0, 0, (maxbytes) }
int lm_buf_add(struct lm_buf *b, const void *p, size_t n);    /* -1 past max or on ENOMEM */
int lm_buf_printf(struct lm_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lm_buf_release(struct lm_buf *b);

/* ---- sha256 (libcrypto EVP) -------------------------------------------------------------- */

struct lm_sha256;
struct lm_sha256 *lm_sha256_new(void);                 /* NULL on ENOMEM */
void lm_sha256_update(struct lm_sha256 *h, const void *p, size_t n);
void lm_sha256_final(struct lm_sha256 *h, uint8_t out[32]); /* resets for reuse */
void lm_sha256_free(struct lm_sha256 *h);
void lm_sha256_buf(const void *p, size_t n, uint8_t out[32]);
void lm_hex(const uint8_t *p, size_t n, char *out);    /* out gets 2n+1 bytes */
int lm_sha256_file(const char *path, char hex[65], uint64_t *size, struct lm_err *err);

/* ---- files ------------------------------------------------------------------------------- */

/* Read-only map of a whole file. Empty files map to len 0, data NULL. */
struct lm_map {
    const uint8_t *data;
    uint64_t len;
};
int lm_map_open(struct lm_map *m, const char *path, struct lm_err *err);
void lm_map_close(struct lm_map *m);
/* Prepare a mapping that is read end to end many times (model weights during inference): ask
 * for huge pages and read it ahead, so the weights stream with few TLB misses. A hint; never
 * fails. */
void lm_map_advise_huge(const struct lm_map *m);

int lm_read_file(const char *path, size_t max, struct lm_buf *out, struct lm_err *err);
int lm_write_all(int fd, const void *p, size_t n, const char *path, struct lm_err *err);
int lm_fsync_dir(const char *path, struct lm_err *err);  /* fsync the directory holding path */
int lm_mkdirs(const char *dir, struct lm_err *err);       /* mkdir -p, mode 0755 */

/* Atomic file: writes go to a temp file in dst's directory; commit fsyncs, renames onto dst and
 * fsyncs the directory; abort (or release without commit) unlinks the temp file. */
struct lm_afile {
    int fd;
    char tmp[1024];
    char dst[1024];
};
int lm_afile_open(struct lm_afile *f, const char *dst, struct lm_err *err);
int lm_afile_write(struct lm_afile *f, const void *p, size_t n, struct lm_err *err);
int lm_afile_commit(struct lm_afile *f, struct lm_err *err);
void lm_afile_abort(struct lm_afile *f);
int lm_write_file_atomic(const char *dst, const void *p, size_t n, struct lm_err *err);

/* Test hooks: the Nth call raises sig, N from environment variable env (unset: never). */
struct lm_fault {
    const char *env;
    int sig;
    long at, count;     /* at: -1 until env is read */
};
void lm_fault_point(struct lm_fault *f);

/* Temp files that a signal ending lm removes: lm_afile and the store's writers track theirs
 * (fixed slots, so the handler touches no heap). lm_cleanup_on_signal installs the handler for
 * SIGINT, SIGTERM and SIGHUP: it unlinks them and dies by the signal as before. For commands;
 * no library code installs handlers. */
void lm_tmp_track(const char *path);
void lm_tmp_untrack(const char *path);
void lm_cleanup_on_signal(void);

/* ---- progress bar (stderr, TTY only, at most every 100 ms) ------------------------------- */

struct lm_progress {
    const char *label;
    uint64_t total, done;   /* total 0 = unknown */
    double start, last_draw;
    bool active;
};
void lm_progress_begin(struct lm_progress *p, const char *label, uint64_t total);
void lm_progress_add(struct lm_progress *p, uint64_t n);
void lm_progress_end(struct lm_progress *p);
/* Pure formatter, for tests: "label  12.0 MiB / 24.0 MiB  50%  [####    ]  6.0 MiB/s  ETA 2s" */
void lm_progress_format(char *buf, size_t n, int width, const char *label, uint64_t done,
                        uint64_t total, double elapsed_s);
double lm_now(void);  /* monotonic seconds */
void lm_fmt_bytes(uint64_t n, char *buf, size_t len);  /* "1.5 GiB" */

/* ---- CPU features (SIMD kernels pick their variant from this) -------------------------- */

enum { LM_CPU_SCALAR = 0, LM_CPU_AVX2 = 1, LM_CPU_AVX512 = 2 };   /* AVX2 includes FMA and F16C;
                                                                    AVX512 is F, BW, DQ and VL */
int lm_cpu_best(void);    /* what this processor can run */
int lm_cpu_level(void);   /* lm_cpu_best(), lowered by LM_CPU=scalar|avx2|avx512 */

/* ---- JSON output (jansson) --------------------------------------------------------------- */

struct json_t;
/* Print a JSON document to stdout with 2-space indent and a newline; steals the reference. */
int lm_json_print(struct json_t *doc);
/* A JSON string from outside bytes: invalid UTF-8 becomes U+FFFD, NUL too. NULL on ENOMEM. */
struct json_t *lm_json_string(const char *s, size_t len);

#endif
