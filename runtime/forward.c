/* forward.c: contexts, the KV cache and the forward pass of llama-like models.
 *
 * The arithmetic follows llama.cpp's CPU graph so logits agree to float rounding: RMS norm sums
 * squares in double, RoPE angles are built by repeated multiplication in float, and attention
 * over an F32 cache is a plain softmax (llama.cpp's path without flash attention) while over an
 * F16 cache it is ggml's flash attention: Q rounded to f16, online softmax, V summed in f16. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model.h"
#include "../quantize/quantize.h"
#include "../common/banned.h"

#define DEFAULT_CTX 4096
#define DEFAULT_BATCH 512
#define MAX_CTX (1u << 20)
#define MAX_THREADS 256

struct lm_ctx {
    const struct lm_net *m;
    const struct lm_hparams *hp;
    uint32_t n_ctx, n_batch, n_past;
    enum lm_kv_type kv_type;
    size_t kv_elt;                /* bytes per cache element: 2 (f16) or 4 */
    uint32_t kv_dim;              /* n_head_kv * head_dim */
    uint8_t *kc, *vc;             /* (n_layer, n_ctx, kv_dim) */
    struct rt_pool *pool;
    /* per batch, each (n_batch, width) */
    float *x, *xn;                /* n_embd: residual stream, normed input of a block */
    float *q, *att;               /* n_head * head_dim */
    float *k, *v;                 /* kv_dim */
    float *tmp;                   /* n_embd */
    float *gate, *up;             /* n_ff */
    float *rope;                  /* n_rot: (cos, sin) per rotated pair */
    void *mm_scratch;
    float *att_scratch;           /* per thread: att_stride floats */
    size_t att_stride;
    float *logits;                /* (n_logits, n_vocab) */
    size_t logits_cap;            /* floats */
    uint32_t n_logits;
};

/* ---- context ----------------------------------------------------------------------------- */

static void *alloc_floats(size_t a, size_t b, bool *ok)
{
    size_t n;
    if (ckd_mul(&n, a, b) || ckd_mul(&n, n, sizeof(float))) {
        *ok = false;
        return NULL;
    }
    void *p = calloc(1, n ? n : 1);
    if (!p)
        *ok = false;
    return p;
}

struct lm_ctx *lm_ctx_new(const struct lm_net *m, const struct lm_ctx_params *p,
                          struct lm_err *err)
{
    const struct lm_hparams *hp = &m->hp;
    struct lm_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        lm_err_set(err, LM_ENOMEM, m->path, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    c->m = m;
    c->hp = hp;
    c->n_ctx = p->n_ctx ? p->n_ctx : (hp->n_ctx_train < DEFAULT_CTX ? hp->n_ctx_train : DEFAULT_CTX);
    c->n_batch = p->n_batch ? p->n_batch : DEFAULT_BATCH;
    if (c->n_batch > c->n_ctx)
        c->n_batch = c->n_ctx;
    uint32_t n_threads = p->n_threads ? p->n_threads : 1;
    if (c->n_ctx > MAX_CTX || n_threads > MAX_THREADS) {
        lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                   "context of %u tokens or %u threads is too many (limits %u and %u)",
                   c->n_ctx, n_threads, MAX_CTX, MAX_THREADS);
        goto fail;
    }
    c->kv_type = p->kv_type;
    c->kv_elt = p->kv_type == LM_KV_F32 ? 4 : 2;
    c->kv_dim = hp->n_head_kv * hp->head_dim;

