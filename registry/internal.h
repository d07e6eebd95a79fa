/* internal.h: what the files of registry/ share with each other. Private to registry/; the
 * module's interface is registry.h. */
#ifndef LM_REGISTRY_INTERNAL_H
#define LM_REGISTRY_INTERNAL_H

#include <curl/curl.h>

#include "registry.h"

#define REG_URL_MAX 4096

/* ---- HTTP engine (http.c): libcurl multi, one thread ---------------------------------------- */

struct http;

struct http_opts {
    const char *token;            /* bearer token or NULL; sent only to the hub origins */
    const char *const *hub;       /* origins (scheme://host:port) that may see the token */
    size_t n_hub;
    unsigned connections;         /* concurrent connections */
    uint64_t limit_rate;          /* bytes per second over all transfers, 0 = none */
};

struct http_req;
struct http_req {
    /* Set by the caller before http_submit. */
    const char *url;              /* where to start; copied */
    const char *hint;             /* a URL this request redirected to before (or NULL): tried
                                     first, and on failure the request starts over at url */
    bool hint_auth;
    bool ranged;                  /* send Range: bytes=range_start-(range_end - 1) */
    uint64_t range_start, range_end;
    const char *label;            /* names the request in errors */
    /* Before each attempt (set the range from progress); -1 fails the request (err set). */
    int (*start)(struct http_req *r);
    /* A 2xx response arrived (status, headers readable); -1 fails the request for good. */
    int (*on_headers)(struct http_req *r);
    /* Body bytes of that response: 0 go on, 1 stop here with success, -1 fail for good. */
    int (*on_body)(struct http_req *r, const char *p, size_t n);
    /* Finished: rc 0 or -1 with err. The request is no longer the engine's. */
    void (*on_done)(struct http_req *r);
    void *ctx;

    /* Set by the engine. */
    char *cur;                    /* the URL of the current attempt (after redirects) */
    bool cur_auth;
    long status;
    int rc;
    struct lm_err err;
    unsigned retries, redirects;
    bool body_seen, headers_done, stop_ok, failed, paused, waiting;
    double wake_at;
    double last_byte;             /* when this attempt last received anything */
    CURL *easy;
    struct curl_slist *hdrs;
    struct lm_buf errbody;        /* body of an error response, for its message */
    char xcode[64];               /* X-Error-Code of a failed response, "" if none */
    char xmsg[LM_QUOTE_MAX + 8];  /* its X-Error-Message or JSON "error", quoted */
    bool from_hub;                /* that response came from a Hub origin, not a CDN */
    struct http *h;
    struct http_req *next;
};

struct http *http_new(const struct http_opts *o, struct lm_err *err);
void http_free(struct http *h);                         /* cancels what is left; NULL is fine */
int http_submit(struct http *h, struct http_req *r);    /* -1: could not start (r->err) */
void http_cancel(struct http *h, struct http_req *r);   /* drop without on_done */
/* Drive transfers for at most timeout_ms; returns how many requests are unfinished. */
size_t http_run(struct http *h, long timeout_ms);
void http_wakeup(struct http *h);                       /* from any thread: end http_run now */
/* Blocking: submit r and run until it is done; returns r->rc. */
int http_do(struct http *h, struct http_req *r);
/* A header of the current response (during on_headers/on_body/on_done): copied into buf with
 * control bytes dropped, or NULL if absent. */
const char *http_header(struct http_req *r, const char *name, char *buf, size_t n);
uint64_t http_received(const struct http *h);          /* body bytes of 2xx responses */

/* "scheme://host[:port]" of url, lowercase, or -1. */
int http_origin(const char *url, char *buf, size_t n);
/* Content-Range "bytes first-last/total": 0 and the numbers, or -1. */
int http_parse_content_range(const char *v, uint64_t *first, uint64_t *last, uint64_t *total);
/* The rel="next" URL of a Link header, or -1 if there is none. */
int http_link_next(const char *v, char *buf, size_t n);
/* Percent-encode s: every byte but A-Z a-z 0-9 - . _ ~ (and '/' if keep_slash). -1 if cut. */
int http_escape(const char *s, bool keep_slash, char *buf, size_t n);

/* ---- the Hub (hf_api.c) ---------------------------------------------------------------- */

