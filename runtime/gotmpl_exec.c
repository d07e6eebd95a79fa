/* gotmpl_exec.c: evaluating a parsed Go template over a chat, as Ollama's Template.Execute. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gotmpl_int.h"
#include "../common/banned.h"

#define GT_MAX_VARS 4096               /* live variables (declarations x nesting) */
#define GT_MAX_STRINGS LM_CHAT_MAX_BYTES /* bytes of strings made while rendering */

/* ---- values --------------------------------------------------------------------------------- */

enum vk {
    V_NONE,    /* a missing map entry or nil: "<no value>" when printed, "<nil>" in fmt */
    V_BOOL, V_INT, V_STR,
    V_LIST,    /* []*api.Message (or an empty typed list: Tools, Images, ToolCalls) */
    V_MSG,     /* *api.Message */
    V_ROOT,
};

struct val {
    enum vk k;
    bool b;
    int64_t i;
    const char *s;             /* STR */
    size_t n;                  /* STR bytes, LIST length */
    const struct gt_msg *m;      /* LIST first element, MSG */
};

static const struct val none = { V_NONE, false, 0, NULL, 0, NULL };

static struct val str(const char *s, size_t n)
{
    return (struct val){ V_STR, false, 0, s, n, NULL };
}

static struct val integer(int64_t i)
{
    return (struct val){ V_INT, false, i, NULL, 0, NULL };
}

static struct val boolean(bool b)
{
    return (struct val){ V_BOOL, b, 0, NULL, 0, NULL };
}

static const char *type_name(const struct val *v)
{
    switch (v->k) {
    case V_NONE: return "<nil>";
    case V_BOOL: return "bool";
    case V_INT: return "int";
    case V_STR: return "string";
    case V_LIST: return "[]*api.Message";
    case V_MSG: return "*api.Message";
    case V_ROOT: return "map[string]interface {}";
    }
    return "?";
}

static bool truth(const struct val *v)
{
    switch (v->k) {
    case V_NONE: return false;
    case V_BOOL: return v->b;
    case V_INT: return v->i != 0;
    case V_STR: case V_LIST: return v->n > 0;
    case V_MSG: case V_ROOT: return true;
    }
    return false;
}

/* ---- state ---------------------------------------------------------------------------------- */

struct ex {
    const struct lm_gotmpl *t;
    struct lm_err *err;
    jmp_buf fail;
    struct lm_buf *out;
    struct gt_arena strings;
    const struct gt_data *root;
    struct {
        const char *name;
        struct val v;
    } *vars;
    size_t n_vars;
    uint64_t steps;
};

__attribute__((format(printf, 3, 4), noreturn))
static void efail(struct ex *x, uint32_t at, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    lm_err_set(x->err, LM_EUNSUPPORTED, x->t->name, at, "line %d: %s", gt_line(x->t, at), msg);
    longjmp(x->fail, 1);
}

static void step(struct ex *x, uint32_t at)
{
    if (++x->steps > LM_GOTMPL_MAX_STEPS)
        efail(x, at, "template ran more than %d steps", LM_GOTMPL_MAX_STEPS);
}

/* Comparing long strings costs a step per 64 bytes, so a loop of them is bounded in time too. */
static void charge(struct ex *x, uint32_t at, size_t bytes)
{
    x->steps += bytes / 64;
    step(x, at);
}

static void emit(struct ex *x, uint32_t at, const char *s, size_t n)
{
    if (lm_buf_add(x->out, s, n))
        efail(x, at, "output is longer than %zu bytes (or out of memory)", x->out->max);
}

/* Strings made while rendering (printf, print, json) live until the render ends. */
struct sbuf {
    char *p;
    size_t n, cap;
};

static void sb_add(struct ex *x, uint32_t at, struct sbuf *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > GT_MAX_STRINGS)
                efail(x, at, "strings made by the template are over %u bytes", GT_MAX_STRINGS);
            cap *= 2;
        }
        char *q = gt_alloc(&x->strings, cap);
        if (!q)   /* past the arena's ceiling (ENOMEM is as good as that) */
            efail(x, at, "strings made by the template are over %u bytes", GT_MAX_STRINGS);
        if (b->n)
            memcpy(q, b->p, b->n);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void sb_str(struct ex *x, uint32_t at, struct sbuf *b, const char *s)
{
    sb_add(x, at, b, s, strlen(s));
}

