/* tokenize.c: `lm tokenize` and `lm detokenize`, a model's tokenizer from the command line. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "../format/format.h"
#include "../runtime/runtime.h"
#include "../store/store.h"
#include "../common/banned.h"

static const char tokenize_usage[] =
    "usage: lm tokenize [--json | --ids] [--no-bos] [--no-parse-special] MODEL (TEXT | --stdin)\n"
    "\n"
    "Splits TEXT into the tokens of MODEL's tokenizer (a GGUF file, or a model name in the store)\n"
    "exactly as llama.cpp does, and prints one line per token: its id and the bytes it stands for\n"
    "(control bytes and invalid UTF-8 as \\n, \\t, \\xHH; a backslash as \\\\).\n"
    "\n"
    "  --stdin              tokenize what stdin holds instead of TEXT\n"
    "  --no-bos             add no BOS/EOS even if the vocabulary asks for them\n"
    "  --no-parse-special   keep special-token strings such as <|im_end|> as plain text\n"
    "  --ids                print only the ids, as [1, 2, 3]\n"
    "  --json               print one JSON document: ids, vocabulary strings and pieces\n"
    "  -v                   also print the time taken\n";

static const char detokenize_usage[] =
    "usage: lm detokenize [--json] [--no-special] [--remove-special] MODEL (ID... | --stdin)\n"
    "\n"
    "Turns token ids back into text with MODEL's tokenizer and prints it, followed by a newline.\n"
    "IDs may be separated by spaces or commas and enclosed in [ ] (what lm tokenize --ids prints).\n"
    "\n"
    "  --stdin            read the ids from stdin\n"
    "  --no-special       render control tokens (BOS, <|im_end|>, ...) as nothing\n"
    "  --remove-special   drop a leading BOS and a trailing EOS the vocabulary adds\n"
    "  --json             print one JSON document with the text\n";

/* MODEL is a file if one exists by that name or the name looks like a path, else a model in the
 * store (its GGUF layer). Messages as lm quantize's for SRC. */
struct gguf *cmd_open_gguf(const char *arg, char *path, size_t path_len, struct lm_err *err)
{
    size_t n = strlen(arg);
    if (access(arg, F_OK) == 0 || strchr(arg, '/') || (n > 5 && strcmp(arg + n - 5, ".gguf") == 0)) {
        snprintf(path, path_len, "%s", arg);
        return gguf_open(arg, err);
    }
    struct lm_store *s = lm_store_open(NULL, err);
    struct lm_model *m = NULL;
    struct gguf *g = NULL;
    if (!s)
        return NULL;
    if (lm_model_get(s, arg, &m, err)) {
        if (err->code == LM_ENOTFOUND)
            lm_err_set(err, LM_ENOTFOUND, arg, LM_NO_OFFSET,
                       "no such file, and no model of that name in the store");
        goto out;
    }
    const struct lm_model_layer *l = lm_model_layer_by_type(m, LM_MT_GGUF);
    if (!l) {
        lm_err_set(err, LM_EUNSUPPORTED, arg, LM_NO_OFFSET,
                   "model has no GGUF weights (lm convert makes them)");
        goto out;
    }
    snprintf(path, path_len, "%s", l->blob);
    g = gguf_open(l->blob, err);
out:
    lm_model_free(m);
    lm_store_close(s);
    return g;
}

static struct lm_tokenizer *open_tokenizer(const char *arg)
{
    char path[1024];
    struct lm_err err = { 0 };
    struct gguf *g = cmd_open_gguf(arg, path, sizeof(path), &err);
    struct lm_tokenizer *t = g ? lm_tokenizer_new(g, path, &err) : NULL;
    gguf_close(g);
    if (!t)
        lm_report(&err);
    return t;
}

static int read_stdin(struct lm_buf *b)
{
    char chunk[65536];
    for (;;) {
        ssize_t r = read(0, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            lm_errorf("reading stdin: %s", strerror(errno));
            return -1;
        }
        if (r == 0)
            return 0;
        if (lm_buf_add(b, chunk, (size_t)r)) {
            lm_errorf("stdin holds more than %u bytes, the most one tokenization takes", LM_TOK_MAX_TEXT);
            return -1;
        }
    }
}

