/* gotmpl_parse.c: lexer and parser of the Go text/template subset Ollama's templates use. */
#define _GNU_SOURCE   /* memmem */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "gotmpl_int.h"
#include "../common/banned.h"

/* ---- arena ---------------------------------------------------------------------------------- */

struct gt_block {
    struct gt_block *next;
    size_t cap, used;
    _Alignas(16) unsigned char data[];
};

void *gt_alloc(struct gt_arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n > a->max - a->used)
        return NULL;
    struct gt_block *b = a->head;
    if (!b || n > b->cap - b->used) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->next = a->head;
        b->cap = cap;
        b->used = 0;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->used += n;
    memset(p, 0, n);
    return p;
}

void gt_arena_free(struct gt_arena *a)
{
    while (a->head) {
        struct gt_block *b = a->head;
        a->head = b->next;
        free(b);
    }
    a->used = 0;
}

int gt_line(const struct lm_gotmpl *t, uint32_t off)
{
    int line = 1;
    for (uint32_t i = 0; i < off && i < t->len; i++)
        line += t->src[i] == '\n';
    return line;
}

/* ---- lexer (text/template/parse/lex.go, inside actions) ----------------------------------- */

enum tk {
    TK_RIGHT, TK_SPACE, TK_FIELD, TK_VAR, TK_IDENT, TK_STRING, TK_RAW, TK_NUMBER,
    TK_LPAREN, TK_RPAREN, TK_PIPE, TK_DECLARE, TK_ASSIGN, TK_COMMA, TK_DOT, TK_BOOL, TK_NIL,
    TK_IF, TK_ELSE, TK_END, TK_RANGE, TK_WITH, TK_BREAK, TK_CONTINUE, TK_DEFINE, TK_TEMPLATE,
    TK_BLOCK,
};

struct tok {
    enum tk t;
    size_t pos, len;
    bool trim;               /* TK_RIGHT: " -}}" */
};

struct parser {
    struct lm_gotmpl *t;
    const char *s;
    size_t len, pos;
    int paren;
    int depth, range_depth;
    const char *vars[256];   /* declared variable names, innermost last */
    size_t var_len[256];
    size_t n_vars;
    bool trim_next;          /* the last action ended with " -}}" */
    struct lm_err *err;
    jmp_buf fail;            /* errors unwind the recursive descent at once; memory is arena's */
};

__attribute__((format(printf, 3, 4), noreturn))
static void fail(struct parser *p, size_t at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lm_err_set(p->err, LM_ECORRUPT, p->t->name, at, "line %d: %s", gt_line(p->t, (uint32_t)at),
               msg);
    longjmp(p->fail, 1);
}

static void *alloc(struct parser *p, size_t n)
{
    void *q = gt_alloc(&p->t->arena, n);
    if (!q)
        fail(p, p->pos, "template is too large to parse (or out of memory)");
    return q;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || (unsigned char)c >= 0x80;   /* Go takes Unicode letters */
}

static bool starts(const struct parser *p, size_t at, const char *lit)
{
    size_t n = strlen(lit);
    return n <= p->len - at && memcmp(p->s + at, lit, n) == 0;
}

/* "}}" or a trim-marked " -}}" at `at`; *trim says which. */
static bool at_right(const struct parser *p, size_t at, bool *trim)
{
    *trim = false;
    if (starts(p, at, "}}"))
        return true;
    if (at < p->len && is_space(p->s[at]) && starts(p, at + 1, "-}}")) {
        *trim = true;
        return true;
    }
    return false;
}

/* After a variable, field or identifier Go wants a separator. */
static void terminator(struct parser *p, size_t at)
{
    bool trim;
    if (at >= p->len || is_space(p->s[at]) || (p->s[at] && strchr(".,|:()", p->s[at])) ||
        at_right(p, at, &trim))
        return;
    fail(p, at, "bad character '%c'", p->s[at]);
}

