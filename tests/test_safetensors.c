/* test_safetensors.c: the safetensors and HF checkpoint readers on real fixtures and on hostile
 * files and directories built here by mutating a small valid file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../format/format.h"
#include "../common/banned.h"

/* ---- the valid file every hostile one starts from -------------------------------------------
 * Header order is neither name nor offset order. Sorted by name: alpha, empty, mid, zeta.
 * Key offsets in the file: zeta 9, alpha 68, __metadata__ 127, mid 158, empty 213. The JSON is
 * 265 bytes, padded with spaces to 272; data starts at 280 and is 23 bytes. */
static const char base_hdr[] =
    "{\"zeta\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
    "\"alpha\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[16,22]},"
    "\"__metadata__\":{\"format\":\"pt\"},"
    "\"mid\":{\"dtype\":\"I8\",\"shape\":[],\"data_offsets\":[22,23]},"
    "\"empty\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[23,23]}}";
#define BASE_DATA 23

struct file {
    uint8_t *p;
    size_t len;
};

static uint8_t data_byte(size_t i)
{
    return (uint8_t)(i * 37 + 11);
}

/* u64 length + header (space-padded to a multiple of 8 if pad) + n_data bytes. */
static struct file make_file(const char *hdr, size_t hlen, bool pad, size_t n_data)
{
    size_t padded = pad ? (hlen + 7) / 8 * 8 : hlen;
    struct file f = { malloc(8 + padded + n_data + 1), 8 + padded + n_data };
    assert_non_null(f.p);
    for (int i = 0; i < 8; i++)
        f.p[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(f.p + 8, hdr, hlen);
    memset(f.p + 8 + hlen, ' ', padded - hlen);
    for (size_t i = 0; i < n_data; i++)
        f.p[8 + padded + i] = data_byte(i);
    return f;
}

/* base_hdr with the first `find` replaced by `repl` (both may hold any bytes but NUL). */
static struct file mutate(const char *find, const char *repl, int data_delta)
{
    char hdr[1024];
    size_t n = sizeof(base_hdr) - 1;
    if (find) {
        const char *at = strstr(base_hdr, find);
        assert_non_null(at);
        int k = snprintf(hdr, sizeof(hdr), "%.*s%s%s", (int)(at - base_hdr), base_hdr, repl,
                         at + strlen(find));
        assert_true(k > 0 && (size_t)k < sizeof(hdr));
        n = (size_t)k;
    } else {
        memcpy(hdr, base_hdr, n);
    }
    return make_file(hdr, n, true, (size_t)(BASE_DATA + data_delta));
}

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    const char *t = getenv("TMPDIR");
    snprintf(tmpdir, sizeof(tmpdir), "%s/lm-st.XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static void rm_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[1024];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            rm_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int remove_tmpdir(void **state)
{
    (void)state;
    rm_tree(tmpdir);
    return 0;
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Run `bin inspect path`; returns its exit status and its stderr in buf. */
static int run_inspect(const char *bin, const char *path, char *buf, size_t n)
{
    char errpath[512];
    snprintf(errpath, sizeof(errpath), "%s/stderr", tmpdir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int null = open("/dev/null", O_WRONLY);
        if (fd < 0 || null < 0 || dup2(fd, 2) < 0 || dup2(null, 1) < 0)
            _exit(127);
        execl(bin, bin, "inspect", path, (char *)NULL);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    FILE *f = fopen(errpath, "rb");
    assert_non_null(f);
    size_t got = fread(buf, 1, n - 1, f);
    buf[got] = 0;
    fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- the valid file ------------------------------------------------------------------------ */

static void check_base(const struct safetensors *s, const uint8_t *file)
{
    static const struct {
        const char *name;
        enum st_dtype dtype;
        uint32_t n_dims;
        uint64_t shape0, nelem, begin, end;
    } want[] = {
        { "alpha", ST_F16, 1, 3, 3, 16, 22 },
        { "empty", ST_U8, 2, 0, 0, 23, 23 },
        { "mid", ST_I8, 0, 1, 1, 22, 23 },
        { "zeta", ST_F32, 2, 2, 4, 0, 16 },
    };
    assert_int_equal(st_n_tensors(s), 4);
    assert_int_equal(st_header_len(s), 272);
    for (size_t i = 0; i < 4; i++) {
        const struct st_tensor *t = st_tensor_at(s, i);
        assert_string_equal(t->name, want[i].name);
        assert_int_equal(t->dtype, want[i].dtype);
        assert_int_equal(t->n_dims, want[i].n_dims);
        assert_int_equal(t->shape[0], want[i].shape0);
        assert_int_equal(t->nelem, want[i].nelem);
        assert_int_equal(t->begin, want[i].begin);
        assert_int_equal(t->end, want[i].end);
        assert_int_equal(t->file_off, 280 + want[i].begin);
        assert_ptr_equal(t->data, file + 280 + want[i].begin);
        assert_ptr_equal(st_tensor_find(s, want[i].name), t);
    }
    assert_int_equal(st_tensor_at(s, 1)->shape[1], 5);
    assert_int_equal(st_tensor_at(s, 3)->shape[1], 2);
    assert_int_equal(st_tensor_at(s, 0)->shape[1], 1);   /* unused dims are 1 */
    assert_null(st_tensor_at(s, 4));
    assert_null(st_tensor_find(s, "zet"));
    assert_null(st_tensor_find(s, "__metadata__"));
    assert_string_equal(st_metadata(s, "format"), "pt");
    assert_null(st_metadata(s, "nope"));
    assert_int_equal(st_tensor_find(s, "mid")->data[0], data_byte(22));
}

static void test_valid_mem(void **state)
{
    (void)state;
    struct file f = mutate(NULL, NULL, 0);
    assert_int_equal(f.len, 303);
    struct lm_err err;
    lm_err_clear(&err);
    struct safetensors *s = st_open_mem(f.p, f.len, "base.safetensors", &err);
    assert_non_null(s);
    assert_string_equal(st_path(s), "base.safetensors");
    check_base(s, f.p);
    st_close(s);
    free(f.p);
}

static void test_valid_file(void **state)
{
    (void)state;
    struct file f = mutate(NULL, NULL, 0);
    char path[512];
    snprintf(path, sizeof(path), "%s/base.safetensors", tmpdir);
    write_file(path, f.p, f.len);
    struct lm_err err;
    struct safetensors *s = st_open(path, &err);
    assert_non_null(s);
    assert_string_equal(st_path(s), path);
    assert_int_equal(st_tensor_find(s, "zeta")->data[15], data_byte(15));
    st_close(s);
    st_close(NULL);
    unlink(path);
    free(f.p);

    snprintf(path, sizeof(path), "%s/absent.safetensors", tmpdir);
    assert_null(st_open(path, &err));
    assert_int_equal(err.code, LM_EIO);
    assert_string_equal(err.path, path);
}

/* Legal corners: each header must open with the given tensor count. */
static void test_valid_variants(void **state)
{
    (void)state;
    static const struct {
        const char *what, *hdr;
        bool pad;
        size_t n_data, n_tensors;
    } rows[] = {
        { "empty header", "{}", false, 0, 0 },
        { "only metadata", "{\"__metadata__\":{}}", true, 0, 0 },
        { "unpadded", "{\"a\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]}}", false, 1, 1 },
        { "padding and inner spaces",
          "{ \"a\" : { \"data_offsets\" : [ 0 , 1 ] , \"shape\" : [ ] , \"dtype\" : \"U8\" } }      ",
          false, 1, 1 },
        { "8 dims", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}",
          true, 2, 1 },
        { "F4 pair in a byte", "{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}",
          true, 1, 1 },
        { "F6 four in 3 bytes",
          "{\"a\":{\"dtype\":\"F6_E3M2\",\"shape\":[4],\"data_offsets\":[0,3]}}", true, 3, 1 },
        { "zero-size tensors share an offset",
          "{\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
          "\"a\":{\"dtype\":\"C64\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
          "\"c\":{\"dtype\":\"F8_E8M0\",\"shape\":[2],\"data_offsets\":[0,2]},"
          "\"d\":{\"dtype\":\"I64\",\"shape\":[0],\"data_offsets\":[2,2]}}", true, 2, 4 },
        { "odd names", "{\"it's \\u00e9\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]},"
          "\"\\/\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[1,2]}}", true, 2, 2 },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct file f = make_file(rows[i].hdr, strlen(rows[i].hdr), rows[i].pad, rows[i].n_data);
        struct lm_err err;
        lm_err_clear(&err);
        struct safetensors *s = st_open_mem(f.p, f.len, rows[i].what, &err);
        if (!s)
            fail_msg("%s: %s", rows[i].what, err.msg);
        assert_int_equal(st_n_tensors(s), rows[i].n_tensors);
        st_close(s);
        free(f.p);
    }
}

static void test_variant_details(void **state)
{
    (void)state;
    static const char hdr[] =
        "{\"it's \\u00e9\":{\"dtype\":\"F6_E2M3\",\"shape\":[1,4],\"data_offsets\":[1,4]},"
        "\"\\/\":{\"dtype\":\"F8_E4M3FNUZ\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    struct file f = make_file(hdr, sizeof(hdr) - 1, true, 4);
    struct safetensors *s = st_open_mem(f.p, f.len, "x", NULL);
    assert_non_null(s);
    assert_string_equal(st_tensor_at(s, 0)->name, "/");
    assert_int_equal(st_tensor_at(s, 0)->dtype, ST_F8_E4M3FNUZ);
    assert_string_equal(st_tensor_at(s, 1)->name, "it's \xc3\xa9");
    assert_int_equal(st_tensor_at(s, 1)->nelem, 4);
    assert_null(st_metadata(s, "format"));
    st_close(s);
    free(f.p);

    assert_string_equal(st_dtype_name(ST_BF16), "BF16");
    assert_string_equal(st_dtype_name(ST_F8_E5M2FNUZ), "F8_E5M2FNUZ");
    assert_null(st_dtype_name(ST_DTYPE_COUNT));
    assert_int_equal(st_dtype_bits(ST_F4), 4);
    assert_int_equal(st_dtype_bits(ST_F6_E2M3), 6);
    assert_int_equal(st_dtype_bits(ST_C64), 64);
    assert_int_equal(st_dtype_bits(ST_BOOL), 8);
    assert_int_equal(st_dtype_bits(ST_DTYPE_COUNT), 0);
}

/* ---- hostile files --------------------------------------------------------------------------- */

enum kind { MUT, CUT, HLEN };

static const struct bad_row {
    const char *what;
    enum kind kind;
    const char *find, *repl;   /* MUT: one replacement in base_hdr */
    int data_delta;            /* MUT: data bytes added or taken away */
    uint64_t arg;              /* CUT: file length; HLEN: the length field */
    uint64_t off;
    const char *msg;
} bad_rows[] = {
    { "empty file", CUT, NULL, NULL, 0, 0, 0, "header length needs 8 bytes, 0 left" },
    { "cut in header length", CUT, NULL, NULL, 0, 5, 0, "header length needs 8 bytes, 5 left" },
    { "header length 0", HLEN, NULL, NULL, 0, 0, 0, "header length is 0" },
    { "header length over the cap", HLEN, NULL, NULL, 0, 100000001, 0,
      "header length 100000001 is over 100000000" },
    { "header length past the file", HLEN, NULL, NULL, 0, 296, 8,
      "header needs 296 bytes, 295 left" },
    { "header length 2^64-1", HLEN, NULL, NULL, 0, UINT64_MAX, 0,
      "header length 18446744073709551615 is over 100000000" },
    { "header not starting with {", MUT, "{\"zeta\"", " {\"zeta\"", 0, 0, 8,
      "header starts with byte 0x20, not '{'" },
    { "header not JSON", MUT, "[2,2]", "[2,2}", 0, 0, 44,
      "header is not valid JSON: ']' expected" },
    { "duplicate tensor name", MUT, "\"mid\":", "\"zeta\":", 0, 0, 164,
      "header is not valid JSON: duplicate object key" },
    { "duplicate field", MUT, "\"shape\":[],", "\"shape\":[],\"shape\":[],", 0, 0, 196,
      "header is not valid JSON: duplicate object key" },
    { "NUL escape in name", MUT, "\"mid\":", "\"m\\u0000d\":", 0, 0, 168,
      "header is not valid JSON: NUL byte in object key not supported" },
    { "raw control byte in name", MUT, "\"mid\":", "\"m\001d\":", 0, 0, 160,
      "header is not valid JSON: control character 0x1" },
    { "invalid UTF-8 in name", MUT, "\"mid\":", "\"m\377d\":", 0, 0, 160,
      "header is not valid JSON: unable to decode byte 0xff" },
    { "integer past int64", MUT, "[23,23]", "[23,99999999999999999999]", 0, 0, 288,
      "header is not valid JSON: too big integer" },
    { "cut JSON", MUT, "[23,23]}}", "[23,23]}", 0, 0, 272,
      "header is not valid JSON: '}' expected" },
    { "byte after the JSON", MUT, "[23,23]}}", "[23,23]}}x", 0, 0, 273,
      "header has byte 0x78 after the JSON, not space padding" },
    { "tab after the JSON", MUT, "[23,23]}}", "[23,23]}}  \t", 0, 0, 275,
      "header has byte 0x09 after the JSON, not space padding" },
    { "second object after the JSON", MUT, "[23,23]}}", "[23,23]}}{}", 0, 0, 273,
      "header has byte 0x7b after the JSON, not space padding" },
    { "entry not an object", MUT, "\"mid\":{\"dtype\":\"I8\",\"shape\":[],\"data_offsets\":[22,23]}",
      "\"mid\":[22,23]", 0, 0, 158, "tensor 'mid' is not an object" },
    { "no dtype", MUT, "\"dtype\":\"I8\",", "", 0, 0, 158, "tensor 'mid' has no dtype" },
    { "no shape", MUT, "\"shape\":[],", "", 0, 0, 158, "tensor 'mid' has no shape" },
    { "no data_offsets", MUT, ",\"data_offsets\":[22,23]", "", 0, 0, 158,
      "tensor 'mid' has no data_offsets" },
    { "extra field", MUT, "\"dtype\":\"I8\",", "\"dtype\":\"I8\",\"offset\":0,", 0, 0, 158,
      "tensor 'mid' has unknown field 'offset'" },
    { "dtype not a string", MUT, "\"I8\"", "8", 0, 0, 158, "tensor 'mid' dtype is not a string" },
    { "unknown dtype", MUT, "\"I8\"", "\"I4\"", 0, 0, 158, "tensor 'mid' has unknown dtype 'I4'" },
    { "lower-case dtype", MUT, "\"F16\"", "\"f16\"", 0, 0, 68,
      "tensor 'alpha' has unknown dtype 'f16'" },
    { "shape not an array", MUT, "\"shape\":[]", "\"shape\":1", 0, 0, 158,
      "tensor 'mid' shape is not an array" },
    { "negative dim", MUT, "[2,2]", "[2,-2]", 0, 0, 9,
      "tensor 'zeta' shape[1] is not a non-negative integer" },
    { "real dim", MUT, "[3]", "[3.0]", 0, 0, 68,
      "tensor 'alpha' shape[0] is not a non-negative integer" },
    { "string dim", MUT, "[0,5]", "[0,\"5\"]", 0, 0, 213,
      "tensor 'empty' shape[1] is not a non-negative integer" },
    { "9 dims", MUT, "[0,5]", "[0,1,1,1,1,1,1,1,5]", 0, 0, 213,
      "tensor 'empty' has 9 dims, over 8" },
    { "element count overflow", MUT, "[2,2]", "[4294967296,4294967296]", 0, 0, 9,
      "tensor 'zeta' has too many elements" },
    { "byte count overflow", MUT, "[2,2]", "[2305843009213693952,2]", 0, 0, 9,
      "tensor 'zeta' is too large" },
    { "data_offsets not a pair", MUT, "[22,23]", "[22]", 0, 0, 158,
      "tensor 'mid' data_offsets is not a pair" },
    { "data_offsets three", MUT, "[22,23]", "[22,23,23]", 0, 0, 158,
      "tensor 'mid' data_offsets is not a pair" },
    { "data_offsets a string", MUT, "[22,23]", "\"22\"", 0, 0, 158,
      "tensor 'mid' data_offsets is not a pair" },
    { "negative begin", MUT, "[22,23]", "[-1,23]", 0, 0, 158,
      "tensor 'mid' data_offsets[0] is not a non-negative integer" },
    { "real end", MUT, "[23,23]", "[23,23.0]", 0, 0, 213,
      "tensor 'empty' data_offsets[1] is not a non-negative integer" },
    { "begin after end", MUT, "[23,23]", "[24,23]", 0, 0, 213,
      "tensor 'empty' begins at 24, after its end 23" },
    { "size does not match shape", MUT, "[3]", "[4]", 0, 0, 68,
      "tensor 'alpha' has 6 bytes, 4 F16 elements need 8" },
    { "half a byte", MUT, "\"I8\"", "\"F4\"", 0, 0, 158,
      "tensor 'mid' has 1 F4 elements, not a whole number of bytes" },
    { "end past the data", MUT, NULL, NULL, -1, 0, 158,
      "tensor 'mid' ends at 23, past the 22-byte data buffer" },
    { "huge offsets", MUT, "[23,23]", "[9223372036854775807,9223372036854775807]", 0, 0, 213,
      "tensor 'empty' ends at 9223372036854775807, past the 23-byte data buffer" },
    { "overlap", MUT, "[16,22]", "[14,20]", 0, 0, 294,
      "tensor 'alpha' at 14..20 overlaps tensor 'zeta' at 0..16" },
    { "zero-size inside another", MUT, "[23,23]", "[8,8]", 0, 0, 280,
      "tensor 'empty' at 8..8 overlaps tensor 'zeta' at 0..16" },
    { "hole", MUT, "[22,23]},\"empty\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[23,23]",
      "[23,24]},\"empty\":{\"dtype\":\"U8\",\"shape\":[0,5],\"data_offsets\":[24,24]", 1, 0, 302,
      "data buffer has a hole at 22..23 before tensor 'mid'" },
    { "bytes after the last tensor", MUT, NULL, NULL, 3, 0, 303,
      "data buffer has 3 bytes after the last tensor" },
    { "__metadata__ not an object", MUT, "{\"format\":\"pt\"}", "\"pt\"", 0, 0, 127,
      "__metadata__ is not an object" },
    { "__metadata__ value not a string", MUT, "\"pt\"", "1", 0, 0, 127,
      "__metadata__ value 'format' is not a string" },
    { "empty name", MUT, "\"mid\":", "\"\":", 0, 0, 158, "tensor name is empty" },
    { "control byte in name", MUT, "\"mid\":", "\"m\\u0001d\":", 0, 0, 158,
      "tensor name 'm\\x01d' has a control byte" },
    { "DEL in name", MUT, "\"mid\":", "\"m\\u007fd\":", 0, 0, 158,
      "tensor name 'm\\x7fd' has a control byte" },
    { "quote in a bad entry's name", MUT, "\"mid\":{\"dtype\":\"I8\"", "\"m'd\":{\"dtype\":\"X\"", 0,
      0, 158, "tensor 'm\\'d' has unknown dtype 'X'" },
};

static struct file make_bad(const struct bad_row *r)
{
    struct file f = mutate(r->find, r->repl, r->data_delta);
    if (r->kind == CUT) {
        LM_BUG_ON(r->arg > f.len);
        f.len = (size_t)r->arg;
    } else if (r->kind == HLEN) {
        for (int i = 0; i < 8; i++)
            f.p[i] = (uint8_t)(r->arg >> (8 * i));
    }
    return f;
}

static void test_hostile_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
        const struct bad_row *r = &bad_rows[i];
        struct file f = make_bad(r);
        struct lm_err err;
        lm_err_clear(&err);
        if (st_open_mem(f.p, f.len, "bad.safetensors", &err))
            fail_msg("%s: opened", r->what);
        if (err.code != LM_ECORRUPT || err.off != r->off || strcmp(err.msg, r->msg) ||
            strcmp(err.path, "bad.safetensors"))
            fail_msg("%s: got code %d at %llu: %s", r->what, err.code,
                     (unsigned long long)err.off, err.msg);

        /* The same bytes as a file, through st_open. */
        char path[512];
        snprintf(path, sizeof(path), "%s/bad-%zu.safetensors", tmpdir, i);
        write_file(path, f.p, f.len);
        lm_err_clear(&err);
        assert_null(st_open(path, &err));
        assert_int_equal(err.off, r->off);
        assert_string_equal(err.msg, r->msg);
        assert_string_equal(err.path, path);
        unlink(path);
        free(f.p);
    }
}

/* `lm inspect FILE` prints exactly the one line and exits 1. */
static void test_hostile_files_cli(void **state)
{
    (void)state;
    const char *bin = getenv("LM_BIN");
    if (!bin || !*bin || access(bin, X_OK))
        skip();
    for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
        const struct bad_row *r = &bad_rows[i];
        struct file f = make_bad(r);
        char path[512], want[1024], got[2048];
        snprintf(path, sizeof(path), "%s/bad-%zu.safetensors", tmpdir, i);
        write_file(path, f.p, f.len);
        int rc = run_inspect(bin, path, got, sizeof(got));
        snprintf(want, sizeof(want), "lm: %s: at byte %llu: %s\n", path,
                 (unsigned long long)r->off, r->msg);
        if (rc != 1 || strcmp(got, want))
            fail_msg("%s: lm inspect exit %d, stderr: %s", r->what, rc, got);
        unlink(path);
        free(f.p);
    }
}

/* ---- truncations and fixtures ----------------------------------------------------------------- */

static const char *models_dir(void)
{
    const char *m = getenv("LM_MODELS");
    return m && *m ? m : "../shared/models";
}

static struct hf_checkpoint *open_fixture(const char *name)
{
    char dir[1024];
    struct stat st;
    snprintf(dir, sizeof(dir), "%s/%s", models_dir(), name);
    if (stat(dir, &st) || !S_ISDIR(st.st_mode))
        return NULL;
    struct lm_err err;
    lm_err_clear(&err);
    struct hf_checkpoint *c = hf_checkpoint_open(dir, &err);
    if (!c)
        fail_msg("%s: %s: %s", name, err.path, err.msg);
    return c;
}

/* The first n bytes, in a block of their own so ASan sees any read past them, must fail. */
static void expect_cut_fails(const uint8_t *p, size_t n)
{
    uint8_t *cut = malloc(n ? n : 1);
    assert_non_null(cut);
    memcpy(cut, p, n);
    struct lm_err err;
    lm_err_clear(&err);
    if (st_open_mem(cut, n, "cut", &err))
        fail_msg("cut at %zu opened", n);
    assert_int_equal(err.code, LM_ECORRUPT);
    free(cut);
}

static void test_truncations(void **state)
{
    (void)state;
    struct file f = mutate(NULL, NULL, 0);
    for (size_t n = 0; n < f.len; n++)
        expect_cut_fails(f.p, n);
    free(f.p);
}

/* A real header cut at every length, and the file short by one byte. */
static void test_fixture_truncations(void **state)
{
    (void)state;
    char path[1024];
    struct lm_map m;
    snprintf(path, sizeof(path), "%s/stories260K/model.safetensors", models_dir());
    if (lm_map_open(&m, path, NULL))
        skip();
    assert_int_equal(m.len, 1044992);
    for (size_t n = 0; n < 8 + 4856 + 16; n++)
        expect_cut_fails(m.data, n);
    expect_cut_fails(m.data, (size_t)m.len - 1);
    lm_map_close(&m);
}

/* Tensor facts from python3 over the fixture files (sha256 of exactly end - begin bytes). */
static const struct fixture_row {
    const char *dir, *arch;
    size_t n_shards, n_tensors;
    struct {
        const char *name;
        enum st_dtype dtype;
        uint64_t d0, d1, file_off;   /* d1 0: one dim */
        size_t shard;
        const char *sha;
    } t[3];
} fixture_rows[] = {
    { "stories260K", "LlamaForCausalLM", 1, 47, {
        { "model.embed_tokens.weight", ST_F32, 512, 64, 4864, 0,
          "452158377d2f8703b5b38935f894b628d3c7e2ac26bc167bfbfc68655dfe2c8a" },
        { "model.norm.weight", ST_F32, 64, 0, 1044736, 0,
          "0e94e5b6ed76295de67218f03110c2ffaba21db46cc8a5ccd716bd8ebaf024f7" } } },
    { "tiny-llama-256", "LlamaForCausalLM", 2, 21, {
        { "lm_head.weight", ST_BF16, 512, 256, 1168, 1,
          "96c48ffcbce3746e175790702c3cb03f96304d86bf68d7bd11e450289e732f06" },
        { "model.layers.0.self_attn.v_proj.weight", ST_BF16, 128, 256, 1771592, 0,
          "e5d583182c31279ef685ea0d352693c060b04690758425798de1333b46534046" },
        { "model.norm.weight", ST_BF16, 256, 0, 1837200, 1,
          "f34fb3397fc16ff834a4d213674707170ab5f86fa28794be1875f17bae5427d7" } } },
    { "tiny-qwen2-256", "Qwen2ForCausalLM", 1, 26, {
        { "model.embed_tokens.weight", ST_F16, 512, 256, 2744, 0,
          "65a662463c9b5599d73dc6932641a05a84454d6a6d8a4eac3ef73f479c067b5e" },
        { "model.layers.0.self_attn.q_proj.bias", ST_F16, 256, 0, 1642424, 0,
          "232d03b07506c3e7e5fd5ff4a8c2d902fc5a1d17fa5de479e5e097638515858b" } } },
    { "tiny-qwen2-bpe", "Qwen2ForCausalLM", 1, 26, {
        { "model.embed_tokens.weight", ST_BF16, 151936, 32, 2736, 0,
          "0e6cc6b6db23af1c10528c36ab97905ce4d3ef8f9a9663300909da46fa301a49" },
        { "model.layers.0.self_attn.q_proj.bias", ST_BF16, 32, 0, 9748304, 0,
          "e480d822da2c39dbfaeeafbd34d7a36b8bf29d11bffbe8ba2f4fecc17713a86c" } } },
};

static void test_fixtures(void **state)
{
    (void)state;
    size_t seen = 0;
    for (size_t i = 0; i < sizeof(fixture_rows) / sizeof(fixture_rows[0]); i++) {
        const struct fixture_row *r = &fixture_rows[i];
        struct hf_checkpoint *c = open_fixture(r->dir);
        if (!c)
            continue;
        seen++;
        assert_string_equal(hf_checkpoint_architecture(c), r->arch);
        assert_int_equal(hf_checkpoint_n_shards(c), r->n_shards);
        assert_int_equal(hf_checkpoint_n_tensors(c), r->n_tensors);
        for (size_t k = 0; k < 3 && r->t[k].name; k++) {
            const struct hf_tensor *h = hf_checkpoint_tensor_find(c, r->t[k].name);
            if (!h)
                fail_msg("%s: no tensor %s", r->dir, r->t[k].name);
            const struct st_tensor *t = h->t;
            uint8_t md[32];
            char hex[65];
            assert_int_equal(h->shard, r->t[k].shard);
            assert_string_equal(t->name, r->t[k].name);
            assert_int_equal(t->dtype, r->t[k].dtype);
            assert_int_equal(t->n_dims, r->t[k].d1 ? 2 : 1);
            assert_int_equal(t->shape[0], r->t[k].d0);
            assert_int_equal(t->shape[1], r->t[k].d1 ? r->t[k].d1 : 1);
            assert_int_equal(t->file_off, r->t[k].file_off);
            lm_sha256_buf(t->data, (size_t)(t->end - t->begin), md);
            lm_hex(md, 32, hex);
            assert_string_equal(hex, r->t[k].sha);
        }
        hf_checkpoint_close(c);
    }
    if (!seen)
        skip();
}

static void test_fixture_stories(void **state)
{
    (void)state;
    struct hf_checkpoint *c = open_fixture("stories260K");
    if (!c)
        skip();
    assert_non_null(hf_checkpoint_config(c));
    assert_string_equal(hf_checkpoint_shard_name(c, 0), "model.safetensors");
    assert_int_equal(st_header_len(hf_checkpoint_shard(c, 0)), 4856);
    assert_string_equal(st_metadata(hf_checkpoint_shard(c, 0), "format"), "pt");
    assert_string_equal(hf_checkpoint_tensor_at(c, 0)->t->name, "model.embed_tokens.weight");
    assert_string_equal(hf_checkpoint_tensor_at(c, 46)->t->name, "model.norm.weight");
    const struct hf_tensor *down = hf_checkpoint_tensor_find(c, "model.layers.0.mlp.down_proj.weight");
    assert_non_null(down);
    assert_int_equal(down->t->shape[0], 64);
    assert_int_equal(down->t->shape[1], 172);
    assert_null(hf_checkpoint_tensor_find(c, "lm_head.weight"));
    hf_checkpoint_close(c);
}

static void test_fixture_tiny_llama(void **state)
{
    (void)state;
    struct hf_checkpoint *c = open_fixture("tiny-llama-256");
    if (!c)
        skip();
    assert_string_equal(hf_checkpoint_shard_name(c, 0), "model-00001-of-00002.safetensors");
    assert_string_equal(hf_checkpoint_shard_name(c, 1), "model-00002-of-00002.safetensors");
    assert_null(hf_checkpoint_shard_name(c, 2));
    assert_int_equal(st_n_tensors(hf_checkpoint_shard(c, 0)), 10);
    assert_int_equal(st_n_tensors(hf_checkpoint_shard(c, 1)), 11);
    /* shard order first, then names within a shard */
    assert_string_equal(hf_checkpoint_tensor_at(c, 0)->t->name, "model.embed_tokens.weight");
    assert_int_equal(hf_checkpoint_tensor_at(c, 0)->shard, 0);
    assert_string_equal(hf_checkpoint_tensor_at(c, 9)->t->name,
                        "model.layers.0.self_attn.v_proj.weight");
    assert_string_equal(hf_checkpoint_tensor_at(c, 10)->t->name, "lm_head.weight");
    assert_int_equal(hf_checkpoint_tensor_at(c, 10)->shard, 1);
    assert_null(hf_checkpoint_tensor_at(c, 21));
    hf_checkpoint_close(c);
}

/* Every .safetensors under $LM_MODELS/<dir>/ opens and covers its file. */
static void test_fixture_all_files(void **state)
{
    (void)state;
    DIR *top = opendir(models_dir());
    if (!top)
        skip();
    struct dirent *e;
    int n = 0;
    while ((e = readdir(top))) {
        char dir[1024];
        snprintf(dir, sizeof(dir), "%s/%s", models_dir(), e->d_name);
        DIR *d = e->d_name[0] == '.' ? NULL : opendir(dir);
        struct dirent *f;
        while (d && (f = readdir(d))) {
            size_t len = strlen(f->d_name);
            if (len < 12 || strcmp(f->d_name + len - 12, ".safetensors"))
                continue;
            char path[2048];
            snprintf(path, sizeof(path), "%s/%s", dir, f->d_name);
            struct lm_err err;
            struct safetensors *s = st_open(path, &err);
            if (!s)
                fail_msg("%s: %s", path, err.msg);
            struct stat st;
            assert_int_equal(stat(path, &st), 0);
            uint64_t last = 8 + st_header_len(s);
            for (size_t i = 0; i < st_n_tensors(s); i++)
                if (st_tensor_at(s, i)->file_off + st_tensor_at(s, i)->end -
                        st_tensor_at(s, i)->begin > last)
                    last = st_tensor_at(s, i)->file_off + st_tensor_at(s, i)->end -
                           st_tensor_at(s, i)->begin;
            assert_int_equal(last, (uint64_t)st.st_size);
            st_close(s);
            n++;
        }
        if (d)
            closedir(d);
    }
    closedir(top);
    if (n == 0)
        skip();
    assert_int_equal(n, 5);
}

/* ---- hostile checkpoint directories ---------------------------------------------------------- */

#define SHARD1 "model-00001-of-00002.safetensors"
#define SHARD2 "model-00002-of-00002.safetensors"

static const char shard1_hdr[] =
    "{\"a.y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
    "\"a.x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,3]}}";
static const char shard2_hdr[] = "{\"b.z\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
static const char shard2_extra_hdr[] =
    "{\"b.z\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[0,4]},"
    "\"b.extra\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[4,5]}}";
/* Keys out of order on purpose: shards are opened sorted whatever the map says. */
static const char good_index[] =
    "{\"metadata\":{\"total_size\":7},\"weight_map\":{\"b.z\":\"" SHARD2 "\","
    "\"a.x\":\"" SHARD1 "\",\"a.y\":\"" SHARD1 "\"}}";

static void put_shard(const char *dir, const char *name, const char *hdr, size_t n_data)
{
    char path[1024];
    struct file f = make_file(hdr, strlen(hdr), true, n_data);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_file(path, f.p, f.len);
    free(f.p);
}

static void put_text(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_file(path, text, strlen(text));
}

/* A fresh valid two-shard checkpoint in tmpdir/ck-N. */
static void make_checkpoint(char *dir, size_t n, int id)
{
    snprintf(dir, n, "%s/ck-%d", tmpdir, id);
    assert_int_equal(mkdir(dir, 0755), 0);
    put_text(dir, "config.json", "{\"architectures\":[\"TestForCausalLM\"],\"hidden_size\":8}");
    put_text(dir, "model.safetensors.index.json", good_index);
    put_shard(dir, SHARD1, shard1_hdr, 3);
    put_shard(dir, SHARD2, shard2_hdr, 4);
}

static void test_checkpoint_valid(void **state)
{
    (void)state;
    char dir[512];
    make_checkpoint(dir, sizeof(dir), 0);
    struct lm_err err;
    struct hf_checkpoint *c = hf_checkpoint_open(dir, &err);
    if (!c)
        fail_msg("%s: %s", err.path, err.msg);
    assert_string_equal(hf_checkpoint_dir(c), dir);
    assert_string_equal(hf_checkpoint_architecture(c), "TestForCausalLM");
    assert_int_equal(hf_checkpoint_n_shards(c), 2);
    assert_string_equal(hf_checkpoint_shard_name(c, 0), SHARD1);
    assert_null(hf_checkpoint_shard(c, 2));
    assert_int_equal(hf_checkpoint_n_tensors(c), 3);
    static const char *const order[] = { "a.x", "a.y", "b.z" };
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(hf_checkpoint_tensor_at(c, i)->t->name, order[i]);
        assert_int_equal(hf_checkpoint_tensor_at(c, i)->shard, i / 2);
        assert_ptr_equal(hf_checkpoint_tensor_find(c, order[i]), hf_checkpoint_tensor_at(c, i));
    }
    assert_null(hf_checkpoint_tensor_find(c, "a"));
    assert_null(hf_checkpoint_tensor_find(c, "c"));
    assert_int_equal(hf_checkpoint_tensor_find(c, "a.x")->t->data[0], data_byte(2));
    hf_checkpoint_close(c);
    hf_checkpoint_close(NULL);

