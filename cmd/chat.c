/* chat.c: `lm run MODEL` on a terminal without a prompt, an interactive chat as `ollama run`. */
#define _GNU_SOURCE   /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "../runtime/runtime.h"
#include "../common/banned.h"

#define LINE_MAX_BYTES (1u << 20)      /* one typed line */
#define INPUT_MAX_BYTES (16u << 20)    /* one message, """ blocks included */

static const char help[] =
    "Available Commands:\n"
    "  /set parameter NAME VALUE   set a parameter (temperature, top_k, num_predict, stop ...)\n"
    "  /set system TEXT            set the system message\n"
    "  /show info                  show the model\n"
    "  /show parameters            show the parameters in force\n"
    "  /show template              show the chat template\n"
    "  /show system                show the system message\n"
    "  /show modelfile             show a Modelfile of the model with this session's changes\n"
    "  /show license               show the model's licenses\n"
    "  /clear                      forget the conversation so far\n"
    "  /bye                        leave (Ctrl-D too)\n"
    "  /?, /help                   this help\n"
    "\n"
    "Use \"\"\" to begin and end a message of several lines. Ctrl-C stops an answer.\n\n";

/* Typed input: lines from the terminal, or what was typed ahead. */
struct reader {
    struct lm_buf pending;    /* bytes read past the last line handed out */
};

/* Any thread may take the signal (the runtime's workers too), so a blocked read is not
 * always interrupted: the handler also writes to a pipe that read_line polls with stdin. */
static int sigpipe[2] = { -1, -1 };

static void on_sigint(int sig)
{
    int saved = errno;
    (void)sig;
    cmd_run_cancel = 1;
    if (sigpipe[1] >= 0 && write(sigpipe[1], "", 1) < 0) {
        /* full: a Ctrl-C is pending already */
    }
    errno = saved;
}

static void drain_sigpipe(void)
{
    char b[64];
    while (read(sigpipe[0], b, sizeof(b)) > 0) {
    }
}

/* The next line without its newline: 1, 0 at end of input, -2 when Ctrl-C interrupted it. */
static int read_line(struct reader *rd, struct lm_buf *line)
{
    line->len = 0;
    for (;;) {
        char *nl = rd->pending.len ? memchr(rd->pending.data, '\n', rd->pending.len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - rd->pending.data);
            if (lm_buf_add(line, rd->pending.data, n) < 0 || lm_buf_add(line, "", 1) < 0)
                line->len = 1;   /* too long: dropped */
            line->len--;
            memmove(rd->pending.data, nl + 1, rd->pending.len - n - 1);
            rd->pending.len -= n + 1;
            return 1;
        }
        char chunk[4096];
        struct pollfd p[2] = { { STDIN_FILENO, POLLIN, 0 }, { sigpipe[0], POLLIN, 0 } };
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return 0;
        if (cmd_run_cancel || (p[1].revents & POLLIN)) {
            drain_sigpipe();
            cmd_run_cancel = 0;
            rd->pending.len = 0;
            return -2;
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        ssize_t got = read(STDIN_FILENO, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0 && rd->pending.len == 0)
            return 0;
        if (got <= 0)   /* Ctrl-D after some text: that text is the line */
            return lm_buf_add(&rd->pending, "\n", 1) < 0 ? 0 : read_line(rd, line);
        if (lm_buf_add(&rd->pending, chunk, (size_t)got) < 0)
            rd->pending.len = 0;
    }
}

/* A message typed between """ and """ (the first line's text after """ included). */
static int read_block(struct reader *rd, struct lm_buf *line, struct lm_buf *msg)
{
    const char *start = line->data + 3;
    bool first = true;
    msg->len = 0;
    for (;;) {
        size_t n = first ? strlen(start) : line->len;
        const char *s = first ? start : line->data;
        bool end = n >= 3 && memcmp(s + n - 3, "\"\"\"", 3) == 0;
        if (lm_buf_add(msg, s, end ? n - 3 : n) < 0)
            return -1;
        if (end)
            return 1;
        if (lm_buf_add(msg, "\n", 1) < 0)
            return -1;
        fputs("... ", stdout);
        fflush(stdout);
        int rc = read_line(rd, line);
        if (rc <= 0)
            return rc;
        first = false;
    }
}

