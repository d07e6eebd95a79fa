/* tokvocab.c: small GGUF vocabularies for the tokenizer tests (see tokvocab.h). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../format/format.h"
#include "tokvocab.h"

/* The GPT-2 byte-to-unicode map, spelled out here independently of the tokenizer's. */
static uint32_t byte_cp(int b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE)
        return (uint32_t)b;
    int k = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE))
            k++;
    return 0x100u + (uint32_t)k;
}

static void put_utf8(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        o[1] = 0;
    } else {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        o[2] = 0;
    }
}

static void add(struct tv_vocab *v, const char *s, float score, int32_t type)
{
    v->tokens[v->n_tokens] = s;
    v->scores[v->n_tokens] = score;
    v->types[v->n_tokens] = type;
    v->n_tokens++;
    v->n_scores = v->n_types = v->n_tokens;
}

void tv_spm(struct tv_vocab *v)
{
    memset(v, 0, sizeof(*v));
    v->model = "llama";
    v->pre = "default";
    add(v, "<unk>", 0, 2);
    add(v, "<s>", 0, 3);
    add(v, "</s>", 0, 3);
    for (int b = 0; b < 256; b++) {
        snprintf(v->store[b], sizeof(v->store[b]), "<0x%02X>", b);
        add(v, v->store[b], 0, 6);
    }
    static const char *const normal[] = { "\xE2\x96\x81", "a", "b", "c", "\xE2\x96\x81" "a", "ab",
                                          "\xE2\x96\x81" "ab", "abc" };
    for (int i = 0; i < 8; i++)
        add(v, normal[i], -1.0f - (float)i, 1);
    add(v, "<|user|>", 0, 4);
    v->u32[0].key = "tokenizer.ggml.bos_token_id";
    v->u32[0].val = 1;
    v->u32[1].key = "tokenizer.ggml.eos_token_id";
    v->u32[1].val = 2;
    v->bools[0].key = "tokenizer.ggml.add_bos_token";
    v->bools[0].val = true;
}

void tv_bpe(struct tv_vocab *v)
{
    memset(v, 0, sizeof(*v));
    v->model = "gpt2";
    v->pre = "qwen2";
    for (int b = 0; b < 256; b++) {
        put_utf8(byte_cp(b), v->store[b]);
        add(v, v->store[b], 0, 1);
    }
    add(v, "\xC4\xA0" "a", 0, 1);
    add(v, "ab", 0, 1);
    add(v, "\xC4\xA0" "ab", 0, 1);
    add(v, "<|endoftext|>", 0, 3);
    add(v, "<|im_start|>", 0, 3);
    v->n_scores = 0;   /* byte-level vocabularies have no scores */
    v->has_merges = true;
    v->merges[0] = "\xC4\xA0 a";
    v->merges[1] = "a b";
    v->merges[2] = "\xC4\xA0" "a b";
    v->n_merges = 3;
    v->u32[0].key = "tokenizer.ggml.eos_token_id";
    v->u32[0].val = 259;
}

static int add_strs(struct gguf_writer *w, const char *key, const char *const *s, size_t n,
                    struct lm_err *err)
{
    struct gguf_str *items = calloc(n ? n : 1, sizeof(*items));
    for (size_t i = 0; i < n; i++)
        items[i] = (struct gguf_str){ s[i], strlen(s[i]) };
    int rc = gguf_writer_add_arr_str(w, key, items, n, err);
    free(items);
    return rc;
}

uint8_t *tv_build(const struct tv_vocab *v, size_t *len)
{
    struct lm_err err = { 0 };
    struct gguf_writer *w = gguf_writer_new();
    uint8_t *data = NULL;
    int fd = -1;
    if (!w)
        return NULL;
    if ((v->model && gguf_writer_add_str(w, "tokenizer.ggml.model", v->model, strlen(v->model), &err)) ||
        (v->pre && gguf_writer_add_str(w, "tokenizer.ggml.pre", v->pre, strlen(v->pre), &err)) ||
        (v->name && gguf_writer_add_str(w, "general.name", v->name, strlen(v->name), &err)) ||
        (!v->no_tokens && !v->tokens_u32 &&
         add_strs(w, "tokenizer.ggml.tokens", v->tokens, v->n_tokens, &err)) ||
        (v->tokens_u32 && gguf_writer_add_arr_num(w, "tokenizer.ggml.tokens", GGUF_U32, v->types,
                                                  v->n_tokens, &err)) ||
        (v->n_scores && gguf_writer_add_arr_num(w, "tokenizer.ggml.scores", GGUF_F32, v->scores,
                                                v->n_scores, &err)) ||
        (v->n_types && gguf_writer_add_arr_num(w, "tokenizer.ggml.token_type", GGUF_I32, v->types,
                                               v->n_types, &err)) ||
        (v->has_merges && add_strs(w, "tokenizer.ggml.merges", v->merges, v->n_merges, &err)))
        goto fail;
    for (int i = 0; i < TV_MAX_EXTRA; i++) {
        if ((v->u32[i].key && gguf_writer_add_u32(w, v->u32[i].key, v->u32[i].val, &err)) ||
            (v->bools[i].key && gguf_writer_add_bool(w, v->bools[i].key, v->bools[i].val, &err)) ||
            (v->strs[i].key && gguf_writer_add_str(w, v->strs[i].key, v->strs[i].val,
                                                   strlen(v->strs[i].val), &err)))
            goto fail;
    }
    fd = memfd_create("tokvocab", 0);
    if (fd < 0 || gguf_writer_begin(w, fd, "tokvocab", &err) || gguf_writer_finish(w, &err))
        goto fail;
    off_t size = lseek(fd, 0, SEEK_END);
    data = malloc((size_t)size);
    if (!data || pread(fd, data, (size_t)size, 0) != size)
        goto fail;
    *len = (size_t)size;
    close(fd);
    gguf_writer_free(w);
    return data;
fail:
    fprintf(stderr, "tv_build: %s\n", err.msg);
    free(data);
    if (fd >= 0)
        close(fd);
    gguf_writer_free(w);
    return NULL;
}
