/* sign.c: verifying OpenSSF model signatures: bundle, DSSE, statement, re-hash (spec §§2-7). */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "sign_internal.h"
#include "../common/banned.h"

const char *const sig_git_paths[SIG_GIT_PATHS] = { ".git", ".gitattributes", ".github",
                                                  ".gitignore" };

const char *lm_sig_method_name(enum lm_sig_method m)
{
    switch (m) {
    case LM_SIG_NONE: return "none";
    case LM_SIG_KEY: return "key";
    case LM_SIG_CERT: return "certificate";
    case LM_SIG_SIGSTORE: return "sigstore";
    }
    return "?";
}

char *lm_sig_result_json(const struct lm_sig_result *r, const char *why)
{
    json_t *o = r ? json_pack("{s:b, s:s, s:o, s:o, s:I, s:s}", "verified", 1, "method",
                              lm_sig_method_name(r->method), "signer",
                              lm_json_string(r->signer, strlen(r->signer)), "issuer",
                              lm_json_string(r->issuer, strlen(r->issuer)), "signed_at",
                              (json_int_t)r->signed_at, "root", r->root)
                  : json_pack("{s:b, s:o}", "verified", 0, "error",
                              lm_json_string(why ? why : "", why ? strlen(why) : 0));
    if (o && r && r->timestamp)
        json_object_set_new(o, "timestamp", json_integer((json_int_t)r->timestamp));
    char *txt = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    return txt;
}

/* ---- small helpers shared by sign*.c ---------------------------------------------------- */

const char *sig_jstr(json_t *o, const char *key)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

int sig_jb64(json_t *o, const char *key, const char *label, const char *what, uint8_t **out,
             size_t *n, struct lm_err *err)
{
    json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;
    if (!json_is_string(v))
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "%s is missing", what);
    if (sig_b64_decode(json_string_value(v), json_string_length(v), out, n))
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "%s is not base64", what);
    return 0;
}

uint8_t *sig_pae(const char *type, const uint8_t *payload, size_t plen, size_t *n)
{
    char h[128];
    int hl = snprintf(h, sizeof(h), "DSSEv1 %zu %s %zu ", strlen(type), type, plen);
    if (hl < 0 || (size_t)hl >= sizeof(h) || plen > SIZE_MAX - (size_t)hl)
        return NULL;
    uint8_t *m = malloc((size_t)hl + plen + 1);
    if (!m)
        return NULL;
    memcpy(m, h, (size_t)hl);
    if (plen)
        memcpy(m + hl, payload, plen);
    *n = (size_t)hl + plen;
    return m;
}

const EVP_MD *sig_curve_md(EVP_PKEY *k)
{
    char curve[64];
    size_t len = 0;
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(k, "group", curve, sizeof(curve), &len) != 1)
        return NULL;
    if (strcmp(curve, "prime256v1") == 0 || strcmp(curve, "P-256") == 0)
        return EVP_sha256();
    if (strcmp(curve, "secp384r1") == 0 || strcmp(curve, "P-384") == 0)
        return EVP_sha384();
    if (strcmp(curve, "secp521r1") == 0 || strcmp(curve, "P-521") == 0)
        return EVP_sha512();
    return NULL;
}

int sig_dsse_verify(EVP_PKEY *k, const EVP_MD *md, const uint8_t *payload, size_t plen,
                    const uint8_t *sig, size_t slen)
{
    if (!md)
        md = sig_curve_md(k);
    size_t n = 0;
    uint8_t *m = md ? sig_pae(SIG_PAYLOAD_TYPE, payload, plen, &n) : NULL;
    EVP_MD_CTX *c = m ? EVP_MD_CTX_new() : NULL;
    int ok = c && EVP_DigestVerifyInit(c, NULL, md, NULL, k) == 1 &&
             EVP_DigestVerify(c, sig, slen, m, n) == 1;
    EVP_MD_CTX_free(c);
    free(m);
    return ok;
}

