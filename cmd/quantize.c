/* quantize.c: `lm quantize`, llama-quantize's file types and mixes with the same bytes. */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "../format/format.h"
#include "../quantize/quantize.h"
#include "../store/store.h"
#include "../common/banned.h"

static const char usage[] =
    "usage: lm quantize [OPTIONS] SRC DST TYPE\n"
    "       lm quantize [OPTIONS] SRC TYPE --as NAME\n"
    "       lm quantize --dry-run [--json] [OPTIONS] SRC TYPE\n"
    "\n"
    "Quantizes a GGUF model (F32, F16 or BF16 tensors) to TYPE, byte for byte as llama.cpp's\n"
    "llama-quantize does without an importance matrix: the same per-tensor mix, fallbacks,\n"
    "tensor order and metadata. SRC is a GGUF file or a model in the store; DST a file, or with\n"
    "--as a store name (recorded as derived from SRC).\n"
    "\n"
    "TYPE: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M\n"
    "      Q6_K IQ4_NL IQ4_XS F16 BF16 F32 (Q3_K, Q4_K, Q5_K mean the _M mixes), or its number\n"
    "\n"
    "  -t, --threads N             threads (default: every core); the output does not change\n"
    "  --pure                      no mix: every quantized tensor gets TYPE's own block type\n"
    "  --allow-requantize          quantize tensors that are already quantized\n"
    "  --leave-output-tensor       keep output.weight as it is\n"
    "  --output-tensor-type T      ggml type for output.weight\n"
    "  --token-embedding-type T    ggml type for token_embd.weight\n"
    "  --tensor-type PATTERN=T     ggml type for tensors whose name matches the regex PATTERN\n"
    "                              (repeatable; the first match wins)\n"
    "  --strict                    fail where llama-quantize silently falls back to another type\n"
    "  --dry-run                   print the plan (name, shape, from, to, why); write nothing\n"
    "  --json                      with --dry-run: the plan as JSON\n"
    "  --as NAME                   put the result in the store as NAME\n";

struct args {
    const char *src, *dst, *type, *as;
    bool dry_run, json;
    struct lm_quant_opts o;
    struct lm_tensor_override *ovr;
    char **ovr_pat;
};

static int ggml_type_arg(const char *opt, const char *s, int *out)
{
    int t = lm_type_from_name(s);
    if (t < 0 || !lm_type_get((uint32_t)t)) {
        lm_errorf("%s: unknown ggml type '%s'", opt, s);
        return -1;
    }
    *out = t;
    return 0;
}

static int add_override(struct args *a, const char *spec)
{
    const char *eq = strchr(spec, '=');
    int type;
    if (!eq || eq == spec || !eq[1]) {
        lm_errorf("--tensor-type wants PATTERN=TYPE, not '%s'", spec);
        return -1;
    }
    if (ggml_type_arg("--tensor-type", eq + 1, &type) != 0)
        return -1;
    size_t n = a->o.n_overrides;
    struct lm_tensor_override *o = realloc(a->ovr, (n + 1) * sizeof(*o));
    char **p = realloc(a->ovr_pat, (n + 1) * sizeof(*p));
    if (o)
        a->ovr = o;
    if (p)
        a->ovr_pat = p;
    if (!o || !p || !(a->ovr_pat[n] = strndup(spec, (size_t)(eq - spec)))) {
        lm_errorf("out of memory");
        return -1;
    }
    a->ovr[n].pattern = a->ovr_pat[n];
    a->ovr[n].type = (uint32_t)type;
    a->o.n_overrides = n + 1;
    a->o.overrides = a->ovr;
    return 0;
}

static void args_release(struct args *a)
{
    for (size_t i = 0; i < a->o.n_overrides; i++)
        free(a->ovr_pat[i]);
    free(a->ovr_pat);
    free(a->ovr);
}

