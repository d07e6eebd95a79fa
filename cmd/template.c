/* template.c: `lm template`, the prompt a chat template makes of a conversation. */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "../format/format.h"
#include "../runtime/runtime.h"
#include "../common/banned.h"

static const char usage[] =
    "usage: lm template [MODEL] [--file TEMPLATE] --messages CONV.json [--no-generation-prompt]\n"
    "                   [--json]\n"
    "\n"
    "Prints the chat-template family and the prompt the model is fed for a conversation: what\n"
    "llama.cpp's built-in formatter (llama_chat_apply_template) makes of it, byte for byte.\n"
    "MODEL is a GGUF file or a model in the store; its tokenizer.chat_template is used (a model\n"
    "made by lm create: its TEMPLATE, rendered as Ollama does, after its SYSTEM and MESSAGEs). The\n"
    "template is never run: its family is recognised by the markers it holds, as llama.cpp does,\n"
    "and one that is not recognised falls back to chatml with a warning.\n"
    "\n"
    "Text output: a line \"family: NAME\", then the prompt exactly (no newline is added; the\n"
    "prompt is everything after the first line).\n"
    "\n"
    "  --messages FILE          {\"messages\": [{\"role\": ..., \"content\": ...}, ...]} or the bare\n"
    "                           array; - reads stdin\n"
    "  --file TEMPLATE          take the template from a file instead of MODEL (a Jinja template,\n"
    "                           or an Ollama Go template if the name ends in .gotmpl)\n"
    "  --no-generation-prompt   leave out the assistant header that starts the answer\n"
    "  --json                   print {\"family\", \"fallback\", \"prompt\"}\n";

#define MAX_JSON (2 * (size_t)LM_CHAT_MAX_BYTES)   /* escapes make JSON longer than its text */

struct opts {
    const char *model, *file, *messages;
    bool add_ass, json;
};

static int parse_args(int argc, char **argv, struct opts *o)
{
    memset(o, 0, sizeof(*o));
    o->add_ass = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--no-generation-prompt") == 0) {
            o->add_ass = false;
        } else if (strcmp(a, "--messages") == 0 && i + 1 < argc) {
            o->messages = argv[++i];
        } else if (strcmp(a, "--file") == 0 && i + 1 < argc) {
            o->file = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            lm_errorf("template: unknown option '%s'", a);
            return -1;
        } else if (o->model) {
            return -1;
        } else {
            o->model = a;
        }
    }
    return o->messages && (o->model || o->file) ? 0 : -1;
}

static int read_input(const char *path, size_t max, struct lm_buf *b, struct lm_err *err)
{
    if (strcmp(path, "-") != 0)
        return lm_read_file(path, max, b, err);
    char chunk[65536];
    b->max = max;
    for (;;) {
        ssize_t r = read(0, chunk, sizeof(chunk));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return lm_err_errno(err, "stdin", "read");
        if (r == 0)
            return lm_buf_add(b, "", 0) ? lm_err_set(err, LM_ENOMEM, "stdin", LM_NO_OFFSET,
                                                     "out of memory") : 0;
        if (lm_buf_add(b, chunk, (size_t)r))
            return lm_err_set(err, LM_EUNSUPPORTED, "stdin", LM_NO_OFFSET,
                              "input is larger than %zu bytes", max);
    }
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* --file (Jinja, or a Go template named *.gotmpl), else MODEL's Modelfile TEMPLATE (lm create),
 * else its tokenizer.chat_template. */
static int make_prompter(const struct opts *o, const struct lm_modelfile *mf,
                         struct lm_prompter *p, struct lm_err *err)
{
    if (o->file) {
        struct lm_buf t = LM_BUF_INIT(0);
        int rc = read_input(o->file, MAX_JSON, &t, err);
        if (rc == 0 && ends_with(o->file, ".gotmpl"))
            rc = lm_prompter_from_gotmpl(p, t.data, t.len, o->file, err);
        else if (rc == 0)
            lm_prompter_from_jinja(p, t.data, t.len);
        lm_buf_release(&t);
        return rc;
    }
    if (mf->tmpl)
        return lm_prompter_from_gotmpl(p, mf->tmpl, strlen(mf->tmpl), o->model, err);
    char path[4096];
    struct gguf *g = cmd_open_gguf(o->model, path, sizeof(path), err);
    if (!g)
        return -1;
    int rc = lm_prompter_from_gguf(p, g, path, err);
    gguf_close(g);
    return rc;
}

static int print_result(const struct opts *o, const char *family, bool fallback,
                        const struct lm_buf *prompt)
{
    if (o->json) {
        json_t *doc = json_object();
        json_object_set_new(doc, "family", json_string(family));
        json_object_set_new(doc, "fallback", json_boolean(fallback));
        json_object_set_new(doc, "prompt", lm_json_string(prompt->data ? prompt->data : "",
                                                          prompt->len));
        return lm_json_print(doc) ? LM_EXIT_FAIL : LM_EXIT_OK;
    }
    printf("family: %s%s\n", family, fallback ? " (fallback)" : "");
    fwrite(prompt->data ? prompt->data : "", 1, prompt->len, stdout);
    return LM_EXIT_OK;
}

int cmd_template(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(usage);
    struct opts o;
    if (parse_args(argc, argv, &o))
        return cmd_usage(usage);
    struct lm_err err = { 0 };
    struct lm_buf json = LM_BUF_INIT(MAX_JSON), prompt = LM_BUF_INIT(LM_CHAT_MAX_BYTES);
    struct lm_prompter pr;
    struct lm_modelfile mf;   /* a model made by lm create: its TEMPLATE, SYSTEM, MESSAGEs */
    struct lm_chat chat;
    memset(&pr, 0, sizeof(pr));
    memset(&mf, 0, sizeof(mf));
    lm_chat_init(&chat);
    int rc = LM_EXIT_FAIL;
    if (!o.file && cmd_modelfile_load(o.model, &mf, &err) < 0)
        goto fail;
    if (mf.system && lm_chat_add(&chat, "system", mf.system, strlen(mf.system), &err) < 0)
        goto fail;
    for (size_t i = 0; i < mf.n_msgs; i++)
        if (lm_chat_add(&chat, mf.msgs[i].role, mf.msgs[i].content, strlen(mf.msgs[i].content),
                        &err) < 0)
            goto fail;
    if (read_input(o.messages, MAX_JSON, &json, &err) ||
        lm_chat_from_json(&chat, json.data, json.len, o.messages, &err) ||
        make_prompter(&o, &mf, &pr, &err))
        goto fail;
    if (pr.no_template)
        lm_warnf("%s has no tokenizer.chat_template; using %s", o.model, lm_prompter_name(&pr));
    else if (pr.fallback)
        lm_warnf("chat template not recognised by llama.cpp's built-in formatters; using %s",
                 lm_prompter_name(&pr));
    if (lm_prompter_render(&pr, chat.msgs, chat.n, o.add_ass, &prompt, &err))
        goto fail;
    rc = print_result(&o, lm_prompter_name(&pr), pr.fallback, &prompt);
    goto out;
fail:
    lm_report(&err);
    rc = LM_EXIT_FAIL;
out:
    lm_modelfile_release(&mf);
    lm_prompter_release(&pr);
    lm_chat_release(&chat);
    lm_buf_release(&json);
    lm_buf_release(&prompt);
    return rc;
}
