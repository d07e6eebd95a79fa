/* chat_conv.c: a conversation (role + content messages) and reading one from JSON. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "../common/banned.h"

void lm_chat_init(struct lm_chat *c)
{
    memset(c, 0, sizeof(*c));
}

static void free_msg(struct lm_chat_msg *m)
{
    free((char *)m->role);
    free((char *)m->content);
}

void lm_chat_truncate(struct lm_chat *c, size_t n)
{
    while (c->n > n) {
        struct lm_chat_msg *m = &c->msgs[--c->n];
        c->bytes -= strlen(m->role) + strlen(m->content);
        free_msg(m);
    }
}

void lm_chat_release(struct lm_chat *c)
{
    lm_chat_truncate(c, 0);
    free(c->msgs);
    lm_chat_init(c);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

int lm_chat_add(struct lm_chat *c, const char *role, const char *content, size_t len,
                struct lm_err *err)
{
    size_t rlen = strlen(role), total;
    if (memchr(content, 0, len))
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "message %zu holds a NUL byte", c->n + 1);
    if (ckd_add(&total, rlen, len) || total > LM_CHAT_MAX_BYTES - c->bytes)
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "conversation is longer than %u bytes", LM_CHAT_MAX_BYTES);
    if (c->n >= LM_CHAT_MAX_MESSAGES)
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "conversation has more than %u messages", LM_CHAT_MAX_MESSAGES);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct lm_chat_msg *v = realloc(c->msgs, cap * sizeof(*v));
        if (!v)
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        c->msgs = v;
        c->cap = cap;
    }
    char *r = dup_n(role, rlen), *t = dup_n(content, len);
    if (!r || !t) {
        free(r);
        free(t);
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    }
    c->msgs[c->n++] = (struct lm_chat_msg){ r, t };
    c->bytes += total;
    return 0;
}

/* jansson reports where it stopped as a byte position. */
static int json_fail(struct lm_err *err, const char *path, const json_error_t *je)
{
    return lm_err_set(err, LM_ECORRUPT, path, je->position >= 0 ? (uint64_t)je->position
                      : LM_NO_OFFSET, "invalid JSON: %s", je->text);
}

int lm_chat_from_json(struct lm_chat *c, const char *json, size_t len, const char *path,
                      struct lm_err *err)
{
    json_error_t je;
    /* No JSON_ALLOW_NUL: a "\u0000" in a string is refused by the parser. */
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return json_fail(err, path, &je);
    json_t *arr = json_is_array(doc) ? doc : json_object_get(doc, "messages");
    int ret = -1;
    if (!json_is_array(arr)) {
        lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                   "expected {\"messages\": [...]} or an array of messages");
        goto out;
    }
    size_t i;
    json_t *m;
    json_array_foreach(arr, i, m) {
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        if (!json_is_object(m) || !json_is_string(role) || !json_is_string(content)) {
            lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET,
                       "message %zu: needs \"role\" and \"content\" strings", i + 1);
            goto out;
        }
        if (lm_chat_add(c, json_string_value(role), json_string_value(content),
                        json_string_length(content), err)) {
            if (err)
                snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
            goto out;
        }
    }
    ret = 0;
out:
    json_decref(doc);
    return ret;
}
