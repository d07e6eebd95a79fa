/* test_store.c: the store's API: names, file kinds, the blob writer and admission control,
 * adding and looking up models, provenance and derivations, the schema, gc. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../store/store.h"
#include "support/testutil.h"
#include "../common/banned.h"

/* sha256("hello\n") and sha256("{}\n") */
#define HELLO "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define EMPTY_OBJ "ca3d163bab055381827226140568f3bef7eaac187cebd76878e0b63e9e442356"

struct fx {
    char *dir;
    char home[512];
    struct lm_store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct lm_err err;
    f->dir = make_tmpdir();
    snprintf(f->home, sizeof(f->home), "%s/home", f->dir);
    f->s = lm_store_open(f->home, &err);
    if (!f->s)
        fprintf(stderr, "open: %s\n", err.msg);
    *state = f;
    return f->s ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lm_store_close(f->s);
    rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(p, 1, n, fp), n);
    fclose(fp);
}

/* ---- names ------------------------------------------------------------------------------- */

static void test_names(void **state)
{
    (void)state;
    static const struct { const char *in, *full, *display; } ok[] = {
        { "llama3.2", "registry.ollama.ai/library/llama3.2:latest", "llama3.2:latest" },
        { "me/m", "registry.ollama.ai/me/m:latest", "me/m:latest" },
        { "hf.co/u/r:Q4_K_M", "hf.co/u/r:Q4_K_M", "hf.co/u/r:Q4_K_M" },
        { "hf.co/Org.Name/Repo-1.5B", "hf.co/Org.Name/Repo-1.5B:latest",
          "hf.co/Org.Name/Repo-1.5B:latest" },
        { "localhost:5000/ns/m:v1", "localhost:5000/ns/m:v1", "localhost:5000/ns/m:v1" },
        { "https://example.com/a/b:c", "example.com/a/b:c", "example.com/a/b:c" },
        { "REGISTRY.OLLAMA.AI/Library/M", "REGISTRY.OLLAMA.AI/Library/M:latest", "M:latest" },
        { "_x/_y:_z", "registry.ollama.ai/_x/_y:_z", "_x/_y:_z" },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct lm_name n;
        struct lm_err err;
        char full[LM_NAME_MAX + 1], disp[LM_NAME_MAX + 1];
        assert_int_equal(lm_name_parse(ok[i].in, &n, &err), 0);
        lm_name_full(&n, full, sizeof(full));
        lm_name_display(&n, disp, sizeof(disp));
        assert_string_equal(full, ok[i].full);
        assert_string_equal(disp, ok[i].display);
    }
    static const struct { const char *in, *msg; } bad[] = {
        { "", "invalid model name '': it is empty" },
        { "a/:x", "invalid model name 'a/:x': the model is empty" },
        { "m:", "invalid model name 'm:': the tag is empty" },
        { "/m", "invalid model name '/m': the namespace is empty" },
        { "ns.x/m", "invalid model name 'ns.x/m': the namespace 'ns.x' may not hold '.'" },
        { ".m", "invalid model name '.m': the model '.m' may not start with '.'" },
        { "m:-t", "invalid model name 'm:-t': the tag '-t' may not start with '-'" },
        { "a b", "invalid model name 'a b': the model 'a b' may not hold ' '" },
        { "ftp://h/n/m", "invalid model name 'ftp://h/n/m': only http:// and https:// may come "
                         "before the host" },
        { "a/b/c/d", "invalid model name 'a/b/c/d': the host 'a/b' may not hold '/'" },
        { "m\n", "invalid model name 'm\\x0a': the model 'm\\x0a' may not hold '\\x0a'" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lm_name n;
        struct lm_err err;
        assert_int_equal(lm_name_parse(bad[i].in, &n, &err), -1);
        assert_int_equal(err.code, LM_EUSAGE);
        assert_string_equal(err.msg, bad[i].msg);
    }
    char longm[200];
    memset(longm, 'm', 81);
    longm[81] = 0;
    struct lm_name n;
    struct lm_err err;
    assert_int_equal(lm_name_parse(longm, &n, &err), -1);
    assert_non_null(strstr(err.msg, "the model is longer than 80 characters"));
}

/* ---- file kinds -------------------------------------------------------------------------- */

static void test_file_kinds(void **state)
{
    (void)state;
    static const struct { const char *path, *role, *mt; } ok[] = {
        { "model.safetensors", "weights", LM_MT_SAFETENSORS },
        { "d/model-00001-of-00002.safetensors", "weights", LM_MT_SAFETENSORS },
        { "model.safetensors.index.json", "weights", LM_MT_JSON },
        { "x-Q4_K_M.GGUF", "weights", LM_MT_GGUF },
        { "config.json", "config", LM_MT_JSON },
        { "tokenizer_config.json", "tokenizer", LM_MT_JSON },
        { "tokenizer.model", "tokenizer", LM_MT_SPM },
        { "merges.txt", "tokenizer", LM_MT_TEXT },
        { "chat_template.jinja", "template", LM_MT_TEXT },
        { "LICENSE", "license", LM_MT_TEXT },
        { "LICENSE-MIT.md", "license", LM_MT_MARKDOWN },
        { "README.md", "readme", LM_MT_MARKDOWN },
        { "model.sig", "signature", LM_MT_JSON },
        { "params.json", "params", LM_MT_JSON },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct lm_file_kind k;
        struct lm_err err;
        assert_int_equal(lm_file_kind(ok[i].path, &k, &err), 0);
        assert_string_equal(k.role, ok[i].role);
        assert_string_equal(k.media_type, ok[i].mt);
    }
    static const char *const pickles[] = {
        "pytorch_model.bin", "a/model.pt", "x.pth", "last.ckpt", "data.pkl", "arr.npz",
    };
    for (size_t i = 0; i < sizeof(pickles) / sizeof(pickles[0]); i++) {
        struct lm_file_kind k;
        struct lm_err err;
        assert_int_equal(lm_file_kind(pickles[i], &k, &err), -1);
        assert_int_equal(err.code, LM_EUNSUPPORTED);
        assert_string_equal(err.path, pickles[i]);
        assert_string_equal(err.msg, "refused: a pickle checkpoint can run code when it is "
                                     "loaded; convert it to safetensors");
    }
    struct lm_file_kind k;
    struct lm_err err;
    assert_int_equal(lm_file_kind("modeling_x.py", &k, &err), -1);
    assert_string_equal(err.msg, "refused: only safetensors, GGUF, JSON, tokenizer and text "
                                 "files are admitted");
    assert_int_equal(lm_file_kind("licenses.zip", &k, &err), -1);
}

/* ---- blobs ------------------------------------------------------------------------------- */

static void test_blob_writer(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    struct lm_blob b;
    char path[1024];
    struct lm_blob_writer *w = lm_blob_begin(f->s, LM_MT_TEXT, LM_SIZE_ANY, "hello.txt", &err);
    assert_non_null(w);
    assert_int_equal(count_entries(f->home, "tmp"), 1);
    assert_int_equal(lm_blob_write(w, "hel", 3, &err), 0);
    assert_int_equal(lm_blob_write(w, "lo\n", 3, &err), 0);
    assert_int_equal(lm_blob_commit(w, NULL, &b, &err), 0);
    assert_string_equal(b.digest, HELLO);
    assert_int_equal(b.size, 6);
    assert_false(b.existed);
    assert_int_equal(lm_blob_path(f->s, HELLO, path, sizeof(path)), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0444);
    assert_int_equal(count_entries(f->home, "tmp"), 0);

    /* the same bytes again: nothing is rewritten */
    ino_t ino = st.st_ino;
    w = lm_blob_begin(f->s, LM_MT_TEXT, 6, "again", &err);
    assert_int_equal(lm_blob_write(w, "hello\n", 6, &err), 0);
    assert_int_equal(lm_blob_commit(w, HELLO, &b, &err), 0);
    assert_true(b.existed);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_ino, ino);

    /* a wrong digest: refused, nothing stored, tmp/ empty */
    w = lm_blob_begin(f->s, LM_MT_TEXT, LM_SIZE_ANY, "wrong.txt", &err);
    assert_int_equal(lm_blob_write(w, "hellO\n", 6, &err), 0);
    assert_int_equal(lm_blob_commit(w, HELLO, &b, &err), -1);
    assert_int_equal(err.code, LM_EDIGEST);
    assert_string_equal(err.path, "wrong.txt");
    assert_non_null(strstr(err.msg, "sha256 mismatch: expected " HELLO ", got "));
    assert_int_equal(count_entries(f->home, "blobs/sha256"), 1);
    assert_int_equal(count_entries(f->home, "tmp"), 0);

    /* more bytes than announced fail at once; fewer at commit */
    w = lm_blob_begin(f->s, LM_MT_TEXT, 4, "long.txt", &err);
    assert_int_equal(lm_blob_write(w, "abc", 3, &err), 0);
    assert_int_equal(lm_blob_write(w, "de", 2, &err), -1);
    assert_int_equal(err.off, 3);
    assert_string_equal(err.msg, "more than the expected 4 bytes");
    lm_blob_abort(w);
    w = lm_blob_begin(f->s, LM_MT_TEXT, 4, "short.txt", &err);
    assert_int_equal(lm_blob_write(w, "abc", 3, &err), 0);
    assert_int_equal(lm_blob_commit(w, NULL, &b, &err), -1);
    assert_string_equal(err.msg, "got 3 bytes, expected 4");
    assert_int_equal(count_entries(f->home, "tmp"), 0);

    /* bytes written through the fd are hashed from disk */
    w = lm_blob_begin(f->s, LM_MT_JSON, LM_SIZE_ANY, "fd.json", &err);
    assert_int_equal(write(lm_blob_fd(w), "{}\n", 3), 3);
    assert_int_equal(lm_blob_commit(w, EMPTY_OBJ, &b, &err), 0);
    assert_int_equal(b.size, 3);
    assert_int_equal(count_entries(f->home, "blobs/sha256"), 2);
}

