/* http.c: the HTTP engine: libcurl multi on one thread, redirects followed by hand (the token
 * only to Hub origins), retries with backoff and Retry-After, stall timeouts, a shared rate cap. */
#define _GNU_SOURCE   /* memmem */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "internal.h"
#include "../common/banned.h"

#define MAX_REDIRECTS 10
#define MAX_RETRIES 5
#define MAX_RETRY_AFTER_S 300       /* a longer wait is reported, not slept through */
#define ERRBODY_MAX (64u << 10)
#define RECV_BUFFER (256L << 10)    /* fewer, larger writes into the partial file */
#define DEFAULT_STALL_S 30
#define DEFAULT_RETRY_MS 1000
#define USER_AGENT "lm/" LM_VERSION

struct http {
    CURLM *multi;
    char *auth;                     /* "Authorization: Bearer ...", wiped on free */
    char (*hub)[256];
    size_t n_hub;
    long stall_s;
    unsigned retry_ms;
    uint64_t rate;
    double tokens, refilled;        /* token bucket of the rate cap (bytes) */
    struct http_req *live;          /* submitted, not finished */
    uint64_t received;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

static unsigned env_uint(const char *name, unsigned min, unsigned max, unsigned dflt)
{
    uint64_t v;
    const char *s = getenv(name);
    return s && *s && lm_parse_u64(s, min, max, &v) == 0 ? (unsigned)v : dflt;
}

int http_origin(const char *url, char *buf, size_t n)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int ret = -1;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        int len = snprintf(buf, n, "%s://%s:%s", scheme, host, port);
        if (len > 0 && (size_t)len < n) {
            for (char *c = buf; *c; c++)
                *c = (char)tolower((unsigned char)*c);
            ret = 0;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ret;
}

static bool is_hub(const struct http *h, const char *url)
{
    char o[256];
    if (http_origin(url, o, sizeof(o)))
        return false;
    for (size_t i = 0; i < h->n_hub; i++)
        if (strcmp(o, h->hub[i]) == 0)
            return true;
    return false;
}

struct http *http_new(const struct http_opts *o, struct lm_err *err)
{
    pthread_once(&global_once, global_init);
    struct http *h = calloc(1, sizeof(*h));
    if (!h || !(h->multi = curl_multi_init()) ||
        !(h->hub = calloc(o->n_hub ? o->n_hub : 1, sizeof(*h->hub)))) {
        http_free(h);
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < o->n_hub; i++)
        if (http_origin(o->hub[i], h->hub[h->n_hub], sizeof(h->hub[0])) == 0)
            h->n_hub++;
    if (o->token && *o->token) {
        size_t n = strlen(o->token) + 32;
        if (!(h->auth = malloc(n))) {
            http_free(h);
            lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
            return NULL;
        }
        snprintf(h->auth, n, "Authorization: Bearer %s", o->token);
    }
    unsigned dflt_stall = env_uint("HF_HUB_DOWNLOAD_TIMEOUT", 1, 3600, DEFAULT_STALL_S);
    h->stall_s = env_uint("LM_HTTP_STALL_SECONDS", 1, 3600, dflt_stall);
    h->retry_ms = env_uint("LM_HTTP_RETRY_MS", 1, 60000, DEFAULT_RETRY_MS);
    h->rate = o->limit_rate;
    h->refilled = lm_now();
    long conns = o->connections ? (long)o->connections : 8;
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
    return h;
}

static void drop_easy(struct http *h, struct http_req *r)
{
    if (r->easy) {
        curl_multi_remove_handle(h->multi, r->easy);
        curl_easy_cleanup(r->easy);
        r->easy = NULL;
    }
    for (struct curl_slist *l = r->hdrs; l; l = l->next)   /* the token's copy, too */
        if (strncmp(l->data, "Authorization:", 14) == 0)
            OPENSSL_cleanse(l->data, strlen(l->data));
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
}

static void unlink_req(struct http *h, struct http_req *r)
{
    for (struct http_req **p = &h->live; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    r->next = NULL;
    drop_easy(h, r);
    lm_buf_release(&r->errbody);
    r->h = NULL;
}

void http_cancel(struct http *h, struct http_req *r)
{
    if (r->h == h)
        unlink_req(h, r);
    free(r->cur);
    r->cur = NULL;
}

void http_free(struct http *h)
{
    if (!h)
        return;
    while (h->live)
        http_cancel(h, h->live);
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->auth) {
        OPENSSL_cleanse(h->auth, strlen(h->auth));
        free(h->auth);
    }
    free(h->hub);
    free(h);
}

static void refill(struct http *h)
{
    double now = lm_now(), cap = (double)h->rate / 10;
    if (cap < 65536)
        cap = 65536;
    h->tokens += (now - h->refilled) * (double)h->rate;
    if (h->tokens > cap)
        h->tokens = cap;
    h->refilled = now;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct http_req *r = ud;
    struct http *h = r->h;
    size_t n = size * nmemb;
    r->last_byte = lm_now();
    if (!r->status)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    if (r->status >= 300 && r->status < 400)
        return n;                               /* a redirect's own body */
    if (r->status < 200 || r->status >= 300) {  /* kept for the error message */
        size_t room = r->errbody.max - r->errbody.len;
        lm_buf_add(&r->errbody, p, n < room ? n : room);
        return n;
    }
    if (!r->headers_done) {
        r->headers_done = true;
        if (r->on_headers && r->on_headers(r)) {
            r->failed = true;
            return 0;
        }
    }
    if (h->rate) {
        refill(h);
        if (h->tokens <= 0) {
            r->paused = true;
            return CURL_WRITEFUNC_PAUSE;        /* curl keeps the bytes until we resume */
        }
        h->tokens -= (double)n;
    }
    r->body_seen = true;
    h->received += n;
    int rc = r->on_body ? r->on_body(r, p, n) : 0;
    if (rc < 0)
        r->failed = true;
    else if (rc > 0)
        r->stop_ok = true;
    return rc ? 0 : n;
}

static int attempt(struct http *h, struct http_req *r)
{
    char range[64];
    r->status = 0;
    r->xcode[0] = r->xmsg[0] = 0;
    r->body_seen = r->headers_done = r->stop_ok = r->failed = r->paused = false;
    r->errbody.len = 0;
    if (r->start && r->start(r))
        return -1;
    if (!(r->easy = curl_easy_init()))
        return lm_err_set(&r->err, LM_ENOMEM, r->label, LM_NO_OFFSET, "out of memory");
    CURL *e = r->easy;
    if (!(r->hdrs = curl_slist_append(NULL, "Accept-Encoding: identity")) ||
        (r->cur_auth && h->auth && !curl_slist_append(r->hdrs, h->auth)))
        return lm_err_set(&r->err, LM_ENOMEM, r->label, LM_NO_OFFSET, "out of memory");
    curl_easy_setopt(e, CURLOPT_URL, r->cur);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);   /* ours: see on_done */
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, RECV_BUFFER);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, h->stall_s);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (r->ranged) {
        snprintf(range, sizeof(range), "%llu-%llu", (unsigned long long)r->range_start,
                 (unsigned long long)r->range_end - 1);
        curl_easy_setopt(e, CURLOPT_RANGE, range);
    }
    lm_debugf(2, "http: GET %s%s%s%s", r->cur, r->ranged ? " bytes=" : "", r->ranged ? range : "",
              r->cur_auth && h->auth ? " (Authorization: Bearer <redacted>)" : "");
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
        return lm_err_set(&r->err, LM_EINTERNAL, r->label, LM_NO_OFFSET, "curl refused a transfer");
    r->last_byte = lm_now();
    return 0;
}

