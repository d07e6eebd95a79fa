/* registry: where models come from: the Hugging Face Hub (lm pull) and model signatures
 * (OpenSSF Model Signing). Ownership: results filled through pointers are the caller's. */
#ifndef LM_REGISTRY_H
#define LM_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../store/store.h"

/* ---- the Hugging Face Hub (shared/specs/hf-hub.md) ----------------------------------------
 *
 * A pull resolves the revision to a commit once, lists the repository at that commit, chooses
 * the files (safetensors checkpoint or one GGUF quantization), takes what the store or the
 * local Hugging Face cache already has, and downloads the rest at that commit: files in
 * parallel and large files in Range chunks on libcurl's multi interface, every byte hashed in
 * order as it lands (LFS files against the listed sha256, others against their git blob id).
 * Blobs enter the store only when every file is verified, then the model is added with its
 * provenance in one transaction. An interrupted pull resumes from the bytes on disk.
 *
 * HTTP: retries 408/429/5xx, stalls and network errors with backoff (1 s doubling to 8 s,
 * honouring Retry-After), follows redirects itself and sends the token only to Hub hosts,
 * caps the total rate on request, and prefers HTTP/2 over TLS.
 *
 * Environment: HF_ENDPOINT, HF_TOKEN (HUGGING_FACE_HUB_TOKEN), HF_TOKEN_PATH, HF_HOME,
 * HF_HUB_CACHE, HF_HUB_OFFLINE, HF_HUB_DISABLE_IMPLICIT_TOKEN, HF_HUB_DOWNLOAD_TIMEOUT (stall
 * timeout, default 30 s). For tests: LM_HTTP_STALL_SECONDS, LM_HTTP_RETRY_MS (first backoff),
 * LM_PULL_CHUNK_BYTES (Range chunk size, default 16 MiB), LM_PULL_RECEIVERS (receiver threads,
 * default one per 4 CPUs), LM_TEST_FREE_BYTES (free space). */

/* references: hf.co/ORG/REPO[:QUANT][@REV], hf:ORG/REPO, https://huggingface.co/ORG/REPO/tree/REV */

#define LM_HF_REPO_MAX 96         /* the Hub's limit for each of ORG and REPO */
#define LM_HF_REV_MAX 255

struct lm_hf_ref {
    char repo[2 * LM_HF_REPO_MAX + 2];   /* ORG/REPO */
    char quant[LM_NAME_PART_MAX + 1];    /* the :QUANT tag as written, "" if none */
    char revision[LM_HF_REV_MAX + 1];    /* branch, tag or commit; "" = the default branch */
};

bool lm_hf_ref_like(const char *s);       /* names the Hub (hf.co/, hf:, huggingface.co/) */
/* LM_EUSAGE with one line saying what is wrong. */
int lm_hf_ref_parse(const char *s, struct lm_hf_ref *out, struct lm_err *err);

/* listings */

struct lm_hf_file {
    char *path;                /* relative, '/'-separated, checked: no '.', '..' or empty parts */
    uint64_t size;
    char oid[41];              /* git blob id (of the LFS pointer for LFS files) */
    char sha256[65];           /* LFS content digest, "" for a plain git file */
};

struct lm_hf_listing {
    struct lm_hf_file *files;
    size_t n;
};

/* Append the files of one page of GET /api/models/REPO/tree/REV?recursive=true (a JSON array;
 * directories are skipped). `label` names the bytes in errors. */
int lm_hf_parse_tree(const char *json, size_t len, const char *label, struct lm_hf_listing *l,
                     struct lm_err *err);
/* The same from a Hugging Face cache trees/COMMIT.json ({"format_version":1,"files":{...}}). */
int lm_hf_parse_cached_tree(const char *json, size_t len, const char *label,
                            struct lm_hf_listing *l, struct lm_err *err);
void lm_hf_listing_release(struct lm_hf_listing *l);

/* choosing files */

struct lm_hf_select {
    const char *quant;                     /* "" or NULL = default choice */
    const char *const *include;            /* globs (fnmatch, '*' crosses '/'): replace the choice */
    size_t n_include;
    const char *const *exclude;            /* globs removed from whatever was chosen */
    size_t n_exclude;
};

/* Pick the files of listing l: idx gets their indexes in listing order, n_idx their count
 * (idx has room for l->n). A safetensors repo gives its weights, index, JSON configs and
 * tokenizer files, tokenizer.model, merges.txt, vocab.*, LICENSE*, README.md and model.sig at
 * the top level; a GGUF repo one quantization (default Q4_K_M, then the fallback list of the
 * spec, then the smallest) with all its split parts, plus LICENSE*, README.md and model.sig.
 * No match, or a quant tag that matches several files, is LM_ENOTFOUND / LM_EUSAGE with a
 * line naming the candidates. gguf (may be NULL) says whether the GGUF rule chose. */
int lm_hf_select_files(const struct lm_hf_listing *l, const struct lm_hf_select *sel,
                       size_t *idx, size_t *n_idx, bool *gguf, struct lm_err *err);

/* pulling */

