/* run.c: `lm run`, generate text from a GGUF model on the CPU. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "../format/format.h"
#include "../runtime/runtime.h"
#include "../common/banned.h"

#define RUN_SYNOPSIS "usage: lm run [OPTIONS] MODEL [PROMPT]\n"

static const char run_short_usage[] = RUN_SYNOPSIS "Run 'lm run --help' for the options.\n";

static const char run_usage[] =
    RUN_SYNOPSIS
    "\n"
    "Generates text from MODEL (a GGUF file, or a model name in the store) on the CPU and streams\n"
    "it to stdout. The prompt is PROMPT, or what stdin holds; a model with a chat template gets\n"
    "it as one user message in that template (see --raw). Generation stops at an\n"
    "end-of-generation token, after -n tokens, or when the context is full.\n"
    "\n"
    "  -n N                  tokens to generate (default: no limit)\n"
    "  -t, --threads N       threads (default: the online CPUs, at most 16)\n"
    "  --ctx N               context size in tokens (default: the model's, at most 4096)\n"
    "  --temperature T       0 is greedy (default 0.8)\n"
    "  --top-k K             keep the K most likely tokens; 0 keeps all (default 40)\n"
    "  --top-p P             keep the smallest set with probability P; 1 is off (default 0.95)\n"
    "  --min-p P             drop tokens below P times the best's probability (default 0.05)\n"
    "  --repeat-penalty F    divide the logits of recent tokens by F; 1 is off (default 1)\n"
    "  --repeat-last-n N     how many recent tokens the penalty looks at (default 64)\n"
    "  --seed N              random seed; the same seed gives the same text (default: random)\n"
    "  --kv-type f16|f32     KV cache element type (default f16, as llama.cpp)\n"
    "  --raw                 use the prompt as it is: no chat template, and special-token text\n"
    "                        such as <|im_end|> stays text\n"
    "  --ignore-eos          do not stop at end-of-generation tokens (benchmarks)\n"
    "  --logits-out FILE     write the logits of every prompt position to FILE as\n"
    "                        little-endian f32 [n_tokens][n_vocab]; then generate only with -n\n"
    "  --verbose             print load time and prompt and generation speed to stderr\n";

struct run_opts {
    const char *model, *prompt, *logits_out;
    int64_t n_predict;           /* -1: no limit */
    uint32_t threads, n_ctx;
    bool raw, verbose, seed_set, ignore_eos;
    enum lm_kv_type kv_type;
    struct lm_sampler_params sp;
};

static int bad_value(const char *opt, const char *v, const char *want)
{
    lm_errorf("%s: invalid value '%s' (want %s)", opt, v, want);
    return LM_EXIT_USAGE;
}

static int parse_float(const char *opt, const char *v, float lo, float hi, float *out)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d) || d < lo || d > hi) {
        char want[64];
        snprintf(want, sizeof(want), "a number from %g to %g", lo, hi);
        return bad_value(opt, v, want);
    }
    *out = (float)d;
    return 0;
}

static int parse_uint(const char *opt, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (lm_parse_u64(v, lo, hi, out) < 0) {
        char want[64];
        snprintf(want, sizeof(want), "an integer from %llu to %llu", (unsigned long long)lo,
                 (unsigned long long)hi);
        return bad_value(opt, v, want);
    }
    return 0;
}

