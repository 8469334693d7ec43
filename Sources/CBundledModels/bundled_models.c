#include "bundled_models.h"

#include <string.h>

// The built-in models: name, and the symbol prefix of its bytes in models.S.
#define KP_BUNDLED_MODELS(X)                                                                        \
    X("human", kp_model_human)                                                                      \
    X("human-lite", kp_model_human_lite)                                                            \
    X("mouse", kp_model_mouse)

#define KP_DECLARE(name, symbol) extern const unsigned char symbol##_start[], symbol##_end[];
KP_BUNDLED_MODELS(KP_DECLARE)

static const struct {
    const char *name;
    const unsigned char *start;
    const unsigned char *end;
} models[] = {
#define KP_ENTRY(name, symbol) {name, symbol##_start, symbol##_end},
    KP_BUNDLED_MODELS(KP_ENTRY)
};

static const char *const names[] = {
#define KP_NAME(name, symbol) name,
    KP_BUNDLED_MODELS(KP_NAME) NULL};

const unsigned char *kp_bundled_model(const char *name, size_t *size) {
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        if (strcmp(models[i].name, name) == 0) {
            *size = (size_t)(models[i].end - models[i].start);
            return models[i].start;
        }
    }
    *size = 0;
    return NULL;
}

const char *const *kp_bundled_model_names(void) { return names; }
