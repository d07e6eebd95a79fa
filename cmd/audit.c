/* audit.c: lm audit: per model, where every byte came from and whether it still checks: blob
 * digests, upstream digests, signature, derivation chain, license; as text, JSON or a CycloneDX
 * 1.6 ML-BOM. Exit 1 when any check fails, so it can gate CI. */
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cmd.h"
#include "../store/store.h"
#include "../common/banned.h"

static const char audit_usage[] =
    "usage: lm audit [NAME...] [--json | --format cyclonedx]\n"
    "  For each model (default: all): its manifest, source (kind, URL, revision, commit), every\n"
    "  file re-hashed against its digest and against the digest upstream gave, the signature\n"
    "  status recorded at pull, the derivation chain back to the source, and the license.\n"
    "  --format cyclonedx writes a CycloneDX 1.6 ML-BOM. Exit 1 if any check fails.\n";

#define AUDIT_CHUNK (1u << 20)

/* sha256 and git blob id of a file in one pass; -1 if it cannot be read. */
static int hash_blob(const char *path, char sha[65], char git[41])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    uint8_t *buf = malloc(AUDIT_CHUNK), d[32];
    off_t size = lseek(fd, 0, SEEK_END);
    char hdr[32];
    int hl = snprintf(hdr, sizeof(hdr), "blob %lld", (long long)size);
    int ret = -1;
    if (!a || !b || !buf || size < 0 || lseek(fd, 0, SEEK_SET) != 0 ||
        !EVP_DigestInit_ex(a, EVP_sha256(), NULL) || !EVP_DigestInit_ex(b, EVP_sha1(), NULL))
        goto out;
    EVP_DigestUpdate(b, hdr, (size_t)hl + 1);   /* "blob N\0" */
    for (;;) {
        ssize_t n = read(fd, buf, AUDIT_CHUNK);
        if (n < 0)
            goto out;
        if (n == 0)
            break;
        EVP_DigestUpdate(a, buf, (size_t)n);
        EVP_DigestUpdate(b, buf, (size_t)n);
    }
    unsigned int k;
    EVP_DigestFinal_ex(a, d, &k);
    lm_hex(d, 32, sha);
    EVP_DigestFinal_ex(b, d, &k);
    lm_hex(d, 20, git);
    ret = 0;
out:
    free(buf);
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
    close(fd);
    return ret;
}

static json_t *jstr(const char *s)
{
    return s ? lm_json_string(s, strlen(s)) : json_null();
}

static const struct lm_model *by_manifest(struct lm_model **all, size_t n, const char *manifest)
{
    for (size_t i = 0; manifest && i < n; i++)
        if (strcmp(all[i]->manifest, manifest) == 0)
            return all[i];
    return NULL;
}

/* What upstream said a file's digest was: from the oldest provenance that lists it. */
static const struct lm_prov_file *upstream_of(const struct lm_model *m, const char *path)
{
    for (size_t i = 0; i < m->n_prov; i++)
        for (size_t j = 0; j < m->prov[i].n_files; j++)
            if (m->prov[i].files[j].path && strcmp(m->prov[i].files[j].path, path) == 0 &&
                m->prov[i].files[j].upstream_digest)
                return &m->prov[i].files[j];
    return NULL;
}

/* The first non-empty line of a license file, trimmed, at most 120 bytes. */
static json_t *license_title(const char *blob)
{
    struct lm_buf b = LM_BUF_INIT(1u << 20);
    struct lm_err e;
    json_t *t = NULL;
    if (lm_read_file(blob, 1u << 20, &b, &e) == 0 && b.len) {
        const char *p = b.data, *end = b.data + b.len;
        while (p < end && (*p == '\n' || *p == '\r' || *p == ' ' || *p == '\t'))
            p++;
        size_t n = 0;
        while (p + n < end && p[n] != '\n' && p[n] != '\r' && n < 120)
            n++;
        while (n && p[n - 1] == ' ')
            n--;
        if (n)
            t = lm_json_string(p, n);
    }
    lm_buf_release(&b);
    return t;
}

