/* fetch.c: downloading files: Range chunks of every file, in file order, on receiver threads
 * that each drive their own curl multi handle and write bytes at their offsets; hasher threads
 * hash each file in order as its bytes become contiguous and verify it; blobs are renamed into
 * the store only when every file verified. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "../common/banned.h"

/* Small enough that the hash, which must go in order, trails the parallel chunks by little at
 * the end of a file; large enough that the request per chunk costs nothing. */
#define DEFAULT_CHUNK (16u << 20)
#define HASH_STEP (8u << 20)
/* curl hands over 16 KiB at a time: gather 1 MiB per write (and per done-count update and
 * hasher wake-up), but never hold bytes longer than a tick, so a stalled or killed transfer
 * has what it received on disk. */
#define WRITE_BUF (1u << 20)
#define TICK_S 0.1
#define MAX_HASHERS 8
#define MAX_RECEIVERS 8

struct ffile {
    struct fetch_item *it;
    struct lm_partial *p;
    size_t next_chunk;              /* chunks below this were submitted or were complete */
    unsigned inflight;
    char *final_url;                /* where this file's bytes came from after redirects */
    bool final_auth;
    uint64_t kept, received;
    bool resumed, retried_fresh;
    bool dirty, busy, verified, failed, redo;
};

struct receiver {
    struct fetch *F;
    struct http *h;
    pthread_t thread;
    unsigned conns, inflight;
    struct chunk_req *reqs;         /* in flight on this receiver */
};

/* Everything below `mu` is shared by the main, receiver and hasher threads and taken under it;
 * a receiver's own list and its http engine are its alone. */
struct fetch {
    const struct fetch_opts *o;
    struct ffile *files;
    size_t n;
    uint64_t chunk_size;
    struct receiver recv[MAX_RECEIVERS];
    unsigned n_recv, n_recv_started;
    pthread_t hashers[MAX_HASHERS];
    unsigned n_hashers;
    pthread_mutex_t mu;
    pthread_cond_t hash_cv;         /* hashers: a file has new bytes */
    pthread_cond_t recv_cv;         /* receivers: there is work again (a file to redo) */
    pthread_cond_t main_cv;         /* main: a file verified or failed */
    size_t cursor;                  /* files below were all scheduled */
    bool stop, failed;
    struct lm_err err;              /* the first failure */
    uint64_t kept;
};

struct chunk_req {
    struct http_req r;
    struct receiver *R;
    struct ffile *f;
    size_t chunk;
    uint64_t skip;                  /* bytes of a whole-file (200) answer before our range */
    bool whole;
    uint64_t progress;              /* bytes this request received */
    uint8_t *buf;                   /* received, not yet written: WRITE_BUF bytes */
    size_t buf_len;
    double buf_since;
    struct chunk_req *next;
};

/* ---- failures ----------------------------------------------------------------------------- */

static void fail_locked(struct fetch *F, const struct lm_err *e)
{
    if (!F->failed) {               /* the first failure; later ones are consequences */
        F->failed = true;
        F->err = *e;
        pthread_cond_signal(&F->main_cv);
    }
}

static void fail(struct fetch *F, const struct lm_err *e)
{
    pthread_mutex_lock(&F->mu);
    fail_locked(F, e);
    pthread_mutex_unlock(&F->mu);
}

/* Bytes that do not match the listing, or a file the commit lacks: keeping them helps nobody.
 * Network and disk trouble keep the partial files for the next run. */
static bool permanent(enum lm_errcode c)
{
    return c == LM_EDIGEST || c == LM_ECORRUPT || c == LM_ENOTFOUND || c == LM_EUNSUPPORTED;
}

/* ---- hashers: hash in order, verify ----------------------------------------------------------- */

static struct ffile *next_work(struct fetch *F)
{
    for (size_t i = 0; i < F->n; i++) {
        struct ffile *f = &F->files[i];
        if (f->dirty && !f->busy && f->p && !f->verified && !f->failed && !f->redo)
            return f;
    }
    return NULL;
}

