/* test_bundle.c: hostile bundles, each built here with libarchive from a valid export of the
 * demo model, are refused by `lm import` with one exact line, exit 1 and an unchanged store
 * (same index rows, no new files under blobs/ or tmp/); signatures; names that exist. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/common.h"
#include "support/testutil.h"
#include "../common/banned.h"

#define MAX_ENTRIES 16

struct ent {
    char name[128];
    int type;                      /* AE_IFREG, AE_IFLNK, AE_IFCHR, ... */
    const char *link;              /* symlink target */
    const char *hardlink;
    char *data;
    size_t len;
};

static struct {
    char *dir;
    char src[256], dst[256], path[300];
    struct ent e[MAX_ENTRIES];     /* the valid bundle's entries, in order */
    size_t n;
    bool ready;
} g;

static void set_home(const char *home)
{
    setenv("LM_HOME", home, 1);
}

static int lm_run(struct run_result *r, const char *a1, const char *a2, const char *a3,
                  const char *a4, const char *a5)
{
    char *argv[] = { (char *)lm_bin(), (char *)a1, (char *)a2, (char *)a3, (char *)a4,
                     (char *)a5, NULL };
    return run_capture(argv, r);
}

static void read_bundle(const char *path)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_filename(a, path, 65536), ARCHIVE_OK);
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        struct ent *x = &g.e[g.n++];
        snprintf(x->name, sizeof(x->name), "%s", archive_entry_pathname(e));
        x->type = AE_IFREG;
        x->len = (size_t)archive_entry_size(e);
        x->data = malloc(x->len + 1);
        assert_int_equal(archive_read_data(a, x->data, x->len), (la_ssize_t)x->len);
        x->data[x->len] = 0;
    }
    archive_read_free(a);
}

static int group_setup(void **state)
{
    (void)state;
    const char *src = getenv("LM_SRC");
    char demo[300], out[300];
    struct run_result r;
    if (!lm_bin() || !src)
        return 0;
    g.dir = make_tmpdir();
    snprintf(g.src, sizeof(g.src), "%s/src", g.dir);
    snprintf(g.dst, sizeof(g.dst), "%s/dst", g.dir);
    snprintf(g.path, sizeof(g.path), "%s/b.tar", g.dir);
    snprintf(demo, sizeof(demo), "%s/models/demo", src);
    snprintf(out, sizeof(out), "%s/valid.tar", g.dir);
    set_home(g.src);
    if (lm_run(&r, "import", demo, "--as", "demo", NULL) || r.status)
        return -1;
    run_result_free(&r);
    if (lm_run(&r, "export", "demo", "-o", out, NULL) || r.status)
        return -1;
    run_result_free(&r);
    read_bundle(out);
    set_home(g.dst);
    if (lm_run(&r, "list", NULL, NULL, NULL, NULL) || r.status)
        return -1;
    run_result_free(&r);
    g.ready = g.n >= 3;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < g.n; i++)
        free(g.e[i].data);
    if (g.dir)
        rm_rf(g.dir);
    free(g.dir);
    return 0;
}

/* ---- building archives ------------------------------------------------------------------- */

static void write_tar(const char *path, bool zstd, const struct ent *v, size_t n)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (zstd)
        archive_write_add_filter_zstd(a);
    archive_write_set_bytes_in_last_block(a, 1);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, v[i].name);
        archive_entry_set_filetype(e, (unsigned)v[i].type);
        archive_entry_set_perm(e, 0444);
        if (v[i].link)
            archive_entry_set_symlink(e, v[i].link);
        if (v[i].hardlink)
            archive_entry_set_hardlink(e, v[i].hardlink);
        if (v[i].type == AE_IFCHR)
            archive_entry_set_rdev(e, 0x0103);
        archive_entry_set_size(e, v[i].type == AE_IFREG && !v[i].hardlink ? (la_int64_t)v[i].len : 0);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (v[i].type == AE_IFREG && !v[i].hardlink && v[i].len)
            assert_int_equal(archive_write_data(a, v[i].data, v[i].len), (la_ssize_t)v[i].len);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

