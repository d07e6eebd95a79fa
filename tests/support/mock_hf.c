/* mock_hf.c: the mock Hugging Face Hub of the pull tests and the pull benchmark. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "mock_hf.h"

#define MAX_REPOS 16
#define MAX_COMMITS 8
#define MAX_REFS 8
#define MAX_FAULTS 16
#define LFS_MIN (10u << 20)
/* A capped response goes out in pieces of at most this, so its pace is smooth; the bucket holds
 * up to RATE_BURST bytes, so a late wake-up is caught up on. */
#define RATE_PIECE (64u << 10)
#define RATE_BURST (256u << 10)

struct mfile {
    char *path;
    const uint8_t *data;
    size_t len;
    bool lfs, mapped, owned;
    int fd;                        /* >= 0: serve with sendfile */
    char sha256[65], oid[41];      /* oid: git blob id (of the pointer file for LFS) */
    size_t pointer_size;
};

struct mcommit {
    char sha[41];
    struct mfile **files;          /* shared between commits; owned by the mock's pool */
    size_t n;
};

struct mrepo {
    char id[200];
    enum mock_access access;
    struct mcommit commits[MAX_COMMITS];
    int n_commits;
    char ref_name[MAX_REFS][64];
    int ref_commit[MAX_REFS];
    int n_refs;
};

struct mfault {
    enum mock_fault kind;
    char glob[256];
    int times;
    uint64_t at;
    double secs;
};

struct server {
    struct mock_hf *m;
    struct MHD_Daemon *d;
    bool cdn;
    char url[64];
};

struct mock_hf {
    struct server hub, cdn;
    pthread_mutex_t mu;
    struct mrepo repos[MAX_REPOS];
    int n_repos;
    struct mfile **pool;           /* every file ever added: freed at the end */
    size_t n_pool;
    struct mfault faults[MAX_FAULTS];
    int n_faults;
    bool use_cdn;
    unsigned page_size;
    uint64_t conn_rate;            /* bytes per second per connection, 0 = no cap */
    atomic_bool released, stopping;
    atomic_uint_fast64_t file_bytes;
    atomic_uint api_requests, file_requests, cdn_requests, cdn_auth, hub_auth, stalled;
};

/* ---- hashing ------------------------------------------------------------------------------ */

static void hexs(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

void mock_hf_git_blob_id(const void *p, size_t n, char out[41])
{
    char hdr[40];
    uint8_t d[20];
    unsigned dn;
    int hn = snprintf(hdr, sizeof(hdr), "blob %zu", n);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha1(), NULL);
    EVP_DigestUpdate(c, hdr, (size_t)hn + 1);
    EVP_DigestUpdate(c, p, n);
    EVP_DigestFinal_ex(c, d, &dn);
    EVP_MD_CTX_free(c);
    hexs(d, 20, out);
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    uint8_t d[32];
    unsigned dn;
    EVP_Digest(p, n, d, &dn, EVP_sha256(), NULL);
    hexs(d, 32, out);
}

static void describe(struct mfile *f)
{
    if (f->lfs) {
        char ptr[256];
        sha256_hex(f->data, f->len, f->sha256);
        int n = snprintf(ptr, sizeof(ptr),
                         "version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %zu\n",
                         f->sha256, f->len);
        f->pointer_size = (size_t)n;
        mock_hf_git_blob_id(ptr, (size_t)n, f->oid);
    } else {
        f->sha256[0] = 0;
        mock_hf_git_blob_id(f->data, f->len, f->oid);
    }
}

/* ---- building repositories ---------------------------------------------------------------- */

int mock_hf_repo(struct mock_hf *m, const char *id, enum mock_access access)
{
    pthread_mutex_lock(&m->mu);
    int r = m->n_repos++;
    struct mrepo *rp = &m->repos[r];
    snprintf(rp->id, sizeof(rp->id), "%s", id);
    rp->access = access;
    pthread_mutex_unlock(&m->mu);
    int c = mock_hf_commit(m, r);
    mock_hf_ref(m, r, "main", c);
    return r;
}

