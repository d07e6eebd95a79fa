/* sign.c: lm sign (make a model signature) and lm verify --sig (check one). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmd.h"
#include "../registry/registry.h"
#include "../store/store.h"
#include "../common/banned.h"

static const char sign_usage[] =
    "usage: lm sign DIR|FILE|NAME --key KEY.pem [-o SIGNATURE] [--ignore-path P]...\n"
    "  Sign a model directory (or one file, or a store model: then -o is required) with an EC\n"
    "  private key (P-256, P-384 or P-521): writes an OpenSSF Model Signing bundle (default\n"
    "  DIR/model.sig) that lm verify --sig and upstream's model_signing verify key accept.\n";

static const char verify_sig_usage[] =
    "usage: lm verify --sig [--signature FILE] [--ignore-path P]... [--json]\n"
    "                 (--key PUB.pem | --cert-chain CA.pem |\n"
    "                  --trust-root ROOT.json --identity ID --issuer URL) NAME|DIR|FILE\n"
    "  Check an OpenSSF model signature (model.sig): every file re-hashed and covered exactly,\n"
    "  and the signature by a trusted key, a certificate chaining to CA.pem, or Sigstore keyless\n"
    "  offline (Fulcio chain, identity, issuer, Rekor inclusion proof, checkpoint and SET).\n";

static bool has_arg(int argc, char **argv, const char *a)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], a) == 0)
            return true;
    return false;
}

/* lm verify hands --sig and --rebuild over to us. */
bool cmd_verify_is_sig(int argc, char **argv)
{
    return has_arg(argc, argv, "--sig") || has_arg(argc, argv, "--rebuild");
}

/* An option with a value: argv[*i] is NAME, the value follows. */
static bool opt(int argc, char **argv, int *i, const char *name, const char **val)
{
    if (strcmp(argv[*i], name) != 0 || *i + 1 >= argc)
        return false;
    *val = argv[++*i];
    return true;
}

/* A store model's files by their names, pointing at their blobs; NULL on error. The caller
 * frees the list, the model and the store (each may be set even on error). */
static struct lm_sig_file *store_files(const char *name, struct lm_store **s, struct lm_model **m,
                                       struct lm_err *err)
{
    struct lm_sig_file *f = NULL;
    *m = NULL;
    *s = lm_store_open(NULL, err);
    if (!*s || lm_model_get(*s, name, m, err))
        return NULL;
    f = calloc((*m)->n_layers + 1, sizeof(*f));
    if (!f) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < (*m)->n_layers; i++)
        f[i] = (struct lm_sig_file){ (*m)->layers[i].path, (*m)->layers[i].blob };
    return f;
}

/* A store model: its files by their names; the signature goes to -o. */
static int sign_store_model(const char *name, const struct lm_sig_sign_opts *o, char hint[65],
                            struct lm_err *err)
{
    struct lm_store *s;
    struct lm_model *m;
    struct lm_sig_file *f = store_files(name, &s, &m, err);
    int ret = -1;
    if (!f)
        goto out;
    if (!o->out) {
        lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                   "signing store model %s needs -o FILE for the signature", m->display);
        goto out;
    }
    ret = lm_sig_sign_files(f, m->n_layers, m->display, o, hint, err);
out:
    free(f);
    lm_model_free(m);
    lm_store_close(s);
    return ret;
}

int cmd_sign(int argc, char **argv)
{
    const char **ign = calloc((size_t)argc, sizeof(*ign));
    struct lm_sig_sign_opts o = { 0 };
    const char *model = NULL, *v = NULL;
    if (!ign)
        return LM_EXIT_FAIL;
    if (cmd_wants_help(argc, argv)) {
        free(ign);
        return cmd_help_text(sign_usage);
    }
    for (int i = 1; i < argc; i++) {
        if (opt(argc, argv, &i, "--key", &o.key) || opt(argc, argv, &i, "-o", &o.out)) {
            continue;
        } else if (opt(argc, argv, &i, "--ignore-path", &v)) {
            ign[o.n_ignore++] = v;
        } else if (argv[i][0] != '-' && !model) {
            model = argv[i];
        } else {
            free(ign);
            return cmd_usage(sign_usage);
        }
    }
    if (!model || !o.key) {
        free(ign);
        return cmd_usage(sign_usage);
    }
    o.ignore = ign;
    struct lm_err err;
    char hint[65];
    struct stat st;
    lm_err_clear(&err);
    int rc = stat(model, &st) == 0 || strchr(model, '/') ? lm_sig_sign_dir(model, &o, hint, &err)
                                                         : sign_store_model(model, &o, hint, &err);
    free(ign);
    if (rc) {
        lm_report(&err);
        return err.code == LM_EUSAGE ? LM_EXIT_USAGE : LM_EXIT_FAIL;
    }
    printf("signed %s with key %s\n", model, hint);
    return LM_EXIT_OK;
}

/* ---- lm verify --sig --------------------------------------------------------------------- */