/* Where entry k's header starts in the tar stream (pax-restricted: ustar headers only). */
static uint64_t header_at(const struct ent *v, size_t k)
{
    uint64_t off = 0;
    for (size_t i = 0; i < k; i++)
        off += 512 + (v[i].type == AE_IFREG && !v[i].hardlink ? lm_pad(v[i].len, 512) : 0);
    return off;
}

static size_t copy_valid(struct ent *v)
{
    memcpy(v, g.e, g.n * sizeof(*v));
    return g.n;
}

static void set_manifest(struct ent *v, char *text)
{
    v[0].data = text;
    v[0].len = strlen(text);
}

/* ---- the store before and after ---------------------------------------------------------- */

static void dir_names(const char *sub, struct lm_buf *b)
{
    char p[800];
    snprintf(p, sizeof(p), "%s/%s", g.dst, sub);
    DIR *d = opendir(p);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            lm_buf_printf(b, "%s/%s\n", sub, e->d_name);
    if (d)
        closedir(d);
}

/* Every row of every table, and the names under blobs/ and tmp/. */
static char *snapshot(void)
{
    static const char *const tables[] = { "blobs", "manifests", "layers", "models", "provenance",
                                          "provenance_files", "derivations", "audit_log" };
    struct lm_buf b = LM_BUF_INIT(64u << 20);
    char p[800];
    sqlite3 *db;
    snprintf(p, sizeof(p), "%s/index.db", g.dst);
    assert_int_equal(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        char sql[128];
        sqlite3_stmt *st;
        snprintf(sql, sizeof(sql), "SELECT * FROM %s ORDER BY 1, 2", tables[t]);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const unsigned char *s = sqlite3_column_text(st, c);
                lm_buf_printf(&b, "%s|", s ? (const char *)s : "NULL");
            }
            lm_buf_add(&b, "\n", 1);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    dir_names("blobs/sha256", &b);
    dir_names("tmp", &b);
    lm_buf_add(&b, "", 1);
    return b.data;
}

/* lm import FILE [opt...] fails with exactly `want` on stderr, exit 1, and no change. */
static void refused(const char *want, const char *o1, const char *o2)
{
    struct run_result r;
    char *before = snapshot();
    set_home(g.dst);
    assert_int_equal(lm_run(&r, "import", g.path, o1, o2, NULL), 0);
    char *after = snapshot();
    if (strcmp(r.err, want) != 0)
        fprintf(stderr, "got:  %swant: %s", r.err, want);
    assert_string_equal(r.err, want);
    assert_int_equal(r.status, 1);
    assert_string_equal(after, before);
    run_result_free(&r);
    free(before);
    free(after);
}

static void refused_entry(const struct ent *v, size_t k, const char *what)
{
    char want[4096];
    snprintf(want, sizeof(want), "lm: %s: at byte %llu: entry '%s': %s\n", g.path,
             (unsigned long long)header_at(v, k), v[k].name, what);
    refused(want, NULL, NULL);
}

#define NEED_READY() do { if (!g.ready) skip(); } while (0)

/* ---- entries that are not plain files inside the bundle ---------------------------------- */

static void test_entry_kinds(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    static const struct {
        const char *name;
        int type;
        const char *link, *hardlink;
        const char *why;
    } cases[] = {
        { "/etc/cron.d/x", AE_IFREG, NULL, NULL, "refused: an absolute path" },
        { "blobs/../../x", AE_IFREG, NULL, NULL, "refused: a '..' path part" },
        { "..", AE_IFREG, NULL, NULL, "refused: a '..' path part" },
        { "blobs/sha256/l", AE_IFLNK, "/etc/passwd", NULL, "refused: a symbolic link" },
        { "blobs/sha256/h", AE_IFREG, NULL, "lm-bundle.json", "refused: a hard link" },
        { "blobs/sha256/d", AE_IFCHR, NULL, NULL, "refused: a device" },
        { "blobs/sha256/f", AE_IFIFO, NULL, NULL, "refused: not a regular file" },
        { "blobs/", AE_IFDIR, NULL, NULL, "refused: a directory" },
        { "notes.txt", AE_IFREG, NULL, NULL, "not listed in the bundle manifest" },
        { "blobs/sha256/0000000000000000000000000000000000000000000000000000000000000000",
          AE_IFREG, NULL, NULL, "not listed in the bundle manifest" },
        { "lm-bundle.json", AE_IFREG, NULL, NULL, "appears twice" },
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        /* The hostile entry goes right after the first blob. */
        struct ent w[MAX_ENTRIES];
        memcpy(w, v, 2 * sizeof(*w));
        struct ent *x = &w[2];
        memset(x, 0, sizeof(*x));
        snprintf(x->name, sizeof(x->name), "%s", cases[c].name);
        x->type = cases[c].type;
        x->link = cases[c].link;
        x->hardlink = cases[c].hardlink;
        x->data = (char *)"x";
        x->len = x->type == AE_IFREG ? 1 : 0;
        memcpy(&w[3], &v[2], (n - 2) * sizeof(*w));
        write_tar(g.path, false, w, n + 1);
        refused_entry(w, 2, cases[c].why);
    }
}