/* Hash what is ready; once all is hashed, verify. 1 verified, 0 more to come, -1 failed. */
static int work_on(struct fetch *F, struct ffile *f, struct lm_err *e)
{
    const struct lm_hf_file *hf = f->it->f;
    for (;;) {
        int64_t n = lm_partial_hash(f->p, HASH_STEP, e);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (__atomic_load_n(&F->stop, __ATOMIC_RELAXED))
            return 0;
    }
    if (lm_partial_hashed(f->p) < hf->size)
        return 0;
    if (lm_partial_verify(f->p, hf->sha256[0] ? hf->sha256 : NULL, hf->sha256[0] ? NULL : hf->oid,
                          e))
        return -1;
    return 1;
}

static void *hasher(void *arg)
{
    struct fetch *F = arg;
    pthread_mutex_lock(&F->mu);
    while (!F->stop) {
        struct ffile *f = next_work(F);
        if (!f) {
            pthread_cond_wait(&F->hash_cv, &F->mu);
            continue;
        }
        f->busy = true;
        f->dirty = false;
        pthread_mutex_unlock(&F->mu);
        struct lm_err e;
        lm_err_clear(&e);
        int rc = work_on(F, f, &e);
        pthread_mutex_lock(&F->mu);
        f->busy = false;
        if (rc > 0) {
            f->verified = true;
        } else if (rc < 0 && e.code == LM_EDIGEST && f->resumed && !f->retried_fresh) {
            f->redo = true;             /* the kept bytes were bad: the main thread starts over */
        } else if (rc < 0) {
            f->failed = true;
            fail_locked(F, &e);
        }
        if (rc != 0)
            pthread_cond_signal(&F->main_cv);
    }
    pthread_mutex_unlock(&F->mu);
    return NULL;
}

/* ---- chunk requests (on a receiver thread) ---------------------------------------------------- */

/* Write what the request gathered at the chunk's end, and tell the hashers. Takes mu, so it
 * is never called with mu held (with an empty buffer it takes nothing). */
static int flush(struct chunk_req *c, struct lm_err *err)
{
    struct fetch *F = c->R->F;
    if (c->buf_len == 0)
        return 0;
    if (lm_partial_write(c->f->p, c->chunk, c->buf, c->buf_len, err))
        return -1;
    pthread_mutex_lock(&F->mu);
    c->f->received += c->buf_len;
    c->f->dirty = true;
    pthread_cond_signal(&F->hash_cv);
    pthread_mutex_unlock(&F->mu);
    c->buf_len = 0;
    return 0;
}

static int chunk_start(struct http_req *r)
{
    struct chunk_req *c = r->ctx;
    uint64_t s, e, d;
    if (flush(c, &r->err))            /* a retry asks for what is not on disk yet */
        return -1;
    lm_partial_chunk(c->f->p, c->chunk, &s, &e, &d);
    if (s + d == e)   /* all there already (a retry after the last byte): nothing to ask */
        return lm_err_set(&r->err, LM_OK, r->label, LM_NO_OFFSET, "chunk complete");
    r->ranged = true;
    r->range_start = s + d;
    r->range_end = e;
    c->skip = 0;
    c->whole = false;
    return 0;
}

static int chunk_headers(struct http_req *r)
{
    struct chunk_req *c = r->ctx;
    struct ffile *f = c->f;
    uint64_t size = f->it->f->size, first, last, total;
    char v[256];
    if (r->status == 206) {
        if (!http_header(r, "Content-Range", v, sizeof(v)) ||
            http_parse_content_range(v, &first, &last, &total))
            return lm_err_set(&r->err, LM_ECORRUPT, r->label, LM_NO_OFFSET,
                              "a 206 answer without a valid Content-Range");
        if (total != size)
            return lm_err_set(&r->err, LM_ECORRUPT, r->label, LM_NO_OFFSET,
                              "the server has %llu bytes, the listing says %llu",
                              (unsigned long long)total, (unsigned long long)size);
        if (first != r->range_start || last >= r->range_end)
            return lm_err_set(&r->err, LM_ECORRUPT, r->label, LM_NO_OFFSET,
                              "asked for bytes %llu-%llu, got %llu-%llu",
                              (unsigned long long)r->range_start,
                              (unsigned long long)r->range_end - 1, (unsigned long long)first,
                              (unsigned long long)last);
    } else if (r->status == 200) {
        /* The server ignored Range: the whole file comes, and we keep only our range. */
        uint64_t len;
        if (http_header(r, "Content-Length", v, sizeof(v)) &&
            lm_parse_u64(v, 0, UINT64_MAX, &len) == 0 && len != size)
            return lm_err_set(&r->err, LM_ECORRUPT, r->label, LM_NO_OFFSET,
                              "the server has %llu bytes, the listing says %llu",
                              (unsigned long long)len, (unsigned long long)size);
        c->whole = true;
        c->skip = r->range_start;
    } else {
        return lm_err_set(&r->err, LM_ECORRUPT, r->label, LM_NO_OFFSET,
                          "unexpected HTTP %ld for a file", r->status);
    }
    if (strcmp(r->cur, r->url) != 0) {   /* later chunks go straight there */
        pthread_mutex_lock(&c->R->F->mu);
        if (!f->final_url || strcmp(f->final_url, r->cur) != 0) {
            free(f->final_url);
            f->final_url = strdup(r->cur);
            f->final_auth = r->cur_auth;
        }
        pthread_mutex_unlock(&c->R->F->mu);
    }
    return 0;
}

