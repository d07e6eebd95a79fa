/* create.c: `lm create NAME -f Modelfile`, the Modelfile layers of a store model read back (for
 * lm run and lm show --modelfile). */
#define _GNU_SOURCE   /* strdup */
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "../convert/convert.h"
#include "../runtime/runtime.h"
#include "../store/store.h"
#include "../common/banned.h"

static const char usage[] =
    "usage: lm create NAME [-f Modelfile]\n"
    "\n"
    "Makes the store model NAME from a Modelfile (default: ./Modelfile), as ollama create does:\n"
    "  FROM x           a model in the store, a GGUF file, or a Hugging Face checkpoint directory\n"
    "                   (converted to GGUF on the way in); paths are relative to the Modelfile\n"
    "  PARAMETER k v    temperature top_k top_p min_p repeat_penalty repeat_last_n seed num_ctx\n"
    "                   num_predict num_thread stop (repeatable) ...\n"
    "  TEMPLATE t       the chat template, in Ollama's Go template syntax\n"
    "  SYSTEM s         the system message\n"
    "  MESSAGE role s   a message of the conversation (system, user or assistant)\n"
    "  LICENSE s        a license text (repeatable)\n"
    "Values may be \"quoted\" or \"\"\"span lines\"\"\". Each part is stored as a layer with Ollama's\n"
    "media type, over the parts FROM a store model has (its parameters are merged, its licenses\n"
    "kept); lm run applies them and lm show NAME --modelfile prints them. A Modelfile error is one\n"
    "line, Modelfile:LINE: what is wrong, and nothing is created.\n";

#define PART_MAX LM_MODELFILE_MAX   /* bytes of a stored template, system, params ... layer */

/* ---- reading the Modelfile layers of a store model -------------------------------------- */

static int read_text(const char *path, struct lm_buf *b, struct lm_err *err)
{
    if (lm_read_file(path, PART_MAX + 1, b, err) < 0 || lm_buf_add(b, "", 1) < 0)
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "layer is over %u bytes",
                          PART_MAX);
    b->len--;
    return 0;
}

static int dup_to(char **dst, const char *s, struct lm_err *err)
{
    char *c = strdup(s);
    if (!c)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    free(*dst);
    *dst = c;
    return 0;
}

static int add_license(struct lm_modelfile *mf, const char *text, struct lm_err *err)
{
    char **v = realloc(mf->licenses, (mf->n_licenses + 1) * sizeof(*v));
    if (!v)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    mf->licenses = v;
    v[mf->n_licenses] = NULL;
    if (dup_to(&v[mf->n_licenses], text, err) < 0)
        return -1;
    mf->n_licenses++;
    return 0;
}

static int set_messages(struct lm_modelfile *mf, const struct lm_buf *json, const char *path,
                        struct lm_err *err)
{
    struct lm_chat chat;
    int rc = -1;
    lm_chat_init(&chat);
    if (lm_chat_from_json(&chat, json->data, json->len, path, err) < 0)
        goto out;
    for (size_t i = 0; i < mf->n_msgs; i++) {
        free(mf->msgs[i].role);
        free(mf->msgs[i].content);
    }
    free(mf->msgs);
    mf->n_msgs = 0;
    if (!(mf->msgs = calloc(chat.n ? chat.n : 1, sizeof(*mf->msgs)))) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (; mf->n_msgs < chat.n; mf->n_msgs++) {
        struct lm_mf_message *m = &mf->msgs[mf->n_msgs];
        if (dup_to(&m->role, chat.msgs[mf->n_msgs].role, err) < 0 ||
            dup_to(&m->content, chat.msgs[mf->n_msgs].content, err) < 0) {
            mf->n_msgs++;   /* release frees what was copied */
            goto out;
        }
    }
    rc = 0;
out:
    lm_chat_release(&chat);
    return rc;
}

static bool is_ollama_part(const char *mt)
{
    static const char *const v[] = { LM_MT_OLLAMA_TEMPLATE, LM_MT_OLLAMA_SYSTEM,
                                     LM_MT_OLLAMA_PARAMS, LM_MT_OLLAMA_MESSAGES,
                                     LM_MT_OLLAMA_LICENSE };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        if (strcmp(mt, v[i]) == 0)
            return true;
    return false;
}

/* m's Ollama-typed layers into mf (which may hold parts already: layers replace them, licenses
 * are added). */
