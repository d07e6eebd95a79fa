/* verify.c: re-hash blobs on every core, check the index and the audit log chain, and name each
 * problem with a stable class. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "../common/banned.h"

#define HASH_WINDOW (8u << 20)     /* mapped at a time: few mmap calls, little address space */
#define THREADS_MAX 64
#define PROBLEMS_MAX 100000        /* a store this broken gets a truncated report */
#define STR2(x) #x
#define STR(x) STR2(x)

const char *lm_problem_name(enum lm_problem_class c)
{
    switch (c) {
    case LM_PROBLEM_MISSING_BLOB: return "missing-blob";
    case LM_PROBLEM_SIZE_MISMATCH: return "size-mismatch";
    case LM_PROBLEM_DIGEST_MISMATCH: return "digest-mismatch";
    case LM_PROBLEM_ORPHAN_BLOB: return "orphan-blob";
    case LM_PROBLEM_STALE_TEMP: return "stale-temp";
    case LM_PROBLEM_INDEX_CORRUPT: return "index-corrupt";
    case LM_PROBLEM_LOG_CHAIN_BROKEN: return "log-chain-broken";
    }
    return "unknown";
}

bool lm_problem_is_error(enum lm_problem_class c)
{
    return c != LM_PROBLEM_ORPHAN_BLOB && c != LM_PROBLEM_STALE_TEMP;
}

struct item {
    char digest[65];
    uint64_t size;                 /* as indexed */
    char *models;                  /* display names, ", "-separated, or NULL */
    /* filled by a worker */
    enum { ST_OK, ST_MISSING, ST_SIZE, ST_DIGEST, ST_UNREADABLE } status;
    uint64_t got_size;
    char got[65];
    char why[128];
};

struct job {
    struct lm_store *s;
    struct item *items;
    size_t n;
    atomic_size_t next;
    atomic_uint_least64_t done;
    uint64_t total;
    const struct lm_verify_opts *o;
};

static int add_problem(struct lm_verify_result *r, enum lm_problem_class cls, const char *path,
                       const char *digest, const char *models, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int add_problem(struct lm_verify_result *r, enum lm_problem_class cls, const char *path,
                       const char *digest, const char *models, const char *fmt, ...)
{
    if (r->n_problems >= PROBLEMS_MAX)
        return 0;
    struct lm_problem *v = realloc(r->problems, (r->n_problems + 1) * sizeof(*v));
    if (!v)
        return -1;
    r->problems = v;
    struct lm_problem *p = &v[r->n_problems];
    memset(p, 0, sizeof(*p));
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    for (char *c = msg; *c; c++)   /* one line per problem: SQLite's reports span lines */
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    p->cls = cls;
    p->path = strdup(path);
    p->message = strdup(msg);
    p->models = models ? strdup(models) : NULL;
    snprintf(p->digest, sizeof(p->digest), "%s", digest ? digest : "");
    if (!p->path || !p->message || (models && !p->models)) {
        free(p->path);
        free(p->message);
        free(p->models);
        return -1;
    }
    r->n_problems++;
    if (lm_problem_is_error(cls))
        r->n_errors++;
    return 0;
}

static __thread sigjmp_buf *bus_jump;   /* set while this thread reads a mapped blob */

/* A blob truncated while it is mapped faults with SIGBUS: report it, do not die of it. */
static void on_sigbus(int sig)
{
    if (bus_jump)
        siglongjmp(*bus_jump, 1);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Hash a file of `size` bytes window by window through mmap (no copy, unlike read()).
 * 0 done, 1 the file shrank under us, -1 mmap failed (errno). */
static int hash_mapped(struct job *j, int fd, uint64_t size, struct lm_sha256 *h, bool main)
{
    sigjmp_buf jb;
    void *volatile win = NULL;
    volatile size_t wlen = 0;
    volatile uint64_t off = 0, last = 0;
    if (sigsetjmp(jb, 1)) {   /* 1: restore the signal mask, SIGBUS is blocked in the handler */
        bus_jump = NULL;
        if (win)
            munmap(win, wlen);
        return 1;
    }
    bus_jump = &jb;
    while (off < size) {
        size_t n = size - off < HASH_WINDOW ? (size_t)(size - off) : HASH_WINDOW;
        void *p = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, (off_t)off);
        if (p == MAP_FAILED) {
            bus_jump = NULL;
            return -1;
        }
        wlen = n;
        win = p;
        lm_sha256_update(h, p, n);
        win = NULL;
        munmap(p, n);
        off += n;
        atomic_fetch_add(&j->done, (uint64_t)n);
        if (main && j->o->progress && off - last >= 64u << 20) {
            j->o->progress(j->o->ctx, atomic_load(&j->done), j->total);
            last = off;
        }
    }
    bus_jump = NULL;
    return 0;
}

static void hash_item(struct job *j, struct item *it, struct lm_sha256 *h, bool main)
{
    char path[STORE_PATH_MAX];
    struct stat st;
    lm_blob_path(j->s, it->digest, path, sizeof(path));
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        it->status = errno == ENOENT ? ST_MISSING : ST_UNREADABLE;
        snprintf(it->why, sizeof(it->why), "%s", strerror(errno));
        return;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        it->status = ST_UNREADABLE;
        snprintf(it->why, sizeof(it->why), "not a regular file");
        goto out;
    }
    if ((uint64_t)st.st_size != it->size) {
        it->status = ST_SIZE;
        it->got_size = (uint64_t)st.st_size;
        goto out;
    }
    int rc = hash_mapped(j, fd, it->size, h, main);
    uint8_t d[32];
    lm_sha256_final(h, d);   /* also resets h, whatever state a fault left it in */
    lm_hex(d, 32, it->got);
    if (rc < 0) {
        it->status = ST_UNREADABLE;
        snprintf(it->why, sizeof(it->why), "mmap: %s", strerror(errno));
    } else if (rc > 0 || (fstat(fd, &st) == 0 && (uint64_t)st.st_size != it->size)) {
        it->status = ST_SIZE;   /* changed while we read it */
        it->got_size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    } else if (strcmp(it->got, it->digest) != 0) {
        it->status = ST_DIGEST;
    }
out:
    close(fd);
}

