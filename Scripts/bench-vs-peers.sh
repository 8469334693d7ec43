#!/usr/bin/env bash
# Our convolution layers and the reference heatmap network beside onnxruntime, ncnn and OpenVINO
# (fp32) in one run, on the shapes and network of ../shared/bench/peers, at 1 and 2 threads, with
# the machine's peak FLOPS from peak.c. Prints, per shape (and for the network) and thread count,
# each peer's median over ours (above 1 = we are faster).
# Ours runs before and after the peers; the mean of the two medians is used, so drift during the
# run shows up in both columns alike.
#
# Peers need python packages: onnxruntime ncnn openvino onnx numpy. Set PEERS_PYTHON to a python
# that has them, or the script makes a virtual environment in ~/.cache/keypoints-peers.
# With --baseline BIN (an older keypoints build), that binary's bench conv and bench net run
# beside ours, before and after the peers too, and a column gives its median over ours (above
# 1 = this build is faster), so before/after is one run.
# Usage: bash Scripts/bench-vs-peers.sh [--baseline BIN]        (about 3 minutes; 4 with a baseline)
set -euo pipefail
baseline=""
if [ "${1:-}" = "--baseline" ]; then baseline="$(realpath "$2")"; fi
cd "$(dirname "$0")/.."
peers="$(cd .. && pwd)/shared/bench/peers"
[ -d "$peers" ] || { echo "peer benchmarks not found at $peers" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python="${PEERS_PYTHON:-}"
if [ -z "$python" ]; then
    venv="$HOME/.cache/keypoints-peers"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    # A venv left half-installed (or a package removed since) is completed, not trusted.
    "$venv/bin/python" -c 'import onnxruntime, ncnn, openvino, onnx, numpy' 2>/dev/null ||
        "$venv/bin/pip" install -q onnxruntime ncnn openvino onnx numpy
    python="$venv/bin/python"
fi

swift build -c release --product keypoints >/dev/null
keypoints="$(swift build -c release --show-bin-path)/keypoints"

# peak.c's inline assembly names AVX-512 registers, so it builds only where -march=native has
# AVX-512 (an AMD EPYC without it refused); the ratios do not need it, so the run goes on and
# says why the peak is missing.
if gcc -O3 -march=native -pthread -o "$work/peak" "$peers/peak.c" 2>"$work/peak.stderr"; then
    "$work/peak" 3 | grep '^JSON: ' | sed 's/^JSON: //' >"$work/peak.json"
else
    echo '{}' >"$work/peak.json"
fi

# ours (and the baseline's) conv timings into ours-$1.jsonl (baseline-$1.jsonl), net timings appended to net-ours.jsonl (net-baseline.jsonl)
time_builds() {
    for threads in 1 2; do "$keypoints" bench conv --threads "$threads" --json; done >"$work/ours-$1.jsonl"
    for threads in 1 2; do "$keypoints" bench net --networks reference --threads "$threads" --json; done >>"$work/net-ours.jsonl"
    if [ -n "$baseline" ]; then
        for threads in 1 2; do "$baseline" bench conv --threads "$threads" --json; done >"$work/baseline-$1.jsonl"
        for threads in 1 2; do "$baseline" bench net --networks reference --threads "$threads" --json; done >>"$work/net-baseline.jsonl"
    fi
}
time_builds before
"$python" "$peers/bench_conv.py" --workdir "$work/models" --threads 1,2 --rounds 5 --per-round 20 \
    --engines ort,ncnn,openvino --shapes a_32x32_128,b_64x64_64,c_128x128_32,d_256x256_16,e_64x64_64_s2,f_64x128_64_1x1,g_5x32_256_s2 \
    --json "$work/peers.json" >/dev/null 2>"$work/peers.stderr"
"$python" "$peers/bench_net.py" --workdir "$work/models" --threads 1,2 --rounds 5 --per-round 10 \
    --engines ort,ncnn,openvino --json "$work/peers-net.json" >/dev/null 2>"$work/peers-net.stderr"
time_builds after

"$python" - "$work" <<'PY'
import json, os, sys
work = sys.argv[1]
peak = json.load(open(f"{work}/peak.json"))
peers = json.load(open(f"{work}/peers.json"))["results"]
def rows_of(prefix):
    rows = {}
    for name in (f"{prefix}-before", f"{prefix}-after"):
        if os.path.exists(f"{work}/{name}.jsonl"):
            for line in open(f"{work}/{name}.jsonl"):
                row = json.loads(line)
                rows.setdefault((row["shape"], row["threads"]), []).append(row)
    return rows
ours, base = rows_of("ours"), rows_of("baseline")
def spread(rows):
    """min-max of the runs' medians, and of their fastest and slowest calls when reported"""
    low = min(r.get("min_ms", r["median_ms"]) for r in rows)
    high = max(r.get("max_ms", r["median_ms"]) for r in rows)
    return f"{low:.3f}-{high:.3f}"
if peak:
    print(f"peak FMA: {peak['avx512_gflops_1t']:.0f} GFLOPS AVX-512 / {peak['avx2_gflops_1t']:.0f} AVX2 on 1 thread, "
          f"{peak['avx512_gflops_2t']:.0f} / {peak['avx2_gflops_2t']:.0f} on 2 ({peak['cpu_model']}, {peak['effective_ghz']} GHz)")
else:
    reason = next((line.strip() for line in open(f"{work}/peak.stderr") if "error" in line), "no reason given")
    print(f"peak FMA: not measured (peak.c did not build here: {reason})")
print(f"{'shape':<16} {'thr':>3} {'algorithm':<13} {'ours ms':>8} {'min-max':>15} {'GFLOPS':>7} {'ort':>7} {'ncnn':>7} {'openvino':>8}"
      f" {'best peer/ours':>15} {'ncnn/ours':>10}" + (f" {'baseline/ours':>14}" if base else ""))
for (shape, threads), rows in sorted(ours.items(), key=lambda item: (item[0][1], item[0][0])):
    median = sum(r["median_ms"] for r in rows) / len(rows)
    gflops = sum(r["gflops"] for r in rows) / len(rows)
    engines = peers[str(threads)][shape]
    times = {engine: engines[engine]["median_ms"] for engine in ("ort", "ncnn", "openvino") if "median_ms" in engines.get(engine, {})}
    for engine in ("ort", "ncnn", "openvino"):
        if "error" in engines.get(engine, {}):
            print(f"{shape} {threads} thread(s): {engine} failed: {engines[engine]['error']}", file=sys.stderr)
    best = min(times.values())
    baseline = ""
    if (shape, threads) in base:
        then = sum(r["median_ms"] for r in base[(shape, threads)]) / len(base[(shape, threads)])
        baseline = f" {then / median:>13.2f}x"
    print(f"{shape:<16} {threads:>3} {rows[0]['algorithm']:<13} {median:>8.3f} {spread(rows):>15} {gflops:>7.1f} "
          + " ".join(f"{times.get(e, float('nan')):>{w}.3f}" for e, w in (("ort", 7), ("ncnn", 7), ("openvino", 8)))
          + f" {best / median:>14.2f}x {times.get('ncnn', float('nan')) / median:>9.2f}x" + baseline)

net = json.load(open(f"{work}/peers-net.json"))
net_results = net.get("results", net)
def net_rows(name):
    rows = {}
    if os.path.exists(f"{work}/{name}.jsonl"):
        for line in open(f"{work}/{name}.jsonl"):
            row = json.loads(line)
            rows.setdefault(row["threads"], []).append(row)
    return rows
ours_net, base_net = net_rows("net-ours"), net_rows("net-baseline")
print()
print(f"reference network (5.794 GFLOP, 1x3x256x256), median ms")
print(f"{'thr':>3} {'ours':>8} {'min-max':>15} {'ort':>8} {'ncnn':>8} {'openvino':>8} {'ncnn/ours':>10}"
      + (f" {'baseline/ours':>14}" if base_net else ""))
for threads, rows in sorted(ours_net.items()):
    mine = sum(r["median_ms"] for r in rows) / len(rows)
    engines = net_results[str(threads)]
    times = {engine: engines[engine]["median_ms"] for engine in ("ort", "ncnn", "openvino") if "median_ms" in engines.get(engine, {})}
    baseline = ""
    if threads in base_net:
        baseline = f" {sum(r['median_ms'] for r in base_net[threads]) / len(base_net[threads]) / mine:>13.2f}x"
    print(f"{threads:>3} {mine:>8.2f} {spread(rows):>15} " + " ".join(f"{times.get(e, float('nan')):>8.2f}" for e in ("ort", "ncnn", "openvino"))
          + f" {times.get('ncnn', float('nan')) / mine:>9.2f}x" + baseline)
PY
