/* chat.c: chat-template family detection and llama.cpp's built-in prompt formatters, in C. */
#define _GNU_SOURCE   /* memmem */
#include <string.h>

#include "runtime.h"
#include "../common/banned.h"

/* Bytes of the markers DeepSeek and Hunyuan templates use: U+FF5C and U+2581. */
#define FWBAR "\xef\xbd\x9c"
#define LOWBAR "\xe2\x96\x81"
#define DS_USER "<" FWBAR "User" FWBAR ">"
#define DS_ASSISTANT "<" FWBAR "Assistant" FWBAR ">"
#define DS_EOS "<" FWBAR "end" LOWBAR "of" LOWBAR "sentence" FWBAR ">"
#define HY_ASSISTANT "<" FWBAR "hy_Assistant" FWBAR ">"
#define HY_BOS "<" FWBAR "hy_begin" LOWBAR "of" LOWBAR "sentence" FWBAR ">"
#define HY_HOLDER3 "<" FWBAR "hy_place" LOWBAR "holder" LOWBAR "no" LOWBAR "3" FWBAR ">"

/* Names as llama.cpp spells them (llama_chat_builtin_templates). by_name: the name itself is
 * accepted as a template string; dots1 is reached only by detection, as in llama.cpp. */
static const struct {
    const char *name;
    bool by_name;
} families[LM_CHAT_FAMILY_COUNT] = {
    [LM_CHAT_UNKNOWN] = { "unknown", false },
    [LM_CHAT_CHATML] = { "chatml", true },
    [LM_CHAT_LLAMA2] = { "llama2", true },
    [LM_CHAT_LLAMA2_SYS] = { "llama2-sys", true },
    [LM_CHAT_LLAMA2_SYS_BOS] = { "llama2-sys-bos", true },
    [LM_CHAT_LLAMA2_SYS_STRIP] = { "llama2-sys-strip", true },
    [LM_CHAT_MISTRAL_V1] = { "mistral-v1", true },
    [LM_CHAT_MISTRAL_V3] = { "mistral-v3", true },
    [LM_CHAT_MISTRAL_V3_TEKKEN] = { "mistral-v3-tekken", true },
    [LM_CHAT_MISTRAL_V7] = { "mistral-v7", true },
    [LM_CHAT_MISTRAL_V7_TEKKEN] = { "mistral-v7-tekken", true },
    [LM_CHAT_PHI3] = { "phi3", true },
    [LM_CHAT_PHI4] = { "phi4", true },
    [LM_CHAT_FALCON3] = { "falcon3", true },
    [LM_CHAT_ZEPHYR] = { "zephyr", true },
    [LM_CHAT_MONARCH] = { "monarch", true },
    [LM_CHAT_GEMMA] = { "gemma", true },
    [LM_CHAT_ORION] = { "orion", true },
    [LM_CHAT_OPENCHAT] = { "openchat", true },
    [LM_CHAT_VICUNA] = { "vicuna", true },
    [LM_CHAT_VICUNA_ORCA] = { "vicuna-orca", true },
    [LM_CHAT_DEEPSEEK] = { "deepseek", true },
    [LM_CHAT_DEEPSEEK2] = { "deepseek2", true },
    [LM_CHAT_DEEPSEEK3] = { "deepseek3", true },
    [LM_CHAT_DEEPSEEK_OCR] = { "deepseek-ocr", true },
    [LM_CHAT_COMMAND_R] = { "command-r", true },
    [LM_CHAT_LLAMA3] = { "llama3", true },
    [LM_CHAT_CHATGLM3] = { "chatglm3", true },
    [LM_CHAT_CHATGLM4] = { "chatglm4", true },
    [LM_CHAT_GLMEDGE] = { "glmedge", true },
    [LM_CHAT_MINICPM] = { "minicpm", true },
    [LM_CHAT_EXAONE3] = { "exaone3", true },
    [LM_CHAT_EXAONE4] = { "exaone4", true },
    [LM_CHAT_EXAONE_MOE] = { "exaone-moe", true },
    [LM_CHAT_RWKV_WORLD] = { "rwkv-world", true },
    [LM_CHAT_GRANITE] = { "granite", true },
    [LM_CHAT_GRANITE_4_0] = { "granite-4.0", true },
    [LM_CHAT_GRANITE_4_1] = { "granite-4.1", true },
    [LM_CHAT_GIGACHAT] = { "gigachat", true },
    [LM_CHAT_MEGREZ] = { "megrez", true },
    [LM_CHAT_YANDEX] = { "yandex", true },
    [LM_CHAT_BAILING] = { "bailing", true },
    [LM_CHAT_BAILING_THINK] = { "bailing-think", true },
    [LM_CHAT_BAILING2] = { "bailing2", true },
    [LM_CHAT_LLAMA4] = { "llama4", true },
    [LM_CHAT_SMOLVLM] = { "smolvlm", true },
    [LM_CHAT_DOTS1] = { "dots1", false },
    [LM_CHAT_HUNYUAN_MOE] = { "hunyuan-moe", true },
    [LM_CHAT_GPT_OSS] = { "gpt-oss", true },
    [LM_CHAT_HUNYUAN_DENSE] = { "hunyuan-dense", true },
    [LM_CHAT_HUNYUAN_OCR] = { "hunyuan-ocr", true },
    [LM_CHAT_KIMI_K2] = { "kimi-k2", true },
    [LM_CHAT_SEED_OSS] = { "seed_oss", true },
    [LM_CHAT_GROK2] = { "grok-2", true },
    [LM_CHAT_PANGU_EMBED] = { "pangu-embedded", true },
    [LM_CHAT_SOLAR_OPEN] = { "solar-open", true },
    [LM_CHAT_TALKIE] = { "talkie", true },
};