    bool ok = true;
    size_t kv_bytes;
    if (ckd_mul(&kv_bytes, (size_t)hp->n_layer * c->n_ctx, (size_t)c->kv_dim * c->kv_elt))
        ok = false;
    else {
        c->kc = calloc(1, kv_bytes);
        c->vc = calloc(1, kv_bytes);
        ok = c->kc && c->vc;
    }
    uint32_t nb = c->n_batch, qd = hp->n_head * hp->head_dim;
    uint32_t widest = hp->n_embd > qd ? hp->n_embd : qd;
    if (hp->n_ff > widest)
        widest = hp->n_ff;
    c->x = alloc_floats(nb, hp->n_embd, &ok);
    c->xn = alloc_floats(nb, hp->n_embd, &ok);
    c->tmp = alloc_floats(nb, hp->n_embd, &ok);
    c->q = alloc_floats(nb, qd, &ok);
    c->att = alloc_floats(nb, qd, &ok);
    c->k = alloc_floats(nb, c->kv_dim, &ok);
    c->v = alloc_floats(nb, c->kv_dim, &ok);
    c->gate = alloc_floats(nb, hp->n_ff, &ok);
    c->up = alloc_floats(nb, hp->n_ff, &ok);
    c->rope = alloc_floats(nb, hp->n_rot, &ok);
    c->mm_scratch = ok ? malloc(rt_matmul_scratch(nb, widest, (int)n_threads)) : NULL;
    c->att_stride = (size_t)c->n_ctx + 3 * (size_t)hp->head_dim + 16;
    c->att_scratch = alloc_floats(n_threads, c->att_stride, &ok);
    if (!ok || !c->mm_scratch) {
        lm_err_set(err, LM_ENOMEM, m->path, LM_NO_OFFSET,
                   "out of memory for a context of %u tokens", c->n_ctx);
        goto fail;
    }
    c->pool = rt_pool_new((int)n_threads, err);
    if (!c->pool)
        goto fail;
    return c;
fail:
    lm_ctx_free(c);
    return NULL;
}

void lm_ctx_free(struct lm_ctx *c)
{
    if (!c)
        return;
    rt_pool_free(c->pool);
    free(c->kc);
    free(c->vc);
    free(c->x);
    free(c->xn);
    free(c->tmp);
    free(c->q);
    free(c->att);
    free(c->k);
    free(c->v);
    free(c->gate);
    free(c->up);
    free(c->rope);
    free(c->mm_scratch);
    free(c->att_scratch);
    free(c->logits);
    free(c);
}

uint32_t lm_ctx_n_past(const struct lm_ctx *c) { return c->n_past; }
uint32_t lm_ctx_n_ctx(const struct lm_ctx *c) { return c->n_ctx; }
void lm_ctx_reset(struct lm_ctx *c) { c->n_past = 0; c->n_logits = 0; }

const float *lm_ctx_logits(const struct lm_ctx *c, uint32_t *n_out)
{
    if (n_out)
        *n_out = c->n_logits;
    return c->logits;
}

/* ---- small ops (main thread; linear in the batch) ---------------------------------------- */

static void rms_norm(const float *x, float *y, uint32_t nb, uint32_t n, const float *w, float eps)
{
    for (uint32_t t = 0; t < nb; t++, x += n, y += n) {
        double sum = 0.0;
        for (uint32_t i = 0; i < n; i++)
            sum += (double)(x[i] * x[i]);
        float mean = (float)(sum / n);
        float scale = 1.0f / sqrtf(mean + eps);
        for (uint32_t i = 0; i < n; i++)
            y[i] = x[i] * scale * w[i];
    }
}

static void add_rows(float *y, const float *b, uint32_t nb, uint32_t n, bool broadcast)
{
    for (uint32_t t = 0; t < nb; t++, y += n)
        for (uint32_t i = 0; i < n; i++)
            y[i] += b[broadcast ? i : (size_t)t * n + i];
}

static const float *f32_data(const struct gguf_tensor *t)
{
    return t ? (const float *)(const void *)t->data : NULL;
}

/* cos/sin of each rotated pair at one position, as ggml_rope_cache_init with no YaRN. */
static void rope_cache(const struct lm_hparams *hp, const float *freq_factors, uint32_t pos,
                       float *cache)
{
    float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    float theta = (float)pos;
    for (uint32_t i0 = 0; i0 < hp->n_rot; i0 += 2) {
        float ff = freq_factors ? freq_factors[i0 / 2] : 1.0f;
        float th = hp->rope_freq_scale * (theta / ff);
        cache[i0] = cosf(th);
        cache[i0 + 1] = sinf(th);
        theta *= theta_scale;
    }
}