static void sb_int(struct ex *x, uint32_t at, struct sbuf *b, int64_t i)
{
    char d[32];
    snprintf(d, sizeof(d), "%" PRId64, i);
    sb_str(x, at, b, d);
}

/* ---- variables ------------------------------------------------------------------------------ */

static void push_var(struct ex *x, uint32_t at, const char *name, struct val v)
{
    if (x->n_vars >= GT_MAX_VARS)
        efail(x, at, "more than %d variables are live", GT_MAX_VARS);
    x->vars[x->n_vars].name = name;
    x->vars[x->n_vars++].v = v;
}

static struct val *find_var(struct ex *x, uint32_t at, const char *name)
{
    for (size_t i = x->n_vars; i-- > 0;)
        if (strcmp(x->vars[i].name, name) == 0)
            return &x->vars[i].v;
    efail(x, at, "undefined variable: %s", name);
}

/* ---- fields --------------------------------------------------------------------------------- */

static struct val field(struct ex *x, uint32_t at, struct val v, const char *name)
{
    if (v.k == V_ROOT) {
        const struct gt_data *r = x->root;
        if (strcmp(name, "System") == 0)
            return str(r->system, r->system_n);
        if (strcmp(name, "Response") == 0)
            return str(r->response, r->response_n);
        if (strcmp(name, "Think") == 0 || strcmp(name, "IsThinkSet") == 0)
            return boolean(false);
        if (!r->messages_mode && strcmp(name, "Prompt") == 0)
            return str(r->prompt, r->prompt_n);
        if (r->messages_mode && strcmp(name, "Messages") == 0)
            return (struct val){ V_LIST, false, 0, NULL, r->n_msgs, r->msgs };
        if (r->messages_mode && strcmp(name, "Tools") == 0)
            return (struct val){ V_LIST, false, 0, NULL, 0, NULL };
        if (r->messages_mode && (strcmp(name, "Query") == 0 || strcmp(name, "Document") == 0 ||
                                 strcmp(name, "Instruction") == 0))
            return str("", 0);
        return none;   /* a missing key of Ollama's map: <no value> */
    }
    if (v.k == V_MSG) {
        if (strcmp(name, "Role") == 0)
            return str(v.m->role, v.m->role_n);
        if (strcmp(name, "Content") == 0)
            return str(v.m->content, v.m->content_n);
        if (strcmp(name, "Thinking") == 0 || strcmp(name, "ToolName") == 0 ||
            strcmp(name, "ToolCallID") == 0)
            return str("", 0);
        if (strcmp(name, "Images") == 0 || strcmp(name, "ToolCalls") == 0)
            return (struct val){ V_LIST, false, 0, NULL, 0, NULL };
        efail(x, at, "can't evaluate field %s in type *api.Message", name);
    }
    if (v.k == V_NONE)
        efail(x, at, "nil pointer evaluating interface {}.%s", name);
    efail(x, at, "can't evaluate field %s in type %s", name, type_name(&v));
}

static struct val fields(struct ex *x, uint32_t at, struct val v, const struct gt_arg *a)
{
    for (size_t i = 0; i < a->n_fields; i++)
        v = field(x, at, v, a->fields[i]);
    return v;
}

/* ---- printing (fmt's %v and text/template's printValue) ------------------------------------ */

static void fmt_value(struct ex *x, uint32_t at, struct sbuf *b, const struct val *v)
{
    switch (v->k) {
    case V_NONE: sb_str(x, at, b, "<nil>"); return;
    case V_BOOL: sb_str(x, at, b, v->b ? "true" : "false"); return;
    case V_INT: sb_int(x, at, b, v->i); return;
    case V_STR: sb_add(x, at, b, v->s, v->n); return;
    case V_LIST:
        if (v->n == 0) {
            sb_str(x, at, b, "[]");
            return;
        }
        break;
    case V_MSG: case V_ROOT:
        break;
    }
    efail(x, at, "cannot print a value of type %s", type_name(v));
}

/* strconv.Quote, for %q: printable ASCII and valid UTF-8 pass, the rest is escaped. */
static void go_quote(struct ex *x, uint32_t at, struct sbuf *b, const char *s, size_t n)
{
    sb_str(x, at, b, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        const char *rep = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                        : c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '\a' ? "\\a"
                        : c == '\b' ? "\\b" : c == '\f' ? "\\f" : c == '\v' ? "\\v" : NULL;
        if (rep) {
            sb_str(x, at, b, rep);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(e, sizeof(e), "\\x%02x", c);
            sb_str(x, at, b, e);
        } else {
            sb_add(x, at, b, s + i, 1);   /* UTF-8 passes through as Go prints it */
        }
    }
    sb_str(x, at, b, "\"");
}

