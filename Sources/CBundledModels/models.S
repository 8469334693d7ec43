// The shipped models (Models/*.safetensors in the repository), embedded in the binary so that
// `keypoints` finds them wherever it is installed. .incbin paths are searched from this target's
// include directory. The build does not notice a replaced model file: touch this file after
// replacing one (BundledModelTests compares the built-in bytes with the files).
#if defined(__APPLE__)
#define SYMBOL(name) _##name
    .section __TEXT,__const
#else
#define SYMBOL(name) name
    .section .rodata
#endif

    .p2align 6
    .globl SYMBOL(kp_model_mouse_start)
    .globl SYMBOL(kp_model_mouse_end)
SYMBOL(kp_model_mouse_start):
    .incbin "../../../Models/mouse.safetensors"
SYMBOL(kp_model_mouse_end):

    .p2align 6
    .globl SYMBOL(kp_model_human_start)
    .globl SYMBOL(kp_model_human_end)
SYMBOL(kp_model_human_start):
    .incbin "../../../Models/human.safetensors"
SYMBOL(kp_model_human_end):

    .p2align 6
    .globl SYMBOL(kp_model_human_lite_start)
    .globl SYMBOL(kp_model_human_lite_end)
SYMBOL(kp_model_human_lite_start):
    .incbin "../../../Models/human-lite.safetensors"
SYMBOL(kp_model_human_lite_end):

#if defined(__linux__)
    .section .note.GNU-stack, "", %progbits
#endif
