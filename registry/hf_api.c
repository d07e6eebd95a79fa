/* hf_api.c: the Hub's API: environment and token, revision -> commit, the listing at a commit,
 * and one clear line for each error the Hub answers with. */
#define _GNU_SOURCE   /* strcasestr */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "internal.h"
#include "../common/banned.h"

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define API_JSON_MAX (64u << 20)     /* one page of a listing or a model's info */
#define TOKEN_FILE_MAX 4096
#define MAX_PAGES 10000

bool hf_truthy(const char *v)
{
    return v && (strcasecmp(v, "1") == 0 || strcasecmp(v, "on") == 0 ||
                 strcasecmp(v, "yes") == 0 || strcasecmp(v, "true") == 0);
}

bool hf_is_commit(const char *rev)
{
    return hf_hex(rev, 40);
}

static int set_path(char *buf, size_t n, struct lm_err *err, const char *what, const char *fmt,
                    const char *a, const char *b)
{
    int len = snprintf(buf, n, fmt, a, b);
    if (len < 0 || (size_t)len >= n)
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "%s is too long", what);
    return 0;
}

/* "~/x" -> "$HOME/x"; the rest as given. */
static int expand(const char *v, char *buf, size_t n, const char *what, struct lm_err *err)
{
    const char *home = getenv("HOME");
    if (v[0] == '~' && (v[1] == '/' || v[1] == 0) && home)
        return set_path(buf, n, err, what, "%s%s", home, v + 1);
    return set_path(buf, n, err, what, "%s%s", v, "");
}

/* Token text goes into a header line: anything but printable ASCII would let it add headers. */
static int check_token(const char *t, const char *from, struct lm_err *err)
{
    for (const char *c = t; *c; c++)
        if (*c <= ' ' || *c >= 0x7f)
            return lm_err_set(err, LM_EUSAGE, from, LM_NO_OFFSET,
                              "the token holds a character a token cannot have");
    return 0;
}

static int load_token(struct hf_env *e, const char *hf_home, struct lm_err *err)
{
    char path[1024];
    const char *v = getenv("HF_TOKEN");
    if (!v || !*v)
        v = getenv("HUGGING_FACE_HUB_TOKEN");
    if (v && *v) {
        snprintf(e->token, sizeof(e->token), "%s", v);
        return check_token(e->token, "HF_TOKEN", err);
    }
    const char *tp = getenv("HF_TOKEN_PATH");
    if (tp && *tp ? expand(tp, path, sizeof(path), "HF_TOKEN_PATH", err)
                  : set_path(path, sizeof(path), err, "HF_HOME", "%s/token%s", hf_home, ""))
        return -1;
    struct lm_buf b = LM_BUF_INIT(TOKEN_FILE_MAX);
    struct lm_err ignore;
    if (lm_read_file(path, TOKEN_FILE_MAX, &b, &ignore) == 0 && b.len > 0) {
        /* One line; surrounding spaces and the line break are not part of it. */
        size_t s = 0, n = b.len;
        while (s < n && (b.data[s] == ' ' || b.data[s] == '\t'))
            s++;
        while (n > s && strchr(" \t\r\n", b.data[n - 1]))
            n--;
        if (n - s >= sizeof(e->token)) {
            OPENSSL_cleanse(b.data, b.len);
            lm_buf_release(&b);
            return lm_err_set(err, LM_EUSAGE, path, LM_NO_OFFSET, "the token is too long");
        }
        memcpy(e->token, b.data + s, n - s);
        e->token[n - s] = 0;
        OPENSSL_cleanse(b.data, b.len);
    }
    lm_buf_release(&b);
    return e->token[0] ? check_token(e->token, path, err) : 0;
}

