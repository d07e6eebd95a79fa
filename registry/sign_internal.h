/* sign_internal.h: what the signature files (sign*.c) share; not part of registry's interface. */
#ifndef LM_SIGN_INTERNAL_H
#define LM_SIGN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "registry.h"

#define SIG_BUNDLE_TYPE "application/vnd.dev.sigstore.bundle.v0.3+json"
#define SIG_PAYLOAD_TYPE "application/vnd.in-toto+json"
#define SIG_STATEMENT_TYPE "https://in-toto.io/Statement/v1"
#define SIG_PREDICATE_V1 "https://model_signing/signature/v1.0"
#define SIG_PREDICATE_V01 "https://model_signing/Digests/v0.1"
#define SIG_BUNDLE_MAX (64u << 20)      /* a bundle is a few KiB; this bounds a hostile one */
#define SIG_FILES_MAX 1000000           /* files (or shards) one statement may list */
#define SIG_DIGEST_MAX 64               /* BLAKE2b-512 */

/* Ignored at the model root unless a signer turned it off: upstream's git defaults. */
#define SIG_GIT_PATHS 4
extern const char *const sig_git_paths[SIG_GIT_PATHS];

/* An EC (P-256/384/521) key from a PEM file: the public key, or an unencrypted private one. */
EVP_PKEY *sig_read_key(const char *path, bool private_key, struct lm_err *err);

/* What a serialization says: how to turn files into resources. */
struct sig_ser {
    bool shards;
    char hash[16];              /* "sha256" or "blake2b" */
    bool allow_symlinks;
    uint64_t shard_size;
};

/* One resource: a file (files) or a byte range of one (shards). */
struct sig_res {
    char *name;                 /* "a/b" or "a/b:START:END" */
    char algo[64];
    uint8_t digest[SIG_DIGEST_MAX];
    size_t dlen;
};

struct sig_res_list {
    struct sig_res *v;
    size_t n, cap;
};
void sig_res_list_release(struct sig_res_list *l);
int sig_res_add(struct sig_res_list *l, const char *name, const char *algo, const uint8_t *d,
                size_t dlen, struct lm_err *err);

/* The ignore set: model-relative paths, matched by whole components. */
struct sig_ignore {
    char **v;
    size_t n;
};
int sig_ignore_add(struct sig_ignore *ig, const char *rel, struct lm_err *err);
bool sig_ignored(const struct sig_ignore *ig, const char *rel);
void sig_ignore_release(struct sig_ignore *ig);
/* rel gets p's path below dir when p lies inside it (p itself need not exist). */
bool sig_rel_inside(const char *dir, const char *p, char *rel, size_t n);
/* A user path: relative to the model, or a path inside it (when both exist on disk). */
int sig_ignore_user(struct sig_ignore *ig, const char *model, const char *p, struct lm_err *err);

/* Walk a model (directory or one file) into a file list (name, path), sorted canonically. */
struct sig_files {
    struct lm_sig_file *v;
    size_t n, cap;
};
int sig_walk(const char *model, const struct sig_ignore *ig, bool allow_symlinks,
             struct sig_files *out, struct lm_err *err);
void sig_files_release(struct sig_files *f);
void sig_files_sort(struct lm_sig_file *v, size_t n);   /* upstream's order: by path components */
/* Hash files into resources by the serialization. */
int sig_hash_files(const struct lm_sig_file *files, size_t n, const struct sig_ser *ser,
                   struct sig_res_list *out, struct lm_err *err);

/* Strict standard base64 (padded). *out is malloc'd; NULL input length 0 is fine. */
int sig_b64_decode(const char *s, size_t len, uint8_t **out, size_t *n);
char *sig_b64_encode(const uint8_t *p, size_t n);       /* malloc'd, NUL-terminated */
int sig_hex_decode(const char *s, uint8_t *out, size_t n);  /* exactly 2n lowercase hex */

/* JSON field helpers: NULL when absent or of another type. */
const char *sig_jstr(json_t *o, const char *key);
/* A JSON string field decoded from base64, required; errors name `what`. */
int sig_jb64(json_t *o, const char *key, const char *label, const char *what, uint8_t **out,
             size_t *n, struct lm_err *err);

/* ECDSA over the DSSE PAE of payload with the key's curve hash (md NULL) or md. 1 = valid. */
int sig_dsse_verify(EVP_PKEY *k, const EVP_MD *md, const uint8_t *payload, size_t plen,
                    const uint8_t *sig, size_t slen);
/* The PAE bytes (malloc'd). */
uint8_t *sig_pae(const char *type, const uint8_t *payload, size_t plen, size_t *n);
/* The digest tied to an EC key's curve, or NULL if the key is not EC P-256/384/521. */
const EVP_MD *sig_curve_md(EVP_PKEY *k);
/* hex sha256 of the key's SubjectPublicKeyInfo PEM text: the bundle's publicKey.hint. */
int sig_key_hint(EVP_PKEY *k, char hex[65]);

/* Keyless: check the bundle's certificate and tlog entry against a trusted root; on success
 * *leaf_key is the leaf's key (caller frees) and r gets identity, issuer and time. */
int sig_sigstore_check(json_t *bundle, const char *label, const uint8_t *payload, size_t plen,
                       const uint8_t *sig, size_t slen, const char *sig_b64,
                       const struct lm_sig_opts *o, struct lm_sig_result *r, EVP_PKEY **leaf_key,
                       struct lm_err *err);
/* The bundle's RFC 3161 timestamps over the DSSE signature, against the root's TSAs. Stamps
 * from TSAs the root does not hold are skipped; one from a known TSA that fails is an error.
 * *when gets the time of a verified stamp, 0 if none. */
int sig_tsa_check(json_t *bundle, json_t *root, const char *label, const uint8_t *sig,
                  size_t slen, X509 *leaf, int64_t *when, struct lm_err *err);
/* KeyUsage has digitalSignature, or ExtendedKeyUsage has codeSigning. */
bool sig_leaf_may_sign(X509 *leaf);
/* Print an X509_NAME one line (RFC 2253) into buf. */
void sig_name_str(const X509_NAME *n, char *buf, size_t len);

#endif