static void work(struct job *j, bool main)
{
    struct lm_sha256 *h = lm_sha256_new();
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n)
            break;
        if (!h) {
            j->items[i].status = ST_UNREADABLE;
            snprintf(j->items[i].why, sizeof(j->items[i].why), "out of memory");
            continue;
        }
        hash_item(j, &j->items[i], h, main);
    }
    lm_sha256_free(h);
}

static void *worker(void *arg)
{
    work(arg, false);
    return NULL;
}

static void hash_all(struct job *j, unsigned threads)
{
    pthread_t tid[THREADS_MAX];
    unsigned started = 0;
    if (threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (unsigned)n : 1;
    }
    if (threads > THREADS_MAX)
        threads = THREADS_MAX;
    if (threads > j->n)
        threads = j->n ? (unsigned)j->n : 1;
    struct sigaction sa, old;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old);
    for (unsigned t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, worker, j) == 0)
            started++;
    work(j, true);   /* this thread hashes too and reports progress */
    for (unsigned t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    sigaction(SIGBUS, &old, NULL);
    if (j->o->progress)
        j->o->progress(j->o->ctx, j->total, j->total);
}

static int cmp_size_desc(const void *a, const void *b)
{
    const struct item *x = a, *y = b;
    return x->size < y->size ? 1 : x->size > y->size ? -1 : strcmp(x->digest, y->digest);
}

