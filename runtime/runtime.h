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

/* ==== MODEL (runtime/model*.c, kernels, forward pass, sampling) ============================ */

#endif