const char *lm_chat_family_name(enum lm_chat_family f)
{
    if ((unsigned)f >= LM_CHAT_FAMILY_COUNT)
        return "unknown";
    return families[f].name;
}

enum lm_chat_family lm_chat_family_by_name(const char *name, size_t len)
{
    for (int f = 1; f < LM_CHAT_FAMILY_COUNT; f++)
        if (families[f].by_name && strlen(families[f].name) == len &&
            memcmp(families[f].name, name, len) == 0)
            return (enum lm_chat_family)f;
    return LM_CHAT_UNKNOWN;
}

/* ---- detection (llama.cpp's llm_chat_detect_template, rule for rule, in its order) --------- */

struct text {
    const char *p;
    size_t len;
};

static bool has(const struct text *t, const char *needle)
{
    return memmem(t->p, t->len, needle, strlen(needle)) != NULL;
}

static enum lm_chat_family detect_mistral_llama2(const struct text *t)
{
    if (has(t, "[SYSTEM_PROMPT]"))
        return LM_CHAT_MISTRAL_V7;
    if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
        if (has(t, " [INST]"))
            return LM_CHAT_MISTRAL_V1;
        if (has(t, "\"[INST]\""))
            return LM_CHAT_MISTRAL_V3_TEKKEN;
        return LM_CHAT_MISTRAL_V3;
    }
    if (has(t, "content.strip()"))
        return LM_CHAT_LLAMA2_SYS_STRIP;
    if (has(t, "bos_token + '[INST]"))
        return LM_CHAT_LLAMA2_SYS_BOS;
    if (has(t, "<<SYS>>"))
        return LM_CHAT_LLAMA2_SYS;
    return LM_CHAT_LLAMA2;
}

