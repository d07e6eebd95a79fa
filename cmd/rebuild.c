/* rebuild.c: lm verify --rebuild NAME: re-run each recorded derivation (convert, quantize) from
 * its recorded source with its recorded parameters and compare the bytes with the stored ones. */
#define _GNU_SOURCE   /* mkdtemp */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cmd.h"
#include "../store/store.h"
#include "../common/banned.h"

extern char **environ;

#define REBUILD_ARGS_MAX 64

static const char rebuild_usage[] =
    "usage: lm verify --rebuild [--json] NAME\n"
    "  Re-run every derivation of NAME (lm convert, lm quantize) from its recorded source with\n"
    "  its recorded parameters, and compare each result's sha256 with the stored model's.\n"
    "  Exit 1 if any step is not reproducible or cannot be re-run.\n";

/* One step, copied out of the store so the store can be closed while lm runs again. */
struct step {
    char op[32], source[LM_NAME_MAX + 1], output[LM_NAME_MAX + 1];
    char want[65];     /* the GGUF digest the index records for the step's output */
    char have[65];     /* what that blob's bytes hash to now */
    char got[65];      /* what the re-run made */
    char *params;
    char why[512];     /* why it could not be re-run, "" if it was */
};

/* A model of the store whose manifest is `manifest`, or NULL. */
static struct lm_model *by_manifest(struct lm_model **all, size_t n, const char *manifest)
{
    for (size_t i = 0; manifest && i < n; i++)
        if (strcmp(all[i]->manifest, manifest) == 0)
            return all[i];
    return NULL;
}

/* argv for the re-run, from the recorded parameters; false if the operation is unknown. */
static bool build_argv(struct step *s, const char *self, const char *dst, char **av, char *buf,
                       size_t buflen)
{
    json_t *p = json_loads(s->params ? s->params : "{}", 0, NULL);
    size_t n = 0, used = 0;
    bool ok = true;
#define ARG(str)                                                                    \
    do {                                                                            \
        int w_ = snprintf(buf + used, buflen - used, "%s", (str));                  \
        if (n + 2 >= REBUILD_ARGS_MAX || w_ < 0 || (size_t)w_ >= buflen - used) {   \
            ok = false;                                                             \
            goto out;                                                               \
        }                                                                           \
        av[n++] = buf + used;                                                       \
        used += (size_t)w_ + 1;                                                     \
    } while (0)
    ARG(self);
    if (strcmp(s->op, "quantize") == 0) {
        const char *type = json_string_value(json_object_get(p, "type"));
        static const char *const flags[][2] = {
            { "pure", "--pure" }, { "allow_requantize", "--allow-requantize" },
            { "leave_output_tensor", "--leave-output-tensor" }, { "strict", "--strict" },
        };
        ARG("quantize");
        for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
            if (json_is_true(json_object_get(p, flags[i][0])))
                ARG(flags[i][1]);
        const char *ot = json_string_value(json_object_get(p, "output_tensor_type"));
        const char *et = json_string_value(json_object_get(p, "token_embedding_type"));
        if (ot) {
            ARG("--output-tensor-type");
            ARG(ot);
        }
        if (et) {
            ARG("--token-embedding-type");
            ARG(et);
        }
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(p, "tensor_types"), i, t) {
            char tt[1024];
            snprintf(tt, sizeof(tt), "%s=%s",
                     json_string_value(json_object_get(t, "pattern")) ?: "",
                     json_string_value(json_object_get(t, "type")) ?: "");
            ARG("--tensor-type");
            ARG(tt);
        }
        if (!type) {
            ok = false;
            goto out;
        }
        ARG(s->source);
        ARG(dst);
        ARG(type);
    } else if (strcmp(s->op, "convert") == 0) {
        const char *t = json_string_value(json_object_get(p, "outtype"));
        char lower[16];
        snprintf(lower, sizeof(lower), "%s", t ? t : "");
        for (char *c = lower; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c + 32);
        ARG("convert");
        ARG(s->source);
        ARG("-o");
        ARG(dst);
        if (t) {
            ARG("--outtype");
            ARG(lower);
        }
    } else {
        ok = false;
    }
#undef ARG
out:
    av[n] = NULL;
    json_decref(p);
    return ok;
}