static void show_parameters(const struct lm_modelfile *mf)
{
    if (mf->n_params == 0) {
        printf("No parameters were specified for this model.\n\n");
        return;
    }
    printf("Parameters:\n");
    for (size_t i = 0; i < mf->n_params; i++) {
        const struct lm_mf_param *p = &mf->params[i];
        switch (p->type) {
        case LM_PARAM_INT:
            printf("%-30s %lld\n", p->name, (long long)p->i);
            break;
        case LM_PARAM_FLOAT:
            printf("%-30s %g\n", p->name, p->f);
            break;
        case LM_PARAM_BOOL:
            printf("%-30s %s\n", p->name, p->i ? "true" : "false");
            break;
        case LM_PARAM_STRINGS:
            for (size_t k = 0; k < p->n_strs; k++)
                printf("%-30s \"%s\"\n", p->name, p->strs[k]);
            break;
        }
    }
    printf("\n");
}

static void show_modelfile(const struct lm_modelfile *mf)
{
    struct lm_buf out = LM_BUF_INIT(4 * (size_t)LM_MODELFILE_MAX);
    struct lm_err err;
    lm_err_clear(&err);
    if (lm_modelfile_format(mf, &out, &err) < 0)
        lm_report(&err);
    else
        fwrite(out.data, 1, out.len, stdout);
    printf("\n");
    lm_buf_release(&out);
}

static void show(const struct cmd_run *r, const char *what)
{
    const struct lm_modelfile *mf = cmd_run_modelfile(r);
    if (strcmp(what, "info") == 0) {
        cmd_run_print_info(r);
    } else if (strcmp(what, "parameters") == 0) {
        show_parameters(mf);
    } else if (strcmp(what, "template") == 0) {
        cmd_run_print_template(r);
        printf("\n");
    } else if (strcmp(what, "system") == 0) {
        if (mf->system)
            printf("%s\n\n", mf->system);
        else
            printf("No system message was specified for this model.\n\n");
    } else if (strcmp(what, "modelfile") == 0) {
        show_modelfile(mf);
    } else if (strcmp(what, "license") == 0) {
        for (size_t i = 0; i < mf->n_licenses; i++)
            printf("%s\n\n", mf->licenses[i]);
        if (mf->n_licenses == 0)
            printf("No license was specified for this model.\n\n");
    } else {
        printf("Unknown command '/show %s'. Type /? for help\n\n", what);
    }
}

/* /set parameter NAME VALUE, /set system TEXT. */
static void set(struct cmd_run *r, char *args)
{
    struct lm_err err;
    lm_err_clear(&err);
    if (strncmp(args, "parameter ", 10) == 0 || strcmp(args, "parameter") == 0) {
        char *name = args + 9 + (args[9] != 0), *value = strchr(name, ' ');
        if (!value || !value[1]) {
            printf("Usage: /set parameter NAME VALUE\n\n");
            return;
        }
        *value++ = 0;
        if (cmd_run_set_param(r, name, value, &err) < 0) {
            fflush(stdout);
            lm_report(&err);
            printf("\n");
        } else {
            printf("Set parameter '%s' to '%s'\n\n", name, value);
        }
    } else if (strncmp(args, "system ", 7) == 0 || strcmp(args, "system") == 0) {
        if (cmd_run_set_system(r, args[6] ? args + 7 : "", &err) < 0)
            lm_report(&err);
        else
            printf("Set system message.\n\n");
    } else {
        printf("Unknown command '/set %s'. Type /? for help\n\n", args);
    }
}

