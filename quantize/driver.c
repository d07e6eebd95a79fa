/* driver.c: the streaming quantizer: GGUF metadata as llama-quantize writes it, then each tensor
 * of the plan in order, its row chunks converted and quantized by a pool of threads. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "quantize.h"
#include "../common/banned.h"

#define CHUNK_ELEMS (64 * 1024)   /* floats per work item: big enough to amortise, small for balance */
#define MAX_THREADS 512

/* One tensor being converted. Rows [chunk * rows_per_chunk, ...) go to chunk. */
struct job {
    const struct lm_plan_entry *e;
    const uint8_t *src;           /* input bytes of the tensor (in the map) */
    uint8_t *dst;                 /* e->out_bytes */
    uint64_t ne0, nrows, rows_per_chunk, nchunks;
    uint64_t src_row_bytes, dst_row_bytes;
    atomic_uint_fast64_t next;    /* next chunk to take */
    atomic_uint_fast64_t bad_row; /* first row that failed, or UINT64_MAX */
    atomic_int bad_kind;          /* 1: non-finite input, 2: non-finite output */
};

struct worker {
    struct pool *pool;
    pthread_t th;
    float *f32;                   /* rows_per_chunk * ne0 floats */
    size_t f32_cap;
    uint8_t *bounce;              /* an unaligned chunk's input bytes, copied */
    size_t bounce_cap;
    bool started, oom;
};

struct pool {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    struct job *job;              /* NULL between tensors */
    uint64_t gen;                 /* bumps per job */
    int busy;                     /* workers still inside the current job */
    bool quit;
    int n;                        /* workers, the calling thread included as worker 0 */
    struct worker *w;
};

static int grow(void **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    void *q = realloc(*p, need);
    if (!q)
        return -1;
    *p = q;
    *cap = need;
    return 0;
}

static bool finite_row(const float *x, size_t n, size_t *at)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        if ((u & 0x7f800000) == 0x7f800000) {
            *at = i;
            return false;
        }
    }
    return true;
}

static void note_bad(struct job *j, uint64_t row, int kind)
{
    uint_fast64_t cur = atomic_load(&j->bad_row);
    while (row < cur && !atomic_compare_exchange_weak(&j->bad_row, &cur, row))
        ;
    if (atomic_load(&j->bad_row) == row)
        atomic_store(&j->bad_kind, kind);
}

static void run_chunk(struct worker *w, struct job *j, uint64_t c)
{
    const uint64_t r0 = c * j->rows_per_chunk;
    const uint64_t nr = j->nrows - r0 < j->rows_per_chunk ? j->nrows - r0 : j->rows_per_chunk;
    const size_t n = (size_t)(nr * j->ne0);
    const uint8_t *src = j->src + r0 * j->src_row_bytes;
    uint8_t *dst = j->dst + r0 * j->dst_row_bytes;
    const uint32_t from = j->e->t->type, to = j->e->to;
    if ((uintptr_t)src % 4) {   /* GGUF alignment 1 or 2: typed access needs a copy */
        if (grow((void **)&w->bounce, &w->bounce_cap, (size_t)(nr * j->src_row_bytes))) {
            w->oom = true;
            return;
        }
        memcpy(w->bounce, src, (size_t)(nr * j->src_row_bytes));
        src = w->bounce;
    }
    const float *x;
    if (from == LM_TYPE_F32) {
        x = (const float *)src;
    } else {
        if (grow((void **)&w->f32, &w->f32_cap, n * sizeof(float))) {
            w->oom = true;
            return;
        }
        lm_to_f32_row(from, src, w->f32, n);
        x = w->f32;
    }
    size_t at;
    if (!finite_row(x, n, &at)) {
        note_bad(j, r0 + at / j->ne0, 1);
        return;
    }
    lm_quantize_row(to, x, dst, n);
    for (uint64_t r = 0; r < nr; r++) {
        if (!lm_quant_row_valid(to, dst + r * j->dst_row_bytes, (size_t)j->dst_row_bytes)) {
            note_bad(j, r0 + r, 2);
            return;
        }
    }
}

