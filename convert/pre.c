/* pre.c: tokenizer.ggml.pre for a byte-level BPE tokenizer.json. llama.cpp hashes the token ids its
 * Python tokenizer gives for a probe string; without that tokenizer we hash what decides them, the
 * pre-tokenizer's Split regexes (tokenizers.md §2.4, Ollama's method). */
#include <jansson.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

static const struct { const char *sha256, *pre; } known[] = {
    { "d98f9631be1e9607a9848c26c1f9eac1aa9fc21ac6ba82a2fc0741af9780a48f", "llama-bpe" },
    { "1ff7f41064896984db5d1bb6ff64fa4bc29007d08c1b439e505b7392777a319e", "qwen2" },
    { "00431aed57e696b747435f734d1e3b9b1bfd931a121fb5cac7129e97c181e9ba", "qwen35" },
    { "03df5c5863ad70781dcfdef491ead25140f895fe8010964be0daefe27be32b02", "deepseek-llm" },
    { "21cde974d587f0d54dc8d56b183cc1e6239600172035c68fbd6d4b9f8da0576e", "deepseek-coder" },
    { "1d64a9a8eaf9f1bd80331984d81fdd514e7feafe8df83a525dd31472f275699a", "tekken" },
};

static bool is_type(const json_t *o, const char *type)
{
    const char *t = json_string_value(json_object_get(o, "type"));
    return t && strcmp(t, type) == 0;
}

static bool byte_level_regex(const json_t *o)
{
    return is_type(o, "ByteLevel") && json_is_true(json_object_get(o, "use_regex"));
}

int convert_bpe_pre(const json_t *tok_json, const char *path, char *out, size_t n,
                    struct lm_err *err)
{
    json_t *pt = json_object_get(tok_json, "pre_tokenizer");
    json_t *list = json_object_get(pt, "pretokenizers"), *one = NULL;
    struct lm_buf re = LM_BUF_INIT(1u << 20);
    if (!is_type(pt, "Sequence")) {
        list = one = json_array();
        if (pt)
            json_array_append(one, pt);
    }
    size_t i, n_split = 0;
    json_t *p;
    int rc = 0;
    json_array_foreach(list, i, p) {
        json_t *r = json_object_get(json_object_get(p, "pattern"), "Regex");
        if (is_type(p, "Split") && json_is_string(r)) {
            rc |= lm_buf_add(&re, json_string_value(r), json_string_length(r));
            n_split++;
        }
    }
    const char *pre = NULL;
    uint8_t digest[32];
    char hex[65];
    lm_sha256_buf(re.data ? re.data : "", re.len, digest);
    lm_hex(digest, 32, hex);
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]) && n_split; k++)
        if (strcmp(hex, known[k].sha256) == 0)
            pre = known[k].pre;
    if (!n_split && json_array_size(list) == 1 && byte_level_regex(json_array_get(list, 0)))
        pre = "gpt-2";
    if (!n_split && json_array_size(list) == 2 && byte_level_regex(json_array_get(list, 1)) &&
        is_type(json_array_get(list, 0), "Digits") &&
        json_is_true(json_object_get(json_array_get(list, 0), "individual_digits")))
        pre = "smollm";
    json_decref(one);
    lm_buf_release(&re);
    if (rc)
        return lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
    if (!pre)
        return lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                          "pre-tokenizer not recognised (Split regexes sha256 %.16s...); lm knows "
                          "llama-bpe, qwen2, qwen35, deepseek-llm, deepseek-coder, tekken, gpt-2, "
                          "smollm", hex);
    snprintf(out, n, "%s", pre);
    return 0;
}
