/* vocab.c: token lists from Hugging Face tokenizer files, as llama.cpp's converter builds them
 * (tokenizers.md §2.1-§2.3): SentencePiece from tokenizer.model, byte-level BPE from tokenizer.json
 * or vocab.json + merges.txt. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "convert.h"
#include "../common/banned.h"

#define SPACE_MARK "\xE2\x96\x81"   /* U+2581, SentencePiece's space */

int convert_file_exists(const char *dir, const char *name, struct lm_err *err)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (stat(path, &st) == 0)
        return S_ISREG(st.st_mode) ? 1 : 0;
    if (errno == ENOENT || errno == ENOTDIR)
        return 0;
    return lm_err_errno(err, path, "stat");
}

int convert_json_file(const char *dir, const char *name, size_t max, json_t **out,
                      struct lm_err *err)
{
    char path[4096];
    struct lm_buf b = LM_BUF_INIT(max);
    json_error_t je;
    *out = NULL;
    int e = convert_file_exists(dir, name, err);
    if (e <= 0)
        return e;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (lm_read_file(path, max, &b, err))
        return -1;
    *out = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &je);
    lm_buf_release(&b);
    if (!*out)
        return lm_err_set(err, LM_ECORRUPT, path, (uint64_t)je.position, "not valid JSON: %s",
                          je.text);
    return 0;
}

bool convert_looks_special(const char *s, size_t len)
{
    static const char *const exact[] = { "<pad>", "<mask>", "<2mass>", "[@BOS@]" };
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (len == strlen(exact[i]) && memcmp(s, exact[i], len) == 0)
            return true;
#define WRAPPED(open, close) \
    (len >= strlen(open) && len >= strlen(close) && memcmp(s, open, strlen(open)) == 0 && \
     memcmp(s + len - strlen(close), close, strlen(close)) == 0)
    /* Python's startswith/endswith may share characters: "<|>" counts, as there. */
    return WRAPPED("<|", "|>") || WRAPPED("<\xEF\xBD\x9C", "\xEF\xBD\x9C>") ||
           WRAPPED("<unused", ">");
#undef WRAPPED
}

static int nomem(const char *path, struct lm_err *err)
{
    return lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
}

/* Token i gets its own copy of s[0..len), with U+2581 made a space for USER_DEFINED texts. */
static int set_text(struct convert_vocab *v, uint32_t i, const char *s, size_t len, bool unspace,
                    struct lm_err *err)
{
    char *t = convert_pool_dup(v->pool, s, len);
    if (!t)
        return nomem(NULL, err);
    size_t o = 0;
    if (unspace) {
        for (size_t k = 0; k < len; o++)
            if (len - k >= 3 && memcmp(t + k, SPACE_MARK, 3) == 0) {
                t[o] = ' ';
                k += 3;
            } else {
                t[o] = t[k++];
            }
        t[o] = 0;
        len = o;
    }
    v->tokens[i] = (struct gguf_str){ t, len };
    return 0;
}

static int alloc_tokens(struct convert_vocab *v, uint32_t n, bool scores, const char *path,
                        struct lm_err *err)
{
    v->n = n;
    v->tokens = calloc(n, sizeof(*v->tokens));
    v->types = calloc(n, sizeof(*v->types));
    v->scores = scores ? calloc(n, sizeof(*v->scores)) : NULL;
    if (!v->tokens || !v->types || (scores && !v->scores))
        return nomem(path, err);
    char pad[32];
    for (uint32_t i = 0; i < n; i++) {
        int w = snprintf(pad, sizeof(pad), "[PAD%u]", i);
        if (set_text(v, i, pad, (size_t)w, false, err))
            return -1;
        v->types[i] = TOK_UNUSED;
        if (scores)
            v->scores[i] = -10000.0f;
    }
    return 0;
}

/* A JSON object key that should be a token id: plain decimal. */
static bool parse_id(const char *s, uint64_t *out)
{
    return lm_parse_u64(s, 0, UINT32_MAX, out) == 0;
}