/* A piece for a terminal: UTF-8 as it is, control bytes and broken sequences escaped. */
static void put_escaped(const char *s, size_t n)
{
    const uint8_t *u = (const uint8_t *)s;
    for (size_t i = 0; i < n;) {
        size_t k = u[i] >= 0xC2 && u[i] <= 0xDF ? 2 : u[i] >= 0xE0 && u[i] <= 0xEF ? 3
                 : u[i] >= 0xF0 && u[i] <= 0xF4 ? 4 : 1;
        if (k > 1 && k <= n - i && lm_utf8_valid(s + i, k)) {
            fwrite(s + i, 1, k, stdout);
            i += k;
            continue;
        }
        uint8_t c = u[i++];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\')
            fputs("\\\\", stdout);
        else if (c < 0x20 || c >= 0x7F)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static json_t *token_json(const struct lm_tokenizer *t, int32_t id)
{
    size_t tl, pl;
    const char *text = lm_token_text(t, id, &tl);
    const char *piece = lm_token_piece(t, id, true, &pl);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(id));
    json_object_set_new(o, "text", lm_json_string(text, tl));
    json_object_set_new(o, "piece", lm_json_string(piece, pl));
    if (!lm_utf8_valid(piece, pl)) {
        char hex[64];
        lm_hex((const uint8_t *)piece, pl < 31 ? pl : 31, hex);
        json_object_set_new(o, "piece_hex", json_string(hex));
    }
    return o;
}

int cmd_tokenize(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(tokenize_usage);
    bool json = false, ids_only = false, add_special = true, parse_special = true, from_stdin = false;
    bool opts = true;
    const char *model = NULL, *text = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (opts && strcmp(a, "--") == 0) {
            opts = false;   /* TEXT may start with '-' */
        } else if (opts && a[0] == '-' && a[1]) {
            if (strcmp(a, "--json") == 0)
                json = true;
            else if (strcmp(a, "--ids") == 0)
                ids_only = true;
            else if (strcmp(a, "--no-bos") == 0)
                add_special = false;
            else if (strcmp(a, "--no-parse-special") == 0)
                parse_special = false;
            else if (strcmp(a, "--stdin") == 0)
                from_stdin = true;
            else {
                lm_errorf("tokenize: unknown option '%s'", a);
                return cmd_usage(tokenize_usage);
            }
        } else if (!model) {
            model = a;
        } else if (!text) {
            text = a;
        } else {
            return cmd_usage(tokenize_usage);
        }
    }
    if (!model || (json && ids_only) || (from_stdin == (text != NULL)))
        return cmd_usage(tokenize_usage);

    struct lm_buf in = LM_BUF_INIT(LM_TOK_MAX_TEXT);
    struct lm_tokenizer *t = NULL;
    int32_t *ids = NULL;
    size_t n = 0, len;
    int rc = LM_EXIT_FAIL;
    if (from_stdin && read_stdin(&in))
        goto out;
    if (from_stdin) {
        text = in.data ? in.data : "";
        len = in.len;
    } else {
        len = strlen(text);
    }
    if (!(t = open_tokenizer(model)))
        goto out;
    struct lm_err err = { 0 };
    double t0 = lm_now();
    if (lm_tokenize(t, text, len, add_special, parse_special, &ids, &n, &err)) {
        lm_report(&err);
        goto out;
    }
    double dt = lm_now() - t0;
    lm_debugf(1, "tokenized %zu bytes into %zu tokens in %.3f ms (%.2f MB/s)", len, n, dt * 1e3,
              dt > 0 ? (double)len / dt / 1e6 : 0.0);
    if (json) {
        json_t *doc = json_object(), *arr = json_array(), *toks = json_array();
        for (size_t i = 0; i < n; i++) {
            json_array_append_new(arr, json_integer(ids[i]));
            json_array_append_new(toks, token_json(t, ids[i]));
        }
        json_object_set_new(doc, "model", lm_json_string(model, strlen(model)));
        json_object_set_new(doc, "tokenizer", json_string(lm_tokenizer_model(t)));
        json_object_set_new(doc, "pre", json_string(lm_tokenizer_pre(t)));
        json_object_set_new(doc, "add_special", json_boolean(add_special));
        json_object_set_new(doc, "parse_special", json_boolean(parse_special));
        json_object_set_new(doc, "n_tokens", json_integer((json_int_t)n));
        json_object_set_new(doc, "ids", arr);
        json_object_set_new(doc, "tokens", toks);
        lm_json_print(doc);
    } else if (ids_only) {
        putchar('[');
        for (size_t i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", ids[i]);
        puts("]");
    } else {
        for (size_t i = 0; i < n; i++) {
            size_t pl;
            const char *p = lm_token_piece(t, ids[i], true, &pl);
            printf("%6d -> '", ids[i]);
            put_escaped(p, pl);
            puts("'");
        }
    }
    rc = LM_EXIT_OK;
out:
    free(ids);
    lm_tokenizer_free(t);
    lm_buf_release(&in);
    return rc;
}

/* Ids from argv or stdin text: decimal numbers separated by spaces, commas, [ and ]. */
static int parse_ids(const char *s, int32_t **ids, size_t *n, size_t *cap)
{
    static const char seps[] = " \t\r\n,[]";
    while (*s) {
        size_t k = strcspn(s, seps);
        if (k == 0) {
            s++;
            continue;
        }
        char num[16], q[LM_QUOTE_MAX + 8];
        uint64_t v;
        if (k >= sizeof(num) || strspn(s, "0123456789") != k) {
            lm_errorf("detokenize: '%s' is not a token id", lm_quote(s, k, q, sizeof(q)));
            return -1;
        }
        memcpy(num, s, k);
        num[k] = 0;
        if (lm_parse_u64(num, 0, INT32_MAX, &v)) {
            lm_errorf("detokenize: '%s' is not a token id", num);
            return -1;
        }
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            int32_t *p = realloc(*ids, nc * sizeof(*p));
            if (!p) {
                lm_errorf("detokenize: out of memory");
                return -1;
            }
            *ids = p;
            *cap = nc;
        }
        (*ids)[(*n)++] = (int32_t)v;
        s += k;
    }
    return 0;
}