int sig_key_hint(EVP_PKEY *k, char hex[65])
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    if (!b || PEM_write_bio_PUBKEY(b, k) != 1) {
        BIO_free(b);
        return -1;
    }
    long n = BIO_get_mem_data(b, &p);
    uint8_t d[32];
    lm_sha256_buf(p, (size_t)n, d);
    lm_hex(d, 32, hex);
    BIO_free(b);
    return 0;
}

void sig_name_str(const X509_NAME *n, char *buf, size_t len)
{
    buf[0] = '\0';
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    if (b && X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) >= 0) {
        long k = BIO_get_mem_data(b, &p);
        snprintf(buf, len, "%.*s", (int)k, p);
    }
    BIO_free(b);
}

static int64_t asn1_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

/* ---- the statement ----------------------------------------------------------------------- */

struct statement {
    json_t *doc;
    bool legacy;                /* predicate Digests/v0.1 */
    struct sig_ser ser;
    json_t *ignore_paths;       /* array or NULL */
    struct sig_res_list res;    /* as listed */
    char root[65];
};

static int corrupt(const char *label, const char *fmt, const char *a, struct lm_err *err)
{
    return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, fmt, a);
}

static int parse_ser(json_t *s, const char *label, struct sig_ser *ser, struct lm_err *err)
{
    const char *method = sig_jstr(s, "method");
    const char *hash = sig_jstr(s, "hash_type");
    json_t *links = json_object_get(s, "allow_symlinks");
    if (!json_is_object(s) || !method)
        return corrupt(label, "statement has no serialization method%s", "", err);
    if (strcmp(method, "files") != 0 && strcmp(method, "shards") != 0) {
        char q[LM_QUOTE_MAX + 8];
        return lm_err_set(err, LM_EUNSUPPORTED, label, LM_NO_OFFSET,
                          "serialization method '%s' is not supported (files, shards)",
                          lm_quote(method, strlen(method), q, sizeof(q)));
    }
    ser->shards = method[0] == 's';
    snprintf(ser->hash, sizeof(ser->hash), "%s", hash ? hash : "sha256");
    if (strcmp(ser->hash, "blake2") == 0)     /* upstream's config name for the same hash */
        snprintf(ser->hash, sizeof(ser->hash), "blake2b");
    if (links && !json_is_boolean(links))
        return corrupt(label, "serialization allow_symlinks is not a boolean%s", "", err);
    ser->allow_symlinks = json_is_true(links);
    if (ser->shards) {
        json_t *sz = json_object_get(s, "shard_size");
        double d = json_is_number(sz) ? json_number_value(sz) : -1;
        /* Written as a float by upstream's protobuf Struct: must still be a whole number. */
        if (!(d >= 1 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
            return corrupt(label, "serialization shard_size is not a positive integer%s", "",
                           err);
        ser->shard_size = (uint64_t)d;
    }
    return 0;
}

static int parse_resource(json_t *e, const char *label, struct sig_res_list *l,
                          struct lm_err *err)
{
    const char *name = sig_jstr(e, "name"), *algo = sig_jstr(e, "algorithm");
    const char *dig = sig_jstr(e, "digest");
    uint8_t d[SIG_DIGEST_MAX];
    if (!name || !algo || !dig)
        return corrupt(label, "a statement resource lacks name, algorithm or digest%s", "", err);
    size_t dl = strlen(dig) / 2;
    if (dl != 32 && dl != 64)
        return corrupt(label, "digest of resource '%s' is not 32 or 64 bytes of hex", name, err);
    if (sig_hex_decode(dig, d, dl))
        return corrupt(label, "digest of resource '%s' is not lowercase hex", name, err);
    return sig_res_add(l, name, algo, d, dl, err);
}

/* Legacy v0.1: one subject per file, no root. */
static int parse_legacy(json_t *subj, const char *label, struct statement *st,
                        struct lm_err *err)
{
    size_t i;
    json_t *e;
    st->legacy = true;
    snprintf(st->ser.hash, sizeof(st->ser.hash), "sha256");
    json_array_foreach(subj, i, e) {
        json_t *d = json_object_get(e, "digest");
        json_t *r = json_pack("{s:s?, s:s, s:s?}", "name", sig_jstr(e, "name"), "algorithm",
                              "sha256", "digest", sig_jstr(d, "sha256"));
        int rc = r ? parse_resource(r, label, &st->res, err) : -1;
        json_decref(r);
        if (rc)
            return -1;
    }
    return 0;
}

static int parse_statement(const uint8_t *p, size_t n, const char *label, struct statement *st,
                           struct lm_err *err)
{
    json_error_t je;
    st->doc = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(st->doc))
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                          "signed statement is not a JSON object");
    const char *type = sig_jstr(st->doc, "_type");
    const char *pt = sig_jstr(st->doc, "predicateType");
    json_t *subj = json_object_get(st->doc, "subject");
    json_t *pred = json_object_get(st->doc, "predicate");
    if (!type || strcmp(type, SIG_STATEMENT_TYPE) != 0)
        return corrupt(label, "statement _type is not %s", SIG_STATEMENT_TYPE, err);
    if (!json_is_array(subj))
        return corrupt(label, "statement has no subject list%s", "", err);
    if (pt && strcmp(pt, SIG_PREDICATE_V01) == 0)
        return parse_legacy(subj, label, st, err);
    if (!pt || strcmp(pt, SIG_PREDICATE_V1) != 0)
        return corrupt(label, "statement predicateType is not %s", SIG_PREDICATE_V1, err);
    if (json_array_size(subj) != 1)
        return corrupt(label, "statement must have exactly one subject%s", "", err);
    const char *root = sig_jstr(json_object_get(json_array_get(subj, 0), "digest"), "sha256");
    if (!root || strlen(root) != 64)
        return corrupt(label, "statement subject has no sha256 digest%s", "", err);
    snprintf(st->root, sizeof(st->root), "%s", root);
    json_t *ser = json_object_get(pred, "serialization");
    json_t *res = json_object_get(pred, "resources");
    if (parse_ser(ser, label, &st->ser, err))
        return -1;
    st->ignore_paths = json_object_get(ser, "ignore_paths");
    if (st->ignore_paths && !json_is_array(st->ignore_paths))
        return corrupt(label, "serialization ignore_paths is not a list%s", "", err);
    if (!json_is_array(res))
        return corrupt(label, "statement predicate has no resources list%s", "", err);
    size_t i;
    json_t *e;
    json_array_foreach(res, i, e) {
        if (parse_resource(e, label, &st->res, err))
            return -1;
    }
    /* ROOT = sha256 over the raw digests in listed order. */
    struct lm_sha256 *h = lm_sha256_new();
    if (!h)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    for (i = 0; i < st->res.n; i++)
        lm_sha256_update(h, st->res.v[i].digest, st->res.v[i].dlen);
    uint8_t d[32];
    char hex[65];
    lm_sha256_final(h, d);
    lm_sha256_free(h);
    lm_hex(d, 32, hex);
    if (CRYPTO_memcmp(hex, st->root, 64) != 0)
        return lm_err_set(err, LM_EDIGEST, label, LM_NO_OFFSET,
                          "statement is inconsistent: its resources hash to %s, subject says %s",
                          hex, st->root);
    return 0;
}