static void test_admission(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    struct lm_blob b;
    struct lm_blob_writer *w;
    static const struct { const char *mt, *bytes, *msg; uint64_t off; } bad[] = {
        { LM_MT_JSON, "{\"a\": ", "not valid JSON: ", 6 },
        { LM_MT_JSON, "{\"a\": 1, \"a\": 2}", "not valid JSON: duplicate object key", 12 },
        { LM_MT_TEXT, "MIT\0more", "a text file may not hold a NUL byte", 3 },
        { LM_MT_SPM, "\x80\x02pickle", "not a SentencePiece model: first byte 0x80, want 0x0a", 0 },
        { LM_MT_SAFETENSORS, "\xff\xff\xff\xff\xff\xff\xff\x7f", "header length", 0 },
        { LM_MT_GGUF, "GGUF\x01\0\0\0", "version", 4 },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t n = strlen(bad[i].bytes);
        if (strcmp(bad[i].mt, LM_MT_TEXT) == 0)
            n = 8;
        w = lm_blob_begin(f->s, bad[i].mt, LM_SIZE_ANY, "hostile", &err);
        assert_non_null(w);
        assert_int_equal(lm_blob_write(w, bad[i].bytes, n, &err), 0);
        assert_int_equal(lm_blob_commit(w, NULL, &b, &err), -1);
        assert_string_equal(err.path, "hostile");
        assert_non_null(strstr(err.msg, bad[i].msg));
        if (bad[i].off)
            assert_int_equal(err.off, bad[i].off);
    }
    assert_null(lm_blob_begin(f->s, "application/x-python", LM_SIZE_ANY, "x.py", &err));
    assert_string_equal(err.msg, "refused: media type 'application/x-python' is not one the "
                                 "store takes");
    assert_int_equal(count_entries(f->home, "blobs/sha256"), 0);
    assert_int_equal(count_entries(f->home, "tmp"), 0);
}

