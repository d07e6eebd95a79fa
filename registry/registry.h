/* registry: where models come from: the Hugging Face Hub (being written) and model
 * signatures (OpenSSF Model Signing). */
#ifndef LM_REGISTRY_H
#define LM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../store/store.h"

/* ---- signing: OpenSSF Model Signing (shared/specs/model-signing.md, docs/signing.md) ------
 *
 * A signature is a Sigstore bundle (model.sig) holding a DSSE envelope whose payload is an
 * in-toto statement listing every file of the model with its digest. Verifying re-hashes the
 * files by the statement's serialization (files or shards; sha256 or blake2b), requires the
 * statement to cover exactly the model's files, and checks the signature one of three ways:
 *   key        the user's trusted EC public key (PEM)
 *   cert       the bundle's X.509 chain to the user's trust anchors at the leaf's notBefore
 *   sigstore   keyless, offline: the Fulcio leaf chains to a CA of a trusted root file at the
 *              Rekor integratedTime, its SAN and OIDC issuer are the expected ones, and the Rekor
 *              entry matches the envelope, with its inclusion proof, checkpoint and SET signed
 *              by the log's key.
 * Every failure is one line naming what failed (LM_EDIGEST for file or signature mismatches,
 * LM_ECORRUPT for malformed bundles, LM_EUNSUPPORTED for legacy v0.2 signatures). */

enum lm_sig_method { LM_SIG_NONE = 0, LM_SIG_KEY, LM_SIG_CERT, LM_SIG_SIGSTORE };
const char *lm_sig_method_name(enum lm_sig_method m);   /* "key", "certificate", "sigstore" */

struct lm_sig_opts {
    const char *signature;      /* bundle path; NULL = model.sig in the model dir (next to a
                                   single-file model) */
    const char *const *ignore;  /* extra paths to leave out: relative to the model, or paths
                                   that lie inside it */
    size_t n_ignore;
    enum lm_sig_method method;
    const char *key;            /* LM_SIG_KEY: the trusted public key, PEM file */
    const char *cert_chain;     /* LM_SIG_CERT: trust anchors, PEM file (one or more certs) */
    const char *trust_root;     /* LM_SIG_SIGSTORE: trusted_root.json or a ClientTrustConfig */
    const char *identity;       /* LM_SIG_SIGSTORE: SAN email or URI the leaf must carry */
    const char *issuer;         /* LM_SIG_SIGSTORE: OIDC issuer URL the leaf must carry */
};

struct lm_sig_result {
    enum lm_sig_method method;
    char signer[256];           /* key: hex sha256 of the key's PEM (the bundle hint); cert: the
                                   leaf's subject; sigstore: the SAN identity */
    char issuer[256];           /* cert: the leaf's issuer name; sigstore: the OIDC issuer */
    int64_t signed_at;          /* unix seconds: Rekor integratedTime, leaf notBefore, 0 (key) */
    char root[65];              /* the statement's subject digest */
    size_t n_files;             /* resources checked */
};

/* One file of a model that is not laid out as a directory (a store model, a pull in flight):
 * name is the model-relative '/'-path the statement uses, path where its bytes are. */
struct lm_sig_file {
    const char *name;
    const char *path;
};

/* Verify the model at `model` (a directory, or one file) against its signature. */
int lm_sig_verify_dir(const char *model, const struct lm_sig_opts *o, struct lm_sig_result *r,
                      struct lm_err *err);
/* The same for a list of files; o->signature is required. Ignore rules apply to the names. */
int lm_sig_verify_files(const struct lm_sig_file *files, size_t n, const struct lm_sig_opts *o,
                        struct lm_sig_result *r, struct lm_err *err);

struct lm_sig_sign_opts {
    const char *key;            /* EC private key, PEM (P-256, P-384 or P-521) */
    const char *out;            /* NULL = model.sig in the model dir (next to a single file) */
    const char *const *ignore;  /* extra paths to leave out, as in lm_sig_opts */
    size_t n_ignore;
};
/* Write a key-method signature (files + sha256, publicKey.hint) that upstream's verifier
 * accepts; the bundle is written atomically. hint (may be NULL) gets the key hint. */
int lm_sig_sign_dir(const char *model, const struct lm_sig_sign_opts *o, char hint[65],
                    struct lm_err *err);

#endif
