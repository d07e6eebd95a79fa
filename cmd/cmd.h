/* cmd: the command-line front end. Each command is `int cmd_X(int argc, char **argv)` returning
 * its exit status (0 ok, 1 failure, 2 usage); argv[0] is the command name. Only cmd/ prints. */
#ifndef LM_CMD_H
#define LM_CMD_H

#include "../common/common.h"

enum { LM_EXIT_OK = 0, LM_EXIT_FAIL = 1, LM_EXIT_USAGE = 2 };

int cmd_help(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_convert(int argc, char **argv);
/* store commands (cmd/store.c) */
int cmd_import(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_log(int argc, char **argv);
/* bundles (cmd/bundle.c): lm export; lm import hands FILE.tar[.*] and - to cmd_import_bundle */
int cmd_export(int argc, char **argv);
bool cmd_import_is_bundle(int argc, char **argv);
int cmd_import_bundle(int argc, char **argv);
/* signatures (cmd/sign.c): lm sign; lm verify --sig, which cmd_verify hands over to */
int cmd_sign(int argc, char **argv);
int cmd_verify_sig(int argc, char **argv);
bool cmd_verify_is_sig(int argc, char **argv);
int cmd_verify_rebuild(int argc, char **argv);   /* lm verify --rebuild (cmd/rebuild.c) */
int cmd_audit(int argc, char **argv);            /* cmd/audit.c */

/* Shared option handling: true if argv[i] is -h/--help (the command prints its usage). */
bool cmd_wants_help(int argc, char **argv);
/* Print "usage: ..." to stderr and return 2. */
int cmd_usage(const char *usage);
/* Print usage text to stdout for --help and return 0. */
int cmd_help_text(const char *usage);
/* Open MODEL for reading: a GGUF file if one is at that path (or the argument looks like a
 * path), else the GGUF of that model name in the store. `path` gets the file used. */
struct gguf;
struct gguf *cmd_open_gguf(const char *arg, char *path, size_t path_len, struct lm_err *err);

#endif
