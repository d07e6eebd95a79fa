/* runtime: tokenizers, model loading, kernels, forward pass, sampling, chat templates, Modelfiles.
 * Everything here runs on models from strangers: loading checks every shape and id against the
 * metadata before a single kernel runs. */
#ifndef LM_RUNTIME_H
#define LM_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/common.h"
#include "../format/format.h"

/* ==== TOKENIZER (runtime/tokenizer*.c) ===================================================== */

/* Tokenizers built from a GGUF's tokenizer metadata alone (vocab-only files work), token for
 * token equal to llama.cpp (shared/specs/tokenizers.md §3-§8):
 *   tokenizer.ggml.model "llama": SentencePiece BPE: scores, byte fallback (<0xXX>), the dummy
 *                                 space prefix, no other normalization;
 *   tokenizer.ggml.model "gpt2":  byte-level BPE: merge ranks, the GPT-2 byte-to-unicode map and
 *                                 the pre-tokenizer regexes named by tokenizer.ggml.pre (PCRE2,
 *                                 UTF + UCP, JIT when available).
 * Keys read: tokenizer.ggml.{model, pre, tokens, scores, token_type, merges, add_space_prefix,
 * add_bos_token, add_eos_token, add_sep_token, bos/eos/eot/eom/unknown/seperator/padding/mask/
 * fim_{pre,suf,mid,pad,rep,sep}_token_id}, general.name (the Phi-3 whitespace quirk).
 *
 * Loading refuses hostile metadata with one error naming the key and byte offset: a vocabulary of
 * 0 or more than LM_TOK_MAX_VOCAB tokens, token strings that are not UTF-8 or repeat, BYTE tokens
 * not spelled <0xHH>, token types past 6, NaN scores, score/type arrays shorter than the vocab,
 * merges without a space or naming strings that are not tokens (or whose result is not one),
 * special ids past the vocabulary. Text to tokenize may be any bytes: invalid UTF-8 is handled
 * as llama.cpp does (each bad byte is U+FFFD for byte-level BPE; SentencePiece falls back to
 * byte tokens). A tokenizer is immutable after load: any number of threads may use it at once.
 * It copies what it needs, so the gguf may be closed after lm_tokenizer_new. */

#define LM_TOK_MAX_VOCAB (1u << 21)     /* tokens in one vocabulary */
#define LM_TOK_MAX_TEXT  (16u << 20)    /* bytes of one text passed to lm_tokenize */

/* tokenizer.ggml.token_type values. */
enum lm_token_type {
    LM_TOKEN_UNDEFINED = 0, LM_TOKEN_NORMAL = 1, LM_TOKEN_UNKNOWN = 2, LM_TOKEN_CONTROL = 3,
    LM_TOKEN_USER_DEFINED = 4, LM_TOKEN_UNUSED = 5, LM_TOKEN_BYTE = 6,
};

/* Attribute bits of a token (llama.cpp's llama_token_attr). Loading derives them from the type,
 * then adds some by token text as llama.cpp does: CONTROL on end-of-turn/FIM-looking tokens
 * (e.g. Qwen's NORMAL "</s>"), UNUSED on control tokens named "*unused*", RSTRIP for Phi-3. */
enum {
    LM_TOKEN_ATTR_UNKNOWN = 1 << 0, LM_TOKEN_ATTR_UNUSED = 1 << 1, LM_TOKEN_ATTR_NORMAL = 1 << 2,
    LM_TOKEN_ATTR_CONTROL = 1 << 3, LM_TOKEN_ATTR_USER_DEFINED = 1 << 4, LM_TOKEN_ATTR_BYTE = 1 << 5,
    LM_TOKEN_ATTR_LSTRIP = 1 << 7, LM_TOKEN_ATTR_RSTRIP = 1 << 8,
};

enum lm_tok_kind { LM_TOK_SPM, LM_TOK_BPE };

/* Special tokens; lm_tokenizer_special() gives -1 for those the vocabulary lacks. */
enum lm_tok_special {
    LM_TOK_BOS, LM_TOK_EOS, LM_TOK_EOT, LM_TOK_EOM, LM_TOK_UNK, LM_TOK_SEP, LM_TOK_PAD,
    LM_TOK_MASK, LM_TOK_NL, LM_TOK_FIM_PRE, LM_TOK_FIM_SUF, LM_TOK_FIM_MID, LM_TOK_FIM_PAD,
    LM_TOK_FIM_REP, LM_TOK_FIM_SEP, LM_TOK_SPECIAL_COUNT,
};