/* Display names of the models that use a blob. */
static char *users_of(struct lm_store *s, const char *digest)
{
    sqlite3_stmt *st;
    struct lm_buf b = LM_BUF_INIT(1u << 20);
    if (sqlite3_prepare_v2(s->db, "SELECT DISTINCT m.name FROM layers l JOIN models m ON "
                                  "m.manifest_id = l.manifest_id WHERE l.digest = ? ORDER BY m.name",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(st, 1, digest, -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct lm_name nm;
        char disp[LM_NAME_MAX + 1];
        const char *full = store_col_text(st, 0);
        if (lm_name_parse(full, &nm, NULL) == 0)
            lm_name_display(&nm, disp, sizeof(disp));
        else
            snprintf(disp, sizeof(disp), "%s", full);
        if (lm_buf_printf(&b, "%s%s", b.len ? ", " : "", disp))
            break;
    }
    sqlite3_finalize(st);
    return b.data;
}

static int add_item(struct item **v, size_t *n, size_t *cap, const char *digest, uint64_t size)
{
    for (size_t i = 0; i < *n; i++)   /* names given: a few dozen blobs at most */
        if (strcmp((*v)[i].digest, digest) == 0)
            return 0;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 64;
        struct item *nv = realloc(*v, nc * sizeof(*nv));
        if (!nv)
            return -1;
        *v = nv;
        *cap = nc;
    }
    struct item *it = &(*v)[(*n)++];
    memset(it, 0, sizeof(*it));
    snprintf(it->digest, sizeof(it->digest), "%s", digest);
    it->size = size;
    return 0;
}

/* The blobs to hash: all indexed ones, or those of the named models. */
static int gather(struct lm_store *s, const struct lm_verify_opts *o, struct item **v, size_t *n,
                  struct lm_err *err)
{
    size_t cap = 0;
    *v = NULL;
    *n = 0;
    if (o->n_names) {
        for (size_t i = 0; i < o->n_names; i++) {
            struct lm_model *m;
            if (lm_model_get(s, o->names[i], &m, err))
                return -1;
            for (size_t k = 0; k < m->n_layers; k++)
                if (add_item(v, n, &cap, m->layers[k].digest, m->layers[k].size)) {
                    lm_model_free(m);
                    return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
                }
            lm_model_free(m);
        }
        return 0;
    }
    sqlite3_stmt *st;
    if (store_db_prepare(s, "SELECT digest, size FROM blobs", &st, err))
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            struct item *nv = realloc(*v, nc * sizeof(*nv));
            if (!nv) {
                sqlite3_finalize(st);
                return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
            }
            *v = nv;
            cap = nc;
        }
        struct item *it = &(*v)[(*n)++];
        memset(it, 0, sizeof(*it));
        snprintf(it->digest, sizeof(it->digest), "%s", store_col_text(st, 0));
        it->size = (uint64_t)sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : store_db_fail(s, err, "list blobs");
}

static int report_items(struct lm_store *s, struct item *v, size_t n, struct lm_verify_result *r)
{
    for (size_t i = 0; i < n; i++) {
        struct item *it = &v[i];
        char path[80];
        int rc = 0;
        if (it->status == ST_OK)
            continue;
        snprintf(path, sizeof(path), "blobs/sha256/%s", it->digest);
        it->models = users_of(s, it->digest);
        switch (it->status) {
        case ST_MISSING:
            rc = add_problem(r, LM_PROBLEM_MISSING_BLOB, path, it->digest, it->models,
                             "the file is missing");
            break;
        case ST_SIZE:
            rc = add_problem(r, LM_PROBLEM_SIZE_MISMATCH, path, it->digest, it->models,
                             "the index says %llu bytes, the file has %llu",
                             (unsigned long long)it->size, (unsigned long long)it->got_size);
            break;
        case ST_DIGEST:
            rc = add_problem(r, LM_PROBLEM_DIGEST_MISMATCH, path, it->digest, it->models,
                             "the bytes hash to %s", it->got);
            break;
        case ST_UNREADABLE:
            rc = add_problem(r, LM_PROBLEM_DIGEST_MISMATCH, path, it->digest, it->models,
                             "cannot be read: %s", it->why);
            break;
        case ST_OK:
            break;
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* Files in blobs/ that the index does not know, and temp files no live writer holds. */
static int scan_dirs(struct lm_store *s, struct lm_verify_result *r)
{
    DIR *d = opendir(s->blobs);
    struct dirent *e;
    sqlite3_stmt *st = NULL;
    if (d && sqlite3_prepare_v2(s->db, "SELECT 1 FROM blobs WHERE digest = ?", -1, &st,
                                NULL) != SQLITE_OK)
        st = NULL;
    while (d && st && (e = readdir(d))) {
        char path[STORE_PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        bool known = false;
        if (lm_digest_valid(e->d_name)) {
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, e->d_name, -1, SQLITE_TRANSIENT);
            known = sqlite3_step(st) == SQLITE_ROW;
        }
        snprintf(path, sizeof(path), "blobs/sha256/%.200s", e->d_name);
        if (!known && add_problem(r, LM_PROBLEM_ORPHAN_BLOB, path, NULL, NULL,
                                  "no model uses it (lm gc removes it)"))
            goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (d)
        closedir(d);
    d = opendir(s->tmp);
    while (d && (e = readdir(d))) {
        char path[STORE_PATH_MAX];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int fd = store_pathf(path, sizeof(path), "%s/%s", s->tmp, e->d_name) ? -1
                 : open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        bool held = fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
        if (fd >= 0)
            close(fd);
        snprintf(path, sizeof(path), "tmp/%.200s", e->d_name);
        if (!held && add_problem(r, LM_PROBLEM_STALE_TEMP, path, NULL, NULL,
                                 "left by an interrupted write (lm gc removes it)"))
            goto fail;
    }
    if (d)
        closedir(d);
    return 0;
fail:
    sqlite3_finalize(st);
    if (d)
        closedir(d);
    return -1;
}

/* Rows of a query that should return none (or "ok"), each an index-corrupt problem. */
static int check_query(struct lm_store *s, struct lm_verify_result *r, const char *sql,
                       const char *what)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return add_problem(r, LM_PROBLEM_INDEX_CORRUPT, "index.db", NULL, NULL, "%s: %s", what,
                           sqlite3_errmsg(s->db));
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && ret == 0) {
        const char *v = store_col_text(st, 0);
        if (strcmp(v, "ok") != 0)
            ret = add_problem(r, LM_PROBLEM_INDEX_CORRUPT, "index.db", NULL, NULL, "%s: %s", what,
                              v);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && ret == 0)
        ret = add_problem(r, LM_PROBLEM_INDEX_CORRUPT, "index.db", NULL, NULL, "%s: %s", what,
                          sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return ret;
}

struct rows {
    struct lm_layer *l;
    size_t n, cap;
};

static void rows_clear(struct rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free((char *)r->l[i].path);
        free((char *)r->l[i].digest);
        free((char *)r->l[i].role);
        free((char *)r->l[i].media_type);
    }
    r->n = 0;
}

static int rows_add(struct rows *r, sqlite3_stmt *st)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? 2 * r->cap : 16;
        struct lm_layer *v = realloc(r->l, nc * sizeof(*v));
        if (!v)
            return -1;
        r->l = v;
        r->cap = nc;
    }
    struct lm_layer *l = &r->l[r->n++];
    l->path = strdup(store_col_text(st, 0));
    l->digest = strdup(store_col_text(st, 1));
    l->size = (uint64_t)sqlite3_column_int64(st, 2);
    l->role = strdup(store_col_text(st, 3));
    l->media_type = strdup(store_col_text(st, 4));
    return l->path && l->digest && l->role && l->media_type ? 0 : -1;
}

