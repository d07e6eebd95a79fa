/* test_pull_faults.c: lm pull when the Hub misbehaves. Transient faults (a CDN redirect, a
 * dropped connection, 429 with Retry-After, a 500, a stall, a server that ignores Range, a
 * branch that moves) end in a correct model; wrong bytes, short bodies and auth failures end in
 * exit 1 with one line, no blob, no model and an intact index; a killed pull resumes with only
 * the missing bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/pullfix.h"
#include "../common/common.h"
#include "../store/store.h"
#include "../common/banned.h"

static const char *const stories[] = {
    "LICENSE", "README.md", "config.json", "generation_config.json", "model.safetensors",
    "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json",
};
#define STORIES_BYTES (1044992 + 628 + 75 + 414 + 8015 + 866 + 4184 + 1063)

static int stories_repo(struct pullfix *f, const char *id, int access)
{
    return pullfix_repo(f, id, "stories260K", access);
}

/* ---- transient faults: a correct model ------------------------------------------------------ */

static const struct transient {
    const char *what;
    enum mock_fault kind;
    const char *glob;
    int times;
    uint64_t at;
    double secs;
    bool exact_bytes;          /* every byte fetched once: resumed where the fault cut it */
} transients[] = {
    { "connection drop mid-body", MOCK_DROP, "model.safetensors", 3, 100000, 0, true },
    { "drop in a plain file", MOCK_DROP, "README.md", 1, 1000, 0, true },
    { "429 with Retry-After", MOCK_429, "model.safetensors", 1, 0, 1, true },
    { "500 once", MOCK_500, "config.json", 1, 0, 0, true },
    { "500 once on the API", MOCK_500, "@api", 1, 0, 0, true },
    { "429 on the API", MOCK_429, "@api", 1, 0, 0, true },
    { "stall", MOCK_STALL, "model.safetensors", 1, 30000, 4, true },
    { "Range ignored", MOCK_NO_RANGE, "model.safetensors", -1, 0, 0, false },
};

static void test_transient(void **state)
{
    struct pullfix *f = pullfix_need(state);
    int repo = stories_repo(f, "lm-test/stories260K", MOCK_PUBLIC);
    for (size_t i = 0; i < sizeof(transients) / sizeof(transients[0]); i++) {
        const struct transient *t = &transients[i];
        struct run_result r;
        struct mock_stats st;
        char home[sizeof(f->home)];
        snprintf(home, sizeof(home), "%.500s/home-%zu", f->dir, i);
        snprintf(f->home, sizeof(f->home), "%s", home);
        setenv("LM_HOME", home, 1);
        mock_hf_clear_faults(f->m);
        mock_hf_reset_stats(f->m);
        mock_hf_fault(f->m, t->kind, t->glob, t->times, t->at, t->secs);
        double t0 = lm_now();
        pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
        double dt = lm_now() - t0;
        if (r.status != 0)
            fail_msg("%s: exit %d: %s", t->what, r.status, r.err);
        run_result_free(&r);
        mock_hf_stats(f->m, &st);
        if (t->exact_bytes && st.file_bytes != STORIES_BYTES)
            fail_msg("%s: %llu bytes fetched for %d", t->what, (unsigned long long)st.file_bytes,
                     STORIES_BYTES);
        if (t->kind == MOCK_429 && strcmp(t->glob, "@api") != 0 && dt < 1.0)
            fail_msg("%s: Retry-After 1 not honoured (%.2f s)", t->what, dt);
        if (t->kind == MOCK_STALL && dt > 3.5)   /* the 1 s stall timeout, not the 4 s stall */
            fail_msg("%s: took %.2f s", t->what, dt);
        pullfix_check_model(f, "hf.co/lm-test/stories260K", "stories260K", stories, 8,
                            mock_hf_sha(f->m, repo, 0));
        assert_int_equal(pullfix_temps(f), 0);
    }
}

