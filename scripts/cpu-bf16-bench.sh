#!/bin/bash
# Paired CPU benchmarks of the bf16 work (issue 15): sdzero against PyTorch
# (../shared/bench/torch_cpu_anchor.py; Debian's python3-torch), interleaved
# so that both see the same machine load; the load average is printed with
# every pair. Usage: scripts/cpu-bf16-bench.sh [pairs] (default 3).
# Needs /usr/bin/python3 with torch; builds sdzero into /tmp/sdzero-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-3}
go build -o /tmp/sdzero-bench ./cmd/sdzero
sdz=/tmp/sdzero-bench
anchor=../shared/bench/torch_cpu_anchor.py
# torch.matmul of two 1024^2 tensors (the anchor has no matmul mode): median of 20.
torch_mm() {
	/usr/bin/python3 -c "
import time, torch, json, sys
torch.set_num_threads(2); dt = dict(bf16=torch.bfloat16, fp32=torch.float32)[sys.argv[1]]
a, b = torch.randn(1024, 1024).to(dt), torch.randn(1024, 1024).to(dt)
for _ in range(3): a @ b
ts = []
for _ in range(20):
    t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
print(json.dumps(dict(anchor='torch-matmul', dtype=sys.argv[1], gflops=2 * 1024**3 / sorted(ts)[10] / 1e9)))" "$1"
}
small="--layers 4 --hidden 256 --heads 4 --kv-heads 4 --head-dim 64 --intermediate 1024 --vocab 50304 --batch 4 --seq 64"
for i in $(seq "$pairs"); do
	echo "== pair $i, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	$sdz bench matmul --threads 2 --precision bf16
	torch_mm bf16
	$sdz bench matmul --threads 2 --precision fp32
	torch_mm fp32
	$sdz bench train --threads 2 $small --precision fp32 --steps 5 | sed -n 2,3p
	$sdz bench train --threads 2 $small --precision bf16 --steps 5 | sed -n 2,3p
	/usr/bin/python3 $anchor train bf16=0
	/usr/bin/python3 $anchor train bf16=1
done
echo "== Qwen3-0.6B dims, batch 1x256 (one pair), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
$sdz bench train --threads 2 --preset 0.6b --batch 1 --seq 256 --precision fp32 --steps 2 | sed -n 2,3p
$sdz bench train --threads 2 --preset 0.6b --batch 1 --seq 256 --precision bf16 --steps 2 | sed -n 2,3p