int http_submit(struct http *h, struct http_req *r)
{
    const char *first = r->hint ? r->hint : r->url;
    lm_err_clear(&r->err);
    r->rc = 0;
    r->retries = r->redirects = 0;
    r->waiting = false;
    r->errbody = (struct lm_buf)LM_BUF_INIT(ERRBODY_MAX);
    free(r->cur);
    if (!(r->cur = strdup(first)))
        return lm_err_set(&r->err, LM_ENOMEM, r->label, LM_NO_OFFSET, "out of memory");
    r->cur_auth = is_hub(h, first) && (!r->hint || r->hint_auth);
    r->h = h;
    r->next = h->live;
    h->live = r;
    if (attempt(h, r)) {
        unlink_req(h, r);
        return -1;
    }
    return 0;
}

static void finish(struct http *h, struct http_req *r, int rc)
{
    r->rc = rc;
    unlink_req(h, r);
    if (r->on_done)
        r->on_done(r);
}

/* The message of an error response: X-Error-Message, else the body's "error", else nothing. */
static void error_text(struct http_req *r, char *buf, size_t n)
{
    char v[512];
    buf[0] = 0;
    if (http_header(r, "X-Error-Message", v, sizeof(v))) {
        lm_quote(v, strlen(v), buf, n);
        return;
    }
    const char *b = r->errbody.data;
    size_t len = r->errbody.len;
    const char *k = b ? memmem(b, len, "\"error\"", 7) : NULL;
    if (!k)
        return;
    const char *q = memchr(k + 7, '"', len - (size_t)(k + 7 - b));
    const char *end = q ? memchr(q + 1, '"', len - (size_t)(q + 1 - b)) : NULL;
    if (q && end)
        lm_quote(q + 1, (size_t)(end - q - 1), buf, n);
}