static void statement_release(struct statement *st)
{
    sig_res_list_release(&st->res);
    json_decref(st->doc);
}

/* ---- comparing the model with the statement --------------------------------------------- */

static int res_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sig_res *)a)->name, ((const struct sig_res *)b)->name);
}

/* A name the caller left out on purpose (o->unchosen), shards ("NAME:START:END") included. */
static bool unchosen(const struct lm_sig_opts *o, const char *name)
{
    for (size_t i = 0; i < o->n_unchosen; i++) {
        size_t k = strlen(o->unchosen[i]);
        if (strncmp(name, o->unchosen[i], k) == 0 && (name[k] == '\0' || name[k] == ':'))
            return true;
    }
    return false;
}

static int compare(struct sig_res_list *want, const struct sig_res_list *got, const char *model,
                   const struct lm_sig_file *files, size_t n_files, const struct lm_sig_opts *o,
                   struct lm_err *err)
{
    char q[LM_QUOTE_MAX + 8];
    qsort(want->v, want->n, sizeof(*want->v), res_cmp);
    for (size_t i = 1; i < want->n; i++)
        if (strcmp(want->v[i - 1].name, want->v[i].name) == 0)
            return lm_err_set(err, LM_ECORRUPT, model, LM_NO_OFFSET,
                              "statement lists '%s' twice",
                              lm_quote(want->v[i].name, strlen(want->v[i].name), q, sizeof(q)));
    bool *seen = calloc(want->n + 1, 1);
    if (!seen)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    int ret = -1;
    for (size_t i = 0; i < got->n; i++) {
        const struct sig_res *g = &got->v[i];
        struct sig_res *w = bsearch(g, want->v, want->n, sizeof(*want->v), res_cmp);
        const char *path = model;
        for (size_t f = 0; f < n_files; f++)
            if (strncmp(g->name, files[f].name, strlen(files[f].name)) == 0 &&
                (g->name[strlen(files[f].name)] == '\0' || g->name[strlen(files[f].name)] == ':'))
                path = files[f].path;
        lm_quote(g->name, strlen(g->name), q, sizeof(q));
        if (!w) {
            lm_err_set(err, LM_EDIGEST, path, LM_NO_OFFSET,
                       "file '%s' is not covered by the signature", q);
            goto out;
        }
        seen[w - want->v] = true;
        if (strcmp(w->algo, g->algo) != 0) {
            lm_err_set(err, LM_EDIGEST, path, LM_NO_OFFSET,
                       "'%s' is signed as %s, hashed as %s", q, w->algo, g->algo);
            goto out;
        }
        if (w->dlen != g->dlen || CRYPTO_memcmp(w->digest, g->digest, g->dlen) != 0) {
            char a[2 * SIG_DIGEST_MAX + 1], b[2 * SIG_DIGEST_MAX + 1];
            lm_hex(w->digest, w->dlen, a);
            lm_hex(g->digest, g->dlen, b);
            lm_err_set(err, LM_EDIGEST, path, LM_NO_OFFSET,
                       "'%s' does not match the signature: signed %s %s, got %s", q, w->algo, a,
                       b);
            goto out;
        }
    }
    for (size_t i = 0; i < want->n; i++) {
        if (!seen[i] && !unchosen(o, want->v[i].name)) {
            lm_err_set(err, LM_EDIGEST, model, LM_NO_OFFSET, "signed file '%s' is missing",
                       lm_quote(want->v[i].name, strlen(want->v[i].name), q, sizeof(q)));
            goto out;
        }
    }
    ret = 0;
out:
    free(seen);
    return ret;
}

