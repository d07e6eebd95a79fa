/* fault.c: the crash-test hook (LM_FAULT_AT). */
#include <signal.h>
#include <stdlib.h>

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
