/* fuzz_sign.c: arbitrary bytes as a model.sig bundle, checked by the key, certificate and keyless
 * methods against a fixed one-file model; every refusal must be one filled-in error. Seeds:
 * lm's own signature of stories260K and upstream model_signing bundles (v0.2.0 to v1.1.0, from
 * shared/signing, sigstore/model-transparency, Apache-2.0). */
#define _GNU_SOURCE   /* mkdtemp */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../registry/registry.h"
#include "../common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The P-256 key of shared/specs/model-signing.md §9. */
static const char pub_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEyroApyRXX7uFZAhI5mx/N1Sx7Bq7\n"
    "MQppPIRKnP4f+F2UMEgS46WY3czUS82MQkPgQdL5ywCERCi4CXG6VUbvUw==\n"
    "-----END PUBLIC KEY-----\n";

static char dir[64], model[128], bundle[128], key[128], ca[128], root[1024];

static void put(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    LM_BUG_ON(!f);
    LM_BUG_ON(n && fwrite(p, 1, n, f) != n);
    fclose(f);
}

/* A self-signed certificate to stand in as the user's trust anchor. */
static void make_ca(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    LM_BUG_ON(!k || !x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400L * 3650);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 3650);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)"fuzz-ca", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    FILE *f = fopen(ca, "w");
    LM_BUG_ON(!f);
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void cleanup(void)
{
    const char *files[] = { "model/signme-1", "model.sig", "key.pub", "ca.pem", "root.json" };
    char p[160];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(model);
    rmdir(dir);
}

static void setup(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/lm-fuzz-sign-XXXXXX", t && *t && strlen(t) < 30 ? t : "/tmp");
    LM_BUG_ON(!mkdtemp(dir));
    atexit(cleanup);
    snprintf(model, sizeof(model), "%s/model", dir);
    snprintf(bundle, sizeof(bundle), "%s/model.sig", dir);
    snprintf(key, sizeof(key), "%s/key.pub", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    mkdir(model, 0700);
    char a[160];
    snprintf(a, sizeof(a), "%s/signme-1", model);
    put(a, "signme-1", 8);
    put(key, pub_pem, strlen(pub_pem));
    make_ca();
    /* The real trusted root when the shared fixtures are here, so tlog checks run deep. */
    const char *s = getenv("LM_SHARED");
    snprintf(root, sizeof(root), "%s/signing/v1.1.0-sigstore/trust/trusted_root.json",
             s && *s ? s : "../shared");
    struct stat st;
    if (stat(root, &st) != 0) {
        snprintf(root, sizeof(root), "%s/root.json", dir);
        static const char r[] = "{\"tlogs\":[],\"certificateAuthorities\":[]}";
        put(root, r, strlen(r));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0])
        setup();
    put(bundle, data, size);
    struct lm_sig_opts o[3] = {
        { .signature = bundle, .method = LM_SIG_KEY, .key = key },
        { .signature = bundle, .method = LM_SIG_CERT, .cert_chain = ca },
        { .signature = bundle, .method = LM_SIG_SIGSTORE, .trust_root = root,
          .identity = "stefanb@us.ibm.com", .issuer = "https://sigstore.verify.ibm.com/oauth2" },
    };
    struct lm_sig_file f = { "signme-1", NULL };
    char p[160];
    snprintf(p, sizeof(p), "%s/signme-1", model);
    f.path = p;
    for (int i = 0; i < 3; i++) {
        struct lm_sig_result r;
        struct lm_err err;
        lm_err_clear(&err);
        if (lm_sig_verify_dir(model, &o[i], &r, &err) != 0)
            LM_BUG_ON(err.code == LM_OK || err.msg[0] == 0);
        lm_err_clear(&err);
        if (lm_sig_verify_files(&f, 1, &o[i], &r, &err) != 0)
            LM_BUG_ON(err.code == LM_OK || err.msg[0] == 0);
    }
    return 0;
}
