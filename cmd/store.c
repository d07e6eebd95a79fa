/* store.c: the store commands: import, list, show, rm, cp, gc, verify, log. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "../store/store.h"
#include "../common/banned.h"

/* ---- shared pieces ----------------------------------------------------------------------- */

/* Open the store, or report why not (into *why too, when given). */
static struct lm_store *open_store_why(int argc, char **argv, struct lm_err *why)
{
    struct lm_err err;
    lm_err_clear(&err);
    struct lm_store *s = lm_store_open(NULL, &err);
    if (!s) {
        if (why)
            *why = err;
        else
            lm_report(&err);
        return NULL;
    }
    lm_store_set_command(s, argc, argv);
    return s;
}

static struct lm_store *open_store(int argc, char **argv)
{
    return open_store_why(argc, argv, NULL);
}

static int fail(struct lm_store *s, const struct lm_err *err)
{
    lm_report(err);
    lm_store_close(s);
    return LM_EXIT_FAIL;
}

/* Decimal units, as `ollama list` prints them. */
static void human_bytes(uint64_t b, char *buf, size_t n)
{
    static const char *const unit[] = { "KB", "MB", "GB", "TB" };
    double v = (double)b;
    int u = -1;
    while (v >= 1000 && u < 3) {
        v /= 1000;
        u++;
    }
    if (u < 0)
        snprintf(buf, n, "%llu B", (unsigned long long)b);
    else if (v >= 10 || v == (double)(uint64_t)v)
        snprintf(buf, n, "%llu %s", (unsigned long long)v, unit[u]);
    else
        snprintf(buf, n, "%.1f %s", v, unit[u]);
}

static void human_count(uint64_t c, char *buf, size_t n)
{
    static const char suffix[] = { 'K', 'M', 'B', 'T' };
    double v = (double)c;
    int u = -1;
    while (v >= 1000 && u < 3) {
        v /= 1000;
        u++;
    }
    if (u < 0)
        snprintf(buf, n, "%llu", (unsigned long long)c);
    else
        snprintf(buf, n, "%.1f%c", v, suffix[u]);
}

static void human_ago(int64_t t, char *buf, size_t n)
{
    int64_t d = (int64_t)time(NULL) - t;
    int64_t h = (d + 1800) / 3600;
    if (d < 0)
        snprintf(buf, n, "in the future");
    else if (d < 1)
        snprintf(buf, n, "Less than a second ago");
    else if (d == 1)
        snprintf(buf, n, "1 second ago");
    else if (d < 60)
        snprintf(buf, n, "%lld seconds ago", (long long)d);
    else if (d < 120)
        snprintf(buf, n, "About a minute ago");
    else if (d < 3600)
        snprintf(buf, n, "%lld minutes ago", (long long)(d / 60));
    else if (h == 1)
        snprintf(buf, n, "About an hour ago");
    else if (h < 48)
        snprintf(buf, n, "%lld hours ago", (long long)h);
    else if (h < 24 * 14)
        snprintf(buf, n, "%lld days ago", (long long)(h / 24));
    else if (h < 24 * 60)
        snprintf(buf, n, "%lld weeks ago", (long long)(h / 24 / 7));
    else if (h < 24 * 730)
        snprintf(buf, n, "%lld months ago", (long long)(h / 24 / 30));
    else
        snprintf(buf, n, "%lld years ago", (long long)(h / 24 / 365));
}

static void iso_time(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm))
        strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(buf, n, "%lld", (long long)t);
}

static json_t *jstr(const char *s)
{
    return s ? lm_json_string(s, strlen(s)) : json_null();
}

static const char *quoted(const char *s, char *buf, size_t n)
{
    return lm_quote(s ? s : "", s ? strlen(s) : 0, buf, n);
}

/* A progress bar driven by the store's (done, total) reports; p->label names it. */
void cmd_show_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct lm_progress *p = ctx;
    if (!p->active && done < total)
        lm_progress_begin(p, p->label, total);
    if (p->active) {
        lm_progress_add(p, done - p->done);
        if (done >= total)
            lm_progress_end(p);
    }
}

/* ---- import ------------------------------------------------------------------------------ */