/* ---- signature methods ------------------------------------------------------------------- */

EVP_PKEY *sig_read_key(const char *path, bool private_key, struct lm_err *err)
{
    struct lm_buf b = LM_BUF_INIT(1u << 20);
    if (lm_read_file(path, 1u << 20, &b, err))
        return NULL;
    BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
    EVP_PKEY *k = !bio ? NULL
                  : private_key ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)
                                : PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    OPENSSL_cleanse(b.data, b.len);
    lm_buf_release(&b);
    ERR_clear_error();
    if (!k) {
        lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "no %s in this file",
                   private_key ? "unencrypted PEM private key" : "PEM public key");
    } else if (!sig_curve_md(k)) {
        EVP_PKEY_free(k);
        k = NULL;
        lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                   "only EC P-256, P-384 and P-521 keys sign models");
    }
    return k;
}

static int check_key(json_t *vm, const char *label, const struct lm_sig_opts *o,
                     struct lm_sig_result *r, EVP_PKEY **key, struct lm_err *err)
{
    *key = sig_read_key(o->key, false, err);
    if (!*key)
        return -1;
    char hint[65];
    if (sig_key_hint(*key, hint))
        return lm_err_set(err, LM_EINTERNAL, o->key, LM_NO_OFFSET, "cannot encode the key");
    snprintf(r->signer, sizeof(r->signer), "%s", hint);
    /* The bundle may name its key (hint); an embedded rawBytes key is never trusted. */
    const char *want = sig_jstr(json_object_get(vm, "publicKey"), "hint");
    if (want && strcmp(want, hint) != 0) {
        char q[LM_QUOTE_MAX + 8];
        return lm_err_set(err, LM_EDIGEST, label, LM_NO_OFFSET,
                          "signed with another key: hint %s, %s has %s",
                          lm_quote(want, strlen(want), q, sizeof(q)), o->key, hint);
    }
    return 0;
}

