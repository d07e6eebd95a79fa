/* tokenizer_detok.c: token pieces, whole-sequence detokenization and streaming detokenization
 * with partial UTF-8 held back (tokenizers.md §8, llama.cpp's token_to_piece / detokenize). */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"
#include "../common/banned.h"

/* Broken byte-level tokens decode to "[UNK_BYTE_0x..<token>]" per character (llama.cpp), which
 * grows with the square of the token's length: cap the cache. */
#define PIECE_CACHE_MIN (64u << 20)

/* Bytes of the piece of token id (special = true), written to out (NULL: just count). */
static size_t piece_of(const struct lm_tokenizer *t, uint32_t id, char *out)
{
    const char *s = t->text + t->text_off[id];
    size_t n = t->text_len[id], o = 0;
    uint16_t a = t->attr[id];
    if (a & (LM_TOKEN_ATTR_UNKNOWN | LM_TOKEN_ATTR_CONTROL | LM_TOKEN_ATTR_USER_DEFINED)) {
        if (out)
            memcpy(out, s, n);
        return n;
    }
    if (a & LM_TOKEN_ATTR_NORMAL) {
        if (t->kind == LM_TOK_SPM) {
            for (size_t i = 0; i < n; i++) {
                if (i + 2 < n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                    if (out)
                        out[o] = ' ';
                    o++;
                    i += 2;
                } else {
                    if (out)
                        out[o] = s[i];
                    o++;
                }
            }
            return o;
        }
        /* Byte-level text: every character maps back to one byte. Texts are valid UTF-8. */
        for (size_t i = 0; i < n;) {
            const uint8_t *u = (const uint8_t *)s + i;
            size_t k = u[0] < 0x80 ? 1 : u[0] < 0xE0 ? 2 : u[0] < 0xF0 ? 3 : 4;
            uint32_t cp = k == 1 ? u[0] : (u[0] & (0x7Fu >> k));
            for (size_t j = 1; j < k; j++)
                cp = cp << 6 | (u[j] & 0x3Fu);
            int b = tok_cp_to_byte(cp);
            if (b >= 0) {
                if (out)
                    out[o] = (char)b;
                o++;
            } else {
                char tmp[32];
                int m = snprintf(tmp, sizeof(tmp), "[UNK_BYTE_0x");
                for (size_t j = 0; j < k; j++)
                    m += snprintf(tmp + m, sizeof(tmp) - (size_t)m, "%02x", u[j]);
                if (out) {
                    memcpy(out + o, tmp, (size_t)m);
                    memcpy(out + o + m, s, n);
                    out[o + (size_t)m + n] = ']';
                }
                o += (size_t)m + n + 1;
            }
            i += k;
        }
        return o;
    }
    if (a & LM_TOKEN_ATTR_BYTE) {
        if (out)
            out[0] = (char)t->byte_val[id];
        return 1;
    }
    return 0;   /* UNUSED and UNDEFINED tokens have no text */
}

int tok_pieces_build(struct lm_tokenizer *t, struct lm_err *err)
{
    uint64_t total = 0, limit = PIECE_CACHE_MIN;
    for (uint32_t i = 0; i < t->n_vocab; i++)
        limit += 4ull * t->text_len[i];
    t->piece_off = malloc(t->n_vocab * sizeof(*t->piece_off));
    t->piece_len = malloc(t->n_vocab * sizeof(*t->piece_len));
    if (!t->piece_off || !t->piece_len)
        goto nomem;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        size_t n = piece_of(t, i, NULL);
        t->piece_off[i] = (uint32_t)total;
        t->piece_len[i] = (uint32_t)n;
        total += n + 1;
        if (total > limit || total > UINT32_MAX)
            return lm_err_set(err, LM_ECORRUPT, NULL, LM_NO_OFFSET,
                              "token %u is not byte-level text: its piece needs %zu bytes", i, n);
    }
    if (!(t->piece = malloc(total)))
        goto nomem;
    for (uint32_t i = 0; i < t->n_vocab; i++) {
        piece_of(t, i, t->piece + t->piece_off[i]);
        t->piece[t->piece_off[i] + t->piece_len[i]] = 0;
    }
    return 0;
nomem:
    return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory building token pieces");
}

