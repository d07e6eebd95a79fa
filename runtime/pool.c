/* pool.c: a fixed set of worker threads that run one task at a time with the caller.
 * Decoding one token dispatches a few hundred tasks of tens of microseconds each, so workers
 * spin a little before they sleep on a condition variable. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "../common/banned.h"

#define SPIN_LIMIT (1 << 14)

struct rt_pool {
    int n;                       /* threads, the caller included */
    pthread_t *threads;
    int started;
    atomic_uint_fast64_t gen;    /* bumped once per task */
    atomic_int pending;          /* workers still in the current task */
    atomic_int sleeping;
    atomic_bool stop;
    rt_task_fn fn;
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct worker_arg {
    struct rt_pool *p;
    int ith;
};

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker(void *v)
{
    struct worker_arg wa = *(struct worker_arg *)v;
    free(v);
    struct rt_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        uint64_t g;
        while ((g = atomic_load(&p->gen)) == seen) {
            if (++spins < SPIN_LIMIT) {
                relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleeping, 1);
            while (atomic_load(&p->gen) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleeping, 1);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        seen = g;
        if (atomic_load(&p->stop))
            return NULL;
        p->fn(p->arg, wa.ith, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

static void wake(struct rt_pool *p)
{
    if (atomic_load(&p->sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
}

struct rt_pool *rt_pool_new(int n_threads, struct lm_err *err)
{
    struct rt_pool *p = calloc(1, sizeof(*p));
    if (!p)
        goto nomem;
    p->n = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (p->n > 1) {
        p->threads = calloc((size_t)p->n - 1, sizeof(pthread_t));
        if (!p->threads)
            goto nomem;
    }
    for (int i = 1; i < p->n; i++) {
        struct worker_arg *wa = malloc(sizeof(*wa));
        if (!wa)
            goto nomem;
        wa->p = p;
        wa->ith = i;
        int rc = pthread_create(&p->threads[i - 1], NULL, worker, wa);
        if (rc != 0) {
            free(wa);
            rt_pool_free(p);
            errno = rc;
            lm_err_errno(err, NULL, "cannot start a worker thread");
            return NULL;
        }
        p->started++;
    }
    return p;
nomem:
    rt_pool_free(p);
    lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory for the thread pool");
    return NULL;
}

void rt_pool_free(struct rt_pool *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    atomic_fetch_add(&p->gen, 1);
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->threads);
    free(p);
}

int rt_pool_size(const struct rt_pool *p)
{
    return p->n;
}

void rt_pool_run(struct rt_pool *p, rt_task_fn fn, void *arg)
{
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->gen, 1);   /* seq_cst: publishes fn/arg, pairs with `sleeping` */
    wake(p);
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_LIMIT)
            relax();
        else
            sched_yield();
    }
}
