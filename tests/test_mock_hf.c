/* test_mock_hf.c: the mock Hub speaks the protocol of shared/specs/hf-hub.md (the pull tests
 * trust it): info, tree pagination, LFS and plain redirects, ranges, auth, faults.
 * `test_mock_hf --serve [--conn-rate BYTES_PER_S] ORG/NAME DIR [...]` serves directories as repos
 * until SIGTERM or SIGINT and prints the endpoint on stdout (scripts/bench-pull.sh uses it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/mock_hf.h"
#include "../common/banned.h"

struct resp {
    long status;
    char body[65536];
    size_t len;
    char location[1024], content_range[128], link[1024], xcode[64], commit[64], linked_etag[80];
};

static size_t on_body(char *p, size_t s, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t k = s * n, room = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, p, k < room ? k : room);
    r->len += k < room ? k : room;
    r->body[r->len] = 0;
    return s * n;
}

static void header(CURL *e, const char *name, char *out, size_t n)
{
    struct curl_header *h;
    out[0] = 0;
    if (curl_easy_header(e, name, 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
        snprintf(out, n, "%s", h->value);
}

static void get(const char *url, const char *range, const char *token, struct resp *r)
{
    char auth[256];
    struct curl_slist *hs = NULL;
    memset(r, 0, sizeof(*r));
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (range)
        curl_easy_setopt(e, CURLOPT_RANGE, range);
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hs = curl_slist_append(hs, auth);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hs);
    }
    curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    header(e, "Location", r->location, sizeof(r->location));
    header(e, "Content-Range", r->content_range, sizeof(r->content_range));
    header(e, "Link", r->link, sizeof(r->link));
    header(e, "X-Error-Code", r->xcode, sizeof(r->xcode));
    header(e, "X-Repo-Commit", r->commit, sizeof(r->commit));
    header(e, "X-Linked-Etag", r->linked_etag, sizeof(r->linked_etag));
    curl_easy_cleanup(e);
    curl_slist_free_all(hs);
}

struct fx {
    struct mock_hf *m;
    int repo;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    f->m = mock_hf_new();
    if (!f->m)
        return -1;
    f->repo = mock_hf_repo(f->m, "org/repo", MOCK_PUBLIC);
    mock_hf_add(f->m, f->repo, 0, "config.json", "{\"a\":1}\n", 8, false);
    mock_hf_add(f->m, f->repo, 0, "w.safetensors", "0123456789abcdef", 16, true);
    mock_hf_add(f->m, f->repo, 0, "sub/x y.txt", "hello\n", 6, false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    mock_hf_free(f->m);
    free(f);
    return 0;
}

static void url(char *buf, size_t n, struct fx *f, const char *path)
{
    snprintf(buf, n, "%s%s", mock_hf_endpoint(f->m), path);
}

static void test_info_and_tree(void **state)
{
    struct fx *f = *state;
    struct resp r;
    char u[1024], want[256];
    const char *sha = mock_hf_sha(f->m, f->repo, 0);
    url(u, sizeof(u), f, "/api/models/org/repo/revision/main");
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want), "\"sha\":\"%s\"", sha);
    assert_non_null(strstr(r.body, want));
    /* two per page: the first page links to the second with a cursor */
    mock_hf_options(f->m, true, 2);
    snprintf(u, sizeof(u), "%s/api/models/org/repo/tree/%s?recursive=true",
             mock_hf_endpoint(f->m), sha);
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"type\":\"directory\""));
    assert_non_null(strstr(r.body, "\"lfs\":{\"oid\":\""));
    assert_non_null(strstr(r.link, "cursor=2>; rel=\"next\""));
    url(u, sizeof(u), f, "/api/models/org/repo/revision/nope");
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.xcode, "RevisionNotFound");
}

static void test_resolve_redirects_and_ranges(void **state)
{
    struct fx *f = *state;
    struct resp r;
    char u[1024];
    url(u, sizeof(u), f, "/org/repo/resolve/main/w.safetensors");
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 302);
    assert_true(strncmp(r.location, mock_hf_cdn(f->m), strlen(mock_hf_cdn(f->m))) == 0);
    assert_int_equal(strlen(r.linked_etag), 66);
    snprintf(u, sizeof(u), "%s", r.location);   /* get() clears r */
    get(u, "3-6", NULL, &r);
    assert_int_equal(r.status, 206);
    assert_string_equal(r.body, "3456");
    assert_string_equal(r.content_range, "bytes 3-6/16");
    url(u, sizeof(u), f, "/org/repo/resolve/main/sub/x%20y.txt");
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 307);
    if (strncmp(r.location, "/api/resolve-cache/models/org/repo/", 35) != 0)
        fail_msg("location %s (HTTP %ld)", r.location, r.status);
    assert_non_null(strstr(r.location, "/sub/x%20y.txt?etag="));
    url(u, sizeof(u), f, r.location);
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello\n");
    url(u, sizeof(u), f, "/org/repo/resolve/main/missing.json");
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.xcode, "EntryNotFound");
    assert_string_equal(r.commit, mock_hf_sha(f->m, f->repo, 0));
}