/* The signature status a pull recorded (provenance extra "signature"), else what the files say. */
static json_t *signature_of(const struct lm_model *m, bool *failed)
{
    for (size_t i = m->n_prov; i-- > 0;) {
        json_t *x = m->prov[i].extra_json ? json_loads(m->prov[i].extra_json, 0, NULL) : NULL;
        json_t *s = json_object_get(x, "signature");
        if (json_is_object(s)) {
            json_incref(s);
            json_decref(x);
            json_t *v = json_object_get(s, "verified");
            if (json_is_false(v))
                *failed = true;
            if (!json_object_get(s, "status"))
                json_object_set_new(s, "status", json_string(json_is_true(v) ? "verified"
                                                             : json_is_false(v) ? "failed"
                                                                                : "recorded"));
            return s;
        }
        json_decref(x);
    }
    for (size_t i = 0; i < m->n_layers; i++)
        if (strcmp(m->layers[i].path, "model.sig") == 0)
            return json_pack("{s:s, s:s}", "status", "present, not verified", "file", "model.sig");
    return json_pack("{s:s}", "status", "unsigned");
}

/* One model's audit as JSON; *bad set when a check fails. */
static json_t *audit_model(const struct lm_model *m, struct lm_model **all, size_t n_all,
                           bool *bad)
{
    json_t *o = json_object(), *files = json_array(), *chain = json_array(), *lic = json_array();
    json_object_set_new(o, "name", jstr(m->display));
    json_object_set_new(o, "manifest", json_string(m->manifest));
    json_object_set_new(o, "format", jstr(m->format));
    json_object_set_new(o, "architecture", jstr(m->architecture));
    json_object_set_new(o, "quantization", jstr(m->quantization));
    const struct lm_model_prov *p = m->n_prov ? &m->prov[0] : NULL;
    json_t *src = json_object();
    json_object_set_new(src, "kind", jstr(p ? p->kind : NULL));
    json_object_set_new(src, "url", jstr(p ? p->url : NULL));
    json_object_set_new(src, "revision", jstr(p ? p->revision : NULL));
    json_object_set_new(src, "commit", jstr(p ? p->commit : NULL));
    json_t *x = p && p->extra_json ? json_loads(p->extra_json, 0, NULL) : NULL;
    json_object_set_new(src, "endpoint", json_is_string(json_object_get(x, "endpoint"))
                                             ? json_incref(json_object_get(x, "endpoint"))
                                             : json_null());
    json_decref(x);
    json_object_set_new(o, "source", src);
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct lm_model_layer *l = &m->layers[i];
        char sha[65] = "", git[41] = "";
        const char *state = "ok";
        if (hash_blob(l->blob, sha, git))
            state = "missing";
        else if (strcmp(sha, l->digest) != 0)
            state = "digest-mismatch";
        const struct lm_prov_file *u = upstream_of(m, l->path);
        json_t *match = json_null();
        if (u && *sha) {
            bool g = u->algorithm && strcmp(u->algorithm, "git-sha1") == 0;
            match = json_boolean(strcmp(g ? git : sha, u->upstream_digest) == 0);
        }
        if (strcmp(state, "ok") != 0 || json_is_false(match))
            *bad = true;
        json_array_append_new(files, json_pack("{s:o, s:s, s:I, s:o, s:s, s:o, s:o, s:o}",
                                               "path", jstr(l->path), "sha256", l->digest,
                                               "size", (json_int_t)l->size, "role", jstr(l->role),
                                               "check", state, "upstream_algorithm",
                                               jstr(u ? u->algorithm : NULL), "upstream_digest",
                                               jstr(u ? u->upstream_digest : NULL),
                                               "matches_upstream", match));
        if (l->role && strcmp(l->role, "license") == 0)
            json_array_append_new(lic, json_pack("{s:o, s:s, s:o}", "file", jstr(l->path),
                                                 "sha256", l->digest, "title",
                                                 license_title(l->blob) ?: json_null()));
    }
    json_object_set_new(o, "files", files);
    bool sig_bad = false;
    json_object_set_new(o, "signature", signature_of(m, &sig_bad));
    if (sig_bad)
        *bad = true;
    for (size_t i = 0; i < m->n_derivs; i++) {
        const struct lm_model_deriv *d = &m->derivs[i];
        const struct lm_model *in = by_manifest(all, n_all, d->input_manifest);
        json_array_append_new(chain, json_pack("{s:o, s:o, s:o, s:o, s:o}", "operation",
                                               jstr(d->operation), "parameters",
                                               d->params_json ? json_loads(d->params_json, 0, NULL)
                                                              : json_null(),
                                               "input_manifest", jstr(d->input_manifest),
                                               "input_name", jstr(in ? in->display : NULL),
                                               "output_manifest", jstr(d->output_manifest)));
    }
    json_object_set_new(o, "derivations", chain);
    json_object_set_new(o, "licenses", lic);
    json_object_set_new(o, "ok", json_boolean(!*bad));
    return o;
}

