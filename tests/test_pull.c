/* test_pull.c: lm pull against the mock Hub: every fixture byte-identical and verified, the file
 * choice (safetensors, GGUF quantizations and split parts, --include/--exclude), reuse of the
 * store and of the Hugging Face cache, offline pulls, JSON progress, rate cap, free space. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/pullfix.h"
#include "../common/common.h"
#include "../store/store.h"
#include "../common/banned.h"

/* ---- every fixture ------------------------------------------------------------------------- */

static const struct fixture {
    const char *sub, *repo, *ref, *name;
    const char *files[12];
} fixtures[] = {
    { "stories260K", "lm-test/stories260K", "hf.co/lm-test/stories260K",
      "hf.co/lm-test/stories260K:latest",
      { "LICENSE", "README.md", "config.json", "generation_config.json", "model.safetensors",
        "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json" } },
    { "tiny-llama-256", "lm-test/tiny-llama-256", "hf:lm-test/tiny-llama-256",
      "hf.co/lm-test/tiny-llama-256:latest",
      { "README.md", "config.json", "generation_config.json", "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors", "model.safetensors.index.json",
        "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json" } },
    { "tiny-qwen2-256", "lm-test/tiny-qwen2-256", "https://huggingface.co/lm-test/tiny-qwen2-256",
      "hf.co/lm-test/tiny-qwen2-256:latest",
      { "README.md", "config.json", "generation_config.json", "model.safetensors",
        "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json" } },
    /* tokenizer.json (7 MB) is a plain git file: checked by its blob id, in 28 chunks */
    { "tiny-qwen2-bpe", "lm-test/tiny-qwen2-bpe", "hf.co/lm-test/tiny-qwen2-bpe@main",
      "hf.co/lm-test/tiny-qwen2-bpe:latest",
      { "LICENSE", "README.md", "config.json", "generation_config.json", "model.safetensors",
        "tokenizer.json", "tokenizer_config.json" } },
    { "stories260K/ref/gguf", "lm-test/stories260K-GGUF", "hf.co/lm-test/stories260K-GGUF",
      "hf.co/lm-test/stories260K-GGUF:latest", { "stories260K-Q4_K_M.gguf" } },
    { "stories260K/ref/gguf", "lm-test/stories260K-GGUF", "hf.co/lm-test/stories260K-GGUF:q4_k_s",
      "hf.co/lm-test/stories260K-GGUF:q4_k_s", { "stories260K-Q4_K_S.gguf" } },
    { "stories260K/ref/gguf", "lm-test/stories260K-GGUF",
      "hf.co/lm-test/stories260K-GGUF:stories260K-F16.gguf",
      "hf.co/lm-test/stories260K-GGUF:stories260K-F16.gguf", { "stories260K-F16.gguf" } },
    { "tiny-llama-256/ref/gguf", "lm-test/tiny-llama-256-GGUF",
      "hf.co/lm-test/tiny-llama-256-GGUF:Q6_K", "hf.co/lm-test/tiny-llama-256-GGUF:Q6_K",
      { "tiny-llama-256-Q6_K.gguf" } },
    { "tiny-qwen2-256/ref/gguf", "lm-test/tiny-qwen2-256-GGUF", "hf.co/lm-test/tiny-qwen2-256-GGUF",
      "hf.co/lm-test/tiny-qwen2-256-GGUF:latest", { "tiny-qwen2-256-Q4_K_M.gguf" } },
};

static size_t n_files(const struct fixture *x)
{
    size_t n = 0;
    while (n < 12 && x->files[n])
        n++;
    return n;
}

