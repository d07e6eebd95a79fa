/* convert.c: `lm convert`, a Hugging Face safetensors checkpoint (a directory or a model in the
 * store) to the GGUF llama.cpp's converter writes, as a file or as a new model in the store. */
#define _GNU_SOURCE   /* mkdtemp */
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "../convert/convert.h"
#include "../store/store.h"
#include "../common/banned.h"

static const char usage[] =
    "usage: lm convert SRC [-o FILE.gguf] [--as NAME] [--outtype f32|f16|bf16|q8_0|auto]\n"
    "\n"
    "Converts a Hugging Face checkpoint (config.json, model.safetensors or sharded\n"
    "model-*.safetensors with model.safetensors.index.json, tokenizer files) to GGUF, tensor for\n"
    "tensor what llama.cpp's convert_hf_to_gguf.py writes: the same names, order, types, bytes and\n"
    "metadata. SRC is a checkpoint directory, or the name of a safetensors model in the store.\n"
    "Tensors are streamed one at a time; the output appears only when it is complete.\n"
    "\n"
    "  -o, --output FILE   write the GGUF to FILE (default for a directory: DIRNAME-OUTTYPE.gguf\n"
    "                      here; for a store model: the store)\n"
    "  --as NAME           put the result in the store as NAME, recorded as derived from SRC\n"
    "                      (default for a store model: its name with the tag OUTTYPE)\n"
    "  --outtype T         f32, f16, bf16, q8_0, or auto (default): bf16 or f16 as the first\n"
    "                      matrix in the checkpoint, else f16. Norms and biases stay F32; with\n"
    "                      q8_0, rows that are not a multiple of 32 become F16\n"
    "\n"
    "Architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM.\n";

struct args {
    const char *src, *out, *as;
    enum convert_outtype outtype;
};

static int bad_outtype(const char *s)
{
    lm_errorf("--outtype: '%s' is not f32, f16, bf16, q8_0 or auto", s);
    return LM_EXIT_USAGE;
}

static int parse(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof(*a));
    a->outtype = CONVERT_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0 || strcmp(s, "--as") == 0) {
            if (!val)
                return cmd_usage(usage);
            *(strcmp(s, "--as") == 0 ? &a->as : &a->out) = val;
            i++;
        } else if (strcmp(s, "--outtype") == 0) {
            if (!val || convert_outtype_parse(val, &a->outtype))
                return bad_outtype(val ? val : "");
            i++;
        } else if (strncmp(s, "--outtype=", 10) == 0) {
            if (convert_outtype_parse(s + 10, &a->outtype))
                return bad_outtype(s + 10);
        } else if (s[0] == '-' && s[1]) {
            lm_errorf("unknown option '%s'", s);
            return cmd_usage(usage);
        } else if (!a->src) {
            a->src = s;
        } else {
            return cmd_usage(usage);
        }
    }
    if (!a->src)
        return cmd_usage(usage);
    if (a->out && a->as) {
        lm_errorf("-o and --as: write a file or store a model, not both");
        return LM_EXIT_USAGE;
    }
    return LM_EXIT_OK;
}

/* ---- a store model as SRC: its files seen as a directory ------------------------------------ */

/* A temporary directory of symlinks named like the model's files, pointing at their blobs.
 * *made says whether there is a directory to drop (even when this fails half way). */
static int make_view(const struct lm_model *m, char *dir, size_t n, bool *made,
                     struct lm_err *err)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, n, "%s/lm-convert-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir))
        return lm_err_errno(err, dir, "create a temporary directory");
    *made = true;
    for (size_t i = 0; i < m->n_layers; i++) {
        char p[PATH_MAX], parent[PATH_MAX];
        int w = snprintf(p, sizeof(p), "%s/%s", dir, m->layers[i].path);
        if (w < 0 || (size_t)w >= sizeof(p))
            return lm_err_set(err, LM_EUSAGE, dir, LM_NO_OFFSET, "path too long");
        if (strchr(m->layers[i].path, '/')) {   /* a file in a subdirectory of the model */
            memcpy(parent, p, (size_t)w + 1);
            *strrchr(parent, '/') = 0;
            if (lm_mkdirs(parent, err))
                return -1;
        }
        if (symlink(m->layers[i].blob, p) < 0)
            return lm_err_errno(err, p, "symlink");
    }
    return 0;
}

