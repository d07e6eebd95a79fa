/* mock_hf: a mock Hugging Face Hub for tests, on libmicrohttpd (shared/specs/hf-hub.md): the
 * API (model info by revision, the recursive tree with Link pagination), /resolve with LFS files
 * redirected to a second "CDN" server on another port and plain files redirected to
 * /api/resolve-cache, Range requests, private and gated repositories, fault injection and byte
 * counters. Both servers bind 127.0.0.1 port 0. */
#ifndef LM_MOCK_HF_H
#define LM_MOCK_HF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MOCK_TOKEN "hf_mockValidToken"          /* any private or gated repo's owner */
#define MOCK_TOKEN_GRANTED "hf_mockGrantedToken" /* has accepted the gated repos' licenses */

enum mock_access { MOCK_PUBLIC, MOCK_PRIVATE, MOCK_GATED };

enum mock_fault {
    MOCK_500,          /* answer 500 */
    MOCK_429,          /* answer 429 with Retry-After: secs */
    MOCK_DROP,         /* close the connection after `at` body bytes of a response */
    MOCK_WRONG,        /* flip the byte at file offset `at` */
    MOCK_SHORT,        /* serve the file `at` bytes shorter than the listing says */
    MOCK_STALL,        /* after `at` body bytes of a response, send nothing for secs (< 0:
                          until mock_hf_release), then drop the connection */
    MOCK_NO_RANGE,     /* ignore Range: 200 with the whole file */
    MOCK_MOVE_BRANCH,  /* after a tree listing is served, point "main" at commit `at` */
    MOCK_DENY,         /* the Hub's /resolve answers HTTP `at` for the file, as it does for
                          a gated repo's files (401, 403: GatedRepo) or a missing entry (404:
                          EntryNotFound); the API calls still work */
};

struct mock_hf;

struct mock_stats {
    uint64_t file_bytes;          /* body bytes of file data handed to the sockets */
    unsigned api_requests, file_requests, cdn_requests;
    unsigned cdn_auth;            /* CDN requests that carried an Authorization header */
    unsigned hub_auth;            /* Hub requests with a token */
    unsigned stalled;             /* responses in a MOCK_STALL now */
};

struct mock_hf *mock_hf_new(void);              /* NULL if the servers cannot start */
void mock_hf_free(struct mock_hf *m);
const char *mock_hf_endpoint(const struct mock_hf *m);   /* http://127.0.0.1:PORT */
const char *mock_hf_cdn(const struct mock_hf *m);

int mock_hf_repo(struct mock_hf *m, const char *id, enum mock_access access);
/* A new commit of the repo holding the files of its last commit; its index. */
int mock_hf_commit(struct mock_hf *m, int repo);
const char *mock_hf_sha(const struct mock_hf *m, int repo, int commit);
void mock_hf_ref(struct mock_hf *m, int repo, const char *name, int commit);
/* Add (or replace) a file of a commit; data is copied. LFS files go through the CDN. */
int mock_hf_add(struct mock_hf *m, int repo, int commit, const char *path, const void *data,
                size_t len, bool lfs);
/* The same from a file on disk, mapped (sendfile: served with sendfile, no faults apply). */
int mock_hf_add_path(struct mock_hf *m, int repo, int commit, const char *path,
                     const char *fs_path, bool lfs, bool sendfile);
/* Every regular top-level file of dir (LFS: .safetensors, .gguf, .model or over 10 MiB). */
int mock_hf_add_dir(struct mock_hf *m, int repo, int commit, const char *dir, bool sendfile);
void mock_hf_remove(struct mock_hf *m, int repo, int commit, const char *path);
/* The sha256 / git blob id of a file, as the listing gives them ("" if not LFS). */
const char *mock_hf_file_sha256(const struct mock_hf *m, int repo, int commit, const char *path);

/* glob matches the file path (fnmatch), or "@api" for the API requests; times < 0: always. */
void mock_hf_fault(struct mock_hf *m, enum mock_fault kind, const char *glob, int times,
                   uint64_t at, double secs);
void mock_hf_clear_faults(struct mock_hf *m);
void mock_hf_release(struct mock_hf *m);        /* end the current and future stalls */
void mock_hf_options(struct mock_hf *m, bool cdn, unsigned page_size);
/* Cap every file response at bytes_per_s per connection (0: no cap), as Hub and CDN links are
 * capped per connection; the API answers are not capped. */
void mock_hf_conn_rate(struct mock_hf *m, uint64_t bytes_per_s);
void mock_hf_stats(struct mock_hf *m, struct mock_stats *s);
/* sha1("blob N\0" + bytes): what git and the Hub call the file. */
void mock_hf_git_blob_id(const void *p, size_t n, char out[41]);
void mock_hf_reset_stats(struct mock_hf *m);

#endif