static const struct { const char *word; enum tk t; } keywords[] = {
    { "if", TK_IF }, { "else", TK_ELSE }, { "end", TK_END }, { "range", TK_RANGE },
    { "with", TK_WITH }, { "break", TK_BREAK }, { "continue", TK_CONTINUE },
    { "define", TK_DEFINE }, { "template", TK_TEMPLATE }, { "block", TK_BLOCK },
    { "true", TK_BOOL }, { "false", TK_BOOL }, { "nil", TK_NIL },
};

static struct tok lex(struct parser *p)
{
    struct tok k = { TK_SPACE, p->pos, 0, false };
    size_t i = p->pos;
    bool trim;
    if (at_right(p, i, &trim)) {
        if (p->paren > 0)
            fail(p, i, "unclosed left paren");
        k.t = TK_RIGHT;
        k.trim = trim;
        i += trim ? 4 : 2;
        goto done;
    }
    if (i >= p->len)
        fail(p, i, "unclosed action");
    char c = p->s[i];
    if (is_space(c)) {
        while (i < p->len && is_space(p->s[i]))
            i++;
        if (i > p->pos + 1 && starts(p, i, "-}}"))
            i--;     /* the last space belongs to the " -}}" marker */
        k.t = TK_SPACE;
    } else if (c == '=') {
        k.t = TK_ASSIGN, i++;
    } else if (c == ':') {
        if (!starts(p, i, ":="))
            fail(p, i, "expected :=");
        k.t = TK_DECLARE, i += 2;
    } else if (c == '|') {
        k.t = TK_PIPE, i++;
    } else if (c == ',') {
        k.t = TK_COMMA, i++;
    } else if (c == '(') {
        k.t = TK_LPAREN, i++;
        p->paren++;
    } else if (c == ')') {
        if (--p->paren < 0)
            fail(p, i, "unexpected right paren");
        k.t = TK_RPAREN, i++;
    } else if (c == '"') {
        for (i++; i < p->len && p->s[i] != '"'; i++) {
            if (p->s[i] == '\\' && i + 1 < p->len)
                i++;
            if (p->s[i] == '\n')
                break;
        }
        if (i >= p->len || p->s[i] != '"')
            fail(p, k.pos, "unterminated quoted string");
        k.t = TK_STRING, i++;
    } else if (c == '`') {
        const char *e = memchr(p->s + i + 1, '`', p->len - i - 1);
        if (!e)
            fail(p, k.pos, "unterminated raw quoted string");
        k.t = TK_RAW;
        i = (size_t)(e - p->s) + 1;
    } else if (c == '$' || c == '.') {
        i++;
        if (c == '.' && i < p->len && p->s[i] >= '0' && p->s[i] <= '9')
            fail(p, k.pos, "floating-point constants are not supported");
        while (i < p->len && is_alnum(p->s[i]))
            i++;
        k.t = c == '$' ? TK_VAR : i == p->pos + 1 ? TK_DOT : TK_FIELD;
        terminator(p, i);
    } else if (c == '+' || c == '-' || (c >= '0' && c <= '9')) {
        for (i++; i < p->len && (is_alnum(p->s[i]) || p->s[i] == '.'); i++)
            ;
        k.t = TK_NUMBER;
    } else if (is_alnum(c)) {
        while (i < p->len && is_alnum(p->s[i]))
            i++;
        k.t = TK_IDENT;
        for (size_t w = 0; w < sizeof(keywords) / sizeof(keywords[0]); w++)
            if (strlen(keywords[w].word) == i - p->pos &&
                memcmp(keywords[w].word, p->s + p->pos, i - p->pos) == 0)
                k.t = keywords[w].t;
        terminator(p, i);
    } else if (c == '\'') {
        fail(p, i, "character constants are not supported");
    } else {
        fail(p, i, "unexpected '%c' in command", c);
    }
done:
    k.len = i - k.pos;
    p->pos = i;
    return k;
}

