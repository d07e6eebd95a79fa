/* test_pull_units.c: the pieces of lm pull that need no server: references, listings from hostile
 * JSON (one mutation each, with its line), the file choice, HTTP header parsing, URL escaping,
 * and the store's resumable partial files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../registry/internal.h"
#include "support/testutil.h"
#include "../common/banned.h"

/* ---- references ---------------------------------------------------------------------------- */

static const struct {
    const char *in, *repo, *quant, *rev, *err;
} refs[] = {
    { "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "bartowski/Llama-3.2-1B-Instruct-GGUF",
      "Q4_K_M", "", NULL },
    { "hf.co/org/repo:iq3_m@v1.0", "org/repo", "iq3_m", "v1.0", NULL },
    { "hf.co/org/repo@refs/pr/1", "org/repo", "", "refs/pr/1", NULL },
    { "huggingface.co/org/repo", "org/repo", "", "", NULL },
    { "hf:Org.Name/re_po-1", "Org.Name/re_po-1", "", "", NULL },
    { "https://huggingface.co/org/repo", "org/repo", "", "", NULL },
    { "https://huggingface.co/org/repo/tree/refs%2Fpr%2F3", "org/repo", "", "refs/pr/3", NULL },
    { "https://hf.co/org/repo/tree/main/", "org/repo", "", "main", NULL },
    { "hf.co/org/repo:m.Q4_K_M.gguf", "org/repo", "m.Q4_K_M.gguf", "", NULL },
    { "ollama/llama3", NULL, NULL, NULL,
      "invalid Hugging Face reference 'ollama/llama3': it must start with hf.co/, hf: or "
      "https://huggingface.co/" },
    { "hf.co/org", NULL, NULL, NULL,
      "invalid Hugging Face reference 'hf.co/org': it must name ORG/REPO" },
    { "hf.co/org/re--po", NULL, NULL, NULL,
      "invalid Hugging Face reference 'hf.co/org/re--po': 'org/re--po' is not a valid ORG/REPO" },
    { "hf.co/-org/repo", NULL, NULL, NULL,
      "invalid Hugging Face reference 'hf.co/-org/repo': '-org/repo' is not a valid ORG/REPO" },
    { "hf.co/org/repo/tree/main", NULL, NULL, NULL,
      "invalid Hugging Face reference 'hf.co/org/repo/tree/main': only ORG/REPO or "
      "ORG/REPO/tree/REV can follow the host" },
    { "https://huggingface.co/org/repo/blob/main/x.json", NULL, NULL, NULL,
      "invalid Hugging Face reference 'https://huggingface.co/org/repo/blob/main/x.json': only "
      "ORG/REPO or ORG/REPO/tree/REV can follow the host" },
    { "https://huggingface.co/org/repo/tree/main/x.json", NULL, NULL, NULL,
      "invalid Hugging Face reference 'https://huggingface.co/org/repo/tree/main/x.json': a web "
      "URL may name a revision, not a file" },
    { "hf.co/org/repo:", NULL, NULL, NULL,
      "invalid Hugging Face reference 'hf.co/org/repo:': the quantization tag after ':' must "
      "have 1 to 80 characters" },
    { "hf.co/org/repo:Q4/x", NULL, NULL, NULL,
      "invalid Hugging Face reference 'hf.co/org/repo:Q4/x': the tag 'Q4/x' may hold only "
      "letters, digits, '_', '-' and '.'" },
    { "hf.co/org/repo@a b", NULL, NULL, NULL,
      "invalid Hugging Face reference 'hf.co/org/repo@a b': the revision after '@' is not valid" },
    { "hf.co/org/repo@../x", NULL, NULL, NULL,
      "invalid Hugging Face reference 'hf.co/org/repo@../x': the revision after '@' is not valid" },
    { "https://huggingface.co/org/repo/tree/%zz", NULL, NULL, NULL,
      "invalid Hugging Face reference 'https://huggingface.co/org/repo/tree/%zz': the revision "
      "after /tree/ is not valid" },
    { "hf.co/org/repo\x01", NULL, NULL, NULL,
      "invalid Hugging Face reference 'hf.co/org/repo\\x01': 'org/repo\\x01' is not a valid "
      "ORG/REPO" },
};