static int parse_opts(int argc, char **argv, struct run_opts *o)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    memset(o, 0, sizeof(*o));
    o->n_predict = -1;
    o->threads = ncpu < 1 ? 1 : ncpu > 16 ? 16 : (uint32_t)ncpu;
    o->kv_type = LM_KV_F16;
    o->sp = (struct lm_sampler_params){ .temperature = 0.8f, .top_k = 40, .top_p = 0.95f,
                                        .min_p = 0.05f, .repeat_penalty = 1.0f,
                                        .repeat_last_n = 64 };
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i], *v = NULL;
        uint64_t u;
        if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++, npos++)
                *(npos == 0 ? &o->model : &o->prompt) = argv[i];
            break;
        }
        if (a[0] != '-' || a[1] == 0) {
            if (npos >= 2)
                return cmd_usage(run_short_usage);
            *(npos++ == 0 ? &o->model : &o->prompt) = a;
            continue;
        }
        if (strcmp(a, "--raw") == 0) { o->raw = true; continue; }
        if (strcmp(a, "--verbose") == 0) { o->verbose = true; continue; }
        if (strcmp(a, "--ignore-eos") == 0) { o->ignore_eos = true; continue; }
        char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq) {
            *eq = 0;
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            lm_errorf("option %s needs a value", a);
            return cmd_usage(run_short_usage);
        }
        int rc = 0;
        if (strcmp(a, "-n") == 0) {
            rc = parse_uint(a, v, 0, INT32_MAX, &u);
            o->n_predict = (int64_t)u;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            rc = parse_uint(a, v, 1, 256, &u);
            o->threads = (uint32_t)u;
        } else if (strcmp(a, "--ctx") == 0) {
            rc = parse_uint(a, v, 1, 1u << 20, &u);
            o->n_ctx = (uint32_t)u;
        } else if (strcmp(a, "--temperature") == 0 || strcmp(a, "--temp") == 0) {
            rc = parse_float(a, v, 0, 100, &o->sp.temperature);
        } else if (strcmp(a, "--top-k") == 0) {
            rc = parse_uint(a, v, 0, INT32_MAX, &u);
            o->sp.top_k = (int32_t)u;
        } else if (strcmp(a, "--top-p") == 0) {
            rc = parse_float(a, v, 0, 1, &o->sp.top_p);
        } else if (strcmp(a, "--min-p") == 0) {
            rc = parse_float(a, v, 0, 1, &o->sp.min_p);
        } else if (strcmp(a, "--repeat-penalty") == 0) {
            rc = parse_float(a, v, 0, 100, &o->sp.repeat_penalty);
        } else if (strcmp(a, "--repeat-last-n") == 0) {
            rc = parse_uint(a, v, 0, 1u << 20, &u);
            o->sp.repeat_last_n = (int32_t)u;
        } else if (strcmp(a, "--seed") == 0) {
            rc = parse_uint(a, v, 0, UINT64_MAX, &o->sp.seed);
            o->seed_set = true;
        } else if (strcmp(a, "--kv-type") == 0) {
            if (strcmp(v, "f16") == 0)
                o->kv_type = LM_KV_F16;
            else if (strcmp(v, "f32") == 0)
                o->kv_type = LM_KV_F32;
            else
                rc = bad_value(a, v, "f16 or f32");
        } else if (strcmp(a, "--logits-out") == 0) {
            o->logits_out = v;
        } else {
            lm_errorf("unknown option '%s'", a);
            return cmd_usage(run_short_usage);
        }
        if (rc)
            return rc;
    }
    if (!o->model)
        return cmd_usage(run_short_usage);
    if (o->logits_out && !o->raw) {
        lm_errorf("--logits-out needs --raw (the logits are of the prompt as given)");
        return LM_EXIT_USAGE;
    }
    if (o->logits_out && o->n_predict < 0)
        o->n_predict = 0;
    if (!o->seed_set)
        o->sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return 0;
}

/* The text to tokenize: with --raw the prompt as given; else, when the model has a chat
 * template, the prompt as one user message in it (llama.cpp's built-in formatter that the
 * template names, chatml if none does), with the assistant's turn opened. */