static void test_duplicate_blob(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    v[n] = v[1];
    write_tar(g.path, false, v, n + 1);
    refused_entry(v, n, "appears twice");
}

static void test_first_entry(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    write_tar(g.path, false, v + 1, n - 1);
    refused_entry(v + 1, 0, "a bundle starts with lm-bundle.json");
}

/* ---- sizes and digests that disagree with the manifest ----------------------------------- */

static void test_size_and_digest(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    char want[4096];
    /* one byte short */
    v[1].len--;
    write_tar(g.path, false, v, n);
    snprintf(want, sizeof(want), "%zu bytes, the bundle manifest says %zu", v[1].len,
             v[1].len + 1);
    refused_entry(v, 1, want);
    /* same size, one byte changed */
    n = copy_valid(v);
    char *bytes = malloc(v[1].len);
    memcpy(bytes, v[1].data, v[1].len);
    bytes[v[1].len / 2] ^= 1;
    v[1].data = bytes;
    uint8_t d[32];
    char hex[65];
    lm_sha256_buf(bytes, v[1].len, d);
    lm_hex(d, 32, hex);
    write_tar(g.path, true, v, n);
    snprintf(want, sizeof(want), "sha256 mismatch: the bytes hash to %s", hex);
    refused_entry(v, 1, want);
    free(bytes);
}

static void test_missing_blob(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    char want[4096];
    write_tar(g.path, true, v, n - 1);
    snprintf(want, sizeof(want), "lm: %s: blob %s (%zu bytes) is in the bundle manifest but not "
             "in the archive\n", g.path, v[n - 1].name + 13, v[n - 1].len);
    refused(want, NULL, NULL);
}

static void test_truncated(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    char want[4096];
    struct stat st;
    static const struct {
        bool zstd;
        int cut;                   /* 0: at half; else at this byte */
        const char *why;
    } cases[] = {
        { false, 0, "Truncated tar archive" },        /* inside the weights */
        { false, 700, "Truncated tar archive" },      /* inside the manifest */
        { true, 0, "Truncated zstd input" },
        { true, 100, "Truncated zstd input" },
        { false, -1, "Unrecognized archive format" }, /* not an archive at all */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        write_tar(g.path, cases[c].zstd, v, n);
        assert_int_equal(stat(g.path, &st), 0);
        if (cases[c].cut < 0) {
            FILE *f = fopen(g.path, "w");
            fputs("{\"not\": \"a tar\"}\n", f);
            fclose(f);
        } else {
            assert_int_equal(truncate(g.path, cases[c].cut ? cases[c].cut : st.st_size / 2), 0);
        }
        snprintf(want, sizeof(want), "lm: %s: the archive is damaged or cut short: %s\n", g.path,
                 cases[c].why);
        refused(want, NULL, NULL);
    }
}

/* ---- the manifest itself ----------------------------------------------------------------- */

/* The valid manifest with one change made by fn, re-serialised (and the model's manifest
 * digest recomputed when the body changed, so only the intended rule fires). */
static char *edit_manifest(void (*fn)(json_t *root, json_t *body))
{
    json_error_t je;
    json_t *root = json_loads(g.e[0].data, 0, &je);
    json_t *m = json_array_get(json_object_get(root, "models"), 0);
    json_t *body = json_loads(json_string_value(json_object_get(m, "manifest_json")), 0, &je);
    fn(root, body);
    char *b = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    uint8_t d[32];
    char hex[65];
    lm_sha256_buf(b, strlen(b), d);
    lm_hex(d, 32, hex);
    json_object_set_new(m, "manifest_json", json_string(b));
    json_object_set_new(m, "manifest", json_string(hex));
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    free(b);
    json_decref(body);
    json_decref(root);
    return text;
}