static struct tok lex_nonspace(struct parser *p)
{
    struct tok k = lex(p);
    return k.t == TK_SPACE ? lex(p) : k;
}

struct mark {
    size_t pos;
    int paren;
};

static struct mark save(const struct parser *p)
{
    return (struct mark){ p->pos, p->paren };
}

static void restore(struct parser *p, struct mark m)
{
    p->pos = m.pos;
    p->paren = m.paren;
}

static struct tok peek(struct parser *p)
{
    struct mark m = save(p);
    struct tok k = lex(p);
    restore(p, m);
    return k;
}

static struct tok peek_nonspace(struct parser *p)
{
    struct mark m = save(p);
    struct tok k = lex_nonspace(p);
    restore(p, m);
    return k;
}

static const char *tok_text(struct parser *p, struct tok k, char *buf, size_t n)
{
    if (k.t == TK_RIGHT)
        return "}}";
    return lm_quote(p->s + k.pos, k.len, buf, n);
}

__attribute__((noreturn))
static void unexpected(struct parser *p, struct tok k, const char *context)
{
    char b[300];
    fail(p, k.pos, "unexpected \"%s\" in %s", tok_text(p, k, b, sizeof(b)), context);
}

/* ---- literals ------------------------------------------------------------------------------- */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

size_t gt_utf8_put(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6)), o[1] = (char)(0x80 | (cp & 63));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)), o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)), o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)), o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* strconv.Unquote of a "..." or `...` literal into arena memory. */
static void unquote(struct parser *p, struct tok k, struct gt_arg *a)
{
    const char *s = p->s + k.pos + 1;
    size_t n = k.len - 2, o = 0;
    char *out = alloc(p, n + 1);
    if (k.t == TK_RAW) {
        for (size_t i = 0; i < n; i++)
            if (s[i] != '\r')   /* Go drops carriage returns from raw strings */
                out[o++] = s[i];
        a->s = out, a->n = o;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            out[o++] = s[i];
            continue;
        }
        if (++i >= n)
            fail(p, k.pos, "invalid syntax in string");
        static const char esc[] = "a\ab\bf\fn\nr\rt\tv\v\\\\\"\"";
        const char *e = strchr(esc, s[i]);
        if (e && ((e - esc) & 1) == 0 && s[i]) {
            out[o++] = e[1];
            continue;
        }
        int digits = s[i] == 'x' ? 2 : s[i] == 'u' ? 4 : s[i] == 'U' ? 8 : 0;
        uint32_t v = 0;
        if (s[i] >= '0' && s[i] <= '7') {
            for (int d = 0; d < 3; d++, i++) {
                if (i >= n || s[i] < '0' || s[i] > '7')
                    fail(p, k.pos, "invalid octal escape in string");
                v = v * 8 + (uint32_t)(s[i] - '0');
            }
            i--;
            if (v > 255)
                fail(p, k.pos, "invalid octal escape in string");
            out[o++] = (char)v;
            continue;
        }
        if (!digits)
            fail(p, k.pos, "invalid escape '\\%c' in string", s[i]);
        for (int d = 0; d < digits; d++) {
            int h = ++i < n ? hexval(s[i]) : -1;
            if (h < 0)
                fail(p, k.pos, "invalid hex escape in string");
            v = v * 16 + (uint32_t)h;
        }
        if (digits == 2) {
            out[o++] = (char)v;
        } else {
            if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
                fail(p, k.pos, "invalid Unicode escape in string");
            o += gt_utf8_put(out + o, v);   /* \uXXXX (6 bytes) and \UXXXXXXXX never grow */
        }
    }
    a->s = out, a->n = o;
}