/* ---- text -------------------------------------------------------------------------------- */

static const char *s_or(json_t *v, const char *dflt)
{
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static void print_text(json_t *a)
{
    size_t i;
    json_t *m;
    json_array_foreach(a, i, m) {
        char q[LM_QUOTE_MAX + 8];
        const char *nm = s_or(json_object_get(m, "name"), "?");
        printf("%s%s  %.12s\n", i ? "\n" : "", lm_quote(nm, strlen(nm), q, sizeof(q)),
               s_or(json_object_get(m, "manifest"), ""));
        json_t *src = json_object_get(m, "source");
        printf("  source      %s %s", s_or(json_object_get(src, "kind"), "unknown"),
               s_or(json_object_get(src, "url"), ""));
        if (json_is_string(json_object_get(src, "revision")))
            printf(" @%s", s_or(json_object_get(src, "revision"), ""));
        if (json_is_string(json_object_get(src, "commit")))
            printf(" (commit %s)", s_or(json_object_get(src, "commit"), ""));
        printf("\n");
        size_t j;
        json_t *f;
        json_array_foreach(json_object_get(m, "files"), j, f) {
            json_t *mu = json_object_get(f, "matches_upstream");
            const char *p = s_or(json_object_get(f, "path"), "?");
            printf("  %-11s %-28s sha256:%.12s  %s%s\n", j ? "" : "files",
                   lm_quote(p, strlen(p), q, sizeof(q)), s_or(json_object_get(f, "sha256"), ""),
                   s_or(json_object_get(f, "check"), "?"),
                   json_is_true(mu) ? ", matches upstream"
                   : json_is_false(mu) ? ", DIFFERS FROM UPSTREAM" : "");
        }
        json_t *sg = json_object_get(m, "signature");
        printf("  signature   %s", s_or(json_object_get(sg, "status"), "?"));
        if (json_is_string(json_object_get(sg, "signer")))
            printf(", %s %s", s_or(json_object_get(sg, "method"), ""),
                   s_or(json_object_get(sg, "signer"), ""));
        printf("\n");
        json_array_foreach(json_object_get(m, "derivations"), j, f) {
            printf("  %-11s %s from %s (%.12s)\n", j ? "" : "derived by",
                   s_or(json_object_get(f, "operation"), "?"),
                   s_or(json_object_get(f, "input_name"), "a model no longer named"),
                   s_or(json_object_get(f, "input_manifest"), ""));
        }
        json_array_foreach(json_object_get(m, "licenses"), j, f) {
            const char *t = s_or(json_object_get(f, "title"), "");
            printf("  %-11s %s: %s\n", j ? "" : "license", s_or(json_object_get(f, "file"), ""),
                   lm_quote(t, strlen(t), q, sizeof(q)));
        }
        printf("  result      %s\n", json_is_true(json_object_get(m, "ok")) ? "ok" : "FAILED");
    }
}

/* ---- CycloneDX 1.6 ----------------------------------------------------------------------- */

static json_t *prop(const char *name, const char *value)
{
    return json_pack("{s:s, s:o}", "name", name, "value", jstr(value ? value : ""));
}

static json_t *sha_hash(const char *hex)
{
    return json_pack("[{s:s, s:s}]", "alg", "SHA-256", "content", hex);
}

static json_t *cdx_model(json_t *m)
{
    const char *name = s_or(json_object_get(m, "name"), "?");
    const char *man = s_or(json_object_get(m, "manifest"), "");
    char ref[LM_NAME_MAX + 64];
    snprintf(ref, sizeof(ref), "model:%s", name);
    json_t *c = json_pack("{s:s, s:s, s:o, s:o}", "type", "machine-learning-model", "bom-ref",
                          ref, "name", jstr(name), "hashes", sha_hash(man));
    json_t *props = json_array(), *files = json_array(), *src = json_object_get(m, "source");
    json_array_append_new(props, prop("lm:manifest", man));
    json_array_append_new(props, prop("lm:source.kind", s_or(json_object_get(src, "kind"), "")));
    static const char *const keys[] = { "url", "revision", "commit", "endpoint" };
    for (size_t i = 0; i < 4; i++) {
        char k[32];
        snprintf(k, sizeof(k), "lm:source.%s", keys[i]);
        if (json_is_string(json_object_get(src, keys[i])))
            json_array_append_new(props, prop(k, s_or(json_object_get(src, keys[i]), "")));
    }
    json_t *sg = json_object_get(m, "signature");
    json_array_append_new(props, prop("lm:signature.status", s_or(json_object_get(sg, "status"), "")));
    static const char *const skeys[] = { "method", "signer", "issuer", "root", "error" };
    for (size_t i = 0; i < sizeof(skeys) / sizeof(skeys[0]); i++) {
        char k[32];
        snprintf(k, sizeof(k), "lm:signature.%s", skeys[i]);
        if (json_is_string(json_object_get(sg, skeys[i])))
            json_array_append_new(props, prop(k, s_or(json_object_get(sg, skeys[i]), "")));
    }
    json_t *when = json_object_get(sg, "signed_at");
    if (json_is_integer(when) && json_integer_value(when) > 0) {
        char t[32];
        snprintf(t, sizeof(t), "%lld", (long long)json_integer_value(when));
        json_array_append_new(props, prop("lm:signature.signed_at", t));
    }
    json_array_append_new(props, prop("lm:audit", json_is_true(json_object_get(m, "ok")) ? "ok"
                                                                                        : "failed"));
    const char *url = s_or(json_object_get(src, "url"), "");
    if (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0 ||
        strncmp(url, "file://", 7) == 0)
        json_object_set_new(c, "externalReferences",
                            json_pack("[{s:s, s:o}]", "type", "distribution", "url", jstr(url)));
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(m, "files"), i, f) {
        const char *p = s_or(json_object_get(f, "path"), "?");
        char fref[LM_NAME_MAX + 1200];
        snprintf(fref, sizeof(fref), "%s:file:%s", ref, p);
        json_t *fp = json_array();
        json_array_append_new(fp, prop("lm:role", s_or(json_object_get(f, "role"), "")));
        json_array_append_new(fp, prop("lm:check", s_or(json_object_get(f, "check"), "")));
        json_t *mu = json_object_get(f, "matches_upstream");
        if (!json_is_null(mu))
            json_array_append_new(fp, prop("lm:upstream", json_is_true(mu) ? "match" : "differs"));
        json_array_append_new(files, json_pack("{s:s, s:s, s:o, s:o, s:o}", "type", "file",
                                               "bom-ref", fref, "name", jstr(p), "hashes",
                                               sha_hash(s_or(json_object_get(f, "sha256"), "")),
                                               "properties", fp));
    }
    json_object_set_new(c, "components", files);
    json_t *lic = json_array();
    json_array_foreach(json_object_get(m, "licenses"), i, f) {
        const char *t = s_or(json_object_get(f, "title"), NULL);
        json_array_append_new(lic, json_pack("{s:{s:o}}", "license", "name",
                                             jstr(t ? t : s_or(json_object_get(f, "file"), ""))));
    }
    if (json_array_size(lic))
        json_object_set_new(c, "licenses", lic);
    else
        json_decref(lic);
    json_t *anc = json_array();
    struct lm_buf notes = LM_BUF_INIT(1u << 20);
    json_array_foreach(json_object_get(m, "derivations"), i, f) {
        const char *in = s_or(json_object_get(f, "input_name"), "unnamed");
        const char *im = s_or(json_object_get(f, "input_manifest"), "");
        char aref[LM_NAME_MAX + 128];
        snprintf(aref, sizeof(aref), "%s:ancestor:%zu", ref, i);
        json_array_append_new(anc, json_pack("{s:s, s:s, s:o, s:o}", "type",
                                             "machine-learning-model", "bom-ref", aref, "name",
                                             jstr(in), "hashes", sha_hash(im)));
        char *pj = json_dumps(json_object_get(f, "parameters"), JSON_COMPACT | JSON_SORT_KEYS |
                                                                JSON_ENCODE_ANY);
        lm_buf_printf(&notes, "%s%s from %s (manifest %s): %s", i ? "; " : "",
                      s_or(json_object_get(f, "operation"), "?"), in, im, pj ? pj : "{}");
        free(pj);
    }
    if (json_array_size(anc)) {
        lm_buf_add(&notes, "", 1);
        json_object_set_new(c, "pedigree", json_pack("{s:o, s:o}", "ancestors", anc, "notes",
                                                     jstr(notes.data ? notes.data : "")));
    } else {
        json_decref(anc);
    }
    lm_buf_release(&notes);
    json_object_set_new(c, "properties", props);
    return c;
}

