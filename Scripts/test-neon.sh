#!/usr/bin/env bash
# The NEON kernels, cross-compiled for AArch64 and run under qemu-aarch64 against the double
# reference and the scalar kernels (Tests/CConvKernelsNEON/neon_conv_test.c). Part of Scripts/test.sh.
# Needs Debian's gcc-aarch64-linux-gnu and qemu-user.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
flags=(-std=c11 -Wall -Wextra -pthread -I Sources/CConvKernels/include -I Sources/CConvKernels)
# The driver at -O1: Debian 12's aarch64 gcc 12 crashes vectorising its error reductions at -O2.
aarch64-linux-gnu-gcc "${flags[@]}" -O1 -c Tests/CConvKernelsNEON/neon_conv_test.c -o "$work/driver.o"
aarch64-linux-gnu-gcc "${flags[@]}" -O2 "$work/driver.o" Sources/CConvKernels/*.c -lm -o "$work/neon_conv_test"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$work/neon_conv_test"