/* The LFS files come from the CDN host, which must never see the token. */
static void test_cdn_without_token(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    struct mock_stats st;
    int repo = stories_repo(f, "lm-test/private", MOCK_PRIVATE);
    setenv("HF_TOKEN", MOCK_TOKEN, 1);
    pullfix_pull(&r, "hf.co/lm-test/private", NULL);
    unsetenv("HF_TOKEN");
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    mock_hf_stats(f->m, &st);
    assert_true(st.cdn_requests >= 5);    /* 4 chunks of model.safetensors, tokenizer.model */
    assert_int_equal(st.cdn_auth, 0);
    assert_true(st.hub_auth >= 2 + 6);    /* the API, and the plain files on the Hub host */
    pullfix_check_model(f, "hf.co/lm-test/private", "stories260K", stories, 8,
                        mock_hf_sha(f->m, repo, 0));
}

/* ---- permanent failures: exit 1, one line, nothing stored ------------------------------------ */

/* Exit 1 with want_err, no blob, no model, the index intact; partial files may stay. */
static void expect_refusal(struct pullfix *f, const char *ref, const char *want_err)
{
    struct run_result r;
    pullfix_pull(&r, ref, NULL);
    if (r.status != 1 || strcmp(r.err, want_err) != 0)
        fail_msg("%s: exit %d, stderr:\n%s\nwanted:\n%s", ref, r.status, r.err, want_err);
    run_result_free(&r);
    assert_int_equal(pullfix_blobs(f), 0);
    struct run_result s;
    char *argv[] = { (char *)lm_bin(), "list", NULL };
    assert_int_equal(run_capture(argv, &s), 0);
    assert_true(strncmp(s.out, "NAME ", 5) == 0 && strchr(s.out, '\n') == s.out + s.out_len - 1);
    run_result_free(&s);
    assert_int_equal(pullfix_lm("verify", NULL), 0);
}

/* The same, and nothing left in tmp/. */
static void expect_failure(struct pullfix *f, const char *ref, const char *want_err)
{
    expect_refusal(f, ref, want_err);
    assert_int_equal(pullfix_temps(f), 0);
}

static void test_wrong_bytes(void **state)
{
    struct pullfix *f = pullfix_need(state);
    char want[1024], path[1024], bad[65], good[65], git_bad[41], git_good[41];
    size_t len;
    stories_repo(f, "lm-test/stories260K", MOCK_PUBLIC);
    snprintf(path, sizeof(path), "%s/stories260K/model.safetensors", lm_models());
    uint8_t *d = pullfix_slurp(path, &len);
    pullfix_sha256(d, len, good);
    d[700000] ^= 0x5a;
    pullfix_sha256(d, len, bad);
    free(d);
    mock_hf_fault(f->m, MOCK_WRONG, "model.safetensors", -1, 700000, 0);
    snprintf(want, sizeof(want), "lm: hf.co/lm-test/stories260K/model.safetensors: sha256 "
             "mismatch: expected %s, got %s\n", good, bad);
    expect_failure(f, "hf.co/lm-test/stories260K", want);
    /* A plain git file: its blob id says the bytes are wrong. */
    mock_hf_clear_faults(f->m);
    mock_hf_fault(f->m, MOCK_WRONG, "config.json", -1, 10, 0);
    snprintf(path, sizeof(path), "%s/stories260K/config.json", lm_models());
    d = pullfix_slurp(path, &len);
    mock_hf_git_blob_id(d, len, git_good);
    d[10] ^= 0x5a;
    mock_hf_git_blob_id(d, len, git_bad);
    free(d);
    snprintf(want, sizeof(want), "lm: hf.co/lm-test/stories260K/config.json: git blob id "
             "mismatch: expected %s, got %s\n", git_good, git_bad);
    expect_failure(f, "hf.co/lm-test/stories260K", want);
}

static void test_short_body(void **state)
{
    struct pullfix *f = pullfix_need(state);
    stories_repo(f, "lm-test/stories260K", MOCK_PUBLIC);
    mock_hf_fault(f->m, MOCK_SHORT, "model.safetensors", -1, 100, 0);
    expect_failure(f, "hf.co/lm-test/stories260K", "lm: hf.co/lm-test/stories260K/model.safetensors: "
                   "the server has 1044892 bytes, the listing says 1044992\n");
}