int cmd_detokenize(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(detokenize_usage);
    bool json = false, special = true, remove_special = false, from_stdin = false;
    const char *model = NULL;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0;
    int first_id = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1]) {
            if (strcmp(a, "--json") == 0)
                json = true;
            else if (strcmp(a, "--no-special") == 0)
                special = false;
            else if (strcmp(a, "--remove-special") == 0)
                remove_special = true;
            else if (strcmp(a, "--stdin") == 0)
                from_stdin = true;
            else {
                lm_errorf("detokenize: unknown option '%s'", a);
                return cmd_usage(detokenize_usage);
            }
        } else if (!model) {
            model = a;
        } else if (!first_id) {
            first_id = i;
        }
    }
    if (!model || from_stdin == (first_id != 0))
        return cmd_usage(detokenize_usage);

    struct lm_buf in = LM_BUF_INIT(256u << 20), out = LM_BUF_INIT((size_t)1 << 31);
    struct lm_tokenizer *t = NULL;
    struct lm_err err = { 0 };
    int rc = LM_EXIT_FAIL;
    if (from_stdin) {
        if (read_stdin(&in) || lm_buf_add(&in, "", 1) || parse_ids(in.data, &ids, &n, &cap))
            goto out;
    } else {
        for (int i = first_id; i < argc; i++)
            if (argv[i][0] != '-' && parse_ids(argv[i], &ids, &n, &cap))
                goto out;
    }
    if (!(t = open_tokenizer(model)))
        goto out;
    if (lm_detokenize(t, ids, n, remove_special, special, &out, &err)) {
        lm_report(&err);
        goto out;
    }
    if (json) {
        json_t *doc = json_object();
        json_object_set_new(doc, "model", lm_json_string(model, strlen(model)));
        json_object_set_new(doc, "n_tokens", json_integer((json_int_t)n));
        json_object_set_new(doc, "text", lm_json_string(out.data ? out.data : "", out.len));
        lm_json_print(doc);
    } else {
        if (out.len)
            fwrite(out.data, 1, out.len, stdout);
        putchar('\n');
    }
    rc = LM_EXIT_OK;
out:
    free(ids);
    lm_tokenizer_free(t);
    lm_buf_release(&in);
    lm_buf_release(&out);
    return rc;
}