int mock_hf_commit(struct mock_hf *m, int repo)
{
    pthread_mutex_lock(&m->mu);
    struct mrepo *rp = &m->repos[repo];
    int c = rp->n_commits++;
    struct mcommit *mc = &rp->commits[c];
    char seed[256];
    snprintf(seed, sizeof(seed), "%s@%d", rp->id, c);
    mock_hf_git_blob_id(seed, strlen(seed), mc->sha);
    if (c > 0) {
        struct mcommit *prev = &rp->commits[c - 1];
        mc->files = calloc(prev->n + 1, sizeof(*mc->files));
        memcpy(mc->files, prev->files, prev->n * sizeof(*mc->files));
        mc->n = prev->n;
    }
    pthread_mutex_unlock(&m->mu);
    return c;
}

const char *mock_hf_sha(const struct mock_hf *m, int repo, int commit)
{
    return m->repos[repo].commits[commit].sha;
}

void mock_hf_ref(struct mock_hf *m, int repo, const char *name, int commit)
{
    pthread_mutex_lock(&m->mu);
    struct mrepo *rp = &m->repos[repo];
    int i = 0;
    while (i < rp->n_refs && strcmp(rp->ref_name[i], name) != 0)
        i++;
    if (i == rp->n_refs && rp->n_refs < MAX_REFS)
        snprintf(rp->ref_name[rp->n_refs++], sizeof(rp->ref_name[0]), "%s", name);
    if (i < MAX_REFS)
        rp->ref_commit[i] = commit;
    pthread_mutex_unlock(&m->mu);
}

void mock_hf_remove(struct mock_hf *m, int repo, int commit, const char *path)
{
    pthread_mutex_lock(&m->mu);
    struct mcommit *mc = &m->repos[repo].commits[commit];
    for (size_t i = 0; i < mc->n; i++) {
        if (strcmp(mc->files[i]->path, path) == 0) {
            memmove(&mc->files[i], &mc->files[i + 1], (mc->n - i - 1) * sizeof(*mc->files));
            mc->n--;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
}

static int put(struct mock_hf *m, int repo, int commit, struct mfile *f)
{
    describe(f);
    mock_hf_remove(m, repo, commit, f->path);
    pthread_mutex_lock(&m->mu);
    struct mcommit *mc = &m->repos[repo].commits[commit];
    mc->files = realloc(mc->files, (mc->n + 1) * sizeof(*mc->files));
    mc->files[mc->n++] = f;
    m->pool = realloc(m->pool, (m->n_pool + 1) * sizeof(*m->pool));
    m->pool[m->n_pool++] = f;
    pthread_mutex_unlock(&m->mu);
    return 0;
}

int mock_hf_add(struct mock_hf *m, int repo, int commit, const char *path, const void *data,
                size_t len, bool lfs)
{
    struct mfile *f = calloc(1, sizeof(*f));
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, data, len);
    f->path = strdup(path);
    f->data = copy;
    f->owned = true;
    f->len = len;
    f->lfs = lfs;
    f->fd = -1;
    return put(m, repo, commit, f);
}

int mock_hf_add_path(struct mock_hf *m, int repo, int commit, const char *path,
                     const char *fs_path, bool lfs, bool sendfile)
{
    struct stat st;
    int fd = open(fs_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct mfile *f = calloc(1, sizeof(*f));
    f->path = strdup(path);
    f->len = (size_t)st.st_size;
    f->data = f->len ? mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0) : (const uint8_t *)"";
    f->mapped = f->len > 0;
    f->lfs = lfs;
    f->fd = sendfile ? fd : -1;
    if (!sendfile)
        close(fd);
    return put(m, repo, commit, f);
}

int mock_hf_add_dir(struct mock_hf *m, int repo, int commit, const char *dir, bool sendfile)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[2048];
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        struct stat st;
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        if (e->d_name[0] == '.' || stat(p, &st) < 0 || !S_ISREG(st.st_mode))
            continue;
        size_t n = strlen(e->d_name);
        bool lfs = (size_t)st.st_size > LFS_MIN ||
                   (n > 12 && strcmp(e->d_name + n - 12, ".safetensors") == 0) ||
                   (n > 5 && strcmp(e->d_name + n - 5, ".gguf") == 0) ||
                   (n > 6 && strcmp(e->d_name + n - 6, ".model") == 0);
        if (mock_hf_add_path(m, repo, commit, e->d_name, p, lfs, sendfile)) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    return 0;
}

static struct mfile *find_file(struct mcommit *c, const char *path)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->files[i]->path, path) == 0)
            return c->files[i];
    return NULL;
}

