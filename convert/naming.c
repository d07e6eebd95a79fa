/* naming.c: general.name, basename, finetune, version and size_label as gguf-py's metadata.py
 * derives them from config.json's _name_or_path and the folder name ("tiny-qwen2-256" -> name
 * "Tiny Qwen2 256", basename "tiny-qwen2", version "256"), and its size label from the parameter
 * count. Python's Unicode character classes are taken as ASCII here; the model card (README.md
 * front matter) is not read. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

#define MAX_PARTS 32
enum { T_BASENAME = 1, T_SIZE = 2, T_FINETUNE = 4, T_VERSION = 8, T_TYPE = 16 };

/* re.fullmatch(pattern, s, re.IGNORECASE). */
static bool fullmatch(const char *pattern, const char *s)
{
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                   PCRE2_CASELESS | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &ec, &eo,
                                   NULL);
    if (!re)
        return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = md ? pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_alpha(char c) { return is_lower(c) || is_upper(c) || (unsigned char)c >= 0x80; }

/* float(s) for the digits-and-dot strings the size pattern lets through; false otherwise. */
static bool py_float(const char *s, size_t len, double *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof(buf))
        return false;
    int dots = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.')
            dots++;
        else if (!is_digit(s[i]))
            return false;
    }
    if (dots > 1 || len == (size_t)dots)
        return false;
    memcpy(buf, s, len);
    buf[len] = 0;
    *out = strtod(buf, NULL);
    return true;
}

static void annotate_size(char *part, unsigned *t, uint64_t n_params)
{
    size_t len = strlen(part);
    for (size_t i = 0; i < len; i++)
        if (part[i] == '_')
            part[i] = '.';
    if (is_digit(part[len - 1]) && len >= 2) {   /* bloom-7b1 -> 7.1b */
        char a = part[len - 2], b = part[len - 1];
        if (len + 1 >= 64)
            return;
        part[len - 2] = '.';
        part[len - 1] = b;
        part[len] = a;
        part[++len] = 0;
    }
    if (len > 1 && is_digit(part[len - 2]) && strchr("kmbt", part[len - 1]))
        part[len - 1] = (char)(part[len - 1] - 32);
    double label;
    if (n_params != 0 && py_float(part, len - 1, &label)) {
        const char *units = " KMBT", *u = strchr(units, part[len - 1]);
        int idx = u && part[len - 1] ? (int)(u - units) : -1;
        label *= pow(1000, idx);
        if (fabs(label - (double)n_params) > (double)(7 * n_params / 8)) {
            *t |= T_FINETUNE;   /* likely a context length: "4k" */
            if (is_upper(part[len - 1]))
                part[len - 1] = (char)(part[len - 1] + 32);
        }
    }
    if (*t == 0)
        *t |= T_SIZE;
}

/* get_model_id_components(): basename, finetune, version and size label of a model id. */
static void components(const char *id, uint64_t n_params, struct convert_naming *o, bool *org)
{
    char buf[256], parts[MAX_PARTS][64];
    unsigned t[MAX_PARTS] = { 0 };
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", id);
    char *full = buf, *slash = strchr(buf, '/');
    *org = false;
    if (slash) {
        *slash = 0;
        full = slash + 1;
        if (buf[0] && buf[0] != '.') {
            snprintf(o->organization, sizeof(o->organization), "%.*s",
                     (int)sizeof(o->organization) - 1, buf);
            *org = true;
        }
    }
    for (char *p = full; *p && n < MAX_PARTS;) {
        size_t len = strcspn(p, "-");
        if (len > 0 && len < 60) {
            memcpy(parts[n], p, len);
            parts[n++][len] = 0;
        }
        p += len + (p[len] == '-');
    }
    for (size_t i = 0; i < n; i++) {
        char *p = parts[i];
        if (fullmatch("(v|iter)?\\d+([.]\\d+)*", p)) {
            t[i] |= T_VERSION;
        } else if (fullmatch("i?q\\d(_\\w)*|b?fp?(16|32)", p)) {
            t[i] |= T_TYPE;
            for (char *c = p; *c; c++)
                if (is_lower(*c))
                    *c = (char)(*c - 32);
        } else if (i > 0 && fullmatch("(([A]|\\d+[x])?\\d+([._]\\d+)?[KMBT][\\d]?|small|mini|medium|"
                                      "large|x?xl)", p)) {
            annotate_size(p, &t[i], n_params);
        } else if (i > 0 && fullmatch("chat|instruct|vision|lora", p)) {
            t[i] |= T_FINETUNE;
        }
    }
    /* Word sizes ("mini") give way to a numeric one. */
    bool numeric = false;
    for (size_t i = 0; i < n; i++)
        for (const char *c = parts[i]; (t[i] & T_SIZE) && *c; c++)
            numeric |= is_digit(*c);
    for (size_t i = 0; i < n && numeric; i++) {
        bool alpha = true;
        for (const char *c = parts[i]; *c; c++)
            alpha &= is_alpha(*c);
        if ((t[i] & T_SIZE) && alpha)
            t[i] &= ~(unsigned)T_SIZE;
    }
    bool at_start = true;
    for (size_t i = 0; i < n; i++) {
        if (at_start && ((t[i] == 0 && is_alpha(parts[i][0])) || (t[i] & T_VERSION))) {
            t[i] |= T_BASENAME;
        } else {
            at_start = false;
            if (t[i] == 0)
                t[i] |= T_FINETUNE;
        }
    }
    for (size_t i = n; i-- > 0;) {   /* a trailing version is not part of the basename */
        if (!(t[i] & T_BASENAME) || t[i] == T_BASENAME)
            break;
        t[i] &= ~(unsigned)T_BASENAME;
    }
    struct { unsigned bit; char *out; size_t cap; bool skip_base; } f[] = {
        { T_BASENAME, o->basename, sizeof(o->basename), false },
        { T_SIZE, o->size_label, sizeof(o->size_label), false },
        { T_FINETUNE, o->finetune, sizeof(o->finetune), false },
        { T_VERSION, o->version, sizeof(o->version), true },
    };
    for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
        size_t off = 0;
        f[k].out[0] = 0;
        for (size_t i = 0; i < n; i++) {
            if (!(t[i] & f[k].bit) || (f[k].skip_base && (t[i] & T_BASENAME)))
                continue;
            bool dup = false;   /* size labels are deduplicated */
            for (size_t j = 0; j < i && f[k].bit == T_SIZE; j++)
                dup |= (t[j] & T_SIZE) && strcmp(parts[j], parts[i]) == 0;
            if (dup)
                continue;
            int w = snprintf(f[k].out + off, f[k].cap - off, "%s%s", off ? "-" : "", parts[i]);
            if (w > 0 && (size_t)w < f[k].cap - off)
                off += (size_t)w;
        }
    }
    if (!o->size_label[0] && !o->finetune[0] && !o->version[0])
        o->basename[0] = 0;   /* too ambiguous */
}

