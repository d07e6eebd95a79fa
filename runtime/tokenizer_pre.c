/* tokenizer_pre.c: byte-level BPE pre-tokenizers: the regex sets chosen by tokenizer.ggml.pre,
 * compiled with PCRE2 (UTF + UCP, JIT), and the text splitting llama.cpp's unicode.cpp does. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_int.h"
#include "../common/banned.h"

/* ---- UTF-8 ------------------------------------------------------------------------------- */

bool lm_utf8_valid(const char *str, size_t n)
{
    const uint8_t *s = (const uint8_t *)str;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (k == 0 || k > n - i)
            return false;
        for (size_t j = 1; j < k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
            (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
            return false;   /* overlong, surrogate, past U+10FFFF */
        i += k;
    }
    return true;
}

size_t tok_utf8_put(uint32_t cp, char *out)
{
    uint8_t *o = (uint8_t *)out;
    if (cp <= 0x7F) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp <= 0x7FF) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp <= 0xFFFF) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | ((cp >> 18) & 0x07));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* llama.cpp's unicode_cpt_from_utf8: checks continuation bytes but accepts overlong forms and
 * surrogates; anything else is one U+FFFD per bad byte. Code points past U+10FFFF (which make
 * llama.cpp throw) are U+FFFD too. */
static uint32_t decode_lenient(const uint8_t *s, size_t n, size_t *adv)
{
    uint8_t c = s[0];
    size_t k = c < 0x80 ? 1 : !(c & 0x40) ? 0 : !(c & 0x20) ? 2 : !(c & 0x10) ? 3 : !(c & 0x08) ? 4 : 0;
    *adv = 1;
    if (k == 1)
        return c;
    if (k == 0 || k > n)
        return 0xFFFD;
    uint32_t cp = c & (0x7Fu >> k);
    for (size_t j = 1; j < k; j++) {
        if ((s[j] & 0xC0) != 0x80)
            return 0xFFFD;
        cp = cp << 6 | (s[j] & 0x3Fu);
    }
    *adv = k;
    return cp > 0x10FFFF ? 0xFFFD : cp;
}

/* ---- the regex sets (llama-vocab.cpp, llm_tokenizer_bpe) ---------------------------------- */

#define CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
/* GPT-2's pattern; llama.cpp's hand-written matcher for it also takes a trailing \s+. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define RE_LLAMA3_LIKE(num)                                                                   \
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" num "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"    \
                 "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* Tekken / GPT-4o in llama.cpp's adapted form: it cannot tell upper from lower case outside
 * ASCII, so neither do we ([^a-z] / [^A-Z] after a letter lookahead). */
#define UPPERS "(?:(?=\\p{L})[^a-z])"
#define LOWERS "(?:(?=\\p{L})[^A-Z])"
#define LETTER_RUNS(suffix)                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?" UPPERS "*" LOWERS "+" suffix "|[^\\r\\n\\p{L}\\p{N}]?" UPPERS "+" \
    LOWERS "*" suffix
/* [一-龥ࠀ-一가-퟿]+ as llama.cpp runs it: its std::wregex sees every non-ASCII space as \v, so the
 * spaces inside U+0800-U+4E00 (U+1680, U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000)
 * never match the class. */
#define RE_CJK                                                                                \
    "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{167F}\\x{1681}-\\x{1FFF}\\x{200B}-\\x{2027}\\x{202A}-\\x{202E}"  \
    "\\x{2030}-\\x{205E}\\x{2060}-\\x{2FFF}\\x{3001}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

