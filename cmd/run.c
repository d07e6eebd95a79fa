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
    "it to stdout. The prompt is PROMPT, or what stdin holds when it is not a terminal; on a\n"
    "terminal without PROMPT, lm run is a chat (type /? there for its commands). The prompt goes\n"
    "to the model as a user message in its chat template (see --raw): the Modelfile TEMPLATE of a\n"
    "model made by lm create, else the GGUF's tokenizer.chat_template; with neither, the prompt\n"
    "as it is. A model made by lm create also gets its SYSTEM, MESSAGEs and PARAMETERs (options\n"
    "given here win). Generation stops at an end-of-generation token, a stop parameter, after -n\n"
    "tokens, or when the context is full.\n"
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

/* Options given on the command line: they win over the model's Modelfile parameters. */
enum {
    SET_TEMP = 1, SET_TOP_K = 2, SET_TOP_P = 4, SET_MIN_P = 8, SET_REPEAT_PENALTY = 16,
    SET_REPEAT_LAST_N = 32, SET_N = 64, SET_THREADS = 128, SET_CTX = 256,
};

struct run_opts {
    const char *model, *prompt, *logits_out;
    int64_t n_predict;           /* -1: no limit */
    uint32_t threads, n_ctx;
    unsigned set;                /* SET_* */
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
            o->set |= SET_N;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            rc = parse_uint(a, v, 1, 256, &u);
            o->threads = (uint32_t)u;
            o->set |= SET_THREADS;
        } else if (strcmp(a, "--ctx") == 0) {
            rc = parse_uint(a, v, 1, 1u << 20, &u);
            o->n_ctx = (uint32_t)u;
            o->set |= SET_CTX;
        } else if (strcmp(a, "--temperature") == 0 || strcmp(a, "--temp") == 0) {
            rc = parse_float(a, v, 0, 100, &o->sp.temperature);
            o->set |= SET_TEMP;
        } else if (strcmp(a, "--top-k") == 0) {
            rc = parse_uint(a, v, 0, INT32_MAX, &u);
            o->sp.top_k = (int32_t)u;
            o->set |= SET_TOP_K;
        } else if (strcmp(a, "--top-p") == 0) {
            rc = parse_float(a, v, 0, 1, &o->sp.top_p);
            o->set |= SET_TOP_P;
        } else if (strcmp(a, "--min-p") == 0) {
            rc = parse_float(a, v, 0, 1, &o->sp.min_p);
            o->set |= SET_MIN_P;
        } else if (strcmp(a, "--repeat-penalty") == 0) {
            rc = parse_float(a, v, 0, 100, &o->sp.repeat_penalty);
            o->set |= SET_REPEAT_PENALTY;
        } else if (strcmp(a, "--repeat-last-n") == 0) {
            rc = parse_uint(a, v, 0, 1u << 20, &u);
            o->sp.repeat_last_n = (int32_t)u;
            o->set |= SET_REPEAT_LAST_N;
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

/* ---- the loaded model --------------------------------------------------------------------- */

struct cmd_run {
    struct run_opts o;
    char path[1024];              /* the GGUF */
    struct lm_modelfile mf;       /* the store model's Modelfile parts; /set changes them */
    struct lm_prompter pr;        /* unless --raw */
    struct lm_tokenizer *tok;
    struct lm_net *net;
    struct lm_ctx *c;
    struct lm_sampler_params sp;  /* the command line over the Modelfile */
    int64_t n_predict;            /* -1: no limit */
    int32_t *past;                /* the tokens in c's cache (n_ctx of room): a conversation's
                                   * next prompt starts with them, so only the rest is evaluated */
    uint32_t n_past;
    struct timing tm;
};

volatile sig_atomic_t cmd_run_cancel;

/* Ollama's template for a model that has none: the prompts and replies as they are. */
static const char plain_template[] = "{{ .Prompt }}";

static int run_settings(struct cmd_run *r, struct lm_err *err)
{
    const struct run_opts *o = &r->o;
    struct lm_sampler_params sp = o->sp;
    (void)err;
    lm_modelfile_sampler(&r->mf, &sp);
    if (o->set & SET_TEMP)
        sp.temperature = o->sp.temperature;
    if (o->set & SET_TOP_K)
        sp.top_k = o->sp.top_k;
    if (o->set & SET_TOP_P)
        sp.top_p = o->sp.top_p;
    if (o->set & SET_MIN_P)
        sp.min_p = o->sp.min_p;
    if (o->set & SET_REPEAT_PENALTY)
        sp.repeat_penalty = o->sp.repeat_penalty;
    if (o->set & SET_REPEAT_LAST_N)
        sp.repeat_last_n = o->sp.repeat_last_n;
    if (o->seed_set)
        sp.seed = o->sp.seed;
    r->sp = sp;
    const struct lm_mf_param *v = lm_modelfile_param(&r->mf, "num_predict");
    r->n_predict = o->n_predict;
    if (v && !(o->set & SET_N))
        r->n_predict = v->i < 0 ? -1 : v->i;   /* Ollama: -1 no limit, -2 fill the context */
    return 0;
}

/* A parameter set in the chat wins over the command line from then on. */
int cmd_run_set_param(struct cmd_run *r, const char *name, const char *value, struct lm_err *err)
{
    static const struct { const char *name; unsigned bit; } bits[] = {
        { "temperature", SET_TEMP }, { "top_k", SET_TOP_K }, { "top_p", SET_TOP_P },
        { "min_p", SET_MIN_P }, { "repeat_penalty", SET_REPEAT_PENALTY },
        { "repeat_last_n", SET_REPEAT_LAST_N }, { "num_predict", SET_N },
    };
    if (lm_modelfile_set_param(&r->mf, name, value, "/set parameter", err) < 0)
        return -1;
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
        if (strcmp(bits[i].name, name) == 0)
            r->o.set &= ~bits[i].bit;
    if (strcmp(name, "seed") == 0)
        r->o.seed_set = false;
    return run_settings(r, err);
}

int cmd_run_set_system(struct cmd_run *r, const char *text, struct lm_err *err)
{
    char *s = NULL;
    if (*text && !(s = strdup(text)))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    free(r->mf.system);
    r->mf.system = s;
    return 0;
}

const struct lm_modelfile *cmd_run_modelfile(const struct cmd_run *r)
{
    return &r->mf;
}

void cmd_run_print_info(const struct cmd_run *r)
{
    const struct lm_hparams *hp = lm_net_hparams(r->net);
    printf("  Model\n");
    printf("    %-20s%s\n", "architecture", hp->arch_name);
    printf("    %-20s%u\n", "context length", hp->n_ctx_train);
    printf("    %-20s%u\n", "embedding length", hp->n_embd);
    printf("    %-20s%u\n", "layers", hp->n_layer);
    printf("    %-20s%u\n", "vocabulary", hp->n_vocab);
    const char *t = r->o.raw      ? "none (--raw)"
                    : r->mf.tmpl  ? "the Modelfile's TEMPLATE (Go template)"
                    : r->pr.gotmpl ? "none: prompts and answers as they are"
                                   : lm_prompter_name(&r->pr);
    printf("    %-20s%s%s\n", "template", t, r->pr.fallback ? " (fallback)" : "");
    printf("    %-20s%s\n\n", "file", r->path);
}

void cmd_run_print_template(const struct cmd_run *r)
{
    const struct gguf_kv *kv = lm_net_gguf(r->net) ? gguf_kv_find(lm_net_gguf(r->net),
                                                                  "tokenizer.chat_template") : NULL;
    struct gguf_str t;
    if (r->mf.tmpl)
        printf("%s\n", r->mf.tmpl);
    else if (kv && gguf_kv_str(kv, &t) == 0)
        printf("%.*s\n(llama.cpp's built-in %s formatter renders it)\n", (int)t.len, t.p,
               lm_prompter_name(&r->pr));
    else
        printf("%s\n", plain_template);
}

/* The model, tokenizer, context and template; the Modelfile's num_ctx and num_thread apply
 * here, its sampling parameters in cmd_run_settings. */
static int run_open(struct cmd_run *r, struct lm_err *err)
{
    struct run_opts *o = &r->o;
    if (cmd_modelfile_load(o->model, &r->mf, err) < 0)
        return -1;
    const struct lm_mf_param *v = lm_modelfile_param(&r->mf, "num_ctx");
    if (v && v->i > 0 && v->i <= (1 << 20) && !(o->set & SET_CTX))
        o->n_ctx = (uint32_t)v->i;
    v = lm_modelfile_param(&r->mf, "num_thread");
    if (v && v->i > 0 && v->i <= 256 && !(o->set & SET_THREADS))
        o->threads = (uint32_t)v->i;
    if (run_settings(r, err) < 0)
        return -1;
    struct gguf *g = cmd_open_gguf(o->model, r->path, sizeof(r->path), err);
    if (!g || !(r->tok = lm_tokenizer_new(g, r->path, err))) {
        gguf_close(g);
        return -1;
    }
    if (!(r->net = lm_net_from_gguf(g, r->path, err)))   /* takes g */
        return -1;
    const struct lm_hparams *hp = lm_net_hparams(r->net);
    if (lm_tokenizer_n_vocab(r->tok) != hp->n_vocab)
        return lm_err_set(err, LM_ECORRUPT, r->path, LM_NO_OFFSET,
                          "tokenizer has %u tokens but the model's embeddings have %u",
                          lm_tokenizer_n_vocab(r->tok), hp->n_vocab);
    struct lm_ctx_params cp = { .n_ctx = o->n_ctx, .n_threads = o->threads,
                                .kv_type = o->kv_type };
    if (!(r->c = lm_ctx_new(r->net, &cp, err)))
        return -1;
    if (!(r->past = calloc(lm_ctx_n_ctx(r->c), sizeof(*r->past))))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    if (o->raw)
        return 0;
    if (r->mf.tmpl)
        return lm_prompter_from_gotmpl(&r->pr, r->mf.tmpl, strlen(r->mf.tmpl), o->model, err);
    if (lm_prompter_from_gguf(&r->pr, lm_net_gguf(r->net), r->path, err) < 0)
        return -1;
    if (r->pr.no_template) {
        lm_prompter_release(&r->pr);
        return lm_prompter_from_gotmpl(&r->pr, plain_template, strlen(plain_template), "default",
                                       err);
    }
    if (r->pr.fallback)
        lm_warnf("chat template not recognised by llama.cpp's built-in formatters; using %s",
                 lm_prompter_name(&r->pr));
    return 0;
}

static void run_close(struct cmd_run *r)
{
    free(r->past);
    lm_prompter_release(&r->pr);
    lm_modelfile_release(&r->mf);
    lm_ctx_free(r->c);
    lm_net_close(r->net);
    lm_tokenizer_free(r->tok);
}

/* The text to tokenize: with --raw the texts as they are; else the conversation (the
 * Modelfile's SYSTEM and MESSAGEs first) in the template, the assistant's turn opened. */
static int build_prompt(const struct cmd_run *r, const struct lm_chat *chat, struct lm_buf *text,
                        struct lm_err *err)
{
    if (r->o.raw) {
        for (size_t i = 0; i < chat->n; i++)
            if (lm_buf_add(text, chat->msgs[i].content, strlen(chat->msgs[i].content)) < 0)
                return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                                  "prompt is longer than %zu bytes", text->max);
        return 0;
    }
    struct lm_chat all;
    int rc = -1;
    lm_chat_init(&all);
    const char *sys = r->mf.system;
    if (sys && lm_chat_add(&all, "system", sys, strlen(sys), err) < 0)
        goto out;
    for (size_t i = 0; i < r->mf.n_msgs; i++)
        if (lm_chat_add(&all, r->mf.msgs[i].role, r->mf.msgs[i].content,
                        strlen(r->mf.msgs[i].content), err) < 0)
            goto out;
    for (size_t i = 0; i < chat->n; i++)
        if (lm_chat_add(&all, chat->msgs[i].role, chat->msgs[i].content,
                        strlen(chat->msgs[i].content), err) < 0)
            goto out;
    rc = lm_prompter_render(&r->pr, all.msgs, all.n, true, text, err);
out:
    lm_chat_release(&all);
    return rc;
}