/* added_tokens.json ({text: id}) and tokenizer_config's added_tokens_decoder over the pieces. */
static int spm_added(struct convert_vocab *v, const char *dir, struct lm_err *err)
{
    char path[4096];
    json_t *at = NULL;
    if (convert_json_file(dir, "added_tokens.json", CONVERT_MAX_JSON_FILE, &at, err))
        return -1;
    snprintf(path, sizeof(path), "%s/added_tokens.json", dir);
    const char *key;
    json_t *val;
    int rc = 0;
    if (at && !json_is_object(at))
        rc = lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "not a JSON object");
    json_object_foreach(at, key, val) {
        if (rc)
            break;
        if (!json_is_integer(val) || json_integer_value(val) < 0) {
            rc = lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "token id is not a number >= 0");
            break;
        }
        uint64_t id = (uint64_t)json_integer_value(val);
        if (id >= v->n)
            continue;   /* llama.cpp warns and ignores it */
        rc = set_text(v, (uint32_t)id, key, strlen(key), false, err);
        v->scores[id] = -1000.0f;
        v->types[id] = TOK_USER_DEFINED;
    }
    json_decref(at);
    if (rc)
        return -1;

    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    json_t *dec = json_object_get(v->tok_config, "added_tokens_decoder");
    if (dec && !json_is_object(dec))
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                          "added_tokens_decoder is not an object");
    json_object_foreach(dec, key, val) {
        uint64_t id;
        json_t *content = json_object_get(val, "content");
        if (!parse_id(key, &id) || !json_is_string(content))
            return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                              "added_tokens_decoder entry is not an id with a content string");
        if (id >= v->n)
            continue;
        const char *s = json_string_value(content);
        size_t len = json_string_length(content);
        bool control = json_is_true(json_object_get(val, "special")) || convert_looks_special(s, len);
        if (set_text(v, (uint32_t)id, s, len, !control, err))
            return -1;
        v->types[id] = control ? TOK_CONTROL : TOK_USER_DEFINED;
        v->scores[id] = -1000.0f;
    }
    return 0;
}

static int spm_vocab(struct convert_vocab *v, const char *dir, const struct convert_cfg *cfg,
                     struct lm_err *err)
{
    char path[4096];
    struct lm_buf b = LM_BUF_INIT(CONVERT_MAX_SPM_FILE);
    struct convert_spm_piece *pc = NULL;
    uint32_t np = 0;
    int ret = -1;
    snprintf(path, sizeof(path), "%s/tokenizer.model", dir);
    if (lm_read_file(path, CONVERT_MAX_SPM_FILE, &b, err) ||
        convert_spm_parse((const uint8_t *)b.data, b.len, path, &pc, &np, err))
        goto out;
    static const char *const k_vs[] = { "vocab_size_per_layer_input", "vocab_size", NULL };
    json_t *vs = convert_cfg_find(cfg, k_vs);
    uint32_t n = np;
    if (json_is_integer(vs) && json_integer_value(vs) != 0) {   /* `or sp.vocab_size()` */
        if (json_integer_value(vs) < 0 || json_integer_value(vs) > CONVERT_MAX_VOCAB) {
            lm_err_set(err, LM_ECORRUPT, cfg->path, LM_NO_OFFSET,
                       "vocab_size %lld is not from 1 to %u", (long long)json_integer_value(vs),
                       CONVERT_MAX_VOCAB);
            goto out;
        }
        n = (uint32_t)json_integer_value(vs);
    }
    if (alloc_tokens(v, n, true, path, err))
        goto out;
    for (uint32_t i = 0; i < np && i < n; i++) {
        if (set_text(v, i, pc[i].text, pc[i].len, false, err))
            goto out;
        v->scores[i] = pc[i].score;
        /* USER_DEFINED pieces become NORMAL: sentencepiece has no IsUserDefined check here. */
        int t = pc[i].type;
        v->types[i] = t == TOK_UNKNOWN || t == TOK_CONTROL || t == TOK_UNUSED || t == TOK_BYTE
                          ? t : TOK_NORMAL;
    }
    if (spm_added(v, dir, err))
        goto out;
    v->model = "llama";
    snprintf(v->pre, sizeof(v->pre), "default");
    ret = 0;
out:
    free(pc);
    lm_buf_release(&b);
    return ret;
}