struct lm_tokenizer;

/* `path` names the file in errors (may be NULL). NULL on error. */
struct lm_tokenizer *lm_tokenizer_new(const struct gguf *g, const char *path, struct lm_err *err);
void lm_tokenizer_free(struct lm_tokenizer *t);                        /* NULL is fine */

enum lm_tok_kind lm_tokenizer_kind(const struct lm_tokenizer *t);
const char *lm_tokenizer_model(const struct lm_tokenizer *t);   /* "llama" or "gpt2" */
const char *lm_tokenizer_pre(const struct lm_tokenizer *t);     /* "qwen2", "default", ... */
uint32_t lm_tokenizer_n_vocab(const struct lm_tokenizer *t);
int32_t lm_tokenizer_special(const struct lm_tokenizer *t, enum lm_tok_special which);
bool lm_tokenizer_add_bos(const struct lm_tokenizer *t);   /* what add_special adds */
bool lm_tokenizer_add_eos(const struct lm_tokenizer *t);
bool lm_tokenizer_add_space_prefix(const struct lm_tokenizer *t);
/* End of generation: eos, eot, eom, FIM pad/rep/sep and the tokens llama.cpp stops on by text
 * ("<|im_end|>", "<|endoftext|>", "</s>", ...). False for ids out of range. */
bool lm_tokenizer_is_eog(const struct lm_tokenizer *t, int32_t id);
/* The end-of-generation ids, ascending; *ids points into t. */
size_t lm_tokenizer_eog(const struct lm_tokenizer *t, const int32_t **ids);

/* The vocabulary's own string for id (NUL-terminated; "[EMPTY_i]" for an empty one), its
 * attribute bits and score. NULL / 0 for ids out of range. */
const char *lm_token_text(const struct lm_tokenizer *t, int32_t id, size_t *len);
uint32_t lm_token_attr(const struct lm_tokenizer *t, int32_t id);
float lm_token_score(const struct lm_tokenizer *t, int32_t id);
/* The id whose string is exactly text[0..len), or -1. */
int32_t lm_token_find(const struct lm_tokenizer *t, const char *text, size_t len);

/* Tokenize len bytes of text (any bytes; more than LM_TOK_MAX_TEXT is refused). add_special
 * adds BOS/EOS as the vocabulary asks; parse_special makes CONTROL and UNKNOWN token strings in
 * the text become those tokens (USER_DEFINED ones always do). *ids is malloc'd (the caller frees
 * it; NULL when *n is 0). -1 with err on ENOMEM, a byte the vocabulary cannot spell, or a
 * pre-tokenizer regex over PCRE2's match limit (a run of ~10 MB of whitespace, say). */
int lm_tokenize(const struct lm_tokenizer *t, const char *text, size_t len, bool add_special,
                bool parse_special, int32_t **ids, size_t *n, struct lm_err *err);

/* The bytes a token stands for (llama_token_to_piece): "▁" is a space (SPM), byte-level text is
 * mapped back to bytes (BPE), <0xHH> is one byte. CONTROL and UNKNOWN tokens give "" unless
 * `special`. May be a partial UTF-8 character. Points into t (NUL-terminated); NULL out of range. */
const char *lm_token_piece(const struct lm_tokenizer *t, int32_t id, bool special, size_t *len);

/* Whole-sequence detokenization appended to out (llama_detokenize): one leading space of an SPM
 * text is removed, remove_special drops a leading BOS and trailing EOS the vocabulary adds,
 * unparse_special renders CONTROL tokens, and byte-level BPE vocabularies that ask for it get
 * llama.cpp's clean-up of spaces before punctuation. -1 for an id out of range or ENOMEM. */
int lm_detokenize(const struct lm_tokenizer *t, const int32_t *ids, size_t n, bool remove_special,
                  bool unparse_special, struct lm_buf *out, struct lm_err *err);

/* Streaming detokenization for generation: push one token at a time; bytes of a UTF-8 character
 * that is not complete yet are held back until the rest arrives (at most 3 bytes), so `out` only
 * ever grows by whole characters (invalid sequences pass through as they are). flush emits what is
 * held. No leading-space removal. Caller's storage; nothing to release. */