static void fail_status(struct http *h, struct http_req *r)
{
    char id[128];
    r->from_hub = is_hub(h, r->cur);
    const char *i = http_header(r, "X-Request-Id", id, sizeof(id));
    if (!http_header(r, "X-Error-Code", r->xcode, sizeof(r->xcode)))
        r->xcode[0] = 0;
    error_text(r, r->xmsg, sizeof(r->xmsg));
    lm_err_set(&r->err, r->status == 404 ? LM_ENOTFOUND : LM_ENET, r->label, LM_NO_OFFSET,
               "HTTP %ld%s%s%s%s%s%s%s", r->status, r->xcode[0] ? " " : "", r->xcode,
               r->xmsg[0] ? ": " : "", r->xmsg, i ? " (request id " : "", i ? i : "", i ? ")" : "");
}

static bool transient_status(long s)
{
    return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

static bool transient_curl(CURLcode c)
{
    switch (c) {
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING: case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return false;
    }
}

/* Wait and try again, or give up with the last error after MAX_RETRIES in a row without a
 * byte of progress. after_s >= 0 is the server's Retry-After. */
static void retry(struct http *h, struct http_req *r, long after_s)
{
    if (r->body_seen)
        r->retries = 0;
    if (++r->retries > MAX_RETRIES) {
        char last[sizeof(r->err.msg)];
        snprintf(last, sizeof(last), "%s", r->err.msg);
        lm_err_set(&r->err, LM_ENET, r->label, LM_NO_OFFSET, "%s (gave up after %d retries)",
                   last, MAX_RETRIES);
        finish(h, r, -1);
        return;
    }
    if (after_s > MAX_RETRY_AFTER_S) {
        char last[sizeof(r->err.msg)];
        snprintf(last, sizeof(last), "%s", r->err.msg);
        lm_err_set(&r->err, LM_ENET, r->label, LM_NO_OFFSET,
                   "%s; the server asks to wait %ld s: try again later", last, after_s);
        finish(h, r, -1);
        return;
    }
    double delay = (double)h->retry_ms / 1000 * (double)(1u << (r->retries - 1));
    if (delay > 8.0 * h->retry_ms / 1000)
        delay = 8.0 * h->retry_ms / 1000;
    if (after_s >= 0)
        delay = (double)after_s;
    lm_debugf(1, "http: %s: %s; retry %u in %.1f s", r->label ? r->label : r->cur, r->err.msg,
              r->retries, delay);
    drop_easy(h, r);
    r->waiting = true;
    r->wake_at = lm_now() + delay;
}

/* Go to the redirect target: relative to the current URL; the token only while every hop
 * stays on a Hub origin. */
static void redirect(struct http *h, struct http_req *r, const char *loc)
{
    CURLU *u = curl_url();
    char *next = NULL;
    if (++r->redirects > MAX_REDIRECTS) {
        lm_err_set(&r->err, LM_ENET, r->label, LM_NO_OFFSET, "more than %d redirects",
                   MAX_REDIRECTS);
        goto fail;
    }
    if (!u || curl_url_set(u, CURLUPART_URL, r->cur, 0) != CURLUE_OK ||
        curl_url_set(u, CURLUPART_URL, loc, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_URL, &next, 0) != CURLUE_OK) {
        char q[LM_QUOTE_MAX + 8];
        lm_err_set(&r->err, LM_ENET, r->label, LM_NO_OFFSET, "bad redirect location '%s'",
                   lm_quote(loc, strlen(loc), q, sizeof(q)));
        goto fail;
    }
    curl_url_cleanup(u);
    u = NULL;
    free(r->cur);
    r->cur = strdup(next);
    curl_free(next);
    if (!r->cur) {
        lm_err_set(&r->err, LM_ENOMEM, r->label, LM_NO_OFFSET, "out of memory");
        goto fail;
    }
    r->cur_auth = r->cur_auth && is_hub(h, r->cur);
    drop_easy(h, r);
    if (attempt(h, r))
        goto fail;
    return;
fail:
    curl_url_cleanup(u);
    finish(h, r, -1);
}

/* Start over at the first URL: a redirect target that failed may have expired. */
static int restart(struct http *h, struct http_req *r)
{
    char *first = strdup(r->url);
    if (!first)
        return -1;
    free(r->cur);
    r->cur = first;
    r->cur_auth = is_hub(h, first);
    r->hint = NULL;
    return 0;
}

static void on_done(struct http *h, struct http_req *r, CURLcode cc)
{
    char loc[REG_URL_MAX];
    curl_off_t after = -1;
    if (!r->status)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    lm_debugf(2, "http: %s -> %ld (%s)", r->cur, r->status, curl_easy_strerror(cc));
    if (r->failed) {
        finish(h, r, -1);
        return;
    }
    if (r->stop_ok || (cc == CURLE_OK && r->status >= 200 && r->status < 300)) {
        if (!r->stop_ok && !r->headers_done) {   /* an empty body */
            r->headers_done = true;
            if (r->on_headers && r->on_headers(r)) {
                finish(h, r, -1);
                return;
            }
        }
        finish(h, r, 0);
        return;
    }
    if (cc == CURLE_OK && r->status >= 300 && r->status < 400) {
        if (http_header(r, "Location", loc, sizeof(loc))) {
            redirect(h, r, loc);
            return;
        }
        lm_err_set(&r->err, LM_ENET, r->label, LM_NO_OFFSET, "HTTP %ld without a Location",
                   r->status);
        finish(h, r, -1);
        return;
    }
    if (cc == CURLE_OK) {
        fail_status(h, r);
        curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &after);
        bool redirected = strcmp(r->cur, r->url) != 0;
        if (transient_status(r->status)) {
            retry(h, r, after > 0 ? (long)after : -1);
        } else if (redirected && (r->status == 401 || r->status == 403 || r->status == 404 ||
                                  r->status == 410) && restart(h, r) == 0) {
            retry(h, r, 0);
        } else {
            finish(h, r, -1);
        }
        return;
    }
    lm_err_set(&r->err, LM_ENET, r->label, LM_NO_OFFSET, "%s", curl_easy_strerror(cc));
    if (transient_curl(cc))
        retry(h, r, -1);
    else
        finish(h, r, -1);
}

