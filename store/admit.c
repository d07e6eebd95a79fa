/* admit.c: admission control: which files may enter the store, and the checks each kind passes
 * before its bytes become a blob. */
#include <jansson.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "../format/format.h"
#include "../common/banned.h"

/* JSON configs and tokenizers are megabytes at most; a larger "config" is not one. */
#define JSON_MAX_BYTES (512u << 20)

static const char *const roles[] = {
    "weights", "config", "tokenizer", "template", "params", "license", "signature", "readme",
    "other", "system", "messages",
};

static const char *const media_types[] = {
    LM_MT_GGUF, LM_MT_SAFETENSORS, LM_MT_JSON, LM_MT_TEXT, LM_MT_MARKDOWN, LM_MT_SPM,
    LM_MT_OLLAMA_TEMPLATE, LM_MT_OLLAMA_SYSTEM, LM_MT_OLLAMA_PARAMS, LM_MT_OLLAMA_MESSAGES,
    LM_MT_OLLAMA_LICENSE,
};

static bool in(const char *s, const char *const *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, v[i]) == 0)
            return true;
    return false;
}

bool store_role_known(const char *role)
{
    return role && in(role, roles, sizeof(roles) / sizeof(roles[0]));
}

bool store_media_known(const char *mt)
{
    return mt && in(mt, media_types, sizeof(media_types) / sizeof(media_types[0]));
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Formats that unpickle (run code) when loaded, or may hold pickles. */
static const char *const pickle_ext[] = {
    ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".npy", ".npz",
};

static const struct {
    const char *name;          /* exact base name, case-insensitive */
    const char *role, *mt;
} by_name[] = {
    { "tokenizer.json", "tokenizer", LM_MT_JSON },
    { "tokenizer_config.json", "tokenizer", LM_MT_JSON },
    { "special_tokens_map.json", "tokenizer", LM_MT_JSON },
    { "added_tokens.json", "tokenizer", LM_MT_JSON },
    { "vocab.json", "tokenizer", LM_MT_JSON },
    { "vocab.txt", "tokenizer", LM_MT_TEXT },
    { "merges.txt", "tokenizer", LM_MT_TEXT },
    { "chat_template.json", "template", LM_MT_JSON },
    { "params.json", "params", LM_MT_JSON },
    { "model.sig", "signature", LM_MT_JSON },
};

static const struct {
    const char *ext;
    const char *role, *mt;
} by_ext[] = {
    { ".safetensors.index.json", "weights", LM_MT_JSON },
    { ".safetensors", "weights", LM_MT_SAFETENSORS },
    { ".gguf", "weights", LM_MT_GGUF },
    { ".json", "config", LM_MT_JSON },
    { ".model", "tokenizer", LM_MT_SPM },   /* SentencePiece: tokenizer.model, spiece.model */
    { ".tiktoken", "tokenizer", LM_MT_TEXT },
    { ".jinja", "template", LM_MT_TEXT },
    { ".sig", "signature", LM_MT_JSON },
    { ".md", "other", LM_MT_MARKDOWN },
    { ".txt", "other", LM_MT_TEXT },
    { ".yaml", "other", LM_MT_TEXT },
    { ".yml", "other", LM_MT_TEXT },
};

/* LICENSE, LICENSE.txt, LICENCE-MIT, NOTICE, USE_POLICY.md, README.md ... */
static const struct {
    const char *prefix;
    const char *role;
} by_prefix[] = {
    { "license", "license" }, { "licence", "license" }, { "copying", "license" },
    { "notice", "license" }, { "use_policy", "license" }, { "readme", "readme" },
};

int lm_file_kind(const char *path, struct lm_file_kind *out, struct lm_err *err)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof(pickle_ext) / sizeof(pickle_ext[0]); i++)
        if (ends_with(base, pickle_ext[i]))
            return lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                              "refused: a pickle checkpoint can run code when it is loaded; "
                              "convert it to safetensors");
    for (size_t i = 0; i < sizeof(by_name) / sizeof(by_name[0]); i++) {
        if (strcasecmp(base, by_name[i].name) == 0) {
            out->role = by_name[i].role;
            out->media_type = by_name[i].mt;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(by_prefix) / sizeof(by_prefix[0]); i++) {
        size_t n = strlen(by_prefix[i].prefix);
        if (starts_with(base, by_prefix[i].prefix) &&
            (base[n] == 0 || base[n] == '.' || base[n] == '-' || base[n] == '_')) {
            out->role = by_prefix[i].role;
            out->media_type = ends_with(base, ".md") ? LM_MT_MARKDOWN : LM_MT_TEXT;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(by_ext) / sizeof(by_ext[0]); i++) {
        if (ends_with(base, by_ext[i].ext)) {
            out->role = by_ext[i].role;
            out->media_type = by_ext[i].mt;
            if (strcmp(by_ext[i].ext, ".json") == 0 && strstr(base, "token"))
                out->role = "tokenizer";
            return 0;
        }
    }
    return lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                      "refused: only safetensors, GGUF, JSON, tokenizer and text files are "
                      "admitted");
}