static int load_parts(const struct lm_model *m, struct lm_modelfile *mf, struct lm_err *err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->n_layers; i++) {
        const struct lm_model_layer *l = &m->layers[i];
        struct lm_buf b = LM_BUF_INIT(0);
        if (!is_ollama_part(l->media_type))
            continue;
        rc = read_text(l->blob, &b, err);
        if (rc == 0 && strcmp(l->media_type, LM_MT_OLLAMA_TEMPLATE) == 0)
            rc = dup_to(&mf->tmpl, b.data, err);
        else if (rc == 0 && strcmp(l->media_type, LM_MT_OLLAMA_SYSTEM) == 0)
            rc = dup_to(&mf->system, b.data, err);
        else if (rc == 0 && strcmp(l->media_type, LM_MT_OLLAMA_LICENSE) == 0)
            rc = add_license(mf, b.data, err);
        else if (rc == 0 && strcmp(l->media_type, LM_MT_OLLAMA_MESSAGES) == 0)
            rc = set_messages(mf, &b, l->blob, err);
        else if (rc == 0)
            rc = lm_modelfile_params_from_json(mf, b.data, b.len, l->blob, err);
        lm_buf_release(&b);
    }
    return rc;
}

/* The rule cmd_open_gguf uses: a file by that name, or something that looks like a path. */
static bool names_a_file(const char *arg)
{
    size_t n = strlen(arg);
    return access(arg, F_OK) == 0 || strchr(arg, '/') ||
           (n > 5 && strcmp(arg + n - 5, ".gguf") == 0);
}

int cmd_modelfile_load(const char *model, struct lm_modelfile *mf, struct lm_err *err)
{
    memset(mf, 0, sizeof(*mf));
    if (names_a_file(model))
        return dup_to(&mf->from, model, err);
    struct lm_store *s = lm_store_open(NULL, err);
    struct lm_model *m = NULL;
    int rc = -1;
    if (!s)
        return -1;
    if (lm_model_get(s, model, &m, err) < 0) {
        if (err->code != LM_ENOTFOUND)
            goto out;
        lm_err_clear(err);   /* opening the model says so */
        rc = dup_to(&mf->from, model, err);
        goto out;
    }
    rc = load_parts(m, mf, err) < 0 || dup_to(&mf->from, m->display, err) < 0 ? -1 : 0;
    if (rc < 0)
        lm_modelfile_release(mf);
out:
    lm_model_free(m);
    lm_store_close(s);
    return rc;
}

