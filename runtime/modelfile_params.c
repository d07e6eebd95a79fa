/* modelfile_params.c: Modelfile parameters (typed as Ollama types them), Ollama's params blob,
 * writing a Modelfile back, and the sampler settings a Modelfile gives. */
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gotmpl_int.h"
#include "modelfile_int.h"
#include "../common/banned.h"

/* Ollama's api.Options and Runner fields (shared/specs/ollama-registry.md §5). */
static const struct {
    const char *name;
    enum lm_param_type type;
} params[] = {
    { "num_keep", LM_PARAM_INT }, { "seed", LM_PARAM_INT }, { "num_predict", LM_PARAM_INT },
    { "top_k", LM_PARAM_INT }, { "top_p", LM_PARAM_FLOAT }, { "min_p", LM_PARAM_FLOAT },
    { "typical_p", LM_PARAM_FLOAT }, { "repeat_last_n", LM_PARAM_INT },
    { "temperature", LM_PARAM_FLOAT }, { "repeat_penalty", LM_PARAM_FLOAT },
    { "presence_penalty", LM_PARAM_FLOAT }, { "frequency_penalty", LM_PARAM_FLOAT },
    { "stop", LM_PARAM_STRINGS }, { "num_ctx", LM_PARAM_INT }, { "num_batch", LM_PARAM_INT },
    { "num_gpu", LM_PARAM_INT }, { "main_gpu", LM_PARAM_INT }, { "num_thread", LM_PARAM_INT },
    { "draft_num_predict", LM_PARAM_INT }, { "use_mmap", LM_PARAM_BOOL },
};