static const char *const re_default[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL,
};
static const char *const re_gpt2[] = { RE_GPT2, NULL };
static const char *const re_llama3[] = { RE_LLAMA3_LIKE("\\p{N}{1,3}"), NULL };
static const char *const re_qwen2[] = { RE_LLAMA3_LIKE("\\p{N}"), NULL };
static const char *const re_qwen35[] = {
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const re_falcon[] = {
    "[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]", NULL,
};
static const char *const re_starcoder[] = { "\\p{N}", RE_GPT2, NULL };
static const char *const re_deepseek_llm[] = {
    "[\\r\\n]",
    "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}"
    "\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}"
    "\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}"
    "\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}"
    "\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"
    "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}"
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}"
    "\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
    "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}"
    "\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}"
    "\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}"
    "\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}"
    "\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}"
    "\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}"
    "\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}"
    "\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
    /* U+3000 is a space to llama.cpp's std::wregex (see RE_CJK): out of the class. */
    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3001}-\\x{3002}]+",
    "\\s+$",
    RE_CJK,
    "\\p{N}+",
    NULL,
};
static const char *const re_deepseek_coder[] = {
    "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}", NULL,
};
static const char *const re_deepseek3[] = {
    "\\p{N}{1,3}",
    "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+|"
    " ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const re_tekken[] = {
    LETTER_RUNS("") "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const re_gpt4o[] = {
    LETTER_RUNS(CONTRACTIONS "?") "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+",
    NULL,
};
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"
static const char *const re_poro[] = { RE_PORO, NULL };
static const char *const re_viking[] = { RE_PORO, "\\p{N}", NULL };
static const char *const re_seed_coder[] = {
    CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    NULL,
};
static const char *const re_bailing[] = {
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
    NULL,
};

/* tokenizer.ggml.pre names and what llama.cpp does for each (llama_vocab::impl::load). */
static const struct tok_pre pres[] = {
    { "|default|", re_default, false, false, false, false },
    { "|llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|jina-v5-nano|",
      re_llama3, true, true, false, false },
    { "|dbrx|smaug-bpe|", re_llama3, false, false, false, false },
    { "|glm4|chatglm-bpe|", re_llama3, false, false, false, true },
    { "|deepseek-llm|", re_deepseek_llm, false, false, true, false },
    { "|deepseek-coder|", re_deepseek_coder, false, false, true, false },
    { "|deepseek-v3|", re_deepseek3, false, false, true, false },
    { "|falcon|", re_falcon, false, false, false, false },
    { "|gpt-2|phi-2|mpt|olmo|jais|exaone4|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|"
      "mellum|modern-bert|jina-v1-en|jina-v2-code|roberta-bpe|",
      re_gpt2, false, false, false, false },
    { "|trillion|granite-docling|", re_gpt2, false, false, true, false },
    { "|starcoder|refact|codeshell|exaone|minerva-7b|mellum2|", re_starcoder, false, false, false, false },
    { "|smollm|command-r|", re_starcoder, false, false, true, false },
    { "|qwen2|deepseek-r1-qwen|kormo|f2llmv2|grok-2|hunyuan|solar-open|", re_qwen2, false, false, true, false },
    { "|stablelm2|megrez|", re_qwen2, false, false, false, false },
    { "|qwen35|", re_qwen35, false, false, true, false },
    { "|tekken|", re_tekken, true, true, true, false },
    { "|gpt-4o|llama4|kanana2|talkie|minimax-m2|", re_gpt4o, false, false, true, false },
    { "|poro-chat|", re_poro, false, false, true, false },
    { "|bloom|gpt3-finnish|", re_poro, false, false, false, false },
    { "|viking|", re_viking, false, false, true, false },
    { "|seed-coder|", re_seed_coder, false, false, true, false },
    { "|bailingmoe|bailingmoe2|llada-moe|", re_bailing, false, false, true, false },
};

const struct tok_pre *tok_pre_find(const char *name)
{
    char key[80];
    if (strlen(name) > 64 || strchr(name, '|'))
        return NULL;
    snprintf(key, sizeof(key), "|%s|", name);
    for (size_t i = 0; i < sizeof(pres) / sizeof(pres[0]); i++)
        if (strstr(pres[i].names, key))
            return &pres[i];
    return NULL;
}

/* \s in llama.cpp is Unicode White_Space; PCRE2's UCP \s adds U+180E, so spell the set out. */
#define WS "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

