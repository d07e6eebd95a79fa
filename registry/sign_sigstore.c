/* sign_sigstore.c: keyless (Sigstore) signatures checked offline against a trusted root (spec §8):
 * Fulcio chain at the Rekor time, embedded SCT, identity and issuer, Rekor body, inclusion proof,
 * checkpoint, SET. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/ct.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "sign_internal.h"
#include "../common/banned.h"

#define TRUST_ROOT_MAX (16u << 20)
#define PROOF_HASHES_MAX 64              /* a tree of 2^64 leaves needs no more */
#define OID_ISSUER_V2 "1.3.6.1.4.1.57264.1.8"
#define OID_ISSUER_V1 "1.3.6.1.4.1.57264.1.1"

struct ctx {
    const char *label;                   /* the bundle, for errors */
    const char *root_path;
    struct lm_err *err;
};

static int fail(struct ctx *c, enum lm_errcode code, const char *fmt, const char *a)
{
    return lm_err_set(c->err, code, c->label, LM_NO_OFFSET, fmt, a);
}

/* "123" or 123 -> int64; -1 when neither. */
static int jint(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return *out >= 0 ? 0 : -1;
    }
    uint64_t u;
    if (!json_is_string(v) || lm_parse_u64(json_string_value(v), 0, INT64_MAX, &u))
        return -1;
    *out = (int64_t)u;
    return 0;
}

/* RFC 3339 "2021-01-12T11:53:27Z" or with fractional seconds; -1 on junk. */
static int64_t rfc3339(const char *s)
{
    struct tm tm = { 0 };
    int n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static bool valid_at(json_t *vf, int64_t t)
{
    int64_t start = rfc3339(sig_jstr(vf, "start"));
    const char *e = sig_jstr(vf, "end");
    if (start < 0 || t < start)
        return false;
    return !e || t <= rfc3339(e);
}

static int load_root(struct ctx *c, json_t **out)
{
    struct lm_buf b = LM_BUF_INIT(TRUST_ROOT_MAX);
    json_error_t je;
    if (lm_read_file(c->root_path, TRUST_ROOT_MAX, &b, c->err))
        return -1;
    json_t *doc = json_loadb(b.data, b.len, 0, &je);
    lm_buf_release(&b);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return lm_err_set(c->err, LM_ECORRUPT, c->root_path, LM_NO_OFFSET,
                          "trusted root is not a JSON object");
    }
    /* A ClientTrustConfig wraps the trusted root. */
    json_t *inner = json_object_get(doc, "trustedRoot");
    if (json_is_object(inner)) {
        json_incref(inner);
        json_decref(doc);
        doc = inner;
    }
    if (!json_is_array(json_object_get(doc, "tlogs")) ||
        !json_is_array(json_object_get(doc, "certificateAuthorities"))) {
        json_decref(doc);
        return lm_err_set(c->err, LM_ECORRUPT, c->root_path, LM_NO_OFFSET,
                          "trusted root has no tlogs or certificateAuthorities");
    }
    *out = doc;
    return 0;
}

static X509 *b64_cert(json_t *o)
{
    uint8_t *der = NULL;
    size_t n = 0;
    const char *s = sig_jstr(o, "rawBytes");
    if (!s || sig_b64_decode(s, strlen(s), &der, &n))
        return NULL;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)n);
    if (x && p != der + n) {
        X509_free(x);
        x = NULL;
    }
    free(der);
    return x;
}