const char *mock_hf_file_sha256(const struct mock_hf *m, int repo, int commit, const char *path)
{
    struct mfile *f = find_file((struct mcommit *)&m->repos[repo].commits[commit], path);
    return f ? f->sha256 : NULL;
}

/* ---- faults and stats --------------------------------------------------------------------- */

void mock_hf_fault(struct mock_hf *m, enum mock_fault kind, const char *glob, int times,
                   uint64_t at, double secs)
{
    pthread_mutex_lock(&m->mu);
    if (m->n_faults < MAX_FAULTS) {
        struct mfault *f = &m->faults[m->n_faults++];
        f->kind = kind;
        snprintf(f->glob, sizeof(f->glob), "%s", glob);
        f->times = times;
        f->at = at;
        f->secs = secs;
    }
    pthread_mutex_unlock(&m->mu);
}

void mock_hf_clear_faults(struct mock_hf *m)
{
    pthread_mutex_lock(&m->mu);
    m->n_faults = 0;
    pthread_mutex_unlock(&m->mu);
}

void mock_hf_release(struct mock_hf *m)
{
    m->released = true;
}

void mock_hf_options(struct mock_hf *m, bool cdn, unsigned page_size)
{
    pthread_mutex_lock(&m->mu);
    m->use_cdn = cdn;
    m->page_size = page_size ? page_size : 1000;
    pthread_mutex_unlock(&m->mu);
}

void mock_hf_conn_rate(struct mock_hf *m, uint64_t bytes_per_s)
{
    pthread_mutex_lock(&m->mu);
    m->conn_rate = bytes_per_s;
    pthread_mutex_unlock(&m->mu);
}

void mock_hf_stats(struct mock_hf *m, struct mock_stats *s)
{
    s->file_bytes = m->file_bytes;
    s->api_requests = m->api_requests;
    s->file_requests = m->file_requests;
    s->cdn_requests = m->cdn_requests;
    s->cdn_auth = m->cdn_auth;
    s->hub_auth = m->hub_auth;
    s->stalled = m->stalled;
}

void mock_hf_reset_stats(struct mock_hf *m)
{
    m->file_bytes = 0;
    m->api_requests = m->file_requests = m->cdn_requests = m->cdn_auth = m->hub_auth = 0;
}

/* The faults that apply to a request for `what`, each used up once. */
static int take_faults(struct mock_hf *m, const char *what, struct mfault *out)
{
    int n = 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_faults; i++) {
        struct mfault *f = &m->faults[i];
        if (f->times == 0 || f->kind == MOCK_MOVE_BRANCH || f->kind == MOCK_DENY ||
            fnmatch(f->glob, what, 0) != 0)
            continue;
        if (f->times > 0)
            f->times--;
        out[n++] = *f;
    }
    pthread_mutex_unlock(&m->mu);
    return n;
}

/* The status a MOCK_DENY fault gives the file at path (used up once), or 0. */
static unsigned take_deny(struct mock_hf *m, const char *path)
{
    unsigned status = 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < m->n_faults && !status; i++) {
        struct mfault *f = &m->faults[i];
        if (f->times == 0 || f->kind != MOCK_DENY || fnmatch(f->glob, path, 0) != 0)
            continue;
        if (f->times > 0)
            f->times--;
        status = (unsigned)f->at;
    }
    pthread_mutex_unlock(&m->mu);
    return status;
}

/* ---- responses ---------------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *body, const char *xcode, const char *xmsg)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "X-Request-Id", "Root=1-mock");
    if (xcode)
        MHD_add_response_header(r, "X-Error-Code", xcode);
    if (xmsg)
        MHD_add_response_header(r, "X-Error-Message", xmsg);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *xcode,
                                  const char *msg)
{
    json_t *o = json_pack("{s:s}", "error", msg);
    char *body = json_dumps(o, JSON_COMPACT);
    enum MHD_Result rc = send_text(c, status, "application/json", body, xcode, msg);
    free(body);
    json_decref(o);
    return rc;
}

static enum MHD_Result send_json(struct MHD_Connection *c, json_t *o, const char *link)
{
    char *body = json_dumps(o, JSON_COMPACT);
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body,
                                                             MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "RateLimit", "\"api\";r=499;t=300");
    if (link)
        MHD_add_response_header(r, "Link", link);
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    json_decref(o);
    return rc;
}

struct body {
    struct mock_hf *m;
    const uint8_t *data;
    uint64_t start, len, sent;
    int64_t wrong_at, drop_after, stall_after;
    double stall_secs;
    bool stalled;
    uint64_t rate;                 /* bytes per second, 0 = as fast as the socket takes them */
    double tokens, refilled;       /* the token bucket of the rate */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait until the bucket holds n bytes, then take them. A connection carries one response at a
 * time (no pipelining), so a bucket per response caps the connection; each starts full, so
 * back-to-back responses get RATE_BURST more each (under 2% of a 16 MiB range). The reader
 * sleeps: one returning 0 is called again at once (a busy loop, microhttpd.h), and connections
 * cannot be suspended in thread-per-connection mode; sleeping blocks only this one's thread. */
