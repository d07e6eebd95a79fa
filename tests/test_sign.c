/* test_sign.c: OpenSSF model signatures: every upstream fixture in shared/signing verifies as its
 * README says, tampered copies are refused with one exact line, lm's own signatures verify and
 * have the bundle shape of the spec field by field, hostile statements are refused. */
#define _GNU_SOURCE   /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../registry/registry.h"
#include "../store/store.h"
#include "support/testutil.h"
#include "../common/banned.h"

#define IBM_ID "stefanb@us.ibm.com"
#define IBM_ISSUER "https://sigstore.verify.ibm.com/oauth2"
#define UPSTREAM_HINT "e8450dec4eb99dae995da9af1bc2cc9f76ed669ee2e744f57abba763df3e3f8e"
#define LM_HINT "8bf75089b1c315edd75f979005aa10857de24bfbd514ab5ad0c239c91f05d091"

static char signing[1024];

static const char *shared_signing(void)
{
    const char *s = getenv("LM_SHARED");
    struct stat st;
    snprintf(signing, sizeof(signing), "%s/signing", s && *s ? s : "../shared");
    return stat(signing, &st) == 0 && S_ISDIR(st.st_mode) ? signing : NULL;
}

#define NEED_FIXTURES()                                                                    \
    do {                                                                                   \
        if (!shared_signing()) {                                                           \
            fprintf(stderr, "skip: no signing fixtures at %s (set LM_SHARED)\n", signing); \
            skip();                                                                        \
        }                                                                                  \
    } while (0)

static void sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* A writable copy of a fixture case folder. */
static char *copy_case(const char *name)
{
    char *t = make_tmpdir();
    sh("cp -r '%s/%s' '%s/c' && chmod -R u+w '%s/c'", signing, name, t, t);
    return t;
}

/* Options of a case.json, paths made absolute under base. bufs holds the strings. */
struct caseopts {
    struct lm_sig_opts o;
    char model[1024], sig[1024], key[1024], ign[4][1024];
    const char *ignp[4];
    json_t *doc;
};

static void load_case(const char *base, struct caseopts *c)
{
    char p[1100];
    memset(c, 0, sizeof(*c));
    snprintf(p, sizeof(p), "%s/case.json", base);
    c->doc = json_load_file(p, 0, NULL);
    assert_non_null(c->doc);
    json_t *v = json_object_get(c->doc, "verify");
    const char *m = json_string_value(json_object_get(v, "method"));
    snprintf(c->model, sizeof(c->model), "%s/%s", base,
             json_string_value(json_object_get(v, "model")));
    snprintf(c->sig, sizeof(c->sig), "%s/%s", base,
             json_string_value(json_object_get(v, "signature")));
    c->o.signature = c->sig;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(v, "ignore_paths"), i, e) {
        snprintf(c->ign[i], sizeof(c->ign[i]), "%s/%s", base, json_string_value(e));
        c->ignp[i] = c->ign[i];
        c->o.n_ignore = i + 1;
    }
    c->o.ignore = c->ignp;
    if (strcmp(m, "key") == 0) {
        c->o.method = LM_SIG_KEY;
        snprintf(c->key, sizeof(c->key), "%s/%s", base,
                 json_string_value(json_object_get(v, "public_key")));
        c->o.key = c->key;
    } else if (strcmp(m, "certificate") == 0) {
        c->o.method = LM_SIG_CERT;
        snprintf(c->key, sizeof(c->key), "%s/%s", base,
                 json_string_value(json_array_get(json_object_get(v, "certificate_chain"), 0)));
        c->o.cert_chain = c->key;
    } else {
        c->o.method = LM_SIG_SIGSTORE;
        snprintf(c->key, sizeof(c->key), "%s/%s", base,
                 json_string_value(json_object_get(v, "trusted_root")));
        c->o.trust_root = c->key;
        c->o.identity = json_string_value(json_object_get(v, "identity"));
        c->o.issuer = json_string_value(json_object_get(v, "identity_provider"));
    }
}

/* ---- every fixture as the README says ---------------------------------------------------- */