static const char import_usage[] =
    "usage: lm import PATH [--as NAME]\n"
    "\n"
    "Add a model to the store from PATH: a Hugging Face checkpoint directory (safetensors,\n"
    "config, tokenizer), a GGUF file, or a Hugging Face cache snapshot\n"
    "(.../models--ORG--REPO/snapshots/COMMIT, whose files are hard-linked, not copied).\n"
    "Every file is checked before anything is stored; pickle checkpoints are refused.\n"
    "A bundle from `lm export` (FILE.tar.zst, FILE.tar, - for stdin) is read as one:\n"
    "see 'lm import FILE.tar.zst --help'.\n"
    "\n"
    "  --as NAME   the model's name (default: from PATH; hf.co/ORG/REPO for a snapshot)\n";

int cmd_import(int argc, char **argv)
{
    const char *path = NULL, *name = NULL;
    if (cmd_import_is_bundle(argc, argv))
        return cmd_import_bundle(argc, argv);
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(import_usage);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--as") == 0 && i + 1 < argc)
            name = argv[++i];
        else if (strncmp(argv[i], "--as=", 5) == 0)
            name = argv[i] + 5;
        else if (argv[i][0] == '-' && argv[i][1])
            return cmd_usage(import_usage);
        else if (!path)
            path = argv[i];
        else
            return cmd_usage(import_usage);
    }
    if (!path)
        return cmd_usage(import_usage);
    struct lm_store *s = open_store(argc, argv);
    if (!s)
        return LM_EXIT_FAIL;
    struct lm_progress prog = { .label = "import" };
    lm_store_set_progress(s, cmd_show_progress, &prog);
    struct lm_import_result r;
    struct lm_err err;
    lm_err_clear(&err);
    if (lm_store_import(s, path, name, &r, &err)) {
        if (prog.active)
            fputc('\n', stderr);   /* the error goes on a line of its own, under the bar */
        return fail(s, &err);
    }
    lm_progress_end(&prog);
    char size[32], copied[32];
    human_bytes(r.bytes, size, sizeof(size));
    human_bytes(r.bytes_copied, copied, sizeof(copied));
    printf("imported %s %.12s: %zu file%s, %s; %zu new blob%s", r.name, r.manifest, r.n_files,
           r.n_files == 1 ? "" : "s", size, r.n_new, r.n_new == 1 ? "" : "s");
    if (r.n_linked)
        printf(" (%zu hard-linked)", r.n_linked);
    printf(", %s copied\n", copied);
    lm_store_close(s);
    return LM_EXIT_OK;
}

/* ---- list -------------------------------------------------------------------------------- */

static const char list_usage[] =
    "usage: lm list [--json]\n"
    "\n"
    "List the models in the store, newest first: NAME, ID (manifest digest), SIZE, MODIFIED.\n";

static json_t *details_json(const struct lm_model *m)
{
    char params[32] = "";
    if (m->n_params)
        human_count(m->n_params, params, sizeof(params));
    json_t *d = json_object();
    json_object_set_new(d, "format", jstr(m->format));
    json_object_set_new(d, "family", jstr(m->architecture));
    json_object_set_new(d, "parameter_size", m->n_params ? json_string(params) : json_null());
    json_object_set_new(d, "quantization_level", jstr(m->quantization));
    return d;
}

static int list_json(struct lm_model **v, size_t n)
{
    json_t *models = json_array();
    for (size_t i = 0; i < n; i++) {
        char when[32];
        iso_time(v[i]->modified, when, sizeof(when));
        json_t *o = json_object();
        json_object_set_new(o, "name", jstr(v[i]->display));
        json_object_set_new(o, "model", jstr(v[i]->name));
        json_object_set_new(o, "digest", json_string(v[i]->manifest));
        json_object_set_new(o, "size", json_integer((json_int_t)v[i]->size));
        json_object_set_new(o, "modified_at", json_string(when));
        json_object_set_new(o, "details", details_json(v[i]));
        json_array_append_new(models, o);
    }
    json_t *doc = json_object();
    json_object_set_new(doc, "models", models);
    return lm_json_print(doc);
}