static void test_refs(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
        struct lm_hf_ref r;
        struct lm_err err;
        lm_err_clear(&err);
        int rc = lm_hf_ref_parse(refs[i].in, &r, &err);
        if (refs[i].err) {
            if (rc != -1 || strcmp(err.msg, refs[i].err) != 0)
                fail_msg("%s: rc %d, '%s'", refs[i].in, rc, err.msg);
            assert_int_equal(err.code, LM_EUSAGE);
            continue;
        }
        if (rc != 0)
            fail_msg("%s: %s", refs[i].in, err.msg);
        assert_string_equal(r.repo, refs[i].repo);
        assert_string_equal(r.quant, refs[i].quant);
        assert_string_equal(r.revision, refs[i].rev);
    }
    assert_true(lm_hf_ref_like("hf.co/a/b"));
    assert_true(lm_hf_ref_like("HF:a/b"));
    assert_false(lm_hf_ref_like("llama3:8b"));
}

/* ---- listings from hostile JSON ------------------------------------------------------------- */

#define OID "0123456789abcdef0123456789abcdef01234567"
#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define GOOD "{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":10,\"path\":\"a.json\"}"

static const struct {
    const char *what, *json, *msg;
} trees[] = {
    { "not JSON", "[{", "the listing is not JSON: string or '}' expected near end of file" },
    { "an object", "{}", "the listing is not an array" },
    { "entry not an object", "[1]", "entry 0 is not an object" },
    { "no path", "[{\"type\":\"file\"}]", "entry 0 lacks a \"type\" or \"path\" string" },
    { "negative size", "[{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":-1,\"path\":\"a\"}]",
      "entry 0 'a': \"size\" is not a byte count" },
    { "size past 2^53", "[{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":9007199254740993,"
      "\"path\":\"a\"}]", "entry 0 'a': \"size\" is not a byte count" },
    { "short oid", "[{\"type\":\"file\",\"oid\":\"0123\",\"size\":1,\"path\":\"a\"}]",
      "entry 0 'a': \"oid\" is not 40 hex digits" },
    { "upper-case oid", "[{\"type\":\"file\",\"oid\":\"0123456789ABCDEF0123456789abcdef01234567\","
      "\"size\":1,\"path\":\"a\"}]", "entry 0 'a': \"oid\" is not 40 hex digits" },
    { "bad lfs oid", "[" GOOD ",{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":1,\"path\":\"b\","
      "\"lfs\":{\"oid\":\"xyz\",\"size\":1}}]", "entry 1 'b': \"lfs.oid\" is not 64 hex digits" },
    { "lfs size differs", "[{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":1,\"path\":\"b\","
      "\"lfs\":{\"oid\":\"" SHA "\",\"size\":2}}]", "entry 0 'b': \"lfs.size\" differs from \"size\"" },
    { "absolute path", "[{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":1,\"path\":\"/etc/x\"}]",
      "entry 0 '/etc/x': a path may not have empty, '.' or '..' parts" },
    { "dot-dot", "[{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":1,\"path\":\"a/../../x\"}]",
      "entry 0 'a/../../x': a path may not have empty, '.' or '..' parts" },
    { "trailing slash", "[{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":1,\"path\":\"a/\"}]",
      "entry 0 'a/': a path may not have empty, '.' or '..' parts" },
    { "control byte", "[{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":1,\"path\":\"a\\nb\"}]",
      "entry 0 'a\\x0ab': a path may not hold control bytes or '\\'" },
    { "backslash", "[{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":1,\"path\":\"a\\\\b\"}]",
      "entry 0 'a\\\\b': a path may not hold control bytes or '\\'" },
    { "duplicate key", "[{\"type\":\"file\",\"type\":\"file\"}]",
      "the listing is not JSON: duplicate object key near '\"type\"'" },
};

