/* test_chat_tty: `lm run MODEL` as an interactive chat on a pseudo-terminal, typed into as a
 * person would, asserting what the screen shows (carriage returns dropped). */
#include <errno.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "support/testutil.h"
#include "../common/banned.h"

#define SCREEN_MAX (4u << 20)
#define WAIT_S 60          /* for one expected text (ASan builds are slow) */

static pid_t child = -1;   /* killed by the teardown when an assert ends a test early */

struct tty {
    pid_t pid;
    int fd;
    char *screen;          /* everything shown so far, \r dropped */
    size_t len, seen;      /* seen: where the next expect() starts looking */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Read what is there within ms milliseconds; false at end of output. */
static bool pump(struct tty *t, int ms)
{
    struct pollfd p = { t->fd, POLLIN, 0 };
    if (poll(&p, 1, ms) <= 0)
        return true;
    char buf[8192];
    ssize_t n = read(t->fd, buf, sizeof(buf));
    if (n <= 0)
        return false;   /* EIO: the child closed the terminal */
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] != '\r' && t->len < SCREEN_MAX)
            t->screen[t->len++] = buf[i];
    t->screen[t->len] = 0;
    return true;
}

/* Wait until `want` appears after what earlier expects consumed; returns where it starts. */
static size_t expect(struct tty *t, const char *want)
{
    double end = now_s() + WAIT_S;
    for (;;) {
        char *at = strstr(t->screen + t->seen, want);
        if (at) {
            t->seen = (size_t)(at - t->screen) + strlen(want);
            return (size_t)(at - t->screen);
        }
        if (now_s() > end || !pump(t, 100)) {
            print_message("waited for '%s'; the screen ends with:\n%s\n", want,
                          t->screen + (t->len > 2000 ? t->len - 2000 : 0));
            fail();
        }
    }
}

static void type(struct tty *t, const char *s)
{
    size_t n = strlen(s);
    assert_int_equal(write(t->fd, s, n), (ssize_t)n);
}

/* Type each line and wait for the next prompt. */
static void converse(struct tty *t, const char *const *lines, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        type(t, lines[i]);
        expect(t, ">>> ");
    }
}