int cmd_list(int argc, char **argv)
{
    bool as_json = false;
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(list_usage);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else
            return cmd_usage(list_usage);
    }
    struct lm_store *s = open_store(argc, argv);
    struct lm_model **v;
    size_t n;
    struct lm_err err;
    lm_err_clear(&err);
    if (!s)
        return LM_EXIT_FAIL;
    if (lm_store_list(s, &v, &n, &err))
        return fail(s, &err);
    if (as_json) {
        list_json(v, n);
    } else {
        int w[3] = { 4, 12, 4 };   /* NAME, ID, SIZE */
        char size[32], ago[48];
        for (size_t i = 0; i < n; i++) {
            human_bytes(v[i]->size, size, sizeof(size));
            if ((int)strlen(v[i]->display) > w[0])
                w[0] = (int)strlen(v[i]->display);
            if ((int)strlen(size) > w[2])
                w[2] = (int)strlen(size);
        }
        printf("%-*s    %-*s    %-*s    %s\n", w[0], "NAME", w[1], "ID", w[2], "SIZE", "MODIFIED");
        for (size_t i = 0; i < n; i++) {
            human_bytes(v[i]->size, size, sizeof(size));
            human_ago(v[i]->modified, ago, sizeof(ago));
            printf("%-*s    %-*.12s    %-*s    %s\n", w[0], v[i]->display, w[1], v[i]->manifest,
                   w[2], size, ago);
        }
    }
    lm_model_list_free(v, n);
    lm_store_close(s);
    return LM_EXIT_OK;
}

/* ---- show -------------------------------------------------------------------------------- */

static const char show_usage[] =
    "usage: lm show NAME [--json | --modelfile]\n"
    "\n"
    "Show a model: architecture, parameters, context length, quantization, its files, where\n"
    "it came from (provenance) and what it was derived from. --modelfile prints a Modelfile\n"
    "that re-creates it with lm create.\n";

static json_t *show_json(const struct lm_model *m)
{
    char t[32];
    json_t *o = json_object(), *files = json_array(), *prov = json_array(), *der = json_array();
    json_object_set_new(o, "name", jstr(m->display));
    json_object_set_new(o, "model", jstr(m->name));
    json_object_set_new(o, "digest", json_string(m->manifest));
    json_object_set_new(o, "format", jstr(m->format));
    json_object_set_new(o, "architecture", jstr(m->architecture));
    json_object_set_new(o, "parameters", json_integer((json_int_t)m->n_params));
    json_object_set_new(o, "context_length", json_integer((json_int_t)m->context_length));
    json_object_set_new(o, "quantization", jstr(m->quantization));
    json_object_set_new(o, "size", json_integer((json_int_t)m->size));
    iso_time(m->created, t, sizeof(t));
    json_object_set_new(o, "created_at", json_string(t));
    iso_time(m->modified, t, sizeof(t));
    json_object_set_new(o, "modified_at", json_string(t));
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct lm_model_layer *l = &m->layers[i];
        char d[72];
        snprintf(d, sizeof(d), "sha256:%s", l->digest);
        json_t *f = json_object();
        json_object_set_new(f, "path", jstr(l->path));
        json_object_set_new(f, "digest", json_string(d));
        json_object_set_new(f, "size", json_integer((json_int_t)l->size));
        json_object_set_new(f, "role", jstr(l->role));
        json_object_set_new(f, "media_type", jstr(l->media_type));
        json_object_set_new(f, "blob", jstr(l->blob));
        json_array_append_new(files, f);
    }
    for (size_t i = 0; i < m->n_prov; i++) {
        const struct lm_model_prov *p = &m->prov[i];
        json_t *po = json_object(), *pf = json_array();
        json_object_set_new(po, "kind", jstr(p->kind));
        json_object_set_new(po, "url", jstr(p->url));
        json_object_set_new(po, "revision", jstr(p->revision));
        json_object_set_new(po, "commit", jstr(p->commit));
        iso_time(p->time, t, sizeof(t));
        json_object_set_new(po, "time", json_string(t));
        json_object_set_new(po, "lm_version", jstr(p->lm_version));
        json_object_set_new(po, "extra", p->extra_json ? json_loads(p->extra_json, 0, NULL)
                                                       : json_null());
        for (size_t k = 0; k < p->n_files; k++) {
            json_t *f = json_object();
            json_object_set_new(f, "path", jstr(p->files[k].path));
            json_object_set_new(f, "upstream_digest", jstr(p->files[k].upstream_digest));
            json_object_set_new(f, "algorithm", jstr(p->files[k].algorithm));
            json_array_append_new(pf, f);
        }
        json_object_set_new(po, "files", pf);
        json_array_append_new(prov, po);
    }
    for (size_t i = 0; i < m->n_derivs; i++) {
        const struct lm_model_deriv *d = &m->derivs[i];
        json_t *dj = json_object();
        json_object_set_new(dj, "operation", jstr(d->operation));
        json_object_set_new(dj, "parameters", json_loads(d->params_json, 0, NULL));
        json_object_set_new(dj, "input_manifest", json_string(d->input_manifest));
        json_object_set_new(dj, "output_manifest", json_string(d->output_manifest));
        json_object_set_new(dj, "input_names", jstr(d->input_names));
        iso_time(d->time, t, sizeof(t));
        json_object_set_new(dj, "time", json_string(t));
        json_object_set_new(dj, "lm_version", jstr(d->lm_version));
        json_array_append_new(der, dj);
    }
    json_object_set_new(o, "files", files);
    json_object_set_new(o, "provenance", prov);
    json_object_set_new(o, "derivations", der);
    return o;
}