static enum lm_chat_family detect_rest(const struct text *t)
{
    if (has(t, "<|{{ item['role'] }}|>") && has(t, "<|begin_of_image|>"))
        return LM_CHAT_GLMEDGE;
    if (has(t, "<|user|>") && has(t, "<|endoftext|>"))
        return LM_CHAT_ZEPHYR;
    if (has(t, "bos_token + message['role']"))
        return LM_CHAT_MONARCH;
    if (has(t, "<start_of_turn>"))
        return LM_CHAT_GEMMA;
    if (has(t, "'\\n\\nAssistant: ' + eos_token"))
        return LM_CHAT_ORION;
    if (has(t, "GPT4 Correct "))
        return LM_CHAT_OPENCHAT;
    if (has(t, "USER: ") && has(t, "ASSISTANT: "))
        return has(t, "SYSTEM: ") ? LM_CHAT_VICUNA_ORCA : LM_CHAT_VICUNA;
    if (has(t, "### Instruction:") && has(t, "<|EOT|>"))
        return LM_CHAT_DEEPSEEK;
    if (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>"))
        return LM_CHAT_COMMAND_R;
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
        return LM_CHAT_LLAMA3;
    if (has(t, "[gMASK]sop"))
        return LM_CHAT_CHATGLM3;
    if (has(t, "<\xe7\x94\xa8\xe6\x88\xb7>"))                       /* <用户> */
        return LM_CHAT_MINICPM;
    if (has(t, "'Assistant: ' + message['content'] + eos_token"))
        return LM_CHAT_DEEPSEEK2;
    if (has(t, DS_ASSISTANT) && has(t, DS_USER) && has(t, DS_EOS))
        return LM_CHAT_DEEPSEEK3;
    if (has(t, "[|system|]") && has(t, "[|assistant|]") && has(t, "[|endofturn|]"))
        return has(t, "[|tool|]") ? LM_CHAT_EXAONE4 : LM_CHAT_EXAONE3;
    if (has(t, "rwkv-world") || has(t, "{{- 'User: ' + message['content']|trim + '\\n\\n' -}}"))
        return LM_CHAT_RWKV_WORLD;
    if (has(t, "<|start_of_role|>"))
        return has(t, "<tool_call>") || has(t, "<tools>") ? LM_CHAT_GRANITE_4_0 : LM_CHAT_GRANITE;
    if (has(t, "message['role'] + additional_special_tokens[0] + message['content'] + "
               "additional_special_tokens[1]"))
        return LM_CHAT_GIGACHAT;
    if (has(t, "<|role_start|>"))
        return LM_CHAT_MEGREZ;
    if (has(t, " \xd0\x90\xd1\x81\xd1\x81\xd0\xb8\xd1\x81\xd1\x82\xd0\xb5\xd0\xbd\xd1\x82:"))
        return LM_CHAT_YANDEX;                                        /* " Ассистент:" */
    if (has(t, "<role>ASSISTANT</role>") && has(t, "'HUMAN'"))
        return LM_CHAT_BAILING;
    if (has(t, "<role>ASSISTANT</role>") && has(t, "\"HUMAN\"") && has(t, "<think>"))
        return LM_CHAT_BAILING_THINK;
    if (has(t, "<role>ASSISTANT</role>") && has(t, "<role>HUMAN</role>") && has(t, "<|role_end|>"))
        return LM_CHAT_BAILING2;
    if (has(t, "<|header_start|>") && has(t, "<|header_end|>"))
        return LM_CHAT_LLAMA4;
    if (has(t, "<|endofuserprompt|>"))
        return LM_CHAT_DOTS1;
    if (has(t, "<|extra_0|>") && has(t, "<|extra_4|>"))
        return LM_CHAT_HUNYUAN_MOE;
    if (has(t, "<|start|>") && has(t, "<|channel|>"))
        return LM_CHAT_GPT_OSS;
    if (has(t, HY_ASSISTANT) && has(t, HY_BOS))
        return LM_CHAT_HUNYUAN_OCR;
    if (has(t, HY_ASSISTANT) && has(t, HY_HOLDER3))
        return LM_CHAT_HUNYUAN_DENSE;
    if (has(t, "<|im_assistant|>assistant<|im_middle|>"))
        return LM_CHAT_KIMI_K2;
    if (has(t, "<seed:bos>"))
        return LM_CHAT_SEED_OSS;
    if (has(t, "'Assistant: '  + message['content'] + '<|separator|>"))
        return LM_CHAT_GROK2;
    if (has(t, "[unused9]\xe7\xb3\xbb\xe7\xbb\x9f\xef\xbc\x9a[unused10]"))   /* [unused9]系统：[unused10] */
        return LM_CHAT_PANGU_EMBED;
    if (has(t, "<|begin|>") && has(t, "<|end|>") && has(t, "<|content|>"))
        return LM_CHAT_SOLAR_OPEN;
    return LM_CHAT_UNKNOWN;
}

enum lm_chat_family lm_chat_detect(const char *tmpl, size_t len)
{
    /* llama.cpp holds the template as a C string: nothing after a NUL byte counts. */
    const char *nul = memchr(tmpl, 0, len);
    struct text t = { tmpl, nul ? (size_t)(nul - tmpl) : len };
    enum lm_chat_family f = lm_chat_family_by_name(t.p, t.len);
    if (f != LM_CHAT_UNKNOWN)
        return f;
    if (has(&t, "<|im_start|>"))
        return has(&t, "<|im_sep|>") ? LM_CHAT_PHI4
             : has(&t, "<end_of_utterance>") ? LM_CHAT_SMOLVLM : LM_CHAT_CHATML;
    if ((t.len >= 7 && memcmp(t.p, "mistral", 7) == 0) || has(&t, "[INST]"))
        return detect_mistral_llama2(&t);
    if (has(&t, "<|assistant|>") && has(&t, "<|end|>")) {
        if (has(&t, "|>{{ message['content'] }}<|end|>") || has(&t, "|>{{ m.content }}<|end|>"))
            return LM_CHAT_TALKIE;
        return LM_CHAT_PHI3;
    }
    if (has(&t, "[gMASK]<sop>"))
        return LM_CHAT_CHATGLM4;
    if (has(&t, "<|assistant|>") && has(&t, "<|user|>")) {
        if (has(&t, "<|tool_declare|>"))
            return LM_CHAT_EXAONE_MOE;
        return has(&t, "</s>") ? LM_CHAT_FALCON3 : LM_CHAT_GLMEDGE;
    }
    return detect_rest(&t);
}

/* ---- rendering (llama.cpp's llm_chat_apply_template, formatter for formatter) ------------- */

struct out {
    struct lm_buf *b;
    bool fail;
};

static void putn(struct out *o, const char *s, size_t n)
{
    if (!o->fail && lm_buf_add(o->b, s, n))
        o->fail = true;
}

static void put(struct out *o, const char *s)
{
    putn(o, s, strlen(s));
}

/* std::isspace in the C locale, as llama.cpp's trim() uses it: ASCII only. */
static bool space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static void put_trim(struct out *o, const char *s)
{
    size_t a = 0, z = strlen(s);
    while (a < z && space(s[a]))
        a++;
    while (z > a && space(s[z - 1]))
        z--;
    putn(o, s + a, z - a);
}

static bool is(const struct lm_chat_msg *m, const char *role)
{
    return strcmp(m->role, role) == 0;
}

/* [INST] formats of Mistral v1/v3/v3-tekken. */
static void render_mistral(struct out *o, enum lm_chat_family f, const struct lm_chat_msg *m,
                           size_t n)
{
    const char *lead = f == LM_CHAT_MISTRAL_V1 ? " " : "";
    const char *trail = f == LM_CHAT_MISTRAL_V3_TEKKEN ? "" : " ";
    bool inside = false;
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            put(o, lead), put(o, "[INST]"), put(o, trail);
            inside = true;
        }
        if (is(&m[i], "system")) {
            put(o, m[i].content), put(o, "\n\n");
        } else if (is(&m[i], "user")) {
            put(o, m[i].content), put(o, lead), put(o, "[/INST]");
        } else {
            put(o, trail);
            if (f == LM_CHAT_MISTRAL_V3)
                put_trim(o, m[i].content);
            else
                put(o, m[i].content);
            put(o, "</s>");
            inside = false;
        }
    }
}