/* Accepted by old Ollama versions, dropped now with a warning. */
static const char *const deprecated[] = {
    "penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
    "mirostat", "mirostat_tau", "mirostat_eta",
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- values ------------------------------------------------------------------------------- */

/* strconv.ParseInt(s, 10, 64). */
static bool parse_int(const char *s, int64_t *out)
{
    bool neg = *s == '-';
    if (*s == '+' || *s == '-')
        s++;
    if (!*s)
        return false;
    uint64_t v = 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9' || ckd_mul(&v, v, 10) || ckd_add(&v, v, (uint64_t)(*s - '0')))
            return false;
    if (v > (uint64_t)INT64_MAX + neg)
        return false;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

/* strconv.ParseFloat(s, 32) for decimal text; NaN, infinities and hex floats are refused. */
static bool parse_float(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9'; p++)
        digits++;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            digits++;
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return false;
    double v = strtod(s, NULL);
    float f = (float)v;
    if (!isfinite(v) || !isfinite(f))
        return false;   /* beyond float32: Go says ErrRange */
    *out = lm_go_float32(f);
    return true;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
    static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
    for (size_t i = 0; i < N_OF(yes); i++) {
        if (strcmp(s, yes[i]) == 0 || strcmp(s, no[i]) == 0) {
            *out = strcmp(s, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

static struct lm_mf_param *find(struct lm_modelfile *mf, const char *name)
{
    for (size_t i = 0; i < mf->n_params; i++)
        if (strcmp(mf->params[i].name, name) == 0)
            return &mf->params[i];
    return NULL;
}

const struct lm_mf_param *lm_modelfile_param(const struct lm_modelfile *mf, const char *name)
{
    return find((struct lm_modelfile *)mf, name);
}

int mf_param(struct lm_modelfile *mf, const char *name, const char *value, const char *path,
             int line, struct lm_err *err)
{
    char q[LM_QUOTE_MAX + 8];
    size_t k = 0;
    while (k < N_OF(params) && strcmp(params[k].name, name) != 0)
        k++;
    if (k == N_OF(params)) {
        for (size_t i = 0; i < N_OF(deprecated); i++)
            if (strcmp(deprecated[i], name) == 0) {
                char w[600];
                snprintf(w, sizeof(w), "%s:%d: parameter %s is deprecated and ignored", path,
                         line, name);
                return mf_push(&mf->warnings, &mf->n_warnings, mf_strndup(w, strlen(w)))
                     ? mf_fail(err, path, line, "out of memory") : 0;
            }
        return mf_fail(err, path, line, "unknown parameter '%s'",
                       lm_quote(name, strlen(name), q, sizeof(q)));
    }
    struct lm_mf_param v = { params[k].name, params[k].type, 0, 0, NULL, 0, line };
    bool b = false;
    switch (v.type) {
    case LM_PARAM_INT:
        if (!parse_int(value, &v.i))
            return mf_fail(err, path, line, "invalid int value [%s]",
                           lm_quote(value, strlen(value), q, sizeof(q)));
        break;
    case LM_PARAM_FLOAT:
        if (!parse_float(value, &v.f))
            return mf_fail(err, path, line, "invalid float value [%s]",
                           lm_quote(value, strlen(value), q, sizeof(q)));
        break;
    case LM_PARAM_BOOL:
        if (!parse_bool(value, &b))
            return mf_fail(err, path, line, "invalid bool value [%s]",
                           lm_quote(value, strlen(value), q, sizeof(q)));
        v.i = b;
        break;
    case LM_PARAM_STRINGS:
        break;
    }
    struct lm_mf_param *have = find(mf, v.name);
    if (!have) {
        struct lm_mf_param *w = realloc(mf->params, (mf->n_params + 1) * sizeof(*w));
        if (!w)
            return mf_fail(err, path, line, "out of memory");
        mf->params = w;
        have = &w[mf->n_params++];
        *have = v;
    } else if (v.type != LM_PARAM_STRINGS) {
        have->i = v.i, have->f = v.f;   /* a repeated key replaces; stop appends below */
    }
    if (v.type == LM_PARAM_STRINGS &&
        mf_push(&have->strs, &have->n_strs, mf_strndup(value, strlen(value))))
        return mf_fail(err, path, line, "out of memory");
    return 0;
}

int lm_modelfile_set_param(struct lm_modelfile *mf, const char *name, const char *value,
                           const char *path, struct lm_err *err)
{
    return mf_param(mf, name, value, path ? path : "parameter", 0, err);
}

void mf_params_release(struct lm_modelfile *mf)
{
    for (size_t i = 0; i < mf->n_params; i++) {
        for (size_t k = 0; k < mf->params[i].n_strs; k++)
            free(mf->params[i].strs[k]);
        free(mf->params[i].strs);
    }
    free(mf->params);
    mf->params = NULL;
    mf->n_params = 0;
}

/* ---- Ollama's params blob ------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const struct lm_mf_param *const *)a)->name,
                  (*(const struct lm_mf_param *const *)b)->name);
}

int lm_modelfile_params_json(const struct lm_modelfile *mf, struct lm_buf *out,
                             struct lm_err *err)
{
    const struct lm_mf_param *sorted[N_OF(params)];
    size_t n = mf->n_params < N_OF(params) ? mf->n_params : N_OF(params);
    for (size_t i = 0; i < n; i++)
        sorted[i] = &mf->params[i];
    qsort(sorted, n, sizeof(sorted[0]), by_name);
    int rc = lm_buf_add(out, "{", 1);
    for (size_t i = 0; i < n && !rc; i++) {
        const struct lm_mf_param *p = sorted[i];
        rc = (i && lm_buf_add(out, ",", 1)) || lm_go_json_quote(out, p->name, strlen(p->name)) ||
             lm_buf_add(out, ":", 1);
        switch (p->type) {
        case LM_PARAM_INT:   /* Ollama's server holds every number as a float64 */
            rc = rc || lm_go_json_number(out, (double)p->i);
            break;
        case LM_PARAM_FLOAT:
            rc = rc || lm_go_json_number(out, p->f);
            break;
        case LM_PARAM_BOOL:
            rc = rc || lm_buf_add(out, p->i ? "true" : "false", p->i ? 4 : 5);
            break;
        case LM_PARAM_STRINGS:
            rc = rc || lm_buf_add(out, "[", 1);
            for (size_t k = 0; k < p->n_strs && !rc; k++)
                rc = (k && lm_buf_add(out, ",", 1)) ||
                     lm_go_json_quote(out, p->strs[k], strlen(p->strs[k]));
            rc = rc || lm_buf_add(out, "]", 1);
            break;
        }
    }
    if (rc || lm_buf_add(out, "}\n", 2))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "params are too long");
    return 0;
}

int lm_modelfile_messages_json(const struct lm_modelfile *mf, struct lm_buf *out,
                               struct lm_err *err)
{
    int rc = lm_buf_add(out, "[", 1);
    for (size_t i = 0; i < mf->n_msgs && !rc; i++) {
        const struct lm_mf_message *m = &mf->msgs[i];
        rc = (i && lm_buf_add(out, ",", 1)) || lm_buf_add(out, "{\"role\":", 8) ||
             lm_go_json_quote(out, m->role, strlen(m->role)) ||
             lm_buf_add(out, ",\"content\":", 11) ||
             lm_go_json_quote(out, m->content, strlen(m->content)) || lm_buf_add(out, "}", 1);
    }
    if (rc || lm_buf_add(out, "]\n", 2))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "messages are too long");
    return 0;
}

/* One value of a params blob as the text a PARAMETER line would give. Ollama's server holds every
 * number as a float64: an int past int64 saturates. */
static int json_param_text(const char *key, const json_t *v, char *buf, size_t n)
{
    if (json_is_boolean(v))
        return snprintf(buf, n, "%s", json_is_true(v) ? "true" : "false"), 0;
    if (!json_is_real(v))
        return -1;
    double d = json_real_value(v);
    size_t k = 0;
    while (k < N_OF(params) && strcmp(params[k].name, key) != 0)
        k++;
    if (k < N_OF(params) && params[k].type == LM_PARAM_INT && d == floor(d)) {
        int64_t i = d >= 0x1p63 ? INT64_MAX : d <= -0x1p63 ? INT64_MIN : (int64_t)d;
        return snprintf(buf, n, "%" PRId64, i), 0;
    }
    return snprintf(buf, n, "%.17g", d), 0;
}

int lm_modelfile_params_from_json(struct lm_modelfile *mf, const char *json, size_t len,
                                  const char *path, struct lm_err *err)
{
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_DECODE_INT_AS_REAL, &je);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return lm_err_set(err, LM_ECORRUPT, path, je.position >= 0 ? (uint64_t)je.position : 0,
                          "params: expected a JSON object");
    }
    const char *key;
    json_t *v;
    int ret = 0;
    json_object_foreach(doc, key, v) {
        char text[4096];
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n && !ret; i++) {
            json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
            if (json_is_string(item))
                ret = mf_param(mf, key, json_string_value(item), path, 0, err);
            else if (json_param_text(key, item, text, sizeof(text)))
                ret = mf_fail(err, path, 0, "params: value of '%s' is not a number, string or "
                              "bool", key);
            else
                ret = mf_param(mf, key, text, path, 0, err);
        }
        if (ret)
            break;
    }
    json_decref(doc);
    return ret;
}

