/* sha256.c: streaming SHA-256 through libcrypto's EVP interface. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include "common.h"
#include "banned.h"

struct lm_sha256 {
    EVP_MD_CTX *ctx;
};

struct lm_sha256 *lm_sha256_new(void)
{
    struct lm_sha256 *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void lm_sha256_update(struct lm_sha256 *h, const void *p, size_t n)
{
    if (n)
        EVP_DigestUpdate(h->ctx, p, n);
}

void lm_sha256_final(struct lm_sha256 *h, uint8_t out[32])
{
    unsigned int len = 32;
    EVP_DigestFinal_ex(h->ctx, out, &len);
    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL);
}

void lm_sha256_free(struct lm_sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void lm_sha256_buf(const void *p, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

void lm_hex(const uint8_t *p, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = 0;
}

int lm_sha256_file(const char *path, char hex[65], uint64_t *size, struct lm_err *err)
{
    enum { CHUNK = 1 << 20 };
    int ret = -1;
    uint64_t total = 0;
    uint8_t *buf = NULL;
    struct lm_sha256 *h = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lm_err_errno(err, path, "open");
    buf = malloc(CHUNK);
    h = lm_sha256_new();
    if (!buf || !h) {
        lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            lm_err_errno(err, path, "read");
            goto out;
        }
        if (n == 0)
            break;
        lm_sha256_update(h, buf, (size_t)n);
        total += (uint64_t)n;
    }
    uint8_t d[32];
    lm_sha256_final(h, d);
    lm_hex(d, 32, hex);
    if (size)
        *size = total;
    ret = 0;
out:
    lm_sha256_free(h);
    free(buf);
    close(fd);
    return ret;
}
