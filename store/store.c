/* store.c: where the store lives, opening and closing it, and its lock. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "../common/banned.h"

int lm_store_home(char *buf, size_t n, struct lm_err *err)
{
    const char *v = getenv("LM_HOME");
    int len;
    if (v && *v) {
        len = snprintf(buf, n, "%s", v);
    } else if ((v = getenv("XDG_DATA_HOME")) && v[0] == '/') {   /* XDG: relative = unset */
        len = snprintf(buf, n, "%s/lm", v);
    } else if ((v = getenv("HOME")) && *v) {
        len = snprintf(buf, n, "%s/.local/share/lm", v);
    } else {
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET,
                          "no store location: set LM_HOME (or HOME)");
    }
    if (len < 0 || (size_t)len >= n)
        return lm_err_set(err, LM_EUSAGE, buf, LM_NO_OFFSET, "store path too long");
    return 0;
}

static int join(char *out, size_t n, const char *a, const char *b, struct lm_err *err)
{
    int len = snprintf(out, n, "%s/%s", a, b);
    if (len < 0 || (size_t)len >= n)
        return lm_err_set(err, LM_EUSAGE, a, LM_NO_OFFSET, "store path too long");
    return 0;
}

static void set_user(struct lm_store *s)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name && *pw->pw_name)
        snprintf(s->user, sizeof(s->user), "%s", pw->pw_name);
    else
        snprintf(s->user, sizeof(s->user), "uid %lu", (unsigned long)geteuid());
}

struct lm_store *lm_store_open(const char *home, struct lm_err *err)
{
    struct lm_store *s = calloc(1, sizeof(*s));
    char lock[STORE_PATH_MAX];
    if (!s) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        return NULL;
    }
    s->lock_fd = -1;
    if (home) {
        int len = snprintf(s->home, sizeof(s->home), "%s", home);
        if (len < 0 || (size_t)len >= sizeof(s->home)) {
            lm_err_set(err, LM_EUSAGE, home, LM_NO_OFFSET, "store path too long");
            goto fail;
        }
    } else if (lm_store_home(s->home, sizeof(s->home), err)) {
        goto fail;
    }
    if (join(s->blobs, sizeof(s->blobs), s->home, "blobs/sha256", err) ||
        join(s->tmp, sizeof(s->tmp), s->home, "tmp", err) ||
        join(s->index, sizeof(s->index), s->home, "index.db", err) ||
        join(lock, sizeof(lock), s->home, "lock", err))
        goto fail;
    if (lm_mkdirs(s->blobs, err) || lm_mkdirs(s->tmp, err))
        goto fail;
    s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lock_fd < 0) {
        lm_err_errno(err, lock, "open");
        goto fail;
    }
    set_user(s);
    if (store_index_open(s, err))
        goto fail;
    return s;
fail:
    lm_store_close(s);
    return NULL;
}

void lm_store_close(struct lm_store *s)
{
    if (!s)
        return;
    if (s->db)
        sqlite3_close_v2(s->db);
    if (s->lock_fd >= 0)
        close(s->lock_fd);   /* drops the flock */
    free(s->command);
    free(s);
}

const char *lm_store_path(const struct lm_store *s)
{
    return s->home;
}

void lm_store_set_command(struct lm_store *s, int argc, char *const *argv)
{
    struct lm_buf b = LM_BUF_INIT(4096);
    lm_buf_add(&b, "lm", 2);   /* argv[0] is the command: main has taken "lm" off */
    for (int i = 0; i < argc; i++) {
        char q[LM_QUOTE_MAX + 8];
        lm_quote(argv[i], strlen(argv[i]), q, sizeof(q));
        if (lm_buf_add(&b, " ", 1) || lm_buf_add(&b, q, strlen(q)))
            break;   /* a long command line is cut; the log keeps what fits */
    }
    free(s->command);
    s->command = b.data;   /* NULL if nothing was added: the log then says "lm" */
}

int store_lock(struct lm_store *s, int mode, struct lm_err *err)
{
    if (s->lock_mode == mode)
        return 0;
    int op = mode == 0 ? LOCK_UN : mode;
    while (flock(s->lock_fd, op) < 0) {
        if (errno != EINTR)
            return lm_err_errno(err, s->home, "lock the store");
    }
    s->lock_mode = mode;
    return 0;
}

void lm_store_set_progress(struct lm_store *s, void (*fn)(void *ctx, uint64_t done, uint64_t total),
                           void *ctx)
{
    s->progress = fn;
    s->progress_ctx = ctx;
}

void store_progress(struct lm_store *s, uint64_t n)
{
    s->progress_done += n;
    if (s->progress)
        s->progress(s->progress_ctx, s->progress_done, s->progress_total);
}

int64_t store_now(void)
{
    return (int64_t)time(NULL);
}

int store_pathf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}
