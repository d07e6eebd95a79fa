/* fault.c: the crash-test hook (LM_FAULT_AT). */
#include <signal.h>

#include "internal.h"
#include "../common/banned.h"

/* LM_FAULT_AT=N makes the Nth write, fsync, rename or index step raise SIGKILL, so tests can
 * stop lm at every point where a crash could leave something half done. */
void store_fault_point(void)
{
    static struct lm_fault f = { "LM_FAULT_AT", SIGKILL, -1, 0 };
    lm_fault_point(&f);
}