static void test_fixtures(void **state)
{
    (void)state;
    NEED_FIXTURES();
    static const struct {
        const char *name, *signer;
        size_t files;
    } cases[] = {
        { "v0.3.1-certificate", "CN=intermediate-ca", 2 },
        { "v1.0.0-certificate", "CN=intermediate-ca", 2 },
        { "v1.0.1-certificate", "CN=intermediate-ca", 2 },
        { "v1.1.0-certificate", "CN=intermediate-ca", 2 },
        { "v0.3.1-elliptic-key", UPSTREAM_HINT, 1 },
        { "v1.0.0-elliptic-key", UPSTREAM_HINT, 1 },
        { "v1.0.1-elliptic-key", UPSTREAM_HINT, 2 },
        { "v1.1.0-elliptic-key", UPSTREAM_HINT, 2 },
        { "v0.3.1-sigstore", IBM_ID, 2 },
        { "v1.0.0-sigstore", IBM_ID, 2 },
        { "v1.0.1-sigstore", IBM_ID, 2 },
        { "v1.1.0-sigstore", IBM_ID, 2 },
        { "lm-made-key", LM_HINT, 3 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char base[1100];
        struct caseopts c;
        struct lm_sig_result r;
        struct lm_err err;
        snprintf(base, sizeof(base), "%s/%s", signing, cases[i].name);
        load_case(base, &c);
        assert_string_equal(json_string_value(json_object_get(c.doc, "expected")), "verifies");
        lm_err_clear(&err);
        int rc = lm_sig_verify_dir(c.model, &c.o, &r, &err);
        if (rc)
            fprintf(stderr, "%s: %s: %s\n", cases[i].name, err.path, err.msg);
        assert_int_equal(rc, 0);
        assert_int_equal(r.method, c.o.method);
        assert_string_equal(r.signer, cases[i].signer);
        assert_int_equal(r.n_files, cases[i].files);
        if (r.method == LM_SIG_SIGSTORE)
            assert_string_equal(r.issuer, IBM_ISSUER);
        json_decref(c.doc);
    }
}

/* v0.2.0 signs a Python repr(), not the DSSE PAE: refused as unsupported (spec §3). */
static void test_legacy_v020(void **state)
{
    (void)state;
    NEED_FIXTURES();
    char base[1100];
    struct caseopts c;
    struct lm_sig_result r;
    struct lm_err err;
    snprintf(base, sizeof(base), "%s/v0.2.0-certificate", signing);
    load_case(base, &c);
    assert_int_equal(lm_sig_verify_dir(c.model, &c.o, &r, &err), -1);
    assert_int_equal(err.code, LM_EUNSUPPORTED);
    assert_string_equal(err.path, c.sig);
    assert_string_equal(err.msg,
                        "legacy OMS v0.2 signature is not supported (its PAE is not DSSE's)");
    json_decref(c.doc);
}

/* Without the user's --ignore-path, v1.0.1's unsigned ignore-me is an extra file; v1.1.0's
 * statement lists it, so it verifies either way. */
static void test_ignore_paths(void **state)
{
    (void)state;
    NEED_FIXTURES();
    const char *names[] = { "v1.0.1-elliptic-key", "v1.1.0-elliptic-key" };
    for (int i = 0; i < 2; i++) {
        char base[1100];
        struct caseopts c;
        struct lm_sig_result r;
        struct lm_err err;
        snprintf(base, sizeof(base), "%s/%s", signing, names[i]);
        load_case(base, &c);
        c.o.n_ignore = 0;
        int rc = lm_sig_verify_dir(c.model, &c.o, &r, &err);
        if (i == 0) {
            assert_int_equal(rc, -1);
            assert_int_equal(err.code, LM_EDIGEST);
            assert_string_equal(err.msg, "file 'ignore-me' is not covered by the signature");
        } else {
            assert_int_equal(rc, 0);
        }
        /* An ignore given relative to the model works too. */
        const char *rel = "ignore-me";
        c.o.ignore = &rel;
        c.o.n_ignore = 1;
        assert_int_equal(lm_sig_verify_dir(c.model, &c.o, &r, &err), 0);
        json_decref(c.doc);
    }
}

/* ---- tampered copies --------------------------------------------------------------------- */

static void edit_json(const char *path, void (*fn)(json_t *b))
{
    json_t *b = json_load_file(path, 0, NULL);
    assert_non_null(b);
    fn(b);
    assert_int_equal(json_dump_file(b, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER), 0);
    json_decref(b);
}

static json_t *tlog0(json_t *b)
{
    return json_array_get(
        json_object_get(json_object_get(b, "verificationMaterial"), "tlogEntries"), 0);
}

/* Replace one base64 string by the encoding of its bytes with byte `at` flipped. */
static void flip_b64(json_t *o, const char *key, size_t at)
{
    const char *s = json_string_value(json_object_get(o, key));
    assert_non_null(s);
    unsigned char *d = malloc(strlen(s)), *e = malloc(strlen(s) * 2 + 4);
    int n = EVP_DecodeBlock(d, (const unsigned char *)s, (int)strlen(s));
    assert_true(n > (int)at);
    d[at] ^= 1;
    /* EVP_DecodeBlock counts padding bytes as data; keep the original length's padding. */
    size_t pad = strlen(s) - strcspn(s, "=");
    EVP_EncodeBlock(e, d, n - (int)pad);
    json_object_set_new(o, key, json_string((char *)e));
    free(d);
    free(e);
}

static void m_payload_digest(json_t *b)
{
    json_t *env = json_object_get(b, "dsseEnvelope");
    const char *s = json_string_value(json_object_get(env, "payload"));
    unsigned char *d = malloc(strlen(s)), *e = malloc(strlen(s) * 2 + 4);
    int n = EVP_DecodeBlock(d, (const unsigned char *)s, (int)strlen(s));
    n -= (int)(strlen(s) - strcspn(s, "="));
    char *dig = strstr((char *)d, "\"digest\": \"");
    assert_non_null(dig);
    dig[12] = dig[12] == '0' ? '1' : '0';   /* one hex digit of the first resource */
    EVP_EncodeBlock(e, d, n);
    json_object_set_new(env, "payload", json_string((char *)e));
    free(d);
    free(e);
}
static void m_proof_hash(json_t *b)
{
    json_t *h = json_object_get(json_object_get(tlog0(b), "inclusionProof"), "hashes");
    json_t *w = json_object();
    json_object_set(w, "x", json_array_get(h, 0));
    flip_b64(w, "x", 3);
    json_array_set(h, 0, json_object_get(w, "x"));
    json_decref(w);
}
static void m_set(json_t *b)
{
    flip_b64(json_object_get(tlog0(b), "inclusionPromise"), "signedEntryTimestamp", 20);
}
static void m_time(json_t *b)
{
    json_t *e = tlog0(b);
    const char *t = json_string_value(json_object_get(e, "integratedTime"));
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", atoll(t) + 1);
    json_object_set_new(e, "integratedTime", json_string(buf));
}
static void m_checkpoint_origin(json_t *b)
{
    json_t *cp = json_object_get(json_object_get(tlog0(b), "inclusionProof"), "checkpoint");
    char *s = strdup(json_string_value(json_object_get(cp, "envelope")));
    s[0] = s[0] == 'r' ? 'R' : 'r';
    json_object_set_new(cp, "envelope", json_string(s));
    free(s);
}
static void m_tree_size(json_t *b)
{
    json_t *p = json_object_get(tlog0(b), "inclusionProof");
    const char *t = json_string_value(json_object_get(p, "treeSize"));
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", atoll(t) + 1);
    json_object_set_new(p, "treeSize", json_string(buf));
}
static void m_no_tlog(json_t *b)
{
    json_array_clear(json_object_get(json_object_get(b, "verificationMaterial"), "tlogEntries"));
}
static void m_drop_intermediate(json_t *b)
{
    json_t *c = json_object_get(
        json_object_get(json_object_get(b, "verificationMaterial"), "x509CertificateChain"),
        "certificates");
    json_array_remove(c, 1);
}
static void m_media_type(json_t *b)
{
    json_object_set_new(b, "mediaType", json_string("application/vnd.dev.sigstore.bundle+json;version=0.2"));
}
static void m_sig_not_b64(json_t *b)
{
    json_t *s0 = json_array_get(json_object_get(json_object_get(b, "dsseEnvelope"), "signatures"), 0);
    json_object_set_new(s0, "sig", json_string("MEUCIQ!!"));
}

enum file_op { NONE, FLIP, ADD, REMOVE };

struct tamper {
    const char *label;
    const char *fixture;
    enum file_op op;
    const char *file;                 /* in the model folder */
    void (*edit)(json_t *b);
    const char *other_key;            /* replaces the trusted key / anchor / root (shared-relative) */
    const char *identity, *issuer;    /* replace the case's */
    enum lm_errcode code;
    const char *msg;                  /* exact, or a prefix ending in '*' */
};

static const struct tamper tampers[] = {
    { "key: file byte", "v1.1.0-elliptic-key", FLIP, "signme-2", NULL, NULL, NULL, NULL,
      LM_EDIGEST, "'signme-2' does not match the signature: signed sha256 *" },
    { "key: added file", "v1.1.0-elliptic-key", ADD, "extra.bin", NULL, NULL, NULL, NULL,
      LM_EDIGEST, "file 'extra.bin' is not covered by the signature" },
    { "key: removed file", "v1.1.0-elliptic-key", REMOVE, "signme-2", NULL, NULL, NULL, NULL,
      LM_EDIGEST, "signed file 'signme-2' is missing" },
    { "key: changed statement", "v1.1.0-elliptic-key", NONE, NULL, m_payload_digest, NULL, NULL,
      NULL, LM_EDIGEST, "signature does not verify with the given key" },
    { "key: wrong key (hint)", "v1.1.0-elliptic-key", NONE, NULL, NULL,
      "lm-made-key/keys/lm-test-p256.pub", NULL, NULL, LM_EDIGEST,
      "signed with another key: hint " UPSTREAM_HINT ", *" },
    { "key: wrong key (no hint)", "v1.0.1-elliptic-key", NONE, NULL, NULL,
      "lm-made-key/keys/lm-test-p256.pub", NULL, NULL, LM_EDIGEST,
      "signature does not verify with the given key" },
    { "key: bundle mediaType", "v1.1.0-elliptic-key", NONE, NULL, m_media_type, NULL, NULL, NULL,
      LM_EUNSUPPORTED, "bundle mediaType is not application/vnd.dev.sigstore.bundle.v0.3+json" },
    { "key: sig not base64", "v1.1.0-elliptic-key", NONE, NULL, m_sig_not_b64, NULL, NULL, NULL,
      LM_ECORRUPT, "DSSE signature is not base64" },
    { "lm key: file byte", "lm-made-key", FLIP, "model.safetensors", NULL, NULL, NULL, NULL,
      LM_EDIGEST, "'model.safetensors' does not match the signature: signed sha256 *" },
    { "cert: file byte", "v1.1.0-certificate", FLIP, "signme-1", NULL, NULL, NULL, NULL,
      LM_EDIGEST, "'signme-1' does not match the signature: signed sha256 *" },
    { "cert: changed statement", "v1.0.1-certificate", NONE, NULL, m_payload_digest, NULL, NULL,
      NULL, LM_EDIGEST, "signature does not verify with the leaf certificate's key" },
    { "cert: no intermediate", "v1.1.0-certificate", NONE, NULL, m_drop_intermediate, NULL, NULL,
      NULL, LM_EDIGEST,
      "certificate chain does not verify against * at the leaf's notBefore: unable to get "
      "local issuer certificate" },
    { "sigstore: file byte", "v1.1.0-sigstore", FLIP, "signme-1", NULL, NULL, NULL, NULL,
      LM_EDIGEST, "'signme-1' does not match the signature: signed sha256 *" },
    { "sigstore: added file", "v1.0.1-sigstore", ADD, "sub/x", NULL, NULL, NULL, NULL, LM_EDIGEST,
      "file 'sub/x' is not covered by the signature" },
    { "sigstore: removed file", "v1.0.0-sigstore", REMOVE, "signme-1", NULL, NULL, NULL, NULL,
      LM_EDIGEST, "signed file 'signme-1' is missing" },
    { "sigstore: changed statement", "v1.1.0-sigstore", NONE, NULL, m_payload_digest, NULL,
      NULL, NULL, LM_EDIGEST, "transparency log entry is for another payload (sha256 *" },
    { "sigstore: wrong identity", "v1.1.0-sigstore", NONE, NULL, NULL, NULL, "mallory@example.com",
      NULL, LM_EDIGEST, "signed by another identity: certificate has 'stefanb@us.ibm.com'" },
    { "sigstore: wrong issuer", "v1.0.1-sigstore", NONE, NULL, NULL, NULL, NULL,
      "https://accounts.google.com", LM_EDIGEST,
      "signed through another OIDC issuer: certificate has "
      "'https://sigstore.verify.ibm.com/oauth2'" },
    { "sigstore: inclusion proof", "v1.0.1-sigstore", NONE, NULL, m_proof_hash, NULL, NULL, NULL,
      LM_EDIGEST, "inclusion proof does not lead from the entry to the log's root hash" },
    { "sigstore: SET", "v1.1.0-sigstore", NONE, NULL, m_set, NULL, NULL, NULL, LM_EDIGEST,
      "signed entry timestamp (SET) does not verify" },
    { "sigstore: integratedTime", "v1.0.0-sigstore", NONE, NULL, m_time, NULL, NULL, NULL,
      LM_EDIGEST, "signed entry timestamp (SET) does not verify" },
    { "sigstore: checkpoint text", "v0.3.1-sigstore", NONE, NULL, m_checkpoint_origin, NULL,
      NULL, NULL, LM_EDIGEST, "checkpoint signature does not verify" },
    { "sigstore: tree size", "v1.1.0-sigstore", NONE, NULL, m_tree_size, NULL, NULL, NULL,
      LM_EDIGEST, "inclusion proof does not lead from the entry to the log's root hash" },
    { "sigstore: no tlog entry", "v1.1.0-sigstore", NONE, NULL, m_no_tlog, NULL, NULL, NULL,
      LM_EDIGEST, "bundle has no transparency log entry" },
};

static void assert_msg(const char *got, const char *want)
{
    /* One '*' in want matches any run of characters. */
    const char *star = strchr(want, '*');
    if (!star) {
        assert_string_equal(got, want);
        return;
    }
    size_t pre = (size_t)(star - want), suf = strlen(star + 1), n = strlen(got);
    if (n < pre + suf || strncmp(got, want, pre) != 0 || strcmp(got + n - suf, star + 1) != 0)
        fail_msg("message '%s' is not like '%s'", got, want);
}

static void test_tampered(void **state)
{
    (void)state;
    NEED_FIXTURES();
    for (size_t i = 0; i < sizeof(tampers) / sizeof(tampers[0]); i++) {
        const struct tamper *t = &tampers[i];
        char *tmp = copy_case(t->fixture), base[1100], f[2200], other[1200];
        struct caseopts c;
        struct lm_sig_result r;
        struct lm_err err;
        snprintf(base, sizeof(base), "%s/c", tmp);
        load_case(base, &c);
        snprintf(f, sizeof(f), "%s/%s", c.model, t->file ? t->file : "");
        if (t->op == FLIP)
            sh("printf 'x' | dd of='%s' bs=1 seek=3 conv=notrunc 2>/dev/null", f);
        else if (t->op == ADD)
            sh("mkdir -p \"$(dirname '%s')\" && echo extra > '%s'", f, f);
        else if (t->op == REMOVE)
            sh("rm '%s'", f);
        if (t->edit)
            edit_json(c.sig, t->edit);
        if (t->other_key) {
            snprintf(other, sizeof(other), "%s/%s", signing, t->other_key);
            c.o.key = other;
        }
        if (t->identity)
            c.o.identity = t->identity;
        if (t->issuer)
            c.o.issuer = t->issuer;
        lm_err_clear(&err);
        int rc = lm_sig_verify_dir(c.model, &c.o, &r, &err);
        if (rc != -1 || err.code != t->code)
            fail_msg("%s: rc %d code %d: %s", t->label, rc, (int)err.code, err.msg);
        assert_msg(err.msg, t->msg);
        json_decref(c.doc);
        rm_rf(tmp);
        free(tmp);
    }
}

static void m_no_ctlogs(json_t *root)
{
    json_array_clear(json_object_get(root, "ctlogs"));
}
static void m_no_rekor(json_t *root)
{
    json_array_clear(json_object_get(root, "tlogs"));
}
static void m_no_fulcio(json_t *root)
{
    json_array_clear(json_object_get(root, "certificateAuthorities"));
}

/* Flip a byte of the message imprint (sha256 of the DSSE signature) inside the RFC 3161 stamp. */
static void m_stamp_imprint(json_t *b)
{
    const char *sig = json_string_value(json_object_get(json_array_get(
        json_object_get(json_object_get(b, "dsseEnvelope"), "signatures"), 0), "sig"));
    json_t *st = json_array_get(json_object_get(json_object_get(json_object_get(b,
                                "verificationMaterial"), "timestampVerificationData"),
                                "rfc3161Timestamps"), 0);
    const char *ts = json_string_value(json_object_get(st, "signedTimestamp"));
    assert_non_null(sig);
    assert_non_null(ts);
    unsigned char sb[256], *d = malloc(strlen(ts)), *e = malloc(strlen(ts) * 2 + 4);
    int sn = EVP_DecodeBlock(sb, (const unsigned char *)sig, (int)strlen(sig));
    sn -= (int)(strlen(sig) - strcspn(sig, "="));
    int n = EVP_DecodeBlock(d, (const unsigned char *)ts, (int)strlen(ts));
    n -= (int)(strlen(ts) - strcspn(ts, "="));
    uint8_t h[32];
    lm_sha256_buf(sb, (size_t)sn, h);
    unsigned char *at = memmem(d, (size_t)n, h, 32);
    assert_non_null(at);
    at[5] ^= 1;
    EVP_EncodeBlock(e, d, n);
    json_object_set_new(st, "signedTimestamp", json_string((char *)e));
    free(d);
    free(e);
}

/* The RFC 3161 timestamp of v1.1.0 verifies with the sigstore TSA of the root and gives the
 * time; with upstream's test config (a GitHub TSA) it is skipped; a changed imprint fails. */
static void test_timestamp(void **state)
{
    (void)state;
    NEED_FIXTURES();
    char *tmp = copy_case("v1.1.0-sigstore"), base[1100], cfg[1200];
    struct caseopts c;
    struct lm_sig_result r;
    struct lm_err err;
    snprintf(base, sizeof(base), "%s/c", tmp);
    load_case(base, &c);
    assert_int_equal(lm_sig_verify_dir(c.model, &c.o, &r, &err), 0);
    assert_int_equal(r.timestamp, 1760062340);
    snprintf(cfg, sizeof(cfg), "%s/trust/custom_trust_config.json", base);
    const char *root = c.o.trust_root;
    c.o.trust_root = cfg;
    assert_int_equal(lm_sig_verify_dir(c.model, &c.o, &r, &err), 0);
    assert_int_equal(r.timestamp, 0);
    c.o.trust_root = root;
    edit_json(c.sig, m_stamp_imprint);
    assert_int_equal(lm_sig_verify_dir(c.model, &c.o, &r, &err), -1);
    assert_int_equal(err.code, LM_EDIGEST);
    assert_string_equal(err.msg, "RFC 3161 timestamp 1 does not verify over the signature");
    json_decref(c.doc);
    rm_rf(tmp);
    free(tmp);
}

/* A trusted root without the CT logs, the Rekor log or the Fulcio CA refuses the bundle. */
static void test_trust_root_parts(void **state)
{
    (void)state;
    NEED_FIXTURES();
    static const struct {
        void (*edit)(json_t *root);
        enum lm_errcode code;
        const char *msg;
    } rows[] = {
        { m_no_ctlogs, LM_EDIGEST, "no embedded SCT verifies with a CT log of the trusted root" },
        { m_no_rekor, LM_EDIGEST, "transparency log wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0= "
                                  "is not in the trusted root *" },
        { m_no_fulcio, LM_ECORRUPT, "trusted root has no certificate authority" },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *tmp = copy_case("v1.1.0-sigstore"), base[1100];
        struct caseopts c;
        struct lm_sig_result r;
        struct lm_err err;
        snprintf(base, sizeof(base), "%s/c", tmp);
        load_case(base, &c);
        edit_json(c.o.trust_root, rows[i].edit);
        lm_err_clear(&err);
        assert_int_equal(lm_sig_verify_dir(c.model, &c.o, &r, &err), -1);
        assert_int_equal(err.code, rows[i].code);
        assert_msg(err.msg, rows[i].msg);
        json_decref(c.doc);
        rm_rf(tmp);
        free(tmp);
    }
}

/* The ClientTrustConfig wrapper (upstream's test config) is read like a bare trusted root. */
static void test_trust_config_wrapper(void **state)
{
    (void)state;
    NEED_FIXTURES();
    char base[1100], root[1200];
    struct caseopts c;
    struct lm_sig_result r;
    struct lm_err err;
    snprintf(base, sizeof(base), "%s/v1.1.0-sigstore", signing);
    load_case(base, &c);
    snprintf(root, sizeof(root), "%s/trust/custom_trust_config.json", base);
    c.o.trust_root = root;
    assert_int_equal(lm_sig_verify_dir(c.model, &c.o, &r, &err), 0);
    assert_int_equal(r.signed_at, 1760062340);
    json_decref(c.doc);
}

/* ---- lm sign ----------------------------------------------------------------------------- */

static json_t *b64_json_payload(json_t *b, char **raw)
{
    const char *s = json_string_value(json_object_get(json_object_get(b, "dsseEnvelope"),
                                                      "payload"));
    assert_non_null(s);
    unsigned char *d = calloc(1, strlen(s) + 1);
    int n = EVP_DecodeBlock(d, (const unsigned char *)s, (int)strlen(s));
    n -= (int)(strlen(s) - strcspn(s, "="));
    d[n] = 0;
    *raw = (char *)d;
    return json_loads((char *)d, 0, NULL);
}

static void test_sign_roundtrip(void **state)
{
    (void)state;
    NEED_FIXTURES();
    char *tmp = copy_case("lm-made-key"), model[1100], sig[1200], key[1200], pub[1200];
    char fixture[1200], hint[65];
    snprintf(model, sizeof(model), "%s/c/stories260K", tmp);
    snprintf(sig, sizeof(sig), "%s/model.sig", model);
    snprintf(key, sizeof(key), "%s/c/keys/lm-test-p256.pem", tmp);
    snprintf(pub, sizeof(pub), "%s/c/keys/lm-test-p256.pub", tmp);
    snprintf(fixture, sizeof(fixture), "%s/lm-made-key/stories260K/model.sig", signing);
    unlink(sig);
    struct lm_sig_sign_opts so = { .key = key };
    struct lm_err err;
    lm_err_clear(&err);
    assert_int_equal(lm_sig_sign_dir(model, &so, hint, &err), 0);
    assert_string_equal(hint, LM_HINT);

    struct lm_sig_opts vo = { .method = LM_SIG_KEY, .key = pub };
    struct lm_sig_result r;
    assert_int_equal(lm_sig_verify_dir(model, &vo, &r, &err), 0);
    assert_int_equal(r.n_files, 3);
    assert_string_equal(r.root, "031c299ddc3360c5c7f2e5d04f813b89c7b6f244cf888939e3cf78bc4927f490");

    /* The bundle, field by field (spec §2, §6.1). */
    json_t *b = json_load_file(sig, JSON_REJECT_DUPLICATES, NULL), *fx = json_load_file(fixture, 0, NULL);
    assert_non_null(b);
    assert_int_equal(json_object_size(b), 3);
    assert_string_equal(json_string_value(json_object_get(b, "mediaType")),
                        "application/vnd.dev.sigstore.bundle.v0.3+json");
    json_t *vm = json_object_get(b, "verificationMaterial");
    assert_int_equal(json_object_size(vm), 2);
    assert_int_equal(json_object_size(json_object_get(vm, "publicKey")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(vm, "publicKey"), "hint")),
                        LM_HINT);
    assert_true(json_is_array(json_object_get(vm, "tlogEntries")));
    assert_int_equal(json_array_size(json_object_get(vm, "tlogEntries")), 0);
    json_t *env = json_object_get(b, "dsseEnvelope");
    assert_int_equal(json_object_size(env), 3);
    assert_string_equal(json_string_value(json_object_get(env, "payloadType")),
                        "application/vnd.in-toto+json");
    json_t *sigs = json_object_get(env, "signatures");
    assert_int_equal(json_array_size(sigs), 1);
    assert_int_equal(json_object_size(json_array_get(sigs, 0)), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(sigs, 0), "keyid")), "");
    const char *s64 = json_string_value(json_object_get(json_array_get(sigs, 0), "sig"));
    unsigned char der[200];
    int dn = EVP_DecodeBlock(der, (const unsigned char *)s64, (int)strlen(s64));
    assert_true(dn >= 8 && der[0] == 0x30);            /* DER SEQUENCE { r, s } */
    /* Payload: byte for byte what tools/oms_sign.py signed (it is deterministic). */
    char *mine = NULL, *theirs = NULL;
    json_t *st = b64_json_payload(b, &mine);
    json_decref(b64_json_payload(fx, &theirs));
    assert_string_equal(mine, theirs);
    assert_string_equal(json_string_value(json_object_get(st, "_type")),
                        "https://in-toto.io/Statement/v1");
    assert_string_equal(json_string_value(json_object_get(st, "predicateType")),
                        "https://model_signing/signature/v1.0");
    json_t *ser = json_object_get(json_object_get(st, "predicate"), "serialization");
    assert_string_equal(json_string_value(json_object_get(ser, "method")), "files");
    assert_string_equal(json_string_value(json_object_get(ser, "hash_type")), "sha256");
    assert_true(json_is_false(json_object_get(ser, "allow_symlinks")));
    assert_int_equal(json_array_size(json_object_get(ser, "ignore_paths")), 5);
    free(mine);
    free(theirs);
    json_decref(st);
    json_decref(b);
    json_decref(fx);

    /* A changed byte after signing is caught. */
    char f[1300];
    snprintf(f, sizeof(f), "%s/config.json", model);
    sh("printf ' ' >> '%s'", f);
    assert_int_equal(lm_sig_verify_dir(model, &vo, &r, &err), -1);
    assert_int_equal(err.code, LM_EDIGEST);
    assert_msg(err.msg, "'config.json' does not match the signature: signed sha256 "
                        "d091d5d50a65c4b6b942b0a4f769230b61072de7c614e8788ae172af087a3fe0, got *");
    rm_rf(tmp);
    free(tmp);
}

