/* matmul.c: weight-times-activations products on the thread pool.
 * The input rows are quantized once per activation type, then the threads take chunks of
 * weight rows from a shared counter and sweep every token over each chunk, so a chunk of
 * weights is read from memory once per call however many tokens there are. Prompts go in tiles
 * of RT_TILE rows x RT_TILE tokens (K-quant rows unpacked once into the thread's room first);
 * decoding hands a thread's rows to one kernel call. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model.h"
#include "../common/banned.h"

#define BLOCK_ROWS 8        /* rows that sweep all tokens together (their weights stay in L1) */
#define CHUNKS_PER_THREAD 4  /* contiguous row ranges per thread, for balance when one is slow */
#define MAX_GROUP 3

struct mm_job {
    const struct rt_kernels *k;
    const float *x;
    uint32_t nb, cols;
    int n;
    const struct gguf_tensor *w[MAX_GROUP];
    float *y[MAX_GROUP];
    const uint8_t *act[MAX_GROUP];      /* the input in w[i]'s activation type */
    size_t act_stride[MAX_GROUP];
    /* distinct activation types to make */
    int n_make;
    uint32_t make_type[MAX_GROUP];
    uint8_t *make_buf[MAX_GROUP];
    uint32_t n_chunks[MAX_GROUP];
    uint32_t chunk_rows[MAX_GROUP];   /* a thread streams this many consecutive rows */
    uint32_t total_chunks;
    uint8_t *rooms;                   /* each thread's room for unpacked rows */
    size_t room_bytes;
    atomic_uint next;
};

/* Room for BLOCK_ROWS unpacked weight rows of cols elements, 64-byte aligned. */
static size_t unpack_room(uint32_t cols)
{
    return ((size_t)BLOCK_ROWS * (cols / RT_QK_K + 1) * RT_UNPACKED_BYTES + 63) & ~(size_t)63;
}

size_t rt_matmul_scratch(uint32_t nb, uint32_t cols, int n_threads)
{
    /* At most MAX_GROUP activation types, none over 2 bytes per element; then each thread's
     * unpacked rows. */
    return (size_t)MAX_GROUP * nb * cols * 2 + 64 + (size_t)n_threads * unpack_room(cols) + 64;
}

static void quantize_task(void *arg, int ith, int nth)
{
    struct mm_job *j = arg;
    for (int i = 0; i < j->n_make; i++) {
        rt_quant_fn q = j->k->quant[j->make_type[i]];
        size_t stride = rt_act_bytes(j->make_type[i], j->cols);
        for (uint32_t t = (uint32_t)ith; t < j->nb; t += (uint32_t)nth)
            q(j->x + (size_t)t * j->cols, j->make_buf[i] + t * stride, (int)j->cols);
    }
}

/* One weight row against nt (at most RT_TILE) activation rows. */
static void row_tokens(const struct rt_kernels *k, uint32_t type, int cols, const uint8_t *w,
                       const uint8_t *a, size_t stride, int nt, float *y, size_t y_stride)
{
    float out[RT_TILE];
    if (k->dotn[type] && nt > 1) {
        k->dotn[type](cols, w, a, stride, nt, out);
    } else {
        for (int i = 0; i < nt; i++)
            out[i] = k->dot[type](cols, w, a + i * stride);
    }
    for (int i = 0; i < nt; i++)
        y[i * y_stride] = out[i];
}

/* Rows [r0, r1) (at most BLOCK_ROWS) of a weight (row_bytes apart) against nb activation
 * rows: full tiles of RT_TILE x RT_TILE where the kernel has them, their rows unpacked once into
 * `room` first where the kernel wants that; the ragged edges a row at a time. */
static void rows_tokens(const struct rt_kernels *k, uint32_t type, int cols, const uint8_t *w,
                        size_t row_bytes, uint32_t r0, uint32_t r1, const uint8_t *a,
                        size_t stride, uint32_t nb, float *y, size_t y_stride, uint8_t *room)
{
    rt_gemm_fn gemm = nb >= RT_TILE ? k->gemm[type] : NULL;
    uint32_t tiled = gemm ? r0 + (r1 - r0) / RT_TILE * RT_TILE : r0;
    const uint8_t *gw = w + r0 * row_bytes;
    size_t g_stride = row_bytes;
    if (gemm && k->unpack[type]) {
        g_stride = (size_t)cols / RT_QK_K * RT_UNPACKED_BYTES;
        for (uint32_t r = r0; r < tiled; r++)
            k->unpack[type](cols, w + r * row_bytes, room + (r - r0) * g_stride);
        gw = room;
    }
    for (uint32_t t = 0; t < nb; t += RT_TILE) {
        const uint8_t *at = a + t * stride;
        float *yt = y + (size_t)t * y_stride;
        int nt = nb - t < RT_TILE ? (int)(nb - t) : RT_TILE;
        uint32_t r = r0;
        if (nt == RT_TILE) {
            for (; r < tiled; r += RT_TILE)
                gemm(cols, gw + (r - r0) * g_stride, g_stride, at, stride, yt + r, y_stride);
        }
        for (; r < r1; r++)
            row_tokens(k, type, cols, w + r * row_bytes, at, stride, nt, yt + r, y_stride);
    }
}

/* Rows [r0, r1) of a weight against nb activation rows: one token goes through the kernel's
 * row loop in one call where it has one; more go BLOCK_ROWS rows at a time. */
