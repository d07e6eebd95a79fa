/* bench-model.c: write a Llama-shaped GGUF with seeded random F16 weights for benchmarks.
 * Built and run by scripts/bench-run.sh (cc ... build/liblm.a); not part of lm itself.
 *
 *   bench-model OUT.gguf [LAYERS [EMBD FF HEADS KV_HEADS VOCAB]]
 *
 * Default shape: TinyLlama 1.1B (2048 wide, 5632 FFN, 22 layers, 32 heads, 4 KV heads, 32000
 * tokens). Weights are normal(0, 0.02) in F16, norms 1. The vocabulary is a SentencePiece one
 * that lm's tokenizer accepts: <unk> <s> </s>, the 256 byte tokens, "▁", "a", then fillers, so
 * a prompt of k letters 'a' is exactly k + 2 tokens. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../format/format.h"
#include "../common/banned.h"

struct shape {
    uint32_t layers, embd, ff, heads, kv_heads, vocab;
};

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static float normal(void)
{
    /* Irwin-Hall: sum of 4 uniforms, scaled to unit variance; good enough for benchmarks. */
    float s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        s += (float)(rng >> 40) / (float)(1 << 24);
    }
    return (s - 2.0f) * 1.7320508f;
}

static int add_vocab(struct gguf_writer *w, uint32_t n, struct lm_err *err)
{
    struct gguf_str *tok = calloc(n, sizeof(*tok));
    float *score = calloc(n, sizeof(float));
    int32_t *type = calloc(n, sizeof(int32_t));
    char *text = calloc(n, 16);
    int rc = -1;
    if (!tok || !score || !type || !text)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        char *t = text + (size_t)i * 16;
        type[i] = 1;
        if (i == 0)
            snprintf(t, 16, "<unk>"), type[i] = 2;
        else if (i < 3)
            snprintf(t, 16, i == 1 ? "<s>" : "</s>"), type[i] = 3;
        else if (i < 259)
            snprintf(t, 16, "<0x%02X>", i - 3), type[i] = 6;
        else if (i == 259)
            snprintf(t, 16, "\xe2\x96\x81");
        else if (i == 260)
            snprintf(t, 16, "a");
        else
            snprintf(t, 16, "t%u", i);
        tok[i].p = t;
        tok[i].len = strlen(t);
        score[i] = i < 259 ? 0.0f : -(float)i;
    }
    if (gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", 5, err) ||
        gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", tok, n, err) ||
        gguf_writer_add_arr_num(w, "tokenizer.ggml.scores", GGUF_F32, score, n, err) ||
        gguf_writer_add_arr_num(w, "tokenizer.ggml.token_type", GGUF_I32, type, n, err) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1, err) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2, err) ||
        gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0, err) ||
        gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true, err))
        goto out;
    rc = 0;
out:
    free(tok);
    free(score);
    free(type);
    free(text);
    return rc;
}

static int add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint64_t ne0,
                      uint64_t ne1, struct lm_err *err)
{
    uint64_t ne[2] = { ne0, ne1 };
    return gguf_writer_add_tensor(w, name, type, ne1 > 1 ? 2 : 1, ne, err);
}

