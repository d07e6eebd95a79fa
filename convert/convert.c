/* convert.c: plan a conversion (tensors, metadata) from a checkpoint, then write it atomically. */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

#define MAX_GEN 4

struct convert {
    struct hf_checkpoint *ck;
    const struct convert_arch *arch;
    struct convert_cfg cfg;
    struct convert_vocab vocab;
    struct convert_meta *meta;
    struct convert_gen gen[MAX_GEN];
    size_t n_gen;
    struct convert_tensor *t;
    size_t n_t;
    struct gguf_writer *w;
    char dir[4096];
    struct convert_info info;
};

static const struct { const char *name; enum convert_outtype t; } outtypes[] = {
    { "auto", CONVERT_AUTO }, { "f32", CONVERT_F32 }, { "f16", CONVERT_F16 },
    { "bf16", CONVERT_BF16 }, { "q8_0", CONVERT_Q8_0 },
};

int convert_outtype_parse(const char *s, enum convert_outtype *out)
{
    for (size_t i = 0; i < sizeof(outtypes) / sizeof(outtypes[0]); i++)
        if (strcasecmp(s, outtypes[i].name) == 0) {
            *out = outtypes[i].t;
            return 0;
        }
    return -1;
}

const char *convert_outtype_name(enum convert_outtype t)
{
    switch (t) {
    case CONVERT_AUTO: return "auto";
    case CONVERT_F32: return "F32";
    case CONVERT_F16: return "F16";
    case CONVERT_BF16: return "BF16";
    case CONVERT_Q8_0: return "Q8_0";
    }
    return "?";
}

static uint32_t file_type_of(enum convert_outtype t)
{
    return t == CONVERT_F32 ? 0 : t == CONVERT_F16 ? 1 : t == CONVERT_BF16 ? 32 : 7;
}

static uint32_t lm_type_of(enum convert_outtype t)
{
    return t == CONVERT_F32 ? LM_TYPE_F32 : t == CONVERT_F16 ? LM_TYPE_F16
           : t == CONVERT_BF16 ? LM_TYPE_BF16 : LM_TYPE_Q8_0;
}

/* --outtype auto: the dtype of the first tensor of two or more dimensions that is bf16 or f16. */
static enum convert_outtype guess_outtype(const struct hf_checkpoint *ck)
{
    for (size_t i = 0; i < hf_checkpoint_n_tensors(ck); i++) {
        const struct st_tensor *t = hf_checkpoint_tensor_at(ck, i)->t;
        if (t->n_dims < 2)
            continue;
        if (t->dtype == ST_BF16)
            return CONVERT_BF16;
        if (t->dtype == ST_F16)
            return CONVERT_F16;
    }
    return CONVERT_F16;
}

static uint64_t dim_of(const struct convert *c, uint8_t d)
{
    switch (d) {
    case CD_EMBD: return c->cfg.n_embd;
    case CD_VOCAB: return c->vocab.n;
    case CD_FF: return c->cfg.n_ff;
    case CD_Q: return c->cfg.n_head * c->cfg.head_dim;
    case CD_KV: return c->cfg.n_head_kv * c->cfg.head_dim;
    case CD_HEAD: return c->cfg.head_dim;
    }
    return 0;
}

static void shape_str(const uint64_t *s, uint32_t n, char *out, size_t len)
{
    size_t off = 0;
    out[0] = 0;
    for (uint32_t i = 0; i < n && off < len; i++) {
        int w = snprintf(out + off, len - off, "%s%llu", i ? ", " : "[", (unsigned long long)s[i]);
        if (w < 0)
            return;
        off += (size_t)w;
    }
    if (off < len)
        snprintf(out + off, len - off, "%s", n ? "]" : "[]");
}

/* The tensor's PyTorch shape against what config.json implies for its table row. */
static int check_shape(const struct convert *c, const struct st_tensor *t, const char *path,
                       const struct convert_tname *row, bool is_bias, struct lm_err *err)
{
    uint64_t want[2] = { dim_of(c, row->rows), dim_of(c, row->cols) };
    uint32_t n = is_bias || row->cols == CD_NONE ? 1 : 2;
    bool ok = t->n_dims == n;
    for (uint32_t i = 0; ok && i < n; i++)
        ok = t->shape[i] == want[i];
    if (ok)
        return 0;
    char have[128], exp[128], q[LM_QUOTE_MAX + 16];
    shape_str(t->shape, t->n_dims, have, sizeof(have));
    shape_str(want, n, exp, sizeof(exp));
    return lm_err_set(err, LM_ECORRUPT, path, t->file_off,
                      "tensor '%s' has shape %s, config.json implies %s",
                      lm_quote(t->name, strlen(t->name), q, sizeof(q)), have, exp);
}

