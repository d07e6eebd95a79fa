/* chatfix: the conversations of chat-templates/ (conversations.json, and the three of Ollama's
 * template_test.go as "ollama:user", "ollama:user-assistant-user",
 * "ollama:system-user-assistant-user") for the chat and Go-template tests. */
#ifndef LM_CHATFIX_H
#define LM_CHATFIX_H

#include <jansson.h>

#include "../../runtime/runtime.h"

/* $LM_MODELS/chat-templates/<rel> parsed, or NULL (message on stderr). */
json_t *chatfix_load(const char *rel);
/* Append conversation `id` to c; false if there is no such conversation. */
bool chatfix_conv(json_t *conversations, const char *id, struct lm_chat *c);

#endif