/* 0 ok, else the exit status. */
static int parse(int argc, char **argv, struct args *a)
{
    const char *pos[4];
    int npos = 0;
    a->o.output_type = a->o.token_embd_type = -1;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (s[0] != '-' || strcmp(s, "-") == 0) {
            if (npos == 4)
                return cmd_usage(usage);
            pos[npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            while (++i < argc && npos < 4)
                pos[npos++] = argv[i];
            if (i < argc)
                return cmd_usage(usage);
            break;
        }
        bool takes = strcmp(s, "-t") == 0 || strcmp(s, "--threads") == 0 ||
                     strcmp(s, "--output-tensor-type") == 0 ||
                     strcmp(s, "--token-embedding-type") == 0 ||
                     strcmp(s, "--tensor-type") == 0 || strcmp(s, "--as") == 0;
        if (takes && !val) {
            lm_errorf("%s needs a value", s);
            return cmd_usage(usage);
        }
        if (strcmp(s, "--pure") == 0) a->o.pure = true;
        else if (strcmp(s, "--allow-requantize") == 0) a->o.allow_requantize = true;
        else if (strcmp(s, "--leave-output-tensor") == 0) a->o.leave_output = true;
        else if (strcmp(s, "--strict") == 0) a->o.strict = true;
        else if (strcmp(s, "--dry-run") == 0) a->dry_run = true;
        else if (strcmp(s, "--json") == 0) a->json = true;
        else if (!takes) {
            lm_errorf("unknown option '%s'", s);
            return cmd_usage(usage);
        } else {
            i++;
            if (strcmp(s, "-t") == 0 || strcmp(s, "--threads") == 0) {
                uint64_t n;
                if (lm_parse_u64(val, 1, 512, &n) != 0) {
                    lm_errorf("%s: '%s' is not a thread count from 1 to 512", s, val);
                    return LM_EXIT_USAGE;
                }
                a->o.threads = (int)n;
            } else if (strcmp(s, "--output-tensor-type") == 0) {
                if (ggml_type_arg(s, val, &a->o.output_type))
                    return LM_EXIT_USAGE;
            } else if (strcmp(s, "--token-embedding-type") == 0) {
                if (ggml_type_arg(s, val, &a->o.token_embd_type))
                    return LM_EXIT_USAGE;
            } else if (strcmp(s, "--tensor-type") == 0) {
                if (add_override(a, val))
                    return LM_EXIT_USAGE;
            } else {
                a->as = val;
            }
        }
    }
    /* SRC DST TYPE, or SRC TYPE with --as or --dry-run. */
    if (npos == 3 && !a->as) {
        a->src = pos[0];
        a->dst = pos[1];
        a->type = pos[2];
    } else if (npos == 2 && (a->as || a->dry_run)) {
        a->src = pos[0];
        a->type = pos[1];
    } else {
        return cmd_usage(usage);
    }
    if (a->json && !a->dry_run) {
        lm_errorf("--json goes with --dry-run");
        return LM_EXIT_USAGE;
    }
    a->o.ftype = lm_ftype_parse(a->type);
    if (a->o.ftype < 0) {
        lm_errorf("unknown quantization type '%s'; one of %s", a->type, lm_ftype_list());
        return LM_EXIT_USAGE;
    }
    return 0;
}

/* ---- --dry-run --------------------------------------------------------------------------- */

static void shape_str(const struct lm_plan_entry *e, char *buf, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (uint32_t d = 0; d < e->n_dims && o < n; d++)
        o += (size_t)snprintf(buf + o, n - o, "%s%llu", d ? "x" : "",
                              (unsigned long long)e->t->ne[d]);
}

static int print_plan(const struct lm_plan *p, const struct args *a)
{
    char q[LM_QUOTE_MAX * 4 + 1], shape[96], in[32], out[32];
    if (a->json) {
        json_t *doc = json_object(), *arr = json_array();
        json_object_set_new(doc, "file_type", json_string(lm_ftype_name(a->o.ftype)));
        json_object_set_new(doc, "file_type_id", json_integer(a->o.ftype));
        for (size_t i = 0; i < p->n; i++) {
            const struct lm_plan_entry *e = &p->e[i];
            json_t *t = json_object(), *sh = json_array();
            for (uint32_t d = 0; d < e->n_dims; d++)
                json_array_append_new(sh, json_integer((json_int_t)e->t->ne[d]));
            json_object_set_new(t, "name", lm_json_string(e->t->name, strlen(e->t->name)));
            json_object_set_new(t, "shape", sh);
            json_object_set_new(t, "from", json_string(lm_type_get(e->t->type)->name));
            json_object_set_new(t, "to", json_string(lm_type_get(e->to)->name));
            json_object_set_new(t, "why", json_string(e->why));
            json_object_set_new(t, "bytes", json_integer((json_int_t)e->out_bytes));
            json_array_append_new(arr, t);
        }
        json_object_set_new(doc, "tensors", arr);
        json_object_set_new(doc, "fallbacks", json_integer((json_int_t)p->n_fallback));
        json_object_set_new(doc, "in_bytes", json_integer((json_int_t)p->in_bytes));
        json_object_set_new(doc, "out_bytes", json_integer((json_int_t)p->out_bytes));
        return lm_json_print(doc) ? LM_EXIT_FAIL : LM_EXIT_OK;
    }
    printf("%-36s %-16s %-6s %-6s %s\n", "NAME", "SHAPE", "FROM", "TO", "WHY");
    for (size_t i = 0; i < p->n; i++) {
        const struct lm_plan_entry *e = &p->e[i];
        shape_str(e, shape, sizeof(shape));
        printf("%-36s %-16s %-6s %-6s %s\n", lm_quote(e->t->name, strlen(e->t->name), q, sizeof(q)),
               shape, lm_type_get(e->t->type)->name, lm_type_get(e->to)->name, e->why);
    }
    lm_fmt_bytes(p->in_bytes, in, sizeof(in));
    lm_fmt_bytes(p->out_bytes, out, sizeof(out));
    printf("%zu tensors, %zu fallbacks: %s -> %s (%s)\n", p->n, p->n_fallback, in, out,
           lm_ftype_name(a->o.ftype));
    return LM_EXIT_OK;
}

