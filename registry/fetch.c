/* fetch.c: downloading files: Range chunks of every file on up to N connections, in file order,
 * written at their offsets; worker threads hash each file in order as its bytes become
 * contiguous and verify it; blobs are renamed into the store only when every file verified. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "internal.h"
#include "../common/banned.h"

/* Small enough that the hash, which must go in order, trails the parallel chunks by little at
 * the end of a file; large enough that the request per chunk costs nothing. */
#define DEFAULT_CHUNK (16u << 20)
#define HASH_STEP (8u << 20)
#define TICK_S 0.1
#define MAX_WORKERS 8

struct ffile {
    struct fetch_item *it;
    struct lm_partial *p;
    size_t next_chunk;              /* chunks below this were submitted or were complete */
    unsigned inflight;
    char *final_url;                /* where this file's bytes came from after redirects */
    bool final_auth;
    uint64_t kept, received;
    bool resumed, retried_fresh;
    /* Shared with the workers, under fetch.mu. */
    bool dirty, busy, verified, failed, redo;
    struct lm_err err;
};

struct fetch {
    const struct fetch_opts *o;
    struct ffile *files;
    size_t n, cursor;
    unsigned inflight, conns;
    uint64_t chunk_size;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t threads[MAX_WORKERS];
    unsigned n_threads;
    bool stop, failed;
    struct lm_err err;              /* the first failure */
    uint64_t kept;
    struct chunk_req *reqs;         /* in flight */
};

struct chunk_req {
    struct http_req r;
    struct fetch *F;
    struct ffile *f;
    size_t chunk;
    uint64_t skip;                  /* bytes of a whole-file (200) answer before our range */
    bool whole;
    uint64_t progress;              /* bytes this request wrote */
    struct chunk_req *next;
};

