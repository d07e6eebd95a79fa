/* store: the local model store. Content-addressed blobs, a SQLite index of models, manifests,
 * provenance and derivations, an append-only hash-chained audit log, local import, verify, gc.
 *
 * Layout under the store home ($LM_HOME, else $XDG_DATA_HOME/lm, else ~/.local/share/lm; the
 * schema and the problem classes are in docs/store.md):
 *   blobs/sha256/<64 hex>   one file per distinct content, named by the SHA-256 of its bytes
 *   index.db                SQLite: WAL, foreign keys on, PRAGMA user_version = schema version
 *   tmp/                    in-flight files; each is flocked by its writer while it lives
 *   lock                    flock: blob writers hold it shared until their model is added (or the
 *                           store is closed); gc and rm hold it exclusive, so gc never removes a
 *                           blob that a running import is about to reference
 *
 * Every writer gets the same rules: a blob is streamed into tmp/ while hashed, fsynced, checked
 * by its media type (admission control: GGUF and safetensors through the format/ readers' full
 * checks, JSON must parse, text must hold no NUL byte, a SentencePiece model must look like
 * protobuf) and renamed into blobs/ only when its digest is right. An existing blob is never
 * rewritten, except that one whose size is wrong is replaced by verified bytes. Models (name +
 * manifest + provenance + derivations) are added in one transaction after their blobs are in
 * place, together with their audit log entry.
 *
 * Ownership: lm_store_open's result is the caller's (lm_store_close). A struct returned through
 * a pointer is the caller's and has its own _free/_release; the strings inside it live as long
 * as it does. Input structs are only read during the call. A store handle is for one thread. */
#ifndef LM_STORE_H
#define LM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"

/* ---- the store --------------------------------------------------------------------------- */

struct lm_store;

/* The default home: $LM_HOME, else $XDG_DATA_HOME/lm (absolute only), else $HOME/.local/share/lm. */
int lm_store_home(char *buf, size_t n, struct lm_err *err);
/* Open (creating directories and the index, migrating an older schema). home NULL = default. */
struct lm_store *lm_store_open(const char *home, struct lm_err *err);
void lm_store_close(struct lm_store *s);                     /* NULL is fine */
const char *lm_store_path(const struct lm_store *s);         /* the home directory */
/* The command line the audit log records for this handle's mutations ("lm import x"). */
void lm_store_set_command(struct lm_store *s, int argc, char *const *argv);
/* Long operations (import) report progress through fn, from the calling thread: bytes copied
 * or hashed so far, of total. fn NULL = none. */
void lm_store_set_progress(struct lm_store *s, void (*fn)(void *ctx, uint64_t done, uint64_t total),
                           void *ctx);

/* ---- names (shared/specs/ollama-registry.md §1, plus hf.co/ORG/REPO[:TAG]) ---------------- */

#define LM_NAME_HOST_MAX 350
#define LM_NAME_PART_MAX 80
#define LM_NAME_MAX (LM_NAME_HOST_MAX + 3 * LM_NAME_PART_MAX + 4)   /* full form, no NUL */

struct lm_name {
    char host[LM_NAME_HOST_MAX + 1];    /* default registry.ollama.ai */
    char ns[LM_NAME_PART_MAX + 1];      /* default library */
    char model[LM_NAME_PART_MAX + 1];
    char tag[LM_NAME_PART_MAX + 1];     /* default latest */
};

/* Parse and fill defaults; an optional http:// or https:// prefix is dropped. Error: one line
 * "invalid model name 'X': why" (LM_EUSAGE). Names compare case-insensitively. */
int lm_name_parse(const char *s, struct lm_name *out, struct lm_err *err);
void lm_name_full(const struct lm_name *n, char *buf, size_t len);     /* host/ns/model:tag */
void lm_name_display(const struct lm_name *n, char *buf, size_t len);  /* shortest form */

/* ---- file kinds: which files may enter the store, with their role and media type ---------- */

#define LM_MT_GGUF        "application/vnd.lm.gguf"
#define LM_MT_SAFETENSORS "application/vnd.lm.safetensors"
#define LM_MT_JSON        "application/json"
#define LM_MT_TEXT        "text/plain"
#define LM_MT_MARKDOWN    "text/markdown"
#define LM_MT_SPM         "application/vnd.lm.sentencepiece"
/* Modelfile layers (lm create), typed as Ollama types them so a later push is compatible:
 * template, system and license are text; params (a JSON object) and messages (a JSON array)
 * must parse. Their roles: template, system, params, messages, license. */