/* The Rekor log whose keyId the entry names: its key, checked against the keyId. */
static EVP_PKEY *find_log(struct ctx *c, json_t *root, const char *key_id, int64_t t,
                          uint8_t id[32])
{
    uint8_t *kid = NULL, *der = NULL;
    size_t kn = 0, dn = 0;
    if (!key_id || sig_b64_decode(key_id, strlen(key_id), &kid, &kn) || kn != 32) {
        free(kid);
        fail(c, LM_ECORRUPT, "tlog entry logId.keyId is not a base64 SHA-256%s", "");
        return NULL;
    }
    memcpy(id, kid, 32);
    free(kid);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(root, "tlogs"), i, l) {
        const char *s = sig_jstr(json_object_get(l, "logId"), "keyId");
        if (!s || strcmp(s, key_id) != 0)
            continue;
        json_t *pk = json_object_get(l, "publicKey");
        const char *raw = sig_jstr(pk, "rawBytes");
        if (!raw || sig_b64_decode(raw, strlen(raw), &der, &dn))
            break;
        uint8_t h[32];
        lm_sha256_buf(der, dn, h);
        const unsigned char *p = der;
        EVP_PKEY *k = CRYPTO_memcmp(h, id, 32) == 0 ? d2i_PUBKEY(NULL, &p, (long)dn) : NULL;
        free(der);
        if (!k) {
            lm_err_set(c->err, LM_ECORRUPT, c->root_path, LM_NO_OFFSET,
                       "transparency log key does not hash to its keyId %s", key_id);
            return NULL;
        }
        if (!valid_at(json_object_get(pk, "validFor"), t)) {
            EVP_PKEY_free(k);
            fail(c, LM_EDIGEST, "transparency log key %s was not valid at the entry's time",
                 key_id);
            return NULL;
        }
        return k;
    }
    lm_err_set(c->err, LM_EDIGEST, c->label, LM_NO_OFFSET,
               "transparency log %s is not in the trusted root %s", key_id, c->root_path);
    return NULL;
}

/* Leaf chains to one of the root's Fulcio CAs at time t; *issuer gets the leaf's issuer. */
static int check_chain(struct ctx *c, json_t *root, X509 *leaf, int64_t t, X509 **issuer)
{
    X509_STORE *st = X509_STORE_new();
    STACK_OF(X509) *mid = sk_X509_new_null();
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    int ret = -1;
    size_t i, n_roots = 0;
    json_t *ca;
    if (!st || !mid || !x) {
        lm_err_set(c->err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    json_array_foreach(json_object_get(root, "certificateAuthorities"), i, ca) {
        json_t *certs = json_object_get(json_object_get(ca, "certChain"), "certificates");
        size_t n = json_array_size(certs);
        for (size_t j = 0; j < n; j++) {
            X509 *cert = b64_cert(json_array_get(certs, j));
            if (!cert)
                continue;
            /* The chain is leaf-most first: its last certificate is the anchor. */
            if (j + 1 == n) {
                X509_STORE_add_cert(st, cert);
                n_roots++;
                X509_free(cert);
            } else if (!sk_X509_push(mid, cert)) {
                X509_free(cert);
            }
        }
    }
    if (n_roots == 0) {
        lm_err_set(c->err, LM_ECORRUPT, c->root_path, LM_NO_OFFSET,
                   "trusted root has no certificate authority");
        goto out;
    }
    X509_STORE_CTX_init(x, st, leaf, mid);
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(x), (time_t)t);
    if (X509_verify_cert(x) != 1) {
        lm_err_set(c->err, LM_EDIGEST, c->label, LM_NO_OFFSET,
                   "signing certificate does not chain to a CA of %s at the log time: %s",
                   c->root_path, X509_verify_cert_error_string(X509_STORE_CTX_get_error(x)));
        goto out;
    }
    STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(x);
    *issuer = sk_X509_num(chain) > 1 ? sk_X509_value(chain, 1) : NULL;
    if (*issuer)
        X509_up_ref(*issuer);
    ret = 0;
out:
    ERR_clear_error();
    X509_STORE_CTX_free(x);
    sk_X509_pop_free(mid, X509_free);
    X509_STORE_free(st);
    return ret;
}

static bool has_identity(X509 *leaf, const char *id, char *seen, size_t n)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
    bool ok = false;
    seen[0] = '\0';
    for (int i = 0; i < sk_GENERAL_NAME_num(gens) && !ok; i++) {
        GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_IA5STRING *s = g->type == GEN_EMAIL ? g->d.rfc822Name
                                  : g->type == GEN_URI ? g->d.uniformResourceIdentifier
                                                       : NULL;
        if (!s)
            continue;
        lm_quote((const char *)s->data, (size_t)s->length, seen, n);
        ok = (size_t)s->length == strlen(id) && memcmp(s->data, id, strlen(id)) == 0;
    }
    GENERAL_NAMES_free(gens);
    return ok;
}

