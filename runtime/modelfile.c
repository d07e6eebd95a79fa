/* modelfile.c: the Modelfile parser, Ollama's state machine rune for rune, into lm_modelfile. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gotmpl_int.h"
#include "modelfile_int.h"
#include "../common/banned.h"

/* ---- errors and warnings: "Modelfile:LINE: what" -------------------------------------------- */

__attribute__((format(printf, 4, 5)))
int mf_fail(struct lm_err *err, const char *path, int line, const char *fmt, ...)
{
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "%s", msg);
    if (err) {
        if (line > 0)
            snprintf(err->path, sizeof(err->path), "%s:%d", path, line);
        else
            snprintf(err->path, sizeof(err->path), "%s", path);
    }
    return -1;
}

char *mf_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* Append to a char* array (licenses, warnings, stop values). */
int mf_push(char ***v, size_t *n, char *s)
{
    char **w = s ? realloc(*v, (*n + 1) * sizeof(*w)) : NULL;
    if (!w) {
        free(s);
        return -1;
    }
    w[(*n)++] = s;
    *v = w;
    return 0;
}

static int warn(struct lm_modelfile *mf, const char *path, int line, const char *what)
{
    char buf[600];
    snprintf(buf, sizeof(buf), "%s:%d: %s", path, line, what);
    return mf_push(&mf->warnings, &mf->n_warnings, mf_strndup(buf, strlen(buf)));
}

/* ---- runes ------------------------------------------------------------------------------------ */

/* Next code point of UTF-8 text; an invalid byte is U+FFFD, as Go's decoder makes it. */
static uint32_t next_rune(const unsigned char *p, size_t len, size_t *i)
{
    unsigned c = p[*i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && n <= len - *i;
    for (size_t k = 1; ok && k < n; k++)
        ok = (p[*i + k] & 0xC0) == 0x80;
    uint32_t cp = 0;
    if (ok) {
        cp = n == 1 ? c : c & (0x7Fu >> n);
        for (size_t k = 1; k < n; k++)
            cp = cp << 6 | (p[*i + k] & 63u);
        ok = cp >= (n == 1 ? 0 : n == 2 ? 0x80u : n == 3 ? 0x800u : 0x10000u) && cp <= 0x10FFFF &&
             (cp < 0xD800 || cp > 0xDFFF);
    }
    *i += ok ? n : 1;
    return ok ? cp : 0xFFFD;
}

/* Go's strconv.IsPrint for the characters that turn up in text: graphic characters and the
 * ASCII space, not controls, other spaces, format characters or private use. */
static bool printable(uint32_t r)
{
    if (r < 0x80)
        return r >= 0x20 && r < 0x7F;
    return !(r < 0xA1 || r == 0xAD || r == 0x1680 || (r >= 0x2000 && r <= 0x200F) ||
             (r >= 0x2028 && r <= 0x202F) || (r >= 0x205F && r <= 0x206F) || r == 0x3000 ||
             (r >= 0xE000 && r <= 0xF8FF) || r == 0xFEFF || (r >= 0xFFF9 && r <= 0xFFFB) ||
             r >= 0xF0000);
}

static bool alpha(uint32_t r)
{
    return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z');
}

/* A UTF-16 file (with its BOM) as UTF-8; unpaired surrogates become U+FFFD. */
static int utf16_to_utf8(const unsigned char *p, size_t len, bool be, struct lm_buf *out)
{
    for (size_t i = 0; i + 1 < len; i += 2) {
        uint32_t u = be ? (uint32_t)p[i] << 8 | p[i + 1] : (uint32_t)p[i + 1] << 8 | p[i];
        if (u >= 0xD800 && u < 0xDC00 && i + 3 < len) {
            uint32_t l = be ? (uint32_t)p[i + 2] << 8 | p[i + 3] : (uint32_t)p[i + 3] << 8 | p[i + 2];
            if (l >= 0xDC00 && l <= 0xDFFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + (l - 0xDC00);
                i += 2;
            }
        }
        if (u >= 0xD800 && u <= 0xDFFF)
            u = 0xFFFD;
        char e[4];
        size_t n = gt_utf8_put(e, u);
        if (lm_buf_add(out, e, n))
            return -1;
    }
    return 0;
}

/* ---- the state machine (Ollama's parser.ParseFile) ------------------------------------------ */

enum state { S_NIL, S_NAME, S_VALUE, S_PARAMETER, S_MESSAGE, S_COMMENT };

static const char *const commands[] = {
    "from", "license", "template", "system", "adapter", "draft", "renderer", "parser",
    "parameter", "message", "requires",
};

static const char bad_command[] =
    "command must be one of \"from\", \"license\", \"template\", \"system\", \"adapter\", "
    "\"draft\", \"renderer\", \"parser\", \"parameter\", \"message\", or \"requires\"";

struct cmd {
    char name[64];      /* lowercase keyword ("model" for FROM), or the parameter name */
    char role[16];      /* MESSAGE */
    char *args;
    int line;           /* where the keyword is */
};

struct lexer {
    const char *path;
    struct lm_buf b;    /* the text of the current state */
    size_t lead, tail;  /* b without its leading and trailing " \t\r\n": [lead, tail) */
    struct cmd cur;
    struct cmd *cmds;
    size_t n, cap;
    int line, value_line;
    struct lm_err *err;
};

static bool is_command(const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strlen(commands[i]) == n && strncasecmp(commands[i], s, n) == 0)
            return true;
    return false;
}