static bool is_str(const struct val *v)
{
    return v->k == V_STR;
}

/* fmt.Sprint / Sprintln. */
static struct val do_print(struct ex *x, uint32_t at, const struct val *a, size_t n, bool ln)
{
    struct sbuf b = { NULL, 0, 0 };
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && (ln || (!is_str(&a[i - 1]) && !is_str(&a[i]))))
            sb_str(x, at, &b, " ");
        fmt_value(x, at, &b, &a[i]);
    }
    if (ln)
        sb_str(x, at, &b, "\n");
    return str(b.p ? b.p : "", b.n);
}

static void bad_verb(struct ex *x, uint32_t at, struct sbuf *b, char verb, const struct val *v)
{
    char h[4] = { '%', '!', verb, 0 };
    sb_str(x, at, b, h);
    sb_str(x, at, b, "(");
    if (v->k != V_NONE) {
        sb_str(x, at, b, type_name(v));
        sb_str(x, at, b, "=");
    }
    fmt_value(x, at, b, v);
    sb_str(x, at, b, ")");
}

/* fmt.Sprintf with the verbs templates use: %s %v %d %t %q %%. */
static struct val do_printf(struct ex *x, uint32_t at, const struct val *a, size_t n)
{
    if (a[0].k != V_STR)
        efail(x, at, "wrong type for value; expected string; got %s", type_name(&a[0]));
    struct sbuf b = { NULL, 0, 0 };
    const char *f = a[0].s;
    size_t fn = a[0].n, next = 1;
    for (size_t i = 0; i < fn; i++) {
        if (f[i] != '%') {
            sb_add(x, at, &b, f + i, 1);
            continue;
        }
        if (++i >= fn) {
            sb_str(x, at, &b, "%!(NOVERB)");
            break;
        }
        char verb = f[i];
        if (verb == '%') {
            sb_str(x, at, &b, "%");
            continue;
        }
        if (!strchr("svdtq", verb) || !verb)
            efail(x, at, "printf: the %%%c verb is not supported", verb);
        if (next >= n) {
            char miss[16] = { '%', '!', verb, 0 };
            sb_str(x, at, &b, miss);
            sb_str(x, at, &b, "(MISSING)");
            continue;
        }
        const struct val *v = &a[next++];
        bool ok = verb == 'v' || (verb == 's' && v->k == V_STR) || (verb == 'q' && v->k == V_STR)
               || (verb == 'd' && v->k == V_INT) || (verb == 't' && v->k == V_BOOL);
        if (!ok)
            bad_verb(x, at, &b, verb, v);
        else if (verb == 'q')
            go_quote(x, at, &b, v->s, v->n);
        else
            fmt_value(x, at, &b, v);
    }
    if (next < n) {
        sb_str(x, at, &b, "%!(EXTRA ");
        for (size_t i = next; i < n; i++) {
            if (i > next)
                sb_str(x, at, &b, ", ");
            sb_str(x, at, &b, type_name(&a[i]));
            sb_str(x, at, &b, "=");
            fmt_value(x, at, &b, &a[i]);
        }
        sb_str(x, at, &b, ")");
    }
    return str(b.p ? b.p : "", b.n);
}

static void json_value(struct ex *x, uint32_t at, struct sbuf *b, const struct val *v)
{
    struct lm_buf q = LM_BUF_INIT(GT_MAX_STRINGS);
    switch (v->k) {
    case V_NONE: sb_str(x, at, b, "null"); return;
    case V_BOOL: case V_INT: fmt_value(x, at, b, v); return;
    case V_STR:
        if (lm_go_json_quote(&q, v->s, v->n))
            efail(x, at, "json: string too long");
        sb_add(x, at, b, q.data, q.len);
        lm_buf_release(&q);
        return;
    case V_LIST:
        if (!v->m) {
            sb_str(x, at, b, "null");   /* a nil slice */
            return;
        }
        sb_str(x, at, b, "[");
        for (size_t i = 0; i < v->n; i++) {
            struct val m = { V_MSG, false, 0, NULL, 0, &v->m[i] };
            if (i)
                sb_str(x, at, b, ",");
            json_value(x, at, b, &m);
        }
        sb_str(x, at, b, "]");
        return;
    case V_MSG: {
        struct val role = str(v->m->role, v->m->role_n), c = str(v->m->content, v->m->content_n);
        sb_str(x, at, b, "{\"role\":");
        json_value(x, at, b, &role);
        sb_str(x, at, b, ",\"content\":");
        json_value(x, at, b, &c);
        sb_str(x, at, b, "}");
        return;
    }
    case V_ROOT:
        break;
    }
    efail(x, at, "json: cannot encode a value of type %s", type_name(v));
}