static int load_anchors(X509_STORE *st, const char *path, struct lm_err *err)
{
    struct lm_buf b = LM_BUF_INIT(16u << 20);
    if (lm_read_file(path, 16u << 20, &b, err))
        return -1;
    BIO *bio = BIO_new_mem_buf(b.data, (int)b.len);
    int n = 0;
    X509 *x;
    while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
        X509_STORE_add_cert(st, x);
        X509_free(x);
        n++;
    }
    ERR_clear_error();
    BIO_free(bio);
    lm_buf_release(&b);
    if (n == 0)
        return lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "no PEM certificate in this file");
    return 0;
}

static X509 *der_cert(json_t *c, const char *label, struct lm_err *err)
{
    uint8_t *der = NULL;
    size_t n = 0;
    if (sig_jb64(c, "rawBytes", label, "certificate rawBytes", &der, &n, err))
        return NULL;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)n);
    if (!x || p != der + n) {
        X509_free(x);
        x = NULL;
        lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "certificate is not DER X.509");
    }
    free(der);
    return x;
}

bool sig_leaf_may_sign(X509 *leaf)
{
    uint32_t ku = X509_get_key_usage(leaf);
    if (ku != UINT32_MAX && (ku & KU_DIGITAL_SIGNATURE))
        return true;
    return (X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) &&
           (X509_get_extended_key_usage(leaf) & XKU_CODE_SIGN);
}

static int check_cert(json_t *vm, const char *label, const struct lm_sig_opts *o,
                      struct lm_sig_result *r, EVP_PKEY **key, struct lm_err *err)
{
    json_t *certs = json_object_get(json_object_get(vm, "x509CertificateChain"), "certificates");
    if (!json_is_array(certs) || json_array_size(certs) == 0)
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                          "bundle has no x509CertificateChain for the certificate method");
    int ret = -1;
    X509 *leaf = der_cert(json_array_get(certs, 0), label, err);
    STACK_OF(X509) *mid = sk_X509_new_null();
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!leaf)
        goto out;
    if (!mid || !st || !ctx) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (size_t i = 1; i < json_array_size(certs); i++) {
        X509 *x = der_cert(json_array_get(certs, i), label, err);
        if (!x || !sk_X509_push(mid, x)) {
            X509_free(x);
            goto out;
        }
    }
    if (load_anchors(st, o->cert_chain, err))
        goto out;
    int64_t t = asn1_unix(X509_get0_notBefore(leaf));
    X509_STORE_CTX_init(ctx, st, leaf, mid);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), (time_t)t);
    if (X509_verify_cert(ctx) != 1) {
        lm_err_set(err, LM_EDIGEST, label, LM_NO_OFFSET,
                   "certificate chain does not verify against %s at the leaf's notBefore: %s",
                   o->cert_chain,
                   X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
        goto out;
    }
    if (!sig_leaf_may_sign(leaf)) {
        lm_err_set(err, LM_EDIGEST, label, LM_NO_OFFSET,
                   "leaf certificate allows neither digitalSignature nor codeSigning");
        goto out;
    }
    *key = X509_get_pubkey(leaf);
    if (!*key || !sig_curve_md(*key)) {
        lm_err_set(err, LM_EUNSUPPORTED, label, LM_NO_OFFSET,
                   "leaf certificate key is not EC P-256, P-384 or P-521");
        goto out;
    }
    sig_name_str(X509_get_subject_name(leaf), r->signer, sizeof(r->signer));
    sig_name_str(X509_get_issuer_name(leaf), r->issuer, sizeof(r->issuer));
    r->signed_at = t;
    ret = 0;
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    sk_X509_pop_free(mid, X509_free);
    X509_free(leaf);
    return ret;
}

/* ---- the whole check --------------------------------------------------------------------- */

struct target {
    const char *model;                  /* directory or file, or NULL for a file list */
    const struct lm_sig_file *files;
    size_t n_files;
};