/* ---- writing a Modelfile -------------------------------------------------------------------- */

/* Ollama's quote(): a value is quoted when it needs to be to read back the same. */
static int quoted(struct lm_buf *b, const char *what, const char *s, struct lm_err *err)
{
    size_t n = strlen(s);
    bool edge = n && (strchr(" \t\r\n", s[0]) || strchr(" \t\r\n", s[n - 1]));
    bool q = strchr(s, '\n') || strchr(s, '\r') || edge || s[0] == '"';
    if (strstr(s, "\"\"\""))
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "%s holds \"\"\" and cannot be written as a Modelfile value", what);
    const char *mark = !q ? "" : strchr(s, '"') ? "\"\"\"" : "\"";
    if (lm_buf_printf(b, "%s%s%s", mark, s, mark))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "Modelfile is too long");
    return 0;
}

static int line(struct lm_buf *b, const char *head, const char *value, struct lm_err *err)
{
    if (lm_buf_printf(b, "%s ", head) || quoted(b, head, value, err) || lm_buf_add(b, "\n", 1))
        return err && err->code ? -1
             : lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "Modelfile is too long");
    return 0;
}

int lm_modelfile_format(const struct lm_modelfile *mf, struct lm_buf *out, struct lm_err *err)
{
    lm_err_clear(err);
    if ((mf->from && line(out, "FROM", mf->from, err)) || (mf->tmpl && line(out, "TEMPLATE", mf->tmpl, err)) ||
        (mf->system && line(out, "SYSTEM", mf->system, err)))
        return -1;
    for (size_t i = 0; i < mf->n_params; i++) {
        const struct lm_mf_param *p = &mf->params[i];
        char head[64], v[64];
        snprintf(head, sizeof(head), "PARAMETER %s", p->name);
        if (p->type == LM_PARAM_STRINGS) {
            for (size_t k = 0; k < p->n_strs; k++)
                if (line(out, head, p->strs[k], err))
                    return -1;
            continue;
        }
        struct lm_buf num = LM_BUF_INIT(64);
        if (p->type == LM_PARAM_FLOAT)
            lm_go_json_number(&num, p->f);
        snprintf(v, sizeof(v), "%s", p->type == LM_PARAM_FLOAT ? (num.data ? num.data : "0")
                 : p->type == LM_PARAM_BOOL ? (p->i ? "true" : "false") : "");
        if (p->type == LM_PARAM_INT)
            snprintf(v, sizeof(v), "%" PRId64, p->i);
        lm_buf_release(&num);
        if (line(out, head, v, err))
            return -1;
    }
    for (size_t i = 0; i < mf->n_licenses; i++)
        if (line(out, "LICENSE", mf->licenses[i], err))
            return -1;
    for (size_t i = 0; i < mf->n_msgs; i++) {
        char head[32];
        snprintf(head, sizeof(head), "MESSAGE %s", mf->msgs[i].role);
        if (line(out, head, mf->msgs[i].content, err))
            return -1;
    }
    if (mf->requires && line(out, "REQUIRES", mf->requires, err))
        return -1;
    return 0;
}

/* ---- the sampler ---------------------------------------------------------------------------- */

static int32_t clamp32(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
}

void lm_modelfile_sampler(const struct lm_modelfile *mf, struct lm_sampler_params *p)
{
    const struct lm_mf_param *v = lm_modelfile_param(mf, "temperature");
    if (v)
        p->temperature = (float)v->f;
    v = lm_modelfile_param(mf, "top_k");
    if (v)
        p->top_k = clamp32(v->i);
    v = lm_modelfile_param(mf, "top_p");
    if (v)
        p->top_p = (float)v->f;
    v = lm_modelfile_param(mf, "min_p");
    if (v)
        p->min_p = (float)v->f;
    v = lm_modelfile_param(mf, "repeat_penalty");
    if (v)
        p->repeat_penalty = (float)v->f;
    v = lm_modelfile_param(mf, "repeat_last_n");
    if (v)
        p->repeat_last_n = clamp32(v->i);
    v = lm_modelfile_param(mf, "seed");
    if (v && v->i >= 0)   /* -1: a random seed */
        p->seed = (uint64_t)v->i;
}
