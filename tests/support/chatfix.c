/* chatfix.c: loading the chat-template fixtures' conversations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatfix.h"
#include "testutil.h"

json_t *chatfix_load(const char *rel)
{
    const char *models = lm_models();
    if (!models)
        return NULL;
    char path[2048];
    snprintf(path, sizeof(path), "%s/chat-templates/%s", models, rel);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fprintf(stderr, "%s: %s\n", path, je.text);
    return j;
}

static bool add(struct lm_chat *c, const char *role, const char *content)
{
    struct lm_err err;
    return lm_chat_add(c, role, content, strlen(content), &err) == 0;
}

bool chatfix_conv(json_t *conversations, const char *id, struct lm_chat *c)
{
    if (strncmp(id, "ollama:", 7) == 0) {
        const char *w = id + 7;
        bool sys = strcmp(w, "system-user-assistant-user") == 0;
        bool more = sys || strcmp(w, "user-assistant-user") == 0;
        if (!sys && !more && strcmp(w, "user") != 0)
            return false;
        return (!sys || add(c, "system", "You are a helpful assistant.")) &&
               add(c, "user", "Hello, how are you?") &&
               (!more || (add(c, "assistant", "I'm doing great. How can I help you today?") &&
                          add(c, "user", "I'd like to show off how chat templating works!")));
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(conversations, "conversations"), i, v) {
        if (strcmp(json_string_value(json_object_get(v, "id")), id) != 0)
            continue;
        char *s = json_dumps(json_object_get(v, "messages"), 0);
        struct lm_err err;
        bool ok = s && lm_chat_from_json(c, s, strlen(s), id, &err) == 0;
        free(s);
        return ok;
    }
    return false;
}