/* Outside text in full, control bytes escaped (lm_quote would cut long parameters). */
static void print_escaped(const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c < 0x20 || *c == 0x7f)
            printf("\\x%02x", *c);
        else
            putchar(*c);
    }
}

static void kv(const char *key, const char *value)
{
    printf("    %-20s%s\n", key, value);
}

static void show_text(const struct lm_model *m)
{
    char buf[LM_QUOTE_MAX + 64], q[LM_QUOTE_MAX + 8], t[32];
    printf("  Model\n");
    kv("name", m->display);
    snprintf(buf, sizeof(buf), "%.12s", m->manifest);
    kv("id", buf);
    kv("format", m->format);
    if (m->architecture)
        kv("architecture", quoted(m->architecture, q, sizeof(q)));
    if (m->n_params) {
        human_count(m->n_params, buf, sizeof(buf));
        kv("parameters", buf);
    }
    if (m->context_length) {
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)m->context_length);
        kv("context length", buf);
    }
    if (m->quantization)
        kv("quantization", quoted(m->quantization, q, sizeof(q)));
    human_bytes(m->size, buf, sizeof(buf));
    kv("size", buf);
    printf("\n  Files\n");
    size_t w = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        if (strlen(quoted(m->layers[i].path, q, sizeof(q))) > w)
            w = strlen(q);
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct lm_model_layer *l = &m->layers[i];
        human_bytes(l->size, buf, sizeof(buf));
        printf("    %-*s  %-10s  %-9s  sha256:%.12s\n", (int)w, quoted(l->path, q, sizeof(q)), buf,
               l->role, l->digest);
    }
    for (size_t i = 0; i < m->n_prov; i++) {
        const struct lm_model_prov *p = &m->prov[i];
        printf("\n  Provenance\n");
        kv("source", quoted(p->kind, q, sizeof(q)));
        if (p->url)
            kv("url", quoted(p->url, q, sizeof(q)));
        if (p->revision)
            kv("revision", quoted(p->revision, q, sizeof(q)));
        if (p->commit)
            kv("commit", quoted(p->commit, q, sizeof(q)));
        iso_time(p->time, t, sizeof(t));
        snprintf(buf, sizeof(buf), "%s by lm %s", t, quoted(p->lm_version, q, sizeof(q)));
        kv("recorded", buf);
        if (p->n_files) {
            snprintf(buf, sizeof(buf), "%zu, each with its upstream digest", p->n_files);
            kv("files", buf);
        }
    }
    if (m->n_derivs)
        printf("\n  Derivations (this model first, back to its source)\n");
    for (size_t i = 0; i < m->n_derivs; i++) {
        const struct lm_model_deriv *d = &m->derivs[i];
        iso_time(d->time, t, sizeof(t));
        printf("    %-20s%.12s from %.12s (%s), %s\n", quoted(d->operation, q, sizeof(q)),
               d->output_manifest, d->input_manifest,
               d->input_names ? quoted(d->input_names, buf, sizeof(buf)) : "no longer named", t);
        printf("    %-20s", "");
        print_escaped(d->params_json);
        printf("\n");
    }
}

