/* bundle_sign.c: ECDSA signatures over a bundle manifest (P-256 with SHA-256, P-384 with
 * SHA-384), keys as PEM files, through libcrypto. */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include "bundle_int.h"
#include "../common/banned.h"

/* The digest that goes with the key's curve; NULL if it is not an EC key on P-256 or P-384. */
static const EVP_MD *curve_md(EVP_PKEY *k)
{
    char group[64];
    size_t n = 0;
    if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC ||
        !EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &n))
        return NULL;
    if (strcmp(group, "prime256v1") == 0)
        return EVP_sha256();
    if (strcmp(group, "secp384r1") == 0)
        return EVP_sha384();
    return NULL;
}

static int fingerprint_of(EVP_PKEY *k, char out[65])
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    if (n <= 0)
        return -1;
    uint8_t d[32];
    lm_sha256_buf(der, (size_t)n, d);
    lm_hex(d, 32, out);
    OPENSSL_free(der);
    return 0;
}

static EVP_PKEY *load_key(const char *path, bool private_key, struct lm_err *err)
{
    BIO *b = BIO_new_file(path, "r");
    if (!b) {
        lm_err_errno(err, path, "open");
        return NULL;
    }
    EVP_PKEY *k = private_key ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
                              : PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
    BIO_free(b);
    if (!k) {
        lm_err_set(err, LM_EUSAGE, path, LM_NO_OFFSET, "not a PEM %s key",
                   private_key ? "private" : "public");
        return NULL;
    }
    if (!curve_md(k)) {
        EVP_PKEY_free(k);
        lm_err_set(err, LM_EUNSUPPORTED, path, LM_NO_OFFSET,
                   "bundles are signed with ECDSA on P-256 or P-384; this key is another kind");
        return NULL;
    }
    return k;
}

int bundle_sign(const char *key_pem, const void *msg, size_t len, unsigned char *sig,
                size_t *sig_len, char fingerprint[65], struct lm_err *err)
{
    EVP_PKEY *k = load_key(key_pem, true, err);
    EVP_MD_CTX *ctx = NULL;
    int ret = -1;
    if (!k)
        return -1;
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestSignInit(ctx, NULL, curve_md(k), NULL, k) != 1 ||
        EVP_DigestSign(ctx, sig, sig_len, msg, len) != 1 || fingerprint_of(k, fingerprint)) {
        lm_err_set(err, LM_EINTERNAL, key_pem, LM_NO_OFFSET, "signing failed");
        goto out;
    }
    ret = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);   /* frees (and clears) the private key */
    return ret;
}

int bundle_verify_sig(const char *pub_pem, const void *msg, size_t len, const unsigned char *sig,
                      size_t sig_len, const char *label, char fingerprint[65], struct lm_err *err)
{
    EVP_PKEY *k = load_key(pub_pem, false, err);
    EVP_MD_CTX *ctx = NULL;
    int ret = -1;
    if (!k)
        return -1;
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestVerifyInit(ctx, NULL, curve_md(k), NULL, k) != 1 ||
        fingerprint_of(k, fingerprint)) {
        lm_err_set(err, LM_EINTERNAL, pub_pem, LM_NO_OFFSET, "cannot set up verification");
        goto out;
    }
    if (EVP_DigestVerify(ctx, sig, sig_len, msg, len) != 1) {
        lm_err_set(err, LM_EDIGEST, label, LM_NO_OFFSET,
                   "the bundle manifest's signature does not verify with %s", pub_pem);
        goto out;
    }
    ret = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(k);
    return ret;
}