struct hf_env {
    char endpoint[1024];          /* no trailing '/' */
    char token[1024];             /* "" if none; wiped by hf_env_release */
    char cache[1024];             /* $HF_HUB_CACHE, or $HF_HOME/hub, ... */
    bool offline;
};
int hf_env_load(struct hf_env *e, struct lm_err *err);
void hf_env_release(struct hf_env *e);
bool hf_truthy(const char *v);

/* Revision -> commit (40 hex) and the listing at that commit. */
int hf_resolve(struct http *h, const struct hf_env *e, const char *repo, const char *rev,
               char commit[41], struct lm_err *err);
int hf_list(struct http *h, const struct hf_env *e, const char *repo, const char *commit,
            struct lm_hf_listing *l, struct lm_err *err);
/* The one line for a Hub error response (401 gated, 404 ...), into err. Returns -1. */
int hf_http_error(const struct http_req *r, const struct hf_env *e, const char *repo,
                  const char *rev, struct lm_err *err);
/* {endpoint}/{repo}/resolve/{commit}/{path}, percent-encoded. */
int hf_resolve_url(const struct hf_env *e, const char *repo, const char *commit,
                   const char *path, char *buf, size_t n);
bool hf_is_commit(const char *rev);                     /* 40 lowercase hex */

/* s is n lowercase hex digits (hf_list.c). */
bool hf_hex(const char *s, size_t n);
/* Append one checked entry (hf_list.c): oid 40 hex, sha256 64 hex or "" / NULL. */
int hf_listing_add(struct lm_hf_listing *l, const char *path, uint64_t size, const char *oid,
                   const char *sha256, const char *label, struct lm_err *err);

/* ---- the local Hugging Face cache (hf_cache.c) -------------------------------------------- */

/* refs/REV of the repo in the cache: 0 and the commit, or -1 (not cached). */
int hf_cache_ref(const struct hf_env *e, const char *repo, const char *rev, char commit[41]);
/* trees/COMMIT.json: 0 and the listing, 1 if absent, -1 on a broken file. */
int hf_cache_tree(const struct hf_env *e, const char *repo, const char *commit,
                  struct lm_hf_listing *l, struct lm_err *err);
/* Take f from the cache (blobs/ETAG, else snapshots/COMMIT/PATH) into the store if it is there
 * and its bytes verify: 0 and the blob, 1 if the cache does not have it right, -1 on an error
 * of the store. */
int hf_cache_take(const struct hf_env *e, struct lm_store *s, const char *repo,
                  const char *commit, const struct lm_hf_file *f, const char *media_type,
                  struct lm_blob *out, struct lm_err *err);

/* ---- downloading (fetch.c) --------------------------------------------------------------- */

struct fetch_item {
    const struct lm_hf_file *f;
    const char *media_type;
    char url[REG_URL_MAX];        /* /resolve/COMMIT/PATH */
    char label[600];              /* ORG/REPO/PATH for errors */
    struct lm_pull_file *pub;     /* progress record to update */
    struct lm_blob blob;          /* result */
    const char *tmp_path;         /* the verified bytes, during fetch_opts.verified only */
};

struct fetch_opts {
    struct lm_store *s;
    const struct http_opts *http; /* for the receivers' own engines */
    unsigned connections;
    void (*tick)(void *ctx);      /* progress: on the calling thread */
    void *ctx;
    uint64_t *received;           /* updated before each tick (may be NULL) */
    /* A file request the Hub refused with a 4xx: put the one line for it into err, as for the
     * API calls (may be NULL; called on a receiver thread). */
    void (*http_error)(void *ctx, const struct http_req *r, struct lm_err *err);
    /* Called once every item verified and before any is renamed (may be NULL): -1 refuses
     * them all (err set) and their bytes are removed. */
    int (*verified)(void *ctx, const struct fetch_item *items, size_t n, struct lm_err *err);
};

/* Download, verify and store every item. Blobs are renamed into the store only when all of
 * them verified and o->verified agreed. kept/received get the bytes resumed from disk and received now. */
int fetch_all(const struct fetch_opts *o, struct fetch_item *items, size_t n, uint64_t *kept,
              uint64_t *received, struct lm_err *err);

#endif