static int expand_ws(const char *re, struct lm_buf *out)
{
    bool in_class = false;
    for (size_t i = 0; re[i]; i++) {
        char c = re[i];
        if (c == '\\' && re[i + 1]) {
            char e = re[++i];
            int rc;
            if (e == 's')
                rc = lm_buf_add(out, in_class ? WS : "[" WS "]", in_class ? strlen(WS) : strlen(WS) + 2);
            else if (e == 'S' && !in_class)
                rc = lm_buf_add(out, "[^" WS "]", strlen(WS) + 3);
            else
                rc = lm_buf_add(out, re + i - 1, 2);
            if (rc)
                return -1;
            continue;
        }
        if (c == '[' && !in_class) {
            in_class = true;
            if (lm_buf_add(out, "[", 1))
                return -1;
            if (re[i + 1] == '^' && (++i, lm_buf_add(out, "^", 1)))
                return -1;
            continue;
        }
        if (c == ']' && in_class)
            in_class = false;
        if (lm_buf_add(out, &c, 1))
            return -1;
    }
    return lm_buf_add(out, "", 1);   /* NUL */
}

int tok_pre_compile(struct lm_tokenizer *t, const char *path, struct lm_err *err)
{
    for (int i = 0; t->pre_def->regex[i]; i++) {
        LM_BUG_ON(i >= TOK_MAX_REGEX);
        struct lm_buf b = LM_BUF_INIT(1u << 20);
        int code;
        PCRE2_SIZE eoff;
        if (expand_ws(t->pre_def->regex[i], &b)) {
            lm_buf_release(&b);
            return lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory compiling regexes");
        }
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)b.data, PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &code, &eoff,
                                       NULL);
        lm_buf_release(&b);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof(msg));
            return lm_err_set(err, LM_EINTERNAL, path, LM_NO_OFFSET,
                              "pre-tokenizer '%s' regex %d does not compile at %zu: %s", t->pre, i,
                              (size_t)eoff, (const char *)msg);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);   /* the interpreter is the fallback */
        t->re[i] = re;
        t->n_re = i + 1;
    }
    return 0;
}

void tok_pre_free(struct lm_tokenizer *t)
{
    for (int i = 0; i < t->n_re; i++)
        pcre2_code_free(t->re[i]);
    t->n_re = 0;
}

/* ---- splitting ---------------------------------------------------------------------------- */

int tok_spans_add(struct tok_spans *s, size_t off, size_t len)
{
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 64;
        size_t *p = nc > SIZE_MAX / (2 * sizeof(size_t)) ? NULL : realloc(s->v, nc * 2 * sizeof(size_t));
        if (!p)
            return -1;
        s->v = p;
        s->cap = nc;
    }
    s->v[2 * s->n] = off;
    s->v[2 * s->n + 1] = len;
    s->n++;
    return 0;
}