int cmd_show(int argc, char **argv)
{
    const char *name = NULL;
    bool as_json = false, modelfile = false;
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(show_usage);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else if (strcmp(argv[i], "--modelfile") == 0)
            modelfile = true;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return cmd_usage(show_usage);
    }
    if (!name)
        return cmd_usage(show_usage);
    struct lm_store *s = open_store(argc, argv);
    struct lm_model *m;
    struct lm_err err;
    lm_err_clear(&err);
    if (!s)
        return LM_EXIT_FAIL;
    if (lm_model_get(s, name, &m, &err))
        return fail(s, &err);
    int rc = LM_EXIT_OK;
    if (modelfile)
        rc = cmd_show_modelfile(s, m);
    else if (as_json)
        lm_json_print(show_json(m));
    else
        show_text(m);
    lm_model_free(m);
    lm_store_close(s);
    return rc;
}

/* ---- rm, cp ------------------------------------------------------------------------------ */

static const char rm_usage[] =
    "usage: lm rm NAME...\n"
    "\n"
    "Remove models; their blobs go when no other model uses them.\n";

int cmd_rm(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(rm_usage);
    if (argc < 2)
        return cmd_usage(rm_usage);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-')
            return cmd_usage(rm_usage);
    struct lm_store *s = open_store(argc, argv);
    int rc = LM_EXIT_OK;
    if (!s)
        return LM_EXIT_FAIL;
    for (int i = 1; i < argc; i++) {
        struct lm_err err;
        uint64_t freed;
        char q[LM_QUOTE_MAX + 8], size[32];
        lm_err_clear(&err);
        if (lm_store_remove(s, argv[i], &freed, &err)) {
            lm_report(&err);
            rc = LM_EXIT_FAIL;
            continue;
        }
        human_bytes(freed, size, sizeof(size));
        printf("deleted '%s' (%s freed)\n", quoted(argv[i], q, sizeof(q)), size);
    }
    lm_store_close(s);
    return rc;
}

static const char cp_usage[] = "usage: lm cp SRC DST\n\nGive the model SRC a second name DST.\n";

int cmd_cp(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(cp_usage);
    if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-')
        return cmd_usage(cp_usage);
    struct lm_store *s = open_store(argc, argv);
    struct lm_err err;
    char a[LM_QUOTE_MAX + 8], b[LM_QUOTE_MAX + 8];
    lm_err_clear(&err);
    if (!s)
        return LM_EXIT_FAIL;
    if (lm_store_copy(s, argv[1], argv[2], &err))
        return fail(s, &err);
    printf("copied '%s' to '%s'\n", quoted(argv[1], a, sizeof(a)), quoted(argv[2], b, sizeof(b)));
    lm_store_close(s);
    return LM_EXIT_OK;
}

/* ---- gc ---------------------------------------------------------------------------------- */

static const char gc_usage[] =
    "usage: lm gc [--dry-run]\n"
    "\n"
    "Remove blobs no model uses and temp files left by interrupted writes.\n"
    "  --dry-run   only list what would be removed\n";

int cmd_gc(int argc, char **argv)
{
    bool dry = false;
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(gc_usage);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0 || strcmp(argv[i], "-n") == 0)
            dry = true;
        else
            return cmd_usage(gc_usage);
    }
    struct lm_store *s = open_store(argc, argv);
    struct lm_gc_result r;
    struct lm_err err;
    char size[32];
    size_t blobs = 0;
    lm_err_clear(&err);
    if (!s)
        return LM_EXIT_FAIL;
    if (lm_store_gc(s, dry, &r, &err))
        return fail(s, &err);
    for (size_t i = 0; i < r.n_items; i++) {
        human_bytes(r.items[i].size, size, sizeof(size));
        printf("%s %s (%s)\n", dry ? "would remove" : "removed", r.items[i].path, size);
        blobs += !r.items[i].temp;
    }
    human_bytes(r.bytes, size, sizeof(size));
    printf("%s %zu blob%s and %zu temporary file%s, %s %s\n", dry ? "would remove" : "removed",
           blobs, blobs == 1 ? "" : "s", r.n_items - blobs, r.n_items - blobs == 1 ? "" : "s", size,
           dry ? "to free" : "freed");
    lm_gc_result_release(&r);
    lm_store_close(s);
    return LM_EXIT_OK;
}

/* ---- verify ------------------------------------------------------------------------------ */

