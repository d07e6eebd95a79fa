/* fuzz_hf_listing.c: arbitrary bytes as what the Hub answers lm pull with: a tree listing page,
 * a cache's trees/COMMIT.json, a Link or Content-Range header, a model reference. A listing
 * that parses holds only safe relative paths, and the file choice over it stays in bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../registry/internal.h"
#include "../common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_listing(const struct lm_hf_listing *l)
{
    static const char *const tags[] = { "", "Q4_K_M", "f16", "m.gguf" };
    size_t *idx = malloc((l->n ? l->n : 1) * sizeof(*idx));
    LM_BUG_ON(!idx);
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->files[i].path;
        LM_BUG_ON(!*p || p[0] == '/' || strstr(p, "//") || strcmp(p, "..") == 0 ||
                  strncmp(p, "../", 3) == 0 || strstr(p, "/../") || strchr(p, '\\'));
        LM_BUG_ON(strlen(l->files[i].oid) != 40);
    }
    for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++) {
        struct lm_hf_select sel = { tags[t], NULL, 0, NULL, 0 };
        struct lm_err err;
        size_t n = 0;
        lm_err_clear(&err);
        if (lm_hf_select_files(l, &sel, idx, &n, NULL, &err) == 0) {
            LM_BUG_ON(n == 0 || n > l->n);
            for (size_t k = 0; k < n; k++)
                LM_BUG_ON(idx[k] >= l->n);
        } else {
            LM_BUG_ON(!err.msg[0]);
        }
    }
    free(idx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lm_hf_listing l = { 0 };
    struct lm_err err;
    if (lm_hf_parse_tree((const char *)data, size, "fuzz", &l, &err) == 0)
        check_listing(&l);
    lm_hf_listing_release(&l);
    if (lm_hf_parse_cached_tree((const char *)data, size, "fuzz", &l, &err) == 0)
        check_listing(&l);
    lm_hf_listing_release(&l);
    /* headers and references are short NUL-terminated strings */
    char s[1024], buf[1024];
    size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    memcpy(s, data, n);
    s[n] = 0;
    uint64_t a, b, t;
    if (http_parse_content_range(s, &a, &b, &t) == 0)
        LM_BUG_ON(a > b || b >= t);
    if (http_link_next(s, buf, sizeof(buf)) == 0)
        LM_BUG_ON(strlen(buf) >= sizeof(buf));
    struct lm_hf_ref ref;
    if (lm_hf_ref_parse(s, &ref, &err) == 0)
        LM_BUG_ON(!strchr(ref.repo, '/'));
    return 0;
}