/* Each manifest body must hash to its digest and be exactly what its layer rows rebuild. */
static int check_manifests(struct lm_store *s, struct lm_verify_result *r)
{
    sqlite3_stmt *st = NULL, *ls = NULL;
    struct rows rows = { 0 };
    int ret = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT id, digest, body FROM manifests", -1, &st, NULL) ||
        sqlite3_prepare_v2(s->db, "SELECT path, digest, size, role, media_type FROM layers "
                                  "WHERE manifest_id = ? ORDER BY seq", -1, &ls, NULL)) {
        ret = add_problem(r, LM_PROBLEM_INDEX_CORRUPT, "index.db", NULL, NULL,
                          "cannot read manifests: %s", sqlite3_errmsg(s->db));
        goto out;
    }
    while (ret == 0 && sqlite3_step(st) == SQLITE_ROW) {
        const char *digest = store_col_text(st, 1), *body = store_col_text(st, 2);
        uint8_t d[32];
        char hex[65];
        lm_sha256_buf(body, strlen(body), d);
        lm_hex(d, 32, hex);
        if (strcmp(hex, digest) != 0) {
            ret = add_problem(r, LM_PROBLEM_INDEX_CORRUPT, "index.db", NULL, NULL,
                              "manifest %.12s: its body hashes to %.12s", digest, hex);
            continue;
        }
        rows_clear(&rows);
        sqlite3_reset(ls);
        sqlite3_bind_int64(ls, 1, sqlite3_column_int64(st, 0));
        while (ret == 0 && sqlite3_step(ls) == SQLITE_ROW)
            ret = rows_add(&rows, ls);
        char *rebuilt = ret ? NULL : store_manifest_body(rows.l, rows.n, NULL);
        if (ret == 0 && (!rebuilt || strcmp(rebuilt, body) != 0))
            ret = add_problem(r, LM_PROBLEM_INDEX_CORRUPT, "index.db", NULL, NULL,
                              "manifest %.12s: its layer rows differ from its body", digest);
        free(rebuilt);
    }
out:
    rows_clear(&rows);
    free(rows.l);
    sqlite3_finalize(st);
    sqlite3_finalize(ls);
    return ret;
}