int cmd_show_modelfile(struct lm_store *s, const struct lm_model *m)
{
    struct lm_modelfile mf;
    struct lm_buf out = LM_BUF_INIT(4 * (size_t)LM_MODELFILE_MAX);
    struct lm_err err;
    const struct lm_model_layer *g = lm_model_layer_by_type(m, LM_MT_GGUF);
    int rc = LM_EXIT_FAIL;
    (void)s;
    memset(&mf, 0, sizeof(mf));
    lm_err_clear(&err);
    /* FROM the GGUF blob, as ollama show does: creating from it gives the same weights. */
    if (load_parts(m, &mf, &err) < 0 || dup_to(&mf.from, g ? g->blob : m->display, &err) < 0 ||
        lm_buf_printf(&out, "# Modelfile generated by \"lm show\"\n# To build a new Modelfile "
                      "based on this, replace FROM with:\n# FROM %s\n\n", m->display) < 0 ||
        lm_modelfile_format(&mf, &out, &err) < 0) {
        if (!err.code)
            lm_err_set(&err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        lm_report(&err);
        goto out;
    }
    fwrite(out.data, 1, out.len, stdout);
    rc = LM_EXIT_OK;
out:
    lm_buf_release(&out);
    lm_modelfile_release(&mf);
    return rc;
}

/* ---- lm create ---------------------------------------------------------------------------- */

struct base {
    char path[PATH_MAX];         /* FROM as a file or directory, "" for a store model */
    bool is_dir;
    struct lm_model *m;          /* FROM as a store model */
    char dir[PATH_MAX];          /* m's files seen as a directory, to convert them */
    bool view;
    char convert_json[256];      /* what a conversion on the way in did, "" if none */
};

/* FROM: a path (relative to the Modelfile's directory, ~ for $HOME) that exists, else a store
 * model. Errors name the FROM line. */
static int resolve_from(struct lm_store *s, const char *mf_path, const struct lm_modelfile *mf,
                        struct base *b, struct lm_err *err)
{
    char where[PATH_MAX + 16];
    const char *f = mf->from, *home = getenv("HOME");
    struct stat st;
    snprintf(where, sizeof(where), "%s:%d", mf_path, mf->from_line);
    if (!f)
        return lm_err_set(err, LM_EUSAGE, mf_path, LM_NO_OFFSET, "no FROM line");
    const char *slash = strrchr(mf_path, '/');
    if (f[0] == '~' && f[1] == '/' && home)
        snprintf(b->path, sizeof(b->path), "%s%s", home, f + 1);
    else if (f[0] != '/' && slash)
        snprintf(b->path, sizeof(b->path), "%.*s/%s", (int)(slash - mf_path), mf_path, f);
    else
        snprintf(b->path, sizeof(b->path), "%s", f);
    if (stat(b->path, &st) == 0) {
        b->is_dir = S_ISDIR(st.st_mode);
        return 0;
    }
    b->path[0] = 0;
    struct lm_name nm;
    if (lm_name_parse(f, &nm, NULL) < 0 || lm_model_get(s, f, &b->m, err) < 0) {
        char q[LM_QUOTE_MAX + 8];
        lm_quote(f, strlen(f), q, sizeof(q));
        return lm_err_set(err, LM_ENOTFOUND, where, LM_NO_OFFSET,
                          "FROM '%s': no such file or directory, and no model of that name in "
                          "the store", q);
    }
    if (lm_model_layer_by_type(b->m, LM_MT_GGUF))
        return 0;
    if (!lm_model_layer_by_type(b->m, LM_MT_SAFETENSORS))
        return lm_err_set(err, LM_EUNSUPPORTED, where, LM_NO_OFFSET,
                          "FROM %s: the model has no GGUF or safetensors weights", b->m->display);
    return cmd_convert_view(b->m, b->dir, sizeof(b->dir), &b->view, err);
}

/* A checkpoint directory converted to a GGUF blob, as lm convert --outtype auto makes it. */
static int convert_in(struct lm_store *s, const char *dir, const char *label, struct base *b,
                      struct lm_blob *blob, struct lm_err *err)
{
    struct convert_opts o = { .outtype = CONVERT_AUTO };
    char folder[LM_NAME_PART_MAX + 1];
    struct lm_name nm;
    if (b->m && lm_name_parse(b->m->name, &nm, NULL) == 0) {
        snprintf(folder, sizeof(folder), "%s", nm.model);
        o.model_name_dir = folder;
    }
    struct convert *c = convert_open(dir, &o, err);
    if (!c)
        return -1;
    const struct convert_info *info = convert_get_info(c);
    struct lm_progress p;
    int rc = -1;
    struct lm_blob_writer *w = lm_blob_begin(s, LM_MT_GGUF, info->file_size, label, err);
    if (!w)
        goto out;
    lm_progress_begin(&p, "converting", info->data_size);
    if (convert_write_fd(c, lm_blob_fd(w), label, &p, err) < 0) {
        lm_blob_abort(w);
        lm_progress_end(&p);
        goto out;
    }
    lm_progress_end(&p);
    snprintf(b->convert_json, sizeof(b->convert_json),
             "{\"outtype\":\"%s\",\"file_type\":%u,\"architecture\":\"%s\"}",
             convert_outtype_name(info->outtype), info->file_type, info->arch);
    rc = lm_blob_commit(w, NULL, blob, err);
out:
    convert_close(c);
    return rc;
}

/* Ollama's params merge: a key the Modelfile gives replaces the base's, the rest are kept. */
static int merge_params(const struct lm_modelfile *base, const struct lm_modelfile *mf,
                        struct lm_buf *out, struct lm_err *err)
{
    struct lm_buf a = LM_BUF_INIT(PART_MAX), b = LM_BUF_INIT(PART_MAX);
    struct lm_modelfile merged;
    json_t *ja = NULL, *jb = NULL;
    char *s = NULL;
    int rc = -1;
    memset(&merged, 0, sizeof(merged));
    if (lm_modelfile_params_json(base, &a, err) < 0 || lm_modelfile_params_json(mf, &b, err) < 0)
        goto out;
    ja = json_loadb(a.data, a.len, JSON_DECODE_INT_AS_REAL, NULL);
    jb = json_loadb(b.data, b.len, JSON_DECODE_INT_AS_REAL, NULL);
    if (!ja || !jb || json_object_update_missing(jb, ja) < 0 ||
        !(s = json_dumps(jb, JSON_COMPACT))) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    if (lm_modelfile_params_from_json(&merged, s, strlen(s), "params", err) < 0)
        goto out;
    rc = merged.n_params ? lm_modelfile_params_json(&merged, out, err) : 0;
out:
    free(s);
    json_decref(ja);
    json_decref(jb);
    lm_buf_release(&a);
    lm_buf_release(&b);
    lm_modelfile_release(&merged);
    return rc;
}

struct layers {
    struct lm_layer v[64];
    char digest[64][65], path[64][32];
    size_t n;
};

static int add_part(struct lm_store *s, struct layers *L, const char *path, const char *role,
                    const char *mt, const char *data, size_t len, struct lm_err *err)
{
    struct lm_blob blob;
    if (L->n >= sizeof(L->v) / sizeof(L->v[0]))
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "too many Modelfile layers");
    struct lm_blob_writer *w = lm_blob_begin(s, mt, len, path, err);
    if (!w)
        return -1;
    if (lm_blob_write(w, data, len, err) < 0) {
        lm_blob_abort(w);
        return -1;
    }
    if (lm_blob_commit(w, NULL, &blob, err) < 0)
        return -1;
    memcpy(L->digest[L->n], blob.digest, 65);
    snprintf(L->path[L->n], sizeof(L->path[0]), "%s", path);
    L->v[L->n] = (struct lm_layer){ L->path[L->n], L->digest[L->n], blob.size, role, mt };
    L->n++;
    return 0;
}

