/* sign_tsa.c: RFC 3161 timestamps in a Sigstore bundle (timestampVerificationData), checked
 * against the timestamp authorities of the trusted root: a second witness of the signing time. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "sign_internal.h"
#include "../common/banned.h"

#define TSA_MAX_STAMPS 16

/* The TSA chains of the root: last certificate of each chain trusted, the rest untrusted. */
static int tsa_store(json_t *root, X509_STORE *st, STACK_OF(X509) *mid)
{
    size_t i, n_roots = 0;
    json_t *ta;
    json_array_foreach(json_object_get(root, "timestampAuthorities"), i, ta) {
        json_t *certs = json_object_get(json_object_get(ta, "certChain"), "certificates");
        size_t n = json_array_size(certs);
        for (size_t j = 0; j < n; j++) {
            uint8_t *der = NULL;
            size_t dn = 0;
            const char *s = sig_jstr(json_array_get(certs, j), "rawBytes");
            if (!s || sig_b64_decode(s, strlen(s), &der, &dn))
                continue;
            const unsigned char *p = der;
            X509 *x = d2i_X509(NULL, &p, (long)dn);
            free(der);
            if (!x)
                continue;
            if (j + 1 == n) {
                X509_STORE_add_cert(st, x);
                n_roots++;
                X509_free(x);
            } else if (!sk_X509_push(mid, x)) {
                X509_free(x);
            }
        }
    }
    return n_roots ? 0 : -1;
}

/* One stamp: a whole TimeStampResp (what upstream stores) over the DSSE signature bytes. 1 =
 * verified (*t set), 0 = not by a TSA of this root, -1 = by one of them but not over these
 * bytes or malformed. */
static int check_stamp(const uint8_t *der, size_t dn, const uint8_t *sig, size_t slen,
                       X509_STORE *st, STACK_OF(X509) *mid, int64_t *t)
{
    const unsigned char *p = der;
    TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)dn);
    TS_VERIFY_CTX *v = TS_VERIFY_CTX_new();
    BIO *data = BIO_new_mem_buf(sig, (int)slen);
    int ret = -1;
    if (!resp || !v || !data)
        goto out;
    /* Chain first: a stamp from a TSA this root does not know is no evidence either way. */
    PKCS7 *tok = TS_RESP_get_token(resp);
    STACK_OF(X509) *signers = tok ? PKCS7_get0_signers(tok, mid, 0) : NULL;
    X509 *signer = sk_X509_num(signers) == 1 ? sk_X509_value(signers, 0) : NULL;
    TS_TST_INFO *info = TS_RESP_get_tst_info(resp);
    const ASN1_GENERALIZEDTIME *gt = info ? TS_TST_INFO_get_time(info) : NULL;
    struct tm tm;
    if (!signer || !gt || ASN1_TIME_to_tm(gt, &tm) != 1) {
        sk_X509_free(signers);
        goto out;
    }
    *t = (int64_t)timegm(&tm);
    X509_STORE_CTX *x = X509_STORE_CTX_new();
    int chained = x && X509_STORE_CTX_init(x, st, signer, mid) == 1 &&
                  (X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(x), (time_t)*t), 1) &&
                  X509_verify_cert(x) == 1;
    X509_STORE_CTX_free(x);
    sk_X509_free(signers);
    if (!chained) {
        ret = 0;
        goto out;
    }
    X509_STORE_up_ref(st);
    TS_VERIFY_CTX_set_store(v, st);
    STACK_OF(X509) *certs = X509_chain_up_ref(mid);
    TS_VERIFY_CTX_set_certs(v, certs);
    TS_VERIFY_CTX_set_data(v, data);
    data = NULL;   /* the context owns it now */
    TS_VERIFY_CTX_set_flags(v, TS_VFY_VERSION | TS_VFY_SIGNATURE | TS_VFY_DATA);
    X509_VERIFY_PARAM *vp = X509_STORE_get0_param(st);
    X509_VERIFY_PARAM_set_time(vp, (time_t)*t);
    ret = TS_RESP_verify_response(v, resp) == 1 ? 1 : -1;
out:
    ERR_clear_error();
    BIO_free(data);
    TS_VERIFY_CTX_free(v);
    TS_RESP_free(resp);
    return ret;
}

int sig_tsa_check(json_t *bundle, json_t *root, const char *label, const uint8_t *sig,
                  size_t slen, X509 *leaf, int64_t *when, struct lm_err *err)
{
    json_t *stamps = json_object_get(json_object_get(json_object_get(bundle,
                                     "verificationMaterial"), "timestampVerificationData"),
                                     "rfc3161Timestamps");
    size_t n = json_array_size(stamps);
    *when = 0;
    if (n == 0)
        return 0;
    if (n > TSA_MAX_STAMPS)
        return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET, "more than %d timestamps",
                          TSA_MAX_STAMPS);
    X509_STORE *st = X509_STORE_new();
    STACK_OF(X509) *mid = sk_X509_new_null();
    int ret = 0;
    if (!st || !mid) {
        ret = lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    if (tsa_store(root, st, mid))
        goto out;   /* no TSA in the root: the stamps cannot speak */
    for (size_t i = 0; i < n; i++) {
        uint8_t *der = NULL;
        size_t dn = 0;
        int64_t t = 0;
        if (sig_jb64(json_array_get(stamps, i), "signedTimestamp", label, "RFC 3161 timestamp",
                     &der, &dn, err)) {
            ret = -1;
            goto out;
        }
        int rc = check_stamp(der, dn, sig, slen, st, mid, &t);
        free(der);
        if (rc < 0) {
            ret = lm_err_set(err, LM_EDIGEST, label, LM_NO_OFFSET,
                             "RFC 3161 timestamp %zu does not verify over the signature", i + 1);
            goto out;
        }
        if (rc == 1) {
            if (X509_cmp_time(X509_get0_notBefore(leaf), &(time_t){ (time_t)t }) > 0 ||
                X509_cmp_time(X509_get0_notAfter(leaf), &(time_t){ (time_t)t }) < 0) {
                ret = lm_err_set(err, LM_EDIGEST, label, LM_NO_OFFSET,
                                 "RFC 3161 timestamp %zu is outside the certificate's validity",
                                 i + 1);
                goto out;
            }
            *when = t;
        }
    }
out:
    sk_X509_pop_free(mid, X509_free);
    X509_STORE_free(st);
    return ret;
}
