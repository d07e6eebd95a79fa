/* convert.c: `lm convert`, a Hugging Face safetensors checkpoint to the GGUF llama.cpp's converter
 * writes. */
#include <string.h>

#include "cmd.h"
#include "../convert/convert.h"
#include "../common/banned.h"

static const char usage[] =
    "usage: lm convert DIR [-o FILE.gguf] [--outtype f32|f16|bf16|q8_0|auto]\n"
    "\n"
    "Converts a Hugging Face checkpoint directory (config.json, model.safetensors or sharded\n"
    "model-*.safetensors with model.safetensors.index.json, tokenizer files) to GGUF, tensor for\n"
    "tensor what llama.cpp's convert_hf_to_gguf.py writes: same names, order, types, bytes and\n"
    "metadata. Tensors are streamed one at a time; the output appears only when complete.\n"
    "\n"
    "  -o, --output FILE   the GGUF to write (default: DIRNAME-OUTTYPE.gguf here)\n"
    "  --outtype T         f32, f16, bf16, q8_0, or auto (default): bf16 or f16 as the first\n"
    "                      matrix in the checkpoint, else f16. Norms and biases stay F32; with\n"
    "                      q8_0, rows that are not a multiple of 32 become F16\n";

struct args {
    const char *dir, *out;
    enum convert_outtype outtype;
};

static int parse(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof(*a));
    a->outtype = CONVERT_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(s, "-o") == 0 || strcmp(s, "--output") == 0) {
            if (!val)
                return cmd_usage(usage);
            a->out = val;
            i++;
        } else if (strcmp(s, "--outtype") == 0) {
            if (!val || convert_outtype_parse(val, &a->outtype)) {
                lm_errorf("--outtype: '%s' is not f32, f16, bf16, q8_0 or auto", val ? val : "");
                return LM_EXIT_USAGE;
            }
            i++;
        } else if (strncmp(s, "--outtype=", 10) == 0) {
            if (convert_outtype_parse(s + 10, &a->outtype)) {
                lm_errorf("--outtype: '%s' is not f32, f16, bf16, q8_0 or auto", s + 10);
                return LM_EXIT_USAGE;
            }
        } else if (s[0] == '-' && s[1]) {
            lm_errorf("unknown option '%s'", s);
            return cmd_usage(usage);
        } else if (!a->dir) {
            a->dir = s;
        } else {
            return cmd_usage(usage);
        }
    }
    return a->dir ? LM_EXIT_OK : cmd_usage(usage);
}

int cmd_convert(int argc, char **argv)
{
    struct args a;
    struct lm_err err;
    char out[4096], name[256], size[32];
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(usage);
    int rc = parse(argc, argv, &a);
    if (rc != LM_EXIT_OK)
        return rc;
    lm_err_clear(&err);
    struct convert_opts o = { .outtype = a.outtype };
    struct convert *c = convert_open(a.dir, &o, &err);
    if (!c) {
        lm_report(&err);
        return LM_EXIT_FAIL;
    }
    const struct convert_info *info = convert_get_info(c);
    if (a.out) {
        snprintf(out, sizeof(out), "%s", a.out);
    } else {
        convert_folder_name(a.dir, name, sizeof(name));
        snprintf(out, sizeof(out), "%.200s-%s.gguf", name, convert_outtype_name(info->outtype));
    }
    struct lm_progress p;
    lm_progress_begin(&p, "converting", info->data_size);
    rc = convert_write(c, out, &p, &err);
    lm_progress_end(&p);
    if (rc) {
        lm_report(&err);
        convert_close(c);
        return LM_EXIT_FAIL;
    }
    lm_fmt_bytes(info->file_size, size, sizeof(size));
    printf("%s: %s, %llu tensors, %s, %s\n", out, info->arch, (unsigned long long)info->n_tensors,
           convert_outtype_name(info->outtype), size);
    convert_close(c);
    return LM_EXIT_OK;
}