static void drop_view(const struct lm_model *m, const char *dir)
{
    for (size_t i = 0; m && i < m->n_layers; i++) {
        char p[PATH_MAX];
        int w = snprintf(p, sizeof(p), "%s/%s", dir, m->layers[i].path);
        if (w < 0 || (size_t)w >= sizeof(p))
            continue;
        unlink(p);
        for (char *s = strrchr(p, '/'); s && s > p + strlen(dir); s = strrchr(p, '/')) {
            *s = 0;
            rmdir(p);   /* fails while other files remain: fine */
        }
    }
    rmdir(dir);
}

/* SRC: a directory if one exists by that name, else a safetensors model in the store. */
static int resolve_src(const char *src, struct lm_store **store, struct lm_model **m,
                       char *dir, size_t n, bool *view, struct lm_err *err)
{
    if (access(src, F_OK) == 0) {
        snprintf(dir, n, "%s", src);
        return 0;
    }
    if (!*store && !(*store = lm_store_open(NULL, err)))
        return -1;
    if (lm_model_get(*store, src, m, err)) {
        if (err->code == LM_ENOTFOUND)
            lm_err_set(err, LM_ENOTFOUND, src, LM_NO_OFFSET,
                       "no such directory, and no model of that name in the store");
        return -1;
    }
    if (!lm_model_layer_by_type(*m, LM_MT_SAFETENSORS))
        return lm_err_set(err, LM_EUNSUPPORTED, src, LM_NO_OFFSET,
                          "model has no safetensors weights to convert");
    return make_view(*m, dir, n, view, err);
}

/* The store name for a converted store model: its tag becomes the outtype ("x:latest" -> "x:f16",
 * "x:v2" -> "x:v2-f16"). */