#define HUGE_SIZE ((json_int_t)1 << 60)

static void bomb(json_t *root, json_t *body)
{
    /* the weights blob (the biggest) declared as 2^60 bytes, in the blob list and the layer */
    json_t *blobs = json_object_get(root, "blobs"), *layers = json_object_get(body, "layers");
    for (size_t i = 0; i < json_array_size(blobs); i++) {
        json_t *b = json_array_get(blobs, i);
        if (json_integer_value(json_object_get(b, "size")) > 100000)
            json_object_set_new(b, "size", json_integer(HUGE_SIZE));
    }
    for (size_t i = 0; i < json_array_size(layers); i++) {
        json_t *l = json_array_get(layers, i);
        if (json_integer_value(json_object_get(l, "size")) > 100000)
            json_object_set_new(l, "size", json_integer(HUGE_SIZE));
    }
}

static void dangling_layer(json_t *root, json_t *body)
{
    (void)root;
    json_t *l = json_array_get(json_object_get(body, "layers"), 0);
    json_object_set_new(l, "digest", json_string("sha256:00000000000000000000000000000000000000"
                                                 "00000000000000000000000000"));
}

static void escape_path(json_t *root, json_t *body)
{
    (void)root;
    json_t *l = json_array_get(json_object_get(body, "layers"), 0);
    json_object_set_new(l, "path", json_string("../../etc/LICENSE"));
}

static void dup_path(json_t *root, json_t *body)
{
    (void)root;
    json_t *layers = json_object_get(body, "layers");
    json_object_set(json_array_get(layers, 1), "path",
                    json_object_get(json_array_get(layers, 0), "path"));
}

static void model_twice(json_t *root, json_t *body)
{
    (void)body;
    json_t *models = json_object_get(root, "models");
    json_t *again = json_deep_copy(json_array_get(models, 0));
    json_object_set_new(again, "name", json_string("demo"));
    json_array_append_new(models, again);
}

static void future_version(json_t *root, json_t *body)
{
    (void)body;
    json_object_set_new(root, "version", json_integer(2));
}

static void test_manifest_rules(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n;
    char want[4096];
    struct {
        void (*fn)(json_t *, json_t *);
        const char *msg;
    } cases[] = {
        { dangling_layer, "bundle manifest: model 'registry.ollama.ai/library/demo:latest': "
                          "file 'LICENSE' names a blob the bundle does not list" },
        { escape_path, "bundle manifest: model 'registry.ollama.ai/library/demo:latest': file "
                       "path '../../etc/LICENSE' is not relative or has a '.' or '..' part" },
        { future_version, "bundle format version 2 is not one this lm reads (1)" },
        { dup_path, "bundle manifest: model 'registry.ollama.ai/library/demo:latest': file "
                    "'LICENSE' is listed twice" },
        { model_twice, "bundle manifest: model 'demo' is listed twice" },
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        n = copy_valid(v);
        char *text = edit_manifest(cases[c].fn);
        set_manifest(v, text);
        write_tar(g.path, true, v, n);
        snprintf(want, sizeof(want), "lm: %s: %s\n", g.path, cases[c].msg);
        refused(want, NULL, NULL);
        free(text);
    }
    /* a manifest that is not JSON */
    n = copy_valid(v);
    set_manifest(v, (char *)"{\"format\": \"lm-bundle\", ");
    write_tar(g.path, false, v, n);
    snprintf(want, sizeof(want), "lm: %s: bundle manifest: not a JSON object (line 1: string or "
             "'}' expected near end of file)\n", g.path);
    refused(want, NULL, NULL);
    /* a manifest whose digest does not match its body */
    n = copy_valid(v);
    json_error_t je;
    json_t *root = json_loads(g.e[0].data, 0, &je);
    json_object_set_new(json_array_get(json_object_get(root, "models"), 0), "manifest",
                        json_string("1111111111111111111111111111111111111111111111111111111111111111"));
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    set_manifest(v, text);
    write_tar(g.path, false, v, n);
    snprintf(want, sizeof(want), "lm: %s: bundle manifest: model 'registry.ollama.ai/library/"
             "demo:latest': manifest_json does not hash to the manifest digest 1111111111111111"
             "111111111111111111111111111111111111111111111111\n", g.path);
    refused(want, NULL, NULL);
    free(text);
}

