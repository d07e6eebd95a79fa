/* pull.c: lm pull: fetch a model from the Hugging Face Hub into the store, with a bar per
 * active file on a terminal or a stream of JSON progress events (as Ollama's /api/pull). */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cmd.h"
#include "../registry/registry.h"
#include "../store/store.h"
#include "../common/banned.h"

#define MAX_GLOBS 64
#define MAX_CONNECTIONS 64
#define MAX_BARS 16

static const char usage[] =
    "usage: lm pull [OPTIONS] MODEL\n"
    "\n"
    "Fetch a model from the Hugging Face Hub into the store, pinned to one commit and verified\n"
    "byte by byte as it arrives. MODEL is one of\n"
    "  hf.co/ORG/REPO[:QUANT][@REVISION]     (huggingface.co/ also works)\n"
    "  hf:ORG/REPO[:QUANT][@REVISION]\n"
    "  https://huggingface.co/ORG/REPO[/tree/REVISION]\n"
    "A safetensors repository gives its weights, configs and tokenizer; a GGUF repository one\n"
    "quantization (QUANT, default Q4_K_M), with all parts of a split file.\n"
    "\n"
    "options:\n"
    "  --include GLOB      take the files matching GLOB instead (repeatable)\n"
    "  --exclude GLOB      leave out the files matching GLOB (repeatable)\n"
    "  --connections N     concurrent connections (default 8)\n"
    "  --limit-rate RATE   cap the total rate, bytes per second: 500K, 20M, 1G\n"
    "  --json              print progress events as JSON lines\n"
    "\n"
    "signature (a model.sig in the repository is checked before anything is stored):\n"
    "  --key PUB.pem | --cert-chain CA.pem | --trust-root ROOT.json --identity ID --issuer URL\n"
    "                      the trust to verify it with (as lm verify --sig)\n"
    "  --ignore-path P     a file the signature does not cover (repeatable)\n"
    "  --require-signature refuse a repository without a signature that verifies\n"
    "\n"
    "Environment: HF_TOKEN, HF_TOKEN_PATH, HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_HUB_OFFLINE,\n"
    "LM_REQUIRE_SIGNATURE=1 (as --require-signature).\n";

struct ui {
    bool json, tty;
    double start, last;
    int lines;                          /* drawn below the cursor's line */
    bool final_drawn;
    enum lm_pull_phase phase;
    bool phase_seen;
    size_t n;
    uint64_t *sent_done;                /* JSON: last completed count sent per file */
    int *sent_state;
    double *started;                    /* when each file became active */
};

/* "20M" -> 20 MiB. */
static int parse_rate(const char *s, uint64_t *out)
{
    char num[32];
    size_t n = strspn(s, "0123456789");
    uint64_t v, mul = 1;
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n);
    num[n] = 0;
    switch (s[n]) {
    case 0: break;
    case 'k': case 'K': mul = 1024; break;
    case 'm': case 'M': mul = 1024 * 1024; break;
    case 'g': case 'G': mul = 1024 * 1024 * 1024; break;
    default: return -1;
    }
    if (s[n] && s[n + 1])
        return -1;
    if (lm_parse_u64(num, 1, UINT64_MAX, &v) || ckd_mul(out, v, mul))
        return -1;
    return 0;
}

static void emit(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);   /* a reader streams these as they come */
        free(s);
    }
    json_decref(o);
}

static void emit_status(const char *status)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(status));
    emit(o);
}

