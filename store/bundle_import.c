/* bundle_import.c: lm import of a bundle: stream the archive, stage and hash every blob in tmp/,
 * and only when all of it checks out move the blobs into blobs/ and add the models. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bundle_int.h"
#include "../common/banned.h"

struct imp {
    struct lm_store *s;
    const struct lm_bundle_import_opts *o;
    const char *label;
    struct lm_err *err;
    struct archive *a;
    struct archive_entry *e;
    struct bundle_lane lane;
    struct bundle_manifest bm;
    char *text;                    /* the manifest bytes */
    size_t text_len;
    unsigned char sig[BUNDLE_SIG_MAX];
    size_t sig_len;
    char fingerprint[65];
    char q[LM_QUOTE_MAX + 8];      /* the current entry's name, quoted */
    uint64_t at;                   /* where its header starts in the tar stream */
};

static int damaged(struct imp *m)
{
    const char *why = archive_error_string(m->a);
    return lm_err_set(m->err, LM_ECORRUPT, m->label, LM_NO_OFFSET,
                      "the archive is damaged or cut short: %s", why ? why : "read error");
}

static int entry_bad(struct imp *m, enum lm_errcode code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int entry_bad(struct imp *m, enum lm_errcode code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return lm_err_set(m->err, code, m->label, m->at, "entry '%s': %s", m->q, msg);
}

/* Next header: 1 = one, 0 = end of archive, -1 = error. Checks what every entry must be: a
 * regular file with a relative name and no '..', not a link, device or sparse file. */
static int next_entry(struct imp *m, const char **name)
{
    int rc = archive_read_next_header(m->a, &m->e);
    if (rc == ARCHIVE_EOF)
        return 0;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
        return damaged(m);
    m->at = (uint64_t)archive_read_header_position(m->a);
    const char *p = archive_entry_pathname(m->e);
    *name = p ? p : "";
    lm_quote(*name, strlen(*name), m->q, sizeof(m->q));
    if (!**name)
        return entry_bad(m, LM_ECORRUPT, "an entry without a name");
    if (**name == '/')
        return entry_bad(m, LM_ECORRUPT, "refused: an absolute path");
    for (const char *c = *name; *c;) {
        size_t k = strcspn(c, "/");
        if (k == 2 && c[0] == '.' && c[1] == '.')
            return entry_bad(m, LM_ECORRUPT, "refused: a '..' path part");
        c += k + (c[k] == '/');
    }
    if (archive_entry_hardlink(m->e))
        return entry_bad(m, LM_ECORRUPT, "refused: a hard link");
    switch (archive_entry_filetype(m->e)) {
    case AE_IFREG:
        break;
    case AE_IFLNK:
        return entry_bad(m, LM_ECORRUPT, "refused: a symbolic link");
    case AE_IFCHR:
    case AE_IFBLK:
        return entry_bad(m, LM_ECORRUPT, "refused: a device");
    case AE_IFDIR:
        return entry_bad(m, LM_ECORRUPT, "refused: a directory");
    default:
        return entry_bad(m, LM_ECORRUPT, "refused: not a regular file");
    }
    if (archive_entry_sparse_count(m->e) > 0)
        return entry_bad(m, LM_ECORRUPT, "refused: a sparse file");
    if (!archive_entry_size_is_set(m->e) || archive_entry_size(m->e) < 0)
        return entry_bad(m, LM_ECORRUPT, "no size");
    return 1;
}

/* The whole of a small entry (manifest, signature), at most max bytes. */
static int read_small(struct imp *m, size_t max, unsigned char *buf, size_t *len)
{
    uint64_t size = (uint64_t)archive_entry_size(m->e);
    if (size > max)
        return entry_bad(m, LM_ECORRUPT, "%llu bytes, over the limit of %zu",
                         (unsigned long long)size, max);
    size_t got = 0;
    while (got < size) {
        la_ssize_t r = archive_read_data(m->a, buf + got, (size_t)size - got);
        if (r < 0)
            return damaged(m);
        if (r == 0)
            return entry_bad(m, LM_ECORRUPT, "cut short at %zu of %llu bytes", got,
                             (unsigned long long)size);
        got += (size_t)r;
    }
    *len = got;
    return 0;
}

static int read_manifest(struct imp *m)
{
    const char *name;
    int rc = next_entry(m, &name);
    if (rc == 0)
        return lm_err_set(m->err, LM_ECORRUPT, m->label, LM_NO_OFFSET, "the archive is empty");
    if (rc < 0)
        return -1;
    if (strcmp(name, BUNDLE_MANIFEST_NAME) != 0)
        return entry_bad(m, LM_ECORRUPT, "a bundle starts with " BUNDLE_MANIFEST_NAME);
    uint64_t size = (uint64_t)archive_entry_size(m->e);
    if (size > BUNDLE_MANIFEST_MAX)
        return entry_bad(m, LM_ECORRUPT, "the bundle manifest is %llu bytes, over the limit of "
                         "%u", (unsigned long long)size, BUNDLE_MANIFEST_MAX);
    if (!(m->text = malloc((size_t)size + 1)))
        return lm_err_set(m->err, LM_ENOMEM, m->label, LM_NO_OFFSET, "out of memory");
    if (read_small(m, BUNDLE_MANIFEST_MAX, (unsigned char *)m->text, &m->text_len))
        return -1;
    m->text[m->text_len] = 0;
    return bundle_manifest_parse(&m->bm, m->text, m->text_len, m->label, m->err);
}

/* Names that exist are refused unless --force, or unless they name this manifest already. */
static int check_names(struct imp *m)
{
    for (size_t i = 0; i < m->bm.n_models; i++) {
        struct lm_model *old = NULL;
        struct lm_err e;
        lm_err_clear(&e);
        if (lm_model_get(m->s, m->bm.models[i].name, &old, &e)) {
            if (e.code == LM_ENOTFOUND)
                continue;
            *m->err = e;
            return -1;
        }
        bool same = strcmp(old->manifest, m->bm.models[i].manifest) == 0;
        if (!same && !m->o->force) {
            char q[LM_QUOTE_MAX + 8];
            lm_quote(old->display, strlen(old->display), q, sizeof(q));
            lm_err_set(m->err, LM_EEXIST, m->label, LM_NO_OFFSET,
                       "model '%s' exists (id %.12s); --force replaces it", q, old->manifest);
        }
        lm_model_free(old);
        if (!same && !m->o->force)
            return -1;
    }
    return 0;
}

/* Which blobs the store has, and whether the new ones fit: checked before anything is written,
 * from the sizes the manifest declares (and every entry is held to those while it is read). */
static int check_space(struct imp *m)
{
    uint64_t need = 0;
    struct statvfs sv;
    for (size_t i = 0; i < m->bm.n_blobs; i++) {
        struct bundle_blob *b = &m->bm.blobs[i];
        char path[STORE_PATH_MAX];
        struct stat st;
        b->present = lm_blob_path(m->s, b->digest, path, sizeof(path)) == 0 &&
                     stat(path, &st) == 0 && (uint64_t)st.st_size == b->size;
        if (!b->present && ckd_add(&need, need, b->size))
            need = UINT64_MAX;
    }
    if (statvfs(m->s->tmp, &sv) < 0)
        return lm_err_errno(m->err, m->s->tmp, "statvfs");
    uint64_t avail = (uint64_t)sv.f_bavail * (uint64_t)sv.f_frsize;
    if (need > avail)
        return lm_err_set(m->err, LM_EIO, m->label, LM_NO_OFFSET,
                          "the bundle's new blobs need %llu bytes, more than %s has free",
                          (unsigned long long)need, m->s->tmp);
    return 0;
}

static int read_signature(struct imp *m, bool *have)
{
    const char *name;
    *have = false;
    int rc = next_entry(m, &name);
    if (rc <= 0)
        return rc;
    if (strcmp(name, BUNDLE_SIG_NAME) != 0)
        return 1;   /* the first blob: the caller goes on with this entry */
    *have = true;
    if (read_small(m, BUNDLE_SIG_MAX, m->sig, &m->sig_len))
        return -1;
    return 2;
}

/* Stream one blob entry into tmp/ (or only hash it, if the store has it), then check it. The
 * lane thread hashes and writes while this one decompresses. */
static int stage_blob(struct imp *m, struct bundle_blob *b)
{
    uint64_t got = 0, nul_at = UINT64_MAX, fed = 0;
    char hex[65];
    if (!b->present) {
        b->fd = store_tmp_create(m->s, ".part", b->tmp, sizeof(b->tmp), m->err);
        if (b->fd < 0) {
            b->tmp[0] = 0;
            return -1;
        }
    }
    bundle_lane_begin(&m->lane, b->fd, b->tmp);
    for (;;) {
        const void *p;
        size_t n;
        la_int64_t off;
        int rc = archive_read_data_block(m->a, &p, &n, &off);
        if (rc == ARCHIVE_EOF)
            break;
        if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN)
            return damaged(m);
        if (off < 0 || (uint64_t)off != fed)
            return entry_bad(m, LM_ECORRUPT, "data has a hole at byte %llu",
                             (unsigned long long)fed);
        if (n > b->size - fed)
            return entry_bad(m, LM_ECORRUPT, "more than the %llu bytes the manifest says",
                             (unsigned long long)b->size);
        if (bundle_lane_put(&m->lane, p, n))
            break;   /* the lane failed: _end says why */
        fed += n;
        store_progress(m->s, n);
    }
    if (bundle_lane_end(&m->lane, hex, &got, &nul_at, m->err))
        return -1;
    if (got != b->size)
        return entry_bad(m, LM_ECORRUPT, "cut short at %llu of %llu bytes",
                         (unsigned long long)got, (unsigned long long)b->size);
    if (strcmp(hex, b->digest) != 0)
        return entry_bad(m, LM_EDIGEST, "sha256 mismatch: the bytes hash to %s", hex);
    if (b->fd >= 0) {
        store_fault_point();
        if (fsync(b->fd) < 0)
            return lm_err_errno(m->err, b->tmp, "fsync");
        char label[STORE_PATH_MAX];
        snprintf(label, sizeof(label), "%s: %s", m->label, m->q);
        if (store_admit(b->media_type, b->tmp, label, got, nul_at, m->err))
            return -1;
        /* The shared store lock, not this fd's flock, keeps gc away until the models are in. */
        close(b->fd);
        b->fd = -1;
    }
    return 0;
}

