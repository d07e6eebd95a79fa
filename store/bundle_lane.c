/* bundle_lane.c: the second thread of a bundle import. The reading thread decompresses and
 * fills 1 MiB buffers; the lane hashes each and writes it to the blob's temp file, so
 * decompression overlaps hashing and writing. */
#include <stdlib.h>
#include <string.h>

#include "bundle_int.h"
#include "../common/banned.h"

static void *lane_main(void *arg)
{
    struct bundle_lane *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (l->n_full == 0 && !l->quit)
            pthread_cond_wait(&l->cv, &l->mu);
        if (l->n_full == 0)
            break;
        size_t i = l->head;
        bool skip = l->failed;
        pthread_mutex_unlock(&l->mu);
        const uint8_t *p = l->buf[i];
        size_t n = l->len[i];
        int rc = 0;
        if (!skip) {
            if (l->fd >= 0) {
                if (l->nul_at == UINT64_MAX) {
                    const uint8_t *z = memchr(p, 0, n);
                    if (z)
                        l->nul_at = l->got + (uint64_t)(z - p);
                }
                store_fault_point();
                rc = lm_write_all(l->fd, p, n, l->path, &l->err);
            }
            lm_sha256_update(l->h, p, n);
            l->got += n;
        }
        pthread_mutex_lock(&l->mu);
        if (rc)
            l->failed = true;
        l->head = (l->head + 1) % BUNDLE_LANE_BUFS;
        l->n_full--;
        pthread_cond_broadcast(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int bundle_lane_start(struct bundle_lane *l, struct lm_err *err)
{
    memset(l, 0, sizeof(*l));
    l->fd = -1;
    for (int i = 0; i < BUNDLE_LANE_BUFS; i++)
        if (!(l->buf[i] = malloc(BUNDLE_CHUNK)))
            goto nomem;
    if (!(l->h = lm_sha256_new()))
        goto nomem;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (pthread_create(&l->th, NULL, lane_main, l) != 0) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        bundle_lane_stop(l);
        return lm_err_set(err, LM_EINTERNAL, NULL, LM_NO_OFFSET, "cannot start a thread");
    }
    l->started = true;
    return 0;
nomem:
    bundle_lane_stop(l);
    return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
}

void bundle_lane_stop(struct bundle_lane *l)
{
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->quit = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        l->started = false;
    }
    for (int i = 0; i < BUNDLE_LANE_BUFS; i++) {
        free(l->buf[i]);
        l->buf[i] = NULL;
    }
    lm_sha256_free(l->h);
    l->h = NULL;
}

void bundle_lane_begin(struct bundle_lane *l, int fd, const char *path)
{
    /* The lane is idle here (drained after the previous blob). */
    uint8_t d[32];
    lm_sha256_final(l->h, d);   /* resets the context */
    l->fd = fd;
    l->path = path;
    l->got = l->fill_len = 0;
    l->nul_at = UINT64_MAX;
}

/* Hand the buffer being filled to the lane. */
static int push(struct bundle_lane *l)
{
    pthread_mutex_lock(&l->mu);
    l->len[l->fill] = l->fill_len;
    l->n_full++;
    pthread_cond_broadcast(&l->cv);
    /* The lane holds head .. head + n_full - 1; the slot after ours is free once n_full < N
     * (a failed lane still empties its slots, without writing). */
    while (l->n_full == BUNDLE_LANE_BUFS)
        pthread_cond_wait(&l->cv, &l->mu);
    int rc = l->failed ? -1 : 0;
    pthread_mutex_unlock(&l->mu);
    l->fill = (l->fill + 1) % BUNDLE_LANE_BUFS;
    l->fill_len = 0;
    return rc;
}

int bundle_lane_put(struct bundle_lane *l, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n) {
        size_t i = l->fill;   /* never a slot the lane holds: push waits for one */
        size_t k = BUNDLE_CHUNK - l->fill_len < n ? BUNDLE_CHUNK - l->fill_len : n;
        memcpy(l->buf[i] + l->fill_len, s, k);
        l->fill_len += k;
        s += k;
        n -= k;
        if (l->fill_len == BUNDLE_CHUNK && push(l))
            return -1;
    }
    return 0;
}

int bundle_lane_end(struct bundle_lane *l, char hex[65], uint64_t *got, uint64_t *nul_at,
                    struct lm_err *err)
{
    if (l->fill_len)
        push(l);   /* a failure shows below */
    pthread_mutex_lock(&l->mu);
    while (l->n_full)
        pthread_cond_wait(&l->cv, &l->mu);
    bool failed = l->failed;
    pthread_mutex_unlock(&l->mu);
    if (failed) {
        *err = l->err;
        return -1;
    }
    uint8_t d[32];
    lm_sha256_final(l->h, d);
    lm_hex(d, 32, hex);
    *got = l->got;
    *nul_at = l->nul_at;
    return 0;
}
