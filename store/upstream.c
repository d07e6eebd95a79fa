/* upstream.c: finding a stored blob by the digest its source gave it (a git blob id, say). */
#include <sys/stat.h>

#include "internal.h"
#include "../common/banned.h"

int lm_blob_by_upstream(struct lm_store *s, const char *algorithm, const char *upstream,
                        char digest[65], uint64_t *size, struct lm_err *err)
{
    sqlite3_stmt *st;
    int rc, ret = -1;
    /* The provenance row names a file by its path in the model; the layer with that path in
     * the same manifest holds its sha256. */
    if (store_db_prepare(s, "SELECT l.digest, l.size FROM provenance_files pf "
                            "JOIN provenance p ON p.id = pf.provenance_id "
                            "JOIN layers l ON l.manifest_id = p.manifest_id AND l.path = pf.path "
                            "WHERE pf.algorithm = ?1 AND pf.upstream_digest = ?2", &st, err))
        return -1;
    sqlite3_bind_text(st, 1, algorithm, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, upstream, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char path[STORE_PATH_MAX];
        struct stat sb;
        const char *hex = store_col_text(st, 0);
        sqlite3_int64 n = sqlite3_column_int64(st, 1);
        /* Only a blob whose file is there and whole: verify reports the others. */
        if (n < 0 || lm_blob_path(s, hex, path, sizeof(path)) || stat(path, &sb) < 0 ||
            sb.st_size != n)
            continue;
        snprintf(digest, 65, "%s", hex);
        *size = (uint64_t)n;
        ret = 0;
        goto out;
    }
    if (rc != SQLITE_DONE)
        store_db_fail(s, err, "look up a blob by upstream digest");
    else
        lm_err_set(err, LM_ENOTFOUND, NULL, LM_NO_OFFSET, "no blob with %s %s", algorithm,
                   upstream);
out:
    sqlite3_finalize(st);
    return ret;
}