static void pace(struct body *b, uint64_t n)
{
    for (;;) {
        double now = now_s();
        b->tokens += (now - b->refilled) * (double)b->rate;
        if (b->tokens > RATE_BURST)
            b->tokens = RATE_BURST;
        b->refilled = now;
        if (b->tokens >= (double)n || b->m->stopping)
            break;
        double wait = ((double)n - b->tokens) / (double)b->rate;
        usleep(wait > 0.01 ? 10000 : (useconds_t)(wait * 1e6) + 1);
    }
    b->tokens -= (double)n;
}

static void stall(struct mock_hf *m, double secs)
{
    m->stalled++;
    for (double t = 0; !m->stopping && (secs < 0 ? !m->released : t < secs); t += 0.01)
        usleep(10000);
}

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct body *b = cls;
    if (pos >= b->len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    uint64_t n = b->len - pos < max ? b->len - pos : max;
    if (b->drop_after >= 0) {
        if (pos >= (uint64_t)b->drop_after)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (n > (uint64_t)b->drop_after - pos)
            n = (uint64_t)b->drop_after - pos;
    }
    if (b->stall_after >= 0 && !b->stalled) {
        if (pos >= (uint64_t)b->stall_after) {
            b->stalled = true;
            stall(b->m, b->stall_secs);
            /* By now the client gave up on us (its stall timeout), or the test killed it:
             * send nothing more, so the byte count holds only what a client could read. */
            b->m->stalled--;
            return MHD_CONTENT_READER_END_WITH_ERROR;
        } else if (n > (uint64_t)b->stall_after - pos) {
            n = (uint64_t)b->stall_after - pos;
        }
    }
    if (b->rate) {
        if (n > RATE_PIECE)
            n = RATE_PIECE;
        pace(b, n);
    }
    memcpy(buf, b->data + b->start + pos, n);
    if (b->wrong_at >= 0 && (uint64_t)b->wrong_at >= b->start + pos &&
        (uint64_t)b->wrong_at < b->start + pos + n)
        buf[(uint64_t)b->wrong_at - b->start - pos] ^= 0x5a;
    b->m->file_bytes += n;
    return (ssize_t)n;
}

/* "bytes=a-b" or "bytes=a-": 0 and [first, last], -1 if absent or not understood. */
static int parse_range(const char *v, uint64_t len, uint64_t *first, uint64_t *last)
{
    unsigned long long a, b;
    char dash;
    if (!v || strncmp(v, "bytes=", 6) != 0)
        return -1;
    if (sscanf(v + 6, "%llu-%llu", &a, &b) == 2) {
        *first = a;
        *last = b < len ? b : len - 1;
        return 0;
    }
    if (sscanf(v + 6, "%llu%c", &a, &dash) == 2 && dash == '-') {
        *first = a;
        *last = len ? len - 1 : 0;
        return 0;
    }
    return -1;
}