/* The OIDC issuer from Fulcio's extension (v2: DER UTF8String; v1: raw bytes). */
static bool get_issuer(X509 *leaf, char *buf, size_t n)
{
    const char *oids[] = { OID_ISSUER_V2, OID_ISSUER_V1 };
    for (int i = 0; i < 2; i++) {
        ASN1_OBJECT *o = OBJ_txt2obj(oids[i], 1);
        int at = o ? X509_get_ext_by_OBJ(leaf, o, -1) : -1;
        ASN1_OBJECT_free(o);
        if (at < 0)
            continue;
        const ASN1_OCTET_STRING *d = X509_EXTENSION_get_data(X509_get_ext(leaf, at));
        const unsigned char *p = ASN1_STRING_get0_data(d);
        int len = ASN1_STRING_length(d);
        if (i == 0) {
            ASN1_UTF8STRING *u = d2i_ASN1_UTF8STRING(NULL, &p, len);
            if (!u)
                continue;
            snprintf(buf, n, "%.*s", ASN1_STRING_length(u), (const char *)ASN1_STRING_get0_data(u));
            ASN1_UTF8STRING_free(u);
        } else {
            snprintf(buf, n, "%.*s", len, (const char *)p);
        }
        return strlen(buf) > 0;
    }
    return false;
}

static int verify_sha256(EVP_PKEY *k, const void *msg, size_t n, const uint8_t *sig, size_t sl)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestVerifyInit(m, NULL, EVP_sha256(), NULL, k) == 1 &&
             EVP_DigestVerify(m, sig, sl, msg, n) == 1;
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    return ok;
}

/* RFC 6962 §3.2: the leaf's embedded SCT, signed by a CT log of the trusted root over the
 * precertificate (the TBS without the SCT list) and the issuer's key hash. */
