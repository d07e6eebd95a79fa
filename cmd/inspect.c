/* inspect.c: `lm inspect`, what a GGUF file, safetensors file or checkpoint directory holds. */
#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "../format/format.h"
#include "../common/banned.h"

static const char usage[] =
    "usage: lm inspect [--json] FILE.gguf|FILE.safetensors|DIR\n"
    "\n"
    "Shows a GGUF file's version, alignment, every metadata key (type and value; arrays: item\n"
    "type, length and the first values) and every tensor (name, type, shape in GGUF order,\n"
    "offset in the data section, byte size); for safetensors files and Hugging Face checkpoint\n"
    "directories, every tensor (name, dtype, shape, shard) and config.json's architecture.\n"
    "Tensor data is never read.\n"
    "\n"
    "  --json   print one JSON document instead of text\n";

enum { ARRAY_HEAD = 8 };

/* ---- GGUF ------------------------------------------------------------------------------- */

static json_t *kv_scalar_json(const struct gguf_kv *kv)
{
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    struct gguf_str s;
    switch (kv->type) {
    case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_U64:
        return gguf_kv_u64(kv, &u) ? json_null() : json_integer((json_int_t)u);
    case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
        return gguf_kv_i64(kv, &i) ? json_null() : json_integer((json_int_t)i);
    case GGUF_F32: case GGUF_F64:
        return gguf_kv_f64(kv, &f) ? json_null() : json_real(f);
    case GGUF_BOOL:
        return gguf_kv_bool(kv, &b) ? json_null() : json_boolean(b);
    case GGUF_STRING:
        return gguf_kv_str(kv, &s) ? json_null() : lm_json_string(s.p, (size_t)s.len);
    case GGUF_ARRAY: case GGUF_VTYPE_COUNT:
        break;
    }
    return json_null();
}

static json_t *arr_item_json(const struct gguf_kv *kv, uint64_t idx, const struct gguf_str *strs)
{
    uint64_t u;
    int64_t i;
    double f;
    switch (kv->arr_type) {
    case GGUF_U8: case GGUF_U16: case GGUF_U32: case GGUF_U64:
        return gguf_arr_u64(kv, idx, &u) ? json_null() : json_integer((json_int_t)u);
    case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64:
        return gguf_arr_i64(kv, idx, &i) ? json_null() : json_integer((json_int_t)i);
    case GGUF_F32: case GGUF_F64:
        return gguf_arr_f64(kv, idx, &f) ? json_null() : json_real(f);
    case GGUF_BOOL:
        return gguf_arr_u64(kv, idx, &u) ? json_null() : json_boolean(u != 0);
    case GGUF_STRING:
        return strs ? lm_json_string(strs[idx].p, (size_t)strs[idx].len) : json_null();
    case GGUF_ARRAY: case GGUF_VTYPE_COUNT:
        break;
    }
    return json_null();
}

static json_t *kv_json(const struct gguf_kv *kv, struct lm_err *err)
{
    json_t *o = json_object();
    json_object_set_new(o, "key", lm_json_string(kv->key.p, (size_t)kv->key.len));
    json_object_set_new(o, "type", json_string(gguf_vtype_name(kv->type)));
    if (kv->type != GGUF_ARRAY) {
        json_object_set_new(o, "value", kv_scalar_json(kv));
        return o;
    }
    struct gguf_str *strs = NULL;
    if (kv->arr_type == GGUF_STRING && gguf_arr_strs(kv, &strs, err)) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "item_type", json_string(gguf_vtype_name(kv->arr_type)));
    json_object_set_new(o, "length", json_integer((json_int_t)kv->arr_len));
    json_t *head = json_array();
    for (uint64_t i = 0; i < kv->arr_len && i < ARRAY_HEAD; i++)
        json_array_append_new(head, arr_item_json(kv, i, strs));
    json_object_set_new(o, "head", head);
    free(strs);
    return o;
}

static json_t *shape_json(const uint64_t *ne, uint32_t n)
{
    json_t *a = json_array();
    for (uint32_t d = 0; d < n; d++)
        json_array_append_new(a, json_integer((json_int_t)ne[d]));
    return a;
}

static json_t *gguf_json(const char *path, const struct gguf *g, struct lm_err *err)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "path", lm_json_string(path, strlen(path)));
    json_object_set_new(doc, "format", json_string("gguf"));
    json_object_set_new(doc, "version", json_integer(gguf_version(g)));
    json_object_set_new(doc, "alignment", json_integer(gguf_alignment(g)));
    json_object_set_new(doc, "data_offset", json_integer((json_int_t)gguf_data_offset(g)));
    json_object_set_new(doc, "size", json_integer((json_int_t)gguf_file_size(g)));
    json_t *kvs = json_array();
    for (uint64_t i = 0; i < gguf_n_kv(g); i++) {
        json_t *o = kv_json(gguf_kv_at(g, i), err);
        if (!o) {
            json_decref(kvs);
            json_decref(doc);
            return NULL;
        }
        json_array_append_new(kvs, o);
    }
    json_object_set_new(doc, "kv", kvs);
    json_t *ts = json_array();
    for (uint64_t i = 0; i < gguf_n_tensors(g); i++) {
        const struct gguf_tensor *t = gguf_tensor_at(g, i);
        json_t *o = json_object();
        json_object_set_new(o, "name", lm_json_string(t->name, strlen(t->name)));
        json_object_set_new(o, "type", json_string(lm_type_get(t->type)->name));
        json_object_set_new(o, "type_id", json_integer(t->type));
        json_object_set_new(o, "shape", shape_json(t->ne, t->n_dims));
        json_object_set_new(o, "offset", json_integer((json_int_t)t->offset));
        json_object_set_new(o, "file_offset",
                            json_integer((json_int_t)(gguf_data_offset(g) + t->offset)));
        json_object_set_new(o, "nbytes", json_integer((json_int_t)t->nbytes));
        json_array_append_new(ts, o);
    }
    json_object_set_new(doc, "tensors", ts);
    return doc;
}