#define LM_MT_OLLAMA_TEMPLATE "application/vnd.ollama.image.template"
#define LM_MT_OLLAMA_SYSTEM   "application/vnd.ollama.image.system"
#define LM_MT_OLLAMA_PARAMS   "application/vnd.ollama.image.params"
#define LM_MT_OLLAMA_MESSAGES "application/vnd.ollama.image.messages"
#define LM_MT_OLLAMA_LICENSE  "application/vnd.ollama.image.license"

/* Roles: weights config tokenizer template params license signature readme other. */
struct lm_file_kind {
    const char *role;
    const char *media_type;
};
/* By file name (case-insensitive). Pickle checkpoints (*.bin *.pt *.pth *.ckpt *.pkl ...) and
 * anything not safetensors, GGUF, JSON, tokenizer or text are refused (LM_EUNSUPPORTED, one
 * line saying why, path = `path`). */
int lm_file_kind(const char *path, struct lm_file_kind *out, struct lm_err *err);

/* ---- blobs ------------------------------------------------------------------------------- */

#define LM_SIZE_ANY UINT64_MAX

struct lm_blob {
    char digest[65];     /* sha256, lowercase hex */
    uint64_t size;
    bool existed;        /* the store had it already: nothing was written */
    bool linked;         /* adopted by hard link (zero-copy) */
};

/* Streaming writer: begin, write (hashes while writing into tmp/), then commit or abort.
 * `label` names the bytes in errors (source path or URL). want_size LM_SIZE_ANY = unknown;
 * otherwise bytes past it fail at once and a short blob fails at commit. */
struct lm_blob_writer;
struct lm_blob_writer *lm_blob_begin(struct lm_store *s, const char *media_type, uint64_t want_size,
                                     const char *label, struct lm_err *err);
int lm_blob_write(struct lm_blob_writer *w, const void *p, size_t n, struct lm_err *err);
/* For writers that need an fd (gguf_writer_begin): bytes written here are hashed from disk at
 * commit. Do not mix with lm_blob_write. The writer keeps owning the fd. */
int lm_blob_fd(struct lm_blob_writer *w);
/* fsync, check size, digest (want_hex NULL = any) and admission, then rename into blobs/.
 * Frees w whatever happens; on failure the temp file is gone and nothing is stored. */
int lm_blob_commit(struct lm_blob_writer *w, const char *want_hex, struct lm_blob *out,
                   struct lm_err *err);
void lm_blob_abort(struct lm_blob_writer *w);               /* unlinks, frees; NULL is fine */

enum { LM_BLOB_LINK = 1 };   /* hard-link (zero-copy) instead of copying; falls back to a copy */
/* Add a file's bytes as a blob (copy, reflink where the filesystem can, or hard link). */
int lm_blob_add_file(struct lm_store *s, const char *path, const char *media_type, unsigned flags,
                     const char *want_hex, struct lm_blob *out, struct lm_err *err);
/* Where the blob with this digest lives (whether or not it exists); -1 if hex is malformed. */
int lm_blob_path(const struct lm_store *s, const char *hex, char *buf, size_t n);
bool lm_digest_valid(const char *hex);                     /* 64 lowercase hex digits */

/* ---- adding models ----------------------------------------------------------------------- */

struct lm_layer {
    const char *path;          /* inside the model: relative, '/'-separated, no '.' or '..' */
    const char *digest;        /* 64 hex; the blob must be in the store */
    uint64_t size;
    const char *role;
    const char *media_type;
};

struct lm_prov_file {
    const char *path;
    const char *upstream_digest;   /* as upstream names it (hex), or NULL */
    const char *algorithm;         /* "sha256", "git-sha1", ... or NULL */
};

struct lm_provenance {
    const char *kind;          /* local-dir, local-file, hf-cache, hf, ollama, bundle, derived */
    const char *url;           /* where from: file:///abs/path, https://huggingface.co/org/repo */
    const char *revision;      /* as requested (branch, tag), or NULL */
    const char *commit;        /* as resolved, or NULL */
    const char *extra_json;    /* a JSON object with anything else (signature, endpoint), or NULL */
    const struct lm_prov_file *files;
    size_t n_files;
};

struct lm_derivation {
    const char *operation;         /* convert, quantize */
    const char *params_json;       /* a JSON object: type, options, ... */
    const char *input_manifest;    /* 64 hex of the source model's manifest */
};