static int read_blobs(struct imp *m, int first)
{
    const char *name = archive_entry_pathname(m->e);
    int rc = first;
    for (; rc == 1; rc = next_entry(m, &name)) {
        size_t np = strlen(BUNDLE_BLOB_PREFIX);
        if (strcmp(name, BUNDLE_MANIFEST_NAME) == 0 || strcmp(name, BUNDLE_SIG_NAME) == 0)
            return entry_bad(m, LM_ECORRUPT, "appears twice");
        struct bundle_blob *b = strncmp(name, BUNDLE_BLOB_PREFIX, np) == 0 &&
                                        lm_digest_valid(name + np)
                                    ? bundle_find_blob(&m->bm, name + np) : NULL;
        if (!b)
            return entry_bad(m, LM_ECORRUPT, "not listed in the bundle manifest");
        if (b->seen)
            return entry_bad(m, LM_ECORRUPT, "appears twice");
        b->seen = true;
        uint64_t size = (uint64_t)archive_entry_size(m->e);
        if (size != b->size)
            return entry_bad(m, LM_ECORRUPT, "%llu bytes, the bundle manifest says %llu",
                             (unsigned long long)size, (unsigned long long)b->size);
        if (stage_blob(m, b))
            return -1;
    }
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < m->bm.n_blobs; i++)
        if (!m->bm.blobs[i].seen)
            return lm_err_set(m->err, LM_ECORRUPT, m->label, LM_NO_OFFSET,
                              "blob %s (%llu bytes) is in the bundle manifest but not in the "
                              "archive", m->bm.blobs[i].digest,
                              (unsigned long long)m->bm.blobs[i].size);
    return 0;
}

