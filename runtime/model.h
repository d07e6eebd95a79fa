/* model.h: the loaded model, the architecture table and the thread pool.
 * Private to runtime/ (the module's interface is runtime.h). */
#ifndef LM_RUNTIME_MODEL_H
#define LM_RUNTIME_MODEL_H

#include "runtime.h"

/* Tensors of the whole model and of each layer, by slot. */
enum rt_gslot { RT_TOK_EMBD, RT_OUTPUT_NORM, RT_OUTPUT, RT_ROPE_FREQS, RT_G_COUNT };
enum rt_lslot {
    RT_ATTN_NORM, RT_WQ, RT_WK, RT_WV, RT_WO, RT_BQ, RT_BK, RT_BV, RT_BO, RT_Q_NORM, RT_K_NORM,
    RT_FFN_NORM, RT_GATE, RT_UP, RT_DOWN, RT_L_COUNT
};

/* Shape symbols of the tensor table; resolved from the hyperparameters. */
enum rt_dim {
    RT_D1,        /* 1 */
    RT_DEMBD,     /* n_embd */
    RT_DQ,        /* n_head * head_dim */
    RT_DKV,       /* n_head_kv * head_dim */
    RT_DFF,       /* n_ff */
    RT_DVOCAB,    /* n_vocab */
    RT_DHEAD,     /* head_dim */
    RT_DROT2,     /* n_rot / 2 */
};

enum {
    RT_T_LAYER = 1,      /* name has %u for the layer */
    RT_T_OPTIONAL = 2,
    RT_T_F32 = 4,        /* norms, biases, rope factors: F32 only */
    RT_T_MATMUL = 8,     /* needs a dot-product kernel for its type */
};

struct rt_tensor_spec {
    const char *name;
    uint8_t slot;        /* enum rt_gslot, or enum rt_lslot with RT_T_LAYER */
    uint8_t ne0, ne1;    /* enum rt_dim */
    uint8_t flags;
};

struct rt_arch {
    const char *name;              /* general.architecture */
    enum lm_arch arch;
    bool rope_neox;
    bool rot_is_head_dim;          /* llama.cpp refuses rope.dimension_count != head dim */
    const struct rt_tensor_spec *tensors;
    size_t n_tensors;
};

const struct rt_arch *rt_arch_find(const char *name, size_t len);

struct rt_layer {
    const struct gguf_tensor *t[RT_L_COUNT];
};

struct lm_net {
    struct gguf *g;
    char *path;
    struct lm_hparams hp;
    const struct rt_arch *arch;
    const struct gguf_tensor *t[RT_G_COUNT];
    struct rt_layer *layers;        /* n_layer */
    uint64_t weight_bytes;
};

/* ---- thread pool (pool.c) ---------------------------------------------------------------- */

/* fn runs once on each of the nth threads (the caller is ith 0) and rt_pool_run returns
 * when all have finished. */
typedef void (*rt_task_fn)(void *arg, int ith, int nth);
struct rt_pool;
struct rt_pool *rt_pool_new(int n_threads, struct lm_err *err);
void rt_pool_free(struct rt_pool *p);
int rt_pool_size(const struct rt_pool *p);
void rt_pool_run(struct rt_pool *p, rt_task_fn fn, void *arg);

/* ---- matmul (matmul.c) ------------------------------------------------------------------ */

struct rt_kernels;
/* y[i][t][r] = row r of w[i] . x[t] for the n (<= 3) weights sharing the input x [nb][cols];
 * scratch holds rt_matmul_scratch(nb, cols, threads of the pool) bytes. */
void rt_matmul(struct rt_pool *pool, const struct rt_kernels *k, const float *x, uint32_t nb,
               uint32_t cols, int n, const struct gguf_tensor *const *w, float *const *y,
               void *scratch);
size_t rt_matmul_scratch(uint32_t nb, uint32_t cols, int n_threads);

#endif