/* Run lm again for one step; fills s->got or s->why. */
static void rerun(struct step *s, const char *self)
{
    const char *t = getenv("TMPDIR");
    char dir[PATH_MAX], dst[PATH_MAX + 16], errf[PATH_MAX + 16], buf[8192];
    char *av[REBUILD_ARGS_MAX];
    snprintf(dir, sizeof(dir), "%s/lm-rebuild-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        snprintf(s->why, sizeof(s->why), "cannot create a temporary directory");
        return;
    }
    snprintf(dst, sizeof(dst), "%s/out.gguf", dir);
    snprintf(errf, sizeof(errf), "%s/stderr", dir);
    if (!build_argv(s, self, dst, av, buf, sizeof(buf))) {
        snprintf(s->why, sizeof(s->why), "%s with these parameters cannot be re-run", s->op);
        goto out;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid;
    int st = 0;
    int rc = posix_spawn(&pid, self, &fa, NULL, av, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        struct lm_buf e = LM_BUF_INIT(4096);
        struct lm_err ig;
        lm_read_file(errf, 4096, &e, &ig);
        size_t k = e.data ? strcspn(e.data, "\n") : 0;
        snprintf(s->why, sizeof(s->why), "re-running %s failed: %.*s", s->op, (int)k,
                 e.data ? e.data : "");
        lm_buf_release(&e);
        goto out;
    }
    struct lm_err err;
    uint64_t size;
    if (lm_sha256_file(dst, s->got, &size, &err))
        snprintf(s->why, sizeof(s->why), "cannot hash the re-run's output");
out:
    unlink(dst);
    unlink(errf);
    rmdir(dir);
}

/* The steps of NAME, newest first, with the digests the store has for each output. */
static int load_steps(const char *name, struct step **out, size_t *n, struct lm_err *err)
{
    struct lm_store *s = lm_store_open(NULL, err);
    struct lm_model *m = NULL, **all = NULL;
    size_t n_all = 0;
    int ret = -1;
    *out = NULL;
    *n = 0;
    if (!s || lm_model_get(s, name, &m, err) || lm_store_list(s, &all, &n_all, err))
        goto done;
    if (m->n_derivs == 0) {
        lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                   "model %s has no derivation record to re-run", m->display);
        goto done;
    }
    *out = calloc(m->n_derivs, sizeof(**out));
    if (!*out) {
        lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < m->n_derivs; i++) {
        struct step *st = &(*out)[i];
        const struct lm_model_deriv *d = &m->derivs[i];
        const struct lm_model *in = by_manifest(all, n_all, d->input_manifest);
        const struct lm_model *om = i == 0 ? m : by_manifest(all, n_all, d->output_manifest);
        snprintf(st->op, sizeof(st->op), "%s", d->operation);
        st->params = d->params_json ? strdup(d->params_json) : NULL;
        snprintf(st->source, sizeof(st->source), "%s", in ? in->display : "");
        snprintf(st->output, sizeof(st->output), "%s", om ? om->display : "");
        (*n)++;
        if (!in) {
            snprintf(st->why, sizeof(st->why), "its source %.12s is no longer in the store",
                     d->input_manifest ? d->input_manifest : "");
            continue;
        }
        if (!om) {
            snprintf(st->why, sizeof(st->why), "its output %.12s is no longer in the store",
                     d->output_manifest ? d->output_manifest : "");
            continue;
        }
        const struct lm_model_layer *l = lm_model_layer_by_type(om, LM_MT_GGUF);
        uint64_t size;
        if (!l) {
            snprintf(st->why, sizeof(st->why), "its output has no GGUF file");
            continue;
        }
        snprintf(st->want, sizeof(st->want), "%s", l->digest);
        if (lm_sha256_file(l->blob, st->have, &size, err))
            goto done;
    }
    ret = 0;
done:
    lm_model_list_free(all, n_all);
    lm_model_free(m);
    lm_store_close(s);
    return ret;
}

int cmd_verify_rebuild(int argc, char **argv)
{
    const char *name = NULL;
    bool json = false;
    if (cmd_wants_help(argc, argv))
        return cmd_help_text(rebuild_usage);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rebuild") == 0)
            continue;
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else
            return cmd_usage(rebuild_usage);
    }
    if (!name)
        return cmd_usage(rebuild_usage);
    char self[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (k <= 0) {
        lm_errorf("cannot find the lm executable to re-run");
        return LM_EXIT_FAIL;
    }
    self[k] = '\0';
    struct step *steps = NULL;
    size_t n = 0;
    struct lm_err err;
    lm_err_clear(&err);
    if (load_steps(name, &steps, &n, &err)) {
        lm_report(&err);
        for (size_t i = 0; i < n; i++)
            free(steps[i].params);
        free(steps);
        return LM_EXIT_FAIL;
    }
    int rc = LM_EXIT_OK;
    json_t *arr = json ? json_array() : NULL;
    /* Oldest step first: the order they were made in. */
    for (size_t j = n; j-- > 0;) {
        struct step *s = &steps[j];
        if (!s->why[0])
            rerun(s, self);
        bool same = !s->why[0] && strcmp(s->got, s->want) == 0 && strcmp(s->have, s->want) == 0;
        if (!same)
            rc = LM_EXIT_FAIL;
        char q[LM_QUOTE_MAX + 8], o[LM_QUOTE_MAX + 8];
        lm_quote(s->source, strlen(s->source), q, sizeof(q));
        lm_quote(s->output, strlen(s->output), o, sizeof(o));
        if (json) {
            json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:b, s:s?, s:s?, s:s?, s:s?}",
                                                 "operation", s->op, "source", q, "output", o,
                                                 "reproducible", same, "stored_sha256",
                                                 s->want[0] ? s->want : NULL, "blob_sha256",
                                                 s->have[0] ? s->have : NULL, "rebuilt_sha256",
                                                 s->got[0] ? s->got : NULL, "error",
                                                 s->why[0] ? s->why : NULL));
        } else if (s->why[0]) {
            printf("%s %s -> %s: cannot rebuild: %s\n", s->op, q, o, s->why);
        } else if (same) {
            printf("%s %s -> %s: reproducible, sha256 %s\n", s->op, q, o, s->got);
        } else if (strcmp(s->have, s->want) != 0) {
            printf("%s %s -> %s: NOT reproducible: the stored blob hashes to %s, the index "
                   "records %s, the rebuild gives %s\n", s->op, q, o, s->have, s->want, s->got);
        } else {
            printf("%s %s -> %s: NOT reproducible: stored sha256 %s, rebuilt %s\n", s->op, q, o,
                   s->want, s->got);
        }
    }
    if (json)
        lm_json_print(json_pack("{s:s, s:b, s:o}", "model", name, "reproducible",
                                rc == LM_EXIT_OK, "steps", arr));
    for (size_t i = 0; i < n; i++)
        free(steps[i].params);
    free(steps);
    return rc;
}
