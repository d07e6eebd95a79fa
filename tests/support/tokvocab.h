/* tokvocab: small tokenizer vocabularies written as GGUF bytes in memory, for the tokenizer
 * tests. A test takes a valid base vocabulary, changes one thing, and builds it. */
#ifndef LM_TOKVOCAB_H
#define LM_TOKVOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TV_MAX_TOKENS 600
#define TV_MAX_EXTRA 6

struct tv_vocab {
    const char *model, *pre, *name;     /* NULL: the key is left out */
    const char *tokens[TV_MAX_TOKENS];  /* NUL-free strings */
    size_t n_tokens;
    bool no_tokens;                     /* leave the tokens key out */
    bool tokens_u32;                    /* write tokens as an array of UINT32 instead */
    float scores[TV_MAX_TOKENS];
    size_t n_scores;                    /* 0: no scores key */
    int32_t types[TV_MAX_TOKENS];
    size_t n_types;                     /* 0: no token_type key */
    const char *merges[TV_MAX_TOKENS];
    size_t n_merges;
    bool has_merges;
    struct { const char *key; uint32_t val; } u32[TV_MAX_EXTRA];    /* key NULL = unused */
    struct { const char *key; bool val; } bools[TV_MAX_EXTRA];
    struct { const char *key; const char *val; } strs[TV_MAX_EXTRA];
    char store[TV_MAX_TOKENS][8];       /* backing for generated token strings */
};

/* A SentencePiece vocabulary: <unk> <s> </s>, 256 <0xHH> byte tokens (ids 3..258), then
 * "▁" 259, "a" 260, "b" 261, "c" 262, "▁a" 263, "ab" 264, "▁ab" 265, "abc" 266 and the
 * USER_DEFINED "<|user|>" 267. bos 1, eos 2, add_bos true. */
void tv_spm(struct tv_vocab *v);
/* A byte-level BPE vocabulary (pre "qwen2"): ids 0..255 are the byte-level characters of bytes
 * 0..255, then "Ġa" 256, "ab" 257, "Ġab" 258, CONTROL "<|endoftext|>" 259, "<|im_start|>" 260;
 * merges "Ġ a", "a b", "Ġa b". */
void tv_bpe(struct tv_vocab *v);
/* The GGUF bytes (malloc'd), or NULL with a message on stderr. */
uint8_t *tv_build(const struct tv_vocab *v, size_t *len);

#endif
