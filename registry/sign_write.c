/* sign_write.c: making a key-method OpenSSF model signature (spec §6.1) that upstream verifies. */
#include <limits.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "sign_internal.h"
#include "../common/banned.h"

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The statement, laid out as upstream's and tools/oms_sign.py's (2-space indent, this key order). */
static char *statement(const char *subject, const struct sig_ignore *ig,
                       const struct sig_res_list *res, char root_hex[65])
{
    json_t *ign = json_array(), *rs = json_array();
    struct lm_sha256 *h = lm_sha256_new();
    char hex[2 * SIG_DIGEST_MAX + 1];
    char *out = NULL;
    if (!ign || !rs || !h)
        goto out;
    for (size_t i = 0; i < ig->n; i++)
        json_array_append_new(ign, json_string(ig->v[i]));
    for (size_t i = 0; i < res->n; i++) {
        lm_hex(res->v[i].digest, res->v[i].dlen, hex);
        lm_sha256_update(h, res->v[i].digest, res->v[i].dlen);
        json_array_append_new(rs, json_pack("{s:o, s:s, s:s}", "name",
                                            lm_json_string(res->v[i].name,
                                                           strlen(res->v[i].name)),
                                            "algorithm", res->v[i].algo, "digest", hex));
    }
    uint8_t d[32];
    lm_sha256_final(h, d);
    lm_hex(d, 32, root_hex);
    json_t *st = json_pack(
        "{s:s, s:[{s:o, s:{s:s}}], s:s, s:{s:{s:s, s:s, s:b, s:O}, s:O}}",
        "_type", SIG_STATEMENT_TYPE,
        "subject", "name", lm_json_string(subject, strlen(subject)), "digest", "sha256", root_hex,
        "predicateType", SIG_PREDICATE_V1,
        "predicate", "serialization", "method", "files", "hash_type", "sha256", "allow_symlinks", 0,
        "ignore_paths", ign, "resources", rs);
    if (st)
        out = json_dumps(st, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(st);
out:
    json_decref(ign);
    json_decref(rs);
    lm_sha256_free(h);
    return out;
}

static int sign_pae(EVP_PKEY *k, const char *payload, uint8_t **sig, size_t *slen)
{
    size_t n = 0;
    uint8_t *m = sig_pae(SIG_PAYLOAD_TYPE, (const uint8_t *)payload, strlen(payload), &n);
    EVP_MD_CTX *c = m ? EVP_MD_CTX_new() : NULL;
    int ret = -1;
    *sig = NULL;
    if (c && EVP_DigestSignInit(c, NULL, sig_curve_md(k), NULL, k) == 1 &&
        EVP_DigestSign(c, NULL, slen, m, n) == 1 && (*sig = malloc(*slen)) &&
        EVP_DigestSign(c, *sig, slen, m, n) == 1)
        ret = 0;
    EVP_MD_CTX_free(c);
    free(m);
    return ret;
}

/* Hash files, sign the statement with the key in o->key, write the bundle to out. */
static int sign_files(const char *subject, struct sig_ignore *ig, const struct lm_sig_file *files,
                      size_t n, const char *key_path, const char *out, char hint_out[65],
                      struct lm_err *err)
{
    struct sig_res_list res = { 0 };
    struct sig_ser ser = { .shards = false, .hash = "sha256" };
    EVP_PKEY *k = NULL;
    char *payload = NULL, *p64 = NULL, *s64 = NULL, *doc = NULL, hint[65], root[65];
    uint8_t *sig = NULL;
    size_t slen = 0;
    json_t *b = NULL;
    int ret = -1;

    qsort(ig->v, ig->n, sizeof(*ig->v), str_cmp);
    k = sig_read_key(key_path, true, err);
    if (!k || sig_hash_files(files, n, &ser, &res, err))
        goto out;
    payload = statement(subject, ig, &res, root);
    if (!payload || sign_pae(k, payload, &sig, &slen) || sig_key_hint(k, hint)) {
        lm_err_set(err, LM_EINTERNAL, key_path, LM_NO_OFFSET, "cannot sign with this key");
        goto out;
    }
    p64 = sig_b64_encode((const uint8_t *)payload, strlen(payload));
    s64 = sig_b64_encode(sig, slen);
    b = p64 && s64 ? json_pack("{s:s, s:{s:{s:s}, s:[]}, s:{s:s, s:s, s:[{s:s, s:s}]}}",
                               "mediaType", SIG_BUNDLE_TYPE,
                               "verificationMaterial", "publicKey", "hint", hint, "tlogEntries",
                               "dsseEnvelope", "payload", p64, "payloadType", SIG_PAYLOAD_TYPE,
                               "signatures", "sig", s64, "keyid", "")
                   : NULL;
    doc = b ? json_dumps(b, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (!doc) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    size_t dl = strlen(doc);
    doc[dl] = '\n';   /* json_dumps leaves room: its NUL */
    if (lm_write_file_atomic(out, doc, dl + 1, err))
        goto out;
    if (hint_out)
        snprintf(hint_out, 65, "%s", hint);
    ret = 0;
out:
    free(doc);
    json_decref(b);
    free(p64);
    free(s64);
    free(sig);
    free(payload);
    EVP_PKEY_free(k);
    sig_res_list_release(&res);
    return ret;
}

static int git_ignores(struct sig_ignore *ig, struct lm_err *err)
{
    for (size_t i = 0; i < SIG_GIT_PATHS; i++)
        if (sig_ignore_add(ig, sig_git_paths[i], err))
            return -1;
    return 0;
}

int lm_sig_sign_dir(const char *model, const struct lm_sig_sign_opts *o, char hint_out[65],
                    struct lm_err *err)
{
    char out[PATH_MAX], real[PATH_MAX], rel[PATH_MAX];
    struct stat st;
    struct sig_ignore ig = { 0 };
    struct sig_files files = { 0 };
    int ret = -1;

    if (stat(model, &st) != 0)
        return lm_err_errno(err, model, "cannot stat model");
    if (o->out) {
        snprintf(out, sizeof(out), "%s", o->out);
    } else if (S_ISREG(st.st_mode)) {
        const char *slash = strrchr(model, '/');
        snprintf(out, sizeof(out), "%.*s/model.sig", slash ? (int)(slash - model) : 1,
                 slash ? model : ".");
    } else {
        snprintf(out, sizeof(out), "%s/model.sig", model);
    }
    if (!realpath(model, real))
        return lm_err_errno(err, model, "cannot resolve");
    if (git_ignores(&ig, err) ||
        (sig_rel_inside(model, out, rel, sizeof(rel)) && sig_ignore_add(&ig, rel, err)))
        goto out;
    for (size_t i = 0; i < o->n_ignore; i++)
        if (sig_ignore_user(&ig, model, o->ignore[i], err))
            goto out;
    if (sig_walk(model, &ig, false, &files, err) ||
        sign_files(basename(real), &ig, files.v, files.n, o->key, out, hint_out, err))
        goto out;
    ret = 0;
out:
    sig_files_release(&files);
    sig_ignore_release(&ig);
    return ret;
}

int lm_sig_sign_files(const struct lm_sig_file *files, size_t n, const char *subject,
                      const struct lm_sig_sign_opts *o, char hint_out[65], struct lm_err *err)
{
    struct sig_ignore ig = { 0 };
    size_t k = 0;
    int ret = -1;
    if (!o->out)
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                          "signing a file list needs an output path");
    struct lm_sig_file *keep = calloc(n + 1, sizeof(*keep));
    if (!keep)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    if (git_ignores(&ig, err) || sig_ignore_add(&ig, "model.sig", err))
        goto out;
    for (size_t i = 0; i < o->n_ignore; i++)
        if (sig_ignore_add(&ig, o->ignore[i], err))
            goto out;
    for (size_t i = 0; i < n; i++)
        if (!sig_ignored(&ig, files[i].name))
            keep[k++] = files[i];
    sig_files_sort(keep, k);
    ret = sign_files(subject, &ig, keep, k, o->key, o->out, hint_out, err);
out:
    free(keep);
    sig_ignore_release(&ig);
    return ret;
}