static int format_prompt(const struct run_opts *o, const struct gguf *g, struct lm_buf *text,
                         struct lm_err *err)
{
    const struct gguf_kv *kv = o->raw ? NULL : gguf_kv_find(g, "tokenizer.chat_template");
    struct gguf_str tmpl;
    if (!kv || gguf_kv_str(kv, &tmpl) < 0)
        return 0;
    enum lm_chat_family f = lm_chat_detect(tmpl.p, (size_t)tmpl.len);
    if (f == LM_CHAT_UNKNOWN) {
        lm_warnf("chat template not recognised; using %s", lm_chat_family_name(LM_CHAT_FALLBACK));
        f = LM_CHAT_FALLBACK;
    }
    struct lm_chat chat;
    struct lm_buf out = LM_BUF_INIT(LM_TOK_MAX_TEXT);
    int rc = -1;
    lm_chat_init(&chat);
    if (lm_chat_add(&chat, "user", text->data ? text->data : "", text->len, err) < 0 ||
        lm_chat_render(f, chat.msgs, chat.n, true, &out, err) < 0)
        goto out;
    lm_buf_release(text);
    *text = out;
    out = (struct lm_buf)LM_BUF_INIT(0);
    rc = 0;
out:
    lm_buf_release(&out);
    lm_chat_release(&chat);
    return rc;
}

/* PROMPT, or all of stdin. */
static int read_prompt(const struct run_opts *o, struct lm_buf *text, struct lm_err *err)
{
    if (o->prompt)
        return lm_buf_add(text, o->prompt, strlen(o->prompt)) < 0
                   ? lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "prompt is too long")
                   : 0;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
        if (lm_buf_add(text, chunk, n) < 0)
            return lm_err_set(err, LM_EUSAGE, "<stdin>", LM_NO_OFFSET,
                              "prompt is longer than %u bytes", LM_TOK_MAX_TEXT);
    if (ferror(stdin))
        return lm_err_errno(err, "<stdin>", "read");
    return 0;
}

static int write_logits(const char *path, const float *logits, uint32_t n, uint32_t n_vocab,
                        struct lm_err *err)
{
    return lm_write_file_atomic(path, logits, (size_t)n * n_vocab * sizeof(float), err);
}

struct timing {
    double start, loaded, prompt_done, end;
    uint32_t n_prompt, n_gen;
};

static void print_timing(const struct timing *t)
{
    double pd = t->prompt_done - t->loaded, gd = t->end - t->prompt_done;
    fprintf(stderr, "total duration:       %.3fs\n", t->end - t->start);
    fprintf(stderr, "load duration:        %.3fs\n", t->loaded - t->start);
    fprintf(stderr, "prompt eval count:    %u token(s)\n", t->n_prompt);
    fprintf(stderr, "prompt eval duration: %.3fs\n", pd);
    fprintf(stderr, "prompt eval rate:     %.2f tokens/s\n", pd > 0 ? t->n_prompt / pd : 0.0);
    fprintf(stderr, "eval count:           %u token(s)\n", t->n_gen);
    fprintf(stderr, "eval duration:        %.3fs\n", gd);
    fprintf(stderr, "eval rate:            %.2f tokens/s\n", gd > 0 ? t->n_gen / gd : 0.0);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        fprintf(stderr, "peak memory:          %.1f MiB\n", ru.ru_maxrss / 1024.0);
}

/* Sample, print and feed back tokens until end of generation, -n, or a full context. */
static int generate(const struct run_opts *o, struct lm_ctx *c, const struct lm_tokenizer *tok,
                    struct lm_sampler *s, struct timing *tm, struct lm_err *err)
{
    struct lm_detok d;
    struct lm_buf out = LM_BUF_INIT(1u << 20);
    int ret = -1;
    lm_detok_init(&d, tok, false);
    for (int64_t i = 0; o->n_predict < 0 || i < o->n_predict; i++) {
        int32_t next = lm_sampler_sample(s, lm_ctx_logits(c, NULL));
        if (!o->ignore_eos && lm_tokenizer_is_eog(tok, next))
            break;
        out.len = 0;
        if (lm_detok_push(&d, next, &out, err) < 0)
            goto done;
        fwrite(out.data, 1, out.len, stdout);
        fflush(stdout);
        tm->n_gen++;
        lm_sampler_accept(s, next);
        if (lm_ctx_n_past(c) >= lm_ctx_n_ctx(c))
            break;   /* the context is full */
        if (lm_ctx_eval(c, &next, 1, false, err) < 0)
            goto done;
    }
    out.len = 0;
    if (lm_detok_flush(&d, &out, err) < 0)
        goto done;
    fwrite(out.data, 1, out.len, stdout);
    if (tm->n_gen > 0)
        fputc('\n', stdout);
    ret = 0;
done:
    lm_buf_release(&out);
    return ret;
}

