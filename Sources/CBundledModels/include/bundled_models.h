#ifndef BUNDLED_MODELS_H
#define BUNDLED_MODELS_H

#include <stddef.h>

/// The bytes of the model file Models/<name>.safetensors built into this binary, or NULL (and
/// *size 0) when no model of that name is built in. The bytes live as long as the program.
const unsigned char *kp_bundled_model(const char *name, size_t *size);

/// The names of the built-in models, NULL-terminated.
const char *const *kp_bundled_model_names(void);

#endif