static void test_auth(void **state)
{
    struct pullfix *f = pullfix_need(state);
    char want[1024], tokfile[700];
    stories_repo(f, "lm-test/private", MOCK_PRIVATE);
    int gated = stories_repo(f, "lm-test/gated", MOCK_GATED);
    expect_failure(f, "hf.co/lm-test/private", "lm: hf.co/lm-test/private: repository not found, "
                   "or it needs authentication: set HF_TOKEN (HTTP 401)\n");
    setenv("HF_TOKEN", "hf_notAValidOne", 1);
    expect_failure(f, "hf.co/lm-test/private", "lm: hf.co/lm-test/private: the Hub refused the "
                   "token: invalid credentials; check HF_TOKEN (HTTP 401)\n");
    unsetenv("HF_TOKEN");
    snprintf(want, sizeof(want), "lm: hf.co/lm-test/gated: gated model: accept its license on "
             "%s/lm-test/gated and set HF_TOKEN to a token of an account with access (HTTP 401)\n",
             mock_hf_endpoint(f->m));
    expect_failure(f, "hf.co/lm-test/gated", want);
    /* The token from HF_TOKEN_PATH: valid, but this account has not accepted the license. */
    snprintf(tokfile, sizeof(tokfile), "%.600s/token.txt", f->dir);
    FILE *fp = fopen(tokfile, "w");
    fprintf(fp, "  %s\n", MOCK_TOKEN);
    fclose(fp);
    setenv("HF_TOKEN_PATH", tokfile, 1);
    snprintf(want, sizeof(want), "lm: hf.co/lm-test/gated: gated model: accept its license on "
             "%s/lm-test/gated and set HF_TOKEN to a token of an account with access (HTTP 403)\n",
             mock_hf_endpoint(f->m));
    expect_failure(f, "hf.co/lm-test/gated", want);
    expect_failure(f, "hf.co/lm-test/nothing-here", "lm: hf.co/lm-test/nothing-here: repository "
                   "not found (HTTP 404)\n");
    expect_failure(f, "hf.co/lm-test/private@v9", "lm: hf.co/lm-test/private: revision 'v9' not "
                   "found (HTTP 404)\n");
    unsetenv("HF_TOKEN_PATH");
    /* The granted token in $HF_HOME/token: the pull goes through. */
    char dir[700];
    struct lm_err err;
    snprintf(dir, sizeof(dir), "%.600s", f->hf);
    assert_int_equal(lm_mkdirs(dir, &err), 0);
    snprintf(tokfile, sizeof(tokfile), "%.600s/token", f->hf);
    fp = fopen(tokfile, "w");
    fprintf(fp, "%s\n", MOCK_TOKEN_GRANTED);
    fclose(fp);
    struct run_result r;
    pullfix_pull(&r, "hf.co/lm-test/gated", NULL);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    pullfix_check_model(f, "hf.co/lm-test/gated", "stories260K", stories, 8,
                        mock_hf_sha(f->m, gated, 0));
}

/* A Hub that lists a repo but refuses its files (a gated repo's info and tree are public, its
 * files are not) gives the same line as a refused API call; a missing file names the file. What
 * did arrive stays in tmp/ for the run after access is granted. */
static void test_file_denied(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    char want[1024];
    static const struct {
        const char *glob;
        unsigned status;
    } cases[] = { { "*", 401 }, { "*.json", 403 } };   /* every file; only the plain ones */
    int repo = stories_repo(f, "lm-test/stories260K", MOCK_PUBLIC);
    mock_hf_fault(f->m, MOCK_DENY, "README.md", -1, 404, 0);
    expect_failure(f, "hf.co/lm-test/stories260K", "lm: hf.co/lm-test/stories260K/README.md: file "
                   "not found at this commit (HTTP 404)\n");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mock_hf_clear_faults(f->m);
        mock_hf_fault(f->m, MOCK_DENY, cases[i].glob, -1, cases[i].status, 0);
        snprintf(want, sizeof(want), "lm: hf.co/lm-test/stories260K: gated model: accept its "
                 "license on %s/lm-test/stories260K and set HF_TOKEN to a token of an account "
                 "with access (HTTP %u)\n", mock_hf_endpoint(f->m), cases[i].status);
        expect_refusal(f, "hf.co/lm-test/stories260K", want);
    }
    mock_hf_clear_faults(f->m);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    pullfix_check_model(f, "hf.co/lm-test/stories260K", "stories260K", stories, 8,
                        mock_hf_sha(f->m, repo, 0));
    assert_int_equal(pullfix_temps(f), 0);
}