static void test_add_file(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    struct lm_blob b;
    char src[600];
    snprintf(src, sizeof(src), "%s/a.txt", f->dir);
    write_file(src, "hello\n", 6);
    assert_int_equal(lm_blob_add_file(f->s, src, LM_MT_TEXT, 0, NULL, &b, &err), 0);
    assert_string_equal(b.digest, HELLO);
    assert_false(b.linked);
    /* linking adopts the inode; the store already has it, so nothing new */
    assert_int_equal(lm_blob_add_file(f->s, src, LM_MT_TEXT, LM_BLOB_LINK, HELLO, &b, &err), 0);
    assert_true(b.existed);
    snprintf(src, sizeof(src), "%s/b.json", f->dir);
    write_file(src, "{}\n", 3);
    assert_int_equal(lm_blob_add_file(f->s, src, LM_MT_JSON, LM_BLOB_LINK, EMPTY_OBJ, &b, &err), 0);
    assert_true(b.linked);
    struct stat st;
    assert_int_equal(stat(src, &st), 0);
    assert_int_equal(st.st_nlink, 2);
    assert_int_equal(lm_blob_add_file(f->s, "/nonexistent/x.txt", LM_MT_TEXT, 0, NULL, &b, &err),
                     -1);
    assert_int_equal(err.code, LM_EIO);
    assert_int_equal(count_entries(f->home, "tmp"), 0);
}