static int check_sct(struct ctx *c, json_t *root, X509 *leaf, X509 *issuer)
{
    STACK_OF(SCT) *scts = X509_get_ext_d2i(leaf, NID_ct_precert_scts, NULL, NULL);
    X509 *pre = NULL;
    uint8_t *tbs = NULL, *spki = NULL, *msg = NULL;
    int ret = -1;
    if (!issuer || sk_SCT_num(scts) <= 0) {
        fail(c, LM_EDIGEST, "signing certificate has no embedded SCT%s", "");
        goto out;
    }
    pre = X509_dup(leaf);
    int at = pre ? X509_get_ext_by_NID(pre, NID_ct_precert_scts, -1) : -1;
    X509_EXTENSION *ext = at >= 0 ? X509_delete_ext(pre, at) : NULL;
    X509_EXTENSION_free(ext);
    int tl = ext ? i2d_re_X509_tbs(pre, &tbs) : -1;
    int kl = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(issuer), &spki);
    if (tl <= 0 || tl >= (1 << 24) || kl <= 0) {
        fail(c, LM_ECORRUPT, "cannot rebuild the precertificate for its SCT%s", "");
        goto out;
    }
    uint8_t ikh[32];
    lm_sha256_buf(spki, (size_t)kl, ikh);
    for (int i = 0; i < sk_SCT_num(scts); i++) {
        SCT *sct = sk_SCT_value(scts, i);
        unsigned char *id = NULL, *ex = NULL, *sg = NULL;
        size_t il = SCT_get0_log_id(sct, &id), el = SCT_get0_extensions(sct, &ex);
        size_t sl = SCT_get0_signature(sct, &sg);
        uint64_t ts = SCT_get_timestamp(sct);
        if (SCT_get_version(sct) != SCT_VERSION_V1 || il != 32 || el > 0xffff)
            continue;
        char *kid = sig_b64_encode(id, 32);
        EVP_PKEY *k = NULL;
        size_t j;
        json_t *l;
        json_array_foreach(json_object_get(root, "ctlogs"), j, l) {
            const char *s2 = sig_jstr(json_object_get(l, "logId"), "keyId");
            const char *raw = sig_jstr(json_object_get(l, "publicKey"), "rawBytes");
            uint8_t *der = NULL;
            size_t dn = 0;
            if (!kid || !s2 || !raw || strcmp(s2, kid) != 0 ||
                !valid_at(json_object_get(json_object_get(l, "publicKey"), "validFor"),
                          (int64_t)(ts / 1000)) ||
                sig_b64_decode(raw, strlen(raw), &der, &dn))
                continue;
            const unsigned char *p = der;
            k = d2i_PUBKEY(NULL, &p, (long)dn);
            free(der);
            break;
        }
        free(kid);
        if (!k)
            continue;
        /* version, certificate_timestamp, timestamp, precert_entry, issuer key hash,
         * TBS <1..2^24-1>, extensions <0..2^16-1> */
        size_t n = 1 + 1 + 8 + 2 + 32 + 3 + (size_t)tl + 2 + el, o = 0;
        msg = realloc(msg, n);
        if (!msg) {
            EVP_PKEY_free(k);
            lm_err_set(c->err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
            goto out;
        }
        msg[o++] = 0;
        msg[o++] = 0;
        for (int b = 7; b >= 0; b--)
            msg[o++] = (uint8_t)(ts >> (8 * b));
        msg[o++] = 0;
        msg[o++] = 1;
        memcpy(msg + o, ikh, 32);
        o += 32;
        msg[o++] = (uint8_t)(tl >> 16);
        msg[o++] = (uint8_t)(tl >> 8);
        msg[o++] = (uint8_t)tl;
        memcpy(msg + o, tbs, (size_t)tl);
        o += (size_t)tl;
        msg[o++] = (uint8_t)(el >> 8);
        msg[o++] = (uint8_t)el;
        if (el)
            memcpy(msg + o, ex, el);
        int ok = verify_sha256(k, msg, n, sg, sl);
        EVP_PKEY_free(k);
        if (ok) {
            ret = 0;
            goto out;
        }
    }
    fail(c, LM_EDIGEST, "no embedded SCT verifies with a CT log of the trusted root%s", "");
out:
    ERR_clear_error();
    free(msg);
    OPENSSL_free(tbs);
    OPENSSL_free(spki);
    X509_free(pre);
    SCT_LIST_free(scts);
    return ret;
}

/* The Rekor dsse body must name this envelope: payload hash, signature, signing certificate. */
static int check_body(struct ctx *c, const uint8_t *body, size_t bn, const uint8_t *payload,
                      size_t plen, const uint8_t *sig, size_t slen, X509 *leaf)
{
    json_t *b = json_loadb((const char *)body, bn, 0, NULL);
    json_t *spec = json_object_get(b, "spec");
    json_t *s0 = json_array_get(json_object_get(spec, "signatures"), 0);
    const char *ph = sig_jstr(json_object_get(spec, "payloadHash"), "value");
    uint8_t *bs = NULL, *pem = NULL;
    size_t bsn = 0, pemn = 0;
    int ret = -1;
    char hex[65];
    uint8_t d[32];
    if (!json_is_object(b) || !sig_jstr(b, "kind") || strcmp(sig_jstr(b, "kind"), "dsse") != 0) {
        fail(c, LM_EUNSUPPORTED, "transparency log entry is not of kind dsse%s", "");
        goto out;
    }
    lm_sha256_buf(payload, plen, d);
    lm_hex(d, 32, hex);
    if (!ph || strcmp(ph, hex) != 0) {
        fail(c, LM_EDIGEST, "transparency log entry is for another payload (sha256 %s)", hex);
        goto out;
    }
    const char *ss = sig_jstr(s0, "signature"), *vs = sig_jstr(s0, "verifier");
    if (!ss || sig_b64_decode(ss, strlen(ss), &bs, &bsn) || bsn != slen ||
        CRYPTO_memcmp(bs, sig, slen) != 0) {
        fail(c, LM_EDIGEST, "transparency log entry records another signature%s", "");
        goto out;
    }
    X509 *v = NULL;
    if (vs && sig_b64_decode(vs, strlen(vs), &pem, &pemn) == 0) {
        BIO *bio = BIO_new_mem_buf(pem, (int)pemn);
        v = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
    }
    bool same = v && X509_cmp(v, leaf) == 0;
    X509_free(v);
    if (!same) {
        fail(c, LM_EDIGEST, "transparency log entry records another certificate%s", "");
        goto out;
    }
    ret = 0;
out:
    ERR_clear_error();
    free(bs);
    free(pem);
    json_decref(b);
    return ret;
}

