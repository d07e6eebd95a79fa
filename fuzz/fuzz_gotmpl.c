/* fuzz_gotmpl.c: arbitrary bytes as an Ollama Go template (parsed, then rendered over a fixed
 * chat within the limits) and as a Jinja chat template (detected, rendered by its formatter). */
#include <stdint.h>
#include <string.h>

#include "../runtime/runtime.h"
#include "../common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct lm_chat_msg chat[] = {
    { "system", "You are {{ .System }}." }, { "user", "Hi" }, { "user", "again" },
    { "assistant", " <|im_end|> " }, { "tool", "{}" }, { "user", "" },
};
#define N_CHAT (sizeof(chat) / sizeof(chat[0]))

static void check_err(const struct lm_err *err, size_t size)
{
    LM_BUG_ON(err->code == LM_OK || err->msg[0] == 0);
    LM_BUG_ON(err->off != LM_NO_OFFSET && err->off > size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lm_err err;
    lm_err_clear(&err);
    struct lm_buf out = LM_BUF_INIT(1 << 20);
    struct lm_gotmpl *t = lm_gotmpl_parse((const char *)data, size, "fuzz", &err);
    if (!t) {
        check_err(&err, size);
    } else {
        for (size_t n = 0; n <= N_CHAT; n += 3) {
            size_t before = out.len;
            if (lm_gotmpl_render(t, chat, n, &out, &err)) {
                check_err(&err, size);
                LM_BUG_ON(out.len != before);   /* a failed render leaves nothing */
            }
            LM_BUG_ON(out.len > out.max);
        }
        lm_gotmpl_free(t);
    }
    enum lm_chat_family f = lm_chat_detect((const char *)data, size);
    LM_BUG_ON(f < LM_CHAT_UNKNOWN || f >= LM_CHAT_FAMILY_COUNT);
    if (f != LM_CHAT_UNKNOWN) {
        out.len = 0;
        LM_BUG_ON(lm_chat_render(f, chat, N_CHAT, true, &out, &err) != 0);
    }
    lm_buf_release(&out);
    return 0;
}