static enum MHD_Result serve_file(struct mock_hf *m, struct MHD_Connection *c,
                                  const struct mfile *f, const char *etag, const char *commit)
{
    struct mfault fl[MAX_FAULTS];
    int nf = f->fd >= 0 ? 0 : take_faults(m, f->path, fl);
    uint64_t len = f->len, first = 0, last = len ? len - 1 : 0;
    bool no_range = false;
    struct body *b = calloc(1, sizeof(*b));
    b->m = m;
    b->data = f->data;
    b->wrong_at = b->drop_after = b->stall_after = -1;
    m->file_requests++;
    for (int i = 0; i < nf; i++) {
        switch (fl[i].kind) {
        case MOCK_500:
            free(b);
            return send_error(c, 500, NULL, "Internal Error - We're working hard to fix this");
        case MOCK_429: {
            char ra[32];
            snprintf(ra, sizeof(ra), "%d", (int)fl[i].secs);
            struct MHD_Response *r = MHD_create_response_from_buffer(
                0, (void *)"", MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(r, "Retry-After", ra);
            MHD_add_response_header(r, "RateLimit", "\"resolvers\";r=0;t=1");
            enum MHD_Result rc = MHD_queue_response(c, 429, r);
            MHD_destroy_response(r);
            free(b);
            return rc;
        }
        case MOCK_DROP: b->drop_after = (int64_t)fl[i].at; break;
        case MOCK_WRONG: b->wrong_at = (int64_t)fl[i].at; break;
        case MOCK_SHORT: len = fl[i].at < len ? len - fl[i].at : 0; break;
        case MOCK_STALL: b->stall_after = (int64_t)fl[i].at; b->stall_secs = fl[i].secs; break;
        case MOCK_NO_RANGE: no_range = true; break;
        case MOCK_MOVE_BRANCH: break;
        case MOCK_DENY: break;
        }
    }
    const char *rh = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Range");
    unsigned status = MHD_HTTP_OK;
    last = len ? len - 1 : 0;
    if (!no_range && parse_range(rh, len, &first, &last) == 0) {
        if (first >= len || first > last) {
            free(b);
            char cr[64];
            snprintf(cr, sizeof(cr), "bytes */%llu", (unsigned long long)len);
            struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                                     MHD_RESPMEM_PERSISTENT);
            MHD_add_response_header(r, "Content-Range", cr);
            enum MHD_Result rc = MHD_queue_response(c, 416, r);
            MHD_destroy_response(r);
            return rc;
        }
        status = MHD_HTTP_PARTIAL_CONTENT;
    } else {
        first = 0;
    }
    uint64_t n = len ? last - first + 1 : 0;
    struct MHD_Response *r;
    pthread_mutex_lock(&m->mu);
    b->rate = m->conn_rate;
    pthread_mutex_unlock(&m->mu);
    b->tokens = RATE_BURST;
    b->refilled = now_s();
    if (f->fd >= 0 && !b->rate) {   /* sendfile cannot be paced */
        free(b);
        r = MHD_create_response_from_fd_at_offset64(n, dup(f->fd), first);
        m->file_bytes += n;
    } else {
        b->start = first;
        b->len = n;
        r = MHD_create_response_from_callback(n, 256 * 1024, body_read, b, free);
    }
    char cr[96], et[80];
    if (status == MHD_HTTP_PARTIAL_CONTENT) {
        snprintf(cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)first,
                 (unsigned long long)last, (unsigned long long)len);
        MHD_add_response_header(r, "Content-Range", cr);
    }
    snprintf(et, sizeof(et), "\"%s\"", etag);
    MHD_add_response_header(r, "ETag", et);
    MHD_add_response_header(r, "Accept-Ranges", "bytes");
    if (commit)
        MHD_add_response_header(r, "X-Repo-Commit", commit);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- the Hub's routes --------------------------------------------------------------------- */

/* Authorization for a repo: 0 go on, else the response was queued (*rc). */
static int check_access(struct mock_hf *m, struct MHD_Connection *c, const struct mrepo *rp,
                        const char *id, enum MHD_Result *rc)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    bool has = auth && strncmp(auth, "Bearer ", 7) == 0;
    const char *tok = has ? auth + 7 : "";
    bool valid = strcmp(tok, MOCK_TOKEN) == 0 || strcmp(tok, MOCK_TOKEN_GRANTED) == 0;
    char msg[512];
    if (has)
        m->hub_auth++;
    if (has && !valid) {
        *rc = send_error(c, 401, NULL, "Invalid credentials in Authorization header");
        return -1;
    }
    if (!rp || (rp->access == MOCK_PRIVATE && !valid)) {
        snprintf(msg, sizeof(msg), "Repository Not Found for url: %s/api/models/%s.",
                 m->hub.url, id);
        *rc = send_error(c, valid ? 404 : 401, "RepoNotFound", msg);
        return -1;
    }
    if (rp->access == MOCK_GATED && strcmp(tok, MOCK_TOKEN_GRANTED) != 0) {
        if (valid)
            snprintf(msg, sizeof(msg), "Access to model %s is restricted and you are not in the "
                     "authorized list. Visit https://huggingface.co/%s to ask for access.", id, id);
        else
            snprintf(msg, sizeof(msg), "Access to model %s is restricted. You must have access to "
                     "it and be authenticated to access it. Please log in.", id);
        *rc = send_error(c, valid ? 403 : 401, "GatedRepo", msg);
        return -1;
    }
    return 0;
}

