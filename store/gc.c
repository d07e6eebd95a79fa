/* gc.c: remove what no model uses (manifests, blob rows and files) and stale temp files. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "../common/banned.h"

static int add_item(struct lm_gc_result *r, const char *path, uint64_t size, bool temp)
{
    struct lm_gc_item *v = realloc(r->items, (r->n_items + 1) * sizeof(*v));
    if (!v)
        return -1;
    r->items = v;
    v[r->n_items].path = strdup(path);
    if (!v[r->n_items].path)
        return -1;
    v[r->n_items].size = size;
    v[r->n_items].temp = temp;
    r->n_items++;
    r->bytes += size;
    return 0;
}

/* Blob files the index does not list (after the unused rows are gone). */
static int scan_blobs(struct lm_store *s, struct lm_gc_result *r, struct lm_err *err)
{
    sqlite3_stmt *st;
    DIR *d = opendir(s->blobs);
    struct dirent *e;
    int ret = -1;
    if (!d)
        return lm_err_errno(err, s->blobs, "open directory");
    if (store_db_prepare(s, "SELECT 1 FROM blobs WHERE digest = ?", &st, err)) {
        closedir(d);
        return -1;
    }
    while ((e = readdir(d))) {
        char path[2 * STORE_PATH_MAX], rel[STORE_PATH_MAX];
        struct stat sb;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%.200s", s->blobs, e->d_name);
        if (lstat(path, &sb) < 0 || S_ISDIR(sb.st_mode))
            continue;
        if (lm_digest_valid(e->d_name)) {
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, e->d_name, -1, SQLITE_TRANSIENT);
            int rc = sqlite3_step(st);
            if (rc == SQLITE_ROW)
                continue;
            if (rc != SQLITE_DONE) {
                store_db_fail(s, err, "list blobs");
                goto out;
            }
        }
        snprintf(rel, sizeof(rel), "blobs/sha256/%.200s", e->d_name);
        if (add_item(r, rel, (uint64_t)sb.st_size, false)) {
            lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
            goto out;
        }
    }
    ret = 0;
out:
    sqlite3_finalize(st);
    closedir(d);
    return ret;
}

/* Under the exclusive store lock no writer runs, but a flock still marks a live one. */
static int scan_tmp(struct lm_store *s, struct lm_gc_result *r, struct lm_err *err)
{
    DIR *d = opendir(s->tmp);
    struct dirent *e;
    if (!d)
        return lm_err_errno(err, s->tmp, "open directory");
    while ((e = readdir(d))) {
        char path[2 * STORE_PATH_MAX], rel[STORE_PATH_MAX];
        struct stat sb;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%.200s", s->tmp, e->d_name);
        if (lstat(path, &sb) < 0 || S_ISDIR(sb.st_mode))
            continue;
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        bool held = fd >= 0 && flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
        if (fd >= 0)
            close(fd);
        snprintf(rel, sizeof(rel), "tmp/%.200s", e->d_name);
        /* A linked temp file shares its inode with the source: it frees no blocks. */
        uint64_t size = sb.st_nlink > 1 ? 0 : (uint64_t)sb.st_size;
        if (!held && add_item(r, rel, size, true)) {
            closedir(d);
            return lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        }
    }
    closedir(d);
    return 0;
}

int lm_store_gc(struct lm_store *s, bool dry_run, struct lm_gc_result *r, struct lm_err *err)
{
    int old_mode = s->lock_mode, ret = -1;
    struct lm_buf digests = LM_BUF_INIT(64u << 20), subject = LM_BUF_INIT(1024);
    memset(r, 0, sizeof(*r));
    if (store_lock(s, LOCK_EX, err))
        return -1;
    if (store_begin(s, err))
        goto out;
    int before = sqlite3_total_changes(s->db);
    /* Unnamed manifests go (their layers cascade), then blob rows no layer uses. A dry run
     * does the same and rolls back, so it lists exactly what a real run removes. */
    if (store_db_exec(s, "DELETE FROM manifests WHERE id NOT IN (SELECT manifest_id FROM models);"
                         "DELETE FROM blobs WHERE digest NOT IN (SELECT digest FROM layers)", err) ||
        scan_blobs(s, r, err) || scan_tmp(s, r, err))
        goto fail;
    if (dry_run || (r->n_items == 0 && sqlite3_total_changes(s->db) == before)) {
        store_rollback(s);
        ret = 0;
        goto out;
    }
    size_t n_blobs = 0;
    for (size_t i = 0; i < r->n_items; i++) {
        const char *base = strrchr(r->items[i].path, '/') + 1;
        if (!r->items[i].temp) {
            n_blobs++;
            if (lm_digest_valid(base) && lm_buf_printf(&digests, "%s%s", digests.len ? " " : "", base))
                goto nomem;
        }
    }
    size_t n_temps = r->n_items - n_blobs;
    if (lm_buf_printf(&subject, "removed %zu blob%s and %zu temporary file%s, %llu bytes", n_blobs,
                      n_blobs == 1 ? "" : "s", n_temps, n_temps == 1 ? "" : "s",
                      (unsigned long long)r->bytes))
        goto nomem;
    if (store_audit_append(s, "gc", subject.data, digests.data ? digests.data : "", err))
        goto fail;
    if (store_commit(s, err))
        goto out;
    for (size_t i = 0; i < r->n_items; i++) {
        char path[2 * STORE_PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", s->home, r->items[i].path);
        store_fault_point();
        if (unlink(path) < 0 && errno != ENOENT) {
            lm_err_errno(err, path, "unlink");
            goto out;
        }
    }
    if (store_fsync_dir(s->blobs, err) || store_fsync_dir(s->tmp, err))
        goto out;
    ret = 0;
    goto out;
nomem:
    lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
fail:
    store_rollback(s);
out:
    store_lock(s, old_mode, NULL);
    lm_buf_release(&digests);
    lm_buf_release(&subject);
    if (ret)
        lm_gc_result_release(r);
    return ret;
}

void lm_gc_result_release(struct lm_gc_result *r)
{
    for (size_t i = 0; i < r->n_items; i++)
        free(r->items[i].path);
    free(r->items);
    memset(r, 0, sizeof(*r));
}