/* Merge "a b" from a pair, with spaces inside a or b written as U+0120 (gguf-py does). */
static int join_pair(struct convert_vocab *v, uint64_t i, const char *a, const char *b,
                     struct lm_err *err)
{
    struct lm_buf j = LM_BUF_INIT(1u << 20);
    const char *parts[2] = { a, b };
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        if (k)
            rc |= lm_buf_add(&j, " ", 1);
        for (const char *p = parts[k]; *p && !rc; p++)
            rc |= *p == ' ' ? lm_buf_add(&j, "\xC4\xA0", 2) : lm_buf_add(&j, p, 1);
    }
    char *s = rc ? NULL : convert_pool_dup(v->pool, j.data, j.len);
    v->merges[i] = (struct gguf_str){ s, j.len };
    lm_buf_release(&j);
    return s ? 0 : nomem(NULL, err);
}

static int json_merges(struct convert_vocab *v, const json_t *arr, const char *path,
                       struct lm_err *err)
{
    size_t n = json_array_size(arr);
    if (n > CONVERT_MAX_MERGES)
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "%zu merges, over %u", n,
                          CONVERT_MAX_MERGES);
    v->merges = calloc(n ? n : 1, sizeof(*v->merges));
    if (!v->merges)
        return nomem(path, err);
    bool pairs = json_is_array(json_array_get(arr, 0));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(arr, i);
        if (!pairs && json_is_string(e)) {
            v->merges[i] = (struct gguf_str){ json_string_value(e), json_string_length(e) };
        } else if (pairs && json_array_size(e) == 2 && json_is_string(json_array_get(e, 0)) &&
                   json_is_string(json_array_get(e, 1))) {
            if (join_pair(v, i, json_string_value(json_array_get(e, 0)),
                          json_string_value(json_array_get(e, 1)), err))
                return -1;
        } else {
            return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                              "merge %zu is neither \"a b\" nor [\"a\", \"b\"] like the first", i);
        }
    }
    v->n_merges = n;
    return 0;
}

/* Python's str.isspace() for the ASCII range. */
static bool py_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* merges.txt: an optional "#version" line, then "a b" per line (SpecialVocab._try_load_merges_txt). */
static int merges_txt(struct convert_vocab *v, const char *dir, struct lm_err *err)
{
    char path[4096];
    struct lm_buf b = LM_BUF_INIT(CONVERT_MAX_TOKENIZER_FILE);
    snprintf(path, sizeof(path), "%s/merges.txt", dir);
    if (lm_read_file(path, CONVERT_MAX_TOKENIZER_FILE, &b, err))
        return -1;
    size_t cap = 1024, n = 0;
    v->merges = malloc(cap * sizeof(*v->merges));
    int ret = v->merges ? 0 : nomem(path, err);
    bool first = true;
    for (size_t at = 0; !ret && at < b.len;) {
        size_t end = at;
        while (end < b.len && b.data[end] != '\n' && b.data[end] != '\r')
            end++;
        size_t next = end + (end < b.len && b.data[end] == '\r' && end + 1 < b.len &&
                             b.data[end + 1] == '\n' ? 2 : 1);
        const char *s = b.data + at, *e = b.data + end;
        at = next;
        while (s < e && py_space(*s))
            s++;
        while (e > s && py_space(e[-1]))
            e--;
        bool skip_first = first && e > s && *s == '#';
        first = false;
        if (skip_first || e == s)
            continue;
        const char *a_end = s;
        while (a_end < e && !py_space(*a_end))
            a_end++;
        const char *b0 = a_end;
        while (b0 < e && py_space(*b0))
            b0++;
        const char *b_end = b0;
        while (b_end < e && !py_space(*b_end))
            b_end++;
        if (b0 == e || b_end != e)
            continue;   /* not two fields: llama.cpp warns and skips the line */
        if (n == CONVERT_MAX_MERGES) {
            ret = lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "more than %u merges",
                             CONVERT_MAX_MERGES);
            break;
        }
        if (n == cap) {
            struct gguf_str *nm = realloc(v->merges, cap * 2 * sizeof(*nm));
            if (!nm) {
                ret = nomem(path, err);
                break;
            }
            v->merges = nm;
            cap *= 2;
        }
        struct lm_buf j = LM_BUF_INIT(1u << 20);
        int rc = lm_buf_add(&j, s, (size_t)(a_end - s)) | lm_buf_add(&j, " ", 1) |
                 lm_buf_add(&j, b0, (size_t)(b_end - b0));
        char *m = rc ? NULL : convert_pool_dup(v->pool, j.data, j.len);
        v->merges[n++] = (struct gguf_str){ m, j.len };
        lm_buf_release(&j);
        if (!m)
            ret = nomem(path, err);
    }
    v->n_merges = n;
    lm_buf_release(&b);
    return ret;
}

