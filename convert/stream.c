/* stream.c: one tensor from the mmapped shard to the GGUF writer, a segment at a time: dtype to
 * float32 (exactly), Q/K rows reordered, then F32, F16, BF16 or Q8_0 as gguf-py writes them. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "convert.h"
#include "../quantize/quantize.h"
#include "../common/banned.h"

#define SEG 65536u   /* elements converted at once; a multiple of the Q8_0 block */

struct bufs {
    uint8_t *out;     /* CONVERT_CHUNK bytes of output */
    float *f32;       /* SEG floats */
    uint8_t *raw;     /* SEG doubles: an aligned copy of unaligned source bytes */
};

static size_t src_size(enum st_dtype d)
{
    return d == ST_F64 ? 8 : d == ST_F32 ? 4 : 2;
}

static size_t out_bytes(uint32_t type, size_t k)
{
    return type == LM_TYPE_F32 ? 4 * k : type == LM_TYPE_Q8_0 ? k / 32 * 34 : 2 * k;
}

void convert_bf16_to_f16_scalar(const uint16_t *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = lm_f32_to_f16(lm_bf16_to_f32(in[i]));
}

/* lm_f32_to_bf16(lm_bf16_to_f32(h)) without the floats: the same bits, or a quiet NaN. */
void convert_bf16_to_bf16(const uint16_t *in, uint16_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (in[i] & 0x7fff) > 0x7f80 ? in[i] | 0x40 : in[i];
}

/* The conversions worth a fused or vector path; false if (dt, type) has none. */
static bool fast_seg(const uint8_t *p, enum st_dtype dt, size_t k, uint32_t type, uint8_t *dst)
{
    bool avx2 = lm_cpu_level() >= LM_CPU_AVX2;
    if (dt == ST_BF16 && type == LM_TYPE_BF16)
        convert_bf16_to_bf16((const uint16_t *)p, (uint16_t *)dst, k);
    else if (dt == ST_BF16 && type == LM_TYPE_F16)
        (avx2 ? convert_bf16_to_f16_avx2 : convert_bf16_to_f16_scalar)((const uint16_t *)p,
                                                                      (uint16_t *)dst, k);
    else if (dt == ST_F32 && type == LM_TYPE_F16)
        (avx2 ? convert_f32_to_f16_avx2 : lm_f32_to_f16_row)((const float *)p, (uint16_t *)dst, k);
    else
        return false;
    return true;
}

/* k source elements at p to the output type at dst. */
static void convert_seg(const uint8_t *p, enum st_dtype dt, size_t k, uint32_t type, uint8_t *dst,
                        struct bufs *b)
{
    size_t es = src_size(dt);
    if ((uintptr_t)p % es) {   /* safetensors data need not be aligned */
        memcpy(b->raw, p, k * es);
        p = b->raw;
    }
    if (dt == ST_F16 && type == LM_TYPE_F16) {   /* f16 sources stay f16: the bits are copied */
        memcpy(dst, p, 2 * k);
        return;
    }
    if (fast_seg(p, dt, k, type, dst))
        return;
    const float *f = b->f32;
    switch (dt) {
    case ST_F32: f = (const float *)p; break;
    case ST_F16: lm_f16_to_f32_row((const uint16_t *)p, b->f32, k); break;
    case ST_BF16: lm_bf16_to_f32_row((const uint16_t *)p, b->f32, k); break;
    default:
        for (size_t i = 0; i < k; i++)
            b->f32[i] = (float)((const double *)p)[i];
        break;
    }
    switch (type) {
    case LM_TYPE_F32: memcpy(dst, f, 4 * k); break;
    case LM_TYPE_F16: lm_f32_to_f16_row(f, (uint16_t *)dst, k); break;
    case LM_TYPE_BF16: lm_f32_to_bf16_row(f, (uint16_t *)dst, k); break;
    default: lm_quantize_row(LM_TYPE_Q8_0, f, dst, k); break;
    }
}

/* The pages of a tensor we have read stay in the page cache but leave our resident set, so memory
 * is bounded by one tensor, not the model. Pages shared with a neighbour just fault in again. */
static void src_advise(const void *p, uint64_t n, int advice)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (pg <= 0 || n == 0)
        return;
    uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1), e = (uintptr_t)p + n;
    madvise((void *)a, e - a, advice);
}

int convert_tensor_write(const struct convert_tensor *t, struct gguf_writer *w,
                         struct lm_progress *progress, struct lm_err *err)
{
    struct bufs b = { malloc(CONVERT_CHUNK), malloc(SEG * sizeof(float)), malloc(SEG * 8) };
    const uint8_t *src = t->src ? t->src->data : (const uint8_t *)t->gen;
    enum st_dtype dt = t->src ? t->src->dtype : ST_F32;
    size_t es = src_size(dt), used = 0;
    int ret = -1;
    if (!b.out || !b.f32 || !b.raw) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    /* Without a permutation the tensor is one long row. */
    uint64_t rows = t->permute_heads ? t->rows : 1;
    uint64_t row_len = t->permute_heads ? t->row_len : t->rows * t->row_len;
    /* One call maps the tensor's pages instead of a page fault per 4 KiB (where the kernel has
     * MADV_POPULATE_READ; otherwise the faults just happen). */
    if (t->src)
        src_advise(src, t->src->end - t->src->begin, MADV_POPULATE_READ);
    for (uint64_t r = 0; r < rows; r++) {
        uint64_t sr = t->permute_heads ? convert_permute_row(r, t->rows, t->permute_heads) : r;
        const uint8_t *row = src + sr * row_len * es;
        for (uint64_t off = 0; off < row_len; off += SEG) {
            size_t k = row_len - off < SEG ? (size_t)(row_len - off) : SEG;
            size_t ob = out_bytes(t->type, k);
            if (ob > CONVERT_CHUNK - used) {
                if (gguf_writer_write_data(w, b.out, used, err))
                    goto out;
                if (progress)
                    lm_progress_add(progress, used);
                used = 0;
            }
            convert_seg(row + off * es, dt, k, t->type, b.out + used, &b);
            used += ob;
        }
    }
    if (used && gguf_writer_write_data(w, b.out, used, err))
        goto out;
    if (progress)
        lm_progress_add(progress, used);
    ret = 0;
out:
    if (t->src)
        src_advise(src, t->src->end - t->src->begin, MADV_DONTNEED);
    free(b.out);
    free(b.f32);
    free(b.raw);
    return ret;
}
