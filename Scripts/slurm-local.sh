#!/usr/bin/env bash
# A real scheduler for the sharded runs: starts a one-node Slurm cluster (Debian's slurm-wlm and
# munge; state, spool, sockets and logs in a temporary folder), submits `sbatch --array=0-3` of
# `keypoints batch --shard auto/auto` over the openfield project's 100 labeled frames with the
# built-in mouse model, merges the four outputs and compares them byte for byte with an unsharded
# run; then again with task 2 cancelled part way (`scancel`) and resubmitted alone with --resume;
# then a 4-task array over a video (its frames split at keyframes), merged and compared likewise.
# Stops the daemons it started. Runs as root (the daemons run as root here, as in CI's container).
#
# Usage: bash Scripts/slurm-local.sh [KEYPOINTS_BINARY]   (default: a release build)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "slurm-local.sh: needs root to start slurmctld, slurmd and munged" >&2; exit 2; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi
keypoints="${1:-}"
if [ -z "$keypoints" ]; then
    swift build -c release --product keypoints >/dev/null
    keypoints="$(swift build -c release --show-bin-path)/keypoints"
fi
keypoints="$(realpath "$keypoints")"
frames="$(realpath ../shared/data/dlc-openfield/examples/openfield-Pranav-2018-10-30/labeled-data/m4s1)"

work="$(mktemp -d)"
chmod 755 "$work"
stop() {
    for daemon in slurmd slurmctld munged; do
        [ -f "$work/$daemon.pid" ] && kill "$(cat "$work/$daemon.pid")" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$work"
}
trap stop EXIT

# munge: its own key, socket and files.
mkdir -p "$work/munge" "$work/state" "$work/spool" "$work/out"
chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.socket" \
    --pid-file="$work/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed"

node="$(hostname -s)"  # addresses below are 127.0.0.1: no name lookup needed on a fresh machine
cat >"$work/slurm.conf" <<CONF
ClusterName=keypoints-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$work/slurm.conf"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 60); do
    sinfo -h -o "%T" 2>/dev/null | grep -q -E "idle|mixed|allocated" && break
    sleep 0.5
done
sinfo -h -o "%T" | grep -q -E "idle|mixed|allocated" || { echo "slurm did not start:" >&2; tail "$work"/*.log >&2; exit 1; }

# The array job: each task its shard, its output named with its task id.
cat >"$work/shard.sh" <<JOB
#!/bin/bash
#SBATCH --cpus-per-task=1
#SBATCH --output=$work/out/task-%a.log
exec "$keypoints" batch "$frames" --model mouse --format csv --jobs 1 --quiet \
    --out "\$OUT_DIR/shard-\${SLURM_ARRAY_TASK_ID}.csv" --shard "auto/\${SHARD_COUNT:-auto}" \${RESUME:-}
JOB

wait_for() {  # job id: until none of its tasks is pending or running
    while squeue -h -j "$1" 2>/dev/null | grep -q .; do sleep 0.5; done
}
compare() {  # merged output, what it is
    if cmp -s "$work/unsharded.csv" "$1"; then echo "slurm-local: $2: identical to the unsharded run"; else
        echo "slurm-local: $2: DIFFERS from the unsharded run" >&2; exit 1; fi
}

"$keypoints" batch "$frames" --model mouse --format csv --jobs 2 --quiet --out "$work/unsharded.csv" || true

# 1. The 4-task array, merged.
mkdir -p "$work/run1"
job=$(OUT_DIR="$work/run1" sbatch --parsable --array=0-3 --export=ALL "$work/shard.sh")
wait_for "$job"
"$keypoints" merge "$work"/run1/shard-{0,1,2,3}.csv --out "$work/run1.csv"
compare "$work/run1.csv" "4-task array"

# 2. Task 2 cancelled part way, then resubmitted alone (same index) with --resume.
mkdir -p "$work/run2"
job=$(OUT_DIR="$work/run2" sbatch --parsable --array=0-3 --export=ALL "$work/shard.sh")
for _ in $(seq 1 600); do  # until task 2 has journaled something
    [ -s "$work/run2/shard-2.csv.journal" ] && break
    sleep 0.05
done
scancel "${job}_2"
wait_for "$job"
if "$keypoints" merge "$work"/run2/shard-{0,1,2,3}.csv --out "$work/run2.csv" 2>"$work/refused.txt"; then
    echo "slurm-local: merge accepted a cancelled shard" >&2
    exit 1
fi
echo "slurm-local: merge refused the cancelled shard: $(cat "$work/refused.txt")"
job=$(OUT_DIR="$work/run2" SHARD_COUNT=4 RESUME=--resume sbatch --parsable --array=2 --export=ALL "$work/shard.sh")
wait_for "$job"
"$keypoints" merge "$work"/run2/shard-{0,1,2,3}.csv --out "$work/run2.csv"
compare "$work/run2.csv" "array with task 2 cancelled and resubmitted"

# 3. A video: the frames split into four parts starting at keyframes, merged.
ffmpeg -v error -f lavfi -i testsrc2=size=320x240:rate=25 -frames:v 300 -c:v libx264 -g 25 -pix_fmt yuv420p \
    "$work/clip.mp4"
cat >"$work/video.sh" <<JOB
#!/bin/bash
#SBATCH --cpus-per-task=1
#SBATCH --output=$work/out/video-%a.log
exec "$keypoints" batch "$work/clip.mp4" --model mouse --format jsonl --jobs 1 --quiet --single-pass \
    --out "$work/video/part-\${SLURM_ARRAY_TASK_ID}.jsonl" --shard auto/auto
JOB
mkdir -p "$work/video"
"$keypoints" batch "$work/clip.mp4" --model mouse --format jsonl --jobs 2 --quiet --single-pass \
    --out "$work/video-unsharded.jsonl"
job=$(sbatch --parsable --array=0-3 --export=ALL "$work/video.sh")
wait_for "$job"
"$keypoints" merge "$work"/video/part-{0,1,2,3}.jsonl --out "$work/video-merged.jsonl"
if cmp -s "$work/video-unsharded.jsonl" "$work/video-merged.jsonl"; then
    echo "slurm-local: 4-task array over a video: identical to the unsharded run"
else
    echo "slurm-local: 4-task array over a video: DIFFERS from the unsharded run" >&2
    exit 1
fi