/* Every blob checked out: move the staged ones into blobs/. */
static int publish(struct imp *m)
{
    struct lm_store *s = m->s;
    bool any = false;
    for (size_t i = 0; i < m->bm.n_blobs; i++) {
        struct bundle_blob *b = &m->bm.blobs[i];
        char dst[STORE_PATH_MAX];
        struct stat st;
        if (!b->tmp[0])
            continue;
        if (lm_blob_path(s, b->digest, dst, sizeof(dst)))
            return lm_err_set(m->err, LM_EINTERNAL, m->label, LM_NO_OFFSET, "bad digest");
        /* Another writer may have put the same bytes there meanwhile: keep theirs. */
        if (stat(dst, &st) == 0 && (uint64_t)st.st_size == b->size) {
            unlink(b->tmp);
            lm_tmp_untrack(b->tmp);
            b->tmp[0] = 0;
            continue;
        }
        chmod(b->tmp, 0444);   /* blobs are never edited in place */
        store_fault_point();
        if (rename(b->tmp, dst) < 0)
            return lm_err_errno(m->err, dst, "rename");
        lm_tmp_untrack(b->tmp);
        b->tmp[0] = 0;
        b->renamed = any = true;
    }
    return any ? store_fsync_dir(s->blobs, m->err) : 0;
}

static void undo(struct imp *m)
{
    for (size_t i = 0; i < m->bm.n_blobs; i++) {
        struct bundle_blob *b = &m->bm.blobs[i];
        char dst[STORE_PATH_MAX];
        if (b->fd >= 0)
            close(b->fd);
        b->fd = -1;
        if (b->tmp[0]) {
            unlink(b->tmp);
            lm_tmp_untrack(b->tmp);
            b->tmp[0] = 0;
        }
        if (b->renamed && lm_blob_path(m->s, b->digest, dst, sizeof(dst)) == 0)
            unlink(dst);   /* ours alone: no committed model names it */
    }
}

