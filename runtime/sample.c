/* sample.c: choosing the next token from logits: greedy, or repeat penalty, top-k, top-p,
 * min-p and temperature (llama.cpp's order) and a draw from a seeded xoshiro256**. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "../common/banned.h"

struct cand {
    float logit;
    int32_t id;
};

struct lm_sampler {
    struct lm_sampler_params p;
    uint32_t n_vocab;
    uint64_t rng[4];
    int32_t *hist;          /* ring of the last repeat_last_n accepted tokens */
    uint32_t hist_cap, hist_len, hist_pos;
    struct cand *cand;      /* n_vocab */
    uint8_t *seen;          /* n_vocab, for the repeat penalty */
};

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

struct lm_sampler *lm_sampler_new(const struct lm_sampler_params *p, uint32_t n_vocab)
{
    struct lm_sampler *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->p = *p;
    s->n_vocab = n_vocab;
    uint64_t seed = p->seed;
    for (int i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&seed);
    s->hist_cap = p->repeat_last_n > 0 ? (uint32_t)p->repeat_last_n : 0;
    s->hist = calloc(s->hist_cap ? s->hist_cap : 1, sizeof(int32_t));
    s->cand = calloc(n_vocab ? n_vocab : 1, sizeof(struct cand));
    s->seen = calloc(n_vocab ? n_vocab : 1, 1);
    if (!s->hist || !s->cand || !s->seen) {
        lm_sampler_free(s);
        return NULL;
    }
    return s;
}

void lm_sampler_free(struct lm_sampler *s)
{
    if (!s)
        return;
    free(s->hist);
    free(s->cand);
    free(s->seen);
    free(s);
}

void lm_sampler_accept(struct lm_sampler *s, int32_t token)
{
    if (s->hist_cap == 0 || token < 0 || (uint32_t)token >= s->n_vocab)
        return;
    s->hist[s->hist_pos] = token;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
    if (s->hist_len < s->hist_cap)
        s->hist_len++;
}

static int32_t argmax(const struct cand *c, uint32_t n)
{
    uint32_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (c[i].logit > c[best].logit || (c[i].logit == c[best].logit && c[i].id < c[best].id))
            best = i;
    return c[best].id;
}

static int by_logit_desc(const void *a, const void *b)
{
    const struct cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static void apply_repeat_penalty(struct lm_sampler *s, struct cand *c)
{
    float pen = s->p.repeat_penalty;
    if (pen == 1.0f || pen <= 0.0f || s->hist_len == 0)
        return;
    for (uint32_t i = 0; i < s->hist_len; i++) {
        int32_t t = s->hist[i];
        if (s->seen[t])
            continue;
        s->seen[t] = 1;
        c[t].logit = c[t].logit > 0 ? c[t].logit / pen : c[t].logit * pen;   /* c[t].id == t */
    }
    for (uint32_t i = 0; i < s->hist_len; i++)
        s->seen[s->hist[i]] = 0;
}

int32_t lm_sampler_sample(struct lm_sampler *s, const float *logits)
{
    struct cand *c = s->cand;
    uint32_t n = s->n_vocab;
    for (uint32_t i = 0; i < n; i++) {
        c[i].logit = logits[i];
        c[i].id = (int32_t)i;
    }
    apply_repeat_penalty(s, c);
    if (!(s->p.temperature > 0.0f))
        return argmax(c, n);

    qsort(c, n, sizeof(*c), by_logit_desc);
    if (s->p.top_k > 0 && (uint32_t)s->p.top_k < n)
        n = (uint32_t)s->p.top_k;
    /* Probabilities of what is left, largest first, at temperature 1 (as llama.cpp's top-p). */
    double sum = 0.0;
    for (uint32_t i = 0; i < n; i++)
        sum += exp((double)c[i].logit - (double)c[0].logit);
    if (s->p.top_p < 1.0f) {
        double cum = 0.0;
        for (uint32_t i = 0; i < n; i++) {
            cum += exp((double)c[i].logit - (double)c[0].logit) / sum;
            if (cum >= s->p.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (s->p.min_p > 0.0f) {
        float floor_logit = c[0].logit + logf(s->p.min_p);
        uint32_t keep = 1;
        while (keep < n && c[keep].logit >= floor_logit)
            keep++;
        n = keep;
    }
    sum = 0.0;
    for (uint32_t i = 0; i < n; i++)
        sum += exp(((double)c[i].logit - (double)c[0].logit) / s->p.temperature);
    double u = (double)(next_u64(s->rng) >> 11) * 0x1.0p-53 * sum, acc = 0.0;
    for (uint32_t i = 0; i < n; i++) {
        acc += exp(((double)c[i].logit - (double)c[0].logit) / s->p.temperature);
        if (u < acc)
            return c[i].id;
    }
    return c[n - 1].id;
}
