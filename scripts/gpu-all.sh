#!/usr/bin/env bash
# gpu-all.sh: the GPU correctness check and the benchmark table in ONE device
# call (a session has about 15 minutes of device time, start-up included).
#
# Run it here: it runs scripts/gpu-check.sh and scripts/gpu-bench.sh into one
# folder (build/gpu) and writes build/gpu/all.sh, which runs the check (at
# most 320 s) and then the benchmarks (the rest, up to 570 s in all), each
# printing its table before its deadline; both tables come last.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/gpu-check.sh >/dev/null
GPU_BENCH_DIR=build/gpu bash scripts/gpu-bench.sh >/dev/null
cat >build/gpu/all.sh <<'RUN'
#!/usr/bin/env bash
# all.sh: gpu-check then gpu-bench (written by scripts/gpu-all.sh).
set -u
cd "$(dirname "$0")/../.."
O="${OUT:-/tmp}"
start=$(date +%s)
DEADLINE=$((start + 320)) bash build/gpu/run.sh >"$O/check.txt" 2>&1
DEADLINE=$((start + 570)) bash build/gpu/bench.sh >"$O/bench.txt" 2>&1
echo "==== check (full log: check.txt)"
sed -n '/^==== summary/,$p' "$O/check.txt"
echo "==== bench (full log: bench.txt)"
sed -n '/^benchmark | last lines/,$p' "$O/bench.txt"
RUN
chmod +x build/gpu/all.sh
du -sh build/gpu
cat <<'MSG'

Next, on the GPU machine (one call, then give_back):
  run(carry=["build/gpu"], command="bash build/gpu/all.sh", timeout_s=600)
MSG