/* Tensor list in file order; `emit` adds infos (pass 0) or writes data (pass 1). */
static int tensors(struct gguf_writer *w, const struct shape *s, int pass, struct lm_err *err)
{
    char name[64];
    uint32_t qd = s->embd, kvd = s->embd / s->heads * s->kv_heads;
    struct { const char *fmt; uint64_t ne0, ne1; } per_layer[] = {
        { "blk.%u.attn_norm.weight", s->embd, 1 }, { "blk.%u.attn_q.weight", s->embd, qd },
        { "blk.%u.attn_k.weight", s->embd, kvd },  { "blk.%u.attn_v.weight", s->embd, kvd },
        { "blk.%u.attn_output.weight", qd, s->embd }, { "blk.%u.ffn_norm.weight", s->embd, 1 },
        { "blk.%u.ffn_gate.weight", s->embd, s->ff }, { "blk.%u.ffn_up.weight", s->embd, s->ff },
        { "blk.%u.ffn_down.weight", s->ff, s->embd },
    };
    uint16_t *row = malloc(sizeof(uint16_t) * (s->ff > s->embd ? s->ff : s->embd));
    float *ones = malloc(sizeof(float) * s->embd);
    int rc = -1;
    if (!row || !ones)
        goto out;
    for (uint32_t i = 0; i < s->embd; i++)
        ones[i] = 1.0f;
    for (int64_t l = -1; l <= (int64_t)s->layers; l++) {
        size_t n = l < 0 ? 1 : l == s->layers ? 2 : sizeof(per_layer) / sizeof(per_layer[0]);
        for (size_t k = 0; k < n; k++) {
            uint64_t ne0, ne1;
            if (l < 0) {
                snprintf(name, sizeof(name), "token_embd.weight");
                ne0 = s->embd, ne1 = s->vocab;
            } else if (l == s->layers) {
                snprintf(name, sizeof(name), k ? "output.weight" : "output_norm.weight");
                ne0 = s->embd, ne1 = k ? s->vocab : 1;
            } else {
                snprintf(name, sizeof(name), per_layer[k].fmt, (unsigned)l);
                ne0 = per_layer[k].ne0, ne1 = per_layer[k].ne1;
            }
            bool norm = ne1 == 1;
            if (pass == 0) {
                if (add_tensor(w, name, norm ? LM_TYPE_F32 : LM_TYPE_F16, ne0, ne1, err))
                    goto out;
                continue;
            }
            if (norm) {
                if (gguf_writer_write_data(w, ones, ne0 * sizeof(float), err))
                    goto out;
                continue;
            }
            for (uint64_t r = 0; r < ne1; r++) {
                for (uint64_t c = 0; c < ne0; c++)
                    row[c] = lm_f32_to_f16(0.02f * normal());
                if (gguf_writer_write_data(w, row, ne0 * sizeof(uint16_t), err))
                    goto out;
            }
        }
    }
    rc = 0;
out:
    free(row);
    free(ones);
    return rc;
}

int main(int argc, char **argv)
{
    struct shape s = { 22, 2048, 5632, 32, 4, 32000 };
    struct lm_err err = { 0 };
    if (argc < 2) {
        fprintf(stderr, "usage: bench-model OUT.gguf [LAYERS [EMBD FF HEADS KV_HEADS VOCAB]]\n");
        return 2;
    }
    uint32_t *f[] = { &s.layers, &s.embd, &s.ff, &s.heads, &s.kv_heads, &s.vocab };
    for (int i = 2; i < argc && i - 2 < 6; i++) {
        uint64_t v;
        if (lm_parse_u64(argv[i], 1, 1u << 20, &v) < 0) {
            fprintf(stderr, "bench-model: bad number '%s'\n", argv[i]);
            return 2;
        }
        *f[i - 2] = (uint32_t)v;
    }
    struct gguf_writer *w = gguf_writer_new();
    struct lm_afile out = { .fd = -1 };
    if (!w)
        return 1;
    char name[64];
    snprintf(name, sizeof(name), "bench-llama-%ul", s.layers);
    if (gguf_writer_add_str(w, "general.architecture", "llama", 5, &err) ||
        gguf_writer_add_str(w, "general.name", name, strlen(name), &err) ||
        gguf_writer_add_u32(w, "general.file_type", 1, &err) ||
        gguf_writer_add_u32(w, "llama.context_length", 2048, &err) ||
        gguf_writer_add_u32(w, "llama.embedding_length", s.embd, &err) ||
        gguf_writer_add_u32(w, "llama.block_count", s.layers, &err) ||
        gguf_writer_add_u32(w, "llama.feed_forward_length", s.ff, &err) ||
        gguf_writer_add_u32(w, "llama.attention.head_count", s.heads, &err) ||
        gguf_writer_add_u32(w, "llama.attention.head_count_kv", s.kv_heads, &err) ||
        gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &err) ||
        gguf_writer_add_f32(w, "llama.rope.freq_base", 10000.0f, &err) ||
        gguf_writer_add_u32(w, "llama.rope.dimension_count", s.embd / s.heads, &err) ||
        gguf_writer_add_u32(w, "general.quantization_version", 2, &err) ||
        add_vocab(w, s.vocab, &err) || tensors(w, &s, 0, &err) ||
        lm_afile_open(&out, argv[1], &err) || gguf_writer_begin(w, out.fd, argv[1], &err) ||
        tensors(w, &s, 1, &err) || gguf_writer_finish(w, &err) || lm_afile_commit(&out, &err)) {
        char buf[1400];
        fprintf(stderr, "bench-model: %s\n", lm_err_str(&err, buf, sizeof(buf)));
        lm_afile_abort(&out);
        gguf_writer_free(w);
        return 1;
    }
    gguf_writer_free(w);
    return 0;
}
