#!/usr/bin/env bash
# gpu-check.sh: prepares the GPU check of the CUDA backend.
#
# Run it here (no GPU needed): it cross-builds, with CGO_ENABLED=0, the test
# binaries of kernels/cuda and model and the sdzero binary into build/gpu/,
# copies the tiny model fixtures, and writes build/gpu/run.sh, which the GPU
# machine runs (conformance suite in strict FP32 and TF32, parity tests, a
# CPU-vs-CUDA comparison on the tiny models, a short end-to-end run) and
# which prints a summary table last. It ends by printing the `run` tool
# invocation to use.
set -euo pipefail
cd "$(dirname "$0")/.."
G=build/gpu
rm -rf "$G"
mkdir -p "$G"
export CGO_ENABLED=0 GOOS=linux GOARCH=amd64

echo "== building into $G"
go test -c -o "$G/cuda.test" ./kernels/cuda
if go test -c -o "$G/model.test" ./model 2>"$G/model-build.log"; then
	echo "model tests built"
else
	echo "warning: ./model tests do not build; skipped (see $G/model-build.log)"
	rm -f "$G/model.test"
fi
# NCCL (issue 16): symbol names against the real libnccl.so.2 and a one-rank
# communicator on the GPU (every collective on device memory).
go test -c -o "$G/nccl.test" ./kernels/comm/nccl
if go build -o "$G/sdzero" ./cmd/sdzero 2>"$G/sdzero-build.log"; then
	echo "sdzero built"
else
	echo "warning: ./cmd/sdzero does not build; skipped (see $G/sdzero-build.log)"
	rm -f "$G/sdzero"
fi
if [ -d ../shared/fixtures ]; then
	mkdir -p "$G/fixtures"
	for d in qwen3-tiny-tied qwen3-tiny-untied-bf16; do
		[ -d "../shared/fixtures/$d" ] && cp -r "../shared/fixtures/$d" "$G/fixtures/"
	done
	cp ../shared/fixtures/README.md "$G/fixtures/" 2>/dev/null || true
fi

cat >"$G/run.sh" <<'RUN'
#!/usr/bin/env bash
# run.sh: the GPU check of the CUDA backend (written by scripts/gpu-check.sh).
# Prints each step's log tail, then a table: step | result | worst error | time.
set -u
cd "$(dirname "$0")/../.."
G=build/gpu
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SDZERO_CACHE_DIR="${SDZERO_CACHE_DIR:-/tmp/sdzero-cuda-cache}"
export SDZERO_TEST_DEVICE=cuda
LOGS="${OUT:-/tmp}/sdzero-gpu-logs"
mkdir -p "$LOGS"
# Model tests find fixtures at ../shared/fixtures from the repo root.
if [ ! -d ../shared/fixtures ] && [ -d "$G/fixtures" ]; then
	mkdir -p ../shared && ln -sfn "$PWD/$G/fixtures" ../shared/fixtures
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi unavailable"
ls /usr/local/cuda/lib64/libcublas.so* /usr/local/cuda/lib64/libnvrtc.so* 2>/dev/null | head -n 6

ROWS=()
# step NAME TIMEOUT CMD...: runs CMD, logs to $LOGS/NAME.log, records a row.
# Test binaries run in their package folder (env -C), as go test runs them.
# With DEADLINE (epoch seconds) set, limits shrink to the time left and
# steps are skipped near it, so that the summary always prints.
step() {
	local name=$1 limit=$2
	shift 2
	local t0 t1 st worst
	if [ -n "${DEADLINE:-}" ]; then
		local left=$((DEADLINE - $(date +%s)))
		if [ "$left" -lt 5 ]; then
			ROWS+=("$name|SKIPPED (no time left)||")
			return
		fi
		[ "$limit" -gt "$left" ] && limit=$left
	fi
	t0=$(date +%s.%N)
	if declare -F "$1" >/dev/null; then
		# A shell function: run it in a child bash so that timeout applies.
		export -f "$1"
		set -- bash -c "$*"
	fi
	if timeout "$limit" "$@" >"$LOGS/$name.log" 2>&1; then st=PASS; else st="FAIL($?)"; fi
	if [ "$st" = PASS ] && grep -q -- '--- SKIP' "$LOGS/$name.log" && ! grep -q -- '--- PASS' "$LOGS/$name.log"; then
		st=SKIP
	fi
	t1=$(date +%s.%N)
	worst=$(grep -oE '\(([0-9.e+-]+)x tol\)' "$LOGS/$name.log" | sed 's/^(//; s/x tol)$//' | sort -g | tail -n 1)
	echo "== $name: $st"
	tail -n 25 "$LOGS/$name.log"
	ROWS+=("$name|$st|${worst:+${worst}x tol}|$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')s")
}
# groups NAME: one row per op group of a -v conformance log, with the
# worst error (as a multiple of the tolerance) reported inside it.
groups() {
	awk '/^=== RUN/ {cur=$3; next}
		match($0, /\(([0-9.e+-]+)x tol\)/) { v=substr($0, RSTART+1, RLENGTH-7)+0; if (v > w[cur]) w[cur]=v }
		/^    --- (PASS|FAIL|SKIP): / { n=$3; st=$2; sub(":", "", st); d=$4; gsub(/[()]/, "", d);
			printf "  %s|%s|%s|%s\n", n, st, (w[n] ? w[n] "x tol" : ""), d }' "$LOGS/$1.log"
}

