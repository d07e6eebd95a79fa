/* test_inspect.c: `lm inspect --json` against every reference GGUF's gguf-index.tsv, and the
 * peak RSS of inspecting a 2 GiB GGUF (it must map, never read, tensor data). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "../format/format.h"
#include "support/testutil.h"

struct tsv_row {
    char file[256], name[128], type[16], shape[64];
    unsigned long long file_size, data_offset, file_offset, nbytes;
    unsigned tensor_index;
};

/* Each reference GGUF present on disk: compare lm's JSON with every tsv row for that file. */
static int check_file(const char *gguf_path, const char *base, struct tsv_row *rows, size_t nrows)
{
    char *argv[] = { (char *)lm_bin(), "inspect", "--json", (char *)gguf_path, NULL };
    struct run_result r;
    assert_int_equal(run_capture(argv, &r), 0);
    if (r.status != 0)
        fprintf(stderr, "lm inspect %s: %s", gguf_path, r.err);
    assert_int_equal(r.status, 0);
    json_error_t je;
    json_t *doc = json_loads(r.out, 0, &je);
    assert_non_null(doc);
    json_t *tensors = json_object_get(doc, "tensors");
    size_t seen = 0;
    for (size_t i = 0; i < nrows; i++) {
        struct tsv_row *w = &rows[i];
        if (strcmp(w->file, base) != 0)
            continue;
        assert_int_equal(json_integer_value(json_object_get(doc, "size")), w->file_size);
        json_t *t = json_array_get(tensors, w->tensor_index);
        assert_non_null(t);
        assert_string_equal(json_string_value(json_object_get(t, "name")), w->name);
        assert_string_equal(json_string_value(json_object_get(t, "type")), w->type);
        char shape[64] = "";
        size_t k, o = 0;
        json_t *d;
        json_array_foreach(json_object_get(t, "shape"), k, d)
            o += (size_t)snprintf(shape + o, sizeof(shape) - o, "%s%lld", k ? "," : "",
                                  (long long)json_integer_value(d));
        assert_string_equal(shape, w->shape);
        assert_int_equal(json_integer_value(json_object_get(t, "offset")), w->data_offset);
        assert_int_equal(json_integer_value(json_object_get(t, "file_offset")), w->file_offset);
        assert_int_equal(json_integer_value(json_object_get(t, "nbytes")), w->nbytes);
        seen++;
    }
    assert_true(seen > 0);
    assert_int_equal(json_array_size(tensors), seen);
    json_decref(doc);
    run_result_free(&r);
    return (int)seen;
}

static size_t read_tsv(const char *path, struct tsv_row **out)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = 0, cap = 0;
    struct tsv_row *rows = NULL;
    char line[4096];
    assert_non_null(fgets(line, sizeof(line), f));   /* header */
    while (fgets(line, sizeof(line), f)) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            rows = realloc(rows, cap * sizeof(*rows));
        }
        struct tsv_row *w = &rows[n];
        char sha[80], tsha[80];
        unsigned type_id;
        int k = sscanf(line, "%255s %llu %79s %u %127s %15s %u %63s %llu %llu %llu %79s",
                       w->file, &w->file_size, sha, &w->tensor_index, w->name, w->type, &type_id,
                       w->shape, &w->data_offset, &w->file_offset, &w->nbytes, tsha);
        assert_int_equal(k, 12);
        n++;
    }
    fclose(f);
    *out = rows;
    return n;
}

static void test_inspect_matches_gguf_index(void **state)
{
    (void)state;
    const char *models = lm_models();
    if (!models || !lm_bin())
        skip();   /* "LM_MODELS or LM_BIN absent" */
    DIR *d = opendir(models);
    assert_non_null(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        char tsv[1024], dir[1024];
        snprintf(tsv, sizeof(tsv), "%s/%s/ref/gguf-index.tsv", models, e->d_name);
        snprintf(dir, sizeof(dir), "%s/%s/ref/gguf", models, e->d_name);
        if (e->d_name[0] == '.' || access(tsv, R_OK) != 0)
            continue;
        struct tsv_row *rows;
        size_t nrows = read_tsv(tsv, &rows);
        DIR *g = opendir(dir);
        struct dirent *ge;
        while (g && (ge = readdir(g))) {
            size_t len = strlen(ge->d_name);
            if (len < 6 || strcmp(ge->d_name + len - 5, ".gguf") != 0)
                continue;
            char path[2048];
            snprintf(path, sizeof(path), "%s/%s", dir, ge->d_name);
            check_file(path, ge->d_name, rows, nrows);
            files++;
        }
        if (g)
            closedir(g);
        free(rows);
    }
    closedir(d);
    /* stories260K 13 + tiny-llama-256 7 + tiny-qwen2-256 2 stored files */
    assert_int_equal(files, 22);
}

/* A GGUF of 2 GiB whose tensor data is a hole: lm inspect must not touch it. */
static void test_inspect_2gib_peak_rss(void **state)
{
    (void)state;
    if (!lm_bin())
        skip();
    char *dir = make_tmpdir();
    char path[1024];
    snprintf(path, sizeof(path), "%s/big.gguf", dir);
    /* Header written by hand: the writer buffers until tensor data arrives, and the data here
     * must stay a hole. 128 tensors of 4096 x 1024 F32 = 16 MiB each, 2 GiB in all. */
    enum { N = 128 };
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    uint32_t u32;
    uint64_t u64;
#define PUT(v) fwrite(&(v), sizeof(v), 1, f)
    fwrite("GGUF", 1, 4, f);
    u32 = 3; PUT(u32);
    u64 = N; PUT(u64);
    u64 = 1; PUT(u64);
    u64 = 20; PUT(u64); fwrite("general.architecture", 1, 20, f);
    u32 = 8; PUT(u32);
    u64 = 5; PUT(u64); fwrite("llama", 1, 5, f);
    for (int i = 0; i < N; i++) {
        char name[64];
        int len = snprintf(name, sizeof(name), "blk.%d.ffn_up.weight", i);
        u64 = (uint64_t)len; PUT(u64); fwrite(name, 1, (size_t)len, f);
        u32 = 2; PUT(u32);
        u64 = 4096; PUT(u64);
        u64 = 1024; PUT(u64);
        u32 = LM_TYPE_F32; PUT(u32);
        u64 = (uint64_t)i << 24; PUT(u64);
    }
#undef PUT
    long meta = ftell(f);
    uint64_t size = lm_pad((uint64_t)meta, 32) + ((uint64_t)N << 24);
    assert_int_equal(ftruncate(fileno(f), (off_t)size), 0);
    fclose(f);

    const char *modes[] = { NULL, "--json" };
    for (int m = 0; m < 2; m++) {
        char *argv[] = { (char *)lm_bin(), "inspect", path, NULL, NULL };
        if (modes[m]) {
            argv[2] = (char *)modes[m];
            argv[3] = path;
        }
        struct run_result r;
        assert_int_equal(run_capture(argv, &r), 0);
        assert_int_equal(r.status, 0);
        assert_non_null(strstr(r.out, "blk.127.ffn_up.weight"));
        const char *build = getenv("LM_TEST_BUILD");
        if (!build || strcmp(build, "asan") != 0)   /* ASan's shadow memory inflates RSS */
            assert_true(r.maxrss_kib < 50 * 1024);
        run_result_free(&r);
    }
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inspect_matches_gguf_index),
        cmocka_unit_test(test_inspect_2gib_peak_rss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