static const char verify_usage[] =
    "usage: lm verify [NAME...] [--json] [-j N]\n"
    "\n"
    "Re-hash every blob (or only those of the named models) on all cores, check the index and\n"
    "the audit log chain. Each problem is one line starting with its class: missing-blob,\n"
    "size-mismatch, digest-mismatch, index-corrupt, log-chain-broken (exit 1), orphan-blob,\n"
    "stale-temp (left by interrupted writes; lm gc removes them).\n"
    "  -j N   hash with N threads (default: one per CPU)\n";


static void verify_print(const struct lm_verify_result *r, bool as_json)
{
    char size[32];
    if (as_json) {
        json_t *doc = json_object(), *v = json_array();
        for (size_t i = 0; i < r->n_problems; i++) {
            const struct lm_problem *p = &r->problems[i];
            json_t *o = json_object();
            json_object_set_new(o, "class", json_string(lm_problem_name(p->cls)));
            json_object_set_new(o, "error", json_boolean(lm_problem_is_error(p->cls)));
            json_object_set_new(o, "path", jstr(p->path));
            json_object_set_new(o, "digest", p->digest[0] ? json_string(p->digest) : json_null());
            json_object_set_new(o, "message", jstr(p->message));
            json_object_set_new(o, "models", jstr(p->models));
            json_array_append_new(v, o);
        }
        json_object_set_new(doc, "ok", json_boolean(r->n_errors == 0));
        json_object_set_new(doc, "blobs", json_integer((json_int_t)r->blobs));
        json_object_set_new(doc, "bytes", json_integer((json_int_t)r->bytes));
        json_object_set_new(doc, "problems", v);
        lm_json_print(doc);
        return;
    }
    for (size_t i = 0; i < r->n_problems; i++) {
        const struct lm_problem *p = &r->problems[i];
        char q[LM_QUOTE_MAX + 8];
        printf("%s %s: %s", lm_problem_name(p->cls), quoted(p->path, q, sizeof(q)), p->message);
        if (p->models)
            printf(" (used by %s)", p->models);
        printf("\n");
    }
    human_bytes(r->bytes, size, sizeof(size));
    printf("verified %llu blobs, %s: ", (unsigned long long)r->blobs, size);
    if (r->n_errors)
        printf("%zu problem%s\n", r->n_errors, r->n_errors == 1 ? "" : "s");
    else
        printf("ok\n");
}

int cmd_verify(int argc, char **argv)
{
    if (cmd_verify_is_sig(argc, argv))
        return cmd_verify_sig(argc, argv);
    const char **names = calloc((size_t)argc, sizeof(*names));
    struct lm_verify_opts o = { 0 };
    bool as_json = false;
    int rc = LM_EXIT_USAGE;
    if (!names)
        return LM_EXIT_FAIL;
    if (cmd_wants_help(argc, argv)) {
        free(names);
        return cmd_help_text(verify_usage);
    }
    for (int i = 1; i < argc; i++) {
        uint64_t j;
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "-j") == 0 && i + 1 < argc &&
                   lm_parse_u64(argv[i + 1], 1, 256, &j) == 0) {
            o.threads = (unsigned)j;
            i++;
        } else if (argv[i][0] == '-') {
            free(names);
            return cmd_usage(verify_usage);
        } else {
            names[o.n_names++] = argv[i];
        }
    }
    o.names = names;
    struct lm_verify_result r;
    struct lm_progress prog = { .label = "verify" };
    struct lm_err err;
    lm_err_clear(&err);
    struct lm_store *s = open_store_why(argc, argv, &err);
    if (!s) {
        free(names);
        if (err.code != LM_ECORRUPT) {
            lm_report(&err);
            return LM_EXIT_FAIL;
        }
        /* An index SQLite cannot even open is a finding of verify, in its own words. */
        char q[LM_QUOTE_MAX + 8];
        if (as_json) {
            json_t *doc = json_object(), *v = json_array(), *o1 = json_object();
            json_object_set_new(o1, "class", json_string("index-corrupt"));
            json_object_set_new(o1, "error", json_true());
            json_object_set_new(o1, "path", json_string("index.db"));
            json_object_set_new(o1, "digest", json_null());
            json_object_set_new(o1, "message", jstr(err.msg));
            json_object_set_new(o1, "models", json_null());
            json_array_append_new(v, o1);
            json_object_set_new(doc, "ok", json_false());
            json_object_set_new(doc, "blobs", json_integer(0));
            json_object_set_new(doc, "bytes", json_integer(0));
            json_object_set_new(doc, "problems", v);
            lm_json_print(doc);
        } else {
            printf("index-corrupt index.db: %s\n", quoted(err.msg, q, sizeof(q)));
        }
        return LM_EXIT_FAIL;
    }
    if (!as_json) {
        o.progress = cmd_show_progress;
        o.ctx = &prog;
    }
    if (lm_store_verify(s, &o, &r, &err)) {
        lm_report(&err);
        rc = LM_EXIT_FAIL;
    } else {
        verify_print(&r, as_json);
        rc = r.n_errors ? LM_EXIT_FAIL : LM_EXIT_OK;
        lm_verify_result_release(&r);
    }
    lm_store_close(s);
    free(names);
    return rc;
}