static void json_progress(struct ui *u, const struct lm_pull_progress *p)
{
    if (!u->phase_seen || u->phase != p->phase) {
        if (p->phase == LM_PULL_RESOLVING)
            emit_status("pulling manifest");
        else if (p->phase == LM_PULL_WRITING) {
            emit_status("verifying sha256 digest");
            emit_status("writing manifest");
        }
    }
    for (size_t i = 0; i < p->n_files && i < u->n; i++) {
        const struct lm_pull_file *f = &p->files[i];
        if (u->sent_state[i] == (int)f->state && u->sent_done[i] == f->done)
            continue;
        u->sent_state[i] = (int)f->state;
        u->sent_done[i] = f->done;
        char st[96];
        const char *hex = strchr(f->digest, ':');
        snprintf(st, sizeof(st), "pulling %.12s", hex ? hex + 1 : f->digest);
        json_t *o = json_object();
        json_object_set_new(o, "status", json_string(st));
        json_object_set_new(o, "digest", json_string(f->digest));
        json_object_set_new(o, "file", lm_json_string(f->path, strlen(f->path)));
        json_object_set_new(o, "total", json_integer((json_int_t)f->size));
        json_object_set_new(o, "completed", json_integer((json_int_t)f->done));
        emit(o);
    }
}

static int term_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
        return ws.ws_col > 200 ? 200 : ws.ws_col;
    return 80;
}

/* One bar per active file and a total; redrawn in place at most every 100 ms. */
static void tty_progress(struct ui *u, const struct lm_pull_progress *p)
{
    double now = lm_now();
    bool final = p->phase >= LM_PULL_WRITING;
    if ((!final && now - u->last < 0.1) || u->final_drawn)
        return;
    u->final_drawn = final;
    u->last = now;
    int w = term_width() - 1, lines = 0;
    char line[512], label[64];
    for (int i = 0; i < u->lines; i++)
        fputs("\033[1A", stderr);                     /* back to the block's first line */
    for (size_t i = 0; i < p->n_files && i < u->n && !final && lines < MAX_BARS; i++) {
        const struct lm_pull_file *f = &p->files[i];
        if (f->state != LM_PULL_ACTIVE)
            continue;
        if (u->started[i] == 0)
            u->started[i] = now;
        const char *b = strrchr(f->path, '/');
        snprintf(label, sizeof(label), "%-24.24s", b ? b + 1 : f->path);
        lm_progress_format(line, sizeof(line), w, label, f->done, f->size, now - u->started[i]);
        fprintf(stderr, "\r\033[2K%s\n", line);
        lines++;
    }
    snprintf(label, sizeof(label), "%-24s", final ? "pulled" : "total");
    lm_progress_format(line, sizeof(line), w, label, p->done, p->total, now - u->start);
    fprintf(stderr, "\r\033[2K%s\n", line);
    lines++;
    for (int i = lines; i < u->lines; i++)            /* clear what the last draw left below */
        fputs("\r\033[2K\n", stderr);
    for (int i = lines; i < u->lines; i++)
        fputs("\033[1A", stderr);
    u->lines = final ? 0 : lines;
    fflush(stderr);
}

static void on_progress(void *ctx, const struct lm_pull_progress *p)
{
    struct ui *u = ctx;
    if (p->n_files > u->n) {
        free(u->sent_done);
        free(u->sent_state);
        free(u->started);
        u->sent_done = calloc(p->n_files, sizeof(*u->sent_done));
        u->sent_state = calloc(p->n_files, sizeof(*u->sent_state));
        u->started = calloc(p->n_files, sizeof(*u->started));
        u->n = u->sent_done && u->sent_state && u->started ? p->n_files : 0;
        for (size_t i = 0; i < u->n; i++)
            u->sent_state[i] = -1;
    }
    if (u->json)
        json_progress(u, p);
    else if (u->tty && p->phase != LM_PULL_RESOLVING && p->n_files)
        tty_progress(u, p);
    u->phase = p->phase;
    u->phase_seen = true;
}

static const char *const sig_status[] = {
    [LM_PULL_UNSIGNED] = "unsigned",
    [LM_PULL_SIG_UNCHECKED] = "present, not verified",
    [LM_PULL_SIG_VERIFIED] = "verified",
    [LM_PULL_SIG_FAILED] = "failed",
};