static int add_rune(struct lexer *l, uint32_t r)
{
    char e[4];
    size_t n = gt_utf8_put(e, r);
    if (lm_buf_add(&l->b, e, n))
        return mf_fail(l->err, l->path, l->line, "value is longer than %u bytes",
                       LM_MODELFILE_MAX);
    if (!(r == ' ' || r == '\t' || r == '\r' || r == '\n')) {
        /* kept as the text grows, so a value is never rescanned (a long value would make that
         * quadratic) */
        if (l->tail == 0)
            l->lead = l->b.len - n;
        l->tail = l->b.len;
    }
    return 0;
}

/* Ollama's unquote of the trimmed value: """...""" or "..." (no escapes), else as it is.
 * false while a quoted value is still open; [*a, *z) is the value in l->b. */
static bool unquote(const struct lexer *l, size_t *a, size_t *z)
{
    const char *s = l->b.data ? l->b.data + l->lead : "";
    size_t n = l->tail - l->lead;
    *a = l->lead, *z = l->tail;
    if (n >= 3 && memcmp(s, "\"\"\"", 3) == 0) {
        if (n < 6 || memcmp(s + n - 3, "\"\"\"", 3) != 0)
            return false;
        *a += 3, *z -= 3;
        return true;
    }
    if (n >= 1 && s[0] == '"') {
        if (n < 2 || s[n - 1] != '"')
            return false;
        *a += 1, *z -= 1;
        return true;
    }
    return true;
}

static int finish_value(struct lexer *l, size_t a, size_t z)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct cmd *v = realloc(l->cmds, cap * sizeof(*v));
        if (!v)
            return mf_fail(l->err, l->path, l->line, "out of memory");
        l->cmds = v;
        l->cap = cap;
    }
    l->cur.args = mf_strndup(l->b.data ? l->b.data + a : "", z - a);
    if (!l->cur.args)
        return mf_fail(l->err, l->path, l->line, "out of memory");
    l->cmds[l->n++] = l->cur;
    memset(&l->cur, 0, sizeof(l->cur));
    return 0;
}