static void number(struct parser *p, struct tok k, struct gt_arg *a)
{
    const char *s = p->s + k.pos;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-')
        neg = s[i++] == '-';
    int base = 10;
    if (k.len - i > 2 && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X'))
        base = 16, i += 2;
    uint64_t v = 0;
    bool any = false;
    for (; i < k.len; i++) {
        int d = hexval(s[i]);
        if (s[i] == '_' && any)
            continue;
        if (d < 0 || d >= base || ckd_mul(&v, v, (uint64_t)base) || ckd_add(&v, v, (uint64_t)d))
            fail(p, k.pos, "number '%.*s' is not an integer lm can use", (int)k.len, s);
        any = true;
    }
    if (!any || v > (uint64_t)INT64_MAX + neg)
        fail(p, k.pos, "number '%.*s' is not an integer lm can use", (int)k.len, s);
    a->i = neg ? (int64_t)(0 - v) : (int64_t)v;
}

/* ---- parser (text/template/parse/parse.go) ------------------------------------------------- */

static const char *const func_names[GF_COUNT] = {
    [GF_AND] = "and", [GF_OR] = "or", [GF_NOT] = "not", [GF_EQ] = "eq", [GF_NE] = "ne",
    [GF_LT] = "lt", [GF_LE] = "le", [GF_GT] = "gt", [GF_GE] = "ge", [GF_LEN] = "len",
    [GF_INDEX] = "index", [GF_SLICE] = "slice", [GF_PRINT] = "print", [GF_PRINTF] = "printf",
    [GF_PRINTLN] = "println", [GF_JSON] = "json", [GF_CURRENT_DATE] = "currentDate",
    [GF_YESTERDAY_DATE] = "yesterdayDate", [GF_TO_TS_TYPE] = "toTypeScriptType",
};

static struct gt_pipe *pipeline(struct parser *p, const char *context, enum tk end);
static struct gt_node *list(struct parser *p, enum tk *ended);

static void *grow(struct parser *p, void *v, size_t n, size_t size)
{
    /* Arrays are rebuilt at powers of two; the old copy stays in the arena (small). */
    if (n & (n - 1) || n == 0) {
        if (n == 0)
            return alloc(p, size);
        return v;
    }
    void *w = alloc(p, 2 * n * size);
    memcpy(w, v, n * size);
    return w;
}

static void enter(struct parser *p, size_t at)
{
    if (++p->depth > LM_GOTMPL_MAX_DEPTH)
        fail(p, at, "nesting is deeper than %d", LM_GOTMPL_MAX_DEPTH);
}

static void declare(struct parser *p, struct tok v)
{
    if (p->n_vars >= sizeof(p->vars) / sizeof(p->vars[0]))
        fail(p, v.pos, "too many variables");
    p->vars[p->n_vars] = p->s + v.pos;
    p->var_len[p->n_vars++] = v.len;
}

static void use_var(struct parser *p, struct tok v)
{
    for (size_t i = p->n_vars; i-- > 0;)
        if (p->var_len[i] == v.len && memcmp(p->vars[i], p->s + v.pos, v.len) == 0)
            return;
    char b[300];
    fail(p, v.pos, "undefined variable \"%s\"", tok_text(p, v, b, sizeof(b)));
}

static const char *dup_tok(struct parser *p, struct tok k, size_t skip)
{
    char *s = alloc(p, k.len - skip + 1);
    memcpy(s, p->s + k.pos + skip, k.len - skip);
    return s;
}

static void add_field(struct parser *p, struct gt_arg *a, struct tok k)
{
    a->fields = grow(p, (void *)a->fields, a->n_fields, sizeof(*a->fields));
    a->fields[a->n_fields++] = dup_tok(p, k, 1);
}

static struct gt_arg *term(struct parser *p)
{
    struct mark m = save(p);
    struct tok k = lex_nonspace(p);
    struct gt_arg *a = alloc(p, sizeof(*a));
    a->off = (uint32_t)k.pos;
    switch (k.t) {
    case TK_IDENT: {
        for (int f = 0; f < GF_COUNT; f++)
            if (strlen(func_names[f]) == k.len && memcmp(func_names[f], p->s + k.pos, k.len) == 0) {
                a->kind = GA_FUNC;
                a->func = (enum gt_func)f;
                return a;
            }
        char b[300];
        fail(p, k.pos, "function \"%s\" not defined", tok_text(p, k, b, sizeof(b)));
    }
    case TK_DOT:
        a->kind = GA_DOT;
        return a;
    case TK_NIL:
        a->kind = GA_NIL;
        return a;
    case TK_VAR:
        use_var(p, k);
        a->kind = GA_VAR;
        a->s = dup_tok(p, k, 0);
        a->n = k.len;
        return a;
    case TK_FIELD:
        a->kind = GA_FIELD;
        add_field(p, a, k);
        return a;
    case TK_BOOL:
        a->kind = GA_BOOL;
        a->b = p->s[k.pos] == 't';
        return a;
    case TK_NUMBER:
        a->kind = GA_INT;
        number(p, k, a);
        return a;
    case TK_STRING: case TK_RAW:
        a->kind = GA_STRING;
        unquote(p, k, a);
        return a;
    case TK_LPAREN:
        enter(p, k.pos);
        a->kind = GA_PIPE;
        a->pipe = pipeline(p, "parenthesized pipeline", TK_RPAREN);
        p->depth--;
        return a;
    default:
        restore(p, m);
        return NULL;
    }
}

static struct gt_arg *operand(struct parser *p)
{
    struct gt_arg *a = term(p);
    if (!a || peek(p).t != TK_FIELD)
        return a;
    if (a->kind == GA_PIPE)
        a->kind = GA_CHAIN;
    else if (a->kind != GA_FIELD && a->kind != GA_VAR)
        fail(p, p->pos, "unexpected . after term");
    while (peek(p).t == TK_FIELD)
        add_field(p, a, lex(p));
    return a;
}

static struct gt_cmd *command(struct parser *p)
{
    struct gt_cmd *c = alloc(p, sizeof(*c));
    c->off = (uint32_t)p->pos;
    for (;;) {
        struct gt_arg *a = operand(p);
        if (a) {
            c->args = grow(p, c->args, c->n, sizeof(*c->args));
            c->args[c->n++] = a;
        }
        struct mark m = save(p);
        struct tok k = lex(p);
        if (k.t == TK_SPACE)
            continue;
        if (k.t == TK_RIGHT || k.t == TK_RPAREN)
            restore(p, m);
        else if (k.t != TK_PIPE)
            unexpected(p, k, "operand");
        break;
    }
    if (c->n == 0)
        fail(p, c->off, "empty command");
    c->off = c->args[0]->off;
    return c;
}

static struct gt_pipe *pipeline(struct parser *p, const char *context, enum tk end)
{
    struct gt_pipe *pp = alloc(p, sizeof(*pp));
    pp->off = (uint32_t)p->pos;
    bool is_range = strcmp(context, "range") == 0;
    /* Declarations: $x := / $x = / (range only) $i, $x :=. Go needs three tokens of look-ahead
     * to tell "$x := 1" from "$x | f"; saving the lexer position does the same. */
    struct tok vs[2];
    size_t nv = 0;
    for (;;) {
        struct mark m = save(p);
        struct tok v = lex_nonspace(p);
        if (v.t != TK_VAR) {
            restore(p, m);
            break;
        }
        struct tok nx = peek_nonspace(p);
        if (nx.t == TK_COMMA) {
            lex_nonspace(p);
            vs[nv++] = v;
            if (!is_range || nv == 2)
                fail(p, v.pos, "too many declarations in %s", context);
            if (peek_nonspace(p).t != TK_VAR)
                fail(p, v.pos, "range can only initialize variables");
            continue;
        }
        if (nx.t == TK_ASSIGN || nx.t == TK_DECLARE) {
            lex_nonspace(p);
            vs[nv++] = v;
            pp->is_assign = nx.t == TK_ASSIGN;
            for (size_t i = 0; i < nv; i++) {
                if (pp->is_assign)
                    use_var(p, vs[i]);
                else
                    declare(p, vs[i]);
                pp->decl[pp->n_decl++] = dup_tok(p, vs[i], 0);
            }
            break;
        }
        if (nv)
            fail(p, nx.pos, "range can only initialize variables");
        restore(p, m);
        break;
    }
    for (;;) {
        struct mark m = save(p);
        struct tok k = lex_nonspace(p);
        if (k.t == end) {
            if (pp->n == 0)
                fail(p, k.pos, "missing value for %s", context);
            for (size_t i = 1; i < pp->n; i++) {
                enum gt_arg_kind a = pp->cmds[i]->args[0]->kind;
                if (a == GA_BOOL || a == GA_DOT || a == GA_NIL || a == GA_INT || a == GA_STRING)
                    fail(p, pp->cmds[i]->off, "non executable command in pipeline stage %zu",
                         i + 1);
            }
            if (end == TK_RIGHT)
                p->trim_next = k.trim;
            return pp;
        }
        switch (k.t) {
        case TK_BOOL: case TK_DOT: case TK_FIELD: case TK_IDENT: case TK_NUMBER: case TK_NIL:
        case TK_RAW: case TK_STRING: case TK_VAR: case TK_LPAREN:
            restore(p, m);
            pp->cmds = grow(p, pp->cmds, pp->n, sizeof(*pp->cmds));
            pp->cmds[pp->n++] = command(p);
            break;
        default:
            unexpected(p, k, context);
        }
    }
}

static struct gt_node *new_node(struct parser *p, enum gt_node_kind kind, size_t at)
{
    struct gt_node *n = alloc(p, sizeof(*n));
    n->kind = kind;
    n->off = (uint32_t)at;
    return n;
}

static void append(struct parser *p, struct gt_node *l, struct gt_node *n)
{
    l->items = grow(p, l->items, l->n, sizeof(*l->items));
    l->items[l->n++] = n;
}

static void expect_right(struct parser *p, const char *context)
{
    struct tok k = lex_nonspace(p);
    if (k.t != TK_RIGHT)
        unexpected(p, k, context);
    p->trim_next = k.trim;
}

/* if / range / with: pipeline, list, optional else (or else if / else with), end. */
static struct gt_node *control(struct parser *p, enum gt_node_kind kind, const char *context,
                               size_t at)
{
    enter(p, at);
    size_t mark = p->n_vars;
    struct gt_node *n = new_node(p, kind, at);
    n->pipe = pipeline(p, context, TK_RIGHT);
    enum tk ended;
    p->range_depth += kind == GT_RANGE;
    n->list = list(p, &ended);
    p->range_depth -= kind == GT_RANGE;
    if (ended == TK_ELSE) {
        struct tok k = peek_nonspace(p);
        if ((kind == GT_IF && k.t == TK_IF) || (kind == GT_WITH && k.t == TK_WITH)) {
            lex_nonspace(p);
            n->else_list = new_node(p, GT_LIST, k.pos);
            append(p, n->else_list, control(p, kind, context, k.pos));
        } else {
            expect_right(p, "else");
            n->else_list = list(p, &ended);
            if (ended != TK_END)
                fail(p, p->pos, "expected end; found else");
        }
    }
    p->n_vars = mark;
    p->depth--;
    return n;
}

/* Text and actions up to {{end}}, {{else}} or the end of input (*ended: TK_END, TK_ELSE, or
 * TK_RIGHT for end of input). */
static struct gt_node *list(struct parser *p, enum tk *ended)
{
    struct gt_node *l = new_node(p, GT_LIST, p->pos);
    for (;;) {
        const char *open = p->len - p->pos >= 2 ? memmem(p->s + p->pos, p->len - p->pos, "{{", 2)
                                                : NULL;
        size_t a = p->pos, z = open ? (size_t)(open - p->s) : p->len;
        bool left_trim = open && z + 3 < p->len && p->s[z + 2] == '-' && is_space(p->s[z + 3]);
        if (p->trim_next)
            while (a < z && is_space(p->s[a]))
                a++;
        if (left_trim)
            while (z > a && is_space(p->s[z - 1]))
                z--;
        if (z > a) {
            struct gt_node *t = new_node(p, GT_TEXT, a);
            t->text = p->s + a;
            t->len = z - a;
            append(p, l, t);
        }
        p->trim_next = false;
        if (!open) {
            if (p->depth > 0)
                fail(p, p->len, "unexpected EOF");
            *ended = TK_RIGHT;
            p->pos = p->len;
            return l;
        }
        size_t at = (size_t)(open - p->s);
        p->pos = at + 2 + (left_trim ? 2 : 0);
        if (starts(p, p->pos, "/*")) {
            const char *e = memmem(p->s + p->pos + 2, p->len - p->pos - 2, "*/", 2);
            if (!e)
                fail(p, at, "unclosed comment");
            p->pos = (size_t)(e - p->s) + 2;
            bool trim;
            if (!at_right(p, p->pos, &trim))
                fail(p, at, "comment ends before closing delimiter");
            p->pos += trim ? 4 : 2;
            p->trim_next = trim;
            continue;
        }
        struct mark m = save(p);
        struct tok k = lex_nonspace(p);
        switch (k.t) {
        case TK_IF:
            append(p, l, control(p, GT_IF, "if", k.pos));
            break;
        case TK_RANGE:
            append(p, l, control(p, GT_RANGE, "range", k.pos));
            break;
        case TK_WITH:
            append(p, l, control(p, GT_WITH, "with", k.pos));
            break;
        case TK_END:
            expect_right(p, "end");
            if (p->depth == 0)
                fail(p, k.pos, "unexpected {{end}}");
            *ended = TK_END;
            return l;
        case TK_ELSE:
            if (p->depth == 0)
                fail(p, k.pos, "unexpected {{else}}");
            *ended = TK_ELSE;
            return l;
        case TK_BREAK: case TK_CONTINUE:
            if (p->range_depth == 0)
                fail(p, k.pos, "{{%s}} outside {{range}}", k.t == TK_BREAK ? "break" : "continue");
            expect_right(p, k.t == TK_BREAK ? "break" : "continue");
            append(p, l, new_node(p, k.t == TK_BREAK ? GT_BREAK : GT_CONTINUE, k.pos));
            break;
        case TK_DEFINE: case TK_TEMPLATE: case TK_BLOCK:
            fail(p, k.pos, "{{%.*s}} is not supported", (int)k.len, p->s + k.pos);
        default: {
            restore(p, m);
            struct gt_node *n = new_node(p, GT_ACTION, k.pos);
            n->pipe = pipeline(p, "command", TK_RIGHT);
            append(p, l, n);
        }
        }
    }
}

/* ---- Ollama's Vars() and deleteNode --------------------------------------------------------- */

static bool ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if ((*a | 32) != (*b | 32))
            return false;
    return *a == *b;
}