enum { ID_SET = 1, ID_ADDED = 2, ID_SPECIAL = 4 };

/* Token texts by id from a {text: id} object and added tokens [{id, content, special}], then the
 * types of get_vocab_base(): missing ids are [PADi] UNUSED, added ones CONTROL or USER_DEFINED. */
static int bpe_tokens(struct convert_vocab *v, const json_t *vocab, const json_t *added,
                      const struct convert_cfg *cfg, const char *path, struct lm_err *err)
{
    const char *key;
    json_t *val;
    uint64_t max_id = 0, count = json_object_size(vocab);
    size_t i;
    if (!json_is_object(vocab))
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "the vocabulary is not an object");
    json_object_foreach((json_t *)vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0 ||
            json_integer_value(val) >= CONVERT_MAX_VOCAB)
            return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                              "token id is not a number from 0 to %u", CONVERT_MAX_VOCAB - 1);
        if ((uint64_t)json_integer_value(val) > max_id)
            max_id = (uint64_t)json_integer_value(val);
    }
    json_array_foreach(added, i, val) {
        json_t *id = json_object_get(val, "id"), *c = json_object_get(val, "content");
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= CONVERT_MAX_VOCAB || !json_is_string(c))
            return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                              "added token %zu has no id below %u or no content", i,
                              CONVERT_MAX_VOCAB);
        if ((uint64_t)json_integer_value(id) > max_id)
            max_id = (uint64_t)json_integer_value(id);
        if (!json_object_get(vocab, json_string_value(c)))
            count++;
    }
    uint64_t n = cfg->vocab_size ? cfg->vocab_size : count;
    if (max_id >= n)
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                          "token id %llu is not below the vocabulary size %llu",
                          (unsigned long long)max_id, (unsigned long long)n);
    uint8_t *flag = calloc(n, 1);
    v->n = (uint32_t)n;
    v->tokens = calloc(n, sizeof(*v->tokens));
    v->types = calloc(n, sizeof(*v->types));
    int ret = -1;
    if (!flag || !v->tokens || !v->types) {
        nomem(path, err);
        goto out;
    }
    json_object_foreach((json_t *)vocab, key, val) {
        uint64_t id = (uint64_t)json_integer_value(val);
        if (flag[id]) {
            lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "two tokens have id %llu",
                       (unsigned long long)id);
            goto out;
        }
        flag[id] = ID_SET;
        v->tokens[id] = (struct gguf_str){ key, strlen(key) };
    }
    json_array_foreach(added, i, val) {
        uint64_t id = (uint64_t)json_integer_value(json_object_get(val, "id"));
        json_t *c = json_object_get(val, "content");
        flag[id] = ID_SET | ID_ADDED |
                   (json_is_true(json_object_get(val, "special")) ? ID_SPECIAL : 0);
        v->tokens[id] = (struct gguf_str){ json_string_value(c), json_string_length(c) };
    }
    char pad[32];
    for (uint64_t k = 0; k < n; k++) {
        const struct gguf_str t = v->tokens[k];
        if (!(flag[k] & ID_SET)) {
            int w = snprintf(pad, sizeof(pad), "[PAD%llu]", (unsigned long long)k);
            if (set_text(v, (uint32_t)k, pad, (size_t)w, false, err))
                goto out;
            v->types[k] = TOK_UNUSED;
        } else if (flag[k] & ID_ADDED) {
            bool control = (flag[k] & ID_SPECIAL) || convert_looks_special(t.p, t.len);
            v->types[k] = control ? TOK_CONTROL : TOK_USER_DEFINED;
            if (!control && set_text(v, (uint32_t)k, t.p, t.len, true, err))
                goto out;
        } else {
            v->types[k] = TOK_NORMAL;
        }
    }
    ret = 0;