/* A zstd bomb: declared sizes are checked against free space before one byte is written. */
static void test_bomb(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    char want[4096];
    char *text = edit_manifest(bomb);
    set_manifest(v, text);
    write_tar(g.path, true, v, n);
    unsigned long long need = (unsigned long long)HUGE_SIZE;   /* and the small blobs */
    for (size_t i = 1; i < n; i++)
        need += v[i].len <= 100000 ? v[i].len : 0;
    snprintf(want, sizeof(want), "lm: %s: the bundle's new blobs need %llu bytes, more than "
             "%s/tmp has free\n", g.path, need, g.dst);
    refused(want, NULL, NULL);
    free(text);
}

#define ZEROS_SIZE (64u << 20)

static void zeros64(json_t *root, json_t *body)
{
    json_t *blobs = json_object_get(root, "blobs"), *layers = json_object_get(body, "layers");
    for (size_t i = 0; i < json_array_size(blobs); i++) {
        json_t *b = json_array_get(blobs, i);
        if (json_integer_value(json_object_get(b, "size")) > 100000)
            json_object_set_new(b, "size", json_integer(ZEROS_SIZE));
    }
    for (size_t i = 0; i < json_array_size(layers); i++) {
        json_t *l = json_array_get(layers, i);
        if (json_integer_value(json_object_get(l, "size")) > 100000)
            json_object_set_new(l, "size", json_integer(ZEROS_SIZE));
    }
}

/* A real zstd bomb: 64 MiB of zeros in a few KiB, under the size the manifest declares but not
 * its digest. Reading stops at the declared size, and nothing staged is left behind. */
static void test_bomb_streamed(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v), k = 0;
    char want[4096], hex[65];
    uint8_t d[32];
    char *text = edit_manifest(zeros64);
    char *zeros = calloc(1, ZEROS_SIZE);
    set_manifest(v, text);
    for (size_t i = 1; i < n; i++)
        if (v[i].len > 100000) {
            v[i].data = zeros;
            v[i].len = ZEROS_SIZE;
            k = i;
        }
    write_tar(g.path, true, v, n);
    struct stat st;
    assert_int_equal(stat(g.path, &st), 0);
    assert_true(st.st_size < (1 << 20));
    lm_sha256_buf(zeros, ZEROS_SIZE, d);
    lm_hex(d, 32, hex);
    snprintf(want, sizeof(want), "sha256 mismatch: the bytes hash to %s", hex);
    refused_entry(v, k, want);
    free(zeros);
    free(text);
}

static void test_oversized_manifest(void **state)
{
    (void)state;
    NEED_READY();
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    size_t big = (16u << 20) + 1;
    char *text = malloc(big + 1);
    memset(text, ' ', big);
    text[big] = 0;
    set_manifest(v, text);
    write_tar(g.path, true, v, n);
    char want[4096];
    snprintf(want, sizeof(want), "the bundle manifest is %zu bytes, over the limit of 16777216",
             big);
    refused_entry(v, 0, want);
    free(text);
}

/* ---- names, signatures, and a good import ------------------------------------------------ */

static void write_key(EVP_PKEY *k, const char *path, bool priv)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    if (priv)
        PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    else
        PEM_write_PUBKEY(f, k);
    fclose(f);
}