struct lm_detok {
    const struct lm_tokenizer *t;
    bool special;            /* render CONTROL tokens */
    uint8_t held[4];
    size_t n_held;
};
void lm_detok_init(struct lm_detok *d, const struct lm_tokenizer *t, bool special);
int lm_detok_push(struct lm_detok *d, int32_t id, struct lm_buf *out, struct lm_err *err);
int lm_detok_flush(struct lm_detok *d, struct lm_buf *out, struct lm_err *err);

/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF). */
bool lm_utf8_valid(const char *s, size_t n);

/* ==== MODEL (runtime/model*.c, kernels, forward pass, sampling) ============================ */

/* A net is a model's GGUF mapped read-only plus the hyperparameters and tensors its architecture
 * needs, every shape checked against the metadata at load. Architectures are rows of a table
 * (runtime/arch.c): llama (llama3 rope factors, GQA), qwen2 (q/k/v biases, NEOX rope), qwen3
 * (q/k RMS norm, explicit head dim); tied output embeddings reuse token_embd. */

enum lm_arch { LM_ARCH_LLAMA, LM_ARCH_QWEN2, LM_ARCH_QWEN3, LM_ARCH_COUNT };

#define LM_MAX_LAYERS 512
#define LM_MAX_VOCAB (1u << 24)
#define LM_MAX_EMBD (1u << 16)

struct lm_hparams {
    enum lm_arch arch;
    const char *arch_name;     /* "llama" */
    uint32_t n_vocab;          /* length of tokenizer.ggml.tokens */
    uint32_t n_ctx_train;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_ff;
    uint32_t n_head, n_head_kv;
    uint32_t head_dim;         /* key_length = value_length */
    uint32_t n_rot;            /* rotated dims of each head */
    float eps;                 /* RMS norm epsilon */
    float rope_base;
    float rope_freq_scale;     /* 1 / linear scaling factor */
    bool rope_neox;            /* rotate (i, i + n_rot/2) instead of (2i, 2i+1) */
    bool tied_output;          /* no output.weight: logits use token_embd */
    uint32_t ftype_weights;    /* the type of attn_q of layer 0, for --verbose */
};

struct lm_net;
/* Map and check a GGUF. Refuses (one lm_err) unknown architectures, missing or misshapen
 * tensors, types without a kernel and special token ids past the vocabulary. */
struct lm_net *lm_net_open(const char *path, struct lm_err *err);
/* The same from a reader the caller opened; takes g over (closed with the net, or on error). */
struct lm_net *lm_net_from_gguf(struct gguf *g, const char *path, struct lm_err *err);
void lm_net_close(struct lm_net *m);                           /* NULL is fine */
const struct lm_hparams *lm_net_hparams(const struct lm_net *m);
const struct gguf *lm_net_gguf(const struct lm_net *m);        /* for the tokenizer */
const char *lm_net_path(const struct lm_net *m);
uint64_t lm_net_weight_bytes(const struct lm_net *m);          /* tensor data mapped */

/* A context evaluates tokens of one sequence with a KV cache of n_ctx positions. */
enum lm_kv_type { LM_KV_F16, LM_KV_F32 };

struct lm_ctx_params {
    uint32_t n_ctx;          /* 0: min(n_ctx_train, 4096) */
    uint32_t n_batch;        /* tokens per forward pass; 0: 512 */
    uint32_t n_threads;      /* 0: 1 */
    enum lm_kv_type kv_type; /* llama.cpp's default is F16 */
};

struct lm_ctx;
struct lm_ctx *lm_ctx_new(const struct lm_net *m, const struct lm_ctx_params *p,
                          struct lm_err *err);
void lm_ctx_free(struct lm_ctx *c);
/* Append n tokens at positions n_past .. n_past+n-1. all_logits: keep the logits of every
 * token, else only of the last. Fails (nothing appended) if a token id is out of range or the
 * cache would overflow. */
int lm_ctx_eval(struct lm_ctx *c, const int32_t *tokens, uint32_t n, bool all_logits,
                struct lm_err *err);
/* Logits of the last eval: [n_out][n_vocab], n_out = n (all_logits) or 1. Owned by c. */
const float *lm_ctx_logits(const struct lm_ctx *c, uint32_t *n_out);
uint32_t lm_ctx_n_past(const struct lm_ctx *c);
uint32_t lm_ctx_n_ctx(const struct lm_ctx *c);
void lm_ctx_reset(struct lm_ctx *c);                           /* forget the sequence */