/* ---- comparison and indexing ---------------------------------------------------------------- */

/* text/template's eq: same basic kind compares; a missing value equals nothing. */
static bool equal(struct ex *x, uint32_t at, const struct val *a, const struct val *b)
{
    if (a->k != b->k) {
        if (a->k != V_NONE && b->k != V_NONE)
            efail(x, at, "error calling eq: incompatible types for comparison");
        return false;
    }
    switch (a->k) {
    case V_NONE: return true;
    case V_BOOL: return a->b == b->b;
    case V_INT: return a->i == b->i;
    case V_STR:
        charge(x, at, a->n < b->n ? a->n : b->n);
        return a->n == b->n && memcmp(a->s, b->s, a->n) == 0;
    case V_MSG: return a->m == b->m;
    case V_LIST: case V_ROOT:
        break;
    }
    efail(x, at, "error calling eq: non-comparable type %s", type_name(a));
}

/* lt: ints and strings only. */
static bool less(struct ex *x, uint32_t at, const char *fn, const struct val *a,
                 const struct val *b)
{
    if (a->k != b->k)
        efail(x, at, "error calling %s: incompatible types for comparison", fn);
    if (a->k == V_INT)
        return a->i < b->i;
    if (a->k == V_STR) {
        size_t n = a->n < b->n ? a->n : b->n;
        charge(x, at, n);
        int c = memcmp(a->s, b->s, n);
        return c < 0 || (c == 0 && a->n < b->n);
    }
    efail(x, at, "error calling %s: invalid type for comparison", fn);
}

static int64_t index_arg(struct ex *x, uint32_t at, const struct val *v, const char *fn)
{
    if (v->k != V_INT)
        efail(x, at, "error calling %s: cannot index slice/array with type %s", fn, type_name(v));
    return v->i;
}

static struct val do_index(struct ex *x, uint32_t at, const struct val *a, size_t n)
{
    struct val v = a[0];
    for (size_t i = 1; i < n; i++) {
        if (v.k == V_ROOT) {
            if (a[i].k != V_STR)
                efail(x, at, "error calling index: value has type %s; should be string",
                      type_name(&a[i]));
            char key[64];
            snprintf(key, sizeof(key), "%.*s", (int)(a[i].n < 63 ? a[i].n : 63), a[i].s);
            v = a[i].n < 63 ? field(x, at, v, key) : none;
            continue;
        }
        int64_t k = index_arg(x, at, &a[i], "index");
        if (v.k == V_LIST || v.k == V_STR) {
            if (k < 0 || (uint64_t)k >= v.n)
                efail(x, at, "error calling index: index out of range: %" PRId64, k);
            v = v.k == V_LIST ? (struct val){ V_MSG, false, 0, NULL, 0, &v.m[k] }
                              : integer((unsigned char)v.s[k]);
            continue;
        }
        if (v.k == V_NONE)
            efail(x, at, "error calling index: index of untyped nil");
        efail(x, at, "error calling index: can't index item of type %s", type_name(&v));
    }
    return v;
}