/* url holds "ORG/NAME" then "/" or the end: the repo (locked by the caller) and the rest. */
static struct mrepo *repo_of(struct mock_hf *m, const char *url, char *id, size_t idn,
                             const char **rest)
{
    const char *s1 = strchr(url, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    size_t n = s2 ? (size_t)(s2 - url) : strlen(url);
    snprintf(id, idn, "%.*s", (int)n, url);
    *rest = url + n;
    for (int i = 0; i < m->n_repos; i++)
        if (strcmp(m->repos[i].id, id) == 0)
            return &m->repos[i];
    return NULL;
}

static int commit_of(const struct mrepo *rp, const char *rev)
{
    for (int i = 0; i < rp->n_refs; i++)
        if (strcmp(rp->ref_name[i], rev) == 0)
            return rp->ref_commit[i];
    for (int i = 0; i < rp->n_commits; i++)
        if (strcmp(rp->commits[i].sha, rev) == 0)
            return i;
    return -1;
}

/* Unlocks: the caller held the lock while it looked the revision up. */
static enum MHD_Result no_revision(struct mock_hf *m, struct MHD_Connection *c, const char *rev)
{
    char msg[600];
    pthread_mutex_unlock(&m->mu);
    snprintf(msg, sizeof(msg), "Invalid rev id: %s", rev);
    return send_error(c, 404, "RevisionNotFound", msg);
}

static json_t *tree_entry(const struct mfile *f)
{
    json_t *o = json_pack("{s:s,s:s,s:I,s:s}", "type", "file", "oid", f->oid, "size",
                          (json_int_t)f->len, "path", f->path);
    if (f->lfs)
        json_object_set_new(o, "lfs", json_pack("{s:s,s:I,s:I}", "oid", f->sha256, "size",
                                                (json_int_t)f->len, "pointerSize",
                                                (json_int_t)f->pointer_size));
    return o;
}

static enum MHD_Result api(struct mock_hf *m, struct MHD_Connection *c, const char *url)
{
    char id[256], rev[512], msg[700];
    const char *rest;
    struct mfault fl[MAX_FAULTS];
    enum MHD_Result rc;
    m->api_requests++;
    int nf = take_faults(m, "@api", fl);
    for (int i = 0; i < nf; i++) {
        if (fl[i].kind == MOCK_500)
            return send_error(c, 500, NULL, "Internal Error");
        if (fl[i].kind == MOCK_429) {
            struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                                     MHD_RESPMEM_PERSISTENT);
            snprintf(msg, sizeof(msg), "%d", (int)fl[i].secs);
            MHD_add_response_header(r, "Retry-After", msg);
            rc = MHD_queue_response(c, 429, r);
            MHD_destroy_response(r);
            return rc;
        }
    }
    pthread_mutex_lock(&m->mu);
    struct mrepo *rp = repo_of(m, url, id, sizeof(id), &rest);
    if (check_access(m, c, rp, id, &rc)) {
        pthread_mutex_unlock(&m->mu);
        return rc;
    }
    bool tree = strncmp(rest, "/tree/", 6) == 0;
    if (strncmp(rest, "/revision/", 10) == 0)
        snprintf(rev, sizeof(rev), "%s", rest + 10);
    else if (tree)
        snprintf(rev, sizeof(rev), "%.*s", (int)strcspn(rest + 6, "/"), rest + 6);
    else if (!*rest)
        snprintf(rev, sizeof(rev), "main");
    else {
        pthread_mutex_unlock(&m->mu);
        return send_error(c, 404, NULL, "Sorry, we can't find the page you are looking for.");
    }
    int ci = commit_of(rp, rev);
    if (ci < 0)
        return no_revision(m, c, rev);
    struct mcommit *mc = &rp->commits[ci];
    char link[1200];
    link[0] = 0;
    json_t *doc;
    if (tree) {
        const char *cur = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
        size_t start = cur ? strtoul(cur, NULL, 10) : 0, end = start + m->page_size;
        doc = json_array();
        if (start == 0)   /* directories come in the listing too; the client skips them */
            for (size_t i = 0; i < mc->n; i++)
                if (strchr(mc->files[i]->path, '/')) {
                    json_array_append_new(doc, json_pack("{s:s,s:s,s:i,s:s}", "type", "directory",
                                          "oid", mc->sha, "size", 0, "path", "subdir"));
                    break;
                }
        for (size_t i = start; i < mc->n && i < end; i++)
            json_array_append_new(doc, tree_entry(mc->files[i]));
        if (end < mc->n)
            snprintf(link, sizeof(link), "<%s/api/models/%s/tree/%s?recursive=true&cursor=%zu>; "
                     "rel=\"next\"", m->hub.url, id, rev, end);
        else
            for (int i = 0; i < m->n_faults; i++)
                if (m->faults[i].kind == MOCK_MOVE_BRANCH && m->faults[i].times != 0) {
                    m->faults[i].times--;
                    rp->ref_commit[0] = (int)m->faults[i].at;   /* refs[0] is main */
                }
    } else {
        json_t *sib = json_array();
        for (size_t i = 0; i < mc->n; i++)
            json_array_append_new(sib, json_pack("{s:s}", "rfilename", mc->files[i]->path));
        doc = json_pack("{s:s,s:s,s:s,s:b,s:o,s:s,s:o}", "id", id, "modelId", id, "sha", mc->sha,
                        "private", rp->access == MOCK_PRIVATE, "gated",
                        rp->access == MOCK_GATED ? json_string("manual") : json_false(),
                        "lastModified", "2026-08-20T00:00:00.000Z", "siblings", sib);
    }
    pthread_mutex_unlock(&m->mu);
    return send_json(c, doc, link[0] ? link : NULL);
}