static void start(struct tty *t, char *const argv[])
{
    memset(t, 0, sizeof(*t));
    t->screen = calloc(1, SCREEN_MAX + 1);
    assert_non_null(t->screen);
    t->pid = forkpty(&t->fd, NULL, NULL, NULL);
    assert_true(t->pid >= 0);
    if (t->pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    child = t->pid;
}

static int finish(struct tty *t)
{
    int st;
    while (pump(t, 100))
        if (waitpid(t->pid, &st, WNOHANG) == t->pid)
            goto done;
    assert_int_equal(waitpid(t->pid, &st, 0), t->pid);
done:
    child = -1;
    close(t->fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The screen from `from` up to `to`, compared exactly. */
static void assert_screen(const struct tty *t, size_t from, size_t to, const char *want)
{
    char *got = strndup(t->screen + from, to - from);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

/* The lm binary, and the demo model's GGUF in model; skips the test if either is absent. */
static const char *demo_model(char *model, size_t n)
{
    const char *models = lm_models(), *bin = lm_bin();
    if (!models || !bin)
        skip();   /* LM_MODELS or LM_BIN absent */
    snprintf(model, n, "%s/stories260K/ref/gguf/stories260K-F32.gguf", models);
    if (access(model, R_OK) != 0)
        skip();
    return bin;
}

/* stories260K (the demo model, converted by llama.cpp) has no chat template: the conversation
 * is the prompts and answers as they are (Ollama's default {{ .Prompt }}). --ignore-eos and a
 * 32768-token context make an unlimited answer long enough to interrupt. */
static void test_chat_session(void **state)
{
    (void)state;
    char model[4096];
    const char *bin = demo_model(model, sizeof(model));
    char *argv[] = { (char *)bin, "run", "--ignore-eos", "--ctx", "32768", "-n", "24",
                     "--seed", "1", "-t", "2", model, NULL };
    struct tty t;
    start(&t, argv);

    size_t a = expect(&t, ">>> ");
    type(&t, "/set parameter temperature 0\n");
    expect(&t, ">>> ");
    type(&t, "Once upon a time\n");          /* question 1: 24 tokens, greedy */
    expect(&t, ">>> ");
    type(&t, "/set parameter num_predict -1\n");
    size_t b = expect(&t, ">>> ");
    assert_screen(&t, a, b,
                  ">>> /set parameter temperature 0\n"
                  "Set parameter 'temperature' to '0'\n\n"
                  ">>> Once upon a time\n"
                  ", there was a little girl named Lily. She loved to play outside in the p\n\n"
                  ">>> /set parameter num_predict -1\n"
                  "Set parameter 'num_predict' to '-1'\n\n");

    type(&t, "Lily\n");                      /* question 2: no limit, stopped by Ctrl-C */
    size_t c = expect(&t, "Lily\n") + 5;
    while (t.len < c + 40)                   /* some of the answer is on the screen */
        assert_true(pump(&t, 100));
    type(&t, "\003");
    size_t d = expect(&t, ">>> ");
    /* Stopped long before the context (32768 tokens, over 100 KB of text) was full. */
    assert_true(d - c < 20000);
    assert_memory_equal(t.screen + d - 4, "^C\n\n", 4);

    /* The chat goes on without the stopped turn: question 3 follows question 1's answer, as
     * `lm run` of "Once upon a time, there was ... in the pTom" answers. A system message does
     * not show in the default template (Ollama's {{ .Prompt }}); after /clear, the two lines
     * are one prompt, as `lm run` of "Once upon\na time" answers. */
    static const char *const lines[] = {
        "/set parameter num_predict 8\n", "Tom\n", "/set system Be kind.\n", "/show system\n",
        "/show parameters\n", "/clear\n",
    };
    converse(&t, lines, sizeof(lines) / sizeof(lines[0]));
    type(&t, "\"\"\"Once upon\n");            /* a message of two lines */
    expect(&t, "... ");
    type(&t, "a time\"\"\"\n");
    expect(&t, ">>> ");
    type(&t, "/bye\n");
    assert_int_equal(finish(&t), 0);
    assert_screen(&t, d, t.len,
                  ">>> /set parameter num_predict 8\n"
                  "Set parameter 'num_predict' to '8'\n\n"
                  ">>> Tom\n"
                  "my's house. One\n\n"
                  ">>> /set system Be kind.\n"
                  "Set system message.\n\n"
                  ">>> /show system\n"
                  "Be kind.\n\n"
                  ">>> /show parameters\n"
                  "Parameters:\n"
                  "temperature                    0\n"
                  "num_predict                    8\n\n"
                  ">>> /clear\n"
                  "Cleared session context\n\n"
                  ">>> \"\"\"Once upon\n"
                  "... a time\"\"\"\n"
                  ", there was a little girl\n\n"
                  ">>> /bye\n");
    free(t.screen);
}

/* Ctrl-C while typing clears the line; an unknown command and a bad value are one line each;
 * Ctrl-D on an empty line leaves. */
static void test_chat_keys(void **state)
{
    (void)state;
    char model[4096];
    const char *bin = demo_model(model, sizeof(model));
    char *argv[] = { (char *)bin, "run", model, NULL };
    struct tty t;
    start(&t, argv);
    size_t a = expect(&t, ">>> ");
    type(&t, "half a line");
    expect(&t, "half a line");
    static const char *const lines[] = { "\003", "/nonsense\n", "/set parameter temperature hot\n",
                                         "/show license\n" };
    converse(&t, lines, sizeof(lines) / sizeof(lines[0]));
    type(&t, "\004");
    assert_int_equal(finish(&t), 0);
    assert_screen(&t, a, t.len,
                  ">>> half a line^C\n"
                  "Use Ctrl + d or /bye to exit.\n"
                  ">>> /nonsense\n"
                  "Unknown command '/nonsense'. Type /? for help\n\n"
                  ">>> /set parameter temperature hot\n"
                  "lm: /set parameter: invalid float value [hot]\n\n"
                  ">>> /show license\n"
                  "No license was specified for this model.\n\n"
                  ">>> \n");
    free(t.screen);
}

/* A conversation longer than the context loses its oldest turns instead of refusing the next
 * message: with 40 tokens of context and 8-token answers, the fourth question no longer fits
 * after three turns, and its answer is the one `lm run` gives the kept turns. */
static void test_chat_trim(void **state)
{
    (void)state;
    char model[4096];
    const char *bin = demo_model(model, sizeof(model));
    char *argv[] = { (char *)bin, "run", "--ignore-eos", "--ctx", "40", "-n", "8",
                     "--temperature", "0", "-t", "2", model, NULL };
    struct tty t;
    start(&t, argv);
    size_t a = expect(&t, ">>> ");
    static const char *const lines[] = { "Once upon a time\n", "Tom\n", "Lily\n", "The dog\n",
                                         "Sam\n" };
    converse(&t, lines, sizeof(lines) / sizeof(lines[0]));
    type(&t, "/bye\n");
    assert_int_equal(finish(&t), 0);
    /* "The dog" still fits (its answer stops at the full context); "Sam" does not, and the
     * first turn is left out: `lm run --ctx 40 -n 8` of "Tom. She loved to play with herLily
     * and her friends. One day,The dog went to theSam" answers "'s house. He saw". */
    assert_screen(&t, a, t.len,
                  ">>> Once upon a time\n"
                  ", there was a little girl\n\n"
                  ">>> Tom\n"
                  ". She loved to play with her\n\n"
                  ">>> Lily\n"
                  " and her friends. One day,\n\n"
                  ">>> The dog\n"
                  " went to the\n\n"
                  ">>> Sam\n"
                  "'s house. He saw\n\n"
                  ">>> /bye\n");
    free(t.screen);
}

static int kill_child(void **state)
{
    (void)state;
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    child = -1;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_chat_session, kill_child),
        cmocka_unit_test_teardown(test_chat_keys, kill_child),
        cmocka_unit_test_teardown(test_chat_trim, kill_child),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
