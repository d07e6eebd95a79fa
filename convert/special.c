/* special.c: gguf-py's SpecialVocab (tokenizers.md §2.5): merges, special token ids, add_* flags and
 * chat templates from tokenizer.json, tokenizer_config.json, config.json and chat_template files.
 * The order of its dictionaries is the order of the keys in the file, so it is kept here. */
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

#define SV_MAX_TYPES 9

struct sv {
    const char *types[SV_MAX_TYPES];   /* bos eos unk sep pad cls mask (+ eot, eom) */
    size_t n_types;
    struct { const char *typ; uint32_t id; } ids[SV_MAX_TYPES];
    size_t n_ids;
    struct { const char *typ; bool v; } add[SV_MAX_TYPES];
    size_t n_add;
    uint32_t n_vocab;                  /* 0: no bound */
    json_t *tc;                        /* a copy of tokenizer_config.json (it gets edited), or NULL */
};

static bool has_type(const struct sv *s, const char *typ)
{
    for (size_t i = 0; i < s->n_types; i++)
        if (strcmp(s->types[i], typ) == 0)
            return true;
    return false;
}

static void set_add(struct sv *s, const char *typ, bool v)
{
    for (size_t i = 0; i < s->n_add; i++)
        if (strcmp(s->add[i].typ, typ) == 0) {
            s->add[i].v = v;
            return;
        }
    if (s->n_add < SV_MAX_TYPES)
        s->add[s->n_add++] = (typeof(s->add[0])){ typ, v };
}

/* _set_special_token: integers only, the first one wins, ids past the vocabulary are skipped. */
static int set_id(struct sv *s, const char *typ, const json_t *tid, const char *path,
                  struct lm_err *err)
{
    if (!json_is_integer(tid))
        return 0;
    json_int_t id = json_integer_value(tid);
    if (id < 0 || id > UINT32_MAX)
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                          "special token %s has id %lld", typ, (long long)id);
    if (s->n_vocab && (uint64_t)id >= s->n_vocab)
        return 0;
    for (size_t i = 0; i < s->n_ids; i++)
        if (strcmp(s->ids[i].typ, typ) == 0)
            return 0;
    if (s->n_ids < SV_MAX_TYPES)
        s->ids[s->n_ids++] = (typeof(s->ids[0])){ typ, (uint32_t)id };
    return 0;
}

/* Python truthiness of a JSON value (None, "", {}, [], false and 0 are false). */
static bool truthy(const json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return false;
    if (json_is_string(v))
        return json_string_length(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_number(v))
        return json_number_value(v) != 0;
    return true;
}

static bool same(const json_t *a, const json_t *b)
{
    return a && b ? json_equal(a, b) : !a && !b;
}

static json_t *special_id(const json_t *item)
{
    return json_object_get(json_object_get(item, "SpecialToken"), "id");
}

static json_t *seq_id(const json_t *item)
{
    return json_object_get(json_object_get(item, "Sequence"), "id");
}

/* Edits of tokenizer_config, which gguf-py makes only when it is a non-empty dict. */
static void tc_set(struct sv *s, const char *key, json_t *v)
{
    if (truthy(s->tc) && v)
        json_object_set(s->tc, key, v);
}

/* TemplateProcessing's `pair` template: does it put a separator between A and B? */
static void template_pair(struct sv *s, json_t *pair, json_t *first, json_t *last, json_t *sep,
                          json_t *eos)
{
    size_t n = json_array_size(pair), start = 0, stop = n;
    if (truthy(first) && same(special_id(json_array_get(pair, 0)), first))
        start = 1;
    if (truthy(last) && n > 0 && same(special_id(json_array_get(pair, n - 1)), last))
        stop = n - 1;
    if (start >= stop)
        return;
    const char *a = json_string_value(seq_id(json_array_get(pair, start)));
    const char *b = json_string_value(seq_id(json_array_get(pair, stop - 1)));
    if (!a || !b || strcmp(a, "A") || strcmp(b, "B") || stop - start < 3)
        return;
    bool add_sep = false;
    json_t *e = special_id(json_array_get(pair, start + 1));
    if (truthy(e) && (same(e, sep) || same(e, eos)) && !truthy(last))
        add_sep = true;
    if (stop - start - 2 == 2) {
        e = special_id(json_array_get(pair, start + 2));
        if (truthy(e) && (same(e, sep) || same(e, eos)))
            add_sep = true;
    }
    set_add(s, "sep", add_sep);
    if (add_sep && !truthy(sep))
        tc_set(s, "sep_token", eos);
}

