/* meta.c: metadata staged in file order, where setting a key again keeps its first position. */
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

#define META_MAX_KEYS 4096

struct meta_ent {
    char *key;
    enum gguf_vtype type;
    enum gguf_vtype arr_type;     /* GGUF_ARRAY only */
    uint32_t u32;
    float f32;
    bool b;
    char *str;                    /* GGUF_STRING: owned copy */
    size_t len;
    const struct gguf_str *sitems; /* string array: borrowed, or `owned` */
    struct gguf_str *owned;       /* string array copied: items, then their bytes */
    void *nitems;                 /* numeric array: owned copy */
    uint64_t n;
};

struct convert_meta {
    struct meta_ent *e;
    size_t n, cap;
};

struct convert_meta *convert_meta_new(void)
{
    return calloc(1, sizeof(struct convert_meta));
}

static void ent_clear_value(struct meta_ent *e)
{
    free(e->str);
    free(e->nitems);
    free(e->owned);
    e->str = NULL;
    e->nitems = NULL;
    e->owned = NULL;
    e->sitems = NULL;
}

void convert_meta_free(struct convert_meta *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        ent_clear_value(&m->e[i]);
        free(m->e[i].key);
    }
    free(m->e);
    free(m);
}

static struct meta_ent *find(const struct convert_meta *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->e[i].key, key) == 0)
            return &m->e[i];
    return NULL;
}

bool convert_meta_has(const struct convert_meta *m, const char *key)
{
    return find(m, key) != NULL;
}

uint64_t convert_meta_count(const struct convert_meta *m)
{
    return m->n;
}

/* The entry for `key`, its old value dropped; a new one at the end if the key is new. */
static struct meta_ent *slot(struct convert_meta *m, const char *key, struct lm_err *err)
{
    struct meta_ent *e = find(m, key);
    if (e) {
        ent_clear_value(e);
        return e;
    }
    if (m->n == META_MAX_KEYS) {
        lm_err_set(err, LM_EINTERNAL, NULL, LM_NO_OFFSET, "more than %d metadata keys",
                   META_MAX_KEYS);
        return NULL;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        struct meta_ent *ne = realloc(m->e, cap * sizeof(*ne));
        if (!ne) {
            lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
            return NULL;
        }
        m->e = ne;
        m->cap = cap;
    }
    e = &m->e[m->n];
    memset(e, 0, sizeof(*e));
    e->key = strdup(key);
    if (!e->key) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    m->n++;
    return e;
}

int convert_meta_u32(struct convert_meta *m, const char *key, uint32_t v, struct lm_err *err)
{
    struct meta_ent *e = slot(m, key, err);
    if (!e)
        return -1;
    e->type = GGUF_U32;
    e->u32 = v;
    return 0;
}

int convert_meta_f32(struct convert_meta *m, const char *key, float v, struct lm_err *err)
{
    struct meta_ent *e = slot(m, key, err);
    if (!e)
        return -1;
    e->type = GGUF_F32;
    e->f32 = v;
    return 0;
}

int convert_meta_bool(struct convert_meta *m, const char *key, bool v, struct lm_err *err)
{
    struct meta_ent *e = slot(m, key, err);
    if (!e)
        return -1;
    e->type = GGUF_BOOL;
    e->b = v;
    return 0;
}

int convert_meta_str(struct convert_meta *m, const char *key, const char *s, size_t len,
                     struct lm_err *err)
{
    struct meta_ent *e = slot(m, key, err);
    if (!e)
        return -1;
    e->type = GGUF_STRING;
    e->str = malloc(len + 1);
    if (!e->str)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    memcpy(e->str, s, len);
    e->str[len] = 0;
    e->len = len;
    return 0;
}

int convert_meta_arr_str_ref(struct convert_meta *m, const char *key, const struct gguf_str *items,
                             uint64_t n, struct lm_err *err)
{
    struct meta_ent *e = slot(m, key, err);
    if (!e)
        return -1;
    e->type = GGUF_ARRAY;
    e->arr_type = GGUF_STRING;
    e->sitems = items;
    e->n = n;
    return 0;
}

int convert_meta_arr_str(struct convert_meta *m, const char *key, const struct gguf_str *items,
                         uint64_t n, struct lm_err *err)
{
    size_t bytes = (size_t)n * sizeof(struct gguf_str);
    for (uint64_t i = 0; i < n; i++)
        if (ckd_add(&bytes, bytes, (size_t)items[i].len))
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "array '%s' is too large", key);
    struct meta_ent *e = slot(m, key, err);
    if (!e)
        return -1;
    e->type = GGUF_ARRAY;
    e->arr_type = GGUF_STRING;
    e->owned = malloc(bytes ? bytes : 1);
    if (!e->owned)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    char *text = (char *)(e->owned + n);
    for (uint64_t i = 0; i < n; i++) {
        memcpy(text, items[i].p, items[i].len);
        e->owned[i] = (struct gguf_str){ text, items[i].len };
        text += items[i].len;
    }
    e->sitems = e->owned;
    e->n = n;
    return 0;
}

int convert_meta_arr_num(struct convert_meta *m, const char *key, enum gguf_vtype item_type,
                         const void *items, uint64_t n, struct lm_err *err)
{
    size_t isz = gguf_vtype_size(item_type), bytes;
    LM_BUG_ON(isz == 0);
    if (ckd_mul(&bytes, (size_t)n, isz))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "array '%s' is too large", key);
    struct meta_ent *e = slot(m, key, err);
    if (!e)
        return -1;
    e->type = GGUF_ARRAY;
    e->arr_type = item_type;
    e->nitems = malloc(bytes ? bytes : 1);
    if (!e->nitems)
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    memcpy(e->nitems, items, bytes);
    e->n = n;
    return 0;
}

int convert_meta_flush(const struct convert_meta *m, struct gguf_writer *w, struct lm_err *err)
{
    for (size_t i = 0; i < m->n; i++) {
        const struct meta_ent *e = &m->e[i];
        int rc = -1;
        switch (e->type) {
        case GGUF_U32: rc = gguf_writer_add_u32(w, e->key, e->u32, err); break;
        case GGUF_F32: rc = gguf_writer_add_f32(w, e->key, e->f32, err); break;
        case GGUF_BOOL: rc = gguf_writer_add_bool(w, e->key, e->b, err); break;
        case GGUF_STRING: rc = gguf_writer_add_str(w, e->key, e->str, e->len, err); break;
        case GGUF_ARRAY:
            rc = e->arr_type == GGUF_STRING
                     ? gguf_writer_add_arr_str(w, e->key, e->sitems, e->n, err)
                     : gguf_writer_add_arr_num(w, e->key, e->arr_type, e->nitems, e->n, err);
            break;
        default:
            LM_BUG_ON(1);
        }
        if (rc)
            return -1;
    }
    return 0;
}