/* Evaluate the prompt, reusing the cached tokens it starts with. */
static int eval_prompt(struct cmd_run *r, const int32_t *ids, uint32_t n, struct lm_err *err)
{
    uint32_t keep = r->n_past;
    if (r->o.logits_out || keep >= n || memcmp(r->past, ids, keep * sizeof(*ids)) != 0)
        keep = 0;
    if (keep == 0) {
        lm_ctx_reset(r->c);
        r->n_past = 0;
    }
    if (lm_ctx_eval(r->c, ids + keep, n - keep, r->o.logits_out != NULL, err) < 0) {
        lm_ctx_reset(r->c);
        r->n_past = 0;
        return -1;
    }
    memcpy(r->past, ids, n * sizeof(*ids));
    r->n_past = n;
    return 0;
}

/* Show text (and keep it in reply) once it is clear of stop strings. */
static int emit(struct lm_stops *st, const struct lm_buf *piece, struct lm_buf *shown,
                struct lm_buf *reply, bool flush, struct lm_err *err)
{
    shown->len = 0;
    if (lm_stops_push(st, piece->data ? piece->data : "", piece->len, shown, err) < 0 ||
        (flush && !st->stopped && lm_stops_flush(st, shown, err) < 0))
        return -1;
    fwrite(shown->data ? shown->data : "", 1, shown->len, stdout);
    fflush(stdout);
    if (reply && lm_buf_add(reply, shown->data ? shown->data : "", shown->len) < 0)
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "the reply is longer than %zu bytes", reply->max);
    return 0;
}