void tok_spans_release(struct tok_spans *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* Re-encode text the way llama.cpp sees it. `out` gets the bytes BPE works on; `subj` is the
 * same with surrogate code points as U+FFFD (same length), because PCRE2 takes valid UTF-8 only. */
static int reencode(const char *text, size_t len, char **out, char **subj, size_t *olen)
{
    const uint8_t *s = (const uint8_t *)text;
    size_t cap, o = 0, i = 0;
    bool surrogates = false;
    *subj = NULL;
    /* Each input byte yields at most 3 output bytes (a bad byte is U+FFFD). */
    if (ckd_mul(&cap, len, (size_t)3) || !(*out = malloc(cap ? cap : 1)))
        return -1;
    while (i < len) {
        size_t adv;
        uint32_t cp = decode_lenient(s + i, len - i, &adv);
        surrogates |= cp >= 0xD800 && cp <= 0xDFFF;
        o += tok_utf8_put(cp, *out + o);
        i += adv;
    }
    *olen = o;
    if (!surrogates)
        return 0;
    if (!(*subj = malloc(o)))
        return -1;
    memcpy(*subj, *out, o);
    for (size_t k = 0; k + 2 < o; k++)
        if ((uint8_t)(*subj)[k] == 0xED && ((uint8_t)(*subj)[k + 1] & 0xE0) == 0xA0) {
            memcpy(*subj + k, "\xEF\xBF\xBD", 3);
            k += 2;
        }
    return 0;
}

static size_t utf8_len(uint8_t c)
{
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Split every span of `in` by one regex into matches and the gaps between them. */
static int split_one(const pcre2_code *re, const char *subj, const struct tok_spans *in,
                     struct tok_spans *out, pcre2_match_data *md, pcre2_match_context *mc,
                     const char *pre, const char *path, struct lm_err *err)
{
    for (size_t k = 0; k < in->n; k++) {
        size_t base = in->v[2 * k], len = in->v[2 * k + 1], pos = 0, last = 0;
        while (pos < len) {
            int rc = pcre2_match(re, (PCRE2_SPTR)subj + base, len, pos, PCRE2_NO_UTF_CHECK, md, mc);
            if (rc == PCRE2_ERROR_NOMATCH)
                break;
            if (rc < 0) {
                PCRE2_UCHAR msg[256];
                pcre2_get_error_message(rc, msg, sizeof(msg));
                return lm_err_set(err, rc == PCRE2_ERROR_NOMEMORY ? LM_ENOMEM : LM_EUNSUPPORTED,
                                  path, LM_NO_OFFSET,
                                  "pre-tokenizer '%s' failed at text byte %zu: %s", pre, base + pos,
                                  (const char *)msg);
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            size_t ms = ov[0], me = ov[1];
            if (me <= ms) {   /* an empty match splits nothing */
                pos = ms + utf8_len((uint8_t)subj[base + ms]);
                continue;
            }
            if (ms > last && tok_spans_add(out, base + last, ms - last))
                goto nomem;
            if (tok_spans_add(out, base + ms, me - ms))
                goto nomem;
            last = pos = me;
        }
        if (last < len && tok_spans_add(out, base + last, len - last))
            goto nomem;
    }
    return 0;
nomem:
    return lm_err_set(err, LM_ENOMEM, path, LM_NO_OFFSET, "out of memory splitting text");
}

int tok_pre_split(const struct lm_tokenizer *t, const char *text, size_t len, const char **out,
                  char **owned, struct tok_spans *pieces, struct lm_err *err)
{
    const char *subj = text;
    char *subj_owned = NULL;
    struct tok_spans a = { 0 }, b = { 0 };
    pcre2_match_data *md = NULL;
    pcre2_match_context *mc = NULL;
    pcre2_jit_stack *js = NULL;
    int ret = -1;

    *out = text;
    *owned = NULL;
    if (!lm_utf8_valid(text, len)) {
        if (reencode(text, len, owned, &subj_owned, &len))
            goto nomem;
        *out = *owned;
        subj = subj_owned ? subj_owned : *owned;
    }
    md = pcre2_match_data_create(1, NULL);
    mc = pcre2_match_context_create(NULL);
    /* Long runs of one class (a megabyte of spaces) need more than the default 32 KiB. */
    js = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (!md || !mc || !js)
        goto nomem;
    pcre2_jit_stack_assign(mc, NULL, js);
    if (len && tok_spans_add(&a, 0, len))
        goto nomem;
    for (int i = 0; i < t->n_re; i++) {
        b.n = 0;
        if (split_one(t->re[i], subj, &a, &b, md, mc, t->pre, NULL, err))
            goto out;
        struct tok_spans tmp = a;
        a = b;
        b = tmp;
    }
    *pieces = a;
    a.v = NULL;
    ret = 0;
    goto out;
nomem:
    lm_err_set(err, LM_ENOMEM, NULL, LM_NO_OFFSET, "out of memory splitting text");
out:
    if (ret) {
        free(*owned);
        *owned = NULL;
    }
    free(subj_owned);
    tok_spans_release(&a);
    tok_spans_release(&b);
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    pcre2_jit_stack_free(js);
    return ret;
}