static void test_access(void **state)
{
    struct fx *f = *state;
    struct resp r;
    char u[1024];
    mock_hf_repo(f->m, "org/private", MOCK_PRIVATE);
    mock_hf_repo(f->m, "org/gated", MOCK_GATED);
    url(u, sizeof(u), f, "/api/models/org/private");
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    get(u, NULL, MOCK_TOKEN, &r);
    assert_int_equal(r.status, 200);
    get(u, NULL, "hf_wrong", &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "Invalid credentials"));
    url(u, sizeof(u), f, "/api/models/org/gated");
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.xcode, "GatedRepo");
    get(u, NULL, MOCK_TOKEN, &r);
    assert_int_equal(r.status, 403);
    get(u, NULL, MOCK_TOKEN_GRANTED, &r);
    assert_int_equal(r.status, 200);
    url(u, sizeof(u), f, "/api/models/org/none");
    get(u, NULL, MOCK_TOKEN, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.xcode, "RepoNotFound");
}

static void test_faults(void **state)
{
    struct fx *f = *state;
    struct resp r;
    struct mock_stats st;
    char u[1024];
    mock_hf_options(f->m, false, 0);   /* LFS straight from the Hub */
    url(u, sizeof(u), f, "/org/repo/resolve/main/w.safetensors");
    mock_hf_fault(f->m, MOCK_500, "w.*", 1, 0, 0);
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 500);
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "0123456789abcdef");
    mock_hf_fault(f->m, MOCK_WRONG, "w.*", 1, 2, 0);
    get(u, NULL, NULL, &r);
    assert_int_equal(r.body[2], '2' ^ 0x5a);
    mock_hf_fault(f->m, MOCK_SHORT, "w.*", 1, 6, 0);
    get(u, "0-", NULL, &r);
    assert_string_equal(r.content_range, "bytes 0-9/10");
    mock_hf_fault(f->m, MOCK_NO_RANGE, "w.*", 1, 0, 0);
    get(u, "4-", NULL, &r);
    assert_int_equal(r.status, 200);
    mock_hf_fault(f->m, MOCK_DENY, "w.*", 1, 403, 0);
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.xcode, "GatedRepo");
    get(u, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    mock_hf_reset_stats(f->m);
    mock_hf_fault(f->m, MOCK_DROP, "w.*", 1, 5, 0);
    get(u, NULL, NULL, &r);
    assert_int_equal(r.len, 5);
    mock_hf_stats(f->m, &st);
    assert_int_equal(st.file_bytes, 5);
}

struct counted {
    size_t n, bad;
};

static size_t on_count(char *p, size_t s, size_t n, void *ud)
{
    struct counted *c = ud;
    for (size_t i = 0; i < s * n; i++)
        c->bad += (uint8_t)p[i] != (uint8_t)((c->n + i) * 7);
    c->n += s * n;
    return s * n;
}

/* A capped connection cannot beat its rate: 768 KiB at 2 MB/s, less the 256 KiB the bucket
 * starts with, takes at least 0.262 s; the bytes are the file's. */
static void test_conn_rate(void **state)
{
    struct fx *f = *state;
    enum { LEN = 768 << 10 };
    uint8_t *data = malloc(LEN);
    struct counted c = { 0, 0 };
    struct timespec t0, t1;
    struct mock_stats st;
    char u[1024];
    long status = 0;
    for (size_t i = 0; i < LEN; i++)
        data[i] = (uint8_t)(i * 7);
    mock_hf_add(f->m, f->repo, 0, "big.safetensors", data, LEN, true);
    free(data);
    mock_hf_options(f->m, false, 0);
    mock_hf_conn_rate(f->m, 2000000);
    mock_hf_reset_stats(f->m);
    url(u, sizeof(u), f, "/org/repo/resolve/main/big.safetensors");
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, u);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_count);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_int_equal(status, 200);
    assert_int_equal(c.n, LEN);
    assert_int_equal(c.bad, 0);
    if (secs < 0.26)
        fail_msg("768 KiB at 2 MB/s per connection took %.3f s", secs);
    mock_hf_stats(f->m, &st);
    assert_int_equal(st.file_bytes, LEN);
}

static volatile sig_atomic_t quit;
static void on_quit(int sig) { (void)sig; quit = 1; }

static int serve(int argc, char **argv)
{
    struct mock_hf *m = mock_hf_new();
    struct mock_stats st;
    int i = 2;
    if (!m)
        return 1;
    if (i + 1 < argc && strcmp(argv[i], "--conn-rate") == 0) {
        char *end;
        unsigned long long rate = strtoull(argv[i + 1], &end, 10);
        if (*argv[i + 1] == 0 || *end != 0) {
            fprintf(stderr, "--conn-rate wants bytes per second, not '%s'\n", argv[i + 1]);
            return 2;
        }
        mock_hf_conn_rate(m, rate);
        i += 2;
    }
    for (; i + 1 < argc; i += 2) {
        int r = mock_hf_repo(m, argv[i], MOCK_PUBLIC);
        if (mock_hf_add_dir(m, r, 0, argv[i + 1], true)) {   /* fast: no faults here */
            fprintf(stderr, "cannot serve %s\n", argv[i + 1]);
            return 1;
        }
    }
    printf("%s\n", mock_hf_endpoint(m));
    fflush(stdout);
    signal(SIGTERM, on_quit);
    signal(SIGINT, on_quit);
    while (!quit)
        pause();
    mock_hf_stats(m, &st);
    fprintf(stderr, "mock_hf: %llu bytes of file data, %u file requests\n",
            (unsigned long long)st.file_bytes, st.file_requests);
    mock_hf_free(m);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--serve") == 0)
        return serve(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_info_and_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_redirects_and_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access, setup, teardown),
        cmocka_unit_test_setup_teardown(test_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_conn_rate, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