static int chunk_body(struct http_req *r, const char *p, size_t n)
{
    struct chunk_req *c = r->ctx;
    uint64_t s, e, d;
    if (c->skip) {
        size_t k = n < c->skip ? n : (size_t)c->skip;
        c->skip -= k;
        p += k;
        n -= k;
        if (n == 0)
            return 0;
    }
    lm_partial_chunk(c->f->p, c->chunk, &s, &e, &d);
    uint64_t room = e - (s + d + c->buf_len);
    bool enough = false;
    if (n > room) {
        if (!c->whole)
            return lm_err_set(&r->err, LM_ECORRUPT, r->label, e,
                              "the server sent more bytes than the range asked for");
        n = (size_t)room;
        enough = true;
    }
    for (size_t left = n; left > 0;) {
        size_t take = WRITE_BUF - c->buf_len < left ? WRITE_BUF - c->buf_len : left;
        if (c->buf_len == 0)
            c->buf_since = lm_now();
        memcpy(c->buf + c->buf_len, p + (n - left), take);
        c->buf_len += take;
        left -= take;
        if (c->buf_len == WRITE_BUF && flush(c, &r->err))
            return -1;
    }
    c->progress += n;
    if (n == room && flush(c, &r->err))    /* the chunk is whole: on disk now */
        return -1;
    return enough || (c->whole && n == room) ? 1 : 0;
}

static int submit_chunk(struct receiver *R, struct ffile *f, size_t chunk);