static void work(struct worker *w, struct job *j)
{
    for (;;) {
        uint64_t c = atomic_fetch_add(&j->next, 1);
        if (c >= j->nchunks || w->oom)
            return;
        run_chunk(w, j, c);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *p = w->pool;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->gen == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        struct job *j = p->job;
        pthread_mutex_unlock(&p->mu);
        work(w, j);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int pool_start(struct pool *p, int n, struct lm_err *err)
{
    memset(p, 0, sizeof(*p));
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->w = calloc((size_t)n, sizeof(*p->w));
    if (!p->w)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    p->n = n;
    for (int i = 0; i < n; i++) {
        p->w[i].pool = p;
        if (i == 0)
            continue;
        int rc = pthread_create(&p->w[i].th, NULL, worker_main, &p->w[i]);
        if (rc != 0) {
            p->n = i;   /* run with the threads we got */
            break;
        }
        p->w[i].started = true;
    }
    return 0;
}

static void pool_stop(struct pool *p)
{
    if (!p->w)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        if (p->w[i].started)
            pthread_join(p->w[i].th, NULL);
    for (int i = 0; i < p->n; i++) {
        free(p->w[i].f32);
        free(p->w[i].bounce);
    }
    free(p->w);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
}

/* Run one job on every worker and the calling thread; returns when all chunks are done. */
static int pool_run(struct pool *p, struct job *j)
{
    pthread_mutex_lock(&p->mu);
    p->job = j;
    p->busy = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    work(&p->w[0], j);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    p->job = NULL;
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (p->w[i].oom)
            return -1;
    return 0;
}

/* ---- metadata ---------------------------------------------------------------------------- */

static bool dropped_key(const struct gguf_kv *kv)
{
    static const char *const keys[] = {
        "general.quantization_version", "general.file_type", "split.no", "split.count",
        "split.tensors.count",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (kv->key.len == strlen(keys[i]) && memcmp(kv->key.p, keys[i], kv->key.len) == 0)
            return true;
    return false;
}

/* llama-quantize copies every kv, then sets quantization_version and file_type again, which
 * moves them to the end, and drops the split keys. */
static int build_header(struct gguf_writer *w, const struct gguf *g, const struct lm_plan *plan,
                        const struct lm_quant_opts *o, struct lm_err *err)
{
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        const struct gguf_kv *kv = gguf_kv_at(g, i);
        if (dropped_key(kv))
            continue;
        if (gguf_writer_add_kv(w, kv, err) != 0)
            return -1;
    }
    if (gguf_writer_set_alignment(w, gguf_alignment(g), err) != 0 ||
        gguf_writer_add_u32(w, "general.quantization_version", 2, err) != 0 ||
        gguf_writer_add_u32(w, "general.file_type", (uint32_t)o->ftype, err) != 0)
        return -1;
    for (size_t i = 0; i < plan->n; i++) {
        const struct lm_plan_entry *e = &plan->e[i];
        if (gguf_writer_add_tensor(w, e->t->name, e->to, e->n_dims, e->t->ne, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- tensors ----------------------------------------------------------------------------- */

static int convert_tensor(struct pool *p, struct job *j, const struct lm_plan_entry *e,
                          uint8_t **buf, size_t *cap, const char *path, struct lm_err *err)
{
    const struct gguf_tensor *t = e->t;
    memset(j, 0, sizeof(*j));
    j->e = e;
    j->src = t->data;
    j->ne0 = t->ne[0];
    j->nrows = j->ne0 ? t->nelem / j->ne0 : 0;
    if (lm_type_nbytes(t->type, j->ne0, &j->src_row_bytes) != 0 ||
        lm_type_nbytes(e->to, j->ne0, &j->dst_row_bytes) != 0)
        return lm_err_set(err, LM_EINTERNAL, path, LM_NO_OFFSET, "tensor '%s': bad row", t->name);
    j->rows_per_chunk = j->ne0 >= CHUNK_ELEMS ? 1 : CHUNK_ELEMS / j->ne0;
    j->nchunks = (j->nrows + j->rows_per_chunk - 1) / j->rows_per_chunk;
    atomic_init(&j->next, 0);
    atomic_init(&j->bad_row, UINT64_MAX);
    atomic_init(&j->bad_kind, 0);
    if (grow((void **)buf, cap, (size_t)e->out_bytes ? (size_t)e->out_bytes : 1))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET,
                          "out of memory for tensor '%s' (%llu bytes)", t->name,
                          (unsigned long long)e->out_bytes);
    j->dst = *buf;
    if (j->nrows && pool_run(p, j) != 0)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory in tensor '%s'",
                          t->name);
    uint64_t bad = atomic_load(&j->bad_row);
    if (bad != UINT64_MAX) {
        if (atomic_load(&j->bad_kind) == 1)
            return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                              "tensor '%s' row %llu holds Inf or NaN", t->name,
                              (unsigned long long)bad);
        return lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                          "tensor '%s' row %llu does not fit %s (a scale overflows)", t->name,
                          (unsigned long long)bad, lm_type_get(e->to)->name);
    }
    return 0;
}

static int threads_for(const struct lm_quant_opts *o)
{
    long n = o->threads > 0 ? o->threads : sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/* ---- the writing thread: tensor i is written while tensor i+1 is computed ----------------- */

struct wq {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct gguf_writer *w;
    const void *p;               /* pending write, NULL if none */
    size_t n;
    const uint8_t *release;      /* input pages to drop after the write */
    uint64_t release_len;
    bool quit, failed;
    struct lm_err err;
};

/* Drop a finished tensor's input pages from our address space (the page cache keeps them),
 * so the resident set stays near a few tensors however large the input. */
static void release_pages(const uint8_t *p, uint64_t len)
{
    const uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p / pg * pg, b = ((uintptr_t)p + len) / pg * pg;
    if (len && b > a)
        madvise((void *)a, b - a, MADV_DONTNEED);
}

static void *writer_main(void *arg)
{
    struct wq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->quit && !q->p)
            pthread_cond_wait(&q->cv, &q->mu);
        if (!q->p)
            break;
        const void *p = q->p;
        size_t n = q->n;
        pthread_mutex_unlock(&q->mu);
        int rc = q->failed ? -1 : gguf_writer_write_data(q->w, p, n, &q->err);
        release_pages(q->release, q->release_len);
        pthread_mutex_lock(&q->mu);
        if (rc != 0)
            q->failed = true;
        q->p = NULL;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Wait for the pending write; -1 if any write failed. */
static int wq_wait(struct wq *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->p)
        pthread_cond_wait(&q->cv, &q->mu);
    bool failed = q->failed;
    pthread_mutex_unlock(&q->mu);
    return failed ? -1 : 0;
}

static int wq_submit(struct wq *q, const void *p, size_t n, const struct gguf_tensor *t)
{
    if (wq_wait(q) != 0)
        return -1;
    pthread_mutex_lock(&q->mu);
    q->p = n ? p : (const void *)"";
    q->n = n;
    q->release = t->data;
    q->release_len = t->nbytes;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

static void wq_stop(struct wq *q)
{
    wq_wait(q);
    pthread_mutex_lock(&q->mu);
    q->quit = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->th, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

int lm_quantize_gguf_fd(const struct gguf *g, const char *src_path, const struct lm_plan *plan,
                        const struct lm_quant_opts *o, int fd, const char *dst_name,
                        lm_quant_progress_fn progress, void *progress_ctx, struct lm_err *err)
{
    struct gguf_writer *w = gguf_writer_new();
    struct pool pool = { 0 };
    struct wq q = { .w = w };
    bool writer = false;
    struct job job;
    uint8_t *buf[2] = { NULL, NULL };
    size_t cap[2] = { 0, 0 };
    int cur = 0;
    uint64_t done = 0;
    int ret = -1;
    if (!w) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    if (build_header(w, g, plan, o, err) != 0 || gguf_writer_begin(w, fd, dst_name, err) != 0)
        goto out;
    if (pool_start(&pool, threads_for(o), err) != 0)
        goto out;
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    if (pthread_create(&q.th, NULL, writer_main, &q) != 0) {
        pthread_mutex_destroy(&q.mu);
        pthread_cond_destroy(&q.cv);
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "cannot start the writing thread");
        goto out;
    }
    writer = true;
    for (size_t i = 0; i < plan->n; i++) {
        const struct lm_plan_entry *e = &plan->e[i];
        const void *data = e->t->data;
        if (e->convert) {
            /* buf[cur] was last written two tensors ago; wq_submit waited for that write. */
            if (convert_tensor(&pool, &job, e, &buf[cur], &cap[cur], src_path, err) != 0)
                goto out;
            data = buf[cur];
            cur ^= 1;
        }
        if (wq_submit(&q, data, (size_t)e->out_bytes, e->t) != 0)
            goto write_failed;
        done += e->t->nbytes;
        if (progress)
            progress(progress_ctx, done, plan->in_bytes);
    }
    if (wq_wait(&q) != 0)
        goto write_failed;
    if (gguf_writer_finish(w, err) != 0)
        goto out;
    ret = 0;
    goto out;
write_failed:
    *err = q.err;
out:
    if (writer)
        wq_stop(&q);
    pool_stop(&pool);
    free(buf[0]);
    free(buf[1]);
    gguf_writer_free(w);
    return ret;
}

int lm_quantize_gguf(const struct gguf *g, const char *src_path, const struct lm_plan *plan,
                     const struct lm_quant_opts *o, const char *dst,
                     lm_quant_progress_fn progress, void *progress_ctx, struct lm_err *err)
{
    struct lm_afile f;
    if (lm_afile_open(&f, dst, err) != 0)
        return -1;
    if (lm_quantize_gguf_fd(g, src_path, plan, o, f.fd, dst, progress, progress_ctx, err) != 0) {
        lm_afile_abort(&f);
        return -1;
    }
    return lm_afile_commit(&f, err);
}