/* Sample, print and feed back tokens until end of generation, a stop string, num_predict, a
 * full context or a cancel. */
static int generate(struct cmd_run *r, struct lm_sampler *s, struct lm_buf *reply,
                    struct lm_err *err)
{
    const struct lm_mf_param *stop = lm_modelfile_param(&r->mf, "stop");
    struct lm_detok d;
    struct lm_stops st;
    struct lm_buf piece = LM_BUF_INIT(1u << 20), shown = LM_BUF_INIT(LM_CHAT_MAX_BYTES);
    int ret = -1;
    if (lm_stops_init(&st, stop ? (const char *const *)stop->strs : NULL, stop ? stop->n_strs : 0,
                      err) < 0)
        return -1;
    lm_detok_init(&d, r->tok, false);
    for (int64_t i = 0; r->n_predict < 0 || i < r->n_predict; i++) {
        if (cmd_run_cancel)
            break;
        int32_t next = lm_sampler_sample(s, lm_ctx_logits(r->c, NULL));
        if (!r->o.ignore_eos && lm_tokenizer_is_eog(r->tok, next))
            break;
        piece.len = 0;
        if (lm_detok_push(&d, next, &piece, err) < 0 || emit(&st, &piece, &shown, reply, false,
                                                             err) < 0)
            goto done;
        r->tm.n_gen++;
        lm_sampler_accept(s, next);
        if (st.stopped || lm_ctx_n_past(r->c) >= lm_ctx_n_ctx(r->c))
            break;   /* a stop string, or the context is full */
        if (lm_ctx_eval(r->c, &next, 1, false, err) < 0) {
            lm_ctx_reset(r->c);
            r->n_past = 0;
            goto done;
        }
        r->past[r->n_past++] = next;
    }
    piece.len = 0;
    if (lm_detok_flush(&d, &piece, err) < 0 || emit(&st, &piece, &shown, reply, true, err) < 0)
        goto done;
    if (r->tm.n_gen > 0)
        fputc('\n', stdout);
    ret = 0;
done:
    lm_stops_release(&st);
    lm_buf_release(&piece);
    lm_buf_release(&shown);
    return ret;
}