static void print_shape(const uint64_t *ne, uint32_t n)
{
    for (uint32_t d = 0; d < n; d++)
        printf("%s%llu", d ? " x " : "", (unsigned long long)ne[d]);
}

/* Text view: the JSON document drawn as aligned columns, so both views say the same. */
static void print_value(json_t *v)
{
    char q[LM_QUOTE_MAX * 4 + 8];
    if (json_is_string(v)) {
        printf("'%s'", lm_quote(json_string_value(v), json_string_length(v), q, sizeof(q)));
    } else {
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        fputs(s ? s : "?", stdout);
        free(s);
    }
}

static void gguf_text(const struct gguf *g, json_t *doc)
{
    printf("format:      GGUF v%u\n", gguf_version(g));
    printf("alignment:   %u\n", gguf_alignment(g));
    printf("data offset: %llu\n", (unsigned long long)gguf_data_offset(g));
    printf("file size:   %llu\n", (unsigned long long)gguf_file_size(g));
    printf("\nmetadata (%llu keys):\n", (unsigned long long)gguf_n_kv(g));
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(doc, "kv"), i, kv) {
        char q[LM_QUOTE_MAX * 4 + 8];
        json_t *key = json_object_get(kv, "key");
        printf("  %-44s ", lm_quote(json_string_value(key), json_string_length(key), q, sizeof(q)));
        const char *type = json_string_value(json_object_get(kv, "type"));
        if (strcmp(type, "ARRAY") == 0) {
            json_t *head = json_object_get(kv, "head"), *v;
            long long len = (long long)json_integer_value(json_object_get(kv, "length"));
            printf("ARRAY[%s] %lld [", json_string_value(json_object_get(kv, "item_type")), len);
            size_t k;
            json_array_foreach(head, k, v) {
                if (k)
                    fputs(", ", stdout);
                print_value(v);
            }
            printf("%s]\n", (long long)json_array_size(head) < len ? ", ..." : "");
        } else {
            printf("%-8s ", type);
            print_value(json_object_get(kv, "value"));
            putchar('\n');
        }
    }
    printf("\ntensors (%llu):\n", (unsigned long long)gguf_n_tensors(g));
    printf("  %-40s %-6s %-24s %12s %12s\n", "NAME", "TYPE", "SHAPE", "OFFSET", "BYTES");
    for (uint64_t t = 0; t < gguf_n_tensors(g); t++) {
        const struct gguf_tensor *ti = gguf_tensor_at(g, t);
        char shape[96] = "";
        size_t o = 0;
        for (uint32_t d = 0; d < ti->n_dims && o < sizeof(shape); d++)
            o += (size_t)snprintf(shape + o, sizeof(shape) - o, "%s%llu", d ? " x " : "",
                                  (unsigned long long)ti->ne[d]);
        printf("  %-40s %-6s %-24s %12llu %12llu\n", ti->name, lm_type_get(ti->type)->name, shape,
               (unsigned long long)ti->offset, (unsigned long long)ti->nbytes);
    }
}

static int inspect_gguf(const char *path, bool as_json)
{
    struct lm_err err;
    lm_err_clear(&err);
    struct gguf *g = gguf_open(path, &err);
    if (!g) {
        lm_report(&err);
        return LM_EXIT_FAIL;
    }
    json_t *doc = gguf_json(path, g, &err);
    int rc = LM_EXIT_OK;
    if (!doc) {
        lm_report(&err);
        rc = LM_EXIT_FAIL;
    } else if (as_json) {
        lm_json_print(doc);
    } else {
        gguf_text(g, doc);
        json_decref(doc);
    }
    gguf_close(g);
    return rc;
}

/* ---- safetensors ------------------------------------------------------------------------ */

static json_t *st_tensor_json(const struct st_tensor *t, const char *shard)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", lm_json_string(t->name, strlen(t->name)));
    json_object_set_new(o, "dtype", json_string(st_dtype_name(t->dtype)));
    json_object_set_new(o, "shape", shape_json(t->shape, t->n_dims));
    json_object_set_new(o, "shard", lm_json_string(shard, strlen(shard)));
    json_object_set_new(o, "offset", json_integer((json_int_t)t->file_off));
    json_object_set_new(o, "nbytes", json_integer((json_int_t)(t->end - t->begin)));
    return o;
}

