/* bundle.c: lm export, and lm import of a bundle (cmd/store.c's import hands bundles here). */
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "../store/store.h"
#include "../common/banned.h"

/* zstd level 1 with a worker per core: tensor bytes are close to random (quantized blocks) or
 * only their exponents compress (f16/bf16), so higher levels buy little: on bench-bundle's 2 GiB
 * store level 3 makes the bundle 1% smaller (0.802 of the blobs, not 0.811) at half the speed.
 * At 1 the export runs at disk speed and still saves what the exponent bytes give. */
#define EXPORT_LEVEL_DEFAULT 1

static const char export_usage[] =
    "usage: lm export NAME... -o FILE [--level N] [--threads N] [--signed-by KEY.pem]\n"
    "\n"
    "Write models to one bundle for carrying across an air gap: a pax tar, zstd-compressed,\n"
    "holding a manifest (each model's files, provenance and derivations, every blob's digest\n"
    "and size) and each blob once. `lm import FILE` checks all of it before it changes anything.\n"
    "\n"
    "  -o FILE             the bundle (FILE.tar.zst; FILE.tar for no compression; - = stdout)\n"
    "  --level N           zstd level 1..19 (default 1: tensor data hardly compresses); 0 = none\n"
    "  --threads N         compression threads (default: one per CPU)\n"
    "  --signed-by KEY.pem sign the manifest with an EC private key (P-256 or P-384)\n";

static const char import_bundle_usage[] =
    "usage: lm import FILE.tar.zst|FILE.tar|- [--force] [--require-signature PUB.pem]\n"
    "\n"
    "Add the models of a bundle made by `lm export` (any compression libarchive reads; - reads\n"
    "stdin). Every blob is hashed and checked against the bundle's manifest while it is staged;\n"
    "only when all of it checks out are the blobs moved into the store and the models added.\n"
    "\n"
    "  --force                   replace models whose names exist\n"
    "  --require-signature PUB   refuse a bundle not signed by this EC public key\n";

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && strcmp(s + n - k, suf) == 0;
}

/* FILE.tar, FILE.tar.zst (.gz, .xz ...), .tzst .tgz .txz .tbz2, or - (stdin); never a
 * directory (a checkpoint directory may be called anything). */
static bool is_bundle_path(const char *p)
{
    struct stat st;
    if (stat(p, &st) == 0 && S_ISDIR(st.st_mode))
        return false;
    const char *t = strstr(p, ".tar");
    if (strcmp(p, "-") == 0 || (t && (t[4] == 0 || (t[4] == '.' && !strchr(t + 5, '/')))))
        return true;
    return ends_with(p, ".tzst") || ends_with(p, ".tgz") || ends_with(p, ".txz") ||
           ends_with(p, ".tbz2");
}

bool cmd_import_is_bundle(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--as") == 0 || strcmp(argv[i], "--require-signature") == 0)
            i++;
        else if ((argv[i][0] != '-' || argv[i][1] == 0) && is_bundle_path(argv[i]))
            return true;
    }
    return false;
}

static struct lm_store *open_store(int argc, char **argv)
{
    struct lm_err err;
    lm_err_clear(&err);
    struct lm_store *s = lm_store_open(NULL, &err);
    if (!s) {
        lm_report(&err);
        return NULL;
    }
    lm_store_set_command(s, argc, argv);
    return s;
}

static int fail(struct lm_store *s, struct lm_progress *p, const struct lm_err *err)
{
    if (p->active)
        fputc('\n', stderr);   /* the error goes on a line of its own, under the bar */
    lm_report(err);
    lm_store_close(s);
    return LM_EXIT_FAIL;
}

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