/* One rune through the machine. */
static int feed(struct lexer *l, enum state *st, uint32_t r)
{
    bool nl = r == '\n' || r == '\r', sp = r == ' ' || r == '\t';
    enum state next = *st;
    bool keep = true;                       /* does r go into the buffer */
    switch (*st) {
    case S_NIL:
        next = r == '#' ? S_COMMENT : (sp || nl) ? S_NIL : S_NAME;
        keep = next == S_NAME;
        if (next == S_NAME)
            l->cur.line = l->line;
        break;
    case S_NAME:
        if (alpha(r))
            break;
        if (!sp && l->b.len && is_command(l->b.data, l->b.len))
            return mf_fail(l->err, l->path, l->line, "%.*s needs a value", (int)l->b.len,
                           l->b.data);
        if (!sp)
            return mf_fail(l->err, l->path, l->line, "%s", bad_command);
        next = S_VALUE, keep = false;
        break;
    case S_VALUE:
        if (nl || sp)
            next = S_NIL;
        break;
    case S_PARAMETER:
        if (alpha(r) || (r >= '0' && r <= '9') || r == '_')
            break;
        if (!sp)
            return mf_fail(l->err, l->path, l->line,
                           "a parameter name is letters, digits and '_', then a space and a value");
        next = S_VALUE, keep = false;
        break;
    case S_MESSAGE:
        if (alpha(r))
            break;
        if (!sp)
            return mf_fail(l->err, l->path, l->line,
                           "message role must be one of \"system\", \"user\", or \"assistant\"");
        next = S_VALUE, keep = false;
        break;
    case S_COMMENT:
        next = nl ? S_NIL : S_COMMENT;
        keep = false;
        break;
    }
    if (next != *st) {
        const char *s = l->b.data ? l->b.data : "";
        size_t n = l->b.len;
        switch (*st) {
        case S_NAME:
            if (!is_command(s, n))
                return mf_fail(l->err, l->path, l->line, "%s", bad_command);
            for (size_t i = 0; i <= n; i++)
                l->cur.name[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
            if (strcmp(l->cur.name, "from") == 0)
                snprintf(l->cur.name, sizeof(l->cur.name), "model");
            if (strcmp(l->cur.name, "parameter") == 0)
                next = S_PARAMETER;
            if (strcmp(l->cur.name, "message") == 0)
                next = S_MESSAGE;
            if (next == S_VALUE)
                l->value_line = l->line;
            break;
        case S_PARAMETER:
            if (n >= sizeof(l->cur.name))
                return mf_fail(l->err, l->path, l->line, "parameter name is too long");
            memcpy(l->cur.name, s, n + 1);
            l->value_line = l->line;
            break;
        case S_MESSAGE:
            if (strcmp(s, "system") && strcmp(s, "user") && strcmp(s, "assistant"))
                return mf_fail(l->err, l->path, l->line,
                               "message role must be one of \"system\", \"user\", or \"assistant\"");
            memcpy(l->cur.role, s, n + 1);
            l->value_line = l->line;
            break;
        case S_VALUE: {
            /* A space or a line end ends the value only once its quotes are closed; spaces
             * never do (they are trimmed at the ends). */
            size_t a = 0, z = 0;
            if (!unquote(l, &a, &z) || sp)
                return add_rune(l, r);
            if (finish_value(l, a, z))
                return -1;
            break;
        }
        case S_NIL: case S_COMMENT:
            break;
        }
        l->b.len = 0;
        l->lead = l->tail = 0;
        *st = next;
    }
    /* Ollama keeps printable runes only: other controls (and odd spaces) vanish. */
    if (keep && printable(r))
        return add_rune(l, r);
    return 0;
}

static void free_cmds(struct lexer *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->cmds[i].args);
    free(l->cmds);
    free(l->cur.args);
    lm_buf_release(&l->b);
}