# The limits add up to more than the run tool's 600 s per call: without a
# DEADLINE from the caller (all.sh sets one), stop starting steps at 560 s so
# that the summary always prints.
DEADLINE=${DEADLINE:-$(($(date +%s) + 560))}
step cuda-unit 30 env -C kernels/cuda "$PWD/$G/cuda.test" -test.v -test.run 'TestNewWithoutDriver|TestEmbedded|TestCache|TestKernelNames|TestChooseTarget|TestError|TestHalf|TestFindLibs|TestSearchDirs|TestSizeClass|TestCachingAllocator'
step conformance-fp32 100 env -C kernels/cuda "$PWD/$G/cuda.test" -test.v -test.run 'TestConformanceGPU$'
step conformance-tf32 60 env -C kernels/cuda "$PWD/$G/cuda.test" -test.v -test.run 'TestConformanceGPUTF32$'
step cuda-gpu-extra 90 env -C kernels/cuda "$PWD/$G/cuda.test" -test.v -test.run 'GPU' -test.skip 'TestConformanceGPU|Window'
# Sliding windows (issue 11): tensor-core vs F32 kernels at real sizes, a windowed
# Olmo-3 training step, decoding past the window through graphs (the conformance
# steps above run the AttentionWindow cases; cuda-bench runs AttentionWindow).
step cuda-window 40 env -C kernels/cuda "$PWD/$G/cuda.test" -test.v -test.run 'GPU.*Window'
NCCL_LIB=$(ls /lib/x86_64-linux-gnu/libnccl.so.2 /usr/lib/x86_64-linux-gnu/libnccl.so.2 /usr/local/cuda/lib64/libnccl.so.2 2>/dev/null | head -n 1)
step nccl 20 env -C kernels/comm/nccl SDZERO_NCCL_LIB="$NCCL_LIB" "$PWD/$G/nccl.test" -test.v -test.run 'TestRealLibraryExportsSymbols|TestGPUOneRank'
step cuda-bench 90 env -C kernels/cuda "$PWD/$G/cuda.test" -test.run '^$' -test.bench GPU -test.benchtime 10x
if [ -x "$G/model.test" ]; then
	step model-parity 90 env -C model "$PWD/$G/model.test" -test.v  # the CPU engine, as a baseline on that machine
fi
if [ -x "$G/sdzero" ] && [ -d "$G/fixtures/qwen3-tiny-untied-bf16" ]; then
	export G LOGS M="$G/fixtures/qwen3-tiny-untied-bf16" IDS=1,17,99,250,3,42,7,300,12,5
	cmpgen() {
		"$G/sdzero" generate --model "$M" --device cpu --ids "$IDS" --max-new-tokens 16 --greedy --json >"$LOGS/gen-cpu.json" &&
			"$G/sdzero" generate --model "$M" --device cuda --ids "$IDS" --max-new-tokens 16 --greedy --json >"$LOGS/gen-cuda.json" &&
			cat "$LOGS/gen-cpu.json" "$LOGS/gen-cuda.json" && cmp "$LOGS/gen-cpu.json" "$LOGS/gen-cuda.json"
	}
	cmpscore() {
		"$G/sdzero" score --model "$M" --device cpu --ids "$IDS" --json >"$LOGS/score-cpu.json" &&
			"$G/sdzero" score --model "$M" --device cuda --ids "$IDS" --json >"$LOGS/score-cuda.json" &&
			paste <(grep -oE -- '-?[0-9][0-9.eE+-]*' "$LOGS/score-cpu.json") <(grep -oE -- '-?[0-9][0-9.eE+-]*' "$LOGS/score-cuda.json") |
			awk '{d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d; n++} $2 == "" {bad = 1}
				END {print "values", n, "max |cpu-cuda| diff", m; exit (bad || n == 0 || m > 1e-4)}'
	}
	step generate-cpu-vs-cuda 30 cmpgen
	step score-cpu-vs-cuda 30 cmpscore
	step inspect-cuda 10 "$G/sdzero" inspect --model "$M" --device cuda --batch 8 --seq 1024
	step demo-cuda 40 "$G/sdzero" demo --device cuda
fi

echo
echo "==== summary (logs in $LOGS)"
{
	echo "step|result|worst error|time"
	for r in "${ROWS[@]}"; do
		echo "$r"
		case $r in conformance-*) groups "${r%%|*}" ;; esac
	done
} | if command -v column >/dev/null; then column -t -s '|'; else cat; fi
RUN
chmod +x "$G/run.sh"

echo
echo "== built:"
ls -la "$G"
cat <<EOF

Next, on the GPU machine (device time is scarce: one call, then give_back):
  run(carry=["build/gpu"], command="bash build/gpu/run.sh", timeout_s=600)
(run.sh stops starting steps 560 s in, so that its summary table always prints.)
EOF
