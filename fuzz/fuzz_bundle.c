/* fuzz_bundle.c: arbitrary bytes as a bundle for lm_bundle_import into a scratch store. Whatever
 * happens, tmp/ is left empty and a refusal comes with an error; an accepted bundle verifies. */
#define _GNU_SOURCE   /* memfd_create */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../store/store.h"
#include "../common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct lm_store *store;
static char home[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    lm_store_close(store);
    nftw(home, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static struct lm_store *scratch(void)
{
    if (!store) {
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(home, sizeof(home), "%.40s/lm-fuzz-bundle-XXXXXX", base);
        LM_BUG_ON(!mkdtemp(home));
        store = lm_store_open(home, NULL);
        LM_BUG_ON(!store);
        atexit(cleanup);
    }
    return store;
}

static size_t tmp_files(struct lm_store *s)
{
    char p[1024];
    size_t n = 0;
    snprintf(p, sizeof(p), "%s/tmp", lm_store_path(s));
    DIR *d = opendir(p);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lm_store *s = scratch();
    struct lm_bundle_import_opts o = { .force = true };
    struct lm_bundle_result r;
    struct lm_err err;
    int fd = memfd_create("bundle", MFD_CLOEXEC);
    LM_BUG_ON(fd < 0);
    LM_BUG_ON(lm_write_all(fd, data, size, "bundle", NULL) != 0);
    LM_BUG_ON(lseek(fd, 0, SEEK_SET) != 0);
    lm_err_clear(&err);
    int rc = lm_bundle_import(s, fd, "bundle", &o, &r, &err);
    close(fd);
    if (rc) {
        LM_BUG_ON(err.code == LM_OK || err.msg[0] == 0);
    } else {
        LM_BUG_ON(r.n_models == 0);
        struct lm_verify_opts vo = { .threads = 1 };
        struct lm_verify_result vr;
        LM_BUG_ON(lm_store_verify(s, &vo, &vr, &err) != 0);
        LM_BUG_ON(vr.n_errors != 0);
        lm_verify_result_release(&vr);
        lm_bundle_result_release(&r);
    }
    LM_BUG_ON(tmp_files(s) != 0);   /* staged files never outlive the call */
    return 0;
}
