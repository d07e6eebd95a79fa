/* gotmpl_ollama.c: Ollama's Template.Execute over a chat: collating messages, the .Messages
 * mode, and the per-turn legacy mode cut after {{ .Response }}. */
#include <stdlib.h>
#include <string.h>

#include "gotmpl_int.h"
#include "../common/banned.h"

/* ---- Ollama's Template.Execute -------------------------------------------------------------- */

struct lm_gotmpl *lm_gotmpl_parse(const char *src, size_t len, const char *name,
                                  struct lm_err *err)
{
    if (len > LM_GOTMPL_MAX_SRC)
        return lm_err_set(err, LM_EUNSUPPORTED, name, LM_NO_OFFSET,
                          "template is longer than %u bytes", LM_GOTMPL_MAX_SRC), NULL;
    struct lm_gotmpl *t = calloc(1, sizeof(*t));
    char *s = malloc(len + 1);
    if (!t || !s) {
        free(t);
        free(s);
        return lm_err_set(err, LM_ENOMEM, name, LM_NO_OFFSET, "out of memory"), NULL;
    }
    memcpy(s, src, len);
    s[len] = 0;
    t->src = s;
    t->len = len;
    snprintf(t->name, sizeof(t->name), "%s", name ? name : "template");
    t->arena.max = 64 * (size_t)LM_GOTMPL_MAX_SRC;   /* nodes per source byte are few */
    if (gt_parse(t, err)) {
        lm_gotmpl_free(t);
        return NULL;
    }
    return t;
}

void lm_gotmpl_free(struct lm_gotmpl *t)
{
    if (!t)
        return;
    gt_arena_free(&t->arena);
    free(t->src);
    free(t);
}

/* collate(): consecutive messages of one role (but tool) merge with "\n\n"; every system text
 * is also joined into .System. Contents are copied into `text`; offs[] holds where each starts
 * until the buffer stops moving. */
static int collate(const struct lm_chat_msg *msgs, size_t n, struct gt_msg *out, size_t *offs,
                   size_t *n_out, struct lm_buf *text, struct lm_buf *system)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t clen = strlen(msgs[i].content);
        if (strcmp(msgs[i].role, "system") == 0 &&
            ((system->len && lm_buf_add(system, "\n\n", 2)) ||
             lm_buf_add(system, msgs[i].content, clen)))
            return -1;
        if (k > 0 && strcmp(out[k - 1].role, msgs[i].role) == 0 &&
            strcmp(msgs[i].role, "tool") != 0) {
            /* the merged message is the last one in `text`, so it stays contiguous */
            if (lm_buf_add(text, "\n\n", 2) || lm_buf_add(text, msgs[i].content, clen))
                return -1;
            out[k - 1].content_n += 2 + clen;
            continue;
        }
        out[k].role = msgs[i].role;
        out[k].role_n = strlen(msgs[i].role);
        offs[k] = text->len;
        if (lm_buf_add(text, msgs[i].content, clen))
            return -1;
        out[k++].content_n = clen;
    }
    for (size_t i = 0; i < k; i++)
        out[i].content = text->data + offs[i];
    *n_out = k;
    return 0;
}

int lm_gotmpl_render(const struct lm_gotmpl *t, const struct lm_chat_msg *msgs, size_t n,
                     struct lm_buf *out, struct lm_err *err)
{
    struct lm_buf text = LM_BUF_INIT(2 * (size_t)LM_CHAT_MAX_BYTES);
    struct lm_buf system = LM_BUF_INIT(LM_CHAT_MAX_BYTES);
    struct gt_msg *cm = n ? malloc(n * sizeof(*cm)) : NULL;
    size_t *offs = n ? malloc(n * sizeof(*offs)) : NULL;
    struct lm_gotmpl cut = { 0 };
    size_t ncm = 0, start = out->len;
    uint64_t steps = 0;
    int ret = -1;
    if ((n && (!cm || !offs)) || lm_buf_add(&text, "", 0) || lm_buf_add(&system, "", 0) ||
        collate(msgs, n, cm, offs, &ncm, &text, &system)) {
        lm_err_set(err, LM_EUNSUPPORTED, t->name, LM_NO_OFFSET,
                   "conversation is too long to render (or out of memory)");
        goto out;
    }
    if (t->uses_messages) {
        struct gt_data r = { true, system.data, "", "", system.len, 0, 0, cm, ncm };
        ret = gt_execute(t, t->root, &r, out, &steps, err);
        goto out;
    }
    /* Legacy .Prompt/.Response templates run once per completed turn. */
    struct gt_data r = { false, "", "", "", 0, 0, 0, NULL, 0 };
    for (size_t i = 0; i < ncm; i++) {
        bool sys = strcmp(cm[i].role, "system") == 0, user = strcmp(cm[i].role, "user") == 0;
        if ((sys && (r.prompt_n || r.response_n)) || (user && r.response_n)) {
            if (gt_execute(t, t->root, &r, out, &steps, err))
                goto out;
            r.system_n = r.prompt_n = r.response_n = 0;
        }
        if (sys)
            r.system = cm[i].content, r.system_n = cm[i].content_n;
        else if (user)
            r.prompt = cm[i].content, r.prompt_n = cm[i].content_n;
        else if (strcmp(cm[i].role, "assistant") == 0)
            r.response = cm[i].content, r.response_n = cm[i].content_n;
    }
    /* ...and the last one on a copy of the tree cut after {{ .Response }}. */
    cut.src = t->src;
    cut.len = t->len;
    memcpy(cut.name, t->name, sizeof(cut.name));
    cut.arena.max = t->arena.max;
    if (gt_parse(&cut, err))
        goto out;
    gt_cut_after_response(cut.root);
    ret = gt_execute(t, cut.root, &r, out, &steps, err);
out:
    if (ret) {
        out->len = start;
        if (out->data)
            out->data[start] = 0;
    }
    gt_arena_free(&cut.arena);
    free(cm);
    free(offs);
    lm_buf_release(&text);
    lm_buf_release(&system);
    return ret;
}