/* gguf-py's rules: 1-D tensors, norms and biases stay F32; Q8_0 needs rows of whole blocks. */
static uint32_t out_type(const char *name, uint32_t n_dims, uint64_t ne0, enum convert_outtype o)
{
    size_t len = strlen(name);
    if (n_dims <= 1 || (len >= 12 && strcmp(name + len - 12, "_norm.weight") == 0) ||
        len < 7 || strcmp(name + len - 7, ".weight") != 0)
        return LM_TYPE_F32;
    if (o == CONVERT_Q8_0 && ne0 % 32)
        return LM_TYPE_F16;
    return lm_type_of(o);
}

static bool skipped(const char *name)
{
    static const char *const tails[] = { ".attention.masked_bias", ".attention.bias",
                                         ".rotary_emb.inv_freq" };
    size_t len = strlen(name);
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        size_t k = strlen(tails[i]);
        if (len >= k && strcmp(name + len - k, tails[i]) == 0)
            return true;
    }
    return false;
}

static int plan_source(struct convert *c, const struct hf_tensor *ht, struct lm_err *err)
{
    const struct st_tensor *t = ht->t;
    char path[4096], hf[1024], q[LM_QUOTE_MAX + 16];
    int w = snprintf(path, sizeof(path), "%s/%s", c->dir, hf_checkpoint_shard_name(c->ck, ht->shard));
    if (w < 0 || (size_t)w >= sizeof(path))
        return lm_err_set(err, LM_EUSAGE, c->dir, LM_NO_OFFSET, "path too long");
    if (skipped(t->name))
        return 0;
    /* Multimodal checkpoints nest the language model under "language_model.". */
    const char *lm = strstr(t->name, "language_model.");
    snprintf(hf, sizeof(hf), "%.*s%s", lm ? (int)(lm - t->name) : (int)strlen(t->name), t->name,
             lm ? lm + strlen("language_model.") : "");
    struct convert_tensor *o = &c->t[c->n_t];
    const struct convert_tname *row;
    bool is_bias;
    memset(o, 0, sizeof(*o));
    if (!convert_map_name(c->arch, hf, c->cfg.n_layer, o->name, sizeof(o->name), &row, &is_bias))
        return lm_err_set(err, LM_EUNSUPPORTED, path, t->file_off,
                          "tensor '%s' has no place in a %s GGUF",
                          lm_quote(t->name, strlen(t->name), q, sizeof(q)), c->arch->name);
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16 && t->dtype != ST_F64)
        return lm_err_set(err, LM_EUNSUPPORTED, path, t->file_off,
                          "tensor '%s' has dtype %s; lm convert reads F32, F16, BF16 and F64",
                          lm_quote(t->name, strlen(t->name), q, sizeof(q)), st_dtype_name(t->dtype));
    if (check_shape(c, t, path, row, is_bias, err))
        return -1;
    o->src = t;
    o->src_path = hf_checkpoint_shard_name(c->ck, ht->shard);
    o->n_dims = t->n_dims;
    for (uint32_t d = 0; d < t->n_dims; d++)
        o->ne[d] = t->shape[t->n_dims - 1 - d];
    o->rows = t->shape[0];
    o->row_len = t->nelem / t->shape[0];
    o->type = out_type(o->name, o->n_dims, o->ne[0], c->info.outtype);
    if (c->arch->permute_qk && (row->flags & (CT_Q | CT_K))) {
        o->permute_heads = (row->flags & CT_Q) ? c->cfg.n_head : c->cfg.n_head_kv;
        if (o->rows % (2 * o->permute_heads))
            return lm_err_set(err, LM_ECORRUPT, path, t->file_off,
                              "tensor '%s' has %llu rows, not a multiple of 2 x %llu heads",
                              lm_quote(t->name, strlen(t->name), q, sizeof(q)),
                              (unsigned long long)o->rows, (unsigned long long)o->permute_heads);
    }
    for (size_t i = 0; i < c->n_t; i++)
        if (strcmp(c->t[i].name, o->name) == 0)
            return lm_err_set(err, LM_ECORRUPT, path, t->file_off,
                              "tensor '%s' maps to %s, like an earlier one",
                              lm_quote(t->name, strlen(t->name), q, sizeof(q)), o->name);
    c->info.bytes_in += t->end - t->begin;
    c->info.n_params += t->nelem;
    c->n_t++;
    return 0;
}