/* The final parts (base's, replaced or added to by mf) as layers. */
static int add_parts(struct lm_store *s, const struct lm_modelfile *base,
                     const struct lm_modelfile *mf, struct layers *L, struct lm_err *err)
{
    struct lm_buf b = LM_BUF_INIT(4 * (size_t)PART_MAX);
    const char *tmpl = mf->tmpl ? mf->tmpl : base->tmpl;
    const char *sys = mf->system ? mf->system : base->system;
    const struct lm_modelfile *msgs = mf->n_msgs ? mf : base;
    int rc = -1;
    if ((tmpl && add_part(s, L, "modelfile/template", "template", LM_MT_OLLAMA_TEMPLATE, tmpl,
                          strlen(tmpl), err) < 0) ||
        (sys && add_part(s, L, "modelfile/system", "system", LM_MT_OLLAMA_SYSTEM, sys,
                         strlen(sys), err) < 0))
        goto out;
    if (merge_params(base, mf, &b, err) < 0 ||
        (b.len && add_part(s, L, "modelfile/params", "params", LM_MT_OLLAMA_PARAMS, b.data, b.len,
                           err) < 0))
        goto out;
    b.len = 0;
    if (msgs->n_msgs && (lm_modelfile_messages_json(msgs, &b, err) < 0 ||
                         add_part(s, L, "modelfile/messages", "messages", LM_MT_OLLAMA_MESSAGES,
                                  b.data, b.len, err) < 0))
        goto out;
    size_t k = 0;
    for (int pass = 0; pass < 2; pass++) {
        const struct lm_modelfile *src = pass ? mf : base;
        for (size_t i = 0; i < src->n_licenses; i++, k++) {
            char path[32];
            snprintf(path, sizeof(path), k ? "modelfile/license-%zu" : "modelfile/license", k + 1);
            if (add_part(s, L, path, "license", LM_MT_OLLAMA_LICENSE, src->licenses[i],
                         strlen(src->licenses[i]), err) < 0)
                goto out;
        }
    }
    rc = 0;
out:
    lm_buf_release(&b);
    return rc;
}

static char *derivation_json(const struct lm_modelfile *mf, const char *mf_sha, const struct base *b)
{
    json_t *p = json_pack("{s:s, s:s}", "from", mf->from, "modelfile_sha256", mf_sha);
    if (p && b->convert_json[0])
        json_object_set_new(p, "convert", json_loads(b->convert_json, 0, NULL));
    char *s = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(p);
    return s;
}

