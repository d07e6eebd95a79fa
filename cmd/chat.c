/* chat.c: `lm run MODEL` on a terminal, an interactive chat. */
#include "cmd.h"
#include "../common/banned.h"

int cmd_chat(struct cmd_run *r)
{
    (void)r;
    lm_errorf("no PROMPT: give one, or pipe it on stdin");
    return LM_EXIT_USAGE;
}