/* Tokens of the prompt for messages [from, chat->n) of a conversation; -1 on error. */
static int64_t prompt_tokens(const struct cmd_run *r, const struct lm_chat *chat, size_t from,
                             struct lm_chat *tail, struct lm_err *err)
{
    struct lm_buf text = LM_BUF_INIT(LM_TOK_MAX_TEXT);
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int64_t ret = -1;
    lm_chat_init(tail);
    for (size_t i = from; i < chat->n; i++)
        if (lm_chat_add(tail, chat->msgs[i].role, chat->msgs[i].content,
                        strlen(chat->msgs[i].content), err) < 0)
            goto out;
    if (build_prompt(r, tail, &text, err) < 0 ||
        lm_tokenize(r->tok, text.data ? text.data : "", text.len, true, !r->o.raw, &ids, &n_ids,
                    err) < 0)
        goto out;
    ret = (int64_t)n_ids;
out:
    free(ids);
    lm_buf_release(&text);
    return ret;
}

int cmd_run_fit_history(struct cmd_run *r, struct lm_chat *chat, struct lm_err *err)
{
    size_t drop = 0;
    for (;;) {
        struct lm_chat tail;
        int64_t n = prompt_tokens(r, chat, drop, &tail, err);
        if (n < 0) {
            lm_chat_release(&tail);
            return -1;
        }
        if ((uint64_t)n < lm_ctx_n_ctx(r->c) || drop + 1 >= chat->n) {
            if (drop > 0) {
                lm_debugf(1, "run: %zu old message(s) left out, the prompt is %lld tokens", drop,
                          (long long)n);
                lm_chat_release(chat);
                *chat = tail;
            } else {
                lm_chat_release(&tail);
            }
            return (int)drop;
        }
        lm_chat_release(&tail);
        do
            drop++;
        while (drop + 1 < chat->n && strcmp(chat->msgs[drop].role, "user") != 0);
    }
}