struct lm_model_spec {
    const char *name;              /* any accepted form; an existing name keeps its case */
    const struct lm_layer *layers;
    size_t n_layers;
    const struct lm_provenance *prov;    /* NULL = none */
    const struct lm_derivation *derivs;  /* the steps that made this manifest from its input */
    size_t n_derivs;
};

/* Add models in ONE transaction with one audit entry each (`action`: import, pull, convert,
 * quantize, create ...). Architecture, parameter count, context length and quantization are
 * read from the blobs. manifests[i] (may be NULL) gets each model's manifest digest. */
int lm_store_add_models(struct lm_store *s, const char *action, const struct lm_model_spec *m,
                        size_t n, char (*manifests)[65], struct lm_err *err);

/* ---- looking models up ------------------------------------------------------------------- */

struct lm_model_layer {
    const char *path, *digest, *role, *media_type;
    uint64_t size;
    const char *blob;              /* absolute path of the blob file */
};

struct lm_model_prov {
    const char *kind, *url, *revision, *commit, *extra_json, *lm_version;
    int64_t time;
    size_t n_files;
    struct lm_prov_file *files;
};

struct lm_model_deriv {
    const char *operation, *params_json, *input_manifest, *output_manifest, *lm_version;
    const char *input_names;       /* display names the input has in the store, ", "-separated;
                                    * NULL if it is no longer named */
    int64_t time;
};

struct lm_model {
    const char *name;              /* full host/ns/model:tag, as first stored */
    const char *display;           /* shortest form */
    char manifest[65];
    const char *manifest_json;     /* canonical manifest bytes; manifest = their sha256 */
    const char *format;            /* "gguf" or "safetensors" */
    const char *architecture, *quantization;   /* NULL if unknown */
    uint64_t n_params, context_length, size;   /* 0 if unknown; size = sum of layer sizes */
    int64_t created, modified;     /* unix seconds */
    size_t n_layers;
    struct lm_model_layer *layers;
    size_t n_prov;
    struct lm_model_prov *prov;    /* oldest first */
    size_t n_derivs;
    struct lm_model_deriv *derivs; /* chain back to the source: this model's step first */
    void *priv;
};

/* LM_ENOTFOUND if there is no such model. */
int lm_model_get(struct lm_store *s, const char *name, struct lm_model **out, struct lm_err *err);
void lm_model_free(struct lm_model *m);
/* The first layer with this media type (e.g. LM_MT_GGUF), or NULL. */
const struct lm_model_layer *lm_model_layer_by_type(const struct lm_model *m, const char *mt);
/* Every model, newest first. */
int lm_store_list(struct lm_store *s, struct lm_model ***out, size_t *n, struct lm_err *err);
void lm_model_list_free(struct lm_model **v, size_t n);

/* ---- changing names ---------------------------------------------------------------------- */

/* Remove a name; its manifest and blobs go when nothing else uses them. freed: bytes removed. */
int lm_store_remove(struct lm_store *s, const char *name, uint64_t *freed, struct lm_err *err);
/* DST names the same manifest as SRC (replacing what DST named). */
int lm_store_copy(struct lm_store *s, const char *src, const char *dst, struct lm_err *err);

/* ---- verify ------------------------------------------------------------------------------ */

enum lm_problem_class {
    LM_PROBLEM_MISSING_BLOB,       /* an indexed blob file is absent */
    LM_PROBLEM_SIZE_MISMATCH,      /* its size differs from the index */
    LM_PROBLEM_DIGEST_MISMATCH,    /* its bytes hash to something else */
    LM_PROBLEM_ORPHAN_BLOB,        /* a file in blobs/ that no model uses (gc removes it) */
    LM_PROBLEM_STALE_TEMP,         /* a file in tmp/ no live writer holds (gc removes it) */
    LM_PROBLEM_INDEX_CORRUPT,      /* SQLite integrity, foreign keys, manifest digests */
    LM_PROBLEM_LOG_CHAIN_BROKEN,   /* an audit log entry does not hash to what the next says */
};
const char *lm_problem_name(enum lm_problem_class c);   /* "missing-blob", ... */
/* orphan-blob and stale-temp are what an interrupted write leaves: reported, not failures. */
bool lm_problem_is_error(enum lm_problem_class c);

struct lm_problem {
    enum lm_problem_class cls;
    char *path;                    /* relative to the home: blobs/sha256/..., tmp/..., index.db */
    char digest[65];               /* "" if none */
    char *message;
    char *models;                  /* display names using the blob, ", "-separated, or NULL */
};

struct lm_verify_opts {
    const char *const *names;      /* only these models' blobs (no orphan/temp scan); n 0 = all */
    size_t n_names;
    unsigned threads;              /* 0 = one per online CPU */
    /* Called from the calling thread now and then, and once at the end (done == total). */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *ctx;
};