static void test_fixtures(void **state)
{
    struct pullfix *f = pullfix_need(state);
    for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        const struct fixture *x = &fixtures[i];
        struct run_result r;
        int repo = pullfix_repo(f, x->repo, x->sub, MOCK_PUBLIC);
        pullfix_pull(&r, x->ref, NULL);
        if (r.status != 0)
            fail_msg("%s: exit %d: %s", x->ref, r.status, r.err);
        char want[512];
        snprintf(want, sizeof(want), "pulled %s at commit %s: ", x->name,
                 mock_hf_sha(f->m, repo, 0));
        if (strncmp(r.out, want, strlen(want)) != 0)
            fail_msg("%s: printed %s", x->ref, r.out);
        run_result_free(&r);
        pullfix_check_model(f, x->name, x->sub, x->files, n_files(x), mock_hf_sha(f->m, repo, 0));
        assert_int_equal(pullfix_temps(f), 0);
    }
}

/* ---- file choice --------------------------------------------------------------------------- */

static void test_split_gguf(void **state)
{
    struct pullfix *f = pullfix_need(state);
    char a[1024], b[1024], c[1024];
    struct run_result r;
    snprintf(a, sizeof(a), "%s/tiny-llama-256/ref/gguf/tiny-llama-256-Q8_0.gguf", lm_models());
    snprintf(b, sizeof(b), "%s/tiny-llama-256/ref/gguf/tiny-llama-256-Q4_0.gguf", lm_models());
    snprintf(c, sizeof(c), "%s/tiny-llama-256/ref/gguf/tiny-llama-256-Q6_K.gguf", lm_models());
    int repo = mock_hf_repo(f->m, "lm-test/split", MOCK_PUBLIC);
    /* Two parts of one Q8_0 file in a folder, a Q6_K file, a projector and an imatrix. */
    mock_hf_add_path(f->m, repo, 0, "Q8_0/m-Q8_0-00002-of-00002.gguf", b, true, false);
    mock_hf_add_path(f->m, repo, 0, "Q8_0/m-Q8_0-00001-of-00002.gguf", a, true, false);
    mock_hf_add_path(f->m, repo, 0, "m-Q6_K.gguf", c, true, false);
    mock_hf_add_path(f->m, repo, 0, "mmproj-m-f16.gguf", c, true, false);
    mock_hf_add(f->m, repo, 0, "README.md", "# split\n", 8, false);
    pullfix_pull(&r, "hf.co/lm-test/split:q8_0", NULL);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    struct lm_err err;
    struct lm_model *m;
    struct lm_store *s = lm_store_open(f->home, &err);
    assert_int_equal(lm_model_get(s, "hf.co/lm-test/split:q8_0", &m, &err), 0);
    assert_int_equal(m->n_layers, 3);   /* part 1 first, then part 2, then README.md */
    assert_string_equal(m->layers[0].path, "Q8_0/m-Q8_0-00001-of-00002.gguf");
    assert_string_equal(m->layers[1].path, "Q8_0/m-Q8_0-00002-of-00002.gguf");
    assert_string_equal(m->layers[2].path, "README.md");
    lm_model_free(m);
    lm_store_close(s);
    /* No tag and no Q4_K_M: the fallback order (Q4_K_S Q5_K_M Q4_0 Q5_K_S Q6_K Q8_0 ...) picks
     * the Q6_K file over the Q8_0 parts. */
    pullfix_pull(&r, "hf.co/lm-test/split", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, ": 2 files,"));
    run_result_free(&r);
    /* A missing part is named. */
    mock_hf_remove(f->m, repo, 0, "Q8_0/m-Q8_0-00002-of-00002.gguf");
    pullfix_pull(&r, "hf.co/lm-test/split:Q8_0", NULL);
    assert_int_equal(r.status, 1);
    char want[512];
    snprintf(want, sizeof(want), "lm: hf.co/lm-test/split@%.12s: the split GGUF 'm-Q8_0' has 1 of "
             "its 2 parts in the repository\n", mock_hf_sha(f->m, repo, 0));
    assert_string_equal(r.err, want);
    run_result_free(&r);
}