static json_t *cyclonedx(json_t *audits)
{
    json_t *comps = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(audits, i, m)
        json_array_append_new(comps, cdx_model(m));
    /* The serial number names this content (same models, same BOM): a UUID from its hash. */
    char *body = json_dumps(comps, JSON_COMPACT | JSON_SORT_KEYS);
    uint8_t d[32];
    char h[65], serial[64], ts[32];
    lm_sha256_buf(body ? body : "", body ? strlen(body) : 0, d);
    free(body);
    d[6] = (uint8_t)((d[6] & 0x0f) | 0x50);
    d[8] = (uint8_t)((d[8] & 0x3f) | 0x80);
    lm_hex(d, 16, h);
    snprintf(serial, sizeof(serial), "urn:uuid:%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12,
             h + 16, h + 20);
    /* SOURCE_DATE_EPOCH pins the time for reproducible output. */
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    uint64_t e;
    time_t now = sde && lm_parse_u64(sde, 0, INT32_MAX, &e) == 0 ? (time_t)e : time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:{s:[{s:s, s:s, s:s}]}}, s:o}", "bomFormat",
                     "CycloneDX", "specVersion", "1.6", "serialNumber", serial, "version", 1,
                     "metadata", "timestamp", ts, "tools", "components", "type", "application",
                     "name", "lm", "version", LM_VERSION, "components", comps);
}