int hf_env_load(struct hf_env *e, struct lm_err *err)
{
    char hf_home[1024];
    const char *v;
    memset(e, 0, sizeof(*e));
    v = getenv("HF_ENDPOINT");
    snprintf(e->endpoint, sizeof(e->endpoint), "%s", v && *v ? v : DEFAULT_ENDPOINT);
    for (size_t n = strlen(e->endpoint); n > 0 && e->endpoint[n - 1] == '/'; n--)
        e->endpoint[n - 1] = 0;
    if (strncasecmp(e->endpoint, "https://", 8) != 0 && strncasecmp(e->endpoint, "http://", 7) != 0)
        return lm_err_set(err, LM_EUSAGE, "HF_ENDPOINT", LM_NO_OFFSET,
                          "must be an http:// or https:// URL");
    if ((v = getenv("HF_HOME")) && *v) {
        if (expand(v, hf_home, sizeof(hf_home), "HF_HOME", err))
            return -1;
    } else if ((v = getenv("XDG_CACHE_HOME")) && v[0] == '/') {
        if (set_path(hf_home, sizeof(hf_home), err, "XDG_CACHE_HOME", "%s/huggingface%s", v, ""))
            return -1;
    } else if (set_path(hf_home, sizeof(hf_home), err, "HOME", "%s/.cache/huggingface%s",
                        getenv("HOME") ? getenv("HOME") : "", "")) {
        return -1;
    }
    if ((v = getenv("HF_HUB_CACHE")) && *v) {
        if (expand(v, e->cache, sizeof(e->cache), "HF_HUB_CACHE", err))
            return -1;
    } else if ((v = getenv("HUGGINGFACE_HUB_CACHE")) && *v) {
        if (expand(v, e->cache, sizeof(e->cache), "HUGGINGFACE_HUB_CACHE", err))
            return -1;
    } else if (set_path(e->cache, sizeof(e->cache), err, "HF_HOME", "%s/hub%s", hf_home, "")) {
        return -1;
    }
    e->offline = hf_truthy(getenv("HF_HUB_OFFLINE")) || hf_truthy(getenv("TRANSFORMERS_OFFLINE"));
    if (hf_truthy(getenv("HF_HUB_DISABLE_IMPLICIT_TOKEN")))
        return 0;
    return load_token(e, hf_home, err);
}

void hf_env_release(struct hf_env *e)
{
    OPENSSL_cleanse(e->token, sizeof(e->token));
}

int hf_http_error(const struct http_req *r, const struct hf_env *e, const char *repo,
                  const char *rev, struct lm_err *err)
{
    char label[300], q[LM_QUOTE_MAX + 8];
    snprintf(label, sizeof(label), "hf.co/%s", repo);
    bool gated = strcmp(r->xcode, "GatedRepo") == 0;
    if (r->status == 401 || r->status == 403) {
        if (gated)
            return lm_err_set(err, LM_ENET, label, LM_NO_OFFSET,
                              "gated model: accept its license on %s/%s and set HF_TOKEN to a "
                              "token of an account with access (HTTP %ld)",
                              e->endpoint, repo, r->status);
        if (r->status == 401 && e->token[0] && strcasestr(r->xmsg, "invalid credentials"))
            return lm_err_set(err, LM_ENET, label, LM_NO_OFFSET,
                              "the Hub refused the token: invalid credentials; check HF_TOKEN "
                              "(HTTP 401)");
        if (r->status == 401)
            return lm_err_set(err, LM_ENET, label, LM_NO_OFFSET, e->token[0] ?
                              "repository not found, or this token has no access to it (HTTP 401)"
                              : "repository not found, or it needs authentication: set HF_TOKEN "
                              "(HTTP 401)");
        return lm_err_set(err, LM_ENET, label, LM_NO_OFFSET, "access denied%s%s (HTTP 403)",
                          r->xmsg[0] ? ": " : "", r->xmsg);
    }
    if (r->status == 404 && strcmp(r->xcode, "RevisionNotFound") == 0)
        return lm_err_set(err, LM_ENOTFOUND, label, LM_NO_OFFSET,
                          "revision '%s' not found (HTTP 404)",
                          lm_quote(rev ? rev : "", rev ? strlen(rev) : 0, q, sizeof(q)));
    if (r->status == 404 && strcmp(r->xcode, "EntryNotFound") == 0)
        return lm_err_set(err, LM_ENOTFOUND, r->label, LM_NO_OFFSET,
                          "file not found at this commit (HTTP 404)");
    if (r->status == 404)
        return lm_err_set(err, LM_ENOTFOUND, label, LM_NO_OFFSET,
                          "repository not found (HTTP 404)");
    *err = r->err;
    return -1;
}

/* ---- GET of a JSON document ------------------------------------------------------------- */

struct get {
    struct lm_buf body;
    char next[REG_URL_MAX];
    char commit[41];
};

static int get_headers(struct http_req *r)
{
    struct get *g = r->ctx;
    char v[REG_URL_MAX];
    g->body.len = 0;    /* a retried attempt starts the body again */
    g->next[0] = 0;
    if (http_header(r, "Link", v, sizeof(v)) && http_link_next(v, g->next, sizeof(g->next)))
        g->next[0] = 0;
    return 0;
}

static int get_body(struct http_req *r, const char *p, size_t n)
{
    struct get *g = r->ctx;
    if (lm_buf_add(&g->body, p, n))
        return lm_err_set(&r->err, LM_ECORRUPT, r->label, g->body.len,
                          "the answer is over %u bytes", API_JSON_MAX);
    return 0;
}