static int plan_tensors(struct convert *c, struct lm_err *err)
{
    size_t n = hf_checkpoint_n_tensors(c->ck);
    c->t = calloc(n + MAX_GEN + 1, sizeof(*c->t));
    if (!c->t)
        return lm_err_set(err, LM_ENOMEM, c->dir, LM_NO_OFFSET, "out of memory");
    if (c->arch->extra && c->arch->extra(&c->cfg, c->gen, &c->n_gen, err))
        return -1;
    for (size_t i = 0; i < c->n_gen; i++) {
        struct convert_tensor *o = &c->t[c->n_t++];
        snprintf(o->name, sizeof(o->name), "%s", c->gen[i].name);
        o->gen = c->gen[i].data;
        o->type = LM_TYPE_F32;
        o->n_dims = 1;
        o->ne[0] = o->rows = c->gen[i].n;
        o->row_len = 1;
        c->info.n_params += c->gen[i].n;
    }
    for (size_t i = 0; i < n; i++)
        if (plan_source(c, hf_checkpoint_tensor_at(c->ck, i), err))
            return -1;
    return 0;
}

void convert_folder_name(const char *dir, char *out, size_t n)
{
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && dir[start - 1] != '/')
        start--;
    snprintf(out, n, "%.*s", (int)(len - start), dir + start);
    if (strcmp(out, ".") == 0 || strcmp(out, "..") == 0 || !out[0]) {
        char real[PATH_MAX];
        if (realpath(dir, real)) {
            const char *slash = strrchr(real, '/');
            if (snprintf(out, n, "%s", slash ? slash + 1 : real) < 0)
                out[0] = 0;
        }
    }
}

static int put_str(struct convert_meta *m, const char *key, const char *v, struct lm_err *err)
{
    return v[0] ? convert_meta_str(m, key, v, strlen(v), err) : 0;
}

static int stage_meta(struct convert *c, const struct convert_opts *o, struct lm_err *err)
{
    struct convert_meta *m = c->meta;
    struct convert_naming nm;
    char folder[256];
    if (o && o->model_name_dir)
        snprintf(folder, sizeof(folder), "%s", o->model_name_dir);
    else
        convert_folder_name(c->dir, folder, sizeof(folder));
    convert_naming_derive(json_string_value(json_object_get(c->cfg.raw, "_name_or_path")), folder,
                          c->info.n_params, &nm);
    if (convert_meta_str(m, "general.architecture", c->arch->name, strlen(c->arch->name), err) ||
        convert_meta_str(m, "general.type", "model", 5, err) ||
        convert_meta_str(m, "general.name", nm.name, strlen(nm.name), err) ||
        put_str(m, "general.version", nm.version, err) ||
        put_str(m, "general.organization", nm.organization, err) ||
        put_str(m, "general.finetune", nm.finetune, err) ||
        put_str(m, "general.basename", nm.basename, err) ||
        put_str(m, "general.size_label", nm.size_label, err) ||
        convert_common_params(&c->cfg, m, c->arch->name, c->info.file_type, err) ||
        (c->arch->params && c->arch->params(&c->cfg, m, err)) ||
        convert_meta_u32(m, "general.quantization_version", 2, err))
        return -1;
    json_t *asp = json_object_get(c->vocab.tok_config, "add_prefix_space");
    if (c->arch->add_space_prefix_key && json_is_boolean(asp) &&
        convert_meta_bool(m, "tokenizer.ggml.add_space_prefix", json_is_true(asp), err))
        return -1;
    if (convert_vocab_put(&c->vocab, c->dir, &c->cfg, m, err))
        return -1;
    return c->arch->after_vocab ? c->arch->after_vocab(&c->cfg, m, err) : 0;
}

static int build_writer(struct convert *c, struct lm_err *err)
{
    c->w = gguf_writer_new();
    if (!c->w)
        return lm_err_set(err, LM_ENOMEM, c->dir, LM_NO_OFFSET, "out of memory");
    if (convert_meta_flush(c->meta, c->w, err))
        return -1;
    for (size_t i = 0; i < c->n_t; i++)
        if (gguf_writer_add_tensor(c->w, c->t[i].name, c->t[i].type, c->t[i].n_dims, c->t[i].ne,
                                   err))
            return -1;
    c->info.n_tensors = c->n_t;
    c->info.n_kv = convert_meta_count(c->meta);
    c->info.file_size = gguf_writer_file_size(c->w);
    c->info.data_size = c->info.file_size - gguf_writer_data_offset(c->w);
    return 0;
}