/* A single-file model: resource ".", signature next to the file. */
static void test_sign_single_file(void **state)
{
    (void)state;
    NEED_FIXTURES();
    char *tmp = copy_case("lm-made-key"), model[1100], key[1200], pub[1200];
    snprintf(model, sizeof(model), "%s/c/stories260K/config.json", tmp);
    snprintf(key, sizeof(key), "%s/c/keys/lm-test-p256.pem", tmp);
    snprintf(pub, sizeof(pub), "%s/c/keys/lm-test-p256.pub", tmp);
    struct lm_sig_sign_opts so = { .key = key };
    struct lm_sig_opts vo = { .method = LM_SIG_KEY, .key = pub };
    struct lm_sig_result r;
    struct lm_err err;
    assert_int_equal(lm_sig_sign_dir(model, &so, NULL, &err), 0);
    assert_int_equal(lm_sig_verify_dir(model, &vo, &r, &err), 0);
    assert_int_equal(r.n_files, 1);
    /* Signing with a public key is refused. */
    so.key = pub;
    assert_int_equal(lm_sig_sign_dir(model, &so, NULL, &err), -1);
    assert_int_equal(err.code, LM_ECORRUPT);
    assert_string_equal(err.msg, "no unencrypted PEM private key in this file");
    rm_rf(tmp);
    free(tmp);
}

