/* cmd: the command-line front end. Each command is `int cmd_X(int argc, char **argv)` returning
 * its exit status (0 ok, 1 failure, 2 usage); argv[0] is the command name. Only cmd/ prints. */
#ifndef LM_CMD_H
#define LM_CMD_H

#include <signal.h>

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
int cmd_create(int argc, char **argv);           /* cmd/create.c: lm create -f Modelfile */

/* ---- lm run's model, lm create's layers, the interactive chat ---------------------------- */
struct lm_modelfile;
struct lm_chat;
struct lm_store;
struct lm_model;
/* The Modelfile parts a store model carries (params, template, system, messages, license
 * layers; from = its name) into mf. A GGUF path, or a name the store does not have, gives an
 * mf with only from = MODEL, and 0 (opening the model reports a missing one). cmd/create.c. */
int cmd_modelfile_load(const char *model, struct lm_modelfile *mf, struct lm_err *err);
/* lm show NAME --modelfile: print a Modelfile that re-creates m. */
int cmd_show_modelfile(struct lm_store *s, const struct lm_model *m);
/* A store model's files as a temporary directory of links to its blobs (cmd/convert.c), for
 * converting it; *made says whether there is a directory to drop, even after a failure. */
int cmd_convert_view(const struct lm_model *m, char *dir, size_t n, bool *made,
                     struct lm_err *err);
void cmd_convert_view_drop(const struct lm_model *m, const char *dir);

/* A model loaded by lm run with its settings: the command line over the model's Modelfile. */
struct cmd_run;
/* Set (by a SIGINT handler) to stop the answer being generated; the caller clears it. */
extern volatile sig_atomic_t cmd_run_cancel;
/* Answer a conversation (the Modelfile's SYSTEM and MESSAGEs go first) through the model's
 * template: the reply streams to stdout and is appended to reply, cut at end-of-generation
 * tokens, stop strings, num_predict, a full context or cmd_run_cancel. */
int cmd_run_answer(struct cmd_run *r, const struct lm_chat *chat, struct lm_buf *reply,
                   struct lm_err *err);
/* A conversation whose prompt no longer fits the context loses its oldest messages, as in
 * ollama: the system prompt and the Modelfile's messages stay, the newest message always
 * stays, and what is kept starts at a user message. Returns how many were dropped, or -1. */
int cmd_run_fit_history(struct cmd_run *r, struct lm_chat *chat, struct lm_err *err);
/* The Modelfile in force: the model's, with what /set changed. */
const struct lm_modelfile *cmd_run_modelfile(const struct cmd_run *r);
/* /set parameter NAME VALUE (it wins over the command line from then on), /set system TEXT
 * ("" removes it). */
int cmd_run_set_param(struct cmd_run *r, const char *name, const char *value,
                      struct lm_err *err);
int cmd_run_set_system(struct cmd_run *r, const char *text, struct lm_err *err);
/* For /show info and /show template: lines describing the model and its template. */
void cmd_run_print_info(const struct cmd_run *r);
void cmd_run_print_template(const struct cmd_run *r);
/* The interactive chat on a terminal (cmd/chat.c): returns the exit status. */
int cmd_chat(struct cmd_run *r);

/* Shared option handling: true if argv[i] is -h/--help (the command prints its usage). */
bool cmd_wants_help(int argc, char **argv);
/* Print "usage: ..." to stderr and return 2. */
int cmd_usage(const char *usage);
/* Print usage text to stdout for --help and return 0. */
int cmd_help_text(const char *usage);
/* A progress bar driven by the store's (done, total) reports; ctx is a struct lm_progress whose
 * label names it (cmd/store.c). */
void cmd_show_progress(void *ctx, uint64_t done, uint64_t total);
/* Open MODEL for reading: a GGUF file if one is at that path (or the argument looks like a
 * path), else the GGUF of that model name in the store. `path` gets the file used. */
struct gguf;
struct gguf *cmd_open_gguf(const char *arg, char *path, size_t path_len, struct lm_err *err);

#endif