/* ---- the command ------------------------------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
    return strcmp((*(struct lm_model *const *)a)->display, (*(struct lm_model *const *)b)->display);
}

int cmd_audit(int argc, char **argv)
{
    enum { TEXT, JSON, CDX } fmt = TEXT;
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(audit_usage);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0 && fmt == TEXT) {
            fmt = JSON;
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc && fmt == TEXT) {
            if (strcmp(argv[++i], "cyclonedx") == 0)
                fmt = CDX;
            else if (strcmp(argv[i], "json") == 0)
                fmt = JSON;
            else if (strcmp(argv[i], "text") != 0)
                return cmd_usage(audit_usage);
        } else if (argv[i][0] == '-') {
            return cmd_usage(audit_usage);
        }
    }
    struct lm_err err;
    lm_err_clear(&err);
    struct lm_store *s = lm_store_open(NULL, &err);
    struct lm_model **all = NULL;
    size_t n_all = 0;
    int rc = LM_EXIT_FAIL;
    json_t *out = json_array();
    if (!s || lm_store_list(s, &all, &n_all, &err)) {
        lm_report(&err);
        goto done;
    }
    qsort(all, n_all, sizeof(*all), name_cmp);
    bool bad = false, named = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--format") == 0) {
            i++;
            continue;
        }
        if (argv[i][0] == '-')
            continue;
        named = true;
        struct lm_model *m = NULL;
        if (lm_model_get(s, argv[i], &m, &err)) {
            lm_report(&err);
            goto done;
        }
        bool b = false;
        json_array_append_new(out, audit_model(m, all, n_all, &b));
        bad |= b;
        lm_model_free(m);
    }
    for (size_t i = 0; !named && i < n_all; i++) {
        bool b = false;
        json_array_append_new(out, audit_model(all[i], all, n_all, &b));
        bad |= b;
    }
    if (fmt == TEXT) {
        print_text(out);
    } else if (fmt == JSON) {
        lm_json_print(json_incref(out));
    } else {
        lm_json_print(cyclonedx(out));
    }
    rc = bad ? LM_EXIT_FAIL : LM_EXIT_OK;
done:
    json_decref(out);
    lm_model_list_free(all, n_all);
    lm_store_close(s);
    return rc;
}