/* A store model: its files by their names, its model.sig layer as the signature. */
static int verify_store_model(const char *name, struct lm_sig_opts *o, struct lm_sig_result *r,
                              struct lm_err *err)
{
    struct lm_store *s;
    struct lm_model *m;
    struct lm_sig_file *f = store_files(name, &s, &m, err);
    int ret = -1;
    if (!f)
        goto out;
    for (size_t i = 0; i < m->n_layers && !o->signature; i++)
        if (strcmp(m->layers[i].path, "model.sig") == 0)
            o->signature = m->layers[i].blob;
    if (!o->signature) {
        lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET, "model %s has no model.sig", m->display);
        goto out;
    }
    ret = lm_sig_verify_files(f, m->n_layers, o, r, err);
    /* Name blobs the way the user knows them: NAME/FILE, not blobs/sha256/... */
    for (size_t i = 0; ret && i < m->n_layers; i++) {
        if (strcmp(err->path, m->layers[i].blob) == 0) {
            char p[sizeof(err->path)];
            snprintf(p, sizeof(p), "%s/%s", m->display, m->layers[i].path);
            snprintf(err->path, sizeof(err->path), "%s", p);
        }
    }
out:
    free(f);
    lm_model_free(m);
    lm_store_close(s);
    return ret;
}

static void utc(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "%lld", (long long)t);
}

static int print_result(const char *model, const struct lm_sig_result *r, bool json)
{
    char when[32] = "";
    if (r->signed_at)
        utc(r->signed_at, when, sizeof(when));
    if (json) {
        json_t *d = json_pack("{s:o, s:b, s:s, s:o, s:o, s:s?, s:s, s:I}",
                              "model", lm_json_string(model, strlen(model)), "verified", 1,
                              "method", lm_sig_method_name(r->method),
                              "signer", lm_json_string(r->signer, strlen(r->signer)),
                              "issuer", lm_json_string(r->issuer, strlen(r->issuer)),
                              "signed_at", r->signed_at ? when : NULL, "root", r->root,
                              "files", (json_int_t)r->n_files);
        return lm_json_print(d) ? LM_EXIT_FAIL : LM_EXIT_OK;
    }
    char q[LM_QUOTE_MAX + 8], s[LM_QUOTE_MAX + 8], i[LM_QUOTE_MAX + 8];
    lm_quote(model, strlen(model), q, sizeof(q));
    lm_quote(r->signer, strlen(r->signer), s, sizeof(s));
    lm_quote(r->issuer, strlen(r->issuer), i, sizeof(i));
    const char *pl = r->n_files == 1 ? "" : "s";
    switch (r->method) {
    case LM_SIG_KEY:
        printf("%s: signature verified, %zu file%s, key %s\n", q, r->n_files, pl, s);
        break;
    case LM_SIG_CERT:
        printf("%s: signature verified, %zu file%s, certificate %s issued by %s at %s\n", q,
               r->n_files, pl, s, i, when);
        break;
    case LM_SIG_SIGSTORE:
        printf("%s: signature verified, %zu file%s, signed by %s via %s at %s\n", q,
               r->n_files, pl, s, i, when);
        break;
    case LM_SIG_NONE:
        break;
    }
    return LM_EXIT_OK;
}

int cmd_verify_sig(int argc, char **argv)
{
    const char **ign = calloc((size_t)argc, sizeof(*ign));
    struct lm_sig_opts o = { 0 };
    const char *model = NULL, *v = NULL;
    bool json = false;
    int n_methods = 0;
    if (has_arg(argc, argv, "--rebuild")) {
        free(ign);
        return has_arg(argc, argv, "--sig") ? cmd_usage(verify_sig_usage)
                                            : cmd_verify_rebuild(argc, argv);
    }
    if (!ign)
        return LM_EXIT_FAIL;
    if (cmd_wants_help(argc, argv)) {
        free(ign);
        return cmd_help_text(verify_sig_usage);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sig") == 0) {
            continue;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (opt(argc, argv, &i, "--key", &o.key)) {
            o.method = LM_SIG_KEY;
            n_methods++;
        } else if (opt(argc, argv, &i, "--cert-chain", &o.cert_chain)) {
            o.method = LM_SIG_CERT;
            n_methods++;
        } else if (opt(argc, argv, &i, "--trust-root", &o.trust_root)) {
            o.method = LM_SIG_SIGSTORE;
            n_methods++;
        } else if (opt(argc, argv, &i, "--identity", &o.identity) ||
                   opt(argc, argv, &i, "--issuer", &o.issuer) ||
                   opt(argc, argv, &i, "--signature", &o.signature)) {
            continue;
        } else if (opt(argc, argv, &i, "--ignore-path", &v)) {
            ign[o.n_ignore++] = v;
        } else if (argv[i][0] != '-' && !model) {
            model = argv[i];
        } else {
            free(ign);
            return cmd_usage(verify_sig_usage);
        }
    }
    bool keyless_args = o.identity || o.issuer;
    if (!model || n_methods != 1 ||
        (o.method == LM_SIG_SIGSTORE) != (o.identity && o.issuer) ||
        (o.method != LM_SIG_SIGSTORE && keyless_args)) {
        free(ign);
        return cmd_usage(verify_sig_usage);
    }
    o.ignore = ign;
    struct lm_sig_result r;
    struct lm_err err;
    struct stat st;
    lm_err_clear(&err);
    memset(&r, 0, sizeof(r));
    int rc = stat(model, &st) == 0 || strchr(model, '/') == NULL
                 ? (stat(model, &st) == 0 ? lm_sig_verify_dir(model, &o, &r, &err)
                                          : verify_store_model(model, &o, &r, &err))
                 : lm_sig_verify_dir(model, &o, &r, &err);
    free(ign);
    if (rc) {
        lm_report(&err);
        return LM_EXIT_FAIL;
    }
    return print_result(model, &r, json);
}