static void render_llama2(struct out *o, enum lm_chat_family f, const struct lm_chat_msg *m,
                          size_t n)
{
    bool sys = f != LM_CHAT_LLAMA2, bos = f == LM_CHAT_LLAMA2_SYS_BOS;
    bool strip = f == LM_CHAT_LLAMA2_SYS_STRIP;
    bool inside = true;   /* the first [INST] is written here, without BOS */
    put(o, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        if (!inside) {
            inside = true;
            put(o, bos ? "<s>[INST] " : "[INST] ");
        }
        if (is(&m[i], "system")) {
            if (sys)
                put(o, "<<SYS>>\n");
            strip ? put_trim(o, m[i].content) : put(o, m[i].content);
            put(o, sys ? "\n<</SYS>>\n\n" : "\n");
        } else if (is(&m[i], "user")) {
            strip ? put_trim(o, m[i].content) : put(o, m[i].content);
            put(o, " [/INST]");
        } else {
            strip ? put_trim(o, m[i].content) : put(o, m[i].content);
            put(o, "</s>");
            inside = false;
        }
    }
}

/* Gemma has no system turn: trimmed system text goes into the next user turn. */
static void render_gemma(struct out *o, const struct lm_chat_msg *m, size_t n, bool add_ass,
                         struct lm_buf *sys)
{
    for (size_t i = 0; i < n; i++) {
        if (is(&m[i], "system")) {
            struct out so = { sys, false };
            put_trim(&so, m[i].content);
            o->fail |= so.fail;
            continue;
        }
        const char *role = is(&m[i], "assistant") ? "model" : m[i].role;
        put(o, "<start_of_turn>"), put(o, role), put(o, "\n");
        if (sys->len && strcmp(role, "model") != 0) {
            putn(o, sys->data, sys->len), put(o, "\n\n");
            sys->len = 0;
        }
        put_trim(o, m[i].content), put(o, "<end_of_turn>\n");
    }
    if (add_ass)
        put(o, "<start_of_turn>model\n");
}

static void render_orion(struct out *o, const struct lm_chat_msg *m, size_t n, struct lm_buf *sys)
{
    for (size_t i = 0; i < n; i++) {
        if (is(&m[i], "system")) {
            struct out so = { sys, false };
            put(&so, m[i].content);
            o->fail |= so.fail;
        } else if (is(&m[i], "user")) {
            put(o, "Human: ");
            if (sys->len) {
                putn(o, sys->data, sys->len), put(o, "\n\n");
                sys->len = 0;
            }
            put(o, m[i].content), put(o, "\n\nAssistant: </s>");
        } else {
            put(o, m[i].content), put(o, "</s>");
        }
    }
}

/* Formats that are "<prefix by role> content <suffix by role>" for every message. A role
 * without a pair is dropped; "tool" falls back to `other` when it has no pair of its own. */
enum { R_SYS, R_USER, R_ASS, R_TOOL, R_OTHER, R_COUNT };

struct turns {
    const char *head;    /* written once first, or NULL */
    const char *pair[R_COUNT][2];
    unsigned trim;       /* bit per role: trim the content */
    const char *gen;     /* generation prompt, or NULL */
};

static int role_of(const struct lm_chat_msg *m)
{
    return is(m, "system") ? R_SYS : is(m, "user") ? R_USER : is(m, "assistant") ? R_ASS
         : is(m, "tool") ? R_TOOL : R_OTHER;
}

static void render_turns(struct out *o, const struct turns *t, const struct lm_chat_msg *m,
                         size_t n, bool add_ass)
{
    if (t->head)
        put(o, t->head);
    for (size_t i = 0; i < n; i++) {
        int r = role_of(&m[i]);
        if (r == R_TOOL && !t->pair[R_TOOL][0])
            r = R_OTHER;
        if (!t->pair[r][0])
            continue;
        put(o, t->pair[r][0]);
        (t->trim >> r) & 1 ? put_trim(o, m[i].content) : put(o, m[i].content);
        put(o, t->pair[r][1]);
    }
    if (add_ass && t->gen)
        put(o, t->gen);
}

/* Formats that are "<pre> role <mid> content <tail>" with the role name written out. */
struct named {
    const char *head, *pre, *mid, *tail, *gen;
    bool trim;
};

static void render_named(struct out *o, const struct named *f, const struct lm_chat_msg *m,
                         size_t n, bool add_ass)
{
    if (f->head)
        put(o, f->head);
    for (size_t i = 0; i < n; i++) {
        put(o, f->pre), put(o, m[i].role), put(o, f->mid);
        f->trim ? put_trim(o, m[i].content) : put(o, m[i].content);
        put(o, f->tail);
    }
    if (add_ass)
        put(o, f->gen);
}

static void upper(struct out *o, const char *s)
{
    for (; *s; s++) {
        char c = *s >= 'a' && *s <= 'z' ? (char)(*s - 32) : *s;
        putn(o, &c, 1);
    }
}