    /* One model.safetensors and no config: no architecture. */
    snprintf(dir, sizeof(dir), "%s/single", tmpdir);
    assert_int_equal(mkdir(dir, 0755), 0);
    put_shard(dir, "model.safetensors", shard2_hdr, 4);
    c = hf_checkpoint_open(dir, &err);
    assert_non_null(c);
    assert_null(hf_checkpoint_architecture(c));
    assert_null(hf_checkpoint_config(c));
    assert_int_equal(hf_checkpoint_n_tensors(c), 1);
    assert_string_equal(hf_checkpoint_shard_name(c, 0), "model.safetensors");
    hf_checkpoint_close(c);
}

enum ck_file { CK_INDEX, CK_CONFIG, CK_SHARD2, CK_NO_SHARD2, CK_NO_INDEX, CK_SHARD1 };

static const struct ck_row {
    const char *what;
    enum ck_file file;
    const char *text;          /* new contents (for a shard: its header) */
    enum lm_errcode code;
    const char *path;          /* relative to the checkpoint */
    uint64_t off;
    const char *msg;
} ck_rows[] = {
    { "missing shard", CK_NO_SHARD2, NULL, LM_ENOTFOUND, "model.safetensors.index.json",
      LM_NO_OFFSET, "shard '" SHARD2 "' does not exist" },
    { "extra tensor in a shard", CK_SHARD2, shard2_extra_hdr, LM_ECORRUPT,
      "model.safetensors.index.json", LM_NO_OFFSET,
      "tensor 'b.extra' is in shard '" SHARD2 "' but not in the weight map" },
    { "tensor in no shard", CK_INDEX,
      "{\"weight_map\":{\"b.z\":\"" SHARD2 "\",\"a.x\":\"" SHARD1 "\",\"c.w\":\"" SHARD2 "\","
      "\"a.y\":\"" SHARD1 "\"}}", LM_ECORRUPT, "model.safetensors.index.json", LM_NO_OFFSET,
      "tensor 'c.w' is in the weight map but in no shard" },
    { "tensor in the wrong shard", CK_INDEX,
      "{\"weight_map\":{\"b.z\":\"" SHARD2 "\",\"a.x\":\"" SHARD1 "\",\"a.y\":\"" SHARD2 "\"}}",
      LM_ECORRUPT, "model.safetensors.index.json", LM_NO_OFFSET,
      "tensor 'a.y' is in shard '" SHARD1 "' but the weight map says '" SHARD2 "'" },
    { "shard name with ../", CK_INDEX,
      "{\"weight_map\":{\"b.z\":\"../" SHARD2 "\",\"a.x\":\"" SHARD1 "\",\"a.y\":\"" SHARD1 "\"}}",
      LM_ECORRUPT, "model.safetensors.index.json", LM_NO_OFFSET,
      "tensor 'b.z' maps to '../" SHARD2 "', which is not a file name in the directory" },
    { "absolute shard name", CK_INDEX,
      "{\"weight_map\":{\"b.z\":\"/etc/passwd\"}}", LM_ECORRUPT, "model.safetensors.index.json",
      LM_NO_OFFSET, "tensor 'b.z' maps to '/etc/passwd', which is not a file name in the directory" },
    { "shard name ..", CK_INDEX, "{\"weight_map\":{\"b.z\":\"..\"}}", LM_ECORRUPT,
      "model.safetensors.index.json", LM_NO_OFFSET,
      "tensor 'b.z' maps to '..', which is not a file name in the directory" },
    { "empty shard name", CK_INDEX, "{\"weight_map\":{\"b.z\":\"\"}}", LM_ECORRUPT,
      "model.safetensors.index.json", LM_NO_OFFSET,
      "tensor 'b.z' maps to '', which is not a file name in the directory" },
    { "index not JSON", CK_INDEX, "{\"weight_map\":{\"b.z\":", LM_ECORRUPT,
      "model.safetensors.index.json", 21, "not valid JSON: unexpected token" },
    { "index not an object", CK_INDEX, "[]", LM_ECORRUPT, "model.safetensors.index.json",
      LM_NO_OFFSET, "not a JSON object" },
    { "index duplicate key", CK_INDEX, "{\"weight_map\":{\"a\":\"x\",\"a\":\"x\"}}", LM_ECORRUPT,
      "model.safetensors.index.json", 26, "not valid JSON: duplicate object key" },
    { "no weight_map", CK_INDEX, "{\"metadata\":{}}", LM_ECORRUPT,
      "model.safetensors.index.json", LM_NO_OFFSET, "weight_map is missing or not an object" },
    { "weight_map entry not a string", CK_INDEX, "{\"weight_map\":{\"b.z\":2}}", LM_ECORRUPT,
      "model.safetensors.index.json", LM_NO_OFFSET, "weight map entry 'b.z' is not a string" },
    { "config not JSON", CK_CONFIG, "{\"architectures\":[\"X\"", LM_ECORRUPT, "config.json", 21,
      "not valid JSON: ']' expected" },
    { "bad shard", CK_SHARD1,
      "{\"a.y\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
      "\"a.x\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,3]}}", LM_ECORRUPT, SHARD1, 63,
      "tensor 'a.x' has 1 bytes, 2 U8 elements need 2" },
    { "no weights at all", CK_NO_INDEX, NULL, LM_ENOTFOUND, "", LM_NO_OFFSET,
      "no model.safetensors or model.safetensors.index.json" },
};

