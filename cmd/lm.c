/* lm.c: main, global options and the only command table. */
#include <errno.h>
#include <string.h>

#include "cmd.h"
#include "../common/banned.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    { "inspect", cmd_inspect, "show the metadata and tensors of a GGUF or safetensors model" },
    { "convert", cmd_convert, "convert a Hugging Face safetensors checkpoint to GGUF" },
    { "quantize", cmd_quantize, "quantize a GGUF model, byte for byte as llama-quantize" },
    { "tokenize", cmd_tokenize, "split text into a model's tokens, as llama.cpp does" },
    { "detokenize", cmd_detokenize, "turn token ids back into text" },
    { "template", cmd_template, "show the prompt a chat template makes of a conversation" },
    { "run",     cmd_run,     "generate text from a model on the CPU" },
    { "create",  cmd_create,  "make a model from a Modelfile (FROM, PARAMETER, TEMPLATE, SYSTEM ...)" },
    { "pull",    cmd_pull,    "fetch a model from the Hugging Face Hub, verified as it arrives" },
    { "import",  cmd_import,  "add a checkpoint directory, GGUF file or HF cache snapshot to the store" },
    { "export",  cmd_export,  "write models to a bundle for an air-gapped machine (lm import reads it)" },
    { "list",    cmd_list,    "list the models in the store" },
    { "show",    cmd_show,    "show a model's details, files, provenance and derivations" },
    { "rm",      cmd_rm,      "remove models from the store" },
    { "cp",      cmd_cp,      "give a model another name" },
    { "gc",      cmd_gc,      "remove unused blobs and stale temporary files" },
    { "verify",  cmd_verify,  "re-hash every blob and check the index and audit log" },
    { "audit",   cmd_audit,   "report where each model's bytes came from and whether they check" },
    { "sign",    cmd_sign,    "sign a model directory (OpenSSF Model Signing, key method)" },
    { "log",     cmd_log,     "print the store's audit log and check its hash chain" },
    { "help",    cmd_help,    "show help for lm or one command" },
    { "version", cmd_version, "print the version" },
};

static const char main_usage[] =
    "usage: lm [-v] [--quiet] COMMAND [ARGS...]\n"
    "       lm --version | lm help [COMMAND]\n";

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_commands(FILE *f)
{
    fputs(main_usage, f);
    fputs("\ncommands:\n", f);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\nRun 'lm COMMAND --help' for a command's options.\n", f);
}

bool cmd_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return true;
    }
    return false;
}

int cmd_usage(const char *usage)
{
    fputs(usage, stderr);
    return LM_EXIT_USAGE;
}

int cmd_help_text(const char *usage)
{
    fputs(usage, stdout);
    return LM_EXIT_OK;
}

int cmd_help(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text("usage: lm help [COMMAND]\n");
    if (argc > 2)
        return cmd_usage("usage: lm help [COMMAND]\n");
    if (argc == 2) {
        const struct command *c = find_command(argv[1]);
        if (!c) {
            lm_errorf("unknown command '%s'; see 'lm help'", argv[1]);
            return LM_EXIT_USAGE;
        }
        char *sub[] = { (char *)c->name, "--help", NULL };
        return c->fn(2, sub);
    }
    print_commands(stdout);
    return LM_EXIT_OK;
}

int cmd_version(int argc, char **argv)
{
    if (cmd_wants_help(argc, argv))
        return cmd_help_text("usage: lm version\n");
    if (argc > 1)
        return cmd_usage("usage: lm version\n");
    printf("lm %s\n", LM_VERSION);
    return LM_EXIT_OK;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--version") == 0) {
            char *v[] = { "version", NULL };
            return cmd_version(1, v);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            print_commands(stdout);
            return LM_EXIT_OK;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            lm_quiet = true;
        } else if (a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
            lm_verbose += (int)strlen(a + 1);
        } else {
            lm_errorf("unknown option '%s'", a);
            fputs(main_usage, stderr);
            return LM_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_commands(stderr);
        return LM_EXIT_USAGE;
    }
    const struct command *c = find_command(argv[i]);
    if (!c) {
        lm_errorf("unknown command '%s'; see 'lm help'", argv[i]);
        return LM_EXIT_USAGE;
    }
    /* Global flags are also accepted after the command name. */
    int n = 0;
    char **sub = argv + i;
    int sub_argc = argc - i;
    for (int k = 0; k < sub_argc; k++) {
        const char *a = sub[k];
        if (k > 0 && (strcmp(a, "--quiet") == 0)) {
            lm_quiet = true;
            continue;
        }
        if (k > 0 && a[0] == '-' && a[1] == 'v' && strspn(a + 1, "v") == strlen(a + 1)) {
            lm_verbose += (int)strlen(a + 1);
            continue;
        }
        sub[n++] = sub[k];
    }
    sub[n] = NULL;
    static char progname[64];
    snprintf(progname, sizeof(progname), "lm");
    lm_progname = progname;
    /* Ctrl-C (or SIGTERM, SIGHUP) in any command removes the temp files it was writing, in the
     * store and beside output files, then ends lm as the signal would. */
    lm_cleanup_on_signal();
    int rc = c->fn(n, sub);
    if (fflush(stdout) || ferror(stdout)) {   /* full disk, closed pipe */
        lm_errorf("write error on stdout: %s", strerror(errno));
        return LM_EXIT_FAIL;
    }
    return rc;
}