static void render_bailing(struct out *o, enum lm_chat_family f, const struct lm_chat_msg *m,
                           size_t n, bool add_ass)
{
    if (f == LM_CHAT_BAILING2 && !(n > 0 && is(&m[0], "system")))
        put(o, "<role>SYSTEM</role>detailed thinking off<|role_end|>");
    for (size_t i = 0; i < n; i++) {
        put(o, "<role>");
        is(&m[i], "user") ? put(o, "HUMAN") : upper(o, m[i].role);
        put(o, "</role>"), put(o, m[i].content);
        if (f == LM_CHAT_BAILING2)
            put(o, "<|role_end|>");
    }
    if (add_ass) {
        put(o, "<role>ASSISTANT</role>");
        if (f == LM_CHAT_BAILING_THINK)
            put(o, "<think>");
    }
}

#define ALL_ROLES ((1u << R_COUNT) - 1)

static const struct turns turn_formats[LM_CHAT_FAMILY_COUNT] = {
    [LM_CHAT_MISTRAL_V7] = { NULL, { [R_SYS] = { "[SYSTEM_PROMPT] ", "[/SYSTEM_PROMPT]" },
        [R_USER] = { "[INST] ", "[/INST]" }, [R_ASS] = { " ", "</s>" },
        [R_OTHER] = { " ", "</s>" } }, 0, NULL },
    [LM_CHAT_MISTRAL_V7_TEKKEN] = { NULL, { [R_SYS] = { "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]" },
        [R_USER] = { "[INST]", "[/INST]" }, [R_ASS] = { "", "</s>" }, [R_OTHER] = { "", "</s>" } },
        0, NULL },
    [LM_CHAT_VICUNA] = { NULL, { [R_SYS] = { "", "\n\n" }, [R_USER] = { "USER: ", "\n" },
        [R_ASS] = { "ASSISTANT: ", "</s>\n" } }, 0, "ASSISTANT:" },
    [LM_CHAT_VICUNA_ORCA] = { NULL, { [R_SYS] = { "SYSTEM: ", "\n" }, [R_USER] = { "USER: ", "\n" },
        [R_ASS] = { "ASSISTANT: ", "</s>\n" } }, 0, "ASSISTANT:" },
    [LM_CHAT_DEEPSEEK] = { NULL, { [R_SYS] = { "", "" }, [R_USER] = { "### Instruction:\n", "\n" },
        [R_ASS] = { "### Response:\n", "\n<|EOT|>\n" } }, 0, "### Response:\n" },
    [LM_CHAT_COMMAND_R] = { NULL, {
        [R_SYS] = { "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>", "<|END_OF_TURN_TOKEN|>" },
        [R_USER] = { "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>", "<|END_OF_TURN_TOKEN|>" },
        [R_ASS] = { "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>", "<|END_OF_TURN_TOKEN|>" } },
        ALL_ROLES, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>" },
    [LM_CHAT_MINICPM] = { NULL, { [R_SYS] = { "", "" },
        [R_USER] = { "<\xe7\x94\xa8\xe6\x88\xb7>", "<AI>" }, [R_ASS] = { "", "" },
        [R_OTHER] = { "", "" } }, ALL_ROLES, NULL },
    [LM_CHAT_DEEPSEEK2] = { NULL, { [R_SYS] = { "", "\n\n" }, [R_USER] = { "User: ", "\n\n" },
        [R_ASS] = { "Assistant: ", DS_EOS } }, 0, "Assistant:" },
    [LM_CHAT_DEEPSEEK3] = { NULL, { [R_SYS] = { "", "\n\n" }, [R_USER] = { DS_USER, "" },
        [R_ASS] = { DS_ASSISTANT, DS_EOS } }, 0, DS_ASSISTANT },
    [LM_CHAT_DEEPSEEK_OCR] = { NULL, { [R_SYS] = { "", "" }, [R_USER] = { "", "" },
        [R_ASS] = { "", "" }, [R_OTHER] = { "", "" } }, 0, NULL },
    [LM_CHAT_EXAONE3] = { NULL, { [R_SYS] = { "[|system|]", "[|endofturn|]\n" },
        [R_USER] = { "[|user|]", "\n" }, [R_ASS] = { "[|assistant|]", "[|endofturn|]\n" } },
        ALL_ROLES, "[|assistant|]" },
    [LM_CHAT_EXAONE4] = { NULL, { [R_SYS] = { "[|system|]", "[|endofturn|]\n" },
        [R_USER] = { "[|user|]", "\n" }, [R_ASS] = { "[|assistant|]", "[|endofturn|]\n" },
        [R_TOOL] = { "[|tool|]", "[|endofturn|]\n" } }, ALL_ROLES, "[|assistant|]" },
    [LM_CHAT_EXAONE_MOE] = { NULL, { [R_SYS] = { "<|system|>\n", "<|endofturn|>\n" },
        [R_USER] = { "<|user|>\n", "<|endofturn|>\n" },
        [R_ASS] = { "<|assistant|>\n", "<|endofturn|>\n" },
        [R_TOOL] = { "<|tool|>\n", "<|endofturn|>\n" } }, ALL_ROLES, "<|assistant|>\n" },
    [LM_CHAT_YANDEX] = { NULL, {
        [R_USER] = { " \xd0\x9f\xd0\xbe\xd0\xbb\xd1\x8c\xd0\xb7\xd0\xbe\xd0\xb2\xd0\xb0\xd1\x82\xd0"
                     "\xb5\xd0\xbb\xd1\x8c: ", "\n\n" },                    /* " Пользователь: " */
        [R_ASS] = { " \xd0\x90\xd1\x81\xd1\x81\xd0\xb8\xd1\x81\xd1\x82\xd0\xb5\xd0\xbd\xd1\x82: ",
                    "\n\n" } },                                             /* " Ассистент: " */
        0, " \xd0\x90\xd1\x81\xd1\x81\xd0\xb8\xd1\x81\xd1\x82\xd0\xb5\xd0\xbd\xd1\x82:[SEP]" },
    [LM_CHAT_SMOLVLM] = { "<|im_start|>", { [R_SYS] = { "", "\n\n" },
        [R_USER] = { "User: ", "<end_of_utterance>\n" },
        [R_ASS] = { "Assistant: ", "<end_of_utterance>\n" },
        [R_OTHER] = { "Assistant: ", "<end_of_utterance>\n" } }, 0, "Assistant:" },
    [LM_CHAT_DOTS1] = { NULL, { [R_SYS] = { "<|system|>", "<|endofsystem|>" },
        [R_USER] = { "<|userprompt|>", "<|endofuserprompt|>" },
        [R_ASS] = { "<|response|>", "<|endofresponse|>" },
        [R_OTHER] = { "<|response|>", "<|endofresponse|>" } }, 0, "<|response|>" },
    [LM_CHAT_HUNYUAN_MOE] = { NULL, { [R_SYS] = { "<|startoftext|>", "<|extra_4|>" },
        [R_USER] = { "<|startoftext|>", "<|extra_0|>" }, [R_ASS] = { "", "<|eos|>" },
        [R_OTHER] = { "<|startoftext|>", "<|extra_0|>" } }, 0, NULL },
    [LM_CHAT_KIMI_K2] = { NULL, { [R_SYS] = { "<|im_system|>system<|im_middle|>", "<|im_end|>" },
        [R_USER] = { "<|im_user|>user<|im_middle|>", "<|im_end|>" },
        [R_ASS] = { "<|im_assistant|>assistant<|im_middle|>", "<|im_end|>" },
        [R_TOOL] = { "<|im_system|>tool<|im_middle|>", "<|im_end|>" },
        [R_OTHER] = { "", "<|im_end|>" } }, 0, "<|im_assistant|>assistant<|im_middle|>" },
    [LM_CHAT_GROK2] = { NULL, { [R_SYS] = { "System: ", "<|separator|>\n\n" },
        [R_USER] = { "Human: ", "<|separator|>\n\n" },
        [R_ASS] = { "Assistant: ", "<|separator|>\n\n" } },
        (1u << R_SYS) | (1u << R_USER), "Assistant:" },
};

static const struct named named_formats[LM_CHAT_FAMILY_COUNT] = {
    [LM_CHAT_CHATML] = { NULL, "<|im_start|>", "\n", "<|im_end|>\n", "<|im_start|>assistant\n", 0 },
    [LM_CHAT_PHI3] = { NULL, "<|", "|>\n", "<|end|>\n", "<|assistant|>\n", 0 },
    [LM_CHAT_PHI4] = { NULL, "<|im_start|>", "<|im_sep|>", "<|im_end|>",
                       "<|im_start|>assistant<|im_sep|>", 0 },
    [LM_CHAT_FALCON3] = { NULL, "<|", "|>\n", "\n", "<|assistant|>\n", 0 },
    [LM_CHAT_ZEPHYR] = { NULL, "<|", "|>\n", "<|endoftext|>\n", "<|assistant|>\n", 0 },
    [LM_CHAT_LLAMA3] = { NULL, "<|start_header_id|>", "<|end_header_id|>\n\n", "<|eot_id|>",
                         "<|start_header_id|>assistant<|end_header_id|>\n\n", 1 },
    [LM_CHAT_CHATGLM3] = { "[gMASK]sop", "<|", "|>\n ", "", "<|assistant|>", 0 },
    [LM_CHAT_CHATGLM4] = { "[gMASK]<sop>", "<|", "|>\n", "", "<|assistant|>\n", 0 },
    [LM_CHAT_GLMEDGE] = { NULL, "<|", "|>\n", "", "<|assistant|>", 0 },
    [LM_CHAT_MEGREZ] = { NULL, "<|role_start|>", "<|role_end|>", "<|turn_end|>",
                         "<|role_start|>assistant<|role_end|>", 0 },
    [LM_CHAT_LLAMA4] = { NULL, "<|header_start|>", "<|header_end|>\n\n", "<|eot|>",
                         "<|header_start|>assistant<|header_end|>\n\n", 1 },
    [LM_CHAT_SOLAR_OPEN] = { NULL, "<|begin|>", "<|content|>", "<|end|>", "<|begin|>assistant", 0 },
    [LM_CHAT_TALKIE] = { NULL, "<|", "|>", "<|end|>", "<|assistant|>", 0 },
};

#define HY_USER "<" FWBAR "hy_User" FWBAR ">"
#define HY_HOLDER2 "<" FWBAR "hy_place" LOWBAR "holder" LOWBAR "no" LOWBAR "2" FWBAR ">"
#define PANGU(who) "[unused9]" who "\xef\xbc\x9a"     /* full-width colon */
#define PANGU_SYS PANGU("\xe7\xb3\xbb\xe7\xbb\x9f")   /* 系统 */

static void render_pangu(struct out *o, const struct lm_chat_msg *m, size_t n, bool add_ass)
{
    static const struct { const char *role, *prefix; } who[] = {
        { "system", PANGU_SYS }, { "user", PANGU("\xe7\x94\xa8\xe6\x88\xb7") },
        { "assistant", PANGU("\xe5\x8a\xa9\xe6\x89\x8b") }, { "tool", PANGU("\xe5\xb7\xa5\xe5\x85\xb7") },
        { "function", PANGU("\xe6\x96\xb9\xe6\xb3\x95") },
    };
    for (size_t i = 0; i < n; i++) {
        if (i == 0 && !is(&m[i], "system"))
            put(o, PANGU_SYS "[unused10]");
        for (size_t k = 0; k < sizeof(who) / sizeof(who[0]); k++)
            if (is(&m[i], who[k].role)) {
                put(o, who[k].prefix), put(o, m[i].content), put(o, "[unused10]");
                break;
            }
    }
    if (add_ass)
        put(o, PANGU("\xe5\x8a\xa9\xe6\x89\x8b"));
}

static void render_special(struct out *o, enum lm_chat_family f, const struct lm_chat_msg *m,
                           size_t n, bool add_ass, struct lm_buf *sys)
{
    switch (f) {
    case LM_CHAT_MISTRAL_V1: case LM_CHAT_MISTRAL_V3: case LM_CHAT_MISTRAL_V3_TEKKEN:
        render_mistral(o, f, m, n);
        return;
    case LM_CHAT_LLAMA2: case LM_CHAT_LLAMA2_SYS: case LM_CHAT_LLAMA2_SYS_BOS:
    case LM_CHAT_LLAMA2_SYS_STRIP:
        render_llama2(o, f, m, n);
        return;
    case LM_CHAT_GEMMA:
        render_gemma(o, m, n, add_ass, sys);
        return;
    case LM_CHAT_ORION:
        render_orion(o, m, n, sys);
        return;
    case LM_CHAT_BAILING: case LM_CHAT_BAILING_THINK: case LM_CHAT_BAILING2:
        render_bailing(o, f, m, n, add_ass);
        return;
    case LM_CHAT_PANGU_EMBED:
        render_pangu(o, m, n, add_ass);
        return;
    case LM_CHAT_MONARCH:
        for (size_t i = 0; i < n; i++) {
            put(o, i ? "<s>" : ""), put(o, m[i].role), put(o, "\n");
            put(o, m[i].content), put(o, "</s>\n");
        }
        if (add_ass)
            put(o, "<s>assistant\n");
        return;
    case LM_CHAT_OPENCHAT:
        for (size_t i = 0; i < n; i++) {
            if (is(&m[i], "system")) {
                put(o, m[i].content), put(o, "<|end_of_turn|>");
                continue;
            }
            char c0 = m[i].role[0];
            c0 = c0 >= 'a' && c0 <= 'z' ? (char)(c0 - 32) : c0;
            put(o, "GPT4 Correct ");
            if (c0)
                putn(o, &c0, 1), put(o, m[i].role + 1);
            put(o, ": "), put(o, m[i].content), put(o, "<|end_of_turn|>");
        }
        if (add_ass)
            put(o, "GPT4 Correct Assistant:");
        return;
    case LM_CHAT_RWKV_WORLD:
        for (size_t i = 0; i < n; i++) {
            if (is(&m[i], "system")) {
                put(o, "System: "), put_trim(o, m[i].content), put(o, "\n\n");
            } else if (is(&m[i], "user")) {
                put(o, "User: "), put_trim(o, m[i].content), put(o, "\n\n");
                if (i == n - 1)
                    put(o, "Assistant:");
            } else if (is(&m[i], "assistant")) {
                put(o, "Assistant: "), put_trim(o, m[i].content), put(o, "\n\n");
            }
        }
        return;
    case LM_CHAT_GRANITE: case LM_CHAT_GRANITE_4_0: case LM_CHAT_GRANITE_4_1:
        for (size_t i = 0; i < n; i++) {
            bool call = is(&m[i], "assistant_tool_call");
            put(o, "<|start_of_role|>");
            put(o, call && f != LM_CHAT_GRANITE ? "assistant" : m[i].role);
            put(o, "<|end_of_role|>"), put(o, call ? "<|tool_call|>" : "");
            put(o, m[i].content), put(o, "<|end_of_text|>\n");
        }
        if (add_ass)
            put(o, "<|start_of_role|>assistant<|end_of_role|>");
        return;
    case LM_CHAT_GIGACHAT: {
        bool has_sys = n > 0 && is(&m[0], "system");
        put(o, "<s>");
        if (has_sys)
            put(o, m[0].content), put(o, "<|message_sep|>");
        for (size_t i = has_sys; i < n; i++) {
            if (is(&m[i], "user"))
                put(o, "user<|role_sep|>"), put(o, m[i].content),
                put(o, "<|message_sep|>available functions<|role_sep|>[]<|message_sep|>");
            else if (is(&m[i], "assistant"))
                put(o, "assistant<|role_sep|>"), put(o, m[i].content), put(o, "<|message_sep|>");
        }
        if (add_ass)
            put(o, "assistant<|role_sep|>");
        return;
    }
    case LM_CHAT_GPT_OSS:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|start|>"), put(o, m[i].role), put(o, "<|message|>"), put(o, m[i].content);
            put(o, is(&m[i], "assistant") ? "<|return|>" : "<|end|>");
        }
        if (add_ass)
            put(o, "<|start|>assistant");
        return;
    case LM_CHAT_SEED_OSS:
        for (size_t i = 0; i < n; i++) {
            put(o, "<seed:bos>"), put(o, m[i].role), put(o, "\n");
            is(&m[i], "assistant") ? put_trim(o, m[i].content) : put(o, m[i].content);
            put(o, "<seed:eos>");
        }
        if (add_ass)
            put(o, "<seed:bos>assistant\n");
        return;
    case LM_CHAT_HUNYUAN_DENSE:
        for (size_t i = 0; i < n; i++) {
            if (i == 0 && is(&m[i], "system"))
                put(o, m[i].content), put(o, HY_HOLDER3);
            if (is(&m[i], "assistant"))
                put(o, HY_ASSISTANT), put(o, m[i].content), put(o, HY_HOLDER2);
            else if (is(&m[i], "user"))
                put(o, HY_USER), put(o, m[i].content), put(o, HY_ASSISTANT);
        }
        return;
    case LM_CHAT_HUNYUAN_OCR:
        put(o, HY_BOS);
        for (size_t i = 0; i < n; i++) {
            if (i == 0 && is(&m[i], "system"))
                put(o, m[i].content), put(o, HY_HOLDER3);
            else if (is(&m[i], "user"))
                put(o, m[i].content), put(o, HY_USER);
            else if (is(&m[i], "assistant"))
                put(o, m[i].content), put(o, HY_ASSISTANT);
        }
        return;
    case LM_CHAT_UNKNOWN: case LM_CHAT_CHATML: case LM_CHAT_MISTRAL_V7:
    case LM_CHAT_MISTRAL_V7_TEKKEN: case LM_CHAT_PHI3: case LM_CHAT_PHI4: case LM_CHAT_FALCON3:
    case LM_CHAT_ZEPHYR: case LM_CHAT_VICUNA: case LM_CHAT_VICUNA_ORCA: case LM_CHAT_DEEPSEEK:
    case LM_CHAT_DEEPSEEK2: case LM_CHAT_DEEPSEEK3: case LM_CHAT_DEEPSEEK_OCR:
    case LM_CHAT_COMMAND_R: case LM_CHAT_LLAMA3: case LM_CHAT_CHATGLM3: case LM_CHAT_CHATGLM4:
    case LM_CHAT_GLMEDGE: case LM_CHAT_MINICPM: case LM_CHAT_EXAONE3: case LM_CHAT_EXAONE4:
    case LM_CHAT_EXAONE_MOE: case LM_CHAT_MEGREZ: case LM_CHAT_YANDEX: case LM_CHAT_LLAMA4:
    case LM_CHAT_SMOLVLM: case LM_CHAT_DOTS1: case LM_CHAT_HUNYUAN_MOE: case LM_CHAT_KIMI_K2:
    case LM_CHAT_GROK2: case LM_CHAT_SOLAR_OPEN: case LM_CHAT_TALKIE: case LM_CHAT_FAMILY_COUNT:
        break;   /* table-driven, or not a formatter */
    }
    LM_BUG_ON(1);
}

