/* quantize.c: `lm quantize`, llama-quantize's file types and mixes with the same bytes. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "../format/format.h"
#include "../quantize/quantize.h"
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

int cmd_quantize(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(usage);
    struct args a = { 0 };
    struct lm_err err;
    struct gguf *g = NULL;
    struct lm_plan plan = { 0 };
    int rc = parse(argc, argv, &a);
    if (rc != 0)
        goto out;
    rc = LM_EXIT_FAIL;
    if (a.as) {
        lm_errorf("--as: the store is not wired to quantize yet; write a file instead");
        goto out;
    }
    g = gguf_open(a.src, &err);
    if (!g || lm_quant_plan(g, a.src, &a.o, &plan, &err) != 0) {
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
    int q = lm_quantize_gguf(g, a.src, &plan, &a.o, a.dst, on_progress, &p, &err);
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
    args_release(&a);
    return rc;
}