static int get_json(struct http *h, const struct hf_env *e, const char *url, const char *label,
                    const char *repo, const char *rev, struct get *g, struct lm_err *err)
{
    struct http_req r;
    memset(&r, 0, sizeof(r));
    g->body = (struct lm_buf)LM_BUF_INIT(API_JSON_MAX);
    r.url = url;
    r.label = label;
    r.on_headers = get_headers;
    r.on_body = get_body;
    r.ctx = g;
    int rc = http_do(h, &r);
    free(r.cur);
    if (rc == 0)
        return 0;
    if (r.status >= 400 && r.status < 500 && r.err.code != LM_ECORRUPT)
        return hf_http_error(&r, e, repo, rev, err);
    *err = r.err;
    return -1;
}

int hf_resolve(struct http *h, const struct hf_env *e, const char *repo, const char *rev,
               char commit[41], struct lm_err *err)
{
    char url[REG_URL_MAX], erev[3 * LM_HF_REV_MAX + 1], label[300];
    struct get g;
    json_error_t je;
    if (hf_is_commit(rev)) {   /* immutable: the listing request will say if it exists */
        snprintf(commit, 41, "%s", rev);
        return 0;
    }
    snprintf(label, sizeof(label), "hf.co/%s", repo);
    if (rev && *rev) {
        if (http_escape(rev, false, erev, sizeof(erev)) ||
            set_path(url, sizeof(url), err, "the URL", "%s/api/models/%s", e->endpoint, repo) ||
            set_path(url + strlen(url), sizeof(url) - strlen(url), err, "the URL",
                     "/revision/%s%s", erev, ""))
            return -1;
    } else if (set_path(url, sizeof(url), err, "the URL", "%s/api/models/%s", e->endpoint, repo)) {
        return -1;
    }
    if (get_json(h, e, url, label, repo, rev, &g, err))
        return -1;
    json_t *j = json_loadb(g.body.data ? g.body.data : "", g.body.len, JSON_REJECT_DUPLICATES, &je);
    json_t *sha = json_is_object(j) ? json_object_get(j, "sha") : NULL;
    int ret = 0;
    if (!j)
        ret = lm_err_set(err, LM_ECORRUPT, label, (uint64_t)je.position,
                         "the model info is not JSON: %s", je.text);
    else if (!json_is_string(sha) || !hf_is_commit(json_string_value(sha)))
        ret = lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                         "the model info has no 40-hex \"sha\" commit");
    else
        snprintf(commit, 41, "%s", json_string_value(sha));
    json_decref(j);
    lm_buf_release(&g.body);
    return ret;
}

int hf_list(struct http *h, const struct hf_env *e, const char *repo, const char *commit,
            struct lm_hf_listing *l, struct lm_err *err)
{
    char url[REG_URL_MAX], label[300], origin[256], norigin[256];
    struct get g;
    snprintf(label, sizeof(label), "hf.co/%s@%s", repo, commit);
    if (set_path(url, sizeof(url), err, "the URL", "%s/api/models/%s", e->endpoint, repo) ||
        set_path(url + strlen(url), sizeof(url) - strlen(url), err, "the URL",
                 "/tree/%s%s?recursive=true", commit, "") ||
        http_origin(url, origin, sizeof(origin)))
        return lm_err_set(err, LM_EUSAGE, label, LM_NO_OFFSET, "bad endpoint URL");
    for (int page = 0;; page++) {
        if (page == MAX_PAGES)
            return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                              "the listing goes on past %d pages", MAX_PAGES);
        if (get_json(h, e, url, label, repo, commit, &g, err))
            return -1;
        int rc = lm_hf_parse_tree(g.body.data ? g.body.data : "", g.body.len, label, l, err);
        lm_buf_release(&g.body);
        if (rc)
            return -1;
        if (!g.next[0])
            return 0;
        /* The next page must come from the same place: a cursor, not an invitation elsewhere. */
        if (g.next[0] == '/') {
            if (set_path(url, sizeof(url), err, "the next page's URL", "%s%s", origin, g.next))
                return -1;
            continue;
        }
        if (http_origin(g.next, norigin, sizeof(norigin)) || strcmp(origin, norigin) != 0)
            return lm_err_set(err, LM_ECORRUPT, label, LM_NO_OFFSET,
                              "the listing's next page is on another host");
        snprintf(url, sizeof(url), "%s", g.next);
    }
}

int hf_resolve_url(const struct hf_env *e, const char *repo, const char *commit,
                   const char *path, char *buf, size_t n)
{
    char epath[3 * 1024 + 1];
    if (http_escape(path, true, epath, sizeof(epath)))
        return -1;
    int len = snprintf(buf, n, "%s/%s/resolve/%s/%s", e->endpoint, repo, commit, epath);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}