static void block_rows(const struct rt_kernels *k, uint32_t type, int cols, const uint8_t *w,
                       size_t row_bytes, uint32_t r0, uint32_t r1, const uint8_t *a,
                       size_t stride, uint32_t nb, float *y, size_t y_stride, uint8_t *room)
{
    if (nb == 1 && k->dotr[type]) {
        k->dotr[type](cols, w + r0 * row_bytes, row_bytes, (int)(r1 - r0), a, y + r0);
        return;
    }
    for (uint32_t b0 = r0; b0 < r1; b0 += BLOCK_ROWS) {
        uint32_t b1 = b0 + BLOCK_ROWS < r1 ? b0 + BLOCK_ROWS : r1;
        rows_tokens(k, type, cols, w, row_bytes, b0, b1, a, stride, nb, y, y_stride, room);
    }
}

/* Rows [r0, r1) of weight wi against every token. */
static void dot_rows(const struct mm_job *j, int wi, uint32_t r0, uint32_t r1, uint8_t *room)
{
    const struct gguf_tensor *w = j->w[wi];
    block_rows(j->k, w->type, (int)j->cols, w->data, (size_t)(w->nbytes / w->ne[1]), r0, r1,
               j->act[wi], j->act_stride[wi], j->nb, j->y[wi], (size_t)w->ne[1], room);
}

static void dot_task(void *arg, int ith, int nth)
{
    (void)nth;
    struct mm_job *j = arg;
    uint8_t *room = j->rooms + (size_t)ith * j->room_bytes;
    for (;;) {
        uint32_t c = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (c >= j->total_chunks)
            return;
        int wi = 0;
        while (c >= j->n_chunks[wi])
            c -= j->n_chunks[wi++];
        uint32_t rows = (uint32_t)j->w[wi]->ne[1], r0 = c * j->chunk_rows[wi];
        dot_rows(j, wi, r0, r0 + j->chunk_rows[wi] < rows ? r0 + j->chunk_rows[wi] : rows, room);
    }
}

void rt_matmul(struct rt_pool *pool, const struct rt_kernels *k, const float *x, uint32_t nb,
               uint32_t cols, int n, const struct gguf_tensor *const *w, float *const *y,
               void *scratch)
{
    struct mm_job j;
    memset(&j, 0, sizeof(j));
    j.k = k;
    j.x = x;
    j.nb = nb;
    j.cols = cols;
    j.n = n;
    uint8_t *buf = scratch;
    for (int i = 0; i < n; i++) {
        j.w[i] = w[i];
        j.y[i] = y[i];
        uint32_t act = rt_wtype_get(w[i]->type)->act;
        j.act_stride[i] = rt_act_bytes(act, cols);
        if (act == LM_TYPE_F32) {
            j.act[i] = (const uint8_t *)x;
        } else {
            int m = 0;
            while (m < j.n_make && j.make_type[m] != act)
                m++;
            if (m == j.n_make) {
                j.make_type[m] = act;
                j.make_buf[m] = buf;
                buf += j.act_stride[i] * nb;
                j.n_make++;
            }
            j.act[i] = j.make_buf[m];
        }
        /* Long contiguous ranges keep each thread's weight reads one sequential stream. */
        uint32_t rows = (uint32_t)w[i]->ne[1], parts = (uint32_t)rt_pool_size(pool) * CHUNKS_PER_THREAD;
        uint32_t cr = (rows + parts - 1) / parts;
        j.chunk_rows[i] = (cr + BLOCK_ROWS - 1) / BLOCK_ROWS * BLOCK_ROWS;
        j.n_chunks[i] = (rows + j.chunk_rows[i] - 1) / j.chunk_rows[i];
        j.total_chunks += j.n_chunks[i];
    }
    j.room_bytes = unpack_room(cols);
    j.rooms = (uint8_t *)(((uintptr_t)buf + 63) & ~(uintptr_t)63);
    if (j.n_make > 0) {
        if (nb == 1)
            quantize_task(&j, 0, 1);
        else
            rt_pool_run(pool, quantize_task, &j);
    }
    atomic_store(&j.next, 0);
    rt_pool_run(pool, dot_task, &j);
}

/* ---- single-threaded entry points for tests and benchmarks ------------------------------- */

int lm_matmul(int level, uint32_t wtype, const void *w, size_t rows, size_t cols,
              const float *x, size_t n_tok, float *y, struct lm_err *err)
{
    const struct rt_kernels *k = rt_kernels_for(level);
    const struct rt_wtype *wt = rt_wtype_get(wtype);
    uint64_t row_bytes;
    if (!k)
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "this CPU cannot run the %s kernels", lm_kernels_name(level));
    if (!wt || cols % wt->block != 0 || lm_type_nbytes(wtype, cols, &row_bytes) < 0 ||
        cols > (1u << 24))
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                          "no kernel for type %u with rows of %zu", wtype, cols);
    size_t stride = rt_act_bytes(wt->act, cols), bytes;
    uint8_t *a = NULL, *room_buf = malloc(unpack_room((uint32_t)cols) + 64);
    uint8_t *room = (uint8_t *)(((uintptr_t)room_buf + 63) & ~(uintptr_t)63);
    if (!ckd_mul(&bytes, stride, n_tok) && room_buf)
        a = malloc(bytes ? bytes : 1);
    if (!a) {
        free(room_buf);
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    }
    for (size_t t = 0; t < n_tok; t++)
        k->quant[wt->act](x + t * cols, a + t * stride, (int)cols);
    block_rows(k, wtype, (int)cols, w, row_bytes, 0, (uint32_t)rows, a, stride, (uint32_t)n_tok,
               y, rows, room);
    free(room_buf);
    free(a);
    return 0;
}