static void test_tree_json(void **state)
{
    (void)state;
    struct lm_hf_listing l = { 0 };
    struct lm_err err;
    const char *ok = "[{\"type\":\"directory\",\"oid\":\"" OID "\",\"size\":0,\"path\":\"d\"}," GOOD
                     ",{\"type\":\"file\",\"oid\":\"" OID "\",\"size\":4920734016,\"path\":\"d/m.gguf\","
                     "\"lfs\":{\"oid\":\"" SHA "\",\"size\":4920734016,\"pointerSize\":135},"
                     "\"xetHash\":\"" SHA "\"}]";
    assert_int_equal(lm_hf_parse_tree(ok, strlen(ok), "t", &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.files[0].path, "a.json");
    assert_string_equal(l.files[0].sha256, "");
    assert_string_equal(l.files[1].sha256, SHA);
    assert_int_equal(l.files[1].size, 4920734016ull);
    lm_hf_listing_release(&l);
    for (size_t i = 0; i < sizeof(trees) / sizeof(trees[0]); i++) {
        lm_err_clear(&err);
        int rc = lm_hf_parse_tree(trees[i].json, strlen(trees[i].json), "t", &l, &err);
        lm_hf_listing_release(&l);
        if (rc != -1 || strcmp(err.msg, trees[i].msg) != 0)
            fail_msg("%s: rc %d, '%s'", trees[i].what, rc, err.msg);
        assert_int_equal(err.code, LM_ECORRUPT);
        assert_string_equal(err.path, "t");
    }
    /* the cache's trees/COMMIT.json */
    const char *c = "{\"format_version\":1,\"files\":{\"config.json\":{\"size\":5,\"blob_id\":\""
                    OID "\"},\"m.safetensors\":{\"size\":9,\"blob_id\":\"" OID "\",\"lfs_sha256\":\""
                    SHA "\",\"lfs_size\":9}}}";
    assert_int_equal(lm_hf_parse_cached_tree(c, strlen(c), "c", &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.files[1].sha256, SHA);
    lm_hf_listing_release(&l);
    const char *v2 = "{\"format_version\":2,\"files\":{}}";
    assert_int_equal(lm_hf_parse_cached_tree(v2, strlen(v2), "c", &l, &err), -1);
    assert_string_equal(err.msg, "not a format_version 1 listing with a \"files\" object");
}

/* ---- the file choice ------------------------------------------------------------------------- */

static void listing(struct lm_hf_listing *l, const char *const *paths)
{
    struct lm_err err;
    memset(l, 0, sizeof(*l));
    for (size_t i = 0; paths[i]; i++) {
        bool lfs = strstr(paths[i], ".gguf") || strstr(paths[i], ".safetensors");
        assert_int_equal(hf_listing_add(l, paths[i], 100 + i, OID, lfs ? SHA : "", "t", &err), 0);
    }
}

static const char *const gguf_repo[] = {
    "README.md", "LICENSE", "template", "m-Q8_0.gguf", "m-Q4_K_S.gguf", "m-IQ3_S-imat.gguf",
    "mmproj-m-f16.gguf", "m.imatrix.gguf", "mtp-m-Q4_K_M.gguf", "Q4_K_M/m-Q4_K_M-00001-of-00002.gguf",
    "Q4_K_M/m-Q4_K_M-00002-of-00002.gguf", "big/m-F16-00001-of-00003.gguf", "m-BF16.gguf", NULL,
};
static const char *const st_repo[] = {
    ".gitattributes", "README.md", "LICENSE.txt", "config.json", "generation_config.json",
    "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
    "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json", "tokenizer.model",
    "vocab.json", "merges.txt", "pytorch_model.bin", "onnx/model.onnx", "original/params.json",
    "model.sig", "m-Q4_K_M.gguf", NULL,
};

static const char *const st_only[] = { "config.json", "model.safetensors", NULL };
static const char *const nothing[] = { "README.md", "model.onnx", NULL };

static const struct {
    const char *const *repo;
    const char *quant, *include, *exclude;
    const char *want;              /* chosen paths, space-separated, or the error */
    bool gguf;
} choices[] = {
    /* the Q4_K_M parts in order, then the top-level metadata */
    { gguf_repo, "", NULL, NULL, "Q4_K_M/m-Q4_K_M-00001-of-00002.gguf "
      "Q4_K_M/m-Q4_K_M-00002-of-00002.gguf README.md LICENSE", true },
    { gguf_repo, "latest", NULL, NULL, "Q4_K_M/m-Q4_K_M-00001-of-00002.gguf "
      "Q4_K_M/m-Q4_K_M-00002-of-00002.gguf README.md LICENSE", true },
    { gguf_repo, "q8_0", NULL, NULL, "m-Q8_0.gguf README.md LICENSE", true },
    { gguf_repo, "IQ3_S-imat", NULL, NULL, "m-IQ3_S-imat.gguf README.md LICENSE", true },
    { gguf_repo, "m-bf16.GGUF", NULL, NULL, "m-BF16.gguf README.md LICENSE", true },
    { gguf_repo, "Q8_0", NULL, "LICENSE", "m-Q8_0.gguf README.md", true },
    { gguf_repo, "F16", NULL, NULL, "the split GGUF 'm-F16' has 1 of its 3 parts in the "
      "repository", true },
    { gguf_repo, "Q2_K", NULL, NULL, "no GGUF file matches the tag 'Q2_K'; there are: "
      "m-Q8_0.gguf, m-Q4_K_S.gguf, m-IQ3_S-imat.gguf, m-Q4_K_M-00001-of-00002.gguf, "
      "m-F16-00001-of-00003.gguf, m-BF16.gguf", true },
    /* a tag matches the end of a stem after "-", "." or "_" */
    { gguf_repo, "K_S", NULL, NULL, "m-Q4_K_S.gguf README.md LICENSE", true },
    { st_repo, "", NULL, NULL, "README.md LICENSE.txt config.json generation_config.json "
      "model-00001-of-00002.safetensors model-00002-of-00002.safetensors "
      "model.safetensors.index.json tokenizer.json tokenizer_config.json tokenizer.model "
      "vocab.json merges.txt model.sig", false },
    /* a tag asks for the GGUF even where safetensors are there */
    { st_repo, "Q4_K_M", NULL, NULL, "m-Q4_K_M.gguf README.md LICENSE.txt model.sig", true },
    { st_repo, "", "original/", NULL, "original/params.json", false },
    { st_repo, "", "*.json", "*token*", "config.json generation_config.json "
      "model.safetensors.index.json vocab.json original/params.json", false },
    { st_repo, "", NULL, "*", "no file of the repository is chosen by --include/--exclude", false },
    { st_only, "Q4_K_M", NULL, NULL, "the repository has no GGUF file for the tag 'Q4_K_M'; without "
      "a tag lm pulls its safetensors checkpoint", false },
    { st_only, "latest", NULL, NULL, "config.json model.safetensors", false },
    { nothing, "", NULL, NULL, "the repository has no safetensors or GGUF weights at its top "
      "level; choose files with --include", false },
};

static void test_choice(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(choices) / sizeof(choices[0]); i++) {
        struct lm_hf_listing l;
        struct lm_err err;
        size_t idx[64], n = 0;
        bool gguf = false;
        const char *inc[1] = { choices[i].include }, *exc[1] = { choices[i].exclude };
        struct lm_hf_select sel = { choices[i].quant, inc, choices[i].include != NULL, exc,
                                    choices[i].exclude != NULL };
        char got[1024] = "";
        listing(&l, choices[i].repo);
        lm_err_clear(&err);
        if (lm_hf_select_files(&l, &sel, idx, &n, &gguf, &err) == 0) {
            for (size_t k = 0; k < n; k++)
                snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? " " : "",
                         l.files[idx[k]].path);
            assert_true(gguf == choices[i].gguf);
        } else {
            snprintf(got, sizeof(got), "%s", err.msg);
        }
        if (strcmp(got, choices[i].want) != 0)
            fail_msg("row %zu (%s): got '%s'", i, choices[i].quant, got);
        lm_hf_listing_release(&l);
    }
    /* The same path twice is a broken listing. */
    static const char *const dup[] = { "a.safetensors", "b.json", "a.safetensors", NULL };
    struct lm_hf_listing l;
    struct lm_err err;
    size_t idx[4], n;
    struct lm_hf_select sel = { "", NULL, 0, NULL, 0 };
    listing(&l, dup);
    assert_int_equal(lm_hf_select_files(&l, &sel, idx, &n, NULL, &err), -1);
    assert_string_equal(err.msg, "the listing names 'a.safetensors' twice");
    lm_hf_listing_release(&l);
}