/* Called with mu held. */
static void unlink_chunk(struct receiver *R, struct chunk_req *c)
{
    for (struct chunk_req **p = &R->reqs; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    R->inflight--;
    c->f->inflight--;
    free(c->r.cur);
    free(c->buf);
    free(c);
}

static void chunk_done(struct http_req *r)
{
    struct chunk_req *c = r->ctx;
    struct receiver *R = c->R;
    struct fetch *F = R->F;
    struct ffile *f = c->f;
    size_t chunk = c->chunk;
    uint64_t s, e, d, progress = c->progress;
    struct lm_err re = r->err;
    int rc = r->rc;
    if (rc && r->from_hub && r->status >= 400 && r->status < 500 && re.code != LM_ECORRUPT &&
        F->o->http_error)
        F->o->http_error(F->o->ctx, r, &re);   /* 401 gated, 404 ...: the API calls' words */
    if (flush(c, &re))                  /* bytes that came before a failure are good */
        rc = -1;
    pthread_mutex_lock(&F->mu);
    unlink_chunk(R, c);
    lm_partial_chunk(f->p, chunk, &s, &e, &d);
    if (s + d < e) {
        if (rc == 0 && progress > 0) {  /* a shorter range than asked for: ask for the rest */
            submit_chunk(R, f, chunk);
        } else {
            if (rc == 0)
                lm_err_set(&re, LM_ECORRUPT, f->it->label, s + d,
                           "the body ended %llu bytes short of the range",
                           (unsigned long long)(e - s - d));
            fail_locked(F, &re);
        }
    }
    pthread_mutex_unlock(&F->mu);
}

/* Called with mu held. */
static int submit_chunk(struct receiver *R, struct ffile *f, size_t chunk)
{
    struct chunk_req *c = calloc(1, sizeof(*c));
    if (c && !(c->buf = malloc(WRITE_BUF))) {
        free(c);
        c = NULL;
    }
    if (!c) {
        struct lm_err e;
        lm_err_set(&e, LM_ENOMEM, f->it->label, LM_NO_OFFSET, "out of memory");
        fail_locked(R->F, &e);
        return -1;
    }
    c->R = R;
    c->f = f;
    c->chunk = chunk;
    c->r.url = f->it->url;
    c->r.hint = f->final_url;
    c->r.hint_auth = f->final_auth;
    c->r.label = f->it->label;
    c->r.start = chunk_start;         /* its flush finds an empty buffer: mu is not taken */
    c->r.on_headers = chunk_headers;
    c->r.on_body = chunk_body;
    c->r.on_done = chunk_done;
    c->r.ctx = c;
    if (http_submit(R->h, &c->r)) {
        fail_locked(R->F, &c->r.err);
        free(c->r.cur);
        free(c->buf);
        free(c);
        return -1;
    }
    c->next = R->reqs;
    R->reqs = c;
    R->inflight++;
    f->inflight++;
    return 0;
}

/* ---- scheduling (mu held) ------------------------------------------------------------------- */

static int open_file(struct fetch *F, struct ffile *f)
{
    struct lm_err e;
    const struct lm_hf_file *hf = f->it->f;
    const char *key = hf->sha256[0] ? hf->sha256 : hf->oid;
    f->p = lm_partial_open(F->o->s, key, f->it->media_type, hf->size, F->chunk_size,
                           hf->sha256[0] ? 0 : LM_PARTIAL_GIT_SHA1, f->it->label, &e);
    if (!f->p) {
        fail_locked(F, &e);
        return -1;
    }
    f->kept = lm_partial_kept(f->p);
    f->resumed = f->kept > 0;
    F->kept += f->kept;
    f->next_chunk = 0;
    f->dirty = true;                /* kept bytes (or an empty file) can be hashed at once */
    pthread_cond_signal(&F->hash_cv);
    return 0;
}

/* Give R chunks until its connections are busy. Chunks of a file go in order (its hash follows
 * them); files go side by side, a few at a time, the one with the fewest chunks asked for first,
 * so that several hashers work at once and no file waits for the last one's bytes. */
static void schedule(struct receiver *R)
{
    struct fetch *F = R->F;
    size_t window = F->n_hashers > 2 ? F->n_hashers : 2;
    while (R->inflight < R->conns && !F->failed) {
        struct ffile *pick = NULL;
        size_t seen = 0;
        for (size_t i = F->cursor; i < F->n && seen < window; i++) {
            struct ffile *f = &F->files[i];
            if (f->verified || f->failed || f->redo) {
                if (i == F->cursor)
                    F->cursor++;
                continue;
            }
            if (!f->p && open_file(F, f))
                return;
            size_t n = lm_partial_chunks(f->p);
            for (;;) {                 /* chunks a previous run finished need no request */
                uint64_t s, e, d;
                if (f->next_chunk == n)
                    break;
                lm_partial_chunk(f->p, f->next_chunk, &s, &e, &d);
                if (s + d < e)
                    break;
                f->next_chunk++;
            }
            if (f->next_chunk == n) {
                if (i == F->cursor && f->inflight == 0)
                    F->cursor++;        /* nothing left to ask for: the hashers finish it */
                continue;
            }
            seen++;
            if (!pick || f->next_chunk < pick->next_chunk)
                pick = f;
        }
        if (!pick || submit_chunk(R, pick, pick->next_chunk++))
            return;
    }
}

/* Bytes gathered a tick ago go to disk, so a stall or a kill loses nothing received. */
static void flush_old(struct receiver *R)
{
    double now = lm_now();
    struct lm_err e;
    for (struct chunk_req *c = R->reqs; c; c = c->next)
        if (c->buf_len && now - c->buf_since >= TICK_S && flush(c, &e))
            fail(R->F, &e);
}

static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, double secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long ns = ts.tv_nsec + (long)(secs * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(cv, mu, &ts);
}

static void *receiver(void *arg)
{
    struct receiver *R = arg;
    struct fetch *F = R->F;
    for (;;) {
        pthread_mutex_lock(&F->mu);
        if (F->stop || F->failed) {
            pthread_mutex_unlock(&F->mu);
            break;
        }
        schedule(R);
        if (R->inflight == 0) {        /* nothing for us now: wait for a redo or the end */
            timed_wait(&F->recv_cv, &F->mu, TICK_S);
            pthread_mutex_unlock(&F->mu);
            continue;
        }
        pthread_mutex_unlock(&F->mu);
        http_run(R->h, (long)(TICK_S * 1000));
        flush_old(R);
    }
    /* Drop what still runs or waits to retry; what it gathered is written, for a rerun. */
    while (R->reqs) {
        struct chunk_req *c = R->reqs;
        struct lm_err e;
        http_cancel(R->h, &c->r);
        flush(c, &e);
        pthread_mutex_lock(&F->mu);
        unlink_chunk(R, c);
        pthread_mutex_unlock(&F->mu);
    }
    return NULL;
}

/* ---- the main thread ------------------------------------------------------------------------- */

/* A file whose kept bytes did not verify: drop them and download it again, once. mu held. */
static void redo_files(struct fetch *F)
{
    for (size_t i = 0; i < F->n; i++) {
        struct ffile *f = &F->files[i];
        if (!f->redo || f->busy || f->inflight)   /* a request may still be winding down */
            continue;
        lm_debugf(1, "pull: %s: the bytes kept from an earlier run were wrong; downloading again",
                  f->it->label);
        lm_partial_discard(f->p);
        f->p = NULL;
        F->kept -= f->kept;
        f->kept = f->received = 0;
        f->redo = f->resumed = false;
        f->retried_fresh = true;
        if (i < F->cursor)
            F->cursor = i;
        pthread_cond_broadcast(&F->recv_cv);
    }
}

static bool all_verified(struct fetch *F)
{
    for (size_t i = 0; i < F->n; i++)
        if (!F->files[i].verified)
            return false;
    return true;
}

static void publish(struct fetch *F, uint64_t *received)
{
    uint64_t sum = 0;
    pthread_mutex_lock(&F->mu);
    for (size_t i = 0; i < F->n; i++) {
        struct ffile *f = &F->files[i];
        struct lm_pull_file *pub = f->it->pub;
        pub->done = f->kept + f->received;
        sum += f->received;
        if (f->verified)
            pub->state = LM_PULL_VERIFIED;
        else if (f->failed)
            pub->state = LM_PULL_FAILED;
        else if (f->p)
            pub->state = LM_PULL_ACTIVE;
    }
    pthread_mutex_unlock(&F->mu);
    *received = sum;
    if (F->o->received)
        *F->o->received = sum;
    if (F->o->tick)
        F->o->tick(F->o->ctx);
}

/* Verified partial files stay open until they are renamed: raise the descriptor limit. */
static void raise_fd_limit(size_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need + 64) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need + 64 ? need + 64
                                                                               : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static uint64_t chunk_size(void)
{
    uint64_t v;
    const char *s = getenv("LM_PULL_CHUNK_BYTES");
    return s && lm_parse_u64(s, 1024, 1ull << 40, &v) == 0 ? v : DEFAULT_CHUNK;
}

/* One receiver per 4 CPUs (one thread copies a few GB/s), each with a share of the
 * connections and of the rate cap; at least two hashers, so one can fsync while one hashes. */
static int start_threads(struct fetch *F, unsigned conns, struct lm_err *err)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned nr = cpus >= 8 ? (unsigned)cpus / 4 : 1, nh = cpus > 2 ? (unsigned)cpus : 2;
    uint64_t v;
    const char *e = getenv("LM_PULL_RECEIVERS");   /* tests run the many-thread path anywhere */
    if (e && lm_parse_u64(e, 1, MAX_RECEIVERS, &v) == 0)
        nr = (unsigned)v;
    if (nr > conns)
        nr = conns;
    if (nr > MAX_RECEIVERS)
        nr = MAX_RECEIVERS;
    if (nh > MAX_HASHERS)
        nh = MAX_HASHERS;
    for (unsigned i = 0; i < nr; i++) {
        struct http_opts ho = *F->o->http;
        ho.connections = conns / nr + (i < conns % nr);
        ho.limit_rate = ho.limit_rate / nr + (ho.limit_rate && ho.limit_rate < nr);
        struct receiver *R = &F->recv[i];
        R->F = F;
        R->conns = ho.connections;
        if (!(R->h = http_new(&ho, err)))
            return -1;
        F->n_recv++;
    }
    for (unsigned i = 0; i < nh; i++) {
        if (pthread_create(&F->hashers[i], NULL, hasher, F) != 0)
            break;
        F->n_hashers++;
    }
    if (F->n_hashers == 0)
        return lm_err_set(err, LM_EIO, NULL, LM_NO_OFFSET, "cannot start a thread");
    for (unsigned i = 0; i < F->n_recv; i++) {
        if (pthread_create(&F->recv[i].thread, NULL, receiver, &F->recv[i]) != 0)
            return lm_err_set(err, LM_EIO, NULL, LM_NO_OFFSET, "cannot start a thread");
        F->n_recv_started++;
    }
    return 0;
}

