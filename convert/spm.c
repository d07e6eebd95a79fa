/* spm.c: a reader for SentencePiece's tokenizer.model, just the pieces (tokenizers.md §2.1).
 *
 * The file is a protobuf ModelProto. Every field is a varint key (field << 3 | wire type) and a
 * payload: wire type 0 varint, 1 eight bytes, 2 varint length + bytes, 5 four bytes. ModelProto
 * field 1 (repeated) is a SentencePiece message: 1 piece (string), 2 score (float), 3 type (enum,
 * NORMAL when absent). Everything else (trainer and normalizer specs) is skipped. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "../common/banned.h"

#define SPM_MAX_PIECE 4096    /* bytes of one piece; real ones are a few dozen */

struct rd {
    const uint8_t *p;
    size_t n, off;
    size_t base;              /* offset of p[0] in the file, for messages */
    const char *path;
    struct lm_err *err;
};

__attribute__((format(printf, 2, 3))) static int corrupt(struct rd *r, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return lm_err_set(r->err, LM_ECORRUPT, r->path, r->base + r->off, "%s", msg);
}

static int varint(struct rd *r, uint64_t *out, const char *what)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->off == r->n)
            return corrupt(r, "%s is cut short", what);
        uint8_t b = r->p[r->off++];
        if (shift == 63 && b > 1)
            return corrupt(r, "%s is longer than 64 bits", what);
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return corrupt(r, "%s is longer than 64 bits", what);
}

/* One key; *len gets the payload length for wire type 2. */
static int field(struct rd *r, uint32_t *num, uint32_t *wire, uint64_t *len)
{
    uint64_t key;
    size_t at = r->off;
    if (varint(r, &key, "field key"))
        return -1;
    *num = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7);
    if ((key >> 3) == 0 || (key >> 3) > 536870911u) {
        r->off = at;
        return corrupt(r, "field number is out of range");
    }
    *len = 0;
    switch (*wire) {
    case 0:
        return 0;
    case 1:
        *len = 8;
        break;
    case 5:
        *len = 4;
        break;
    case 2:
        if (varint(r, len, "field length"))
            return -1;
        break;
    default:
        r->off = at;
        return corrupt(r, "field has a wire type protobuf no longer uses");
    }
    if (*len > r->n - r->off)
        return corrupt(r, "field of %llu bytes runs past the end of its message",
                       (unsigned long long)*len);
    return 0;
}

static int skip(struct rd *r, uint32_t wire, uint64_t len)
{
    uint64_t v;
    if (wire == 0)
        return varint(r, &v, "varint");
    r->off += (size_t)len;
    return 0;
}

static bool utf8_ok(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint8_t c = s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (k == 0 || k > n - i || c == 0xC0 || c == 0xC1 || c > 0xF4)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        uint32_t cp = k == 1 ? c : k == 2 ? c & 31u : k == 3 ? c & 15u : c & 7u;
        for (size_t j = 1; j < k; j++)
            cp = cp << 6 | (s[i + j] & 63u);
        if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k;
    }
    return true;
}

static int piece(struct rd *outer, size_t len, struct convert_spm_piece *pc)
{
    struct rd r = { outer->p + outer->off, len, 0, outer->base + outer->off, outer->path,
                    outer->err };
    bool have_text = false;
    pc->type = TOK_NORMAL;
    pc->score = 0.0f;
    while (r.off < r.n) {
        uint32_t num, wire;
        uint64_t flen, v;
        size_t at = r.off;
        if (field(&r, &num, &wire, &flen))
            return -1;
        if (num == 1 && wire == 2) {
            if (flen == 0 || flen > SPM_MAX_PIECE) {
                r.off = at;
                return corrupt(&r, "piece text is empty or longer than 4096 bytes");
            }
            if (!utf8_ok(r.p + r.off, (size_t)flen))
                return corrupt(&r, "piece text is not UTF-8");
            pc->text = (const char *)r.p + r.off;
            pc->len = (uint32_t)flen;
            have_text = true;
            r.off += (size_t)flen;
        } else if (num == 2 && wire == 5) {
            uint32_t bits = (uint32_t)r.p[r.off] | (uint32_t)r.p[r.off + 1] << 8 |
                            (uint32_t)r.p[r.off + 2] << 16 | (uint32_t)r.p[r.off + 3] << 24;
            memcpy(&pc->score, &bits, 4);
            r.off += 4;
        } else if (num == 3 && wire == 0) {
            if (varint(&r, &v, "piece type"))
                return -1;
            if (v < TOK_NORMAL || v > TOK_BYTE) {
                r.off = at;
                return corrupt(&r, "piece type %llu is not 1..6", (unsigned long long)v);
            }
            pc->type = (int32_t)v;
        } else if ((num == 1 && wire != 2) || (num == 2 && wire != 5) || (num == 3 && wire != 0)) {
            r.off = at;
            return corrupt(&r, "piece field has the wrong wire type");
        } else if (skip(&r, wire, flen)) {
            return -1;
        }
    }
    if (!have_text)
        return corrupt(&r, "piece has no text");
    return 0;
}

int convert_spm_parse(const uint8_t *p, size_t n, const char *path,
                      struct convert_spm_piece **out, uint32_t *n_out, struct lm_err *err)
{
    struct rd r = { p, n, 0, 0, path, err };
    struct convert_spm_piece *v = NULL;
    uint32_t count = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    while (r.off < r.n) {
        uint32_t num, wire;
        uint64_t len;
        size_t at = r.off;
        if (field(&r, &num, &wire, &len))
            goto fail;
        if (num != 1) {
            if (skip(&r, wire, len))
                goto fail;
            continue;
        }
        if (wire != 2) {
            r.off = at;
            corrupt(&r, "pieces field has the wrong wire type");
            goto fail;
        }
        if (count == CONVERT_MAX_VOCAB) {
            r.off = at;
            lm_err_set(err, LM_ECORRUPT, path, at, "more than %u pieces", CONVERT_MAX_VOCAB);
            goto fail;
        }
        if (count == cap) {
            uint32_t nc = cap ? cap * 2 : 1024;
            struct convert_spm_piece *nv = realloc(v, nc * sizeof(*nv));
            if (!nv) {
                lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
                goto fail;
            }
            v = nv;
            cap = nc;
        }
        if (piece(&r, (size_t)len, &v[count]))
            goto fail;
        r.off += (size_t)len;
        count++;
    }
    if (count == 0) {
        lm_err_set(err, LM_ECORRUPT, path, LM_NO_OFFSET, "no pieces: not a SentencePiece model");
        goto fail;
    }
    *out = v;
    *n_out = count;
    return 0;
fail:
    free(v);
    return -1;
}
