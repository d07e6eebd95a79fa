/* test_store_verify.c: lm_store_verify's problem classes, the audit log chain against forgers
 * who recompute hashes, and temp files of live writers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../store/store.h"
#include "support/testutil.h"
#include "../common/banned.h"

struct fx {
    char *dir;
    char home[512], db[600];
    struct lm_store *s;
    char digest[3][65];
};

/* A store with one model of three text blobs of 1, 2 and 3 MiB (so two threads share work). */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct lm_err err;
    struct lm_layer l[3];
    static const char *const paths[] = { "a.txt", "b.txt", "c.txt" };
    f->dir = make_tmpdir();
    snprintf(f->home, sizeof(f->home), "%s/home", f->dir);
    snprintf(f->db, sizeof(f->db), "%s/index.db", f->home);
    f->s = lm_store_open(f->home, &err);
    if (!f->s)
        return -1;
    for (int i = 0; i < 3; i++) {
        size_t n = (size_t)(i + 1) << 20;
        char *p = malloc(n);
        for (size_t k = 0; k < n; k++)
            p[k] = (char)('a' + (k * 7 + (size_t)i) % 26);
        struct lm_blob_writer *w = lm_blob_begin(f->s, LM_MT_TEXT, n, paths[i], &err);
        struct lm_blob b;
        if (!w || lm_blob_write(w, p, n, &err) || lm_blob_commit(w, NULL, &b, &err))
            return -1;
        free(p);
        memcpy(f->digest[i], b.digest, 65);
        l[i] = (struct lm_layer){ paths[i], f->digest[i], n, "other", LM_MT_TEXT };
    }
    struct lm_model_spec spec = { "m", l, 3, NULL, NULL, 0 };
    if (lm_store_add_models(f->s, "import", &spec, 1, NULL, &err))
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    lm_store_close(f->s);
    rm_rf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void sql(struct fx *f, const char *q)
{
    sqlite3 *h;
    assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
    sqlite3_busy_timeout(h, 10000);
    char *msg = NULL;
    int rc = sqlite3_exec(h, q, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", q, msg);
    sqlite3_free(msg);
    sqlite3_close(h);
    assert_int_equal(rc, SQLITE_OK);
}

static void blob_path(struct fx *f, int i, char *buf, size_t n)
{
    assert_int_equal(lm_blob_path(f->s, f->digest[i], buf, n), 0);
}

static struct lm_verify_result verify(struct fx *f, unsigned threads)
{
    struct lm_verify_opts o = { .threads = threads };
    struct lm_verify_result r;
    struct lm_err err;
    assert_int_equal(lm_store_verify(f->s, &o, &r, &err), 0);
    return r;
}

static void test_clean(void **state)
{
    struct fx *f = *state;
    struct lm_verify_result r = verify(f, 2);
    assert_int_equal(r.n_problems, 0);
    assert_int_equal(r.blobs, 3);
    assert_int_equal(r.bytes, 6u << 20);
    lm_verify_result_release(&r);
}

static void test_damage(void **state)
{
    struct fx *f = *state;
    char p[1024];
    /* 0: flip a byte, 1: truncate, 2: delete; one thread and four give the same report */
    blob_path(f, 0, p, sizeof(p));
    chmod(p, 0644);
    FILE *fp = fopen(p, "r+b");
    fseek(fp, 12345, SEEK_SET);
    fputc('#', fp);
    fclose(fp);
    blob_path(f, 1, p, sizeof(p));
    assert_int_equal(truncate(p, 1000), 0);
    blob_path(f, 2, p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    for (unsigned t = 1; t <= 4; t += 3) {
        struct lm_verify_result r = verify(f, t);
        assert_int_equal(r.n_problems, 3);
        assert_int_equal(r.n_errors, 3);
        int seen = 0;
        for (size_t i = 0; i < r.n_problems; i++) {
            const struct lm_problem *q = &r.problems[i];
            assert_string_equal(q->models, "m:latest");
            if (strcmp(q->digest, f->digest[0]) == 0) {
                assert_int_equal(q->cls, LM_PROBLEM_DIGEST_MISMATCH);
                assert_non_null(strstr(q->message, "the bytes hash to "));
                seen |= 1;
            } else if (strcmp(q->digest, f->digest[1]) == 0) {
                assert_int_equal(q->cls, LM_PROBLEM_SIZE_MISMATCH);
                assert_string_equal(q->message, "the index says 2097152 bytes, the file has 1000");
                seen |= 2;
            } else if (strcmp(q->digest, f->digest[2]) == 0) {
                assert_int_equal(q->cls, LM_PROBLEM_MISSING_BLOB);
                assert_string_equal(q->message, "the file is missing");
                seen |= 4;
            }
        }
        assert_int_equal(seen, 7);
        lm_verify_result_release(&r);
    }
    /* verifying by name: only that model's blobs, no orphan scan */
    const char *names[] = { "m" };
    struct lm_verify_opts o = { .names = names, .n_names = 1 };
    struct lm_verify_result r;
    struct lm_err err;
    assert_int_equal(lm_store_verify(f->s, &o, &r, &err), 0);
    assert_int_equal(r.n_errors, 3);
    lm_verify_result_release(&r);
    const char *none[] = { "nope" };
    o.names = none;
    assert_int_equal(lm_store_verify(f->s, &o, &r, &err), -1);
    assert_int_equal(err.code, LM_ENOTFOUND);
}

static void test_index_corrupt(void **state)
{
    struct fx *f = *state;
    /* a manifest body that no longer hashes to its digest */
    sql(f, "UPDATE manifests SET body = replace(body, 'a.txt', 'A.txt')");
    struct lm_verify_result r = verify(f, 0);
    assert_int_equal(r.n_errors, 1);
    assert_int_equal(r.problems[0].cls, LM_PROBLEM_INDEX_CORRUPT);
    assert_string_equal(r.problems[0].path, "index.db");
    assert_non_null(strstr(r.problems[0].message, ": its body hashes to "));
    lm_verify_result_release(&r);
    /* body and digest forged together: the layer rows still say otherwise */
    sqlite3 *h;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(h, "SELECT body FROM manifests", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    char *body = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    uint8_t d[32];
    char hex[65];
    lm_sha256_buf(body, strlen(body), d);
    lm_hex(d, 32, hex);
    assert_int_equal(sqlite3_prepare_v2(h, "UPDATE manifests SET digest = ?", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, hex, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(h);
    free(body);
    r = verify(f, 0);
    assert_int_equal(r.n_errors, 1);
    assert_non_null(strstr(r.problems[0].message, ": its layer rows differ from its body"));
    lm_verify_result_release(&r);
}

static void test_layer_rows(void **state)
{
    struct fx *f = *state;
    sql(f, "UPDATE layers SET role = 'weights' WHERE path = 'b.txt'");
    struct lm_verify_result r = verify(f, 0);
    assert_int_equal(r.n_errors, 1);
    assert_int_equal(r.problems[0].cls, LM_PROBLEM_INDEX_CORRUPT);
    assert_non_null(strstr(r.problems[0].message, ": its layer rows differ from its body"));
    lm_verify_result_release(&r);
}

/* The chain formula of docs/store.md, computed independently. */
static void entry_hash(const char *prev, int64_t seq, int64_t t, const char *user,
                       const char *cmd, const char *action, const char *subject,
                       const char *digests, char out[65])
{
    char num[2][24];
    snprintf(num[0], sizeof(num[0]), "%" PRId64, seq);
    snprintf(num[1], sizeof(num[1]), "%" PRId64, t);
    const char *v[] = { prev, num[0], num[1], user, cmd, action, subject, digests };
    struct lm_buf b = LM_BUF_INIT(1 << 20);
    for (int i = 0; i < 8; i++)
        lm_buf_printf(&b, "%zu:%s", strlen(v[i]), v[i]);
    uint8_t d[32];
    lm_sha256_buf(b.data, b.len, d);
    lm_hex(d, 32, out);
    lm_buf_release(&b);
}

static void test_log_chain(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    struct lm_log l;
    assert_int_equal(lm_store_audit(f->s, "test", "second entry", f->digest[0], &err), 0);
    assert_int_equal(lm_store_log(f->s, &l, &err), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.broken_at, 0);
    const struct lm_log_entry *e = &l.entries[0];
    char h[65];
    entry_hash(e->prev, e->seq, e->time, e->user, e->command, e->action, e->subject, e->digests, h);
    assert_string_equal(h, e->hash);   /* the documented formula is the one in use */
    assert_string_equal(e->prev, "0000000000000000000000000000000000000000000000000000000000000000");
    assert_string_equal(l.entries[1].prev, e->hash);
    /* a forger rewrites entry 1 and recomputes its hash: entry 2 still names the old one */
    char forged[65], q[512];
    entry_hash(e->prev, e->seq, e->time, "mallory", e->command, e->action, e->subject,
               e->digests, forged);
    snprintf(q, sizeof(q), "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET user = "
                           "'mallory', hash = '%s' WHERE seq = 1", forged);
    lm_log_release(&l);
    sql(f, q);
    assert_int_equal(lm_store_log(f->s, &l, &err), 0);
    assert_int_equal(l.broken_at, 2);
    assert_non_null(strstr(l.why, "entry 2 does not chain to entry 1"));
    lm_log_release(&l);
    struct lm_verify_result r = verify(f, 0);
    assert_int_equal(r.n_errors, 1);
    assert_int_equal(r.problems[0].cls, LM_PROBLEM_LOG_CHAIN_BROKEN);
    assert_non_null(strstr(r.problems[0].message, "audit log entry 2 does not chain to entry 1"));
    lm_verify_result_release(&r);
}

static void test_live_writer(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    /* another handle's writer is in flight: its temp file is not stale, gc leaves it alone */
    struct lm_store *other = lm_store_open(f->home, &err);
    assert_non_null(other);
    struct lm_blob_writer *w = lm_blob_begin(other, LM_MT_TEXT, LM_SIZE_ANY, "live", &err);
    assert_non_null(w);
    assert_int_equal(lm_blob_write(w, "partial", 7, &err), 0);
    struct lm_verify_result r = verify(f, 0);
    assert_int_equal(r.n_problems, 0);
    lm_verify_result_release(&r);
    lm_blob_abort(w);
    lm_store_close(other);
    /* a dead writer's file is stale */
    char p[700];
    snprintf(p, sizeof(p), "%s/tmp/999-dead.part", f->home);
    FILE *fp = fopen(p, "w");
    fputs("x", fp);
    fclose(fp);
    r = verify(f, 0);
    assert_int_equal(r.n_problems, 1);
    assert_int_equal(r.n_errors, 0);
    assert_int_equal(r.problems[0].cls, LM_PROBLEM_STALE_TEMP);
    assert_string_equal(r.problems[0].path, "tmp/999-dead.part");
    assert_false(lm_problem_is_error(LM_PROBLEM_STALE_TEMP));
    lm_verify_result_release(&r);
}

static void progress(void *ctx, uint64_t done, uint64_t total)
{
    uint64_t *last = ctx;
    assert_true(done <= total);
    assert_true(done >= *last);
    *last = done;
}

static void test_progress(void **state)
{
    struct fx *f = *state;
    uint64_t last = 0;
    struct lm_verify_opts o = { .threads = 2, .progress = progress, .ctx = &last };
    struct lm_verify_result r;
    struct lm_err err;
    assert_int_equal(lm_store_verify(f->s, &o, &r, &err), 0);
    assert_int_equal(last, 6u << 20);
    lm_verify_result_release(&r);
    static const char *const names[] = {
        "missing-blob", "size-mismatch", "digest-mismatch", "orphan-blob", "stale-temp",
        "index-corrupt", "log-chain-broken",
    };
    for (int c = LM_PROBLEM_MISSING_BLOB; c <= LM_PROBLEM_LOG_CHAIN_BROKEN; c++)
        assert_string_equal(lm_problem_name((enum lm_problem_class)c), names[c]);
}

struct cutter {
    const char *path;
    unsigned delay_us;
};

static void *cut(void *arg)
{
    struct cutter *c = arg;
    usleep(c->delay_us);
    truncate(c->path, 4096);
    return NULL;
}

/* A blob truncated while verify has it mapped: reported as size-mismatch, never a crash
 * (SIGBUS). Timing decides whether the cut lands before, during or after hashing. */
static void test_truncated_while_hashing(void **state)
{
    struct fx *f = *state;
    struct lm_err err;
    size_t n = 64u << 20;
    char *p = malloc(n);
    for (size_t k = 0; k < n; k++)
        p[k] = (char)('a' + k % 26);
    struct lm_blob_writer *w = lm_blob_begin(f->s, LM_MT_TEXT, n, "big.txt", &err);
    struct lm_blob b;
    assert_int_equal(lm_blob_write(w, p, n, &err), 0);
    assert_int_equal(lm_blob_commit(w, NULL, &b, &err), 0);
    struct lm_layer l = { "big.txt", b.digest, n, "other", LM_MT_TEXT };
    struct lm_model_spec spec = { "big", &l, 1, NULL, NULL, 0 };
    assert_int_equal(lm_store_add_models(f->s, "import", &spec, 1, NULL, &err), 0);
    char path[1024];
    assert_int_equal(lm_blob_path(f->s, b.digest, path, sizeof(path)), 0);
    chmod(path, 0644);
    const char *names[] = { "big" };
    bool cut_seen = false;
    for (unsigned delay = 2000; delay < 40000 && !cut_seen; delay += 3000) {
        FILE *fp = fopen(path, "wb");   /* restore the full blob */
        fwrite(p, 1, n, fp);
        fclose(fp);
        struct cutter c = { path, delay };
        pthread_t t;
        pthread_create(&t, NULL, cut, &c);
        struct lm_verify_opts o = { .names = names, .n_names = 1, .threads = 1 };
        struct lm_verify_result r;
        assert_int_equal(lm_store_verify(f->s, &o, &r, &err), 0);
        pthread_join(t, NULL);
        if (r.n_errors) {
            assert_int_equal(r.problems[0].cls, LM_PROBLEM_SIZE_MISMATCH);
            assert_string_equal(r.problems[0].message,
                                "the index says 67108864 bytes, the file has 4096");
            cut_seen = true;
        }
        lm_verify_result_release(&r);
    }
    assert_true(cut_seen);
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_while_hashing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