static void test_signatures(void **state)
{
    (void)state;
    NEED_READY();
    char key[300], pub[300], other[300], out[300], want[4096];
    struct run_result r;
    EVP_PKEY *k = EVP_EC_gen("P-256"), *k2 = EVP_EC_gen("P-384");
    snprintf(key, sizeof(key), "%s/key.pem", g.dir);
    snprintf(pub, sizeof(pub), "%s/pub.pem", g.dir);
    snprintf(other, sizeof(other), "%s/other.pem", g.dir);
    snprintf(out, sizeof(out), "%s/signed.tar.zst", g.dir);
    write_key(k, key, true);
    write_key(k, pub, false);
    write_key(k2, other, false);
    EVP_PKEY_free(k);
    EVP_PKEY_free(k2);
    /* unsigned bundle, signature required */
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    write_tar(g.path, true, v, n);
    snprintf(want, sizeof(want), "lm: %s: the bundle is not signed, and a signature is "
             "required\n", g.path);
    refused(want, "--require-signature", pub);
    /* signed with key, checked against another key */
    set_home(g.src);
    assert_int_equal(lm_run(&r, "export", "demo", "-o", out, "--signed-by"), 0);
    assert_int_equal(r.status, 2);   /* no key: usage */
    run_result_free(&r);
    char *argv[] = { (char *)lm_bin(), "export", "demo", "-o", out, "--signed-by", key, NULL };
    assert_int_equal(run_capture(argv, &r), 0);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    snprintf(g.path, sizeof(g.path), "%s", out);
    snprintf(want, sizeof(want), "lm: %s: the bundle manifest's signature does not verify with "
             "%s\n", out, other);
    refused(want, "--require-signature", other);
    /* the right key */
    set_home(g.dst);
    assert_int_equal(lm_run(&r, "import", out, "--require-signature", pub, NULL), 0);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "imported demo:latest\n"));
    assert_non_null(strstr(r.out, ", signed by key "));
    run_result_free(&r);
    /* P-384 signs with SHA-384 */
    EVP_PKEY *k3 = EVP_EC_gen("P-384");
    write_key(k3, key, true);
    write_key(k3, pub, false);
    EVP_PKEY_free(k3);
    set_home(g.src);
    assert_int_equal(run_capture(argv, &r), 0);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    set_home(g.dst);
    assert_int_equal(lm_run(&r, "import", out, "--require-signature", pub, NULL), 0);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    /* again: the name exists, but with this manifest, so nothing is in the way */
    assert_int_equal(lm_run(&r, "import", out, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    snprintf(g.path, sizeof(g.path), "%s/b.tar", g.dir);
}

static void drop_first_layer(json_t *root, json_t *body)
{
    json_t *layers = json_object_get(body, "layers"), *blobs = json_object_get(root, "blobs");
    const char *d = json_string_value(json_object_get(json_array_get(layers, 0), "digest"));
    for (size_t i = 0; i < json_array_size(blobs); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(blobs, i), "digest")),
                   d + 7) == 0) {
            json_array_remove(blobs, i);
            break;
        }
    json_array_remove(layers, 0);
}

/* A model whose name exists with other content: refused, then replaced with --force. */
static void test_name_exists(void **state)
{
    (void)state;
    NEED_READY();
    struct run_result r;
    struct ent v[MAX_ENTRIES];
    size_t n = copy_valid(v);
    char want[4096];
    set_home(g.dst);
    write_tar(g.path, true, v, n);
    assert_int_equal(lm_run(&r, "import", g.path, NULL, NULL, NULL), 0);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    char *text = edit_manifest(drop_first_layer);
    set_manifest(v, text);
    memmove(&v[1], &v[2], (n - 2) * sizeof(*v));
    write_tar(g.path, true, v, n - 1);
    json_error_t je;
    json_t *root = json_loads(g.e[0].data, 0, &je);
    const char *id = json_string_value(
        json_object_get(json_array_get(json_object_get(root, "models"), 0), "manifest"));
    snprintf(want, sizeof(want), "lm: %s: model 'demo:latest' exists (id %.12s); --force "
             "replaces it\n", g.path, id);
    json_decref(root);
    refused(want, NULL, NULL);
    assert_int_equal(lm_run(&r, "import", g.path, "--force", NULL, NULL), 0);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "imported demo:latest\n1 model, 6 blobs (1.0 MiB), 0 new (0 B)\n");
    run_result_free(&r);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_entry_kinds),
        cmocka_unit_test(test_duplicate_blob),
        cmocka_unit_test(test_first_entry),
        cmocka_unit_test(test_size_and_digest),
        cmocka_unit_test(test_missing_blob),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_manifest_rules),
        cmocka_unit_test(test_bomb),
        cmocka_unit_test(test_bomb_streamed),
        cmocka_unit_test(test_oversized_manifest),
        cmocka_unit_test(test_signatures),
        cmocka_unit_test(test_name_exists),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