static void test_checkpoint_hostile(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ck_rows) / sizeof(ck_rows[0]); i++) {
        const struct ck_row *r = &ck_rows[i];
        char dir[512], path[1024];
        make_checkpoint(dir, sizeof(dir), (int)i + 1);
        switch (r->file) {
        case CK_INDEX: put_text(dir, "model.safetensors.index.json", r->text); break;
        case CK_CONFIG: put_text(dir, "config.json", r->text); break;
        case CK_SHARD1: put_shard(dir, SHARD1, r->text, 3); break;
        case CK_SHARD2: put_shard(dir, SHARD2, r->text, 5); break;
        case CK_NO_SHARD2:
            snprintf(path, sizeof(path), "%s/%s", dir, SHARD2);
            assert_int_equal(unlink(path), 0);
            break;
        case CK_NO_INDEX:
            snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
            assert_int_equal(unlink(path), 0);
            break;
        }
        if (r->path[0])
            snprintf(path, sizeof(path), "%s/%s", dir, r->path);
        else
            snprintf(path, sizeof(path), "%s", dir);
        struct lm_err err;
        lm_err_clear(&err);
        if (hf_checkpoint_open(dir, &err))
            fail_msg("%s: opened", r->what);
        if (err.code != r->code || err.off != r->off || strcmp(err.msg, r->msg) ||
            strcmp(err.path, path))
            fail_msg("%s: got code %d, %s at %llu: %s", r->what, err.code, err.path,
                     (unsigned long long)err.off, err.msg);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_mem),
        cmocka_unit_test(test_valid_file),
        cmocka_unit_test(test_valid_variants),
        cmocka_unit_test(test_variant_details),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_hostile_files_cli),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_fixture_truncations),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_fixture_stories),
        cmocka_unit_test(test_fixture_tiny_llama),
        cmocka_unit_test(test_fixture_all_files),
        cmocka_unit_test(test_checkpoint_valid),
        cmocka_unit_test(test_checkpoint_hostile),
    };
    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
