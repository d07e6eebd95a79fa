/* gotmpl_int.h: the parsed form of a Go template, shared by gotmpl_parse.c and gotmpl_exec.c,
 * and Go's JSON quoting (also used for Modelfile params). Not part of runtime's interface. */
#ifndef LM_GOTMPL_INT_H
#define LM_GOTMPL_INT_H

#include "runtime.h"

/* Nodes, as text/template/parse has them. Every node lives in the template's arena. */
enum gt_node_kind { GT_LIST, GT_TEXT, GT_ACTION, GT_IF, GT_RANGE, GT_WITH, GT_BREAK, GT_CONTINUE };

/* Functions a command may call; nothing else is callable. text/template's builtins, then
 * Ollama's own: json, currentDate and yesterdayDate (YYYY-MM-DD, local time), toTypeScriptType
 * (only inside tool definitions, which lm never has). */
enum gt_func {
    GF_AND, GF_OR, GF_NOT, GF_EQ, GF_NE, GF_LT, GF_LE, GF_GT, GF_GE, GF_LEN, GF_INDEX,
    GF_SLICE, GF_PRINT, GF_PRINTF, GF_PRINTLN, GF_JSON, GF_CURRENT_DATE, GF_YESTERDAY_DATE,
    GF_TO_TS_TYPE, GF_COUNT,
};

enum gt_arg_kind {
    GA_FIELD,     /* .A.B on dot: fields[] */
    GA_VAR,       /* $x.A.B: name, fields[] */
    GA_DOT,       /* . */
    GA_STRING,    /* s, n (unquoted) */
    GA_INT,       /* i */
    GA_BOOL,      /* b */
    GA_NIL,
    GA_FUNC,      /* func */
    GA_PIPE,      /* ( pipeline ) */
    GA_CHAIN,     /* (pipeline).A.B: pipe, fields[] */
};

struct gt_pipe;

struct gt_arg {
    enum gt_arg_kind kind;
    uint32_t off;
    const char *s;            /* STRING value, VAR name ("$x") */
    size_t n;
    int64_t i;
    bool b;
    enum gt_func func;
    const char **fields;      /* FIELD, VAR, CHAIN */
    size_t n_fields;
    struct gt_pipe *pipe;     /* PIPE, CHAIN */
};

struct gt_cmd {
    uint32_t off;
    struct gt_arg **args;
    size_t n;
};

struct gt_pipe {
    uint32_t off;
    bool is_assign;           /* $x = ... rather than $x := ... */
    size_t n_decl;            /* 0..2 */
    const char *decl[2];
    struct gt_cmd **cmds;
    size_t n;
};

struct gt_node {
    enum gt_node_kind kind;
    uint32_t off;
    const char *text;          /* TEXT: into the template's copy of the source */
    size_t len;
    struct gt_node **items;    /* LIST */
    size_t n, cap;
    struct gt_pipe *pipe;      /* ACTION, IF, RANGE, WITH */
    struct gt_node *list, *else_list;
};

/* Bump allocator: everything of one parse is freed at once. */
struct gt_arena {
    struct gt_block *head;
    size_t used;               /* bytes handed out, for the ceiling */
    size_t max;
};
void *gt_alloc(struct gt_arena *a, size_t n);           /* zeroed; NULL past max or ENOMEM */
void gt_arena_free(struct gt_arena *a);

struct lm_gotmpl {
    char *src;                 /* NUL-terminated copy */
    size_t len;
    char name[256];
    struct gt_arena arena;
    struct gt_node *root;      /* a LIST */
    bool uses_messages;        /* Ollama's Vars(): "messages" or "document" appear */
    bool uses_response;
};

struct gt_msg {
    const char *role, *content;
    size_t role_n, content_n;
};

/* The data Ollama passes: a map in both modes (keys differ), messages as []*api.Message. */
struct gt_data {
    bool messages_mode;
    const char *system, *prompt, *response;
    size_t system_n, prompt_n, response_n;
    const struct gt_msg *msgs;
    size_t n_msgs;
};

/* One execution of `root` over `data`, appended to out; *steps counts across executions. */
int gt_execute(const struct lm_gotmpl *t, const struct gt_node *root, const struct gt_data *data,
               struct lm_buf *out, uint64_t *steps, struct lm_err *err);

/* Parse src into t->root (t->src, len, name set). Like Ollama's Parse, a template that names
 * neither .Messages nor .Response gets {{ .Response }} appended. */
int gt_parse(struct lm_gotmpl *t, struct lm_err *err);
/* Ollama's deleteNode for the last turn of a legacy template: drop everything after the first
 * .Response field (in the order Ollama walks the tree). */
void gt_cut_after_response(struct gt_node *root);
/* UTF-8 bytes of a code point (at most 4) into o; returns how many. */
size_t gt_utf8_put(char *o, uint32_t cp);
/* 1-based line of a byte offset, for messages. */
int gt_line(const struct lm_gotmpl *t, uint32_t off);

/* Go's encoding/json string quoting (HTML-safe: < > & as \u003c..., U+2028/9 escaped,
 * invalid UTF-8 as \ufffd). */
int lm_go_json_quote(struct lm_buf *b, const char *s, size_t n);
/* A float64 as encoding/json writes it: shortest digits that read back, 'e' form below 1e-6
 * and from 1e21 ("1e-7", "1e+21"). Not for NaN or infinities. */
int lm_go_json_number(struct lm_buf *b, double v);
/* The float64 Go gets from a float32 Ollama parsed: the shortest decimal of (float)v read back
 * as a double (0.7 -> 0.7, not 0.699999988). */
double lm_go_float32(double v);

#endif