int lm_chat_render(enum lm_chat_family f, const struct lm_chat_msg *m, size_t n, bool add_ass,
                   struct lm_buf *dst, struct lm_err *err)
{
    if (f <= LM_CHAT_UNKNOWN || f >= LM_CHAT_FAMILY_COUNT)
        return lm_err_set(err, LM_EUSAGE, NULL, LM_NO_OFFSET, "no chat formatter %d", (int)f);
    struct out o = { dst, false };
    struct lm_buf sys = LM_BUF_INIT(LM_CHAT_MAX_BYTES);   /* Gemma/Orion system text held back */
    size_t start = dst->len;
    if (named_formats[f].pre)
        render_named(&o, &named_formats[f], m, n, add_ass);
    else if (turn_formats[f].pair[R_SYS][0] || turn_formats[f].pair[R_USER][0])
        render_turns(&o, &turn_formats[f], m, n, add_ass);
    else
        render_special(&o, f, m, n, add_ass, &sys);
    lm_buf_release(&sys);
    if (o.fail) {
        dst->len = start;
        if (dst->data)
            dst->data[start] = 0;
        return lm_err_set(err, LM_EUNSUPPORTED, NULL, LM_NO_OFFSET,
                          "rendered prompt is longer than %zu bytes (or out of memory)", dst->max);
    }
    return 0;
}