/* Metadata.id_to_title: words title-cased unless they have capitals or look like versions. */
static void id_to_title(const char *s, char *out, size_t n)
{
    size_t off = 0;
    out[0] = 0;
    for (const char *p = s; *p;) {
        while (*p == ' ' || *p == '-' || (*p >= '\t' && *p <= '\r'))
            p++;
        size_t len = strcspn(p, " -\t\n\v\f\r");
        if (!len)
            break;
        char w[256];
        snprintf(w, sizeof(w), "%.*s", (int)len, p);
        p += len;
        bool cased = false, upper = false;
        for (const char *c = w; *c; c++) {
            cased |= is_lower(*c) || is_upper(*c);
            upper |= is_upper(*c);
        }
        bool versionish = is_digit(w[0]) || fullmatch("v\\d+(?:\\.\\d+)*", w);
        if (cased && !upper && !versionish) {
            bool prev_cased = false;
            for (char *c = w; *c; c++) {
                bool letter = is_lower(*c) || is_upper(*c);
                if (letter && !prev_cased && is_lower(*c))
                    *c = (char)(*c - 32);
                prev_cased = letter;
            }
        }
        int wr = snprintf(out + off, n - off, "%s%s", off ? " " : "", w);
        if (wr > 0 && (size_t)wr < n - off)
            off += (size_t)wr;
    }
}

void convert_naming_derive(const char *name_or_path, const char *folder, uint64_t n_params,
                           struct convert_naming *out)
{
    memset(out, 0, sizeof(*out));
    const char *ids[2] = { NULL, folder };
    if (name_or_path) {
        size_t slashes = 0;
        for (const char *c = name_or_path; *c; c++)
            slashes += *c == '/';
        if (slashes <= 1)
            ids[0] = name_or_path;
    }
    for (int k = 0; k < 2; k++) {
        if (!ids[k])
            continue;
        struct convert_naming c;
        bool org;
        memset(&c, 0, sizeof(c));
        if (strchr(ids[k], ' ')) {   /* a sentence: only a name */
            id_to_title(ids[k], c.name, sizeof(c.name));
        } else {
            components(ids[k], n_params, &c, &org);
            const char *full = strchr(ids[k], '/') ? strchr(ids[k], '/') + 1 : ids[k];
            id_to_title(full, c.name, sizeof(c.name));
            if (org) {
                char t[128];
                id_to_title(c.organization, t, sizeof(t));
                snprintf(c.organization, sizeof(c.organization), "%s", t);
            }
        }
        /* The first source to give a field keeps it. */
#define TAKE(f) if (!out->f[0] && c.f[0]) snprintf(out->f, sizeof(out->f), "%s", c.f)
        TAKE(name); TAKE(organization); TAKE(basename); TAKE(finetune); TAKE(version);
        TAKE(size_label);
#undef TAKE
    }
    if (!out->size_label[0] && n_params > 0)
        convert_size_label(n_params, out->size_label, sizeof(out->size_label));
}

void convert_size_label(uint64_t n_params, char *out, size_t n)
{
    double x = (double)n_params, scaled;
    const char *suffix;
    if (x > 1e12) {
        scaled = x * 1e-12;
        suffix = "T";
    } else if (x > 1e9) {
        scaled = x * 1e-9;
        suffix = "B";
    } else if (x > 1e6) {
        scaled = x * 1e-6;
        suffix = "M";
    } else {
        scaled = x * 1e-3;
        suffix = "K";
    }
    /* fix = max(2 - len(str(round(scaled)).lstrip('0')), 0), round() being half-to-even */
    char digits[32];
    double r = nearbyint(scaled);
    snprintf(digits, sizeof(digits), "%.0f", r);
    int len = r == 0 ? 0 : (int)strlen(digits);
    int fix = len < 2 ? 2 - len : 0;
    snprintf(out, n, "%.*f%s", fix, scaled, suffix);
}