static struct val do_slice(struct ex *x, uint32_t at, const struct val *a, size_t n)
{
    struct val v = a[0];
    if (v.k != V_STR && v.k != V_LIST)
        efail(x, at, "error calling slice: can't slice item of type %s", type_name(&v));
    if (n > 4)
        efail(x, at, "error calling slice: too many slice indexes: %zu", n - 1);
    if (n == 4 && v.k == V_STR)
        efail(x, at, "error calling slice: cannot 3-index slice a string");
    int64_t idx[3] = { 0, (int64_t)v.n, (int64_t)v.n };
    for (size_t i = 1; i < n; i++) {
        idx[i - 1] = index_arg(x, at, &a[i], "slice");
        if (idx[i - 1] < 0 || (uint64_t)idx[i - 1] > v.n)
            efail(x, at, "error calling slice: index out of range: %" PRId64, idx[i - 1]);
    }
    if (n == 2)
        idx[1] = (int64_t)v.n;
    if (idx[0] > idx[1] || (n == 4 && idx[1] > idx[2]))
        efail(x, at, "error calling slice: invalid slice index: %" PRId64 " > %" PRId64,
              idx[0], idx[1]);
    if (v.k == V_STR)
        return str(v.s + idx[0], (size_t)(idx[1] - idx[0]));
    return (struct val){ V_LIST, false, 0, NULL, (size_t)(idx[1] - idx[0]),
                         v.m ? v.m + idx[0] : NULL };
}

/* ---- evaluation ----------------------------------------------------------------------------- */

static struct val eval_pipe(struct ex *x, const struct gt_pipe *p, struct val dot, bool declare);

static const char *const fnames[GF_COUNT] = {
    "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice", "print",
    "printf", "println", "json", "currentDate", "yesterdayDate", "toTypeScriptType",
};

/* Ollama's currentDate / yesterdayDate: the local date, the format argument ignored. */
static struct val date(struct ex *x, uint32_t at, const struct val *a, size_t n, int days_back)
{
    for (size_t i = 0; i < n; i++)
        if (a[i].k != V_STR)
            efail(x, at, "wrong type for value; expected string; got %s", type_name(&a[i]));
    time_t now = time(NULL) - (time_t)days_back * 86400;
    struct tm tm;
    struct sbuf b = { NULL, 0, 0 };
    char d[32];
    if (!localtime_r(&now, &tm) || !strftime(d, sizeof(d), "%Y-%m-%d", &tm))
        efail(x, at, "cannot read the clock");
    sb_str(x, at, &b, d);
    return str(b.p, b.n);
}

static struct val eval_arg(struct ex *x, const struct gt_arg *a, struct val dot, bool any_type)
{
    switch (a->kind) {
    case GA_DOT: return dot;
    case GA_STRING: return str(a->s, a->n);
    case GA_INT: return integer(a->i);
    case GA_BOOL: return boolean(a->b);
    case GA_NIL:
        if (!any_type)
            efail(x, a->off, "cannot assign nil to reflect.Value");
        return none;
    case GA_FIELD: return fields(x, a->off, dot, a);
    case GA_VAR: return fields(x, a->off, *find_var(x, a->off, a->s), a);
    case GA_PIPE: return eval_pipe(x, a->pipe, dot, false);
    case GA_CHAIN: return fields(x, a->off, eval_pipe(x, a->pipe, dot, false), a);
    case GA_FUNC:
        break;
    }
    efail(x, a->off, "function %s used as a value", fnames[a->func]);
}

static void arity(struct ex *x, uint32_t at, enum gt_func f, size_t got, size_t want, bool atleast)
{
    if (atleast ? got < want : got != want)
        efail(x, at, "wrong number of args for %s: want %s%zu got %zu", fnames[f],
              atleast ? "at least " : "", want, got);
}

#define MAX_ARGS 64