/* ---- HTTP pieces ----------------------------------------------------------------------------- */

static void test_http_parsing(void **state)
{
    (void)state;
    uint64_t a, b, t;
    char buf[256];
    assert_int_equal(http_parse_content_range("bytes 0-99/1000", &a, &b, &t), 0);
    assert_true(a == 0 && b == 99 && t == 1000);
    assert_int_equal(http_parse_content_range("bytes 5-4/10", &a, &b, &t), -1);
    assert_int_equal(http_parse_content_range("bytes 0-10/10", &a, &b, &t), -1);
    assert_int_equal(http_parse_content_range("bytes 0-9/*", &a, &b, &t), -1);
    assert_int_equal(http_parse_content_range("bytes 0-9/99999999999999999999", &a, &b, &t), -1);
    assert_int_equal(http_parse_content_range("items 0-9/10", &a, &b, &t), -1);
    assert_int_equal(http_parse_content_range("bytes 0-9/10x", &a, &b, &t), -1);
    assert_int_equal(http_link_next("<https://h/api?cursor=x>; rel=\"next\"", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "https://h/api?cursor=x");
    assert_int_equal(http_link_next("<https://h/p1>; rel=\"prev\", <https://h/p3>; rel=next",
                                    buf, sizeof(buf)), 0);
    assert_string_equal(buf, "https://h/p3");
    assert_int_equal(http_link_next("<https://h/p1>; rel=\"prev\"", buf, sizeof(buf)), -1);
    assert_int_equal(http_link_next("<https://h/p1; rel=\"next\"", buf, sizeof(buf)), -1);
    assert_int_equal(http_link_next("<https://h/a-long-url>; rel=next", buf, 8), -1);
    assert_int_equal(http_escape("refs/pr/1", false, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "refs%2Fpr%2F1");
    assert_int_equal(http_escape("dir/a b+c.json", true, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "dir/a%20b%2Bc.json");
    assert_int_equal(http_escape("abc", false, buf, 3), -1);
    assert_int_equal(http_origin("HTTPS://HF.co/x?y", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "https://hf.co:443");
    assert_int_equal(http_origin("http://127.0.0.1:8080/a", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "http://127.0.0.1:8080");
}

/* ---- partial files ------------------------------------------------------------------------- */

static void test_partial(void **state)
{
    (void)state;
    char *dir = make_tmpdir(), home[600], sha[65];
    struct lm_err err;
    uint8_t data[1000], d[32];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)('a' + i % 26);   /* text: admission refuses a NUL */
    lm_sha256_buf(data, sizeof(data), d);
    lm_hex(d, 32, sha);
    snprintf(home, sizeof(home), "%s/home", dir);
    struct lm_store *s = lm_store_open(home, &err);
    assert_non_null(s);
    /* 1000 bytes in chunks of 300: 300 300 300 100 */
    struct lm_partial *p = lm_partial_open(s, sha, LM_MT_TEXT, 1000, 300, 0, "x", &err);
    assert_non_null(p);
    assert_int_equal(lm_partial_chunks(p), 4);
    assert_int_equal(lm_partial_write(p, 1, data + 300, 120, &err), 0);
    assert_int_equal(lm_partial_write(p, 0, data, 50, &err), 0);
    assert_int_equal(lm_partial_write(p, 3, data + 900, 101, &err), -1);
    assert_string_equal(err.msg, "more bytes than the range asked for");
    assert_int_equal(err.off, 900);
    assert_int_equal(lm_partial_hash(p, 1 << 20, &err), 50);   /* only chunk 0's 50 are contiguous */
    assert_int_equal(lm_partial_hash(p, 1 << 20, &err), 0);
    /* A second writer of the same content waits for nobody: it is told. */
    assert_null(lm_partial_open(s, sha, LM_MT_TEXT, 1000, 300, 0, "x", &err));
    assert_int_equal(err.code, LM_EEXIST);
    lm_partial_close(p);
    assert_int_equal(lm_partial_peek(s, sha, 1000), 170);
    /* Resumed, even when asked for another chunk size: the kept layout wins. */
    p = lm_partial_open(s, sha, LM_MT_TEXT, 1000, 64, 0, "x", &err);
    assert_non_null(p);
    assert_int_equal(lm_partial_kept(p), 170);
    uint64_t st, end, done;
    lm_partial_chunk(p, 1, &st, &end, &done);
    assert_true(st == 300 && end == 600 && done == 120);
    for (size_t i = 0; i < 4; i++) {
        lm_partial_chunk(p, i, &st, &end, &done);
        assert_int_equal(lm_partial_write(p, i, data + st + done, (size_t)(end - st - done), &err), 0);
    }
    while (lm_partial_hash(p, 7, &err) > 0)
        ;
    assert_int_equal(lm_partial_hashed(p), 1000);
    assert_int_equal(lm_partial_verify(p, SHA, NULL, &err), -1);
    assert_int_equal(err.code, LM_EDIGEST);
    lm_partial_discard(p);
    assert_int_equal(lm_partial_peek(s, sha, 1000), 0);
    /* the whole way, with a git blob id */
    p = lm_partial_open(s, sha, LM_MT_TEXT, 1000, 1000, LM_PARTIAL_GIT_SHA1, "x", &err);
    assert_int_equal(lm_partial_write(p, 0, data, 1000, &err), 0);
    assert_int_equal(lm_partial_hash(p, 1 << 20, &err), 1000);
    assert_int_equal(lm_partial_verify(p, sha, OID, &err), -1);
    assert_true(strncmp(err.msg, "git blob id mismatch: expected " OID ", got ", 71) == 0);
    lm_partial_discard(p);
    p = lm_partial_open(s, sha, LM_MT_TEXT, 1000, 1000, 0, "x", &err);
    assert_int_equal(lm_partial_write(p, 0, data, 1000, &err), 0);
    assert_int_equal(lm_partial_hash(p, 1 << 20, &err), 1000);
    assert_int_equal(lm_partial_verify(p, sha, NULL, &err), 0);
    assert_string_equal(lm_partial_digest(p), sha);
    struct lm_blob b;
    assert_int_equal(lm_partial_commit(p, &b, &err), 0);
    assert_string_equal(b.digest, sha);
    char path[1024];
    assert_int_equal(lm_blob_path(s, sha, path, sizeof(path)), 0);
    size_t n = 0;
    FILE *fp = fopen(path, "rb");
    uint8_t back[1001];
    n = fread(back, 1, sizeof(back), fp);
    fclose(fp);
    assert_int_equal(n, 1000);
    assert_memory_equal(back, data, 1000);
    lm_store_close(s);
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refs),
        cmocka_unit_test(test_tree_json),
        cmocka_unit_test(test_choice),
        cmocka_unit_test(test_http_parsing),
        cmocka_unit_test(test_partial),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