/* What tokenizer.json's post_processor says about BOS/EOS/SEP being added. */
static void post_processor(struct sv *s, const json_t *tok)
{
    json_t *bos = json_object_get(s->tc, "bos_token"), *cls = json_object_get(s->tc, "cls_token");
    json_t *eos = json_object_get(s->tc, "eos_token"), *sep = json_object_get(s->tc, "sep_token");
    bool tc = truthy(s->tc);
    if (!truthy(bos) && truthy(cls) && tc) {
        tc_set(s, "bos_token", cls);
        bos = cls;
    }
    if (!truthy(eos) && truthy(sep) && tc) {
        tc_set(s, "eos_token", sep);
        eos = sep;
    }
    json_t *pp = json_object_get(tok, "post_processor");
    if (!truthy(pp))
        return;
    json_t *list = json_object_get(pp, "processors"), *one = json_array();
    if (!list) {
        json_array_append(one, pp);
        list = one;
    }
    size_t i;
    json_t *proc;
    json_array_foreach(list, i, proc) {
        const char *type = json_string_value(json_object_get(proc, "type"));
        if (type && strcmp(type, "RobertaProcessing") == 0) {
            set_add(s, "bos", true);
            set_add(s, "eos", true);
            set_add(s, "sep", true);
            if (!truthy(cls) && tc) {
                json_t *c = json_array_get(json_object_get(proc, "cls"), 0);
                cls = json_object_get(proc, "cls") ? c : bos;
                tc_set(s, "cls_token", cls);
            }
            if (!truthy(sep) && tc) {
                json_t *c = json_array_get(json_object_get(proc, "sep"), 0);
                sep = json_object_get(proc, "sep") ? c : eos;
                tc_set(s, "sep_token", sep);
            }
            continue;
        }
        if (!type || strcmp(type, "TemplateProcessing") != 0)
            continue;
        json_t *single = json_object_get(proc, "single"), *pair = json_object_get(proc, "pair");
        json_t *first = NULL, *last = NULL;
        size_t n = json_array_size(single);
        if (n > 1) {
            first = special_id(json_array_get(single, 0));
            if (truthy(first)) {
                if (!tc)
                    bos = first;
                set_add(s, "bos", same(first, bos) || same(first, cls));
            }
            last = special_id(json_array_get(single, n - 1));
            if (truthy(last)) {
                if (!tc) {
                    eos = last;
                } else if (!same(last, eos)) {
                    /* The configured EOS becomes EOT (or EOM) and the template's last token EOS. */
                    const char *alt = !has_type(s, "eot") ? "eot" : !has_type(s, "eom") ? "eom" : NULL;
                    if (alt && s->n_types < SV_MAX_TYPES) {
                        s->types[s->n_types++] = alt;
                        tc_set(s, strcmp(alt, "eot") == 0 ? "eot_token" : "eom_token", eos);
                    }
                    tc_set(s, "eos_token", last);
                    eos = last;
                }
                set_add(s, "eos", same(last, eos));
            }
        }
        if (json_array_size(pair) > 0)
            template_pair(s, pair, first, last, sep, eos);
    }
    json_decref(one);
}

/* The id of the first tokenizer.json added token whose content is `text`, or NULL. */
static json_t *added_id(const json_t *tok, const char *text)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(tok, "added_tokens"), i, a) {
        const char *c = json_string_value(json_object_get(a, "content"));
        if (c && strcmp(c, text) == 0)
            return json_object_get(a, "id");
    }
    return NULL;
}