/* ---- models ------------------------------------------------------------------------------ */

/* Store "hello\n" and "{}\n" and return layers naming them. */
static void two_blobs(struct fx *f, struct lm_layer l[2])
{
    struct lm_err err;
    struct lm_blob_writer *w = lm_blob_begin(f->s, LM_MT_TEXT, LM_SIZE_ANY, "t", &err);
    struct lm_blob b;
    lm_blob_write(w, "hello\n", 6, &err);
    assert_int_equal(lm_blob_commit(w, NULL, &b, &err), 0);
    w = lm_blob_begin(f->s, LM_MT_JSON, LM_SIZE_ANY, "j", &err);
    lm_blob_write(w, "{}\n", 3, &err);
    assert_int_equal(lm_blob_commit(w, NULL, &b, &err), 0);
    l[0] = (struct lm_layer){ "README.md", HELLO, 6, "readme", LM_MT_TEXT };
    l[1] = (struct lm_layer){ "sub/params.json", EMPTY_OBJ, 3, "params", LM_MT_JSON };
}

static void test_add_and_get(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    struct lm_layer l[2];
    char man[1][65];
    two_blobs(f, l);
    struct lm_prov_file pf[] = { { "README.md", "abc", "git-sha1" } };
    struct lm_provenance prov = { "hf", "https://huggingface.co/o/r", "main",
                                  "0123456789abcdef0123456789abcdef01234567",
                                  "{\"endpoint\":\"https://huggingface.co\"}", pf, 1 };
    struct lm_model_spec spec = { "o/r:v1", l, 2, &prov, NULL, 0 };
    assert_int_equal(lm_store_add_models(f->s, "pull", &spec, 1, man, &err), 0);
    /* the manifest is canonical JSON, its digest its sha256 */
    struct lm_model *m;
    assert_int_equal(lm_model_get(f->s, "O/R:V1", &m, &err), 0);
    assert_string_equal(m->name, "registry.ollama.ai/o/r:v1");
    assert_string_equal(m->display, "o/r:v1");
    assert_string_equal(m->manifest, man[0]);
    assert_string_equal(m->manifest_json,
        "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.lm.manifest.v1+json\",\"layers\":["
        "{\"path\":\"README.md\",\"digest\":\"sha256:" HELLO "\",\"size\":6,\"role\":\"readme\","
        "\"mediaType\":\"text/plain\"},{\"path\":\"sub/params.json\",\"digest\":\"sha256:"
        EMPTY_OBJ "\",\"size\":3,\"role\":\"params\",\"mediaType\":\"application/json\"}]}");
    uint8_t d[32];
    char hex[65];
    lm_sha256_buf(m->manifest_json, strlen(m->manifest_json), d);
    lm_hex(d, 32, hex);
    assert_string_equal(hex, m->manifest);
    assert_string_equal(m->format, "none");
    assert_int_equal(m->size, 9);
    assert_int_equal(m->n_layers, 2);
    assert_string_equal(m->layers[1].path, "sub/params.json");
    assert_non_null(strstr(m->layers[1].blob, "/blobs/sha256/" EMPTY_OBJ));
    assert_int_equal(m->n_prov, 1);
    assert_string_equal(m->prov[0].commit, "0123456789abcdef0123456789abcdef01234567");
    assert_string_equal(m->prov[0].files[0].algorithm, "git-sha1");
    lm_model_free(m);
    /* the same source again adds no second provenance record */
    assert_int_equal(lm_store_add_models(f->s, "pull", &spec, 1, NULL, &err), 0);
    assert_int_equal(lm_model_get(f->s, "o/r:v1", &m, &err), 0);
    assert_int_equal(m->n_prov, 1);
    lm_model_free(m);
    assert_int_equal(lm_model_get(f->s, "o/r:v2", &m, &err), -1);
    assert_int_equal(err.code, LM_ENOTFOUND);
    assert_string_equal(err.msg, "model 'o/r:v2' not found");
}