static void node(const uint8_t *l, const uint8_t *r, uint8_t out[32])
{
    uint8_t m[65];
    m[0] = 1;
    memcpy(m + 1, l, 32);
    memcpy(m + 33, r, 32);
    lm_sha256_buf(m, sizeof(m), out);
}

/* RFC 9162 §2.1.3.2: the leaf's audit path leads to root. */
static int check_proof(struct ctx *c, json_t *p, const uint8_t *body, size_t bn, uint8_t root[32],
                       int64_t *tree_size)
{
    int64_t idx, size;
    uint8_t *rh = NULL;
    size_t rn = 0;
    json_t *hashes = json_object_get(p, "hashes");
    if (jint(json_object_get(p, "logIndex"), &idx) || jint(json_object_get(p, "treeSize"), &size) ||
        !json_is_array(hashes) || json_array_size(hashes) > PROOF_HASHES_MAX || idx >= size)
        return fail(c, LM_ECORRUPT, "inclusion proof lacks logIndex, treeSize or hashes%s", "");
    const char *rs = sig_jstr(p, "rootHash");
    if (!rs || sig_b64_decode(rs, strlen(rs), &rh, &rn) || rn != 32) {
        free(rh);
        return fail(c, LM_ECORRUPT, "inclusion proof rootHash is not a base64 SHA-256%s", "");
    }
    memcpy(root, rh, 32);
    free(rh);
    *tree_size = size;

    uint8_t *m = malloc(bn + 1), r[32];
    if (!m)
        return lm_err_set(c->err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    m[0] = 0;
    memcpy(m + 1, body, bn);
    lm_sha256_buf(m, bn + 1, r);
    free(m);
    uint64_t fn = (uint64_t)idx, sn = (uint64_t)size - 1;
    size_t i;
    json_t *h;
    json_array_foreach(hashes, i, h) {
        uint8_t *ph = NULL;
        size_t pn = 0;
        const char *s = json_is_string(h) ? json_string_value(h) : NULL;
        if (!s || sig_b64_decode(s, strlen(s), &ph, &pn) || pn != 32 || sn == 0) {
            free(ph);
            return fail(c, LM_EDIGEST, "inclusion proof is malformed%s", "");
        }
        if ((fn & 1) || fn == sn) {
            node(ph, r, r);
            if (!(fn & 1))
                while (fn != 0 && !(fn & 1)) {
                    fn >>= 1;
                    sn >>= 1;
                }
        } else {
            node(r, ph, r);
        }
        free(ph);
        fn >>= 1;
        sn >>= 1;
    }
    if (sn != 0 || CRYPTO_memcmp(r, root, 32) != 0)
        return fail(c, LM_EDIGEST,
                    "inclusion proof does not lead from the entry to the log's root hash%s", "");
    return 0;
}

/* Signed note: "origin\nsize\nb64root\n[...]\n\n— name b64(keyhint4 || sig)\n". */
static int check_checkpoint(struct ctx *c, const char *note, EVP_PKEY *k, const uint8_t id[32],
                            const uint8_t root[32], int64_t size)
{
    const char *sep = note ? strstr(note, "\n\n") : NULL;
    if (!sep)
        return fail(c, LM_ECORRUPT, "inclusion proof has no checkpoint%s", "");
    size_t text_len = (size_t)(sep - note) + 1;
    char sz[32], *rb = NULL;
    snprintf(sz, sizeof(sz), "%" PRId64, size);
    rb = sig_b64_encode(root, 32);
    const char *l1 = memchr(note, '\n', text_len);
    const char *l2 = l1 ? memchr(l1 + 1, '\n', text_len - (size_t)(l1 + 1 - note)) : NULL;
    const char *l3 = l2 ? memchr(l2 + 1, '\n', text_len - (size_t)(l2 + 1 - note)) : NULL;
    bool match = l3 && rb && (size_t)(l2 - l1 - 1) == strlen(sz) &&
                 memcmp(l1 + 1, sz, strlen(sz)) == 0 && (size_t)(l3 - l2 - 1) == strlen(rb) &&
                 memcmp(l2 + 1, rb, strlen(rb)) == 0;
    free(rb);
    if (!match)
        return fail(c, LM_EDIGEST, "checkpoint names another tree size or root hash%s", "");
    /* Signature lines: the one whose 4-byte hint is this log's key. */
    for (const char *line = sep + 2; *line;) {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        const char *sp = NULL;
        for (size_t j = ll; j > 0 && !sp; j--)
            if (line[j - 1] == ' ')
                sp = line + j - 1;
        if (ll > 4 && memcmp(line, "\xe2\x80\x94 ", 4) == 0 && sp) {
            uint8_t *s = NULL;
            size_t sn = 0;
            if (sig_b64_decode(sp + 1, ll - (size_t)(sp + 1 - line), &s, &sn) == 0 && sn > 4 &&
                memcmp(s, id, 4) == 0) {
                int ok = verify_sha256(k, note, text_len, s + 4, sn - 4);
                free(s);
                if (!ok)
                    return fail(c, LM_EDIGEST, "checkpoint signature does not verify%s", "");
                return 0;
            }
            free(s);
        }
        if (!end)
            break;
        line = end + 1;
    }
    return fail(c, LM_EDIGEST, "checkpoint has no signature by the transparency log%s", "");
}

/* SET: the log's signature over {"body","integratedTime","logID","logIndex"} (sorted, compact). */
static int check_set(struct ctx *c, json_t *e, EVP_PKEY *k, const uint8_t id[32], int64_t t)
{
    int64_t idx;
    const char *body = sig_jstr(e, "canonicalizedBody");
    uint8_t *s = NULL;
    size_t sn = 0;
    if (jint(json_object_get(e, "logIndex"), &idx) || !body)
        return fail(c, LM_ECORRUPT, "tlog entry lacks logIndex or canonicalizedBody%s", "");
    if (sig_jb64(json_object_get(e, "inclusionPromise"), "signedEntryTimestamp", c->label,
                 "tlog entry signedEntryTimestamp", &s, &sn, c->err))
        return -1;
    char hex[65];
    lm_hex(id, 32, hex);
    json_t *m = json_pack("{s:s, s:I, s:s, s:I}", "body", body, "integratedTime", (json_int_t)t,
                          "logID", hex, "logIndex", (json_int_t)idx);
    char *txt = m ? json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    int ok = txt && verify_sha256(k, txt, strlen(txt), s, sn);
    free(txt);
    json_decref(m);
    free(s);
    if (!ok)
        return fail(c, LM_EDIGEST, "signed entry timestamp (SET) does not verify%s", "");
    return 0;
}

static int check_entry(struct ctx *c, json_t *root, json_t *e, X509 *leaf, const uint8_t *payload,
                       size_t plen, const uint8_t *sig, size_t slen, int64_t *t)
{
    uint8_t id[32], rh[32], *body = NULL;
    size_t bn = 0;
    int64_t size = 0;
    EVP_PKEY *k = NULL;
    int ret = -1;
    json_t *kv = json_object_get(e, "kindVersion");
    if (jint(json_object_get(e, "integratedTime"), t))
        return fail(c, LM_ECORRUPT, "tlog entry has no integratedTime%s", "");
    if (!sig_jstr(kv, "kind") || strcmp(sig_jstr(kv, "kind"), "dsse") != 0)
        return fail(c, LM_EUNSUPPORTED, "tlog entry is not of kind dsse%s", "");
    k = find_log(c, root, sig_jstr(json_object_get(e, "logId"), "keyId"), *t, id);
    if (!k)
        return -1;
    json_t *proof = json_object_get(e, "inclusionProof");
    if (sig_jb64(e, "canonicalizedBody", c->label, "tlog entry canonicalizedBody", &body, &bn,
                 c->err) ||
        check_body(c, body, bn, payload, plen, sig, slen, leaf) ||
        check_set(c, e, k, id, *t))
        goto out;
    if (!json_is_object(proof)) {
        fail(c, LM_EDIGEST, "tlog entry has no inclusion proof%s", "");
        goto out;
    }
    if (check_proof(c, proof, body, bn, rh, &size) ||
        check_checkpoint(c, sig_jstr(json_object_get(proof, "checkpoint"), "envelope"), k, id, rh,
                         size))
        goto out;
    ret = 0;
out:
    free(body);
    EVP_PKEY_free(k);
    return ret;
}

int sig_sigstore_check(json_t *bundle, const char *label, const uint8_t *payload, size_t plen,
                       const uint8_t *sig, size_t slen, const char *sig_b64,
                       const struct lm_sig_opts *o, struct lm_sig_result *r, EVP_PKEY **leaf_key,
                       struct lm_err *err)
{
    struct ctx c = { label, o->trust_root, err };
    json_t *vm = json_object_get(bundle, "verificationMaterial");
    json_t *tl = json_object_get(vm, "tlogEntries");
    json_t *root = NULL;
    X509 *leaf = NULL, *issuer = NULL;
    int64_t t = 0;
    int ret = -1;
    char seen[LM_QUOTE_MAX + 8], iss[256];
    (void)sig_b64;
    if (!o->trust_root || !o->identity || !o->issuer)
        return lm_err_set(err, LM_EUSAGE, label, LM_NO_OFFSET,
                          "keyless verification needs a trusted root, an identity and an issuer");
    json_t *cert = json_object_get(vm, "certificate");
    if (!cert)   /* bundles v0.1/v0.2: a chain, leaf first */
        cert = json_array_get(json_object_get(json_object_get(vm, "x509CertificateChain"),
                                              "certificates"), 0);
    leaf = b64_cert(cert);
    if (!leaf)
        return fail(&c, LM_ECORRUPT, "bundle has no signing certificate for sigstore%s", "");
    if (!json_is_array(tl) || json_array_size(tl) == 0) {
        fail(&c, LM_EDIGEST, "bundle has no transparency log entry%s", "");
        goto out;
    }
    if (load_root(&c, &root) ||
        check_entry(&c, root, json_array_get(tl, 0), leaf, payload, plen, sig, slen, &t) ||
        check_chain(&c, root, leaf, t, &issuer) || check_sct(&c, root, leaf, issuer) ||
        sig_tsa_check(bundle, root, label, sig, slen, leaf, &r->timestamp, err))
        goto out;
    if (!sig_leaf_may_sign(leaf)) {
        fail(&c, LM_EDIGEST, "signing certificate allows neither digitalSignature nor codeSigning%s",
             "");
        goto out;
    }
    if (!has_identity(leaf, o->identity, seen, sizeof(seen))) {
        fail(&c, LM_EDIGEST, "signed by another identity: certificate has '%s'", seen);
        goto out;
    }
    if (!get_issuer(leaf, iss, sizeof(iss)) || strcmp(iss, o->issuer) != 0) {
        char q[LM_QUOTE_MAX + 8];
        fail(&c, LM_EDIGEST, "signed through another OIDC issuer: certificate has '%s'",
             lm_quote(iss, strlen(iss), q, sizeof(q)));
        goto out;
    }
    *leaf_key = X509_get_pubkey(leaf);
    if (!*leaf_key || !sig_curve_md(*leaf_key)) {
        fail(&c, LM_EUNSUPPORTED, "signing certificate key is not EC P-256, P-384 or P-521%s",
             "");
        goto out;
    }
    snprintf(r->signer, sizeof(r->signer), "%s", o->identity);
    snprintf(r->issuer, sizeof(r->issuer), "%s", iss);
    r->signed_at = t;
    ret = 0;
out:
    json_decref(root);
    X509_free(issuer);
    X509_free(leaf);
    return ret;
}