/* Sampling. temperature <= 0 is greedy (argmax, lowest id on ties). Otherwise, in llama.cpp's
 * order: repeat penalty over the last repeat_last_n tokens, top-k, top-p, min-p, temperature,
 * then a draw from a seeded xoshiro256** generator (same seed, same output). */
struct lm_sampler_params {
    float temperature;       /* llama.cpp default 0.8 */
    int32_t top_k;           /* <= 0: off */
    float top_p;             /* >= 1: off */
    float min_p;             /* <= 0: off */
    float repeat_penalty;    /* 1: off */
    int32_t repeat_last_n;
    uint64_t seed;
};
struct lm_sampler;
struct lm_sampler *lm_sampler_new(const struct lm_sampler_params *p, uint32_t n_vocab);
void lm_sampler_free(struct lm_sampler *s);
/* Pick the next token from one row of logits (not modified). */
int32_t lm_sampler_sample(struct lm_sampler *s, const float *logits);
/* Record an accepted token (prompt or generated) for the repeat penalty. */
void lm_sampler_accept(struct lm_sampler *s, int32_t token);

/* Kernels come in the instruction-set levels of common.h (LM_CPU_SCALAR, LM_CPU_AVX2,
 * LM_CPU_AVX512; the runtime's AVX-512 level also needs VNNI). The level is lm_cpu_level()
 * (the best the CPU has, or what LM_CPU pins) unless a test sets another; the scalar kernels
 * are the reference the others are tested against. */
bool lm_kernels_can(int level);                           /* compiled in and the CPU runs it */
int lm_kernels_level(void);
int lm_kernels_set_level(int level, struct lm_err *err); /* -1 if !lm_kernels_can(level) */
const char *lm_kernels_name(int level);                   /* "scalar", "avx2", "avx512" */

/* y[t][r] = row r of W (rows x cols, ggml type wtype) . x[t], for t < n_tok, with the kernels
 * of `level` on the calling thread and x quantized as the type wants (Q8_0/Q8_1/Q8_K/F16/BF16).
 * For tests comparing variants and for benchmarks. */
int lm_matmul(int level, uint32_t wtype, const void *w, size_t rows, size_t cols,
              const float *x, size_t n_tok, float *y, struct lm_err *err);

/* ==== CHAT (runtime/chat*.c, runtime/gotmpl*.c, runtime/modelfile*.c) ====================== */

/* Conversations, chat templates and Modelfiles. Nothing in a template is ever executed:
 *  - a GGUF's tokenizer.chat_template (Jinja) is only searched for marker substrings, rule for
 *    rule in llama.cpp's order (llm_chat_detect_template), to pick one of llama.cpp's built-in
 *    formatters; lm_chat_render is our own fixed C code for each of them and gives byte for byte
 *    what llama_chat_apply_template() gives. No formatter writes BOS (tokenizing adds it);
 *  - an Ollama Go template (Modelfile TEMPLATE) is parsed into a tree of the subset Ollama's
 *    templates use and evaluated by lm_gotmpl_render, bounded in nesting, steps and output.
 * Message text is copied verbatim: "{{ x }}" or "<|im_end|>" inside content is just text. */

#define LM_CHAT_MAX_MESSAGES 100000
#define LM_CHAT_MAX_BYTES (64u << 20)   /* text of a conversation; bytes of a rendered prompt */

struct lm_chat_msg {
    const char *role;      /* "system", "user", "assistant", or another role (formats that know
                            * no such role drop the message or print the name, as llama.cpp) */
    const char *content;   /* NUL-terminated; a NUL byte cannot be part of a message */
};

/* A conversation that owns copies of its strings. Caller's storage: init, add..., release. */
struct lm_chat {
    struct lm_chat_msg *msgs;
    size_t n, cap;
    size_t bytes;          /* roles + contents; at most LM_CHAT_MAX_BYTES */
};
void lm_chat_init(struct lm_chat *c);
void lm_chat_release(struct lm_chat *c);
/* Append a copy; -1 for a NUL byte in either string, past the limits, or ENOMEM. */
int lm_chat_add(struct lm_chat *c, const char *role, const char *content, size_t len,
                struct lm_err *err);
void lm_chat_truncate(struct lm_chat *c, size_t n);   /* keep the first n messages */
/* Messages from JSON: {"messages": [{"role": R, "content": C}, ...]} or the bare array (Ollama's
 * messages layer, llama-server's /apply-template body). Other keys are ignored; content must be
 * a string. Appends to c; `path` names the input in errors (offset: JSON syntax errors). */
