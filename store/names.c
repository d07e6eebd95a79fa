/* names.c: model names (shared/specs/ollama-registry.md §1): parsing, defaults, display forms. */
#include <string.h>
#include <strings.h>

#include "store.h"
#include "../common/banned.h"

#define DEFAULT_HOST "registry.ollama.ai"
#define DEFAULT_NS "library"
#define DEFAULT_TAG "latest"

static int bad(struct lm_err *err, const char *name, const char *why)
{
    char q[LM_QUOTE_MAX + 8];
    lm_quote(name, strlen(name), q, sizeof(q));
    return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "invalid model name '%s': %s", q, why);
}

static bool is_hf_host(const char *host)
{
    return strcasecmp(host, "hf.co") == 0 || strcasecmp(host, "huggingface.co") == 0;
}

/* First character [A-Za-z0-9_], the rest also from `more`. Returns the first bad one, or NULL. */
static const char *bad_char(const char *s, const char *more)
{
    for (const char *c = s; *c; c++) {
        bool alnum = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                     (*c >= '0' && *c <= '9') || *c == '_';
        if (!alnum && (c == s || !strchr(more, *c)))
            return c;
    }
    return NULL;
}

static int check_part(const char *name, const char *what, const char *v, const char *more,
                      struct lm_err *err)
{
    const char *c = bad_char(v, more);
    if (!c)
        return 0;
    char why[LM_QUOTE_MAX + 64], q[LM_QUOTE_MAX + 8], ch[8];
    lm_quote(v, strlen(v), q, sizeof(q));
    lm_quote(c, 1, ch, sizeof(ch));
    if (c == v)
        snprintf(why, sizeof(why), "the %s '%s' may not start with '%s'", what, q, ch);
    else
        snprintf(why, sizeof(why), "the %s '%s' may not hold '%s'", what, q, ch);
    return bad(err, name, why);
}

static int set_part(char *dst, size_t cap, const char *src, size_t len, const char *name,
                    const char *what, struct lm_err *err)
{
    char why[64];
    if (len == 0) {
        snprintf(why, sizeof(why), "the %s is empty", what);
        return bad(err, name, why);
    }
    if (len >= cap) {
        snprintf(why, sizeof(why), "the %s is longer than %zu characters", what, cap - 1);
        return bad(err, name, why);
    }
    memcpy(dst, src, len);
    dst[len] = 0;
    return 0;
}

int lm_name_parse(const char *s, struct lm_name *out, struct lm_err *err)
{
    size_t len = strlen(s);
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return bad(err, s, "it is empty");
    if (len > LM_NAME_MAX + 8)
        return bad(err, s, "it is too long");
    const char *start = s;
    const char *scheme = strstr(s, "://");
    if (scheme) {
        if (!((scheme - s == 5 && strncasecmp(s, "https", 5) == 0) ||
              (scheme - s == 4 && strncasecmp(s, "http", 4) == 0)))
            return bad(err, s, "only http:// and https:// may come before the host");
        start = scheme + 3;
    }
    const char *end = start + strlen(start);
    const char *slash = strrchr(start, '/');
    const char *colon = strrchr(start, ':');
    if (colon && (!slash || colon > slash)) {
        if (set_part(out->tag, sizeof(out->tag), colon + 1, (size_t)(end - colon - 1), s, "tag",
                     err))
            return -1;
        end = colon;
    } else {
        snprintf(out->tag, sizeof(out->tag), "%s", DEFAULT_TAG);
    }
    /* Split from the right: model, then namespace, then whatever is left is the host. */
    const char *p = end;
    while (p > start && p[-1] != '/')
        p--;
    if (set_part(out->model, sizeof(out->model), p, (size_t)(end - p), s, "model", err))
        return -1;
    if (p == start) {
        snprintf(out->ns, sizeof(out->ns), "%s", DEFAULT_NS);
        snprintf(out->host, sizeof(out->host), "%s", DEFAULT_HOST);
    } else {
        end = p - 1;
        p = end;
        while (p > start && p[-1] != '/')
            p--;
        if (set_part(out->ns, sizeof(out->ns), p, (size_t)(end - p), s, "namespace", err))
            return -1;
        if (p == start) {
            snprintf(out->host, sizeof(out->host), "%s", DEFAULT_HOST);
        } else if (set_part(out->host, sizeof(out->host), start, (size_t)(p - 1 - start), s,
                            "host", err)) {
            return -1;
        }
    }
    if (check_part(s, "host", out->host, "_.:-", err))
        return -1;
    /* Hugging Face organisations may hold a '.', which Ollama namespaces may not. */
    if (check_part(s, "namespace", out->ns, is_hf_host(out->host) ? "_-." : "_-", err) ||
        check_part(s, "model", out->model, "_.-", err) || check_part(s, "tag", out->tag, "_.-", err))
        return -1;
    return 0;
}

void lm_name_full(const struct lm_name *n, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s/%s:%s", n->host, n->ns, n->model, n->tag);
}

void lm_name_display(const struct lm_name *n, char *buf, size_t len)
{
    if (strcasecmp(n->host, DEFAULT_HOST) != 0)
        snprintf(buf, len, "%s/%s/%s:%s", n->host, n->ns, n->model, n->tag);
    else if (strcasecmp(n->ns, DEFAULT_NS) != 0)
        snprintf(buf, len, "%s/%s:%s", n->ns, n->model, n->tag);
    else
        snprintf(buf, len, "%s:%s", n->model, n->tag);
}