static void print_result(const struct lm_pull_result *r, bool json)
{
    char size[32], recv[32], q[LM_QUOTE_MAX + 8];
    lm_fmt_bytes(r->bytes, size, sizeof(size));
    lm_fmt_bytes(r->bytes_received, recv, sizeof(recv));
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "status", json_string("success"));
        json_object_set_new(o, "name", json_string(r->name));
        json_object_set_new(o, "commit", json_string(r->commit));
        json_object_set_new(o, "manifest", json_string(r->manifest));
        json_object_set_new(o, "files", json_integer((json_int_t)r->n_files));
        json_object_set_new(o, "downloaded", json_integer((json_int_t)r->n_downloaded));
        json_object_set_new(o, "present", json_integer((json_int_t)r->n_present));
        json_object_set_new(o, "from_hf_cache", json_integer((json_int_t)r->n_cache));
        json_object_set_new(o, "bytes", json_integer((json_int_t)r->bytes));
        json_object_set_new(o, "bytes_received", json_integer((json_int_t)r->bytes_received));
        json_object_set_new(o, "bytes_resumed", json_integer((json_int_t)r->bytes_kept));
        json_object_set_new(o, "signature", json_string(sig_status[r->sig]));
        if (r->sig == LM_PULL_SIG_VERIFIED)
            json_object_set_new(o, "signer", lm_json_string(r->sig_signer,
                                                            strlen(r->sig_signer)));
        emit(o);
        return;
    }
    printf("pulled %s at commit %s: %zu file%s, %s (%zu downloaded, %zu already in the store, "
           "%zu from the Hugging Face cache)\n", r->name, r->commit, r->n_files,
           r->n_files == 1 ? "" : "s", size, r->n_downloaded, r->n_present, r->n_cache);
    if (r->sig == LM_PULL_SIG_VERIFIED)
        printf("signature verified: %s %s\n", r->sig_method,
               lm_quote(r->sig_signer, strlen(r->sig_signer), q, sizeof(q)));
}

/* One line on stderr when model.sig was not (or could not be) verified. */
static void warn_sig(const struct lm_pull_result *r)
{
    if (r->sig == LM_PULL_SIG_UNCHECKED)
        lm_warnf("%s: model.sig present, not verified (no --key, --cert-chain or --trust-root "
                 "given)", r->name);
    else if (r->sig == LM_PULL_SIG_FAILED)
        lm_warnf("signature not verified, recorded as such: %s", r->sig_why);
}

/* The signature options, as lm verify --sig takes them: 1 if argv[*i] was one, -1 misused,
 * -2 a second trust method. */
static int sig_arg(int argc, char **argv, int *i, struct lm_sig_opts *o, const char **ign,
                   bool *require)
{
    static const struct { const char *flag; enum lm_sig_method m; } methods[] = {
        { "--key", LM_SIG_KEY }, { "--cert-chain", LM_SIG_CERT },
        { "--trust-root", LM_SIG_SIGSTORE }, { "--identity", LM_SIG_NONE },
        { "--issuer", LM_SIG_NONE }, { "--ignore-path", LM_SIG_NONE },
    };
    const char *a = argv[*i];
    if (strcmp(a, "--require-signature") == 0) {
        *require = true;
        return 1;
    }
    for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++) {
        if (strcmp(a, methods[k].flag) != 0)
            continue;
        if (*i + 1 >= argc)
            return -1;
        const char *v = argv[++*i];
        if (methods[k].m != LM_SIG_NONE) {
            if (o->method != LM_SIG_NONE)
                return -2;
            o->method = methods[k].m;
            *(k == 0 ? &o->key : k == 1 ? &o->cert_chain : &o->trust_root) = v;
        } else if (a[2] == 'i' && a[3] == 'd') {
            o->identity = v;
        } else if (a[2] == 'i' && a[3] == 's') {
            o->issuer = v;
        } else {
            if (o->n_ignore == MAX_GLOBS)
                return -1;
            ign[o->n_ignore++] = v;
        }
        return 1;
    }
    return 0;
}