enum lm_pull_phase {
    LM_PULL_RESOLVING,         /* revision -> commit, listing */
    LM_PULL_DOWNLOADING,
    LM_PULL_WRITING,           /* blobs into the store, the model into the index */
    LM_PULL_DONE,
};

enum lm_pull_file_state {
    LM_PULL_QUEUED,
    LM_PULL_PRESENT,           /* the store has the blob */
    LM_PULL_FROM_CACHE,        /* taken from the local Hugging Face cache */
    LM_PULL_ACTIVE,            /* downloading */
    LM_PULL_VERIFIED,          /* every byte hashed and matched */
    LM_PULL_STORED,
    LM_PULL_FAILED,
};

struct lm_pull_file {
    const char *path;
    const char *digest;        /* "sha256:HEX" (LFS, or once known) or "git:SHA1" */
    uint64_t size, done;       /* done: bytes on disk (kept from an earlier run + received) */
    enum lm_pull_file_state state;
};

struct lm_pull_progress {
    enum lm_pull_phase phase;
    const char *repo, *commit; /* commit "" until resolved */
    const struct lm_pull_file *files;
    size_t n_files;
    uint64_t total, done;      /* over all files */
    uint64_t received;         /* bytes of file data received by this run */
};

struct lm_sig_opts;

struct lm_pull_opts {
    const char *ref;                       /* what the user typed */
    const char *const *include, *const *exclude;
    size_t n_include, n_exclude;
    unsigned connections;                  /* concurrent transfers; 0 = 8 */
    uint64_t limit_rate;                   /* bytes per second over all of them; 0 = no cap */
    /* Called on the calling thread at each phase, as files change state, and at most every
     * 100 ms while bytes arrive. */
    void (*progress)(void *ctx, const struct lm_pull_progress *p);
    void *ctx;
    /* A model.sig among the chosen files is verified against the files before any of them is
     * stored, with this trust (NULL or method LM_SIG_NONE: recorded as present, not verified).
     * require_signature refuses an unsigned repository, or a signature that cannot be or is not
     * verified, with nothing stored. The result goes into the provenance as "signature". */
    const struct lm_sig_opts *sig;
    bool require_signature;
};

enum lm_pull_sig {
    LM_PULL_UNSIGNED,          /* no model.sig chosen */
    LM_PULL_SIG_UNCHECKED,     /* model.sig, no trust given */
    LM_PULL_SIG_VERIFIED,
    LM_PULL_SIG_FAILED,        /* did not verify (only without require_signature) */
};

struct lm_pull_result {
    char name[LM_NAME_MAX + 1];            /* display form: hf.co/ORG/REPO:TAG */
    char manifest[65];
    char commit[41];
    size_t n_files, n_present, n_cache, n_downloaded;
    uint64_t bytes, bytes_received, bytes_kept;   /* all files; received now; resumed from disk */
    enum lm_pull_sig sig;
    char sig_method[16];                   /* verified: "key", "certificate" or "sigstore" */
    char sig_signer[256];                  /* verified: key hint, certificate subject, identity */
    char sig_why[1400];                    /* failed: the one line saying why */
};

/* Pull a model into s. Errors are one line: LM_EUSAGE (bad reference), LM_ENOTFOUND (repo,
 * revision or file), LM_ENET (network, auth, rate limits: the partial files stay for a rerun),
 * LM_EDIGEST / LM_ECORRUPT (bytes or sizes that do not match the listing: nothing is kept). */
int lm_pull(struct lm_store *s, const struct lm_pull_opts *o, struct lm_pull_result *r,
            struct lm_err *err);

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
    const char *const *unchosen; /* names the statement may list with no file here (a pull's
                                    files it did not choose: one quantization of several) */
    size_t n_unchosen;
};

struct lm_sig_result {
    enum lm_sig_method method;
    char signer[256];           /* key: hex sha256 of the key's PEM (the bundle hint); cert: the
                                   leaf's subject; sigstore: the SAN identity */
    char issuer[256];           /* cert: the leaf's issuer name; sigstore: the OIDC issuer */
    int64_t signed_at;          /* unix seconds: Rekor integratedTime, leaf notBefore, 0 (key) */
    int64_t timestamp;          /* sigstore: time of a verified RFC 3161 timestamp, else 0 */
    char root[65];              /* the statement's subject digest */
    size_t n_files;             /* resources checked */
};

/* One file of a model that is not laid out as a directory (a store model, a pull in flight):
 * name is the model-relative '/'-path the statement uses, path where its bytes are. */
struct lm_sig_file {
    const char *name;
    const char *path;
};

/* The result as the JSON object a provenance record keeps under "signature" (lm audit reads it):
 * {"verified":true,"method":...,"signer":...,"issuer":...,"signed_at":N,"root":...}; with r NULL
 * {"verified":false,"error":why}. malloc'd text, NULL on ENOMEM. */
char *lm_sig_result_json(const struct lm_sig_result *r, const char *why);

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
/* The same for a list of files (a store model); o->out is required, subject names the model. */
int lm_sig_sign_files(const struct lm_sig_file *files, size_t n, const char *subject,
                      const struct lm_sig_sign_opts *o, char hint[65], struct lm_err *err);

#endif
