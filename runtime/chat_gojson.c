/* chat_gojson.c: JSON and number text exactly as Go's encoding/json and fmt write them, for
 * Ollama-compatible params blobs, Modelfiles and the json template function. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gotmpl_int.h"
#include "../common/banned.h"

int lm_go_json_quote(struct lm_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    if (lm_buf_add(b, "\"", 1))
        return -1;
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        char e[8] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0, 0 };
        if (c < 0x80) {
            const char *rep = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' ? "\\n"
                            : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b"
                            : c == '\f' ? "\\f" : NULL;
            int rc = rep ? lm_buf_add(b, rep, 2)
                   : (c < 0x20 || c == '<' || c == '>' || c == '&') ? lm_buf_add(b, e, 6)
                   : lm_buf_add(b, p + i, 1);
            if (rc)
                return -1;
            i++;
            continue;
        }
        /* a valid UTF-8 sequence passes (U+2028/9 escaped), anything else is U+FFFD */
        size_t len = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = len && len <= n - i;
        for (size_t k = 1; ok && k < len; k++)
            ok = (p[i + k] & 0xC0) == 0x80;
        uint32_t cp = 0;
        if (ok) {
            cp = c & (0x7Fu >> len);
            for (size_t k = 1; k < len; k++)
                cp = cp << 6 | (p[i + k] & 63u);
            ok = cp >= (len == 2 ? 0x80u : len == 3 ? 0x800u : 0x10000u) && cp <= 0x10FFFF &&
                 (cp < 0xD800 || cp > 0xDFFF);
        }
        int rc = !ok ? lm_buf_add(b, "\\ufffd", 6)
               : cp == 0x2028 ? lm_buf_add(b, "\\u2028", 6)
               : cp == 0x2029 ? lm_buf_add(b, "\\u2029", 6) : lm_buf_add(b, p + i, len);
        if (rc)
            return -1;
        i += ok ? len : 1;
    }
    return lm_buf_add(b, "\"", 1);
}

/* Shortest decimal digits that read back to v (as a float when f32): *exp is the power of ten
 * of the first digit. Returns the number of digits; digits has no dot and no trailing zeros. */
static int shortest(double v, bool f32, char digits[32], int *exp)
{
    char s[64];
    for (int p = 0; p <= (f32 ? 8 : 16); p++) {
        snprintf(s, sizeof(s), "%.*e", p, v);
        if (f32 ? strtof(s, NULL) == (float)v : strtod(s, NULL) == v)
            break;
    }
    int n = 0;
    const char *c = s + (s[0] == '-');
    for (; *c && *c != 'e'; c++)
        if (*c != '.')
            digits[n++] = *c;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = 0;
    *exp = (int)strtol(c + 1, NULL, 10);
    return n;
}

double lm_go_float32(double v)
{
    char d[32], s[64];
    int e;
    shortest(v, true, d, &e);
    snprintf(s, sizeof(s), "%s%c.%se%d", v < 0 ? "-" : "", d[0], d + 1, e);
    return strtod(s, NULL);
}

int lm_go_json_number(struct lm_buf *b, double v)
{
    char d[32], s[400];
    int e, n, o = 0;
    if (v == 0)
        return lm_buf_add(b, "0", 1);
    n = shortest(v, false, d, &e);
    double a = v < 0 ? -v : v;
    if (v < 0)
        s[o++] = '-';
    if (a < 1e-6 || a >= 1e21) {
        o += snprintf(s + o, sizeof(s) - (size_t)o, "%c%s%s", d[0], n > 1 ? "." : "", d + 1);
        /* Go writes two exponent digits, and JSON drops the 0 of a negative one: 1e-07 -> 1e-7 */
        o += snprintf(s + o, sizeof(s) - (size_t)o, "e%c%0*d", e < 0 ? '-' : '+',
                      e < 0 ? 1 : 2, e < 0 ? -e : e);
    } else if (e >= 0) {
        for (int i = 0; i <= e || i < n; i++) {
            if (i == e + 1)
                s[o++] = '.';
            s[o++] = i < n ? d[i] : '0';
        }
    } else {
        s[o++] = '0', s[o++] = '.';
        for (int i = 0; i < -e - 1; i++)
            s[o++] = '0';
        memcpy(s + o, d, (size_t)n);
        o += n;
    }
    return lm_buf_add(b, s, (size_t)o);
}