/* ---- quantizing -------------------------------------------------------------------------- */

struct prog {
    struct lm_progress bar;
    uint64_t last;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct prog *p = ctx;
    (void)total;
    lm_progress_add(&p->bar, done - p->last);
    p->last = done;
}

/* ---- the store: a store name as SRC, --as NAME ------------------------------------------- */

struct src {
    char path[PATH_MAX];          /* the GGUF to read: SRC itself or a blob */
    char gguf_layer[512];         /* the weights layer's path inside the source model */
    char digest[65];              /* sha256 of the source GGUF ("" until known) */
    struct lm_model *model;       /* the source model when SRC is a store name */
};

/* The options that shape the output, for the derivation record. */
static char *params_json(const struct args *a, const char *src_digest)
{
    const struct lm_quant_opts *o = &a->o;
    json_t *p = json_object(), *tt = json_array();
    json_object_set_new(p, "type", json_string(lm_ftype_name(o->ftype)));
    json_object_set_new(p, "file_type", json_integer(o->ftype));
    json_object_set_new(p, "source_sha256", json_string(src_digest));
    json_object_set_new(p, "pure", json_boolean(o->pure));
    json_object_set_new(p, "allow_requantize", json_boolean(o->allow_requantize));
    json_object_set_new(p, "leave_output_tensor", json_boolean(o->leave_output));
    json_object_set_new(p, "output_tensor_type", o->output_type < 0 ? json_null() :
                        json_string(lm_type_get((uint32_t)o->output_type)->name));
    json_object_set_new(p, "token_embedding_type", o->token_embd_type < 0 ? json_null() :
                        json_string(lm_type_get((uint32_t)o->token_embd_type)->name));
    for (size_t i = 0; i < o->n_overrides; i++) {
        json_t *t = json_object();
        json_object_set_new(t, "pattern", lm_json_string(o->overrides[i].pattern,
                                                         strlen(o->overrides[i].pattern)));
        json_object_set_new(t, "type", json_string(lm_type_get(o->overrides[i].type)->name));
        json_array_append_new(tt, t);
    }
    json_object_set_new(p, "tensor_types", tt);
    json_object_set_new(p, "strict", json_boolean(o->strict));
    char *s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(p);
    return s;
}

/* SRC is a file if one exists by that name, else a model in the store. */
static int resolve_src(const char *arg, struct lm_store **store, struct src *src,
                       struct lm_err *err)
{
    memset(src, 0, sizeof(*src));
    if (access(arg, F_OK) == 0) {
        snprintf(src->path, sizeof(src->path), "%s", arg);
        return 0;
    }
    if (!*store && !(*store = lm_store_open(NULL, err)))
        return -1;
    if (lm_model_get(*store, arg, &src->model, err) != 0) {
        if (err->code == LM_ENOTFOUND)
            lm_err_set(err, LM_ENOTFOUND, arg, LM_NO_OFFSET,
                       "no such file, and no model of that name in the store");
        return -1;
    }
    const struct lm_model_layer *l = lm_model_layer_by_type(src->model, LM_MT_GGUF);
    if (!l)
        return lm_err_set(err, LM_EUNSUPPORTED, arg, LM_NO_OFFSET,
                          "model has no GGUF weights (lm convert makes them)");
    snprintf(src->path, sizeof(src->path), "%s", l->blob);
    snprintf(src->gguf_layer, sizeof(src->gguf_layer), "%s", l->path);
    snprintf(src->digest, sizeof(src->digest), "%s", l->digest);
    return 0;
}

/* Write the output as a blob and add NAME: the source model's other files (template, license,
 * params ...) with the new GGUF in place of its weights, and how it was made. */