out:
    free(flag);
    return ret;
}

static int bpe_from_tokenizer_json(struct convert_vocab *v, const char *dir,
                                   const struct convert_cfg *cfg, struct lm_err *err)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    if (convert_json_file(dir, "tokenizer.json", CONVERT_MAX_TOKENIZER_FILE, &v->tok_json, err))
        return -1;
    json_t *model = json_object_get(v->tok_json, "model");
    const char *type = json_string_value(json_object_get(model, "type"));
    char q[LM_QUOTE_MAX + 16];
    if (!type || strcmp(type, "BPE") != 0)
        return lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                          "tokenizer model '%s' is not supported (byte-level BPE only)",
                          type ? lm_quote(type, strlen(type), q, sizeof(q)) : "none");
    if (json_is_true(json_object_get(model, "byte_fallback")))
        return lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                          "BPE with byte_fallback (SentencePiece-style) is not supported; "
                          "add the model's tokenizer.model");
    json_t *added = json_object_get(v->tok_json, "added_tokens");
    if (added && !json_is_array(added))
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "added_tokens is not a list");
    if (bpe_tokens(v, json_object_get(model, "vocab"), added, cfg, path, err) ||
        convert_bpe_pre(v->tok_json, path, v->pre, sizeof(v->pre), err))
        return -1;
    json_t *merges = json_object_get(model, "merges");
    if (json_array_size(merges) > 0)
        return json_merges(v, merges, path, err);
    int e = convert_file_exists(dir, "merges.txt", err);
    if (e < 0)
        return -1;
    if (e == 0)
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "no merges, and no merges.txt");
    return merges_txt(v, dir, err);
}

/* The slow tokenizer files: vocab.json, merges.txt, added tokens from tokenizer_config.json. Only
 * tokenizer_class tells the pre-tokenizer here. */
static int bpe_from_vocab_json(struct convert_vocab *v, const char *dir,
                               const struct convert_cfg *cfg, struct lm_err *err)
{
    char path[4096], q[LM_QUOTE_MAX + 16];
    json_t *vocab = NULL, *added = json_array();
    int ret = -1;
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    if (!added) {
        nomem(path, err);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(json_object_get(v->tok_config, "added_tokens_decoder"), key, val) {
        uint64_t id;
        json_t *content = json_object_get(val, "content"), *e;
        if (!parse_id(key, &id) || !json_is_string(content)) {
            lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                       "added_tokens_decoder entry is not an id with a content string");
            goto out;
        }
        e = json_pack("{sIsOsb}", "id", (json_int_t)id, "content", content, "special",
                      json_is_true(json_object_get(val, "special")));
        if (!e || json_array_append_new(added, e)) {
            nomem(path, err);
            goto out;
        }
    }
    const char *cls = json_string_value(json_object_get(v->tok_config, "tokenizer_class"));
    if (cls && (strcmp(cls, "Qwen2Tokenizer") == 0 || strcmp(cls, "Qwen2TokenizerFast") == 0)) {
        snprintf(v->pre, sizeof(v->pre), "qwen2");
    } else if (cls && (strcmp(cls, "GPT2Tokenizer") == 0 || strcmp(cls, "GPT2TokenizerFast") == 0)) {
        snprintf(v->pre, sizeof(v->pre), "gpt-2");
    } else {
        lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                   "without tokenizer.json, tokenizer_class '%s' does not tell the pre-tokenizer",
                   cls ? lm_quote(cls, strlen(cls), q, sizeof(q)) : "none");
        goto out;
    }
    snprintf(path, sizeof(path), "%s/vocab.json", dir);
    if (convert_json_file(dir, "vocab.json", CONVERT_MAX_TOKENIZER_FILE, &vocab, err) ||
        bpe_tokens(v, vocab, added, cfg, path, err) || merges_txt(v, dir, err))
        goto out;
    /* Texts still pointing into the two JSON documents get their own copies. */
    for (uint32_t i = 0; i < v->n; i++)
        if ((v->types[i] == TOK_NORMAL || v->types[i] == TOK_CONTROL) &&
            set_text(v, i, v->tokens[i].p, v->tokens[i].len, false, err))
            goto out;
    ret = 0;