static int check_json(const char *path, const char *label, uint64_t size, struct lm_err *err)
{
    if (size > JSON_MAX_BYTES)
        return lm_err_set(err, LM_EUNSUPPORTED, label, LM_NO_OFFSET,
                          "a JSON file of %llu bytes is over the %u-byte limit",
                          (unsigned long long)size, JSON_MAX_BYTES);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return lm_err_set(err, LM_ECORRUPT, label, (uint64_t)je.position, "not valid JSON: %s",
                          je.text);
    json_decref(j);
    return 0;
}

static int check_spm(const char *path, const char *label, struct lm_err *err)
{
    struct lm_map m;
    if (lm_map_open(&m, path, err))
        return -1;
    /* A ModelProto starts with field 1 (pieces), length-delimited: tag byte 0x0a. Pickles start
     * with 0x80 and zip archives with "PK", so neither passes as a tokenizer. */
    int first = m.len ? m.data[0] : -1;
    lm_map_close(&m);
    if (first != 0x0a)
        return lm_err_set(err, LM_ECORRUPT, label, 0,
                          first < 0 ? "not a SentencePiece model: the file is empty"
                                    : "not a SentencePiece model: first byte 0x%02x, want 0x0a",
                          first);
    return 0;
}

int store_admit(const char *mt, const char *path, const char *label, uint64_t size, uint64_t nul_at,
                struct lm_err *err)
{
    int rc = 0;
    if (!store_media_known(mt))
        return lm_err_set(err, LM_EUNSUPPORTED, label, LM_NO_OFFSET,
                          "refused: media type '%s' is not one the store takes", mt ? mt : "");
    if (strcmp(mt, LM_MT_GGUF) == 0) {
        struct gguf *g = gguf_open(path, err);
        rc = g ? 0 : -1;
        gguf_close(g);
    } else if (strcmp(mt, LM_MT_SAFETENSORS) == 0) {
        struct safetensors *t = st_open(path, err);
        rc = t ? 0 : -1;
        st_close(t);
    } else if (strcmp(mt, LM_MT_SPM) == 0) {
        rc = check_spm(path, label, err);
    } else if (nul_at != UINT64_MAX) {   /* JSON and text: a NUL byte means binary data */
        return lm_err_set(err, LM_ECORRUPT, label, nul_at, "a text file may not hold a NUL byte");
    } else if (strcmp(mt, LM_MT_JSON) == 0 || strcmp(mt, LM_MT_OLLAMA_PARAMS) == 0 ||
               strcmp(mt, LM_MT_OLLAMA_MESSAGES) == 0) {
        rc = check_json(path, label, size, err);
    }
    if (rc && err)   /* the readers name the temp file; the user knows the source */
        snprintf(err->path, sizeof(err->path), "%s", label);
    return rc;
}