static void test_add_refusals(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    struct lm_layer l[2], bad[2];
    two_blobs(f, l);
    static const struct { const char *path, *digest; uint64_t size; const char *role, *msg; } c[] = {
        { "../x", HELLO, 6, "readme", "file '../x': a path in a model must be relative" },
        { "/etc/x", HELLO, 6, "readme", "file '/etc/x': a path in a model must be relative" },
        { "a//b", HELLO, 6, "readme", "file 'a//b': a path" },
        { "a/./b", HELLO, 6, "readme", "file 'a/./b': a path" },
        { "a\\b", HELLO, 6, "readme", "file 'a\\\\b': a path" },
        { "x", HELLO, 6, "weights!", "file 'x': unknown role or media type" },
        { "x", "ABC", 6, "readme", "file 'x': digest is not 64 lowercase hex digits" },
        { "x", HELLO, 7, "readme", "file 'x': blob has 6 bytes, the manifest says 7" },
        { "x", "1111111111111111111111111111111111111111111111111111111111111111", 6, "readme",
          "file 'x': its blob is not in the store" },
        { "README.md", HELLO, 6, "readme", "file 'README.md' appears twice" },
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        bad[0] = l[0];
        bad[1] = (struct lm_layer){ c[i].path, c[i].digest, c[i].size, c[i].role, LM_MT_TEXT };
        struct lm_model_spec spec = { "m", bad, 2, NULL, NULL, 0 };
        assert_int_equal(lm_store_add_models(f->s, "import", &spec, 1, NULL, &err), -1);
        assert_non_null(strstr(err.msg, c[i].msg));
    }
    struct lm_derivation dv = { "quantize", "[1]", HELLO };
    struct lm_model_spec spec = { "m", l, 2, NULL, &dv, 1 };
    assert_int_equal(lm_store_add_models(f->s, "quantize", &spec, 1, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "parameters as a JSON object"));
    struct lm_provenance p = { "hf", NULL, NULL, NULL, "not json", NULL, 0 };
    struct lm_model_spec spec2 = { "m", l, 2, &p, NULL, 0 };
    assert_int_equal(lm_store_add_models(f->s, "pull", &spec2, 1, NULL, &err), -1);
    struct lm_model **v;
    size_t n;
    assert_int_equal(lm_store_list(f->s, &v, &n, &err), 0);
    assert_int_equal(n, 0);
    lm_model_list_free(v, n);
}

static void test_derivations(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    struct lm_layer l[2];
    char a[1][65], b[1][65], c[1][65];
    two_blobs(f, l);
    struct lm_model_spec sa = { "src", l, 1, NULL, NULL, 0 };
    assert_int_equal(lm_store_add_models(f->s, "import", &sa, 1, a, &err), 0);
    struct lm_derivation da = { "convert", "{\"outtype\":\"f32\"}", a[0] };
    struct lm_model_spec sb = { "conv", l + 1, 1, NULL, &da, 1 };
    assert_int_equal(lm_store_add_models(f->s, "convert", &sb, 1, b, &err), 0);
    struct lm_derivation db = { "quantize", "{\"type\":\"Q8_0\"}", b[0] };
    struct lm_model_spec sc = { "quant", l, 2, NULL, &db, 1 };
    assert_int_equal(lm_store_add_models(f->s, "quantize", &sc, 1, c, &err), 0);
    struct lm_model *m;
    assert_int_equal(lm_model_get(f->s, "quant", &m, &err), 0);
    assert_int_equal(m->n_derivs, 2);
    assert_string_equal(m->derivs[0].operation, "quantize");
    assert_string_equal(m->derivs[0].output_manifest, c[0]);
    assert_string_equal(m->derivs[0].input_manifest, b[0]);
    assert_string_equal(m->derivs[1].operation, "convert");
    assert_string_equal(m->derivs[1].input_manifest, a[0]);
    assert_string_equal(m->derivs[1].params_json, "{\"outtype\":\"f32\"}");
    lm_model_free(m);
    /* the chain outlives its source's name */
    uint64_t freed;
    assert_int_equal(lm_store_remove(f->s, "src", &freed, &err), 0);
    assert_int_equal(freed, 0);   /* "quant" still uses both blobs */
    assert_int_equal(lm_model_get(f->s, "quant", &m, &err), 0);
    assert_int_equal(m->n_derivs, 2);
    lm_model_free(m);
    /* several models in one transaction: all or nothing */
    struct lm_model_spec two[2] = { { "x1", l, 1, NULL, NULL, 0 }, { "bad name", l, 1, NULL, NULL, 0 } };
    assert_int_equal(lm_store_add_models(f->s, "import", two, 2, NULL, &err), -1);
    assert_int_equal(lm_model_get(f->s, "x1", &m, &err), -1);
}