static int store_result(struct lm_store *s, const struct args *a, const struct gguf *g,
                        const struct lm_plan *plan, struct src *src, struct prog *p,
                        struct lm_err *err)
{
    char gguf_name[128], url[PATH_MAX + 8], *params = NULL;
    struct lm_layer *layers = NULL;
    struct lm_blob blob;
    int ret = -1;
    uint64_t src_size;
    if (!src->digest[0] && lm_sha256_file(src->path, src->digest, &src_size, err) != 0)
        return -1;
    struct lm_blob_writer *w = lm_blob_begin(s, LM_MT_GGUF, LM_SIZE_ANY, a->as, err);
    if (!w)
        return -1;
    if (lm_quantize_gguf_fd(g, src->path, plan, &a->o, lm_blob_fd(w), a->as, on_progress, p,
                            err) != 0) {
        lm_blob_abort(w);
        return -1;
    }
    if (lm_blob_commit(w, NULL, &blob, err) != 0)
        return -1;
    snprintf(gguf_name, sizeof(gguf_name), "model-%s.gguf", lm_ftype_name(a->o.ftype));
    size_t n = 0, cap = 1 + (src->model ? src->model->n_layers : 0);
    layers = calloc(cap, sizeof(*layers));
    params = params_json(a, src->digest);
    if (!layers || !params) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    layers[n++] = (struct lm_layer){ gguf_name, blob.digest, blob.size, "weights", LM_MT_GGUF };
    for (size_t i = 0; src->model && i < src->model->n_layers; i++) {
        const struct lm_model_layer *l = &src->model->layers[i];
        if (strcmp(l->role, "weights") == 0 || strcmp(l->path, gguf_name) == 0)
            continue;   /* the old weights, GGUF or safetensors, stay with the source */
        layers[n++] = (struct lm_layer){ l->path, l->digest, l->size, l->role, l->media_type };
    }
    struct lm_derivation d = { "quantize", params, src->model ? src->model->manifest : NULL };
    struct lm_provenance prov = { .kind = "derived", .extra_json = params };
    if (!src->model) {
        char abs[PATH_MAX];
        snprintf(url, sizeof(url), "file://%s", realpath(src->path, abs) ? abs : src->path);
        prov.url = url;
    } else {
        prov.url = src->model->name;
    }
    struct lm_model_spec spec = { a->as, layers, n, &prov, src->model ? &d : NULL,
                                  src->model ? 1 : 0 };
    ret = lm_store_add_models(s, "quantize", &spec, 1, NULL, err);
out:
    free(layers);
    free(params);
    return ret;
}

int cmd_quantize(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(usage);
    struct args a = { 0 };
    struct lm_err err;
    struct gguf *g = NULL;
    struct lm_plan plan = { 0 };
    struct lm_store *store = NULL;
    struct src src = { 0 };
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        goto out;
    rc = LM_EXIT_FAIL;
    lm_err_clear(&err);
    if (a.as) {
        struct lm_name nm;
        if (lm_name_parse(a.as, &nm, &err) != 0) {
            lm_report(&err);
            rc = LM_EXIT_USAGE;
            goto out;
        }
        if (!(store = lm_store_open(NULL, &err))) {
            lm_report(&err);
            goto out;
        }
        lm_store_set_command(store, argc, argv);
    }
    if (resolve_src(a.src, &store, &src, &err) != 0 || !(g = gguf_open(src.path, &err)) ||
        lm_quant_plan(g, a.src, &a.o, &plan, &err) != 0) {
        lm_report(&err);
        rc = err.code == LM_EUSAGE ? LM_EXIT_USAGE : LM_EXIT_FAIL;
        goto out;
    }
    if (a.dry_run) {
        rc = print_plan(&plan, &a);
        goto out;
    }
    struct prog p = { 0 };
    lm_progress_begin(&p.bar, "quantize", plan.in_bytes);
    int q = a.as ? store_result(store, &a, g, &plan, &src, &p, &err)
                 : lm_quantize_gguf(g, src.path, &plan, &a.o, a.dst, on_progress, &p, &err);
    lm_progress_end(&p.bar);
    if (q != 0) {
        lm_report(&err);
        goto out;
    }
    if (plan.n_fallback)
        lm_warnf("%zu of %zu tensors fell back to another type (lm quantize --dry-run shows "
                 "which)", plan.n_fallback, plan.n);
    rc = LM_EXIT_OK;
out:
    lm_plan_release(&plan);
    gguf_close(g);
    lm_model_free(src.model);
    lm_store_close(store);
    args_release(&a);
    return rc;
}