const char *lm_token_piece(const struct lm_tokenizer *t, int32_t id, bool special, size_t *len)
{
    if (id < 0 || (uint32_t)id >= t->n_vocab) {
        if (len)
            *len = 0;
        return NULL;
    }
    if (!special && (t->attr[id] & (LM_TOKEN_ATTR_UNKNOWN | LM_TOKEN_ATTR_CONTROL))) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = t->piece_len[id];
    return t->piece + t->piece_off[id];
}

static int bad_id(const struct lm_tokenizer *t, int32_t id, struct lm_err *err)
{
    return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                      "token id %d is out of range: the vocabulary has %u tokens", id, t->n_vocab);
}

/* llama.cpp's clean_up_tokenization_spaces passes, on the bytes of one detokenized text. */
static size_t clean_spaces(char *text, size_t total)
{
    /* " ?", " !", " .", " ," lose the space */
    size_t total1 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total1; i++) {
        char x = text[i];
        if (text[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ','))
            total--;
        text[total++] = x;
    }
    /* " ' " becomes "'" */
    size_t total2 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total2; i++) {
        char x = text[i];
        if (x == '\'' && i + 1 < total2 && text[i - 1] == ' ' && text[i + 1] == ' ') {
            total--;
            text[++i] = 0;
        }
        text[total++] = x;
    }
    /* " 's", " 'm", " 're", " 've" lose the space; " 't", " 'd", " 'll" keep it */
    size_t total3 = total;
    total = total ? 1 : 0;
    for (size_t i = 1; i < total3; i++) {
        char x = text[i];
        if (text[i - 1] == ' ' && x == '\'' && i + 1 < total3) {
            char x1 = text[i + 1];
            if (x1 == 's' || x1 == 'm')
                total--;
            else if (i + 2 < total3 && ((x1 == 'r' && text[i + 2] == 'e') ||
                                        (x1 == 'v' && text[i + 2] == 'e')))
                total--;
        }
        text[total++] = x;
    }
    return total;
}

int lm_detokenize(const struct lm_tokenizer *t, const int32_t *ids, size_t n, bool remove_special,
                  bool unparse_special, struct lm_buf *out, struct lm_err *err)
{
    bool remove_space = t->add_space_prefix;
    size_t start = out->len;
    if (remove_special && t->add_bos && n > 0 && ids[0] == t->special[LM_TOK_BOS]) {
        remove_space = false;
        ids++;
        n--;
    }
    if (remove_special && t->add_eos && n > 0 && ids[n - 1] == t->special[LM_TOK_EOS])
        n--;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *p = lm_token_piece(t, ids[i], unparse_special, &len);
        if (!p) {
            out->len = start;
            return bad_id(t, ids[i], err);
        }
        if (remove_space && len && p[0] == ' ') {
            p++;
            len--;
        }
        remove_space = false;
        if (lm_buf_add(out, p, len)) {
            out->len = start;
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "detokenized text is too long");
        }
    }
    if (t->clean_spaces && out->len > start)
        out->len = start + clean_spaces(out->data + start, out->len - start);
    return 0;
}

void lm_detok_init(struct lm_detok *d, const struct lm_tokenizer *t, bool special)
{
    memset(d, 0, sizeof(*d));
    d->t = t;
    d->special = special;
}

/* Bytes at the end of p[0..n) that start a UTF-8 character and could still be completed. */
static size_t incomplete_tail(const uint8_t *p, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = p[n - back];
        if ((c & 0xC0) == 0x80)
            continue;   /* continuation byte: look further back */
        size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        return need > back ? back : 0;
    }
    return 0;
}

int lm_detok_push(struct lm_detok *d, int32_t id, struct lm_buf *out, struct lm_err *err)
{
    size_t len, start = out->len;
    const char *p = lm_token_piece(d->t, id, d->special, &len);
    if (!p)
        return bad_id(d->t, id, err);
    if (lm_buf_add(out, d->held, d->n_held) || lm_buf_add(out, p, len)) {
        out->len = start;
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "detokenized text is too long");
    }
    size_t tail = out->len > start ? incomplete_tail((const uint8_t *)out->data + start, out->len - start) : 0;
    if (tail)
        memcpy(d->held, out->data + out->len - tail, tail);
    d->n_held = tail;
    out->len -= tail;
    return 0;
}

int lm_detok_flush(struct lm_detok *d, struct lm_buf *out, struct lm_err *err)
{
    if (d->n_held && lm_buf_add(out, d->held, d->n_held))
        return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "detokenized text is too long");
    d->n_held = 0;
    return 0;
}
