/* fuzz_modelfile.c: arbitrary bytes as a Modelfile. An accepted one is written back; that text
 * parses to the same Modelfile; its params blob and messages layer read back the same. */
#include <stdint.h>
#include <string.h>

#include "../runtime/runtime.h"
#include "../common/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lm_modelfile mf, again;
    struct lm_err err;
    lm_err_clear(&err);
    if (lm_modelfile_parse((const char *)data, size, "Modelfile", &mf, &err)) {
        LM_BUG_ON(err.code == LM_OK || err.msg[0] == 0 || strncmp(err.path, "Modelfile", 9));
        LM_BUG_ON(mf.from || mf.n_params || mf.n_msgs);
        return 0;
    }
    LM_BUG_ON(!mf.from);
    struct lm_buf a = LM_BUF_INIT(64u << 20), b = LM_BUF_INIT(64u << 20);
    struct lm_buf pa = LM_BUF_INIT(64u << 20), pb = LM_BUF_INIT(64u << 20);
    if (lm_modelfile_format(&mf, &a, &err) == 0) {
        /* what lm writes, lm reads back to the same thing */
        LM_BUG_ON(lm_modelfile_parse(a.data, a.len, "Modelfile", &again, &err) != 0);
        LM_BUG_ON(lm_modelfile_format(&again, &b, &err) != 0);
        LM_BUG_ON(a.len != b.len || memcmp(a.data, b.data, a.len) != 0);
        lm_modelfile_release(&again);
    }
    LM_BUG_ON(lm_modelfile_params_json(&mf, &pa, &err) != 0);
    struct lm_modelfile back;
    memset(&back, 0, sizeof(back));
    LM_BUG_ON(lm_modelfile_params_from_json(&back, pa.data, pa.len, "params", &err) != 0);
    LM_BUG_ON(lm_modelfile_params_json(&back, &pb, &err) != 0);
    LM_BUG_ON(pa.len != pb.len || memcmp(pa.data, pb.data, pa.len) != 0);
    lm_modelfile_release(&back);
    /* the messages layer reads back as the same chat */
    struct lm_buf mj = LM_BUF_INIT(64u << 20);
    struct lm_chat chat;
    lm_chat_init(&chat);
    LM_BUG_ON(lm_modelfile_messages_json(&mf, &mj, &err) != 0);
    LM_BUG_ON(lm_chat_from_json(&chat, mj.data, mj.len, "messages", &err) != 0);
    LM_BUG_ON(chat.n != mf.n_msgs);
    for (size_t i = 0; i < chat.n; i++)
        LM_BUG_ON(strcmp(chat.msgs[i].content, mf.msgs[i].content) != 0);
    lm_chat_release(&chat);
    lm_buf_release(&mj);
    lm_buf_release(&a);
    lm_buf_release(&b);
    lm_buf_release(&pa);
    lm_buf_release(&pb);
    lm_modelfile_release(&mf);
    return 0;
}