/* config.json must say enough to check every tensor's shape. */
static int need_sizes(const struct convert_cfg *cfg, struct lm_err *err)
{
    const char *missing = !cfg->n_embd ? "hidden_size" : !cfg->n_head ? "num_attention_heads"
                          : !cfg->n_ff ? "intermediate_size" : NULL;
    if (missing)
        return lm_err_set(err, LM_ECORRUPT, cfg->path, LM_NO_OFFSET, "no %s", missing);
    if (cfg->head_dim == 0)
        return lm_err_set(err, LM_ECORRUPT, cfg->path, LM_NO_OFFSET,
                          "hidden_size %llu is smaller than num_attention_heads %llu",
                          (unsigned long long)cfg->n_embd, (unsigned long long)cfg->n_head);
    return 0;
}

struct convert *convert_open(const char *dir, const struct convert_opts *o, struct lm_err *err)
{
    struct convert *c = calloc(1, sizeof(*c));
    char q[LM_QUOTE_MAX + 16];
    if (!c) {
        lm_err_set(err, LM_ENOMEM, dir, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    snprintf(c->dir, sizeof(c->dir), "%s", dir);
    c->ck = hf_checkpoint_open(dir, err);
    if (!c->ck)
        goto fail;
    if (!hf_checkpoint_config(c->ck)) {
        lm_err_set(err, LM_ENOTFOUND, dir, LM_NO_OFFSET, "no config.json");
        goto fail;
    }
    const char *hf_arch = hf_checkpoint_architecture(c->ck);
    c->arch = convert_arch_find(hf_arch);
    if (!c->arch) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/config.json", dir);
        if (hf_arch)
            lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                       "architecture '%s' is not supported; supported: %s",
                       lm_quote(hf_arch, strlen(hf_arch), q, sizeof(q)), convert_supported_list());
        else
            lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "no architectures list; supported: %s",
                       convert_supported_list());
        goto fail;
    }
    snprintf(c->info.arch, sizeof(c->info.arch), "%s", c->arch->name);
    snprintf(c->info.hf_arch, sizeof(c->info.hf_arch), "%s", hf_arch);
    c->info.outtype = o && o->outtype != CONVERT_AUTO ? o->outtype : guess_outtype(c->ck);
    c->info.file_type = file_type_of(c->info.outtype);
    c->meta = convert_meta_new();
    if (!c->meta) {
        lm_err_set(err, LM_ENOMEM, dir, LM_NO_OFFSET, "out of memory");
        goto fail;
    }
    if (convert_cfg_init(&c->cfg, dir, hf_checkpoint_config(c->ck), err) ||
        need_sizes(&c->cfg, err) || convert_vocab_load(&c->vocab, dir, &c->cfg, err))
        goto fail;
    c->info.n_vocab = c->vocab.n;
    if (plan_tensors(c, err) || stage_meta(c, o, err) || build_writer(c, err))
        goto fail;
    return c;
fail:
    convert_close(c);
    return NULL;
}

const struct convert_info *convert_get_info(const struct convert *c)
{
    return &c->info;
}

int convert_write_fd(struct convert *c, int fd, const char *label, struct lm_progress *progress,
                     struct lm_err *err)
{
    if (gguf_writer_begin(c->w, fd, label, err))
        return -1;
    for (size_t i = 0; i < c->n_t; i++)
        if (convert_tensor_write(&c->t[i], c->w, progress, err))
            return -1;
    return gguf_writer_finish(c->w, err);
}

int convert_write(struct convert *c, const char *out, struct lm_progress *progress,
                  struct lm_err *err)
{
    struct lm_afile f;
    if (lm_afile_open(&f, out, err))
        return -1;
    if (convert_write_fd(c, f.fd, out, progress, err) || lm_afile_commit(&f, err)) {
        lm_afile_abort(&f);
        return -1;
    }
    return 0;
}

void convert_close(struct convert *c)
{
    if (!c)
        return;
    gguf_writer_free(c->w);
    free(c->t);
    for (size_t i = 0; i < c->n_gen; i++)
        free(c->gen[i].data);
    convert_meta_free(c->meta);
    convert_vocab_release(&c->vocab);
    convert_cfg_release(&c->cfg);
    hf_checkpoint_close(c->ck);
    free(c);
}