/* ---- a branch that moves between the listing and the download -------------------------------- */

static void test_branch_moves(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    int repo = stories_repo(f, "lm-test/stories260K", MOCK_PUBLIC);
    int c1 = mock_hf_commit(f->m, repo);
    size_t len;
    uint8_t *other = pullfix_safetensors(1000, 7, &len);
    mock_hf_add(f->m, repo, c1, "model.safetensors", other, len, true);
    free(other);
    mock_hf_fault(f->m, MOCK_MOVE_BRANCH, "*", 1, (uint64_t)c1, 0);
    pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
    assert_int_equal(r.status, 0);
    run_result_free(&r);
    /* Everything from the commit main named when the pull began. */
    pullfix_check_model(f, "hf.co/lm-test/stories260K", "stories260K", stories, 8,
                        mock_hf_sha(f->m, repo, 0));
    /* The next pull sees the new commit. */
    pullfix_pull(&r, "hf.co/lm-test/stories260K", NULL);
    if (r.status != 0 || !strstr(r.out, mock_hf_sha(f->m, repo, c1)))
        fail_msg("exit %d: %s%s", r.status, r.out, r.err);
    assert_non_null(strstr(r.out, mock_hf_sha(f->m, repo, c1)));
    assert_non_null(strstr(r.out, "(1 downloaded, 7 already in the store"));
    run_result_free(&r);
}

/* ---- killed mid-file, then resumed ------------------------------------------------------------ */

static pid_t spawn(char *const argv[], int *out)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 2);
        close(p[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out = p[0];
    return pid;
}

/* Read --json events until the file's completed count reaches want; false on timeout. */
static bool wait_completed(int fd, const char *file, long long want)
{
    long long last = -1;
    char buf[65536];
    size_t n = 0;
    double end = lm_now() + 20;
    while (lm_now() < end) {
        struct pollfd pf = { fd, POLLIN, 0 };
        if (poll(&pf, 1, 200) <= 0)
            continue;
        ssize_t k = read(fd, buf + n, sizeof(buf) - 1 - n);
        if (k <= 0) {
            print_message("%s: lm ended its output at completed %lld\n", file, last);
            return false;
        }
        n += (size_t)k;
        buf[n] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            json_t *j = json_loadb(line, (size_t)(nl - line), 0, NULL);
            const char *fn = json_string_value(json_object_get(j, "file"));
            bool mine = fn && strcmp(fn, file) == 0;
            if (mine)
                last = json_integer_value(json_object_get(j, "completed"));
            bool hit = mine && last == want;
            json_decref(j);
            if (hit)
                return true;
            line = nl + 1;
        }
        memmove(buf, line, n - (size_t)(line - buf));
        n -= (size_t)(line - buf);
    }
    print_message("%s: completed %lld, waited for %lld\n", file, last, want);
    return false;
}