int cmd_run_answer(struct cmd_run *r, const struct lm_chat *chat, struct lm_buf *reply,
                   struct lm_err *err)
{
    struct lm_buf text = LM_BUF_INIT(LM_TOK_MAX_TEXT);
    struct lm_sampler *s = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int ret = -1;
    r->tm.n_gen = 0;
    if (build_prompt(r, chat, &text, err) < 0 ||
        lm_tokenize(r->tok, text.data ? text.data : "", text.len, true, !r->o.raw, &ids, &n_ids,
                    err) < 0)
        goto out;
    if (n_ids == 0) {
        lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "the prompt is empty");
        goto out;
    }
    if (n_ids >= lm_ctx_n_ctx(r->c)) {
        lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                   "the prompt is %zu tokens, the context only %u (see --ctx)", n_ids,
                   lm_ctx_n_ctx(r->c));
        goto out;
    }
    if (!(s = lm_sampler_new(&r->sp, lm_net_hparams(r->net)->n_vocab))) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n_ids; i++)
        lm_sampler_accept(s, ids[i]);
    if (eval_prompt(r, ids, (uint32_t)n_ids, err) < 0)
        goto out;
    r->tm.n_prompt = (uint32_t)n_ids;
    r->tm.prompt_done = lm_now();
    if (r->o.logits_out && write_logits(r->o.logits_out, lm_ctx_logits(r->c, NULL),
                                        (uint32_t)n_ids, lm_net_hparams(r->net)->n_vocab,
                                        err) < 0)
        goto out;
    ret = generate(r, s, reply, err);
out:
    free(ids);
    lm_buf_release(&text);
    lm_sampler_free(s);
    return ret;
}

int cmd_run(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(run_usage);
    struct cmd_run r;
    memset(&r, 0, sizeof(r));
    int rc = parse_opts(argc, argv, &r.o);
    if (rc)
        return rc;
    r.tm.start = lm_now();
    struct lm_err err = { 0 };
    struct lm_buf text = LM_BUF_INIT(LM_TOK_MAX_TEXT);
    struct lm_chat chat;
    int ret = LM_EXIT_FAIL;
    lm_chat_init(&chat);
    if (run_open(&r, &err) < 0)
        goto fail;
    r.tm.loaded = lm_now();
    if (!r.o.prompt && !r.o.logits_out && isatty(STDIN_FILENO)) {
        ret = cmd_chat(&r);
        goto out;
    }
    if (read_prompt(&r.o, &text, &err) < 0 || lm_buf_add(&text, "", 1) < 0 ||
        lm_chat_add(&chat, "user", text.data, text.len - 1, &err) < 0 ||
        cmd_run_answer(&r, &chat, NULL, &err) < 0)
        goto fail;
    r.tm.end = lm_now();
    if (r.o.verbose) {
        fprintf(stderr, "kernels:              %s, %u thread(s), seed %llu\n",
                lm_kernels_name(lm_kernels_level()), r.o.threads, (unsigned long long)r.sp.seed);
        print_timing(&r.tm);
    }
    ret = LM_EXIT_OK;
    goto out;
fail:
    fflush(stdout);
    lm_report(&err);
out:
    lm_chat_release(&chat);
    lm_buf_release(&text);
    run_close(&r);
    return ret;
}