out:
    json_decref(added);
    json_decref(vocab);
    return ret;
}

int convert_vocab_load(struct convert_vocab *v, const char *dir, const struct convert_cfg *cfg,
                       struct lm_err *err)
{
    memset(v, 0, sizeof(*v));
    v->pool = convert_pool_new();
    if (!v->pool)
        return nomem(dir, err);
    if (convert_json_file(dir, "tokenizer_config.json", CONVERT_MAX_JSON_FILE, &v->tok_config, err))
        return -1;
    if (v->tok_config && !json_is_object(v->tok_config)) {
        json_decref(v->tok_config);
        v->tok_config = NULL;
    }
    int spm = convert_file_exists(dir, "tokenizer.model", err);
    int tj = spm ? 0 : convert_file_exists(dir, "tokenizer.json", err);
    int vj = spm || tj ? 0 : convert_file_exists(dir, "vocab.json", err);
    if (spm < 0 || tj < 0 || vj < 0)
        return -1;
    if (spm) {
        /* SpecialVocab still reads tokenizer.json's added tokens and post-processor. */
        if (convert_json_file(dir, "tokenizer.json", CONVERT_MAX_TOKENIZER_FILE, &v->tok_json, err))
            return -1;
        return spm_vocab(v, dir, cfg, err);
    }
    v->model = "gpt2";
    if (tj)
        return bpe_from_tokenizer_json(v, dir, cfg, err);
    if (vj)
        return bpe_from_vocab_json(v, dir, cfg, err);
    return lm_err_set(err, LM_ENOTFOUND, dir, LM_NO_OFFSET,
                      "no tokenizer.model, tokenizer.json or vocab.json");
}

void convert_vocab_release(struct convert_vocab *v)
{
    free(v->tokens);
    free(v->scores);
    free(v->types);
    free(v->merges);
    convert_pool_free(v->pool);
    json_decref(v->tok_json);
    json_decref(v->tok_config);
    memset(v, 0, sizeof(*v));
}

int convert_vocab_put(const struct convert_vocab *v, const char *dir, const struct convert_cfg *cfg,
                      struct convert_meta *m, struct lm_err *err)
{
    if (convert_meta_str(m, "tokenizer.ggml.model", v->model, strlen(v->model), err) ||
        convert_meta_str(m, "tokenizer.ggml.pre", v->pre, strlen(v->pre), err) ||
        convert_meta_arr_str_ref(m, "tokenizer.ggml.tokens", v->tokens, v->n, err))
        return -1;
    if (v->scores && convert_meta_arr_num(m, "tokenizer.ggml.scores", GGUF_F32, v->scores, v->n, err))
        return -1;
    if (convert_meta_arr_num(m, "tokenizer.ggml.token_type", GGUF_I32, v->types, v->n, err))
        return -1;
    return convert_special_put(v, dir, cfg, m, err);
}
