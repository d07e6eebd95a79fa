/* log.c: the few functions that write diagnostics to stderr, and lm_quote for outside text. */
#include <string.h>

#include "common.h"
#include "banned.h"

int lm_verbose;
bool lm_quiet;
const char *lm_progname = "lm";

void lm_report(const struct lm_err *err)
{
    char line[2048];
    fprintf(stderr, "%s: %s\n", lm_progname, lm_err_str(err, line, sizeof(line)));
}

static void vreport(const char *prefix, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s", lm_progname, prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void lm_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
}

void lm_warnf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport("warning: ", fmt, ap);
    va_end(ap);
}

void lm_debugf(int level, const char *fmt, ...)
{
    if (lm_verbose < level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vreport("", fmt, ap);
    va_end(ap);
}

const char *lm_quote(const char *s, size_t len, char *buf, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (n == 0)
        return buf;
    for (size_t i = 0; i < len && o + 5 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (o >= LM_QUOTE_MAX) {
            if (o + 4 < n) {
                memcpy(buf + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (c == '\\' || c == '\'') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            buf[o++] = '\\';
            buf[o++] = 'x';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        } else {
            buf[o++] = (char)c;   /* UTF-8 passes through; control bytes never do */
        }
    }
    buf[o] = 0;
    return buf;
}

int lm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        if (ckd_mul(&v, v, 10) || ckd_add(&v, v, (uint64_t)(*s - '0')))
            return -1;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}