static void test_tag_errors(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    char want[1024];
    int repo = pullfix_repo(f, "lm-test/g", "stories260K/ref/gguf", MOCK_PUBLIC);
    const char *sha = mock_hf_sha(f->m, repo, 0);
    pullfix_pull(&r, "hf.co/lm-test/g:IQ2_XXS", NULL);
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "lm: hf.co/lm-test/g@%.12s: no GGUF file matches the tag "
             "'IQ2_XXS'; there are: ", sha);
    assert_true(strncmp(r.err, want, strlen(want)) == 0);
    run_result_free(&r);
    /* "f16" ends six stems: F16 and the five *-ffn_down_f16 files */
    pullfix_pull(&r, "hf.co/lm-test/g:f16", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "the tag 'f16' matches 6 GGUF files: "));
    assert_non_null(strstr(r.err, "; name one with :FILE.gguf\n"));
    run_result_free(&r);
    assert_int_equal(pullfix_blobs(f), 0);
}

static void test_include_exclude(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    int repo = pullfix_repo(f, "lm-test/stories260K", "stories260K", MOCK_PUBLIC);
    mock_hf_add(f->m, repo, 0, "pytorch_model.bin", "pickle", 6, true);
    mock_hf_add(f->m, repo, 0, "onnx/model.json", "{}", 2, false);
    static const char *const files[] = { "config.json", "model.safetensors", "tokenizer.model" };
    pullfix_pull(&r, "hf.co/lm-test/stories260K", "--exclude", "*.md", "--exclude", "LICENSE",
                 "--exclude", "*_config.json", "--exclude", "special*", NULL);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    pullfix_check_model(f, "hf.co/lm-test/stories260K", "stories260K", files, 3,
                        mock_hf_sha(f->m, repo, 0));
    /* --include replaces the choice, and a pickle is refused by name */
    pullfix_pull(&r, "hf.co/lm-test/stories260K", "--include", "*.bin", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "lm: hf.co/lm-test/stories260K/pytorch_model.bin: refused: a pickle "
                               "checkpoint can run code when it is loaded; convert it to "
                               "safetensors\n");
    run_result_free(&r);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", "--include", "onnx/", "--include",
                 "model.safetensors", "--connections", "1", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, ": 2 files,"));
    run_result_free(&r);
}

/* ---- reuse: the store, the Hugging Face cache, offline -------------------------------------- */

static void test_reuse(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    struct mock_stats st;
    pullfix_repo(f, "lm-test/stories260K", "stories260K", MOCK_PUBLIC);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    size_t blobs = pullfix_blobs(f);
    /* Everything present: the listing, and not a byte of file data. */
    mock_hf_reset_stats(f->m);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "(0 downloaded, 8 already in the store, 0 from the Hugging Face "
                                  "cache)"));
    run_result_free(&r);
    mock_hf_stats(f->m, &st);
    assert_int_equal(st.file_bytes, 0);
    assert_int_equal(st.file_requests, 0);
    assert_int_equal(st.api_requests, 2);     /* revision -> commit, the tree */
    /* Another repo with the same files: LFS by sha256, the rest by the git blob ids the first
     * model's provenance recorded. */
    pullfix_repo(f, "other/copy", "stories260K", MOCK_PUBLIC);
    mock_hf_reset_stats(f->m);
    pullfix_pull(&r, "hf.co/other/copy", NULL);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    mock_hf_stats(f->m, &st);
    assert_int_equal(st.file_bytes, 0);
    assert_int_equal(pullfix_blobs(f), blobs);
    /* Offline: the store knows the commit of main and the files. */
    setenv("HF_HUB_OFFLINE", "1", 1);
    mock_hf_reset_stats(f->m);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    mock_hf_stats(f->m, &st);
    assert_int_equal(st.api_requests + st.file_requests + st.cdn_requests, 0);
    pullfix_pull(&r, "hf.co/lm-test/unknown", NULL);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.err, "lm: hf.co/lm-test/unknown: offline (HF_HUB_OFFLINE is set) and "
                               "revision 'main' is neither in the store nor in the Hugging Face "
                               "cache\n");
    run_result_free(&r);
}

