/* json.c: printing JSON documents for --json output. */
#include <jansson.h>

#include "common.h"
#include "banned.h"

int lm_json_print(struct json_t *doc)
{
    if (!doc)
        return -1;
    int rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(doc);
    if (rc == 0)
        fputc('\n', stdout);
    return rc;
}

/* Outside bytes may not be UTF-8; jansson refuses those, so invalid sequences become U+FFFD. */
struct json_t *lm_json_string(const char *s, size_t len)
{
    struct lm_buf b = LM_BUF_INIT((size_t)1 << 31);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = n > 0 && n <= len - i && c != 0;
        for (size_t k = 1; ok && k < n; k++)
            ok = (p[i + k] & 0xC0) == 0x80;
        if (ok && n == 2)
            ok = c >= 0xC2;
        if (ok && n == 3) {
            unsigned cp = ((c & 15u) << 12) | ((p[i + 1] & 63u) << 6) | (p[i + 2] & 63u);
            ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
        }
        if (ok && n == 4) {
            unsigned cp = ((c & 7u) << 18) | ((p[i + 1] & 63u) << 12) | ((p[i + 2] & 63u) << 6);
            ok = cp >= 0x10000 && cp <= 0x10FFFF;
        }
        int rc = ok ? lm_buf_add(&b, p + i, n) : lm_buf_add(&b, "\xEF\xBF\xBD", 3);
        if (rc) {
            lm_buf_release(&b);
            return NULL;
        }
        i += ok ? n : 1;
    }
    json_t *j = json_stringn_nocheck(b.data ? b.data : "", b.len);
    lm_buf_release(&b);
    return j;
}