int lm_chat_from_json(struct lm_chat *c, const char *json, size_t len, const char *path,
                      struct lm_err *err);

/* llama.cpp's built-in formatters; lm_chat_family_name() spells each as llama.cpp does. */
enum lm_chat_family {
    LM_CHAT_UNKNOWN = 0,     /* no formatter: the template is not recognised */
    LM_CHAT_CHATML, LM_CHAT_LLAMA2, LM_CHAT_LLAMA2_SYS, LM_CHAT_LLAMA2_SYS_BOS,
    LM_CHAT_LLAMA2_SYS_STRIP, LM_CHAT_MISTRAL_V1, LM_CHAT_MISTRAL_V3, LM_CHAT_MISTRAL_V3_TEKKEN,
    LM_CHAT_MISTRAL_V7, LM_CHAT_MISTRAL_V7_TEKKEN, LM_CHAT_PHI3, LM_CHAT_PHI4, LM_CHAT_FALCON3,
    LM_CHAT_ZEPHYR, LM_CHAT_MONARCH, LM_CHAT_GEMMA, LM_CHAT_ORION, LM_CHAT_OPENCHAT,
    LM_CHAT_VICUNA, LM_CHAT_VICUNA_ORCA, LM_CHAT_DEEPSEEK, LM_CHAT_DEEPSEEK2, LM_CHAT_DEEPSEEK3,
    LM_CHAT_DEEPSEEK_OCR, LM_CHAT_COMMAND_R, LM_CHAT_LLAMA3, LM_CHAT_CHATGLM3, LM_CHAT_CHATGLM4,
    LM_CHAT_GLMEDGE, LM_CHAT_MINICPM, LM_CHAT_EXAONE3, LM_CHAT_EXAONE4, LM_CHAT_EXAONE_MOE,
    LM_CHAT_RWKV_WORLD, LM_CHAT_GRANITE, LM_CHAT_GRANITE_4_0, LM_CHAT_GRANITE_4_1,
    LM_CHAT_GIGACHAT, LM_CHAT_MEGREZ, LM_CHAT_YANDEX, LM_CHAT_BAILING, LM_CHAT_BAILING_THINK,
    LM_CHAT_BAILING2, LM_CHAT_LLAMA4, LM_CHAT_SMOLVLM, LM_CHAT_DOTS1, LM_CHAT_HUNYUAN_MOE,
    LM_CHAT_GPT_OSS, LM_CHAT_HUNYUAN_DENSE, LM_CHAT_HUNYUAN_OCR, LM_CHAT_KIMI_K2, LM_CHAT_SEED_OSS,
    LM_CHAT_GROK2, LM_CHAT_PANGU_EMBED, LM_CHAT_SOLAR_OPEN, LM_CHAT_TALKIE, LM_CHAT_FAMILY_COUNT,
};
/* What to use when detection fails or a GGUF has no template (llama.cpp's default too); the
 * caller warns "chat template not recognised; using chatml". */
#define LM_CHAT_FALLBACK LM_CHAT_CHATML

const char *lm_chat_family_name(enum lm_chat_family f);       /* "chatml"; "unknown" */
/* By llama.cpp's name ("llama3", "mistral-v7"); LM_CHAT_UNKNOWN if none. */
enum lm_chat_family lm_chat_family_by_name(const char *name, size_t len);
/* llm_chat_detect_template: the template text is either a family name or searched for markers.
 * Bytes after a NUL do not count (llama.cpp holds it as a C string). Never fails. */
enum lm_chat_family lm_chat_detect(const char *tmpl, size_t len);
/* Append the prompt for msgs[0..n) to out (bounded by out->max); add_ass adds the generation
 * prompt where the format has one. -1 only for f with no formatter or a prompt past out->max. */
int lm_chat_render(enum lm_chat_family f, const struct lm_chat_msg *msgs, size_t n, bool add_ass,
                   struct lm_buf *out, struct lm_err *err);

/* ---- Ollama Go templates (text/template subset) ------------------------------------------- */

/* Syntax: text, {{ pipeline }}, {{- / -}} trimming, comments, if / else if / else,
 * range (with $i, $x := and else), with, break, continue, variables ($x := / $x = / $ / $.X),
 * fields (.A.B), parentheses, "|" pipes, string / raw string / int / bool / nil literals.
 * Functions: and or not eq ne lt le gt ge len index slice print printf (verbs %s %d %v %q %t %%)
 * println, and Ollama's json currentDate yesterdayDate toTypeScriptType. Nothing else: no
 * define/template/block, no method calls, no outside access.
 * Data: .System .Prompt .Response .Messages (each .Role .Content) .Tools (empty) .Think (false),
 * as Ollama gives them. Limits: */