/* The weights layer (and the other files of a store model FROM) plus the Modelfile parts. */
static int store_model(struct lm_store *s, const char *name, const struct lm_modelfile *mf, const char *mf_sha, struct base *b,
                       struct lm_err *err)
{
    struct lm_modelfile base;
    struct layers *L = calloc(1, sizeof(*L));
    struct lm_layer *all = NULL;
    struct lm_blob blob;
    char *params = NULL, url[PATH_MAX + 8], abs[PATH_MAX];
    size_t n = 0;
    int rc = -1;
    memset(&base, 0, sizeof(base));
    if (!L || !(all = calloc(64 + (b->m ? b->m->n_layers : 0) + 1, sizeof(*all)))) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    if (b->m && lm_model_layer_by_type(b->m, LM_MT_GGUF)) {
        for (size_t i = 0; i < b->m->n_layers; i++) {
            const struct lm_model_layer *l = &b->m->layers[i];
            if (!is_ollama_part(l->media_type))
                all[n++] = (struct lm_layer){ l->path, l->digest, l->size, l->role,
                                              l->media_type };
        }
        if (load_parts(b->m, &base, err) < 0)
            goto out;
    } else {
        const char *label = b->m ? b->m->display : b->path;
        if (b->is_dir || b->m) {
            if (convert_in(s, b->m ? b->dir : b->path, label, b, &blob, err) < 0)
                goto out;
        } else if (lm_blob_add_file(s, b->path, LM_MT_GGUF, 0, NULL, &blob, err) < 0) {
            goto out;
        }
        all[n++] = (struct lm_layer){ "model.gguf", blob.digest, blob.size, "weights", LM_MT_GGUF };
        for (size_t i = 0; b->m && i < b->m->n_layers; i++) {   /* its license and readme */
            const struct lm_model_layer *l = &b->m->layers[i];
            if (strcmp(l->role, "license") == 0 || strcmp(l->role, "readme") == 0)
                all[n++] = (struct lm_layer){ l->path, l->digest, l->size, l->role,
                                              l->media_type };
        }
    }
    if (add_parts(s, &base, mf, L, err) < 0)
        goto out;
    if (!(params = derivation_json(mf, mf_sha, b))) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    memcpy(all + n, L->v, L->n * sizeof(*all));
    n += L->n;
    struct lm_derivation d = { "create", params, b->m ? b->m->manifest : NULL };
    struct lm_provenance prov = { .kind = "derived", .extra_json = params };
    if (b->m) {
        prov.url = b->m->name;
    } else {
        snprintf(url, sizeof(url), "file://%s", realpath(b->path, abs) ? abs : b->path);
        prov.url = url;
    }
    struct lm_model_spec spec = { name, all, n, &prov, b->m ? &d : NULL, b->m ? 1 : 0 };
    rc = lm_store_add_models(s, "create", &spec, 1, NULL, err);
out:
    lm_modelfile_release(&base);
    free(all);
    free(L);
    free(params);
    return rc;
}

int cmd_create(int argc, char **argv)
{
    const char *name = NULL, *file = "Modelfile";
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(usage);
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--file") == 0) && i + 1 < argc)
            file = argv[++i];
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return cmd_usage(usage);
    }
    if (!name)
        return cmd_usage(usage);
    struct lm_err err;
    struct lm_name nm;
    lm_err_clear(&err);
    if (lm_name_parse(name, &nm, &err) < 0) {
        lm_report(&err);
        return LM_EXIT_USAGE;
    }
    struct lm_buf text = LM_BUF_INIT(LM_MODELFILE_MAX);
    struct lm_modelfile mf;
    struct lm_store *s = NULL;
    struct base b;
    char sha[65], display[LM_NAME_MAX + 1];
    int rc = LM_EXIT_FAIL;
    memset(&mf, 0, sizeof(mf));
    memset(&b, 0, sizeof(b));
    if (lm_read_file(file, LM_MODELFILE_MAX, &text, &err) < 0 ||
        lm_modelfile_parse(text.data, text.len, file, &mf, &err) < 0)
        goto fail;
    for (size_t i = 0; i < mf.n_warnings; i++)
        lm_warnf("%s", mf.warnings[i]);
    uint8_t digest[32];
    lm_sha256_buf(text.data ? text.data : "", text.len, digest);
    lm_hex(digest, sizeof(digest), sha);
    if (!(s = lm_store_open(NULL, &err)))
        goto fail;
    lm_store_set_command(s, argc, argv);
    if (resolve_from(s, file, &mf, &b, &err) < 0 ||
        store_model(s, name, &mf, sha, &b, &err) < 0)
        goto fail;
    lm_name_display(&nm, display, sizeof(display));
    printf("created %s from %s\n", display, mf.from);
    rc = LM_EXIT_OK;
    goto out;
fail:
    lm_report(&err);
out:
    if (b.view)
        cmd_convert_view_drop(b.m, b.dir);
    lm_model_free(b.m);
    lm_store_close(s);
    lm_modelfile_release(&mf);
    lm_buf_release(&text);
    return rc;
}