static int check_index(struct lm_store *s, struct lm_verify_result *r)
{
    size_t before = r->n_problems;
    if (check_query(s, r, "PRAGMA integrity_check", "integrity_check"))
        return -1;
    if (r->n_problems > before)
        return 0;   /* the rest would only repeat what a damaged file says */
    if (check_query(s, r, "SELECT 'row ' || rowid || ' of ' || \"table\" || ' points to a "
                          "missing ' || parent FROM pragma_foreign_key_check",
                    "foreign keys") ||
        check_query(s, r, "SELECT 'layer ' || l.path || ' has ' || l.size || ' bytes, blob ' || "
                          "substr(b.digest, 1, 12) || ' has ' || b.size FROM layers l JOIN blobs b "
                          "ON b.digest = l.digest WHERE l.size != b.size",
                    "sizes") ||
        check_query(s, r, "SELECT CASE WHEN user_version = " STR(STORE_SCHEMA_VERSION)
                          " THEN 'ok' ELSE 'version ' || user_version || ', this lm writes "
                          STR(STORE_SCHEMA_VERSION) "' END FROM pragma_user_version",
                    "schema"))
        return -1;
    return check_manifests(s, r);
}

static int check_log(struct lm_store *s, struct lm_verify_result *r)
{
    struct lm_log l;
    struct lm_err e;
    if (lm_store_log(s, &l, &e))
        return add_problem(r, LM_PROBLEM_INDEX_CORRUPT, "index.db", NULL, NULL,
                           "cannot read the audit log: %s", e.msg);
    int rc = 0;
    if (l.broken_at)
        rc = add_problem(r, LM_PROBLEM_LOG_CHAIN_BROKEN, "index.db", NULL, NULL, "audit log %s",
                         l.why);
    lm_log_release(&l);
    return rc;
}

/* Record the outcome in the audit log; failing to is not a verify failure. */
static void log_result(struct lm_store *s, const struct lm_verify_result *r)
{
    struct lm_buf subject = LM_BUF_INIT(4096), digests = LM_BUF_INIT(1u << 20);
    if (r->n_errors == 0)
        lm_buf_printf(&subject, "ok: %llu blobs, %llu bytes", (unsigned long long)r->blobs,
                      (unsigned long long)r->bytes);
    else
        lm_buf_printf(&subject, "%zu problems in %llu blobs", r->n_errors,
                      (unsigned long long)r->blobs);
    for (size_t i = 0; i < r->n_problems; i++)
        if (lm_problem_is_error(r->problems[i].cls) && r->problems[i].digest[0])
            lm_buf_printf(&digests, "%s%s", digests.len ? " " : "", r->problems[i].digest);
    lm_store_audit(s, "verify", subject.data ? subject.data : "", digests.data, NULL);
    lm_buf_release(&subject);
    lm_buf_release(&digests);
}

int lm_store_verify(struct lm_store *s, const struct lm_verify_opts *o, struct lm_verify_result *r,
                    struct lm_err *err)
{
    static const struct lm_verify_opts none;
    struct item *v = NULL;
    size_t n = 0;
    int ret = -1;
    memset(r, 0, sizeof(*r));
    if (!o)
        o = &none;
    if (check_index(s, r))
        goto nomem;
    bool index_ok = r->n_errors == 0;
    if (gather(s, o, &v, &n, err)) {
        if (err->code != LM_ECORRUPT && err->code != LM_EIO)
            goto out;
        /* The index cannot list its blobs: that is the finding, not a failure to verify. */
        if (add_problem(r, LM_PROBLEM_INDEX_CORRUPT, "index.db", NULL, NULL, "%s", err->msg))
            goto nomem;
        n = 0;
    }
    if (n)
        qsort(v, n, sizeof(*v), cmp_size_desc);   /* big ones first: the cores finish together */
    struct job j = { .s = s, .items = v, .n = n, .o = o };
    for (size_t i = 0; i < n; i++)
        j.total += v[i].size;
    hash_all(&j, o->threads);
    r->blobs = n;
    r->bytes = j.total;
    if (report_items(s, v, n, r) || (o->n_names == 0 && scan_dirs(s, r)) || check_log(s, r))
        goto nomem;
    if (index_ok)
        log_result(s, r);
    ret = 0;
    goto out;
nomem:
    lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
out:
    for (size_t i = 0; i < n; i++)
        free(v[i].models);
    free(v);
    if (ret)
        lm_verify_result_release(r);
    return ret;
}

void lm_verify_result_release(struct lm_verify_result *r)
{
    for (size_t i = 0; i < r->n_problems; i++) {
        free(r->problems[i].path);
        free(r->problems[i].message);
        free(r->problems[i].models);
    }
    free(r->problems);
    memset(r, 0, sizeof(*r));
}