/* Lay the fixture out as huggingface_hub does (blobs by etag, snapshot links, refs, trees). */
static void make_hf_cache(struct pullfix *f, const char *sub, const char *repo_dir,
                          const char *commit, const char *const *files, size_t n, bool tree)
{
    char dir[1400], p[1600], q[1600];
    json_t *tj = json_object();
    struct lm_err err;
    snprintf(dir, sizeof(dir), "%s/hub/%s", f->hf, repo_dir);
    static const char *const subs[] = { "blobs", "refs", "trees", "snapshots" };
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, subs[i]);
        assert_int_equal(lm_mkdirs(p, &err), 0);
    }
    snprintf(p, sizeof(p), "%s/snapshots/%s", dir, commit);
    assert_int_equal(lm_mkdirs(p, &err), 0);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char etag[65], git[41];
        snprintf(p, sizeof(p), "%s/%s/%s", lm_models(), sub, files[i]);
        uint8_t *d = pullfix_slurp(p, &len);
        bool lfs = strstr(files[i], ".safetensors") || strstr(files[i], ".model");
        mock_hf_git_blob_id(d, len, git);
        pullfix_sha256(d, len, etag);
        if (!lfs)
            snprintf(etag, sizeof(etag), "%s", git);
        snprintf(q, sizeof(q), "%s/blobs/%s", dir, etag);
        FILE *fp = fopen(q, "wb");
        fwrite(d, 1, len, fp);
        fclose(fp);
        snprintf(p, sizeof(p), "%s/snapshots/%s/%s", dir, commit, files[i]);
        snprintf(q, sizeof(q), "../../blobs/%s", etag);
        assert_int_equal(symlink(q, p), 0);
        json_t *e = json_pack("{s:I,s:s}", "size", (json_int_t)len, "blob_id", git);
        if (lfs) {
            pullfix_sha256(d, len, etag);
            json_object_set_new(e, "lfs_sha256", json_string(etag));
            json_object_set_new(e, "lfs_size", json_integer((json_int_t)len));
        }
        json_object_set_new(tj, files[i], e);
        free(d);
    }
    snprintf(p, sizeof(p), "%s/refs/main", dir);
    FILE *fp = fopen(p, "w");
    fputs(commit, fp);
    fclose(fp);
    if (tree) {
        json_t *doc = json_pack("{s:i,s:o}", "format_version", 1, "files", tj);
        snprintf(p, sizeof(p), "%s/trees/%s.json", dir, commit);
        assert_int_equal(json_dump_file(doc, p, JSON_COMPACT), 0);
        json_decref(doc);
    } else {
        json_decref(tj);
    }
}

static void test_hf_cache(void **state)
{
    struct pullfix *f = pullfix_need(state);
    static const char *const files[] = {
        "LICENSE", "README.md", "config.json", "generation_config.json", "model.safetensors",
        "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json",
    };
    struct run_result r;
    struct mock_stats st;
    int repo = pullfix_repo(f, "lm-test/stories260K", "stories260K", MOCK_PUBLIC);
    const char *sha = mock_hf_sha(f->m, repo, 0);
    make_hf_cache(f, "stories260K", "models--lm-test--stories260K", sha, files, 8, true);
    /* One cache file was tampered with: that one is downloaded, the rest are taken. */
    char p[1400];
    snprintf(p, sizeof(p), "%s/hub/models--lm-test--stories260K/snapshots/%s/config.json", f->hf,
             sha);
    FILE *fp = fopen(p, "r+");
    fputc('[', fp);
    fclose(fp);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "(1 downloaded, 0 already in the store, 7 from the Hugging Face "
                                  "cache)"));
    run_result_free(&r);
    mock_hf_stats(f->m, &st);
    assert_int_equal(st.file_requests, 1);
    pullfix_check_model(f, "hf.co/lm-test/stories260K", "stories260K", files, 8, sha);
    /* Offline, into a new store: refs/main and trees/COMMIT.json say everything; no request. */
    char home2[sizeof(f->home)];
    snprintf(home2, sizeof(home2), "%.500s/home2", f->dir);
    setenv("LM_HOME", home2, 1);
    setenv("HF_HUB_OFFLINE", "1", 1);
    snprintf(p, sizeof(p), "%s/hub/models--lm-test--stories260K/snapshots/%s/config.json", f->hf,
             sha);
    fp = fopen(p, "r+");
    fputc('{', fp);   /* repaired */
    fclose(fp);
    mock_hf_reset_stats(f->m);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "(0 downloaded, 0 already in the store, 8 from the Hugging Face "
                                  "cache)"));
    run_result_free(&r);
    mock_hf_stats(f->m, &st);
    assert_int_equal(st.api_requests + st.file_requests + st.cdn_requests, 0);
    snprintf(f->home, sizeof(f->home), "%s", home2);
    pullfix_check_model(f, "hf.co/lm-test/stories260K", "stories260K", files, 8, sha);
}