static int build_ignores(const struct target *t, const char *sig, const struct statement *st,
                         const struct lm_sig_opts *o, struct sig_ignore *ig, struct lm_err *err)
{
    for (size_t i = 0; i < SIG_GIT_PATHS; i++)
        if (sig_ignore_add(ig, sig_git_paths[i], err))
            return -1;
    size_t i;
    json_t *e;
    json_array_foreach(st->ignore_paths, i, e) {
        if (json_is_string(e) && sig_ignore_add(ig, json_string_value(e), err))
            return -1;
    }
    const char *base = t->model ? t->model : ".";
    for (i = 0; i < o->n_ignore; i++)
        if (sig_ignore_user(ig, base, o->ignore[i], err))
            return -1;
    if (t->model) {
        /* The signature file inside the model is never hashed. */
        char rel[PATH_MAX];
        if (sig_rel_inside(t->model, sig, rel, sizeof(rel)) && sig_ignore_add(ig, rel, err))
            return -1;
    } else if (sig_ignore_add(ig, "model.sig", err)) {
        return -1;
    }
    return 0;
}

static int method_check(json_t *b, const char *label, const uint8_t *payload, size_t plen,
                        const uint8_t *sig, size_t slen, const char *sig_b64,
                        const struct lm_sig_opts *o, struct lm_sig_result *r, bool legacy,
                        struct lm_err *err)
{
    json_t *vm = json_object_get(b, "verificationMaterial");
    EVP_PKEY *k = NULL;
    int rc;
    if (!json_is_object(vm))
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                          "bundle has no verificationMaterial");
    switch (o->method) {
    case LM_SIG_KEY:
        rc = check_key(vm, label, o, r, &k, err);
        break;
    case LM_SIG_CERT:
        rc = check_cert(vm, label, o, r, &k, err);
        break;
    case LM_SIG_SIGSTORE:
        rc = sig_sigstore_check(b, label, payload, plen, sig, slen, sig_b64, o, r, &k, err);
        break;
    case LM_SIG_NONE:
    default:
        return lm_err_set(err, LM_EUSAGE, label, LM_NO_OFFSET,
                          "no verification method (key, certificate or sigstore) given");
    }
    if (rc == 0 && !sig_dsse_verify(k, NULL, payload, plen, sig, slen)) {
        if (legacy)
            rc = lm_err_set(err, LM_EUNSUPPORTED, label, LM_NO_OFFSET,
                            "legacy OMS v0.2 signature is not supported (its PAE is not DSSE's)");
        else
            rc = lm_err_set(err, LM_EDIGEST, label, LM_NO_OFFSET,
                            "signature does not verify with the %s key",
                            o->method == LM_SIG_KEY ? "given" : "leaf certificate's");
    }
    EVP_PKEY_free(k);
    r->method = o->method;
    return rc;
}

static int verify(const struct target *t, const char *sig, const struct lm_sig_opts *o,
                  struct lm_sig_result *r, struct lm_err *err)
{
    struct lm_buf raw = LM_BUF_INIT(SIG_BUNDLE_MAX);
    json_t *b = NULL;
    uint8_t *payload = NULL, *sigb = NULL;
    size_t plen = 0, slen = 0;
    struct statement st = { 0 };
    struct sig_ignore ig = { 0 };
    struct sig_files walked = { 0 };
    struct sig_res_list got = { 0 };
    int ret = -1;
    json_error_t je;