/* Resources in upstream's order, by path components: a/b, a-c, a.txt (strcmp: a-c, a.txt, a/b);
 * dot files are listed, git files and the signature are not. */
static void test_sign_order(void **state)
{
    (void)state;
    NEED_FIXTURES();
    char *tmp = make_tmpdir(), model[600], sig[700], key[1200];
    snprintf(model, sizeof(model), "%s/m", tmp);
    snprintf(sig, sizeof(sig), "%s/model.sig", model);
    snprintf(key, sizeof(key), "%s/lm-made-key/keys/lm-test-p256.pem", signing);
    sh("mkdir -p '%s/a' '%s/.git' && cd '%s' && : > a/b && : > a-c && : > a.txt && : > .env && "
       ": > .git/HEAD && : > .gitattributes", model, model, model);
    struct lm_sig_sign_opts so = { .key = key };
    struct lm_err err;
    assert_int_equal(lm_sig_sign_dir(model, &so, NULL, &err), 0);
    json_t *b = json_load_file(sig, 0, NULL);
    char *raw = NULL;
    json_t *st = b64_json_payload(b, &raw);
    json_t *res = json_object_get(json_object_get(st, "predicate"), "resources");
    const char *want[] = { ".env", "a/b", "a-c", "a.txt" };
    assert_int_equal(json_array_size(res), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(res, i), "name")),
                            want[i]);
    json_t *ign = json_object_get(json_object_get(json_object_get(st, "predicate"),
                                                  "serialization"), "ignore_paths");
    const char *wign[] = { ".git", ".gitattributes", ".github", ".gitignore", "model.sig" };
    assert_int_equal(json_array_size(ign), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_array_get(ign, i)), wign[i]);
    free(raw);
    json_decref(st);
    json_decref(b);
    rm_rf(tmp);
    free(tmp);
}