static int lex_file(struct lexer *l, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    enum state st = S_NIL;
    size_t i = 0;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    l->line = 1;
    while (i < len) {
        uint32_t r = next_rune(p, len, &i);
        if (feed(l, &st, r))
            return -1;
        /* a line ends at \n, \r or \r\n; the newline belongs to the line it ends */
        if (r == '\n' || (r == '\r' && !(i < len && p[i] == '\n')))
            l->line++;
    }
    const char *name = l->b.data ? l->b.data : "";
    switch (st) {
    case S_NIL: case S_COMMENT:
        return 0;
    case S_VALUE: {
        size_t a = 0, z = 0;
        if (!unquote(l, &a, &z))
            return mf_fail(l->err, l->path, l->value_line, "unexpected end of file in a %s value",
                           l->tail - l->lead >= 3 && memcmp(name + a, "\"\"\"", 3) == 0
                           ? "\"\"\"" : "\"");
        return finish_value(l, a, z);
    }
    case S_NAME:
        if (!is_command(name, l->b.len))
            return mf_fail(l->err, l->path, l->line, "%s", bad_command);
        return mf_fail(l->err, l->path, l->line, "%s needs a value", name);
    case S_PARAMETER:
        return mf_fail(l->err, l->path, l->line, "PARAMETER needs a name and a value");
    case S_MESSAGE:
        return mf_fail(l->err, l->path, l->line, "MESSAGE needs a role and a text");
    }
    return 0;
}

/* ---- meaning ------------------------------------------------------------------------------ */