static void escape_path(const char *p, char *out, size_t n)
{
    size_t k = 0;
    for (const unsigned char *c = (const unsigned char *)p; *c && k + 4 < n; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~/", *c))
            out[k++] = (char)*c;
        else
            k += (size_t)snprintf(out + k, n - k, "%%%02X", *c);
    }
    out[k] = 0;
}

/* /ORG/NAME/resolve/REV/PATH: LFS to the CDN, plain files to /api/resolve-cache. */
static enum MHD_Result resolve(struct mock_hf *m, struct MHD_Connection *c, const char *url,
                               bool cache)
{
    char id[256], rev[256], loc[2048], epath[1500];
    const char *rest;
    enum MHD_Result rc;
    pthread_mutex_lock(&m->mu);
    struct mrepo *rp = repo_of(m, url, id, sizeof(id), &rest);
    if (check_access(m, c, rp, id, &rc)) {
        pthread_mutex_unlock(&m->mu);
        return rc;
    }
    if (!cache) {
        if (strncmp(rest, "/resolve/", 9) != 0) {
            pthread_mutex_unlock(&m->mu);
            return send_error(c, 404, NULL, "Not Found");
        }
        rest += 9;
    } else {
        rest += *rest == '/';
    }
    size_t rl = strcspn(rest, "/");
    snprintf(rev, sizeof(rev), "%.*s", (int)rl, rest);
    const char *path = rest[rl] ? rest + rl + 1 : "";
    int ci = commit_of(rp, rev);
    if (ci < 0)
        return no_revision(m, c, rev);
    struct mcommit *mc = &rp->commits[ci];
    struct mfile *f = find_file(mc, path);
    char sha[41];
    snprintf(sha, sizeof(sha), "%s", mc->sha);
    bool cdn = m->use_cdn;
    pthread_mutex_unlock(&m->mu);
    unsigned deny = f && !cache ? take_deny(m, f->path) : 0;
    if (deny == 401 || deny == 403) {
        char msg[600];
        snprintf(msg, sizeof(msg), deny == 401 ? "Access to model %s is restricted. You must have "
                 "access to it and be authenticated to access it. Please log in." : "Access to "
                 "model %s is restricted and you are not in the authorized list. Visit "
                 "https://huggingface.co/%s to ask for access.", id, id);
        return send_error(c, deny, "GatedRepo", msg);
    }
    if (!f || deny) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                                 MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "X-Error-Code", "EntryNotFound");
        MHD_add_response_header(r, "X-Error-Message", "Entry not found");
        MHD_add_response_header(r, "X-Repo-Commit", sha);
        rc = MHD_queue_response(c, 404, r);
        MHD_destroy_response(r);
        return rc;
    }
    if (cache || (f->lfs && !cdn))
        return serve_file(m, c, f, f->lfs ? f->sha256 : f->oid, sha);
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    char et[80], size[32];
    escape_path(f->path, epath, sizeof(epath));
    snprintf(size, sizeof(size), "%zu", f->len);
    if (f->lfs) {
        snprintf(loc, sizeof(loc), "%s/cdn/%s?X-Amz-Signature=mock", m->cdn.url, f->sha256);
        snprintf(et, sizeof(et), "\"%s\"", f->sha256);
        MHD_add_response_header(r, "X-Linked-Etag", et);
        MHD_add_response_header(r, "X-Linked-Size", size);
    } else {
        snprintf(loc, sizeof(loc), "/api/resolve-cache/models/%s/%s/%s?etag=%%22%s%%22", id, sha,
                 epath, f->oid);
    }
    snprintf(et, sizeof(et), "\"%s\"", f->oid);
    MHD_add_response_header(r, "ETag", et);
    MHD_add_response_header(r, "Location", loc);
    MHD_add_response_header(r, "X-Repo-Commit", sha);
    rc = MHD_queue_response(c, f->lfs ? 302 : 307, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result cdn_get(struct mock_hf *m, struct MHD_Connection *c, const char *url)
{
    const char *want = url + strlen("/cdn/");
    struct mfile *f = NULL;
    m->cdn_requests++;
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"))
        m->cdn_auth++;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_pool && !f; i++)
        if (m->pool[i]->lfs && strcmp(m->pool[i]->sha256, want) == 0)
            f = m->pool[i];
    pthread_mutex_unlock(&m->mu);
    if (!f)
        return send_text(c, 403, "application/xml", "<Error><Code>AccessDenied</Code></Error>",
                         NULL, NULL);
    return serve_file(m, c, f, f->sha256, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    static int marker;
    struct server *sv = cls;
    struct mock_hf *m = sv->m;
    (void)version;
    (void)upload;
    (void)upload_size;
    if (!*state) {                 /* the headers: answer on the second call */
        *state = &marker;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_error(c, 405, NULL, "Method not allowed");
    if (sv->cdn)
        return strncmp(url, "/cdn/", 5) == 0 ? cdn_get(m, c, url)
                                             : send_error(c, 404, NULL, "Not Found");
    if (strncmp(url, "/api/models/", 12) == 0)
        return api(m, c, url + 12);
    if (strncmp(url, "/api/resolve-cache/models/", 26) == 0)
        return resolve(m, c, url + 26, true);
    return resolve(m, c, url + 1, false);
}

static int start(struct server *sv)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sv->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                             NULL, NULL, handle, sv, MHD_OPTION_SOCK_ADDR, &sa,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
    if (!sv->d)
        return -1;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(sv->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(sv->url, sizeof(sv->url), "http://127.0.0.1:%u", di ? di->port : 0);
    return di && di->port ? 0 : -1;
}

struct mock_hf *mock_hf_new(void)
{
    struct mock_hf *m = calloc(1, sizeof(*m));
    pthread_mutex_init(&m->mu, NULL);
    m->use_cdn = true;
    m->page_size = 1000;
    m->hub.m = m->cdn.m = m;
    m->cdn.cdn = true;
    if (start(&m->hub) || start(&m->cdn)) {
        mock_hf_free(m);
        return NULL;
    }
    return m;
}

void mock_hf_free(struct mock_hf *m)
{
    if (!m)
        return;
    m->stopping = true;
    if (m->hub.d)
        MHD_stop_daemon(m->hub.d);
    if (m->cdn.d)
        MHD_stop_daemon(m->cdn.d);
    for (size_t i = 0; i < m->n_pool; i++) {
        struct mfile *f = m->pool[i];
        if (f->mapped)
            munmap((void *)f->data, f->len);
        else if (f->owned)
            free((void *)f->data);
        if (f->fd >= 0)
            close(f->fd);
        free(f->path);
        free(f);
    }
    for (int r = 0; r < m->n_repos; r++)
        for (int c = 0; c < m->repos[r].n_commits; c++)
            free(m->repos[r].commits[c].files);
    free(m->pool);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

const char *mock_hf_endpoint(const struct mock_hf *m) { return m->hub.url; }
const char *mock_hf_cdn(const struct mock_hf *m) { return m->cdn.url; }