static void test_resume_after_kill(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct mock_stats st;
    struct run_result r;
    size_t len;
    int repo = mock_hf_repo(f->m, "lm-test/big", MOCK_PUBLIC);
    uint8_t *big = pullfix_safetensors(512 * 1024, 42, &len);   /* 2 MiB: 8 chunks of 256 KiB */
    mock_hf_add(f->m, repo, 0, "model.safetensors", big, len, true);
    /* Each of the 4 connections gets 100000 bytes of its chunk, then nothing. */
    mock_hf_fault(f->m, MOCK_STALL, "model.safetensors", -1, 100000, -1);
    char *argv[] = { (char *)lm_bin(), "pull", "--json", "--connections", "4",
                     "hf.co/lm-test/big", NULL };
    int out;
    pid_t pid = spawn(argv, &out);
    bool reached = wait_completed(out, "model.safetensors", 4 * 100000);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(out);
    assert_true(reached);
    assert_int_equal(pullfix_temps(f), 1);            /* tmp/pull-<sha256>.part */
    assert_int_equal(pullfix_blobs(f), 0);
    mock_hf_release(f->m);
    mock_hf_clear_faults(f->m);
    for (int i = 0; i < 500; i++) {
        mock_hf_stats(f->m, &st);
        if (st.stalled == 0)
            break;
        usleep(10000);
    }
    mock_hf_reset_stats(f->m);
    pullfix_pull(&r, "--json", "hf.co/lm-test/big", NULL);
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.out, "\"bytes_resumed\":400000"));
    run_result_free(&r);
    mock_hf_stats(f->m, &st);
    /* Only what was missing. */
    assert_int_equal(st.file_bytes, len - 400000);
    struct lm_err err;
    struct lm_model *m;
    struct lm_store *s = lm_store_open(f->home, &err);
    assert_int_equal(lm_model_get(s, "hf.co/lm-test/big", &m, &err), 0);
    const struct lm_model_layer *l = &m->layers[0];
    assert_string_equal(l->path, "model.safetensors");
    size_t got_len;
    uint8_t *got = pullfix_slurp(l->blob, &got_len);
    assert_int_equal(got_len, len);
    assert_memory_equal(got, big, len);
    free(got);
    lm_model_free(m);
    lm_store_close(s);
    free(big);
    assert_int_equal(pullfix_temps(f), 0);
    assert_int_equal(pullfix_lm("verify", NULL), 0);
}

/* Bytes kept from an earlier run that are wrong: found by the hash, downloaded again. */
static void test_bad_kept_bytes(void **state)
{
    struct pullfix *f = pullfix_need(state);
    struct run_result r;
    size_t len;
    int repo = mock_hf_repo(f->m, "lm-test/big", MOCK_PUBLIC);
    uint8_t *big = pullfix_safetensors(256 * 1024, 9, &len);   /* 1 MiB: 4 chunks */
    mock_hf_add(f->m, repo, 0, "model.safetensors", big, len, true);
    mock_hf_fault(f->m, MOCK_STALL, "model.safetensors", -1, 50000, -1);
    char *argv[] = { (char *)lm_bin(), "pull", "--json", "hf.co/lm-test/big", NULL };
    int out;
    pid_t pid = spawn(argv, &out);
    /* 4 chunks of 256 KiB stall at 50000 bytes; the 5th is the 80 bytes past 1 MiB */
    bool reached = wait_completed(out, "model.safetensors", 4 * 50000 + (long long)len - 4 * 262144);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(out);
    assert_true(reached);
    mock_hf_release(f->m);
    mock_hf_clear_faults(f->m);
    /* Damage the kept bytes on disk. */
    char sha[65], part[1024];
    pullfix_sha256(big, len, sha);
    snprintf(part, sizeof(part), "%s/tmp/pull-%s.part", f->home, sha);
    FILE *fp = fopen(part, "r+");
    assert_non_null(fp);
    fseek(fp, 1000, SEEK_SET);
    fputc(0x42, fp);
    fclose(fp);
    pullfix_pull(&r, "hf.co/lm-test/big", NULL);
    if (r.status != 0)
        fail_msg("exit %d: %s", r.status, r.err);
    run_result_free(&r);
    assert_int_equal(pullfix_temps(f), 0);
    assert_int_equal(pullfix_lm("verify", NULL), 0);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_transient, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_cdn_without_token, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_bytes, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_short_body, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_auth, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_file_denied, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_branch_moves, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_resume_after_kill, pullfix_setup, pullfix_teardown),
        cmocka_unit_test_setup_teardown(test_bad_kept_bytes, pullfix_setup, pullfix_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