static void drain(struct http *h)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(h->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct http_req *r = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r)
            on_done(h, r, m->data.result);
    }
}

/* curl's low-speed check averages over seconds of history, so a stream that stops after a
 * burst looks alive for a while: a transfer is stalled when nothing came for stall_s. */
static void check_stalls(struct http *h)
{
    double now = lm_now();
    struct http_req *r, *next;
    for (r = h->live; r; r = next) {
        next = r->next;
        if (r->waiting || r->paused || !r->easy || now - r->last_byte < (double)h->stall_s)
            continue;
        lm_err_set(&r->err, LM_ENET, r->label, LM_NO_OFFSET, "stalled: no data for %ld s",
                   h->stall_s);
        lm_debugf(2, "http: %s stalled", r->cur);
        retry(h, r, -1);
    }
}

size_t http_run(struct http *h, long timeout_ms)
{
    double now = lm_now();
    int running;
    long wait = timeout_ms;
    bool paused = false;
    struct http_req *r, *next;
    for (r = h->live; r; r = next) {
        next = r->next;
        if (r->waiting && r->wake_at <= now) {
            r->waiting = false;
            if (attempt(h, r))
                finish(h, r, -1);
        }
    }
    if (h->rate) {
        refill(h);
        for (r = h->live; r; r = r->next) {
            if (!r->paused)
                continue;
            if (h->tokens > 0) {
                r->paused = false;
                r->last_byte = lm_now();
                curl_easy_pause(r->easy, CURLPAUSE_CONT);   /* may pause again at once */
            }
            paused = paused || r->paused;
        }
    }
    curl_multi_perform(h->multi, &running);
    drain(h);
    check_stalls(h);
    now = lm_now();
    size_t n = 0;
    for (r = h->live; r; r = r->next) {
        n++;
        if (r->waiting && (r->wake_at - now) * 1000 < (double)wait)
            wait = (long)((r->wake_at - now) * 1000) + 1;
        paused = paused || r->paused;
    }
    if (paused && h->rate) {
        long refill_ms = (long)(-h->tokens / (double)h->rate * 1000) + 1;
        if (refill_ms < wait)
            wait = refill_ms;
    }
    if (n == 0)
        return 0;
    if (wait > 250)
        wait = 250;                 /* look for stalls now and then */
    if (wait < 0)
        wait = 0;
    curl_multi_poll(h->multi, NULL, 0, (int)wait, NULL);
    curl_multi_perform(h->multi, &running);
    drain(h);
    n = 0;
    for (r = h->live; r; r = r->next)
        n++;
    return n;
}