struct lm_verify_result {
    struct lm_problem *problems;
    size_t n_problems, n_errors;
    uint64_t blobs, bytes;         /* checked */
};

/* -1 only if verify could not run; problems found are in r (and in the audit log). */
int lm_store_verify(struct lm_store *s, const struct lm_verify_opts *o, struct lm_verify_result *r,
                    struct lm_err *err);
void lm_verify_result_release(struct lm_verify_result *r);

/* ---- gc ---------------------------------------------------------------------------------- */

struct lm_gc_item {
    char *path;                    /* relative to the home */
    uint64_t size;
    bool temp;                     /* from tmp/ (else an unreferenced blob) */
};
struct lm_gc_result {
    struct lm_gc_item *items;
    size_t n_items;
    uint64_t bytes;
};
/* Remove unreferenced blobs (files and index rows) and stale temp files; dry_run only lists. */
int lm_store_gc(struct lm_store *s, bool dry_run, struct lm_gc_result *r, struct lm_err *err);
void lm_gc_result_release(struct lm_gc_result *r);

/* ---- the audit log ----------------------------------------------------------------------- */

struct lm_log_entry {
    int64_t seq, time;
    char *user, *command, *action, *subject;
    char *digests;                 /* space-separated 64-hex digests */
    char prev[65], hash[65];
};
struct lm_log {
    struct lm_log_entry *entries;
    size_t n;
    int64_t broken_at;             /* first entry whose chain is broken, 0 if intact */
    char why[256];                 /* what is wrong there */
};
int lm_store_log(struct lm_store *s, struct lm_log *out, struct lm_err *err);
void lm_log_release(struct lm_log *l);
/* Append an entry (its own transaction) for mutations made outside lm_store_add_models. */
int lm_store_audit(struct lm_store *s, const char *action, const char *subject,
                   const char *digests, struct lm_err *err);

/* ---- import ------------------------------------------------------------------------------ */

struct lm_import_result {
    char name[LM_NAME_MAX + 1];    /* display form */
    char manifest[65];
    size_t n_files, n_new, n_linked;   /* files; blobs the store did not have; of those, linked */
    uint64_t bytes, bytes_copied;      /* all files; bytes written as new blobs (not linked) */
};
/* Import a Hugging Face checkpoint directory, a single GGUF file, or a Hugging Face cache
 * snapshot (.../models--ORG--REPO/snapshots/COMMIT: its files are hard-linked from the cache's
 * blobs/ after hashing, and the repo and commit are recorded). name NULL = derived from PATH.
 * Every file is checked before any blob is written: a refused file means nothing is stored. */
int lm_store_import(struct lm_store *s, const char *path, const char *name,
                    struct lm_import_result *r, struct lm_err *err);

/* ---- resumable downloads (partial.c) ----------------------------------------------------- */

/* A blob that arrives in byte ranges, possibly over several runs (lm pull). tmp/pull-KEY.part
 * holds the bytes at their offsets and, past them, a trailer recording how far each chunk got,
 * so a killed download resumes where it stopped; the file is flocked while open and is not
 * removed on SIGINT (gc removes it once no writer holds it). KEY names the expected content:
 * its sha256, or its git blob id (40 hex). Bytes are hashed in order as they become contiguous
 * (kept bytes of an earlier run are re-hashed the same way), and enter blobs/ only through
 * verify (digests, fsync, admission) and then commit (rename).
 *
 * Threads: write, hash and verify may run on different threads; each of them on one thread at
 * a time. open, commit, close and discard on the store handle's thread. */
struct lm_partial;
enum { LM_PARTIAL_GIT_SHA1 = 1 };   /* also compute the git blob id (sha1 of "blob N\0" + bytes) */
/* Open or resume; chunk_size is the preferred chunk (a previous run's layout wins). A file
 * another process holds is LM_EEXIST. */
struct lm_partial *lm_partial_open(struct lm_store *s, const char *key, const char *media_type,
                                   uint64_t size, uint64_t chunk_size, unsigned flags,
                                   const char *label, struct lm_err *err);
/* Bytes an earlier run left for KEY and size (0 if none); creates and locks nothing. */
uint64_t lm_partial_peek(struct lm_store *s, const char *key, uint64_t size);
size_t lm_partial_chunks(const struct lm_partial *p);
/* Chunk i covers [start, end); done bytes from start are on disk. */
void lm_partial_chunk(const struct lm_partial *p, size_t i, uint64_t *start, uint64_t *end,
                      uint64_t *done);