/* ---- hostile statements, signed with the test key so only the statement is wrong --------- */

static void resign(const char *sig_path, const char *key_path, const char *payload)
{
    FILE *kf = fopen(key_path, "r");
    assert_non_null(kf);
    EVP_PKEY *k = PEM_read_PrivateKey(kf, NULL, NULL, NULL);
    fclose(kf);
    assert_non_null(k);
    size_t pl = strlen(payload), n, sl = 0;
    char hdr[128];
    int hl = snprintf(hdr, sizeof(hdr), "DSSEv1 28 application/vnd.in-toto+json %zu ", pl);
    unsigned char *m = malloc((size_t)hl + pl), sig[256], *p64 = malloc(pl * 2 + 8), s64[400];
    memcpy(m, hdr, (size_t)hl);
    memcpy(m + hl, payload, pl);
    n = (size_t)hl + pl;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    sl = sizeof(sig);
    assert_int_equal(EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k), 1);
    assert_int_equal(EVP_DigestSign(c, sig, &sl, m, n), 1);
    EVP_EncodeBlock(p64, (const unsigned char *)payload, (int)pl);
    EVP_EncodeBlock(s64, sig, (int)sl);
    json_t *b = json_pack("{s:s, s:{s:{s:s}, s:[]}, s:{s:s, s:s, s:[{s:s}]}}", "mediaType",
                          "application/vnd.dev.sigstore.bundle.v0.3+json",
                          "verificationMaterial", "publicKey", "hint", LM_HINT, "tlogEntries",
                          "dsseEnvelope", "payload", (char *)p64, "payloadType",
                          "application/vnd.in-toto+json", "signatures", "sig", (char *)s64);
    assert_int_equal(json_dump_file(b, sig_path, 0), 0);
    json_decref(b);
    EVP_MD_CTX_free(c);
    EVP_PKEY_free(k);
    free(m);
    free(p64);
}