int cmd_pull(int argc, char **argv)
{
    const char *include[MAX_GLOBS], *exclude[MAX_GLOBS], *ignore[MAX_GLOBS];
    struct lm_pull_opts o;
    struct lm_sig_opts so;
    struct ui u;
    int sa;
    memset(&o, 0, sizeof(o));
    memset(&so, 0, sizeof(so));
    memset(&u, 0, sizeof(u));
    o.include = include;
    o.exclude = exclude;
    o.sig = &so;
    so.ignore = ignore;
    o.require_signature = getenv("LM_REQUIRE_SIGNATURE") &&
                          strcmp(getenv("LM_REQUIRE_SIGNATURE"), "1") == 0;
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(usage);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        uint64_t v;
        if (strcmp(a, "--json") == 0) {
            u.json = true;
        } else if ((sa = sig_arg(argc, argv, &i, &so, ignore, &o.require_signature)) != 0) {
            if (sa == -2) {
                lm_errorf("give one of --key, --cert-chain and --trust-root");
                return LM_EXIT_USAGE;
            }
            if (sa < 0)
                return cmd_usage(usage);
        } else if (strcmp(a, "--include") == 0 || strcmp(a, "--exclude") == 0) {
            bool inc = a[2] == 'i';
            size_t *n = inc ? &o.n_include : &o.n_exclude;
            if (!has_val || *n == MAX_GLOBS)
                return cmd_usage(usage);
            (inc ? include : exclude)[(*n)++] = argv[++i];
        } else if (strcmp(a, "--connections") == 0) {
            if (!has_val || lm_parse_u64(argv[++i], 1, MAX_CONNECTIONS, &v)) {
                lm_errorf("--connections wants a number from 1 to %d", MAX_CONNECTIONS);
                return LM_EXIT_USAGE;
            }
            o.connections = (unsigned)v;
        } else if (strcmp(a, "--limit-rate") == 0) {
            if (!has_val || parse_rate(argv[++i], &o.limit_rate)) {
                lm_errorf("--limit-rate wants bytes per second, like 500K or 20M");
                return LM_EXIT_USAGE;
            }
        } else if (a[0] == '-' && a[1]) {
            lm_errorf("unknown option '%s'", a);
            return cmd_usage(usage);
        } else if (o.ref) {
            return cmd_usage(usage);
        } else {
            o.ref = a;
        }
    }
    if (!o.ref)
        return cmd_usage(usage);
    if ((so.method == LM_SIG_SIGSTORE) != (so.identity && so.issuer) ||
        (so.method != LM_SIG_SIGSTORE && (so.identity || so.issuer))) {
        lm_errorf("--trust-root needs --identity and --issuer, and they need it");
        return LM_EXIT_USAGE;
    }
    struct lm_err err;
    struct lm_pull_result r;
    struct lm_hf_ref ref;
    lm_err_clear(&err);
    if (lm_hf_ref_parse(o.ref, &ref, &err)) {
        lm_report(&err);
        return LM_EXIT_USAGE;
    }
    struct lm_store *s = lm_store_open(NULL, &err);
    if (!s) {
        lm_report(&err);
        return LM_EXIT_FAIL;
    }
    lm_store_set_command(s, argc, argv);
    signal(SIGPIPE, SIG_IGN);
    u.tty = !lm_quiet && isatty(STDERR_FILENO);
    u.start = lm_now();
    o.progress = on_progress;
    o.ctx = &u;
    int rc = lm_pull(s, &o, &r, &err);
    if (rc) {
        if (u.tty && u.lines)
            fputs("\n", stderr);
        if (u.json) {
            char line[1400];
            json_t *e = json_object();
            lm_err_str(&err, line, sizeof(line));
            json_object_set_new(e, "error", lm_json_string(line, strlen(line)));
            emit(e);
        }
        lm_report(&err);
    } else {
        warn_sig(&r);
        print_result(&r, u.json);
    }
    lm_store_close(s);
    free(u.sent_done);
    free(u.sent_state);
    free(u.started);
    return rc ? LM_EXIT_FAIL : LM_EXIT_OK;
}
