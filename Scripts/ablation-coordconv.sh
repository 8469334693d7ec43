#!/usr/bin/env bash
# CoordConv ablation: one training recipe run with the CoordConv stem and with a plain stem
# (--no-coordinates), over several seeds, then a table of the last epoch's validation figures
# (the last, not the best, epoch: picking the best on the validation set would flatter both).
#
# Usage: bash Scripts/ablation-coordconv.sh OUTDIR "SEEDS" TRAIN-ARGUMENTS...
#   e.g. bash Scripts/ablation-coordconv.sh /tmp/ablation "1 2 3" --labels labels.csv --epochs 30
# Runs already finished in OUTDIR (their log ends with the "done:" line) are not run again, so the
# script can be restarted after an interruption; an interrupted run resumes from its checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1"
seeds="$2"
shift 2
swift build -c release --product keypoints >/dev/null
keypoints="$(swift build -c release --show-bin-path)/keypoints"
mkdir -p "$out"

for seed in $seeds; do
    for stem in coordconv plain; do
        run="$out/$stem-seed$seed"
        if [ -f "$run.log" ] && grep -q "done: best epoch" "$run.log"; then continue; fi
        flag=()
        [ "$stem" = plain ] && flag=(--no-coordinates)
        if [ -f "$run.safetensors.checkpoint" ]; then
            "$keypoints" train --resume "$run.safetensors.checkpoint" --out "$run.safetensors" >>"$run.log" 2>&1
        else
            "$keypoints" train "$@" "${flag[@]}" --seed "$seed" --out "$run.safetensors" >"$run.log" 2>&1
        fi
    done
done

# The last "epoch N: ..., validation mean error E px, PCK@0.2 P" line of each run.
printf '%-10s %-6s %12s %10s\n' stem seed "error (px)" "PCK@0.2"
for stem in coordconv plain; do
    for seed in $seeds; do
        line="$(grep -o 'validation mean error [0-9.]* px, PCK@0.2 [0-9.]*' "$out/$stem-seed$seed.log" | tail -1)"
        printf '%-10s %-6s %12s %10s\n' "$stem" "$seed" "$(echo "$line" | awk '{print $4}')" "$(echo "$line" | awk '{print $7}')"
    done
done | tee "$out/runs.txt"
echo
printf '%-10s %22s %22s\n' stem "error mean ± sd (px)" "PCK@0.2 mean ± sd"
awk '$1 != "stem" {
        n[$1]++; e[$1] += $3; ee[$1] += $3 * $3; p[$1] += $4; pp[$1] += $4 * $4
    }
    END {
        for (s in n) {
            me = e[s] / n[s]; mp = p[s] / n[s]
            se = n[s] > 1 ? sqrt((ee[s] - n[s] * me * me) / (n[s] - 1)) : 0
            sp = n[s] > 1 ? sqrt((pp[s] - n[s] * mp * mp) / (n[s] - 1)) : 0
            printf "%-10s %14.2f ± %5.2f %14.3f ± %5.3f\n", s, me, se, mp, sp
        }
    }' "$out/runs.txt"