/* A /command: 1 to go on, 0 to leave. */
static int command(struct cmd_run *r, struct lm_chat *chat, char *line)
{
    if (strcmp(line, "/bye") == 0)
        return 0;
    if (strcmp(line, "/clear") == 0) {
        lm_chat_truncate(chat, 0);
        printf("Cleared session context\n\n");
    } else if (strcmp(line, "/?") == 0 || strcmp(line, "/help") == 0) {
        fputs(help, stdout);
    } else if (strncmp(line, "/set ", 5) == 0) {
        set(r, line + 5);
    } else if (strncmp(line, "/show ", 6) == 0) {
        show(r, line + 6);
    } else {
        printf("Unknown command '%s'. Type /? for help\n\n", line);
    }
    return 1;
}

/* One turn: the user's message and the answer join the history; a failed or stopped answer
 * leaves the history as it was, less the old messages that no longer fit the context. */
static void turn(struct cmd_run *r, struct lm_chat *chat, const struct lm_buf *msg)
{
    struct lm_buf reply = LM_BUF_INIT(LM_CHAT_MAX_BYTES);
    struct lm_err err;
    size_t n = chat->n;
    int dropped = 0;
    lm_err_clear(&err);
    bool ok = lm_chat_add(chat, "user", msg->data, msg->len, &err) == 0 &&
              (dropped = cmd_run_fit_history(r, chat, &err)) >= 0;
    if (ok) {
        n -= (size_t)dropped;
        ok = cmd_run_answer(r, chat, &reply, &err) == 0;
    }
    if (!ok) {
        fflush(stdout);
        lm_report(&err);
        lm_chat_truncate(chat, n);
    } else if (cmd_run_cancel) {
        lm_chat_truncate(chat, n);
    } else if (lm_buf_add(&reply, "", 1) < 0 ||
               lm_chat_add(chat, "assistant", reply.data, reply.len - 1, &err) < 0) {
        lm_report(&err);
        lm_chat_truncate(chat, n);
    }
    cmd_run_cancel = 0;
    printf("\n");
    lm_buf_release(&reply);
}

int cmd_chat(struct cmd_run *r)
{
    struct sigaction sa = { .sa_handler = on_sigint }, old;   /* no SA_RESTART: read stops */
    struct reader rd = { LM_BUF_INIT(LINE_MAX_BYTES) };
    struct lm_buf line = LM_BUF_INIT(LINE_MAX_BYTES), msg = LM_BUF_INIT(INPUT_MAX_BYTES);
    struct lm_chat chat;
    lm_chat_init(&chat);
    if (pipe2(sigpipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        lm_errorf("pipe: %s", strerror(errno));
        return LM_EXIT_FAIL;
    }
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    for (;;) {
        cmd_run_cancel = 0;   /* a Ctrl-C before the prompt shows stops nothing */
        drain_sigpipe();
        fputs(">>> ", stdout);
        fflush(stdout);
        int rc = read_line(&rd, &line);
        if (rc == -2) {
            printf("\nUse Ctrl + d or /bye to exit.\n");
            continue;
        }
        if (rc == 0) {
            printf("\n");
            break;
        }
        if (line.len == 0 || strspn(line.data, " \t") == line.len)
            continue;
        if (line.data[0] == '/') {
            if (!command(r, &chat, line.data))
                break;
            continue;
        }
        if (strncmp(line.data, "\"\"\"", 3) == 0) {
            rc = read_block(&rd, &line, &msg);
            if (rc == -2) {
                printf("\nUse Ctrl + d or /bye to exit.\n");
                continue;
            }
            if (rc <= 0)
                break;
        } else {
            msg.len = 0;
            if (lm_buf_add(&msg, line.data, line.len) < 0)
                continue;
        }
        if (lm_buf_add(&msg, "", 1) == 0)
            msg.len--;
        turn(r, &chat, &msg);
    }
    sigaction(SIGINT, &old, NULL);
    close(sigpipe[0]);
    close(sigpipe[1]);
    sigpipe[0] = sigpipe[1] = -1;
    lm_chat_release(&chat);
    lm_buf_release(&line);
    lm_buf_release(&msg);
    lm_buf_release(&rd.pending);
    return LM_EXIT_OK;
}