/* chat_template.jinja (plus the .jinja files in additional_chat_templates/) or chat_template.json. */
static int template_alt(const char *dir, json_t **out, struct lm_err *err)
{
    char path[4096];
    struct lm_buf b = LM_BUF_INIT(CONVERT_MAX_JSON_FILE);
    *out = NULL;
    int e = convert_file_exists(dir, "chat_template.jinja", err);
    if (e < 0)
        return -1;
    if (e == 0) {
        json_t *j = NULL;
        if (convert_json_file(dir, "chat_template.json", CONVERT_MAX_JSON_FILE, &j, err))
            return -1;
        *out = json_incref(json_object_get(j, "chat_template"));
        json_decref(j);
        return 0;
    }
    snprintf(path, sizeof(path), "%s/chat_template.jinja", dir);
    if (lm_read_file(path, CONVERT_MAX_JSON_FILE, &b, err))
        return -1;
    *out = json_stringn(b.data, b.len);
    lm_buf_release(&b);
    if (!*out)
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "not UTF-8 text");
    snprintf(path, sizeof(path), "%s/additional_chat_templates", dir);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    json_t *list = json_pack("[{ssso}]", "name", "default", "template", *out);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    int ret = list ? 0 : -1;
    while (ret == 0 && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 6 || strcmp(de->d_name + len - 6, ".jinja") || de->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof(*nn));
        if (!nn || !(nn[n] = strdup(de->d_name)))
            ret = -1;
        if (nn)
            names = nn;
        if (ret == 0)
            n++;
    }
    closedir(d);
    /* glob() order is the file system's; sorted is at least the same every time. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i < n && ret == 0; i++) {
        char p[4096];
        struct lm_buf t = LM_BUF_INIT(CONVERT_MAX_JSON_FILE);
        int w = snprintf(p, sizeof(p), "%s/%s", path, names[i]);
        if (w < 0 || (size_t)w >= sizeof(p) || lm_read_file(p, CONVERT_MAX_JSON_FILE, &t, err)) {
            ret = -2;
            break;
        }
        json_t *e2 = json_pack("{ss#ss#}", "name", names[i], strlen(names[i]) - 6, "template",
                               t.data, t.len);
        lm_buf_release(&t);
        if (!e2 || json_array_append_new(list, e2))
            ret = -1;
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    *out = list;
    if (ret == -1)
        return lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
    return ret ? -1 : 0;
}

/* gguf-py add_chat_template: a string, or named templates (names made alphanumeric). */
static int put_templates(const json_t *t, struct convert_meta *m, struct lm_err *err)
{
    if (json_is_string(t))
        return convert_meta_str(m, "tokenizer.chat_template", json_string_value(t),
                                json_string_length(t), err);
    if (!json_is_array(t))
        return 0;
    struct gguf_str names[64];
    char keys[64][160];
    size_t n = 0, i;
    json_t *e, *dflt = NULL;
    json_array_foreach(t, i, e) {
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *tpl = json_object_get(e, "template");
        if (!name || !*name || !json_is_string(tpl))
            continue;
        if (strcmp(name, "default") == 0) {
            dflt = tpl;
            continue;
        }
        if (n == 64)
            break;
        char clean[128];
        size_t k = 0;
        for (; name[k] && k < sizeof(clean) - 1; k++) {
            char c = name[k];
            bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
            clean[k] = alnum ? c : '_';
        }
        clean[k] = 0;
        snprintf(keys[n], sizeof(keys[n]), "tokenizer.chat_template.%s", clean);
        if (convert_meta_str(m, keys[n], json_string_value(tpl), json_string_length(tpl), err))
            return -1;
        names[n] = (struct gguf_str){ keys[n] + strlen("tokenizer.chat_template."), strlen(clean) };
        n++;
    }
    /* gguf-py takes the names from a set; keep them in file order. */
    if (n && convert_meta_arr_str(m, "tokenizer.chat_templates", names, n, err))
        return -1;
    if (dflt)
        return convert_meta_str(m, "tokenizer.chat_template", json_string_value(dflt),
                                json_string_length(dflt), err);
    return 0;
}