#define D_A "a6c0a9a8e2cb1ad5ab6fd5e4da6b2b6d3f6fe4f06ab28b1d5ab4b0f8c5ac5d1e"
/* sha256("hello\n") and sha256("") */
#define H_HELLO "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define H_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static const struct {
    const char *label;
    const char *statement;   /* %s: root digest placeholder filled by the test when "ROOT" */
    int rc;
    enum lm_errcode code;
    const char *msg;
} statements[] = {
    { "files ok",
      "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"m\",\"digest\":"
      "{\"sha256\":\"ROOT\"}}],\"predicateType\":\"https://model_signing/signature/v1.0\","
      "\"predicate\":{\"serialization\":{\"method\":\"files\",\"hash_type\":\"sha256\","
      "\"allow_symlinks\":false},\"resources\":[{\"name\":\"a/b.txt\",\"algorithm\":\"sha256\","
      "\"digest\":\"" H_HELLO "\"},{\"name\":\"empty\",\"algorithm\":\"sha256\",\"digest\":\""
      H_EMPTY "\"}]}}", 0, LM_OK, NULL },
    { "shards with a float shard_size",
      "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"m\",\"digest\":"
      "{\"sha256\":\"ROOT\"}}],\"predicateType\":\"https://model_signing/signature/v1.0\","
      "\"predicate\":{\"serialization\":{\"method\":\"shards\",\"hash_type\":\"sha256\","
      "\"shard_size\":4.0,\"allow_symlinks\":false},\"resources\":["
      "{\"name\":\"a/b.txt:0:4\",\"algorithm\":\"sha256-sharded-4\",\"digest\":"
      "\"" "0ebdc3317b75839f643387d783535adc360ca01f33c75f7c1e7373adcd675c0b" "\"},"
      "{\"name\":\"a/b.txt:4:6\",\"algorithm\":\"sha256-sharded-4\",\"digest\":"
      "\"" "c1c3d6ea72a2e7d3cbdf30f0d3cf6eb6a6dc1f0b6e33e1d4a5b1a0d6b5f9a1f8" "\"}]}}",
      -1, LM_EDIGEST, "'a/b.txt:4:6' does not match the signature: signed sha256-sharded-4 *" },
    { "root inconsistent",
      "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"m\",\"digest\":"
      "{\"sha256\":\"" D_A "\"}}],\"predicateType\":\"https://model_signing/signature/v1.0\","
      "\"predicate\":{\"serialization\":{\"method\":\"files\"},\"resources\":[]}}",
      -1, LM_EDIGEST, "statement is inconsistent: its resources hash to " H_EMPTY
      ", subject says " D_A },
    { "two subjects",
      "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{},{}],"
      "\"predicateType\":\"https://model_signing/signature/v1.0\",\"predicate\":{}}",
      -1, LM_ECORRUPT, "statement must have exactly one subject" },
    { "duplicate resource",
      "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"m\",\"digest\":"
      "{\"sha256\":\"ROOT\"}}],\"predicateType\":\"https://model_signing/signature/v1.0\","
      "\"predicate\":{\"serialization\":{\"method\":\"files\"},\"resources\":["
      "{\"name\":\"empty\",\"algorithm\":\"sha256\",\"digest\":\"" H_EMPTY "\"},"
      "{\"name\":\"empty\",\"algorithm\":\"sha256\",\"digest\":\"" H_EMPTY "\"}]}}",
      -1, LM_ECORRUPT, "statement lists 'empty' twice" },
    { "unknown method",
      "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"m\",\"digest\":"
      "{\"sha256\":\"" H_EMPTY "\"}}],\"predicateType\":\"https://model_signing/signature/v1.0\","
      "\"predicate\":{\"serialization\":{\"method\":\"digest\"},\"resources\":[]}}",
      -1, LM_EUNSUPPORTED, "serialization method 'digest' is not supported (files, shards)" },
    { "fractional shard_size",
      "{\"_type\":\"https://in-toto.io/Statement/v1\",\"subject\":[{\"name\":\"m\",\"digest\":"
      "{\"sha256\":\"" H_EMPTY "\"}}],\"predicateType\":\"https://model_signing/signature/v1.0\","
      "\"predicate\":{\"serialization\":{\"method\":\"shards\",\"shard_size\":1.5},"
      "\"resources\":[]}}",
      -1, LM_ECORRUPT, "serialization shard_size is not a positive integer" },
    { "wrong _type",
      "{\"_type\":\"https://in-toto.io/Statement/v0.1\",\"subject\":[]}",
      -1, LM_ECORRUPT, "statement _type is not https://in-toto.io/Statement/v1" },
    { "not JSON", "{\"_type\":", -1, LM_ECORRUPT, "signed statement is not a JSON object" },
};