static void note_ident(struct lm_gotmpl *t, const char *s)
{
    if (ieq(s, "messages") || ieq(s, "document"))
        t->uses_messages = true;
    if (ieq(s, "response"))
        t->uses_response = true;
}

/* Identifiers() of Ollama's template.go: fields and variables, not through chains. */
static void idents_pipe(struct lm_gotmpl *t, const struct gt_pipe *p)
{
    for (size_t c = 0; p && c < p->n; c++)
        for (size_t i = 0; i < p->cmds[c]->n; i++) {
            const struct gt_arg *a = p->cmds[c]->args[i];
            if (a->kind == GA_VAR)
                note_ident(t, a->s);
            if (a->kind == GA_FIELD || a->kind == GA_VAR)
                for (size_t f = 0; f < a->n_fields; f++)
                    note_ident(t, a->fields[f]);
            if (a->kind == GA_PIPE)
                idents_pipe(t, a->pipe);
        }
}

static void idents(struct lm_gotmpl *t, const struct gt_node *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        idents(t, n->items[i]);
    idents_pipe(t, n->pipe);
    idents(t, n->list);
    idents(t, n->else_list);
}

/* Pre-order walk as deleteNode does it: returns true when the node is to be deleted. */
struct cut {
    bool cut;
};

static bool cut_pipe(struct cut *c, struct gt_pipe *p);