/* ---- log --------------------------------------------------------------------------------- */

static const char log_usage[] =
    "usage: lm log [--json]\n"
    "\n"
    "Print the store's audit log (every import, pull, rm, cp, gc and verify: time, user,\n"
    "command, digests) and check its hash chain; exit 1 if an entry was edited or removed.\n";

static void log_json(const struct lm_log *l)
{
    json_t *doc = json_object(), *v = json_array();
    for (size_t i = 0; i < l->n; i++) {
        const struct lm_log_entry *e = &l->entries[i];
        char t[32];
        json_t *o = json_object(), *d = json_array();
        iso_time(e->time, t, sizeof(t));
        json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
        json_object_set_new(o, "time", json_string(t));
        json_object_set_new(o, "user", jstr(e->user));
        json_object_set_new(o, "command", jstr(e->command));
        json_object_set_new(o, "action", jstr(e->action));
        json_object_set_new(o, "subject", jstr(e->subject));
        for (const char *p = e->digests; *p;) {
            size_t k = strcspn(p, " ");
            char dg[80];
            snprintf(dg, sizeof(dg), "sha256:%.*s", (int)(k < 64 ? k : 64), p);
            json_array_append_new(d, json_string(dg));
            p += k + (p[k] == ' ');
        }
        json_object_set_new(o, "digests", d);
        json_object_set_new(o, "prev", json_string(e->prev));
        json_object_set_new(o, "hash", json_string(e->hash));
        json_array_append_new(v, o);
    }
    json_object_set_new(doc, "entries", v);
    json_object_set_new(doc, "chain_ok", json_boolean(l->broken_at == 0));
    json_object_set_new(doc, "problem", l->broken_at ? json_string("log-chain-broken") : json_null());
    json_object_set_new(doc, "message", l->broken_at ? jstr(l->why) : json_null());
    lm_json_print(doc);
}

int cmd_log(int argc, char **argv)
{
    bool as_json = false;
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(log_usage);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            as_json = true;
        else
            return cmd_usage(log_usage);
    }
    struct lm_store *s = open_store(argc, argv);
    struct lm_log l;
    struct lm_err err;
    lm_err_clear(&err);
    if (!s)
        return LM_EXIT_FAIL;
    if (lm_store_log(s, &l, &err))
        return fail(s, &err);
    if (as_json) {
        log_json(&l);
    } else {
        for (size_t i = 0; i < l.n; i++) {
            const struct lm_log_entry *e = &l.entries[i];
            char t[32], q[LM_QUOTE_MAX + 8], c[LM_QUOTE_MAX + 8];
            size_t nd = 0;
            for (const char *p = e->digests; *p; p++)
                nd += p == e->digests || p[-1] == ' ';
            iso_time(e->time, t, sizeof(t));
            printf("%lld  %s  %s  %-6s  %s  (%zu digest%s)  $ %s\n", (long long)e->seq, t,
                   quoted(e->user, q, sizeof(q)), e->action, quoted(e->subject, c, sizeof(c)), nd,
                   nd == 1 ? "" : "s", e->command);
        }
        if (l.broken_at)
            printf("log-chain-broken index.db: audit log %s\n", l.why);
        else
            printf("audit log: %zu entries, chain intact\n", l.n);
    }
    int rc = l.broken_at ? LM_EXIT_FAIL : LM_EXIT_OK;
    lm_log_release(&l);
    lm_store_close(s);
    return rc;
}