#define LM_GOTMPL_MAX_SRC (1u << 20)     /* bytes of template text */
#define LM_GOTMPL_MAX_DEPTH 100          /* nested blocks and parentheses */
#define LM_GOTMPL_MAX_STEPS 10000000     /* nodes evaluated (and 64-byte compares) per render */

struct lm_gotmpl;                        /* a parsed template; immutable, any thread */
/* Errors: path = name, offset = byte in the template, message "line N: what". NULL on error. */
struct lm_gotmpl *lm_gotmpl_parse(const char *src, size_t len, const char *name,
                                  struct lm_err *err);
void lm_gotmpl_free(struct lm_gotmpl *t);                          /* NULL is fine */
/* Ollama's Template.Execute for a chat: a template that uses .Messages runs once with System
 * (all system texts joined by "\n\n") and Messages (consecutive same-role messages merged with
 * "\n\n"); any other runs once per turn with .System .Prompt .Response and its last run is cut
 * after {{ .Response }} (a template without .Response gets one appended). Appends to out
 * (bounded by out->max and LM_GOTMPL_MAX_STEPS); -1 on an evaluation error or a limit. */
int lm_gotmpl_render(const struct lm_gotmpl *t, const struct lm_chat_msg *msgs, size_t n,
                     struct lm_buf *out, struct lm_err *err);

/* ---- making prompts, stop strings -------------------------------------------------------- */

/* A model's way of making a prompt of a chat: its Go template when it has one (a Modelfile
 * TEMPLATE, Ollama's template layer), else the family of its GGUF's tokenizer.chat_template,
 * else LM_CHAT_FALLBACK (fallback true: the caller warns once, naming the family). Caller's
 * storage; release frees the Go template. */
struct lm_prompter {
    enum lm_chat_family family;    /* LM_CHAT_UNKNOWN when gotmpl is used */
    struct lm_gotmpl *gotmpl;      /* owned, or NULL */
    bool fallback;                 /* no template was recognised */
    bool no_template;              /* ... because the GGUF has none */
};
/* From a GGUF's tokenizer.chat_template (-1 only if that key is not a string; `path` names the
 * file in errors), from Jinja template text (never fails), or from an Ollama Go template (-1 if
 * it does not parse; `name` names it in errors). */
int lm_prompter_from_gguf(struct lm_prompter *p, const struct gguf *g, const char *path,
                          struct lm_err *err);
void lm_prompter_from_jinja(struct lm_prompter *p, const char *tmpl, size_t len);
int lm_prompter_from_gotmpl(struct lm_prompter *p, const char *tmpl, size_t len, const char *name,
                            struct lm_err *err);
const char *lm_prompter_name(const struct lm_prompter *p);    /* "chatml", or "gotmpl" */
/* The prompt for msgs, appended to out; add_ass as lm_chat_render (Go templates always end
 * with what they end with). */
int lm_prompter_render(const struct lm_prompter *p, const struct lm_chat_msg *msgs, size_t n,
                       bool add_ass, struct lm_buf *out, struct lm_err *err);
void lm_prompter_release(struct lm_prompter *p);

/* Stop strings (PARAMETER stop) while streaming, cutting the text as Ollama's runner does: each
 * token's text is pushed; an end of it that may start a stop string is held back, the rest comes
 * out; when the text holds a whole stop string (the first of the list that it holds) generation
 * ends and the text from there on is dropped. Empty strings are ignored. Held text is never
 * longer than the longest stop string. Caller's storage: init, push..., flush, release. */
struct lm_stops {
    char **s;
    size_t n;
    struct lm_buf held;
    bool stopped;
};
int lm_stops_init(struct lm_stops *st, const char *const *strs, size_t n, struct lm_err *err);
/* Appends to out what may be shown; sets st->stopped at a stop string (later pushes add
 * nothing). */
int lm_stops_push(struct lm_stops *st, const char *text, size_t len, struct lm_buf *out,
                  struct lm_err *err);
int lm_stops_flush(struct lm_stops *st, struct lm_buf *out, struct lm_err *err);
void lm_stops_release(struct lm_stops *st);