static void st_text_row(const struct st_tensor *t, const char *shard)
{
    char q[LM_QUOTE_MAX * 4 + 8];
    printf("  %-48s %-8s ", lm_quote(t->name, strlen(t->name), q, sizeof(q)),
           st_dtype_name(t->dtype));
    if (t->n_dims == 0)
        fputs("scalar", stdout);
    else
        print_shape(t->shape, t->n_dims);
    printf("  %s\n", shard);
}

static int inspect_safetensors(const char *path, bool as_json)
{
    struct lm_err err;
    lm_err_clear(&err);
    struct safetensors *s = st_open(path, &err);
    if (!s) {
        lm_report(&err);
        return LM_EXIT_FAIL;
    }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (as_json) {
        json_t *doc = json_object(), *ts = json_array();
        json_object_set_new(doc, "path", lm_json_string(path, strlen(path)));
        json_object_set_new(doc, "format", json_string("safetensors"));
        json_object_set_new(doc, "header_length", json_integer((json_int_t)st_header_len(s)));
        for (size_t i = 0; i < st_n_tensors(s); i++)
            json_array_append_new(ts, st_tensor_json(st_tensor_at(s, i), base));
        json_object_set_new(doc, "tensors", ts);
        lm_json_print(doc);
    } else {
        printf("format:  safetensors\nheader:  %llu bytes\n\ntensors (%zu):\n",
               (unsigned long long)st_header_len(s), st_n_tensors(s));
        for (size_t i = 0; i < st_n_tensors(s); i++)
            st_text_row(st_tensor_at(s, i), base);
    }
    st_close(s);
    return LM_EXIT_OK;
}

static int inspect_dir(const char *path, bool as_json)
{
    struct lm_err err;
    lm_err_clear(&err);
    struct hf_checkpoint *c = hf_checkpoint_open(path, &err);
    if (!c) {
        lm_report(&err);
        return LM_EXIT_FAIL;
    }
    const char *arch = hf_checkpoint_architecture(c);
    size_t n = hf_checkpoint_n_tensors(c);
    if (as_json) {
        json_t *doc = json_object(), *shards = json_array(), *ts = json_array();
        json_object_set_new(doc, "path", lm_json_string(path, strlen(path)));
        json_object_set_new(doc, "format", json_string("hf-checkpoint"));
        json_object_set_new(doc, "architecture", arch ? lm_json_string(arch, strlen(arch))
                                                      : json_null());
        for (size_t i = 0; i < hf_checkpoint_n_shards(c); i++) {
            const char *sn = hf_checkpoint_shard_name(c, i);
            json_array_append_new(shards, lm_json_string(sn, strlen(sn)));
        }
        json_object_set_new(doc, "shards", shards);
        for (size_t i = 0; i < n; i++) {
            const struct hf_tensor *t = hf_checkpoint_tensor_at(c, i);
            json_array_append_new(ts, st_tensor_json(t->t, hf_checkpoint_shard_name(c, t->shard)));
        }
        json_object_set_new(doc, "tensors", ts);
        lm_json_print(doc);
    } else {
        char q[LM_QUOTE_MAX * 4 + 8];
        printf("format:       Hugging Face checkpoint\n");
        printf("architecture: %s\n", arch ? lm_quote(arch, strlen(arch), q, sizeof(q)) : "(none)");
        printf("shards:       %zu\n\ntensors (%zu):\n", hf_checkpoint_n_shards(c), n);
        for (size_t i = 0; i < n; i++) {
            const struct hf_tensor *t = hf_checkpoint_tensor_at(c, i);
            st_text_row(t->t, hf_checkpoint_shard_name(c, t->shard));
        }
    }
    hf_checkpoint_close(c);
    return LM_EXIT_OK;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* GGUF by extension or magic (either byte order, so a big-endian file gets its own error). */
static bool looks_like_gguf(const char *path)
{
    if (ends_with(path, ".gguf"))
        return true;
    if (ends_with(path, ".safetensors"))
        return false;
    char magic[4] = { 0 };
    FILE *f = fopen(path, "rb");
    if (!f)
        return true;   /* let the reader report the open error */
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && (memcmp(magic, "GGUF", 4) == 0 || memcmp(magic, "FUGG", 4) == 0);
}

int cmd_inspect(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(usage);
    bool as_json = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            lm_errorf("inspect: unknown option '%s'", argv[i]);
            return cmd_usage(usage);
        } else if (path) {
            return cmd_usage(usage);
        } else {
            path = argv[i];
        }
    }
    if (!path)
        return cmd_usage(usage);
    struct stat st;
    if (stat(path, &st) < 0) {
        lm_errorf("%s: %s", path, strerror(errno));
        return LM_EXIT_FAIL;
    }
    if (S_ISDIR(st.st_mode))
        return inspect_dir(path, as_json);
    return looks_like_gguf(path) ? inspect_gguf(path, as_json) : inspect_safetensors(path, as_json);
}