void http_wakeup(struct http *h)
{
    curl_multi_wakeup(h->multi);
}

int http_do(struct http *h, struct http_req *r)
{
    if (http_submit(h, r))
        return -1;
    while (r->h == h)
        http_run(h, 1000);
    return r->rc;
}

const char *http_header(struct http_req *r, const char *name, char *buf, size_t n)
{
    struct curl_header *hd;
    if (!r->easy || n == 0 ||
        curl_easy_header(r->easy, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
        return NULL;
    size_t k = 0;
    for (const char *c = hd->value; *c && k + 1 < n; c++)
        if ((unsigned char)*c >= 0x20 && *c != 0x7f)
            buf[k++] = *c;
    buf[k] = 0;
    return buf;
}

uint64_t http_received(const struct http *h)
{
    return h->received;
}

static int parse_num(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t x = 0;
    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++)
        if (ckd_mul(&x, x, 10) || ckd_add(&x, x, (uint64_t)(*s - '0')))
            return -1;
    *p = s;
    *v = x;
    return 0;
}

int http_parse_content_range(const char *v, uint64_t *first, uint64_t *last, uint64_t *total)
{
    const char *p = v;
    if (strncasecmp(p, "bytes ", 6) != 0)
        return -1;
    p += 6;
    while (*p == ' ')
        p++;
    if (parse_num(&p, first) || *p++ != '-' || parse_num(&p, last) || *p++ != '/' ||
        parse_num(&p, total))
        return -1;
    while (*p == ' ')
        p++;
    return *p == 0 && *first <= *last && *last < *total ? 0 : -1;
}

int http_link_next(const char *v, char *buf, size_t n)
{
    const char *p = v;
    while ((p = strchr(p, '<'))) {
        const char *end = strchr(p, '>');
        if (!end)
            return -1;
        const char *q = end + 1, *stop = q + strcspn(q, ",");
        while (q < stop) {                       /* the ;-separated parameters of this link */
            while (q < stop && (*q == ';' || *q == ' '))
                q++;
            size_t len = strcspn(q, ";,");
            if (len >= 4 && strncasecmp(q, "rel=", 4) == 0) {
                const char *a = q + 4;
                size_t al = len - 4;
                while (al && a[al - 1] == ' ')
                    al--;
                if (al >= 2 && a[0] == '"' && a[al - 1] == '"') {
                    a++;
                    al -= 2;
                }
                if (al == 4 && strncasecmp(a, "next", 4) == 0) {
                    size_t ulen = (size_t)(end - p - 1);
                    if (ulen + 1 > n)
                        return -1;
                    memcpy(buf, p + 1, ulen);
                    buf[ulen] = 0;
                    return 0;
                }
            }
            q += len;
        }
        p = stop;
    }
    return -1;
}

int http_escape(const char *s, bool keep_slash, char *buf, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t k = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        bool plain = isalnum(*c) || *c == '-' || *c == '.' || *c == '_' || *c == '~' ||
                     (keep_slash && *c == '/');
        if (k + (plain ? 1 : 3) + 1 > n)
            return -1;
        if (plain) {
            buf[k++] = (char)*c;
        } else {
            buf[k++] = '%';
            buf[k++] = hex[*c >> 4];
            buf[k++] = hex[*c & 15];
        }
    }
    if (k + 1 > n)
        return -1;
    buf[k] = 0;
    return 0;
}
