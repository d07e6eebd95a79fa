/* bundle_int.h: what the bundle files of store/ share (the bundle manifest in memory). Private;
 * the interface is store.h's BUNDLE section, the format is docs/bundle.md. */
#ifndef LM_STORE_BUNDLE_INT_H
#define LM_STORE_BUNDLE_INT_H

#include <jansson.h>
#include <pthread.h>

#include "internal.h"

#define BUNDLE_FORMAT "lm-bundle"
#define BUNDLE_VERSION 1
#define BUNDLE_MANIFEST_NAME "lm-bundle.json"
#define BUNDLE_SIG_NAME "lm-bundle.sig"
#define BUNDLE_BLOB_PREFIX "blobs/sha256/"
#define BUNDLE_MANIFEST_MAX (16u << 20)   /* thousands of models' provenance fit in 16 MiB */
#define BUNDLE_SIG_MAX 1024u              /* a DER ECDSA P-384 signature is under 110 bytes */
#define BUNDLE_MODELS_MAX 4096
#define BUNDLE_BLOBS_MAX 65536
#define BUNDLE_PROV_MAX 256               /* records per model */
#define BUNDLE_DERIVS_MAX 256
#define BUNDLE_CHUNK (1u << 20)           /* one write (and one LM_FAULT_AT step) per MiB */

struct bundle_blob {
    char digest[65];
    uint64_t size;
    const char *media_type;        /* points into the manifest's JSON */
    /* import state */
    bool used, seen, present, renamed;   /* by a model; in the archive; already in blobs/;
                                         * moved there by us */
    int fd;
    char tmp[STORE_PATH_MAX];      /* staged copy in tmp/, "" if none */
};

struct bundle_prov {
    struct lm_provenance p;        /* strings point into the manifest's JSON */
    int64_t time;
    const char *lm_version;
};

struct bundle_deriv {
    struct lm_derivation d;
    const char *output_manifest;
    int64_t time;
    const char *lm_version;
};

struct bundle_model {
    const char *name;              /* as the source store spells it (full form) */
    char full[LM_NAME_MAX + 1];    /* parsed: the form names compare in */
    char manifest[65];
    const char *body;              /* the canonical manifest bytes */
    struct lm_layer *layers;
    size_t n_layers;
    struct bundle_prov *prov;
    size_t n_prov;
    struct bundle_deriv *derivs;
    size_t n_derivs;
};

struct bundle_manifest {
    json_t *root;                  /* owns every string above, with keep */
    json_t *keep;                  /* the parsed manifest bodies (layer strings) */
    int64_t created;
    const char *lm_version;
    struct bundle_model *models;
    size_t n_models;
    struct bundle_blob *blobs;
    size_t n_blobs;
    uint64_t bytes;                /* sum of blob sizes */
};

/* The import's second thread: hashes and writes what the reading thread decompressed
 * (bundle_lane.c). One blob at a time: begin, put..., end (which waits until all is written). */
#define BUNDLE_LANE_BUFS 4
struct bundle_lane {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;                      /* any change of n_full or failed */
    uint8_t *buf[BUNDLE_LANE_BUFS];         /* BUNDLE_CHUNK bytes each */
    size_t len[BUNDLE_LANE_BUFS];
    size_t head, n_full;                    /* the lane's slots: head .. head + n_full - 1 */
    size_t fill, fill_len;                  /* the reader's slot and how full it is */
    bool started, quit, failed;
    /* the current blob: set while the lane is idle, read back after it drained */
    int fd;                                 /* -1: hash only (the store has the blob) */
    const char *path;
    struct lm_sha256 *h;
    uint64_t got, nul_at;
    struct lm_err err;
};
int bundle_lane_start(struct bundle_lane *l, struct lm_err *err);
void bundle_lane_stop(struct bundle_lane *l);   /* joins the thread; safe after a failed start */
void bundle_lane_begin(struct bundle_lane *l, int fd, const char *path);
int bundle_lane_put(struct bundle_lane *l, const void *p, size_t n);   /* -1: see _end */
/* Wait until the lane has written everything: digest, bytes, first NUL (UINT64_MAX if none). */
int bundle_lane_end(struct bundle_lane *l, char hex[65], uint64_t *got, uint64_t *nul_at,
                    struct lm_err *err);

/* Parse and check a bundle manifest (hostile bytes; errors name `label`). */
int bundle_manifest_parse(struct bundle_manifest *bm, const char *text, size_t len,
                          const char *label, struct lm_err *err);
void bundle_manifest_release(struct bundle_manifest *bm);
/* The manifest of these models (export): malloc'd compact JSON; blobs gets every distinct blob
 * in the order first used (digests and sizes; media types point into models). */
char *bundle_manifest_build(struct lm_model *const *models, size_t n, int64_t created,
                            struct bundle_blob **blobs, size_t *n_blobs, struct lm_err *err);
/* The blob with this digest, or NULL (blobs are sorted by digest once parsed). */
struct bundle_blob *bundle_find_blob(struct bundle_manifest *bm, const char *hex);

/* Add the bundle's models in one transaction, keeping their provenance and derivation records
 * as the source recorded them, plus one `bundle` provenance record (bundle_add.c). Without
 * force, a name taken by another manifest fails the transaction (LM_EEXIST). */
int bundle_add_models(struct lm_store *s, const struct bundle_manifest *bm,
                      const struct lm_provenance *via, bool force, struct lm_err *err);

/* ECDSA (P-256 with SHA-256, P-384 with SHA-384) over the manifest bytes (bundle_sign.c).
 * fingerprint: sha256 hex of the public key's DER SubjectPublicKeyInfo. */
int bundle_sign(const char *key_pem, const void *msg, size_t len, unsigned char *sig,
                size_t *sig_len, char fingerprint[65], struct lm_err *err);
int bundle_verify_sig(const char *pub_pem, const void *msg, size_t len, const unsigned char *sig,
                      size_t sig_len, const char *label, char fingerprint[65], struct lm_err *err);

#endif