static int derived_name(const char *src, enum convert_outtype t, char *out, size_t n,
                        struct lm_err *err)
{
    struct lm_name nm;
    char type[16], tag[LM_NAME_PART_MAX + 1];
    if (lm_name_parse(src, &nm, err))
        return -1;
    snprintf(type, sizeof(type), "%s", convert_outtype_name(t));
    for (char *c = type; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    if (strcasecmp(nm.tag, "latest") == 0)
        snprintf(tag, sizeof(tag), "%s", type);
    else
        snprintf(tag, sizeof(tag), "%.60s-%s", nm.tag, type);
    snprintf(nm.tag, sizeof(nm.tag), "%s", tag);
    lm_name_display(&nm, out, n);
    return 0;
}

/* ---- writing --------------------------------------------------------------------------------- */

static int write_file(struct convert *c, const char *out, struct lm_progress *p,
                      struct lm_err *err)
{
    struct lm_afile f;   /* its temp file is tracked: a signal removes it (cmd/lm.c) */
    if (lm_afile_open(&f, out, err))
        return -1;
    int rc = convert_write_fd(c, f.fd, out, p, err) || lm_afile_commit(&f, err) ? -1 : 0;
    if (rc)
        lm_afile_abort(&f);
    return rc;
}

/* What shaped the output, for the derivation record (the store adds lm's version). */
static char *params_json(const struct convert_info *info)
{
    json_t *p = json_pack("{s:s, s:i, s:s, s:s}", "outtype", convert_outtype_name(info->outtype),
                          "file_type", (int)info->file_type, "architecture", info->arch,
                          "hf_architecture", info->hf_arch);
    char *s = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(p);
    return s;
}

/* The GGUF as a blob, then NAME: it and the source's license, readme, template and params files,
 * with how it was made (the source manifest when SRC is a store model). */
static int write_store(struct lm_store *s, struct convert *c, const char *name, const char *src,
                       const struct lm_model *m, struct lm_progress *p, struct lm_err *err)
{
    const struct convert_info *info = convert_get_info(c);
    char layer_name[64], url[PATH_MAX + 8], abs[PATH_MAX], *params = params_json(info);
    struct lm_layer *layers = calloc(1 + (m ? m->n_layers : 0), sizeof(*layers));
    struct lm_blob blob;
    int ret = -1;
    if (!params || !layers) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    struct lm_blob_writer *w = lm_blob_begin(s, LM_MT_GGUF, info->file_size, name, err);
    if (!w)
        goto out;
    if (convert_write_fd(c, lm_blob_fd(w), name, p, err)) {
        lm_blob_abort(w);
        goto out;
    }
    if (lm_blob_commit(w, NULL, &blob, err))
        goto out;
    snprintf(layer_name, sizeof(layer_name), "model-%s.gguf", convert_outtype_name(info->outtype));
    size_t n = 0;
    layers[n++] = (struct lm_layer){ layer_name, blob.digest, blob.size, "weights", LM_MT_GGUF };
    static const char *const keep[] = { "license", "readme", "template", "params" };
    for (size_t i = 0; m && i < m->n_layers; i++)
        for (size_t k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
            if (strcmp(m->layers[i].role, keep[k]) == 0)
                layers[n++] = (struct lm_layer){ m->layers[i].path, m->layers[i].digest,
                                                 m->layers[i].size, m->layers[i].role,
                                                 m->layers[i].media_type };
    struct lm_derivation d = { "convert", params, m ? m->manifest : NULL };
    struct lm_provenance prov = { .kind = "derived", .extra_json = params };
    if (m) {
        prov.url = m->name;
    } else {
        snprintf(url, sizeof(url), "file://%s", realpath(src, abs) ? abs : src);
        prov.url = url;
    }
    struct lm_model_spec spec = { name, layers, n, &prov, m ? &d : NULL, m ? 1 : 0 };
    ret = lm_store_add_models(s, "convert", &spec, 1, NULL, err);
out:
    free(layers);
    free(params);
    return ret;
}

int cmd_convert(int argc, char **argv)
{
    struct args a;
    struct lm_err err;
    struct lm_store *store = NULL;
    struct lm_model *m = NULL;
    struct convert *c = NULL;
    char dir[PATH_MAX] = "", dest[PATH_MAX], folder[LM_NAME_PART_MAX + 1], size[32];
    bool view = false;
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(usage);
    int rc = parse(argc, argv, &a);
    if (rc != LM_EXIT_OK)
        return rc;
    rc = LM_EXIT_FAIL;
    lm_err_clear(&err);
    if (a.as) {
        struct lm_name nm;
        if (lm_name_parse(a.as, &nm, &err)) {
            lm_report(&err);
            return LM_EXIT_USAGE;
        }
    }
    if (resolve_src(a.src, &store, &m, dir, sizeof(dir), &view, &err))
        goto fail;
    struct convert_opts o = { .outtype = a.outtype };
    if (m) {   /* name the model after the store name, as llama.cpp does after its folder */
        struct lm_name nm;
        if (lm_name_parse(m->name, &nm, &err) == 0) {
            snprintf(folder, sizeof(folder), "%s", nm.model);
            o.model_name_dir = folder;
        }
    }
    if (!(c = convert_open(dir, &o, &err)))
        goto fail;
    const struct convert_info *info = convert_get_info(c);
    bool to_store = a.as || (m && !a.out);
    if (a.out)
        snprintf(dest, sizeof(dest), "%s", a.out);
    else if (a.as)
        snprintf(dest, sizeof(dest), "%s", a.as);
    else if (m && derived_name(m->name, info->outtype, dest, sizeof(dest), &err))
        goto fail;
    if (!to_store && !a.out) {
        convert_folder_name(dir, folder, sizeof(folder));
        snprintf(dest, sizeof(dest), "%s-%s.gguf", folder, convert_outtype_name(info->outtype));
    }
    if (to_store) {
        if (!store && !(store = lm_store_open(NULL, &err)))
            goto fail;
        lm_store_set_command(store, argc, argv);
    }
    struct lm_progress p;
    lm_progress_begin(&p, "converting", info->data_size);
    int w = to_store ? write_store(store, c, dest, a.src, m, &p, &err) : write_file(c, dest, &p, &err);
    lm_progress_end(&p);
    if (w)
        goto fail;
    lm_fmt_bytes(info->file_size, size, sizeof(size));
    printf("%s: %s, %llu tensors, %s, %s%s\n", dest, info->arch,
           (unsigned long long)info->n_tensors, convert_outtype_name(info->outtype), size,
           to_store ? ", in the store" : "");
    rc = LM_EXIT_OK;
    goto out;
fail:
    lm_report(&err);
out:
    convert_close(c);
    if (view)
        drop_view(m, dir);
    lm_model_free(m);
    lm_store_close(store);
    return rc;
}

/* ---- for lm create: FROM a safetensors model in the store ------------------------------------- */

int cmd_convert_view(const struct lm_model *m, char *dir, size_t n, bool *made, struct lm_err *err)
{
    return make_view(m, dir, n, made, err);
}

void cmd_convert_view_drop(const struct lm_model *m, const char *dir)
{
    drop_view(m, dir);
}