/* ---- output, rate, space ------------------------------------------------------------------- */

static void test_json_events(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    int repo = pullfix_repo(f, "lm-test/stories260K", "stories260K", MOCK_PUBLIC);
    pullfix_pull(&r, "--json", "hf.co/lm-test/stories260K", NULL);
    assert_int_equal(r.status, 0);
    char *line = r.out, *next;
    size_t n = 0;
    json_t *last = NULL;
    for (; *line; line = next + 1, n++) {
        next = strchr(line, '\n');
        assert_non_null(next);
        json_error_t je;
        json_t *j = json_loadb(line, (size_t)(next - line), 0, &je);
        if (!j)
            fail_msg("line %zu is not JSON: %.*s", n, (int)(next - line), line);
        if (n == 0)
            assert_string_equal(json_string_value(json_object_get(j, "status")),
                                "pulling manifest");
        json_decref(last);
        last = j;
    }
    assert_true(n >= 8 + 4);   /* every file at least once, and the phases */
    assert_string_equal(json_string_value(json_object_get(last, "status")), "success");
    assert_string_equal(json_string_value(json_object_get(last, "commit")),
                        mock_hf_sha(f->m, repo, 0));
    assert_int_equal(json_integer_value(json_object_get(last, "bytes")), 1044992 + 628 + 75 + 414 +
                     8015 + 866 + 4184 + 1063);
    json_decref(last);
    run_result_free(&r);
}

static void test_limit_rate(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    pullfix_repo(f, "lm-test/stories260K", "stories260K", MOCK_PUBLIC);
    double t0 = lm_now();
    pullfix_pull(&r, "hf.co/lm-test/stories260K", "--limit-rate", "2M", NULL);
    double dt = lm_now() - t0;
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    /* 1.06 MB at 2 MiB/s, with a 0.2 MB burst: at least 0.35 s */
    if (dt < 0.35)
        fail_msg("the rate cap let 1 MB through in %.2f s", dt);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", "--limit-rate", "2Q", NULL);
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err, "lm: --limit-rate wants bytes per second, like 500K or 20M\n");
    run_result_free(&r);
}

static void test_free_space(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    char want[1024];
    pullfix_repo(f, "lm-test/stories260K", "stories260K", MOCK_PUBLIC);
    setenv("LM_TEST_FREE_BYTES", "1000", 1);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
    unsetenv("LM_TEST_FREE_BYTES");
    assert_int_equal(r.status, 1);
    snprintf(want, sizeof(want), "lm: %s: not enough free space: the pull needs 1.0 MiB more, "
             "1000 B are free\n", f->home);
    assert_string_equal(r.err, want);
    run_result_free(&r);
    assert_int_equal(pullfix_blobs(f), 0);
    assert_int_equal(pullfix_temps(f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fixtures, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_split_gguf, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_tag_errors, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_include_exclude, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_reuse, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_hf_cache, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_json_events, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_limit_rate, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_free_space, pullfix_setup, pullfix_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