static void stop_threads(struct fetch *F, uint64_t *received)
{
    pthread_mutex_lock(&F->mu);
    __atomic_store_n(&F->stop, true, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&F->hash_cv);
    pthread_cond_broadcast(&F->recv_cv);
    pthread_mutex_unlock(&F->mu);
    for (unsigned i = 0; i < F->n_recv; i++) {
        if (i < F->n_recv_started) {
            http_wakeup(F->recv[i].h);
            pthread_join(F->recv[i].thread, NULL);
        }
        *received += http_received(F->recv[i].h);
        http_free(F->recv[i].h);
    }
    for (unsigned i = 0; i < F->n_hashers; i++)
        pthread_join(F->hashers[i], NULL);
}

int fetch_all(const struct fetch_opts *o, struct fetch_item *items, size_t n, uint64_t *kept,
              uint64_t *received, struct lm_err *err)
{
    struct fetch F;
    int ret = -1;
    memset(&F, 0, sizeof(F));
    F.o = o;
    F.n = n;
    F.chunk_size = chunk_size();
    *kept = *received = 0;
    if (n == 0)
        return 0;
    if (!(F.files = calloc(n, sizeof(*F.files))))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < n; i++)
        F.files[i].it = &items[i];
    raise_fd_limit(n + o->connections);
    pthread_mutex_init(&F.mu, NULL);
    pthread_cond_init(&F.hash_cv, NULL);
    pthread_cond_init(&F.recv_cv, NULL);
    pthread_cond_init(&F.main_cv, NULL);
    bool started = start_threads(&F, o->connections ? o->connections : 8, err) == 0;
    double t0 = lm_now();
    uint64_t seen = 0;
    while (started) {
        pthread_mutex_lock(&F.mu);
        redo_files(&F);
        bool end = F.failed || all_verified(&F);
        if (!end)
            timed_wait(&F.main_cv, &F.mu, TICK_S);
        pthread_mutex_unlock(&F.mu);
        publish(&F, &seen);
        if (end)
            break;
    }
    lm_debugf(2, "fetch: %llu bytes in %.2f s", (unsigned long long)seen, lm_now() - t0);
    stop_threads(&F, received);
    publish(&F, &seen);
    *kept = F.kept;
    if (!started || F.failed) {
        if (started)
            *err = F.err;
        for (size_t i = 0; i < n; i++) {
            if (started && permanent(F.err.code))
                lm_partial_discard(F.files[i].p);
            else
                lm_partial_close(F.files[i].p);
            F.files[i].p = NULL;
        }
        goto out;
    }
    /* Every file verified: a check of them all (the model's signature) may still refuse them;
     * only then do their bytes become blobs. */
    for (size_t i = 0; i < n; i++)
        items[i].tmp_path = lm_partial_path(F.files[i].p);
    if (o->verified && o->verified(o->ctx, items, n, err)) {
        for (size_t i = 0; i < n; i++) {
            lm_partial_discard(F.files[i].p);
            F.files[i].p = NULL;
            items[i].tmp_path = NULL;
        }
        goto out;
    }
    ret = 0;
    for (size_t i = 0; i < n; i++) {
        struct ffile *f = &F.files[i];
        if (ret == 0) {
            ret = lm_partial_commit(f->p, &f->it->blob, err);
            f->it->pub->state = ret ? LM_PULL_FAILED : LM_PULL_STORED;
        } else {
            lm_partial_discard(f->p);
        }
        f->p = NULL;
        f->it->tmp_path = NULL;
    }
    if (ret == 0)
        ret = lm_partial_sync(o->s, err);
out:
    pthread_mutex_destroy(&F.mu);
    pthread_cond_destroy(&F.hash_cv);
    pthread_cond_destroy(&F.recv_cv);
    pthread_cond_destroy(&F.main_cv);
    for (size_t i = 0; i < n; i++)
        free(F.files[i].final_url);
    free(F.files);
    return ret;
}