static void test_copy_remove_gc(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    struct lm_layer l[2];
    two_blobs(f, l);
    struct lm_model_spec s1 = { "one", l, 2, NULL, NULL, 0 }, s2 = { "two", l, 1, NULL, NULL, 0 };
    assert_int_equal(lm_store_add_models(f->s, "import", &s1, 1, NULL, &err), 0);
    assert_int_equal(lm_store_add_models(f->s, "import", &s2, 1, NULL, &err), 0);
    /* two now names one's manifest; its own old manifest is unnamed until gc */
    assert_int_equal(lm_store_copy(f->s, "one", "two", &err), 0);
    struct lm_gc_result r;
    assert_int_equal(lm_store_gc(f->s, false, &r, &err), 0);
    assert_int_equal(r.n_items, 0);   /* no files: both blobs are used */
    lm_gc_result_release(&r);
    uint64_t freed;
    assert_int_equal(lm_store_remove(f->s, "one", &freed, &err), 0);
    assert_int_equal(freed, 0);
    assert_int_equal(lm_store_remove(f->s, "two", &freed, &err), 0);
    assert_int_equal(freed, 9);
    assert_int_equal(count_entries(f->home, "blobs/sha256"), 0);
    assert_int_equal(lm_store_remove(f->s, "two", &freed, &err), -1);
    assert_int_equal(err.code, LM_ENOTFOUND);
    assert_int_equal(lm_store_copy(f->s, "two", "three", &err), -1);
    assert_int_equal(err.code, LM_ENOTFOUND);
}

/* ---- the index file ---------------------------------------------------------------------- */

static void test_schema(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    char db[600];
    sqlite3 *h;
    snprintf(db, sizeof(db), "%s/index.db", f->home);
    lm_store_close(f->s);
    f->s = NULL;
    assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(h);
    assert_null(lm_store_open(f->home, &err));
    assert_int_equal(err.code, LM_EUNSUPPORTED);
    assert_string_equal(err.path, db);
    assert_string_equal(err.msg, "schema version 99 is newer than this lm understands (1)");
    unlink(db);
    char wal[700];
    snprintf(wal, sizeof(wal), "%s-wal", db);
    unlink(wal);
    write_file(db, "this is not a database, not at all.....................................", 70);
    assert_null(lm_store_open(f->home, &err));
    assert_int_equal(err.code, LM_ECORRUPT);
    assert_non_null(strstr(err.msg, "file is not a database"));
    unlink(db);
    f->s = lm_store_open(f->home, &err);
    assert_non_null(f->s);
}

static void test_home(void **state)
{
    (void)state;
    char buf[512];
    struct lm_err err;
    char *old = getenv("LM_HOME") ? strdup(getenv("LM_HOME")) : NULL;
    setenv("LM_HOME", "/x/lm", 1);
    assert_int_equal(lm_store_home(buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/x/lm");
    unsetenv("LM_HOME");
    setenv("XDG_DATA_HOME", "/data", 1);
    assert_int_equal(lm_store_home(buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/data/lm");
    setenv("XDG_DATA_HOME", "relative", 1);   /* XDG: a relative path is ignored */
    setenv("HOME", "/home/u", 1);
    assert_int_equal(lm_store_home(buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/home/u/.local/share/lm");
    unsetenv("XDG_DATA_HOME");
    if (old)
        setenv("LM_HOME", old, 1);
    free(old);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_file_kinds),
        cmocka_unit_test(test_home),
        cmocka_unit_test_setup_teardown(test_blob_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admission, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_derivations, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_remove_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
