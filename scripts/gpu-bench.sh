#!/usr/bin/env bash
# gpu-bench.sh: prepares issue 7's benchmark table for one GPU device call.
#
# Run it here (no GPU needed): it cross-builds the sdzero binary
# (CGO_ENABLED=0, linux/amd64) into build/gpubench/, copies the PyTorch
# anchor script from ../shared/bench, and writes build/gpubench/run.sh, which
# on the GPU machine runs sdzero's train/decode/distill benchmarks and the
# PyTorch eager anchors on the same card and prints a table last (the
# compiled PyTorch anchor is left out by default: it spends about two minutes
# compiling; set ANCHOR_COMPILED=1 to include it).
#
# GPU_BENCH_DIR=build/gpu (as scripts/gpu-all.sh does) adds bench.sh to the
# gpu-check folder instead, reusing its sdzero binary: one carried folder.
set -euo pipefail
cd "$(dirname "$0")/.."
G=${GPU_BENCH_DIR:-build/gpubench}
if [ "$G" = build/gpubench ]; then
	rm -rf "$G"
	mkdir -p "$G"
fi
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o "$G/sdzero" ./cmd/sdzero
if [ -f ../shared/bench/pytorch_anchors.py ]; then
	cp ../shared/bench/pytorch_anchors.py "$G/"
else
	echo "note: ../shared/bench/pytorch_anchors.py not found; the PyTorch anchors will be skipped"
fi
cat >"$G/bench.sh" <<'RUN'
#!/usr/bin/env bash
# bench.sh: issue 7's benchmark table (written by scripts/gpu-bench.sh).
set -u
cd "$(dirname "$0")"
export LD_LIBRARY_PATH="/usr/local/cuda/lib64:/usr/local/nvidia/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SDZERO_CACHE_DIR="${SDZERO_CACHE_DIR:-/tmp/sdzero-cuda-cache}"
OUTD="${OUT:-/tmp}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
ROWS=()
bench() { # NAME TIMEOUT CMD... (DEADLINE, epoch seconds, caps the timeouts)
	local name=$1 to=$2; shift 2
	local out
	if [ -n "${DEADLINE:-}" ]; then
		local left=$((DEADLINE - $(date +%s)))
		if [ "$left" -lt 5 ]; then
			ROWS+=("$name | skipped: no time left")
			return
		fi
		[ "$to" -gt "$left" ] && to=$left
	fi
	out=$(timeout "$to" "$@" 2>&1 | tee "$OUTD/$name.log" | tail -n 3 | tr '\n' ' ')
	ROWS+=("$name | ${out:0:160}")
}
# Time limits add up to 560 s: the run tool allows 600 s per call.
bench sdzero-train-0.6b 80 ./sdzero bench train --device cuda --preset 0.6b --batch 8 --seq 1024 --steps 5
# 4B: fp32 master weights, gradients and AdamW state alone are 64 GB; activations only fit an
# 80 GB card when recomputed (sdzero inspect --recompute: 78 GB planned, 98 GB without).
bench sdzero-train-4b 100 ./sdzero bench train --device cuda --preset 4b --batch 4 --seq 1024 --steps 3 --recompute
bench sdzero-decode-0.6b 60 ./sdzero bench decode --device cuda --preset 0.6b --batch 64 --prompt 128 --new 256 --steps 2
bench sdzero-decode-0.6b-nographs 60 ./sdzero bench decode --device cuda --preset 0.6b --batch 64 --prompt 128 --new 256 --steps 1 --no-graphs
bench sdzero-distill-0.6b 60 ./sdzero bench distill --device cuda --preset 0.6b --batch 8 --seq 2048 --steps 3
if [ -f pytorch_anchors.py ]; then
	bench torch-train-0.6b 100 python3 pytorch_anchors.py train --size 0.6B --batch 8 --seq 1024
	bench torch-decode-0.6b 100 python3 pytorch_anchors.py decode --size 0.6B --batch 64
	if [ "${ANCHOR_COMPILED:-0}" = 1 ]; then
		bench torch-train-compiled-0.6b 300 python3 pytorch_anchors.py train-compiled --size 0.6B --batch 8 --seq 1024
	fi
fi
echo
echo "benchmark | last lines"
printf '%s\n' "${ROWS[@]}"
RUN
chmod +x "$G/bench.sh"
if [ "$G" = build/gpubench ]; then
	printf '#!/usr/bin/env bash\nexec bash "$(dirname "$0")/bench.sh"\n' >"$G/run.sh"
	chmod +x "$G/run.sh"
fi
echo
echo "Next, on the GPU machine (one call, then give_back):"
echo "  run(carry=[\"$G\"], command=\"bash $G/run.sh\", timeout_s=600)"