static void unlink_chunk(struct fetch *F, struct chunk_req *c)
{
    for (struct chunk_req **p = &F->reqs; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    F->inflight--;
    c->f->inflight--;
    free(c->r.cur);
    free(c);
}

/* ---- failures ----------------------------------------------------------------------------- */

/* Record the first failure; later ones are consequences. Called with mu held. */
static void fail_locked(struct fetch *F, const struct lm_err *e)
{
    if (!F->failed) {
        F->failed = true;
        F->err = *e;
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

/* ---- workers: hash in order, verify --------------------------------------------------------- */

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

static void *worker(void *arg)
{
    struct fetch *F = arg;
    pthread_mutex_lock(&F->mu);
    while (!F->stop) {
        struct ffile *f = next_work(F);
        if (!f) {
            pthread_cond_wait(&F->cv, &F->mu);
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
            f->err = e;
            fail_locked(F, &e);
        }
        if (rc != 0)
            http_wakeup(F->o->h);
    }
    pthread_mutex_unlock(&F->mu);
    return NULL;
}

static void mark_dirty(struct fetch *F, struct ffile *f)
{
    pthread_mutex_lock(&F->mu);
    f->dirty = true;
    pthread_cond_signal(&F->cv);
    pthread_mutex_unlock(&F->mu);
}

/* ---- chunk requests ------------------------------------------------------------------------ */

static int chunk_start(struct http_req *r)
{
    struct chunk_req *c = r->ctx;
    uint64_t s, e, d;
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
    if (strcmp(r->cur, r->url) != 0 && (!f->final_url || strcmp(f->final_url, r->cur) != 0)) {
        free(f->final_url);
        f->final_url = strdup(r->cur);   /* later chunks go straight there */
        f->final_auth = r->cur_auth;
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
    uint64_t room = e - (s + d);
    bool enough = false;
    if (n > room) {
        if (!c->whole)
            return lm_err_set(&r->err, LM_ECORRUPT, r->label, e,
                              "the server sent more bytes than the range asked for");
        n = (size_t)room;
        enough = true;
    }
    if (n && lm_partial_write(c->f->p, c->chunk, p, n, &r->err))
        return -1;
    c->f->received += n;
    c->progress += n;
    mark_dirty(c->F, c->f);
    return enough || (c->whole && n == room) ? 1 : 0;
}

static int submit_chunk(struct fetch *F, struct ffile *f, size_t chunk);

static void chunk_done(struct http_req *r)
{
    struct chunk_req *c = r->ctx;
    struct fetch *F = c->F;
    struct ffile *f = c->f;
    size_t chunk = c->chunk;
    uint64_t s, e, d, progress = c->progress;
    struct lm_err re = r->err;
    int rc = r->rc;
    unlink_chunk(F, c);
    lm_partial_chunk(f->p, chunk, &s, &e, &d);
    if (s + d == e)
        return;
    if (rc == 0 && progress > 0) {      /* a shorter range than asked for: ask for the rest */
        submit_chunk(F, f, chunk);
        return;
    }
    if (rc == 0)
        lm_err_set(&re, LM_ECORRUPT, f->it->label, s + d,
                   "the body ended %llu bytes short of the range", (unsigned long long)(e - s - d));
    fail(F, &re);
}

static int submit_chunk(struct fetch *F, struct ffile *f, size_t chunk)
{
    struct chunk_req *c = calloc(1, sizeof(*c));
    if (!c) {
        struct lm_err e;
        lm_err_set(&e, LM_ENOMEM, f->it->label, LM_NO_OFFSET, "out of memory");
        fail(F, &e);
        return -1;
    }
    c->F = F;
    c->f = f;
    c->chunk = chunk;
    c->r.url = f->it->url;
    c->r.hint = f->final_url;
    c->r.hint_auth = f->final_auth;
    c->r.label = f->it->label;
    c->r.start = chunk_start;
    c->r.on_headers = chunk_headers;
    c->r.on_body = chunk_body;
    c->r.on_done = chunk_done;
    c->r.ctx = c;
    if (http_submit(F->o->h, &c->r)) {
        fail(F, &c->r.err);
        free(c->r.cur);
        free(c);
        return -1;
    }
    c->next = F->reqs;
    F->reqs = c;
    F->inflight++;
    f->inflight++;
    return 0;
}

/* ---- scheduling -------------------------------------------------------------------------- */

static int open_file(struct fetch *F, struct ffile *f)
{
    struct lm_err e;
    const struct lm_hf_file *hf = f->it->f;
    const char *key = hf->sha256[0] ? hf->sha256 : hf->oid;
    f->p = lm_partial_open(F->o->s, key, f->it->media_type, hf->size, F->chunk_size,
                           hf->sha256[0] ? 0 : LM_PARTIAL_GIT_SHA1, f->it->label, &e);
    if (!f->p) {
        fail(F, &e);
        return -1;
    }
    f->kept = lm_partial_kept(f->p);
    f->resumed = f->kept > 0;
    F->kept += f->kept;
    f->next_chunk = 0;
    f->it->pub->state = LM_PULL_ACTIVE;
    mark_dirty(F, f);               /* kept bytes (or an empty file) can be hashed at once */
    return 0;
}

/* Start chunks, in file order, until every connection is busy. */
static void schedule(struct fetch *F)
{
    for (size_t i = F->cursor; i < F->n && F->inflight < F->conns && !F->failed; i++) {
        struct ffile *f = &F->files[i];
        if (f->verified || f->failed || f->redo) {
            if (i == F->cursor)
                F->cursor++;
            continue;
        }
        if (!f->p && open_file(F, f))
            return;
        size_t n = lm_partial_chunks(f->p);
        while (f->next_chunk < n && F->inflight < F->conns) {
            uint64_t s, e, d;
            lm_partial_chunk(f->p, f->next_chunk, &s, &e, &d);
            size_t k = f->next_chunk++;
            if (s + d < e && submit_chunk(F, f, k))
                return;
        }
        if (f->next_chunk == n && i == F->cursor && f->inflight == 0)
            F->cursor++;            /* nothing left to ask for: the workers finish it */
    }
}

/* A file whose kept bytes did not verify: drop them and download it again, once. */
static void redo_files(struct fetch *F)
{
    pthread_mutex_lock(&F->mu);
    for (size_t i = 0; i < F->n; i++) {
        struct ffile *f = &F->files[i];
        if (!f->redo || f->busy)
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
    }
    pthread_mutex_unlock(&F->mu);
}

static void publish(struct fetch *F)
{
    pthread_mutex_lock(&F->mu);
    for (size_t i = 0; i < F->n; i++) {
        struct ffile *f = &F->files[i];
        struct lm_pull_file *pub = f->it->pub;
        pub->done = f->kept + f->received;
        if (f->verified)
            pub->state = LM_PULL_VERIFIED;
        else if (f->failed)
            pub->state = LM_PULL_FAILED;
    }
    pthread_mutex_unlock(&F->mu);
    if (F->o->tick)
        F->o->tick(F->o->ctx);
}

static bool all_verified(struct fetch *F)
{
    bool all = true;
    pthread_mutex_lock(&F->mu);
    for (size_t i = 0; i < F->n && all; i++)
        all = F->files[i].verified;
    pthread_mutex_unlock(&F->mu);
    return all;
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

static int start_workers(struct fetch *F, struct lm_err *err)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned want = cpus > 1 ? (unsigned)cpus : 1;
    /* At least two: one can wait in fsync while another hashes. */
    if (want < 2)
        want = 2;
    if (want > MAX_WORKERS)
        want = MAX_WORKERS;
    for (unsigned i = 0; i < want; i++) {
        if (pthread_create(&F->threads[i], NULL, worker, F) != 0) {
            if (i == 0)
                return lm_err_set(err, LM_EIO, NULL, LM_NO_OFFSET, "cannot start a thread");
            break;
        }
        F->n_threads++;
    }
    return 0;
}

static void stop_workers(struct fetch *F)
{
    pthread_mutex_lock(&F->mu);
    F->stop = true;
    pthread_cond_broadcast(&F->cv);
    pthread_mutex_unlock(&F->mu);
    for (unsigned i = 0; i < F->n_threads; i++)
        pthread_join(F->threads[i], NULL);
    F->n_threads = 0;
}

static uint64_t chunk_size(void)
{
    uint64_t v;
    const char *s = getenv("LM_PULL_CHUNK_BYTES");
    return s && lm_parse_u64(s, 1024, 1ull << 40, &v) == 0 ? v : DEFAULT_CHUNK;
}

/* After a failure: drop the transfers still running or waiting to retry. */
static void cancel_all(struct fetch *F)
{
    while (F->reqs) {
        struct chunk_req *c = F->reqs;
        http_cancel(F->o->h, &c->r);
        unlink_chunk(F, c);
    }
}

int fetch_all(const struct fetch_opts *o, struct fetch_item *items, size_t n, uint64_t *kept,
              struct lm_err *err)
{
    struct fetch F;
    int ret = -1;
    memset(&F, 0, sizeof(F));
    F.o = o;
    F.n = n;
    F.conns = o->connections ? o->connections : 8;
    F.chunk_size = chunk_size();
    *kept = 0;
    if (n == 0)
        return 0;
    if (!(F.files = calloc(n, sizeof(*F.files))))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < n; i++)
        F.files[i].it = &items[i];
    raise_fd_limit(n + F.conns);
    pthread_mutex_init(&F.mu, NULL);
    pthread_cond_init(&F.cv, NULL);
    if (start_workers(&F, err))
        goto out;
    double last = 0;
    for (;;) {
        redo_files(&F);
        if (F.failed || all_verified(&F))
            break;
        schedule(&F);
        http_run(o->h, (long)(TICK_S * 1000));
        if (lm_now() - last >= TICK_S) {
            publish(&F);
            last = lm_now();
        }
    }
    cancel_all(&F);
    stop_workers(&F);
    publish(&F);
    *kept = F.kept;
    if (F.failed) {
        *err = F.err;
        for (size_t i = 0; i < n; i++) {
            if (permanent(F.err.code))
                lm_partial_discard(F.files[i].p);
            else
                lm_partial_close(F.files[i].p);
            F.files[i].p = NULL;
        }
        goto out;
    }
    /* Every file verified: only now do their bytes become blobs. */
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
    }
out:
    pthread_mutex_destroy(&F.mu);
    pthread_cond_destroy(&F.cv);
    for (size_t i = 0; i < n; i++)
        free(F.files[i].final_url);
    free(F.files);
    return ret;
}