int cmd_export(int argc, char **argv)
{
    const char **names = calloc((size_t)argc, sizeof(*names));
    const char *out = NULL;
    struct lm_bundle_export_opts o = { .level = -1 };
    uint64_t v;
    int rc = LM_EXIT_USAGE;
    if (cmd_wants_help(argc, argv)) {
        free(names);
        return cmd_help_text(export_usage);
    }
    if (!names)
        return LM_EXIT_FAIL;
    o.names = names;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool val = i + 1 < argc;
        if (strcmp(a, "-o") == 0 && val)
            out = argv[++i];
        else if (strcmp(a, "--level") == 0 && val && lm_parse_u64(argv[i + 1], 0, 19, &v) == 0)
            o.level = (int)v, i++;
        else if (strcmp(a, "--threads") == 0 && val &&
                 lm_parse_u64(argv[i + 1], 1, 256, &v) == 0)
            o.threads = (unsigned)v, i++;
        else if (strcmp(a, "--signed-by") == 0 && val)
            o.sign_key = argv[++i];
        else if (a[0] == '-')
            goto usage;
        else
            names[o.n_names++] = a;
    }
    if (!out || o.n_names == 0)
        goto usage;
    if (o.level < 0)
        o.level = ends_with(out, ".tar") ? 0 : EXPORT_LEVEL_DEFAULT;
    bool to_stdout = strcmp(out, "-") == 0;
    if (to_stdout && isatty(1)) {
        lm_errorf("refusing to write a bundle to a terminal; use -o FILE or a pipe");
        goto usage;
    }
    struct lm_store *s = open_store(argc, argv);
    if (!s) {
        free(names);
        return LM_EXIT_FAIL;
    }
    struct lm_progress prog = { .label = "export" };
    struct lm_bundle_result r;
    struct lm_afile f = { .fd = -1 };
    struct lm_err err;
    lm_err_clear(&err);
    lm_store_set_progress(s, cmd_show_progress, &prog);
    if (!to_stdout && lm_afile_open(&f, out, &err)) {
        free(names);
        return fail(s, &prog, &err);
    }
    /* A failed export leaves no file: the bundle is renamed into place only when complete. */
    if (lm_bundle_export(s, &o, to_stdout ? 1 : f.fd, to_stdout ? "stdout" : out, &r, &err) ||
        (!to_stdout && lm_afile_commit(&f, &err))) {
        if (!to_stdout)
            lm_afile_abort(&f);
        free(names);
        return fail(s, &prog, &err);
    }
    lm_progress_end(&prog);
    char b1[32], b2[32];
    lm_fmt_bytes(r.bytes, b1, sizeof(b1));
    lm_fmt_bytes(r.bytes_written, b2, sizeof(b2));
    /* With -o - the bundle is stdout: the summary goes to stderr. */
    fprintf(to_stdout ? stderr : stdout, "exported %zu model%s, %zu blob%s (%s) to %s: %s%s%.12s\n",
            r.n_models, plural(r.n_models), r.n_blobs, plural(r.n_blobs), b1,
            to_stdout ? "stdout" : out, b2, r.fingerprint[0] ? ", signed by key " : "",
            r.fingerprint);
    lm_bundle_result_release(&r);
    lm_store_close(s);
    free(names);
    return LM_EXIT_OK;
usage:
    free(names);
    return rc == LM_EXIT_USAGE ? cmd_usage(export_usage) : rc;
}

int cmd_import_bundle(int argc, char **argv)
{
    const char *path = NULL;
    struct lm_bundle_import_opts o = { 0 };
    char url[PATH_MAX + 16];
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(import_bundle_usage);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0)
            o.force = true;
        else if (strcmp(argv[i], "--require-signature") == 0 && i + 1 < argc)
            o.require_sig = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            return cmd_usage(import_bundle_usage);
        else if (!path)
            path = argv[i];
        else
            return cmd_usage(import_bundle_usage);
    }
    if (!path)
        return cmd_usage(import_bundle_usage);
    bool from_stdin = strcmp(path, "-") == 0;
    int fd = 0;
    if (from_stdin && isatty(0)) {
        lm_errorf("refusing to read a bundle from a terminal; pipe one in or name a file");
        return cmd_usage(import_bundle_usage);
    }
    struct lm_err err;
    lm_err_clear(&err);
    if (!from_stdin) {
        char abs[PATH_MAX];
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            lm_err_errno(&err, path, "open");
            lm_report(&err);
            return LM_EXIT_FAIL;
        }
        if (realpath(path, abs)) {
            snprintf(url, sizeof(url), "file://%s", abs);
            o.source_url = url;
        }
    }
    struct lm_store *s = open_store(argc, argv);
    if (!s) {
        if (!from_stdin)
            close(fd);
        return LM_EXIT_FAIL;
    }
    struct lm_progress prog = { .label = "import" };
    struct lm_bundle_result r;
    lm_store_set_progress(s, cmd_show_progress, &prog);
    int rc = lm_bundle_import(s, fd, from_stdin ? "stdin" : path, &o, &r, &err);
    if (!from_stdin)
        close(fd);
    if (rc)
        return fail(s, &prog, &err);
    lm_progress_end(&prog);
    char b1[32], b2[32];
    lm_fmt_bytes(r.bytes, b1, sizeof(b1));
    lm_fmt_bytes(r.bytes_written, b2, sizeof(b2));
    for (size_t i = 0; i < r.n_models; i++)
        printf("imported %s\n", r.names[i]);
    printf("%zu model%s, %zu blob%s (%s), %zu new (%s)%s%.12s\n", r.n_models, plural(r.n_models),
           r.n_blobs, plural(r.n_blobs), b1, r.n_new, b2,
           r.fingerprint[0] ? ", signed by key " : "", r.fingerprint);
    lm_bundle_result_release(&r);
    lm_store_close(s);
    return LM_EXIT_OK;
}