/* Put ROOT = sha256 of the listed digests in place of the placeholder. */
static char *with_root(const char *st)
{
    char *s = strdup(st), *at = strstr(s, "ROOT");
    if (!at)
        return s;
    struct lm_sha256 *h = lm_sha256_new();
    for (const char *p = strstr(s, "\"digest\":\""); p; p = strstr(p + 1, "\"digest\":\"")) {
        uint8_t d[32];
        for (int i = 0; i < 32; i++) {
            unsigned v;
            sscanf(p + 10 + 2 * i, "%2x", &v);
            d[i] = (uint8_t)v;
        }
        lm_sha256_update(h, d, 32);
    }
    uint8_t d[32];
    char hex[65];
    lm_sha256_final(h, d);
    lm_sha256_free(h);
    lm_hex(d, 32, hex);
    size_t n = strlen(s) + 64;
    char *o = malloc(n);
    snprintf(o, n, "%.*s%s%s", (int)(at - s), s, hex, at + 4);
    free(s);
    return o;
}

static void test_hostile_statements(void **state)
{
    (void)state;
    NEED_FIXTURES();
    char *tmp = make_tmpdir(), model[600], sig[700], key[1200], pub[1200];
    snprintf(model, sizeof(model), "%s/m", tmp);
    snprintf(sig, sizeof(sig), "%s/m.sig", tmp);
    snprintf(key, sizeof(key), "%s/lm-made-key/keys/lm-test-p256.pem", signing);
    snprintf(pub, sizeof(pub), "%s/lm-made-key/keys/lm-test-p256.pub", signing);
    sh("mkdir -p '%s/a' && printf 'hello\\n' > '%s/a/b.txt' && : > '%s/empty'", model, model,
       model);
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        char *st = with_root(statements[i].statement);
        resign(sig, key, st);
        free(st);
        struct lm_sig_opts o = { .method = LM_SIG_KEY, .key = pub, .signature = sig };
        struct lm_sig_result r;
        struct lm_err err;
        lm_err_clear(&err);
        int rc = lm_sig_verify_dir(model, &o, &r, &err);
        if (rc != statements[i].rc || (rc && err.code != statements[i].code))
            fail_msg("%s: rc %d code %d: %s", statements[i].label, rc, (int)err.code, err.msg);
        if (statements[i].msg)
            assert_msg(err.msg, statements[i].msg);
    }
    /* A symbolic link in the model is refused when the statement does not allow them. */
    char *st = with_root(statements[0].statement);
    resign(sig, key, st);
    free(st);
    sh("ln -s empty '%s/link'", model);
    struct lm_sig_opts o = { .method = LM_SIG_KEY, .key = pub, .signature = sig };
    struct lm_sig_result r;
    struct lm_err err;
    assert_int_equal(lm_sig_verify_dir(model, &o, &r, &err), -1);
    assert_int_equal(err.code, LM_EUNSUPPORTED);
    assert_string_equal(err.msg, "is a symbolic link and the signature does not allow them");
    rm_rf(tmp);
    free(tmp);
}

