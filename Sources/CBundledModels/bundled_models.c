#include "bundled_models.h"

#include <string.h>

extern const unsigned char kp_model_human_start[], kp_model_human_end[];
extern const unsigned char kp_model_human_lite_start[], kp_model_human_lite_end[];
extern const unsigned char kp_model_mouse_start[], kp_model_mouse_end[];

static const struct {
    const char *name;
    const unsigned char *start;
    const unsigned char *end;
} models[] = {
    {"human", kp_model_human_start, kp_model_human_end},
    {"human-lite", kp_model_human_lite_start, kp_model_human_lite_end},
    {"mouse", kp_model_mouse_start, kp_model_mouse_end},
};

static const char *const names[] = {"human", "human-lite", "mouse", NULL};

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