/* Rotate the first n_rot dims of each head: pairs (2i, 2i+1), or (i, i + n_rot/2) for NEOX. */
static void rope_apply(const struct lm_hparams *hp, float *v, uint32_t n_heads, const float *cache)
{
    uint32_t half = hp->n_rot / 2;
    for (uint32_t h = 0; h < n_heads; h++, v += hp->head_dim) {
        for (uint32_t i = 0; i < half; i++) {
            float c = cache[2 * i], s = cache[2 * i + 1];
            uint32_t a = hp->rope_neox ? i : 2 * i, b = hp->rope_neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

/* ---- attention --------------------------------------------------------------------------- */

struct att_job {
    struct lm_ctx *c;
    const struct rt_kernels *k;
    uint32_t layer, nb, p0;
};

static void attend_f16(const struct att_job *j, const float *q, uint32_t kvh, uint32_t n_kv,
                       float *out, float *scratch)
{
    const struct lm_ctx *c = j->c;
    uint32_t hd = c->hp->head_dim;
    uint16_t *q16 = (uint16_t *)scratch, *acc = q16 + hd;
    float scale = 1.0f / sqrtf((float)hd);
    size_t layer_off = (size_t)j->layer * c->n_ctx * c->kv_dim;
    const uint16_t *kc = (const uint16_t *)(const void *)c->kc + layer_off + (size_t)kvh * hd;
    const uint16_t *vc = (const uint16_t *)(const void *)c->vc + layer_off + (size_t)kvh * hd;
    lm_f32_to_f16_row(q, q16, hd);
    memset(acc, 0, hd * sizeof(uint16_t));
    float s_sum = j->k->attend_f16((int)hd, q16, kc, vc, c->kv_dim, n_kv, scale, acc);
    float inv = s_sum == 0.0f ? 0.0f : 1.0f / s_sum;
    for (uint32_t d = 0; d < hd; d++)
        out[d] = rt_f16(acc[d]) * inv;
}

static void attend_f32(const struct att_job *j, const float *q, uint32_t kvh, uint32_t n_kv,
                       float *out, float *scores)
{
    const struct lm_ctx *c = j->c;
    uint32_t hd = c->hp->head_dim;
    float scale = 1.0f / sqrtf((float)hd);
    size_t layer_off = (size_t)j->layer * c->n_ctx * c->kv_dim;
    const float *kc = (const float *)(const void *)c->kc + layer_off + (size_t)kvh * hd;
    const float *vc = (const float *)(const void *)c->vc + layer_off + (size_t)kvh * hd;
    rt_dot_fn dot = j->k->dot[LM_TYPE_F32];
    float max = -INFINITY;
    for (uint32_t p = 0; p < n_kv; p++) {
        scores[p] = dot((int)hd, kc + (size_t)p * c->kv_dim, q) * scale;
        max = fmaxf(max, scores[p]);
    }
    double sum = 0.0;
    for (uint32_t p = 0; p < n_kv; p++) {
        scores[p] = expf(scores[p] - max);
        sum += (double)scores[p];
    }
    float inv = (float)(1.0 / sum);
    memset(out, 0, hd * sizeof(float));
    for (uint32_t p = 0; p < n_kv; p++)
        j->k->mad_f32((int)hd, out, vc + (size_t)p * c->kv_dim, scores[p] * inv);
}

static void attention_task(void *arg, int ith, int nth)
{
    const struct att_job *j = arg;
    const struct lm_ctx *c = j->c;
    const struct lm_hparams *hp = c->hp;
    uint32_t qd = hp->n_head * hp->head_dim, group = hp->n_head / hp->n_head_kv;
    float *scratch = c->att_scratch + (size_t)ith * c->att_stride;
    uint32_t units = j->nb * hp->n_head;
    for (uint32_t u = (uint32_t)ith; u < units; u += (uint32_t)nth) {
        uint32_t t = u / hp->n_head, h = u % hp->n_head;
        const float *q = c->q + (size_t)t * qd + (size_t)h * hp->head_dim;
        float *out = c->att + (size_t)t * qd + (size_t)h * hp->head_dim;
        uint32_t n_kv = j->p0 + t + 1;   /* causal: positions 0 .. p0+t */
        if (c->kv_type == LM_KV_F16)
            attend_f16(j, q, h / group, n_kv, out, scratch);
        else
            attend_f32(j, q, h / group, n_kv, out, scratch);
    }
}

static void store_kv(struct lm_ctx *c, uint32_t il, uint32_t nb)
{
    size_t at = ((size_t)il * c->n_ctx + c->n_past) * c->kv_dim;
    size_t n = (size_t)nb * c->kv_dim;
    if (c->kv_type == LM_KV_F16) {
        lm_f32_to_f16_row(c->k, (uint16_t *)(void *)c->kc + at, n);
        lm_f32_to_f16_row(c->v, (uint16_t *)(void *)c->vc + at, n);
    } else {
        memcpy((float *)(void *)c->kc + at, c->k, n * sizeof(float));
        memcpy((float *)(void *)c->vc + at, c->v, n * sizeof(float));
    }
}

/* ---- one batch --------------------------------------------------------------------------- */

static void layer_forward(struct lm_ctx *c, const struct rt_kernels *k, uint32_t il, uint32_t nb)
{
    const struct lm_hparams *hp = c->hp;
    const struct rt_layer *L = &c->m->layers[il];
    uint32_t E = hp->n_embd, qd = hp->n_head * hp->head_dim, kvd = c->kv_dim, hd = hp->head_dim;

    rms_norm(c->x, c->xn, nb, E, f32_data(L->t[RT_ATTN_NORM]), hp->eps);
    const struct gguf_tensor *wqkv[3] = { L->t[RT_WQ], L->t[RT_WK], L->t[RT_WV] };
    float *yqkv[3] = { c->q, c->k, c->v };
    rt_matmul(c->pool, k, c->xn, nb, E, 3, wqkv, yqkv, c->mm_scratch);
    if (L->t[RT_BQ])
        add_rows(c->q, f32_data(L->t[RT_BQ]), nb, qd, true);
    if (L->t[RT_BK])
        add_rows(c->k, f32_data(L->t[RT_BK]), nb, kvd, true);
    if (L->t[RT_BV])
        add_rows(c->v, f32_data(L->t[RT_BV]), nb, kvd, true);
    if (L->t[RT_Q_NORM]) {
        rms_norm(c->q, c->q, nb * hp->n_head, hd, f32_data(L->t[RT_Q_NORM]), hp->eps);
        rms_norm(c->k, c->k, nb * hp->n_head_kv, hd, f32_data(L->t[RT_K_NORM]), hp->eps);
    }
    for (uint32_t t = 0; t < nb; t++) {
        rope_apply(hp, c->q + (size_t)t * qd, hp->n_head, c->rope + (size_t)t * hp->n_rot);
        rope_apply(hp, c->k + (size_t)t * kvd, hp->n_head_kv, c->rope + (size_t)t * hp->n_rot);
    }
    store_kv(c, il, nb);
    struct att_job aj = { c, k, il, nb, c->n_past };
    rt_pool_run(c->pool, attention_task, &aj);

    const struct gguf_tensor *wo = L->t[RT_WO];
    rt_matmul(c->pool, k, c->att, nb, qd, 1, &wo, &c->tmp, c->mm_scratch);
    if (L->t[RT_BO])
        add_rows(c->tmp, f32_data(L->t[RT_BO]), nb, E, true);
    add_rows(c->x, c->tmp, nb, E, false);

    rms_norm(c->x, c->xn, nb, E, f32_data(L->t[RT_FFN_NORM]), hp->eps);
    const struct gguf_tensor *wgu[2] = { L->t[RT_GATE], L->t[RT_UP] };
    float *ygu[2] = { c->gate, c->up };
    rt_matmul(c->pool, k, c->xn, nb, E, 2, wgu, ygu, c->mm_scratch);
    for (uint32_t t = 0; t < nb; t++) {   /* per row: ggml's vector loop restarts each row */
        size_t o = (size_t)t * hp->n_ff;
        k->swiglu((int)hp->n_ff, c->gate + o, c->gate + o, c->up + o);
    }
    const struct gguf_tensor *wd = L->t[RT_DOWN];
    rt_matmul(c->pool, k, c->gate, nb, hp->n_ff, 1, &wd, &c->tmp, c->mm_scratch);
    add_rows(c->x, c->tmp, nb, E, false);
}

/* Run nb tokens at positions n_past...; write the logits of rows [first, nb) to `logits`. */
static void batch_forward(struct lm_ctx *c, const struct rt_kernels *k, const int32_t *tokens,
                          uint32_t nb, uint32_t first, float *logits)
{
    const struct lm_net *m = c->m;
    const struct lm_hparams *hp = c->hp;
    uint32_t E = hp->n_embd;
    const struct gguf_tensor *emb = m->t[RT_TOK_EMBD];
    size_t emb_row = (size_t)(emb->nbytes / emb->ne[1]);
    for (uint32_t t = 0; t < nb; t++) {
        lm_dequantize_row(emb->type, emb->data + (size_t)tokens[t] * emb_row, c->x + (size_t)t * E,
                          E);
        rope_cache(hp, f32_data(m->t[RT_ROPE_FREQS]), c->n_past + t,
                   c->rope + (size_t)t * hp->n_rot);
    }
    for (uint32_t il = 0; il < hp->n_layer; il++)
        layer_forward(c, k, il, nb);
    c->n_past += nb;
    if (first >= nb)
        return;
    uint32_t n_out = nb - first;
    rms_norm(c->x + (size_t)first * E, c->xn, n_out, E, f32_data(m->t[RT_OUTPUT_NORM]), hp->eps);
    const struct gguf_tensor *out = m->t[RT_OUTPUT] ? m->t[RT_OUTPUT] : emb;
    rt_matmul(c->pool, k, c->xn, n_out, E, 1, &out, &logits, c->mm_scratch);
}

int lm_ctx_eval(struct lm_ctx *c, const int32_t *tokens, uint32_t n, bool all_logits,
                struct lm_err *err)
{
    const struct lm_hparams *hp = c->hp;
    if (n == 0)
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "no tokens to evaluate");
    if (n > c->n_ctx - c->n_past)
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                          "%u more tokens do not fit the context: %u of %u used", n, c->n_past,
                          c->n_ctx);
    for (uint32_t i = 0; i < n; i++)
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= hp->n_vocab)
            return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                              "token id %d is outside the vocabulary of %u", (int)tokens[i],
                              hp->n_vocab);
    uint32_t n_out = all_logits ? n : 1;
    size_t need;
    if (ckd_mul(&need, (size_t)n_out, (size_t)hp->n_vocab))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "logits do not fit in memory");
    if (need > c->logits_cap) {
        float *p = NULL;
        size_t bytes;
        if (!ckd_mul(&bytes, need, sizeof(float)))
            p = realloc(c->logits, bytes);
        if (!p)
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET,
                              "out of memory for %u rows of logits", n_out);
        c->logits = p;
        c->logits_cap = need;
    }
    const struct rt_kernels *k = rt_kernels();
    for (uint32_t i = 0; i < n; i += c->n_batch) {
        uint32_t nb = n - i < c->n_batch ? n - i : c->n_batch;
        bool last = i + nb == n;
        uint32_t first = all_logits ? 0 : last ? nb - 1 : nb;
        float *out = all_logits ? c->logits + (size_t)i * hp->n_vocab : c->logits;
        batch_forward(c, k, tokens + i, nb, first, out);
    }
    c->n_logits = n_out;
    return 0;
}