/* ---- what lm audit makes of a signature a pull recorded ---------------------------------- */

/* A one-file model (a file of the fixture: models with other bytes have other manifests, and
 * provenance belongs to a manifest). */
static void add_signed_model(struct lm_store *s, const char *name, const char *file,
                             const char *mt, const char *extra)
{
    struct lm_err err;
    struct lm_blob b;
    char path[1200];
    snprintf(path, sizeof(path), "%s/lm-made-key/stories260K/%s", signing, file);
    assert_int_equal(lm_blob_add_file(s, path, mt, 0, NULL, &b, &err), 0);
    struct lm_layer l = { file, b.digest, b.size, "other", mt };
    struct lm_provenance p = { .kind = "hf", .url = "https://huggingface.co/org/repo",
                               .commit = "0123456789abcdef0123456789abcdef01234567",
                               .extra_json = extra };
    struct lm_model_spec spec = { name, &l, 1, &p, NULL, 0 };
    assert_int_equal(lm_store_add_models(s, "pull", &spec, 1, NULL, &err), 0);
}

static void test_audit_recorded_signature(void **state)
{
    (void)state;
    NEED_FIXTURES();
    const char *lm = lm_bin();
    if (!lm) {
        fprintf(stderr, "skip: LM_BIN is not set\n");
        skip();
    }
    char base[1100], home[600], extra[2048];
    struct caseopts c;
    struct lm_sig_result r;
    struct lm_err err;
    snprintf(base, sizeof(base), "%s/lm-made-key", signing);
    load_case(base, &c);
    assert_int_equal(lm_sig_verify_dir(c.model, &c.o, &r, &err), 0);
    char *ok = lm_sig_result_json(&r, NULL), *bad = lm_sig_result_json(NULL, "bad signature");
    char *tmp = make_tmpdir();
    snprintf(home, sizeof(home), "%s/home", tmp);
    struct lm_store *s = lm_store_open(home, &err);
    assert_non_null(s);
    snprintf(extra, sizeof(extra), "{\"endpoint\":\"https://huggingface.co\",\"signature\":%s}", ok);
    add_signed_model(s, "good", "config.json", LM_MT_JSON, extra);
    snprintf(extra, sizeof(extra), "{\"signature\":%s}", bad);
    add_signed_model(s, "bad", "tokenizer.model", LM_MT_SPM, extra);
    lm_store_close(s);
    setenv("LM_HOME", home, 1);
    char *av1[] = { (char *)lm, "audit", "good", NULL };
    struct run_result rr;
    assert_int_equal(run_capture(av1, &rr), 0);
    assert_int_equal(rr.status, 0);
    assert_non_null(strstr(rr.out, "  signature   verified, key " LM_HINT "\n"));
    assert_non_null(strstr(rr.out, "  source      hf https://huggingface.co/org/repo (commit "
                                   "0123456789abcdef0123456789abcdef01234567)\n"));
    run_result_free(&rr);
    char *av2[] = { (char *)lm, "audit", "--json", "bad", NULL };
    assert_int_equal(run_capture(av2, &rr), 0);
    if (rr.status != 1)
        fprintf(stderr, "%s%s", rr.out, rr.err);
    assert_int_equal(rr.status, 1);
    json_t *j = json_loads(rr.out, 0, NULL);
    json_t *sg = json_object_get(json_array_get(j, 0), "signature");
    assert_string_equal(json_string_value(json_object_get(sg, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(sg, "error")), "bad signature");
    json_decref(j);
    run_result_free(&rr);
    unsetenv("LM_HOME");
    free(ok);
    free(bad);
    json_decref(c.doc);
    rm_rf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_legacy_v020),
        cmocka_unit_test(test_ignore_paths),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_trust_config_wrapper),
        cmocka_unit_test(test_trust_root_parts),
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_sign_roundtrip),
        cmocka_unit_test(test_sign_single_file),
        cmocka_unit_test(test_sign_order),
        cmocka_unit_test(test_hostile_statements),
        cmocka_unit_test(test_audit_recorded_signature),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