    memset(r, 0, sizeof(*r));
    if (lm_read_file(sig, SIG_BUNDLE_MAX, &raw, err))
        goto out;
    b = json_loadb(raw.data, raw.len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(b)) {
        lm_err_set(err, LM_ECORRUPT, sig, (uint64_t)je.position, "bundle is not a JSON object");
        goto out;
    }
    const char *mt = sig_jstr(b, "mediaType");
    if (!mt || strcmp(mt, SIG_BUNDLE_TYPE) != 0) {
        lm_err_set(err, LM_EUNSUPPORTED, sig, LM_NO_OFFSET, "bundle mediaType is not %s",
                   SIG_BUNDLE_TYPE);
        goto out;
    }
    json_t *env = json_object_get(b, "dsseEnvelope");
    json_t *sigs = json_object_get(env, "signatures");
    const char *ptype = sig_jstr(env, "payloadType");
    if (!json_is_object(env) || !json_is_array(sigs) || json_array_size(sigs) == 0) {
        lm_err_set(err, LM_ECORRUPT, sig, LM_NO_OFFSET, "bundle has no DSSE envelope signature");
        goto out;
    }
    if (!ptype || strcmp(ptype, SIG_PAYLOAD_TYPE) != 0) {
        lm_err_set(err, LM_ECORRUPT, sig, LM_NO_OFFSET, "DSSE payloadType is not %s",
                   SIG_PAYLOAD_TYPE);
        goto out;
    }
    if (sig_jb64(env, "payload", sig, "DSSE payload", &payload, &plen, err) ||
        sig_jb64(json_array_get(sigs, 0), "sig", sig, "DSSE signature", &sigb, &slen, err))
        goto out;
    /* Parse before checking only to tell a legacy v0.2 signature from a bad one. */
    struct lm_err perr;
    lm_err_clear(&perr);
    int prc = parse_statement(payload, plen, sig, &st, &perr);
    if (method_check(b, sig, payload, plen, sigb, slen,
                     sig_jstr(json_array_get(sigs, 0), "sig"), o, r, st.legacy, err))
        goto out;
    if (prc) {
        *err = perr;
        goto out;
    }
    snprintf(r->root, sizeof(r->root), "%s", st.root);

    if (build_ignores(t, sig, &st, o, &ig, err))
        goto out;
    const struct lm_sig_file *files = t->files;
    size_t n = t->n_files;
    if (t->model) {
        if (sig_walk(t->model, &ig, st.ser.allow_symlinks, &walked, err))
            goto out;
        files = walked.v;
        n = walked.n;
    } else {
        /* A file list: keep the names the ignore set does not hide. */
        for (size_t i = 0; i < n; i++) {
            if (sig_ignored(&ig, files[i].name))
                continue;
            struct lm_sig_file *v = realloc(walked.v, (walked.n + 1) * sizeof(*v));
            if (!v) {
                lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
                goto out;
            }
            walked.v = v;
            v[walked.n].name = strdup(files[i].name);
            v[walked.n].path = strdup(files[i].path);
            walked.n++;
            walked.cap = walked.n;
            if (!v[walked.n - 1].name || !v[walked.n - 1].path) {
                lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
                goto out;
            }
        }
        files = walked.v;
        n = walked.n;
    }
    if (sig_hash_files(files, n, &st.ser, &got, err) ||
        compare(&st.res, &got, t->model ? t->model : sig, files, n, o, err))
        goto out;
    r->n_files = st.res.n;
    ret = 0;
out:
    sig_res_list_release(&got);
    sig_files_release(&walked);
    sig_ignore_release(&ig);
    statement_release(&st);
    free(payload);
    free(sigb);
    json_decref(b);
    lm_buf_release(&raw);
    return ret;
}

int lm_sig_verify_dir(const char *model, const struct lm_sig_opts *o, struct lm_sig_result *r,
                      struct lm_err *err)
{
    char sig[PATH_MAX];
    struct stat st;
    if (o->signature) {
        snprintf(sig, sizeof(sig), "%s", o->signature);
    } else if (stat(model, &st) == 0 && S_ISREG(st.st_mode)) {
        const char *slash = strrchr(model, '/');
        int k = slash ? (int)(slash - model) : 1;
        snprintf(sig, sizeof(sig), "%.*s/model.sig", k, slash ? model : ".");
    } else {
        snprintf(sig, sizeof(sig), "%s/model.sig", model);
    }
    struct target t = { model, NULL, 0 };
    return verify(&t, sig, o, r, err);
}

int lm_sig_verify_files(const struct lm_sig_file *files, size_t n, const struct lm_sig_opts *o,
                        struct lm_sig_result *r, struct lm_err *err)
{
    if (!o->signature)
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "no signature file given");
    struct target t = { NULL, files, n };
    return verify(&t, o->signature, o, r, err);
}
