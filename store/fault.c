/* fault.c: the crash-test hook (LM_FAULT_AT) and unlinking temp files when a signal ends lm. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "../common/banned.h"

/* LM_FAULT_AT=N makes the Nth write, fsync, rename or index step raise SIGKILL, so tests can
 * stop lm at every point where a crash could leave something half done. */
void store_fault_point(void)
{
    static long at = -1, count;
    if (at < 0) {
        uint64_t v;
        const char *e = getenv("LM_FAULT_AT");
        at = e && lm_parse_u64(e, 1, 1000000000, &v) == 0 ? (long)v : 0;
    }
    if (at > 0 && ++count == at)
        raise(SIGKILL);
}

/* Fixed slots, so the handler touches no heap: it only reads these and calls unlink(). */
#define TRACK_SLOTS 32
static struct {
    volatile sig_atomic_t used;
    char path[STORE_PATH_MAX];
} tracked[TRACK_SLOTS];

void store_tmp_track(const char *path)
{
    for (int i = 0; i < TRACK_SLOTS; i++) {
        if (!tracked[i].used) {
            snprintf(tracked[i].path, sizeof(tracked[i].path), "%s", path);
            tracked[i].used = 1;
            return;
        }
    }
    /* More writers than slots: the untracked file is left for `lm gc` after a signal. */
}

void store_tmp_untrack(const char *path)
{
    for (int i = 0; i < TRACK_SLOTS; i++) {
        if (tracked[i].used && strcmp(tracked[i].path, path) == 0) {
            tracked[i].used = 0;
            return;
        }
    }
}

static void on_signal(int sig)
{
    for (int i = 0; i < TRACK_SLOTS; i++)
        if (tracked[i].used)
            unlink(tracked[i].path);
    signal(sig, SIG_DFL);
    raise(sig);
}

void lm_store_cleanup_on_signal(void)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}