uint64_t lm_partial_kept(const struct lm_partial *p);     /* bytes found on disk at open */
uint64_t lm_partial_hashed(const struct lm_partial *p);   /* contiguous bytes hashed so far */
/* Append to chunk i (at start + done); bytes past its end are LM_ECORRUPT. */
int lm_partial_write(struct lm_partial *p, size_t i, const void *buf, size_t n,
                     struct lm_err *err);
/* Hash up to max contiguous bytes past the hashed point: bytes hashed, 0 if none are ready. */
int64_t lm_partial_hash(struct lm_partial *p, size_t max, struct lm_err *err);
/* Once all is hashed: compare the digests (NULL = any; LM_EDIGEST on a mismatch), cut the
 * trailer, fsync and run admission. The caller discards the partial after a failure. */
int lm_partial_verify(struct lm_partial *p, const char *want_sha256, const char *want_git_sha1,
                      struct lm_err *err);
const char *lm_partial_digest(const struct lm_partial *p);   /* sha256 hex after verify, or NULL */
/* Where the bytes are (tmp/pull-KEY.part): after verify, exactly the file, until commit. */
const char *lm_partial_path(const struct lm_partial *p);
/* Rename the verified bytes into blobs/ (or drop them if the blob exists). Frees p. The
 * rename is durable after lm_partial_sync: commit many, then sync once. */
int lm_partial_commit(struct lm_partial *p, struct lm_blob *out, struct lm_err *err);
int lm_partial_sync(struct lm_store *s, struct lm_err *err);
void lm_partial_close(struct lm_partial *p);     /* keep the bytes for a later run; NULL is fine */
void lm_partial_discard(struct lm_partial *p);   /* remove them; NULL is fine */

/* ---- blobs by upstream digest (upstream.c) ----------------------------------------------- */

/* A blob in the store that a model's provenance records under this upstream digest (algorithm
 * "git-sha1", "sha256", ...) and whose file is present: its sha256 and size. LM_ENOTFOUND if
 * there is none. Lets a pull skip files it has (a git blob id does not name their sha256). */
int lm_blob_by_upstream(struct lm_store *s, const char *algorithm, const char *upstream,
                        char digest[65], uint64_t *size, struct lm_err *err);

/* ---- bundles (bundle*.c; the format is docs/bundle.md) -------------------------------------
 * A bundle is one tar (pax) stream, zstd-compressed or plain: lm-bundle.json (format version,
 * lm version, time, each model's name, manifest, provenance and derivations, every blob's
 * digest, size and media type), an optional lm-bundle.sig (ECDSA over lm-bundle.json), then
 * blobs/sha256/<hex> for each blob, once. */

struct lm_bundle_export_opts {
    const char *const *names;      /* models to export, at least one */
    size_t n_names;
    int level;                     /* zstd level 1..19; 0 = a plain tar */
    unsigned threads;              /* zstd workers; 0 = one per online CPU */
    const char *sign_key;          /* PEM EC private key (P-256/P-384), or NULL */
};

struct lm_bundle_result {
    size_t n_models, n_blobs, n_new;   /* import: n_new = blobs the store did not have */
    uint64_t bytes, bytes_written;     /* blob bytes; bytes of output (export) or new blobs */
    char fingerprint[65];              /* signing key's sha256, "" if unsigned */
    char **names;                      /* display names of the models (free with _release) */
};
void lm_bundle_result_release(struct lm_bundle_result *r);

/* Write a bundle of these models to fd (not closed). Every blob is re-hashed while it is
 * written: a damaged blob fails the export. label names fd in errors. */
int lm_bundle_export(struct lm_store *s, const struct lm_bundle_export_opts *o, int fd,
                     const char *label, struct lm_bundle_result *r, struct lm_err *err);

struct lm_bundle_import_opts {
    bool force;                    /* replace models whose names exist */
    const char *require_sig;       /* PEM public key the bundle must be signed with, or NULL */
    const char *source_url;        /* recorded in the `bundle` provenance record, or NULL */
};
/* Read a bundle from fd (any compression libarchive reads). Blobs are staged in tmp/ while
 * hashed; only when every entry checks out are they moved into blobs/ and the models added, in
 * one transaction. Anything hostile is refused with the store unchanged. */
int lm_bundle_import(struct lm_store *s, int fd, const char *label,
                     const struct lm_bundle_import_opts *o, struct lm_bundle_result *r,
                     struct lm_err *err);

#endif