static struct val call(struct ex *x, const struct gt_cmd *c, struct val dot, const struct val *final)
{
    enum gt_func f = c->args[0]->func;
    uint32_t at = c->args[0]->off;
    size_t n = c->n - 1 + (final != NULL);
    if (n > MAX_ARGS)
        efail(x, at, "too many arguments to %s", fnames[f]);
    if (f == GF_AND || f == GF_OR) {   /* short-circuit: the deciding argument is the result */
        arity(x, at, f, n, 1, true);
        struct val v = none;
        for (size_t i = 0; i < n; i++) {
            v = i < c->n - 1 ? eval_arg(x, c->args[i + 1], dot, false) : *final;
            if (truth(&v) == (f == GF_OR))
                return v;
        }
        return v;
    }
    bool any = f == GF_PRINT || f == GF_PRINTF || f == GF_PRINTLN || f == GF_JSON ||
               f == GF_TO_TS_TYPE;
    struct val a[MAX_ARGS];
    for (size_t i = 0; i + 1 < c->n; i++)
        a[i] = eval_arg(x, c->args[i + 1], dot, any);
    if (final)
        a[n - 1] = *final;
    switch (f) {
    case GF_NOT:
        arity(x, at, f, n, 1, false);
        return boolean(!truth(&a[0]));
    case GF_EQ:
        arity(x, at, f, n, 1, true);
        if (n == 1)
            efail(x, at, "error calling eq: missing argument for comparison");
        for (size_t i = 1; i < n; i++)
            if (equal(x, at, &a[0], &a[i]))
                return boolean(true);
        return boolean(false);
    case GF_NE:
        arity(x, at, f, n, 2, false);
        return boolean(!equal(x, at, &a[0], &a[1]));
    case GF_LT: case GF_GE:
        arity(x, at, f, n, 2, false);
        return boolean(less(x, at, fnames[f], &a[0], &a[1]) == (f == GF_LT));
    case GF_LE: case GF_GT:
        arity(x, at, f, n, 2, false);
        return boolean((less(x, at, fnames[f], &a[0], &a[1]) || equal(x, at, &a[0], &a[1]))
                       == (f == GF_LE));
    case GF_LEN:
        arity(x, at, f, n, 1, false);
        if (a[0].k == V_STR || a[0].k == V_LIST)
            return integer((int64_t)a[0].n);
        if (a[0].k == V_NONE)
            efail(x, at, "error calling len: len of nil pointer");
        efail(x, at, "error calling len: len of type %s", type_name(&a[0]));
    case GF_INDEX:
        arity(x, at, f, n, 1, true);
        return do_index(x, at, a, n);
    case GF_SLICE:
        arity(x, at, f, n, 1, true);
        return do_slice(x, at, a, n);
    case GF_PRINT: case GF_PRINTLN:
        return do_print(x, at, a, n, f == GF_PRINTLN);
    case GF_PRINTF:
        arity(x, at, f, n, 1, true);
        return do_printf(x, at, a, n);
    case GF_JSON: {
        arity(x, at, f, n, 1, false);
        struct sbuf b = { NULL, 0, 0 };
        json_value(x, at, &b, &a[0]);
        return str(b.p, b.n);
    }
    case GF_CURRENT_DATE: case GF_YESTERDAY_DATE:
        return date(x, at, a, n, f == GF_YESTERDAY_DATE);
    case GF_TO_TS_TYPE:
        arity(x, at, f, n, 1, false);
        return str("any", 3);   /* only tool parameters reach it, and lm passes no tools */
    case GF_AND: case GF_OR: case GF_COUNT:
        break;
    }
    efail(x, at, "bad function");
}

static void not_a_function(struct ex *x, const struct gt_cmd *c, const struct val *final)
{
    if (c->n > 1 || final)
        efail(x, c->args[0]->off, "can't give argument to non-function");
}

static struct val eval_cmd(struct ex *x, const struct gt_cmd *c, struct val dot,
                           const struct val *final)
{
    const struct gt_arg *a = c->args[0];
    step(x, a->off);
    switch (a->kind) {
    case GA_FUNC:
        return call(x, c, dot, final);
    case GA_NIL:
        efail(x, a->off, "nil is not a command");
    case GA_FIELD: case GA_VAR: case GA_CHAIN:
        if (c->n > 1 || final)
            efail(x, a->off, "%s has arguments but cannot be invoked as function",
                  a->n_fields ? a->fields[a->n_fields - 1] : a->s);
        return eval_arg(x, a, dot, false);
    case GA_PIPE: case GA_DOT: case GA_STRING: case GA_INT: case GA_BOOL:
        not_a_function(x, c, final);
        return eval_arg(x, a, dot, false);
    }
    efail(x, a->off, "bad command");
}

static struct val eval_pipe(struct ex *x, const struct gt_pipe *p, struct val dot, bool declare)
{
    struct val v = none;
    for (size_t i = 0; i < p->n; i++)
        v = eval_cmd(x, p->cmds[i], dot, i ? &v : NULL);
    for (size_t i = 0; declare && i < p->n_decl; i++) {
        if (p->is_assign)
            *find_var(x, p->off, p->decl[i]) = v;
        else
            push_var(x, p->off, p->decl[i], v);
    }
    return v;
}

enum flow { F_NEXT, F_BREAK, F_CONTINUE };

static enum flow walk(struct ex *x, const struct gt_node *n, struct val dot);

