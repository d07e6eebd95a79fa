/* hf_ref.c: what the user names: hf.co/ORG/REPO[:QUANT][@REV], hf:ORG/REPO[...] and
 * https://huggingface.co/ORG/REPO[/tree/REV]. */
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "../common/banned.h"

static const char *const hosts[] = { "hf.co/", "huggingface.co/", "www.huggingface.co/" };

static const char *strip_prefix(const char *s)
{
    if (strncasecmp(s, "https://", 8) == 0)
        s += 8;
    else if (strncasecmp(s, "http://", 7) == 0)
        s += 7;
    else if (strncasecmp(s, "hf:", 3) == 0)
        return s + 3;
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
        if (strncasecmp(s, hosts[i], strlen(hosts[i])) == 0)
            return s + strlen(hosts[i]);
    return NULL;
}

bool lm_hf_ref_like(const char *s)
{
    return strip_prefix(s) != NULL;
}

static int bad(struct lm_err *err, const char *s, const char *fmt, const char *part)
{
    char q[LM_QUOTE_MAX + 8], p[LM_QUOTE_MAX + 8], why[2 * LM_QUOTE_MAX];
    lm_quote(s, strlen(s), q, sizeof(q));
    lm_quote(part, strlen(part), p, sizeof(p));
    snprintf(why, sizeof(why), fmt, p);
    return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "invalid Hugging Face reference '%s': %s",
                      q, why);
}

/* The Hub's rule for each half of a repo id: [A-Za-z0-9_.-], no "--" or "..", not starting or
 * ending with '-' or '.', at most 96 characters. */
static bool repo_part_ok(const char *s, size_t n)
{
    if (n == 0 || n > LM_HF_REPO_MAX || s[0] == '-' || s[0] == '.' || s[n - 1] == '-' ||
        s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok || (i > 0 && (c == '-' || c == '.') && s[i - 1] == c))
            return false;
    }
    return true;
}

/* Printable ASCII without spaces; the URL encoder takes care of '/' and the rest. */
static bool rev_ok(const char *s)
{
    if (!*s || strlen(s) > LM_HF_REV_MAX || strstr(s, ".."))
        return false;
    for (const char *c = s; *c; c++)
        if (*c <= ' ' || *c >= 0x7f)
            return false;
    return true;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* /tree/REV in a web URL: REV is percent-encoded (refs%2Fpr%2F1) and ends at the next '/'. */
static int url_rev(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                return -1;
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (k + 1 >= cap || c == 0)
            return -1;
        out[k++] = c;
    }
    out[k] = 0;
    return 0;
}

int lm_hf_ref_parse(const char *s, struct lm_hf_ref *out, struct lm_err *err)
{
    memset(out, 0, sizeof(*out));
    const char *p = strip_prefix(s);
    if (!p)
        return bad(err, s, "%sit must start with hf.co/, hf: or https://huggingface.co/", "");
    bool web = strncasecmp(s, "http", 4) == 0;
    const char *slash = strchr(p, '/');
    if (!slash)
        return bad(err, s, "%sit must name ORG/REPO", "");
    const char *org = p, *repo = slash + 1;
    size_t org_len = (size_t)(slash - p);
    /* REPO ends at ':' (quant), '@' (revision) or, in a web URL, '/' (tree/REV). */
    size_t repo_len = strcspn(repo, ":@/");
    const char *rest = repo + repo_len;
    char part[2 * LM_HF_REPO_MAX + 8];
    snprintf(part, sizeof(part), "%.*s/%.*s", (int)(org_len < 200 ? org_len : 200), org,
             (int)(repo_len < 200 ? repo_len : 200), repo);
    if (!repo_part_ok(org, org_len) || !repo_part_ok(repo, repo_len))
        return bad(err, s, "'%s' is not a valid ORG/REPO", part);
    memcpy(out->repo, part, org_len + 1 + repo_len);   /* both halves checked: <= 96 each */
    out->repo[org_len + 1 + repo_len] = 0;
    if (*rest == '/') {
        if (!web || strncmp(rest, "/tree/", 6) != 0)
            return bad(err, s, "%sonly ORG/REPO or ORG/REPO/tree/REV can follow the host", "");
        const char *r = rest + 6;
        size_t rl = strcspn(r, "/");
        if (url_rev(r, rl, out->revision, sizeof(out->revision)) || !rev_ok(out->revision))
            return bad(err, s, "%sthe revision after /tree/ is not valid", "");
        if (r[rl] && strcmp(r + rl, "/") != 0)
            return bad(err, s, "%sa web URL may name a revision, not a file", "");
        return 0;
    }
    if (*rest == ':') {
        size_t ql = strcspn(rest + 1, "@");
        if (ql == 0 || ql > LM_NAME_PART_MAX)
            return bad(err, s, "%sthe quantization tag after ':' must have 1 to 80 characters", "");
        memcpy(out->quant, rest + 1, ql);
        out->quant[ql] = 0;
        for (const char *c = out->quant; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '.'))
                return bad(err, s, "the tag '%s' may hold only letters, digits, '_', '-' and '.'",
                           out->quant);
        rest += 1 + ql;
    }
    if (*rest == '@') {
        snprintf(out->revision, sizeof(out->revision), "%s", rest + 1);
        if (strlen(rest + 1) > LM_HF_REV_MAX || !rev_ok(out->revision))
            return bad(err, s, "%sthe revision after '@' is not valid", "");
        return 0;
    }
    if (*rest)
        return bad(err, s, "unexpected '%s' after the repository", rest);
    return 0;
}