static bool cut_arg(struct cut *c, struct gt_arg *a)
{
    if (c->cut)
        return true;
    if (a->kind == GA_FIELD) {
        for (size_t f = 0; f < a->n_fields; f++)
            if (strcmp(a->fields[f], "Response") == 0)
                c->cut = true;
        return false;
    }
    if (a->kind == GA_PIPE)
        return cut_pipe(c, a->pipe);
    return false;
}

static bool cut_pipe(struct cut *c, struct gt_pipe *p)
{
    if (c->cut)
        return true;
    size_t kept_cmds = 0;
    for (size_t i = 0; i < p->n; i++) {
        struct gt_cmd *cmd = p->cmds[i];
        size_t kept = 0;
        for (size_t k = 0; k < cmd->n; k++)
            if (!cut_arg(c, cmd->args[k]))
                cmd->args[kept++] = cmd->args[k];
        cmd->n = kept;
        if (kept == 0)
            return true;   /* a command left without arguments takes its whole pipeline */
        p->cmds[kept_cmds++] = cmd;
    }
    p->n = kept_cmds;
    return p->n == 0;
}

static bool cut_node(struct cut *c, struct gt_node *n)
{
    if (c->cut)
        return true;
    switch (n->kind) {
    case GT_LIST: {
        size_t kept = 0;
        for (size_t i = 0; i < n->n; i++)
            if (!cut_node(c, n->items[i]))
                n->items[kept++] = n->items[i];
        n->n = kept;
        return false;
    }
    case GT_ACTION:
        return cut_pipe(c, n->pipe);
    case GT_IF: case GT_RANGE: case GT_WITH:
        /* the branch's own pipeline is not walked, only its lists */
        cut_node(c, n->list);
        if (n->else_list && cut_node(c, n->else_list))
            n->else_list = NULL;   /* Ollama would crash here; an empty else is the intent */
        return false;
    case GT_TEXT: case GT_BREAK: case GT_CONTINUE:
        return false;
    }
    return false;
}