static void print_value(struct ex *x, uint32_t at, const struct val *v)
{
    if (v->k == V_NONE) {
        emit(x, at, "<no value>", 10);
        return;
    }
    if (v->k == V_STR) {
        emit(x, at, v->s, v->n);
        return;
    }
    struct sbuf b = { NULL, 0, 0 };
    fmt_value(x, at, &b, v);
    emit(x, at, b.p, b.n);
}

static enum flow walk_range(struct ex *x, const struct gt_node *n, struct val dot)
{
    size_t outer = x->n_vars;
    struct val v = eval_pipe(x, n->pipe, dot, true);
    size_t mark = x->n_vars;
    size_t count = v.k == V_LIST || v.k == V_INT ? (v.k == V_LIST ? v.n : (size_t)(v.i > 0 ? v.i : 0))
                                                 : 0;
    if (v.k == V_INT && n->pipe->n_decl > 1)
        efail(x, n->off, "can't use %" PRId64 " to iterate over more than one variable", v.i);
    if (v.k != V_LIST && v.k != V_INT && v.k != V_NONE)
        efail(x, n->off, "range can't iterate over %s", type_name(&v));
    enum flow fl = F_NEXT;
    for (size_t i = 0; i < count; i++) {
        step(x, n->off);
        struct val elem = v.k == V_LIST ? (struct val){ V_MSG, false, 0, NULL, 0, &v.m[i] }
                                        : integer((int64_t)i);
        struct val idx = integer((int64_t)i);
        size_t nd = n->pipe->n_decl;
        if (nd > 0) {   /* the last declared gets the element, the one before it the index */
            if (n->pipe->is_assign) {
                *find_var(x, n->off, n->pipe->decl[nd - 1]) = elem;
                if (nd > 1)
                    *find_var(x, n->off, n->pipe->decl[0]) = idx;
            } else {
                x->vars[mark - 1].v = elem;
                if (nd > 1)
                    x->vars[mark - 2].v = idx;
            }
        }
        fl = walk(x, n->list, elem);
        x->n_vars = mark;
        if (fl == F_BREAK)
            break;
    }
    if (count == 0 && n->else_list)
        walk(x, n->else_list, dot);
    x->n_vars = outer;
    return F_NEXT;
}

static enum flow walk(struct ex *x, const struct gt_node *n, struct val dot)
{
    step(x, n->off);
    switch (n->kind) {
    case GT_LIST:
        for (size_t i = 0; i < n->n; i++) {
            enum flow f = walk(x, n->items[i], dot);
            if (f != F_NEXT)
                return f;
        }
        return F_NEXT;
    case GT_TEXT:
        emit(x, n->off, n->text, n->len);
        return F_NEXT;
    case GT_ACTION: {
        struct val v = eval_pipe(x, n->pipe, dot, true);
        if (n->pipe->n_decl == 0)
            print_value(x, n->off, &v);
        return F_NEXT;
    }
    case GT_IF: case GT_WITH: {
        size_t mark = x->n_vars;
        struct val v = eval_pipe(x, n->pipe, dot, true);
        enum flow f = F_NEXT;
        if (truth(&v))
            f = walk(x, n->list, n->kind == GT_WITH ? v : dot);
        else if (n->else_list)
            f = walk(x, n->else_list, dot);
        x->n_vars = mark;
        return f;
    }
    case GT_RANGE:
        return walk_range(x, n, dot);
    case GT_BREAK:
        return F_BREAK;
    case GT_CONTINUE:
        return F_CONTINUE;
    }
    return F_NEXT;
}

int gt_execute(const struct lm_gotmpl *t, const struct gt_node *root, const struct gt_data *data,
               struct lm_buf *out, uint64_t *steps, struct lm_err *err)
{
    struct ex x;
    memset(&x, 0, sizeof(x));
    x.t = t;
    x.err = err;
    x.out = out;
    x.root = data;
    x.strings.max = GT_MAX_STRINGS;
    x.steps = *steps;
    x.vars = malloc(GT_MAX_VARS * sizeof(*x.vars));
    if (!x.vars)
        return lm_err_set(err, LM_ENOMEM, t->name, LM_NO_OFFSET, "out of memory");
    int ret = -1;
    if (setjmp(x.fail) == 0) {
        struct val r = { V_ROOT, false, 0, NULL, 0, NULL };
        push_var(&x, 0, "$", r);
        walk(&x, root, r);
        ret = 0;
    }
    *steps = x.steps;
    free(x.vars);
    gt_arena_free(&x.strings);
    return ret;
}