int cmd_run(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(run_usage);
    struct run_opts o;
    int rc = parse_opts(argc, argv, &o);
    if (rc)
        return rc;

    struct timing tm = { .start = lm_now() };
    struct lm_err err = { 0 };
    struct lm_buf text = LM_BUF_INIT(LM_TOK_MAX_TEXT);
    struct lm_tokenizer *tok = NULL;
    struct lm_net *net = NULL;
    struct lm_ctx *c = NULL;
    struct lm_sampler *s = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char path[1024];
    int ret = LM_EXIT_FAIL;

    struct gguf *g = cmd_open_gguf(o.model, path, sizeof(path), &err);
    if (!g || !(tok = lm_tokenizer_new(g, path, &err)))
        goto fail;
    net = lm_net_from_gguf(g, path, &err);   /* takes g */
    g = NULL;
    if (!net)
        goto fail;
    const struct lm_hparams *hp = lm_net_hparams(net);
    if (lm_tokenizer_n_vocab(tok) != hp->n_vocab) {
        lm_err_set(&err, LM_ECORRUPT, path, LM_NO_OFFSET,
                   "tokenizer has %u tokens but the model's embeddings have %u",
                   lm_tokenizer_n_vocab(tok), hp->n_vocab);
        goto fail;
    }
    struct lm_ctx_params cp = { .n_ctx = o.n_ctx, .n_threads = o.threads, .kv_type = o.kv_type };
    if (!(c = lm_ctx_new(net, &cp, &err)))
        goto fail;
    if (!(s = lm_sampler_new(&o.sp, hp->n_vocab))) {
        lm_err_set(&err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto fail;
    }
    tm.loaded = lm_now();

    if (read_prompt(&o, &text, &err) < 0 || format_prompt(&o, lm_net_gguf(net), &text, &err) < 0 ||
        lm_tokenize(tok, text.data ? text.data : "", text.len, true, !o.raw, &ids, &n_ids,
                    &err) < 0)
        goto fail;
    if (n_ids == 0) {
        lm_err_set(&err, LM_EUSAGE, NULL, LM_NO_OFFSET, "the prompt is empty");
        goto fail;
    }
    if (n_ids >= lm_ctx_n_ctx(c)) {
        lm_err_set(&err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                   "the prompt is %zu tokens, the context only %u (see --ctx)", n_ids,
                   lm_ctx_n_ctx(c));
        goto fail;
    }
    for (size_t i = 0; i < n_ids; i++)
        lm_sampler_accept(s, ids[i]);
    if (lm_ctx_eval(c, ids, (uint32_t)n_ids, o.logits_out != NULL, &err) < 0)
        goto fail;
    tm.n_prompt = (uint32_t)n_ids;
    tm.prompt_done = lm_now();
    if (o.logits_out &&
        write_logits(o.logits_out, lm_ctx_logits(c, NULL), (uint32_t)n_ids, hp->n_vocab, &err) < 0)
        goto fail;
    if (generate(&o, c, tok, s, &tm, &err) < 0)
        goto fail;
    tm.end = lm_now();
    if (o.verbose) {
        fprintf(stderr, "kernels:              %s, %u thread(s), seed %llu\n",
                lm_kernels_name(lm_kernels_level()), o.threads, (unsigned long long)o.sp.seed);
        print_timing(&tm);
    }
    ret = LM_EXIT_OK;
    goto out;
fail:
    fflush(stdout);
    lm_report(&err);
out:
    free(ids);
    lm_buf_release(&text);
    lm_sampler_free(s);
    lm_ctx_free(c);
    lm_net_close(net);
    lm_tokenizer_free(tok);
    gguf_close(g);
    return ret;
}