void gt_cut_after_response(struct gt_node *root)
{
    struct cut c = { false };
    cut_node(&c, root);
}

int gt_parse(struct lm_gotmpl *t, struct lm_err *err)
{
    struct parser p;
    memset(&p, 0, sizeof(p));
    p.t = t;
    p.s = t->src;
    p.len = t->len;
    p.err = err;
    p.vars[0] = "$";
    p.var_len[0] = 1;
    p.n_vars = 1;
    if (setjmp(p.fail))
        return -1;
    enum tk ended;
    t->root = list(&p, &ended);
    idents(t, t->root);
    if (!t->uses_messages && !t->uses_response) {
        /* Ollama's Parse appends {{ .Response }} so a legacy template shows the answer */
        struct gt_node *n = new_node(&p, GT_ACTION, t->len);
        n->pipe = alloc(&p, sizeof(*n->pipe));
        n->pipe->cmds = alloc(&p, sizeof(*n->pipe->cmds));
        n->pipe->n = 1;
        struct gt_cmd *c = n->pipe->cmds[0] = alloc(&p, sizeof(*c));
        c->args = alloc(&p, sizeof(*c->args));
        c->n = 1;
        struct gt_arg *a = c->args[0] = alloc(&p, sizeof(*a));
        a->kind = GA_FIELD;
        a->fields = alloc(&p, sizeof(*a->fields));
        a->fields[0] = "Response";
        a->n_fields = 1;
        append(&p, t->root, n);
    }
    return 0;
}