static const char *id_key(const char *typ)
{
    static const struct { const char *typ, *key; } k[] = {
        { "bos", "tokenizer.ggml.bos_token_id" },  { "eos", "tokenizer.ggml.eos_token_id" },
        { "unk", "tokenizer.ggml.unknown_token_id" }, { "sep", "tokenizer.ggml.seperator_token_id" },
        { "pad", "tokenizer.ggml.padding_token_id" }, { "cls", "tokenizer.ggml.cls_token_id" },
        { "mask", "tokenizer.ggml.mask_token_id" }, { "eot", "tokenizer.ggml.eot_token_id" },
        { "eom", "tokenizer.ggml.eom_token_id" },
    };
    for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
        if (strcmp(k[i].typ, typ) == 0)
            return k[i].key;
    return NULL;
}

int convert_special_put(const struct convert_vocab *v, const char *dir,
                        const struct convert_cfg *cfg, struct convert_meta *m, struct lm_err *err)
{
    struct sv s = { .types = { "bos", "eos", "unk", "sep", "pad", "cls", "mask" }, .n_types = 7 };
    char path[4096];
    json_t *tmpl = NULL, *alt = NULL;
    int ret = -1;
    s.n_vocab = v->scores ? v->n : 0;   /* SentencePiece passes n_vocab, BPE does not */
    s.tc = v->tok_config ? json_deep_copy(v->tok_config) : NULL;
    snprintf(path, sizeof(path), "%s/tokenizer_config.json", dir);
    if (v->tok_json)
        post_processor(&s, v->tok_json);
    if (truthy(s.tc)) {
        if (template_alt(dir, &alt, err))
            goto out;
        tmpl = json_object_get(s.tc, "chat_template") ? json_object_get(s.tc, "chat_template") : alt;
        for (size_t i = 0; i < s.n_types; i++) {
            char k[32];
            snprintf(k, sizeof(k), "add_%s_token", s.types[i]);
            json_t *a = json_object_get(s.tc, k);
            if (json_is_boolean(a))
                set_add(&s, s.types[i], json_is_true(a));
            snprintf(k, sizeof(k), "%s_token", s.types[i]);
            json_t *e = json_object_get(s.tc, k);
            const char *text = json_is_string(e) ? json_string_value(e)
                                                 : json_string_value(json_object_get(e, "content"));
            if (text && set_id(&s, s.types[i], added_id(v->tok_json, text), path, err))
                goto out;
        }
    }
    for (size_t i = 0; i < s.n_types; i++) {
        char k[32];
        snprintf(k, sizeof(k), "%s_token_id", s.types[i]);
        json_t *id = json_object_get(cfg->raw, k);
        if (!id || json_is_null(id))
            id = json_object_get(json_object_get(cfg->raw, "text_config"), k);
        if (set_id(&s, s.types[i], id, cfg->path, err))
            goto out;
    }
    if (v->n_merges &&
        convert_meta_arr_str_ref(m, "tokenizer.ggml.merges", v->merges, v->n_merges, err))
        goto out;
    for (size_t i = 0; i < s.n_ids; i++)
        if (id_key(s.ids[i].typ) && convert_meta_u32(m, id_key(s.ids[i].typ), s.ids[i].id, err))
            goto out;
    for (size_t i = 0; i < s.n_add; i++) {
        const char *t = s.add[i].typ;
        char k[64];
        if (strcmp(t, "bos") && strcmp(t, "eos") && strcmp(t, "sep"))
            continue;   /* gguf-py has no add_{unk,pad,cls,mask}_token keys */
        snprintf(k, sizeof(k), "tokenizer.ggml.add_%s_token", t);
        if (convert_meta_bool(m, k, s.add[i].v, err))
            goto out;
    }
    ret = put_templates(tmpl, m, err);
out:
    json_decref(alt);
    json_decref(s.tc);
    return ret;
}
