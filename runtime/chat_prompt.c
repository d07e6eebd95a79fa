/* chat_prompt.c: which template makes a model's prompts, and stop strings while streaming. */
#define _GNU_SOURCE   /* memmem */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "../common/banned.h"

static void from_text(struct lm_prompter *p, const char *tmpl, size_t len, bool have)
{
    memset(p, 0, sizeof(*p));
    p->no_template = !have;
    p->family = have ? lm_chat_detect(tmpl, len) : LM_CHAT_UNKNOWN;
    p->fallback = p->family == LM_CHAT_UNKNOWN;
    if (p->fallback)
        p->family = LM_CHAT_FALLBACK;
}

void lm_prompter_from_jinja(struct lm_prompter *p, const char *tmpl, size_t len)
{
    from_text(p, tmpl, len, true);
}

int lm_prompter_from_gguf(struct lm_prompter *p, const struct gguf *g, const char *path,
                          struct lm_err *err)
{
    const struct gguf_kv *kv = gguf_kv_find(g, "tokenizer.chat_template");
    struct gguf_str s = { "", 0 };
    memset(p, 0, sizeof(*p));
    if (kv && gguf_kv_str(kv, &s))
        return lm_err_set(err, LM_ECORRUPT, path, kv->file_off,
                          "tokenizer.chat_template is a %s, not a string",
                          gguf_vtype_name(kv->type));
    from_text(p, s.p, (size_t)s.len, kv != NULL);
    return 0;
}

int lm_prompter_from_gotmpl(struct lm_prompter *p, const char *tmpl, size_t len, const char *name,
                            struct lm_err *err)
{
    memset(p, 0, sizeof(*p));
    p->gotmpl = lm_gotmpl_parse(tmpl, len, name, err);
    return p->gotmpl ? 0 : -1;
}

const char *lm_prompter_name(const struct lm_prompter *p)
{
    return p->gotmpl ? "gotmpl" : lm_chat_family_name(p->family);
}

int lm_prompter_render(const struct lm_prompter *p, const struct lm_chat_msg *msgs, size_t n,
                       bool add_ass, struct lm_buf *out, struct lm_err *err)
{
    if (p->gotmpl)
        return lm_gotmpl_render(p->gotmpl, msgs, n, out, err);
    return lm_chat_render(p->family, msgs, n, add_ass, out, err);
}

void lm_prompter_release(struct lm_prompter *p)
{
    lm_gotmpl_free(p->gotmpl);
    memset(p, 0, sizeof(*p));
}

/* ---- stop strings --------------------------------------------------------------------------- */

int lm_stops_init(struct lm_stops *st, const char *const *strs, size_t n, struct lm_err *err)
{
    memset(st, 0, sizeof(*st));
    st->held.max = LM_CHAT_MAX_BYTES;
    st->s = calloc(n ? n : 1, sizeof(*st->s));
    if (!st->s)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(strs[i]);
        if (len == 0)
            continue;   /* "" is in every text: Ollama would stop at once */
        char *c = malloc(len + 1);
        if (!c) {
            lm_stops_release(st);
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        }
        memcpy(c, strs[i], len + 1);
        st->s[st->n++] = c;
    }
    return 0;
}

/* The longest end of the held text that is the start of some stop string: a stop string found
 * later begins there, so what comes before it can be shown now. */
static size_t start_of_a_stop(const struct lm_stops *st)
{
    size_t best = 0;
    for (size_t i = 0; i < st->n; i++) {
        size_t len = strlen(st->s[i]);
        for (size_t k = len - 1 < st->held.len ? len - 1 : st->held.len; k > best; k--)
            if (memcmp(st->held.data + st->held.len - k, st->s[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

int lm_stops_push(struct lm_stops *st, const char *text, size_t len, struct lm_buf *out,
                  struct lm_err *err)
{
    if (st->stopped)
        return 0;
    if (lm_buf_add(&st->held, text, len))
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "held text is longer than %u bytes", LM_CHAT_MAX_BYTES);
    for (size_t i = 0; i < st->n; i++) {   /* the first stop string of the list that is there */
        const char *at = memmem(st->held.data, st->held.len, st->s[i], strlen(st->s[i]));
        if (at) {
            st->stopped = true;
            st->held.len = (size_t)(at - st->held.data);
            return lm_stops_flush(st, out, err);
        }
    }
    /* Ollama holds all pending text while its end may start a stop string; holding only that
     * end shows the same text sooner and keeps held text short. */
    size_t keep = start_of_a_stop(st), show = st->held.len - keep;
    if (show && lm_buf_add(out, st->held.data, show))
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "output is longer than %zu bytes", out->max);
    memmove(st->held.data, st->held.data + show, keep);
    st->held.len = keep;
    return 0;
}

int lm_stops_flush(struct lm_stops *st, struct lm_buf *out, struct lm_err *err)
{
    if (st->held.len && lm_buf_add(out, st->held.data, st->held.len))
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "output is longer than %zu bytes", out->max);
    st->held.len = 0;
    return 0;
}

void lm_stops_release(struct lm_stops *st)
{
    for (size_t i = 0; i < st->n; i++)
        free(st->s[i]);
    free(st->s);
    lm_buf_release(&st->held);
    memset(st, 0, sizeof(*st));
}