static bool semver(const char *s, const char **core)
{
    if (*s == 'v')
        s++;
    *core = s;
    for (int part = 0; part < 3; part++) {
        if (!(*s >= '0' && *s <= '9') || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
        if (*s != '.')
            return *s == 0 || (part == 2 && (*s == '-' || *s == '+'));
        if (part < 2)
            s++;
    }
    return false;
}

static int apply(struct lm_modelfile *mf, const struct cmd *c, const char *path, struct lm_err *err)
{
    const char *v = c->args;
    size_t vn = strlen(v);
    if (strcmp(c->name, "model") == 0) {
        if (mf->from)
            return mf_fail(err, path, c->line, "a second FROM (the first is on line %d): lm "
                           "builds a model from one FROM", mf->from_line);
        if (vn == 0)
            return mf_fail(err, path, c->line, "FROM needs a model name or path");
        mf->from = mf_strndup(v, vn);
        mf->from_line = c->line;
        return mf->from ? 0 : mf_fail(err, path, c->line, "out of memory");
    }
    if (strcmp(c->name, "adapter") == 0)
        return mf_fail(err, path, c->line, "ADAPTER is not supported: lm does not apply LoRA "
                       "adapters (merge the adapter into the weights and use FROM)");
    if (strcmp(c->name, "draft") == 0 || strcmp(c->name, "renderer") == 0 ||
        strcmp(c->name, "parser") == 0) {
        char w[200];
        snprintf(w, sizeof(w), "%s is ignored: lm has no %s", c->name[0] == 'd' ? "DRAFT"
                 : c->name[0] == 'r' ? "RENDERER" : "PARSER",
                 c->name[0] == 'd' ? "speculative decoding" : "built-in renderers or parsers");
        return warn(mf, path, c->line, w) ? mf_fail(err, path, c->line, "out of memory") : 0;
    }
    if (strcmp(c->name, "requires") == 0) {
        const char *core;
        if (!semver(v, &core))
            return mf_fail(err, path, c->line, "requires must be a valid semver (e.g. 0.14.0)");
        free(mf->requires);
        mf->requires = mf_strndup(core, strlen(core));
        return mf->requires ? 0 : mf_fail(err, path, c->line, "out of memory");
    }
    if (strcmp(c->name, "template") == 0 || strcmp(c->name, "system") == 0) {
        if (vn == 0)
            return 0;   /* an empty value keeps what the base model has */
        bool tmpl = c->name[0] == 't';
        if (tmpl) {
            struct lm_err te;
            struct lm_gotmpl *t = lm_gotmpl_parse(v, vn, "TEMPLATE", &te);
            if (!t) {
                /* point at the Modelfile line: the template's line N is N-1 lines further */
                int tl = 1;
                for (uint64_t i = 0; te.off != LM_NO_OFFSET && i < te.off && i < vn; i++)
                    tl += v[i] == '\n';
                const char *m = strncmp(te.msg, "line ", 5) == 0 && strstr(te.msg, ": ")
                              ? strstr(te.msg, ": ") + 2 : te.msg;
                return mf_fail(err, path, c->line + tl - 1, "TEMPLATE: %s", m);
            }
            lm_gotmpl_free(t);
        }
        char **dst = tmpl ? &mf->tmpl : &mf->system;
        free(*dst);
        *dst = mf_strndup(v, vn);
        return *dst ? 0 : mf_fail(err, path, c->line, "out of memory");
    }
    if (strcmp(c->name, "license") == 0)
        return vn == 0 ? 0 : mf_push(&mf->licenses, &mf->n_licenses, mf_strndup(v, vn))
                             ? mf_fail(err, path, c->line, "out of memory") : 0;
    if (strcmp(c->name, "message") == 0) {
        struct lm_mf_message *m = realloc(mf->msgs, (mf->n_msgs + 1) * sizeof(*m));
        if (!m)
            return mf_fail(err, path, c->line, "out of memory");
        mf->msgs = m;
        m[mf->n_msgs].role = mf_strndup(c->role, strlen(c->role));
        m[mf->n_msgs].content = mf_strndup(v, vn);
        if (!m[mf->n_msgs].role || !m[mf->n_msgs].content) {
            free(m[mf->n_msgs].role);
            free(m[mf->n_msgs].content);
            return mf_fail(err, path, c->line, "out of memory");
        }
        mf->n_msgs++;
        return 0;
    }
    return mf_param(mf, c->name, v, path, c->line, err);
}

int lm_modelfile_parse(const char *text, size_t len, const char *path, struct lm_modelfile *mf,
                       struct lm_err *err)
{
    memset(mf, 0, sizeof(*mf));
    path = path ? path : "Modelfile";
    if (len > LM_MODELFILE_MAX)
        return mf_fail(err, path, 0, "file is larger than %u bytes", LM_MODELFILE_MAX);
    struct lm_buf u16 = LM_BUF_INIT(2 * (size_t)LM_MODELFILE_MAX);
    const unsigned char *p = (const unsigned char *)text;
    if (len >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF))) {
        if (utf16_to_utf8(p + 2, len - 2, p[0] == 0xFE, &u16) || lm_buf_add(&u16, "", 0)) {
            lm_buf_release(&u16);
            return mf_fail(err, path, 0, "out of memory");
        }
        text = u16.data;
        len = u16.len;
    }
    struct lexer l;
    memset(&l, 0, sizeof(l));
    l.path = path;
    l.err = err;
    l.b.max = LM_MODELFILE_MAX;
    int ret = lex_file(&l, text, len);
    for (size_t i = 0; ret == 0 && i < l.n; i++)
        ret = apply(mf, &l.cmds[i], path, err);
    if (ret == 0 && !mf->from)
        ret = mf_fail(err, path, l.line - (len && (text[len - 1] == '\n' || text[len - 1] == '\r')),
                      "no FROM line");
    free_cmds(&l);
    lm_buf_release(&u16);
    if (ret)
        lm_modelfile_release(mf);
    return ret;
}

void lm_modelfile_release(struct lm_modelfile *mf)
{
    free(mf->from);
    free(mf->tmpl);
    free(mf->system);
    free(mf->requires);
    for (size_t i = 0; i < mf->n_licenses; i++)
        free(mf->licenses[i]);
    free(mf->licenses);
    for (size_t i = 0; i < mf->n_warnings; i++)
        free(mf->warnings[i]);
    free(mf->warnings);
    for (size_t i = 0; i < mf->n_msgs; i++) {
        free(mf->msgs[i].role);
        free(mf->msgs[i].content);
    }
    free(mf->msgs);
    mf_params_release(mf);
    memset(mf, 0, sizeof(*mf));
}