/* ---- Modelfiles (shared/specs/ollama-registry.md §5; Ollama's parser, state for state) ----- */

/* Parameter value types, as Ollama's api.Options types them. */
enum lm_param_type { LM_PARAM_INT, LM_PARAM_FLOAT, LM_PARAM_BOOL, LM_PARAM_STRINGS };

struct lm_mf_param {
    const char *name;          /* static: "temperature", "stop", ... */
    enum lm_param_type type;
    int64_t i;                 /* INT; BOOL as 0/1 */
    double f;                  /* FLOAT: the float32 value Ollama stores */
    char **strs;               /* STRINGS (stop): every value, in order */
    size_t n_strs;
    int line;                  /* where it was (first) given */
};

struct lm_mf_message {
    char *role;                /* system, user or assistant */
    char *content;
};

/* A parsed Modelfile. Strings are the caller's after parse (release frees them). NULL / 0
 * means "not given": a store that layers this over a base keeps the base's. */
struct lm_modelfile {
    char *from;                /* FROM as written: a store name, a GGUF path or a HF checkpoint dir;
                                * resolving it (relative to the Modelfile's dir, ~) is the caller's */
    int from_line;
    char *tmpl;                /* TEMPLATE (Go template, checked to parse), or NULL */
    char *system;              /* SYSTEM, or NULL */
    char **licenses;           /* each LICENSE, in order */
    size_t n_licenses;
    struct lm_mf_message *msgs;    /* MESSAGE lines, in order */
    size_t n_msgs;
    struct lm_mf_param *params;    /* first-given order; a repeated key replaces, stop appends */
    size_t n_params;
    char *requires;            /* REQUIRES (semver without "v"), or NULL */
    char **warnings;           /* lines for the user: deprecated parameters dropped, ignored
                                * DRAFT/RENDERER/PARSER ("Modelfile:7: ...") */
    size_t n_warnings;
};

#define LM_MODELFILE_MAX (16u << 20)   /* bytes of one Modelfile */

/* Parse a Modelfile (UTF-8, UTF-16 with BOM). On error mf holds nothing and err.path is
 * "PATH:LINE" so lm_report prints "lm: Modelfile:3: what is wrong". ADAPTER is refused (lm does
 * not apply LoRA adapters). Parameters are typed and checked (unknown names, bad values). */
int lm_modelfile_parse(const char *text, size_t len, const char *path, struct lm_modelfile *mf,
                       struct lm_err *err);
void lm_modelfile_release(struct lm_modelfile *mf);
const struct lm_mf_param *lm_modelfile_param(const struct lm_modelfile *mf, const char *name);
/* Add or replace one parameter from its text ("0.7"); stop appends. For rebuilding a Modelfile
 * from stored layers and for `/set parameter`. err as for parse with line 0 ("PATH: ..."). */
int lm_modelfile_set_param(struct lm_modelfile *mf, const char *name, const char *value,
                           const char *path, struct lm_err *err);
/* Ollama's params blob: Go-encoded JSON object, keys sorted, stop as an array, "\n" at the end. */
int lm_modelfile_params_json(const struct lm_modelfile *mf, struct lm_buf *out,
                             struct lm_err *err);
/* Ollama's messages blob: [{"role":R,"content":C},...] as Go encodes it, "\n" at the end. (The
 * template, system and license layers are their text as it is.) */
int lm_modelfile_messages_json(const struct lm_modelfile *mf, struct lm_buf *out,
                               struct lm_err *err);
/* The reverse: parameters from such a blob (what `lm show --modelfile` reads back). */
int lm_modelfile_params_from_json(struct lm_modelfile *mf, const char *json, size_t len,
                                  const char *path, struct lm_err *err);
/* A Modelfile that re-creates mf, in Ollama's order (FROM, TEMPLATE, SYSTEM, PARAMETER, LICENSE,
 * MESSAGE, then REQUIRES); a value is quoted only when it needs it, and one holding """ cannot
 * be written (-1). */
int lm_modelfile_format(const struct lm_modelfile *mf, struct lm_buf *out, struct lm_err *err);
/* Sampler settings the Modelfile gives, over what p holds (temperature, top_k, top_p, min_p,
 * repeat_penalty, repeat_last_n, seed; seed -1 leaves p->seed). */
void lm_modelfile_sampler(const struct lm_modelfile *mf, struct lm_sampler_params *p);

#endif