static int record(struct imp *m, struct lm_bundle_result *r)
{
    uint8_t d[32];
    char hex[65];
    json_t *x = json_object();
    char *extra = NULL;
    int ret = -1;
    lm_sha256_buf(m->text, m->text_len, d);
    lm_hex(d, 32, hex);
    json_object_set_new(x, "created", json_integer(m->bm.created));
    json_object_set_new(x, "exported_by", json_string(m->bm.lm_version));
    if (m->fingerprint[0])
        json_object_set_new(x, "signed_by", json_string(m->fingerprint));
    extra = json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER);
    /* Where this copy came from: the bundle, named by its manifest's sha256. */
    struct lm_provenance via = { "bundle", m->o->source_url, NULL, hex, extra, NULL, 0 };
    if (!extra) {
        lm_err_set(m->err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto out;
    }
    if (bundle_add_models(m->s, &m->bm, &via, m->o->force, m->err))
        goto out;
    r->names = calloc(m->bm.n_models, sizeof(*r->names));
    if (r->names) {
        for (size_t i = 0; i < m->bm.n_models; i++) {
            struct lm_name nm;
            char disp[LM_NAME_MAX + 1];
            lm_name_parse(m->bm.models[i].name, &nm, NULL);
            lm_name_display(&nm, disp, sizeof(disp));
            r->names[i] = strdup(disp);
            r->n_models += r->names[i] != NULL;
        }
    }
    ret = 0;
out:
    free(extra);
    json_decref(x);
    return ret;
}

static int run(struct imp *m, int fd, struct lm_bundle_result *r)
{
    bool have_sig;
    m->a = archive_read_new();
    if (!m->a)
        return lm_err_set(m->err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
    /* Compressions with a library behind them only: no external program runs on our input. */
    archive_read_support_filter_zstd(m->a);
    archive_read_support_filter_gzip(m->a);
    archive_read_support_filter_bzip2(m->a);
    archive_read_support_filter_xz(m->a);
    archive_read_support_filter_lz4(m->a);
    archive_read_support_format_tar(m->a);
    if (archive_read_open_fd(m->a, fd, BUNDLE_CHUNK) != ARCHIVE_OK)
        return damaged(m);
    if (read_manifest(m))
        return -1;
    int rc = read_signature(m, &have_sig);
    if (rc < 0)
        return -1;
    if (m->o->require_sig) {
        if (!have_sig)
            return lm_err_set(m->err, LM_EDIGEST, m->label, LM_NO_OFFSET,
                              "the bundle is not signed, and a signature is required");
        if (bundle_verify_sig(m->o->require_sig, m->text, m->text_len, m->sig, m->sig_len,
                              m->label, m->fingerprint, m->err))
            return -1;
    }
    if (check_names(m) || check_space(m))
        return -1;
    if (rc == 2)
        rc = next_entry(m, &(const char *){ NULL });
    if (rc < 0)
        return -1;
    m->s->progress_done = 0;
    m->s->progress_total = m->bm.bytes;
    /* Shared store lock from the first staged byte until the models are in: gc waits. */
    if (store_lock(m->s, LOCK_SH, m->err) || bundle_lane_start(&m->lane, m->err) ||
        read_blobs(m, rc))
        return -1;
    bundle_lane_stop(&m->lane);
    if (publish(m) || record(m, r))
        return -1;
    r->n_blobs = m->bm.n_blobs;
    r->bytes = m->bm.bytes;
    for (size_t i = 0; i < m->bm.n_blobs; i++)
        if (m->bm.blobs[i].renamed) {
            r->n_new++;
            r->bytes_written += m->bm.blobs[i].size;
        }
    snprintf(r->fingerprint, sizeof(r->fingerprint), "%s", m->fingerprint);
    return 0;
}

int lm_bundle_import(struct lm_store *s, int fd, const char *label,
                     const struct lm_bundle_import_opts *o, struct lm_bundle_result *r,
                     struct lm_err *err)
{
    struct imp m;
    memset(&m, 0, sizeof(m));
    memset(r, 0, sizeof(*r));
    m.s = s;
    m.o = o;
    m.label = label;
    m.err = err;
    int old_mode = s->lock_mode;
    int ret = run(&m, fd, r);
    bundle_lane_stop(&m.lane);   /* before undo: the lane may still hold a temp file's fd */
    if (ret)
        undo(&m);
    store_lock(s, old_mode, NULL);
    if (m.a)
        archive_read_free(m.a);
    bundle_manifest_release(&m.bm);
    free(m.text);
    return ret;
}
