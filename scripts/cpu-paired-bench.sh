#!/bin/bash
# Paired CPU benchmarks of issue 15 (matmul, train steps, decode, rollouts), sdzero
# interleaved with the PyTorch anchor (../shared/bench/torch_cpu_anchor.py, Debian python3-torch)
# with the load average before each group; the README speed table came from one run of it.
set -u
cd "$(dirname "$0")/.."
go build -o /tmp/sdz ./cmd/sdzero || exit 1
A=../shared/bench/torch_cpu_anchor.py
S=/tmp/sdz
SMALL="--preset custom --layers 4 --hidden 256 --heads 4 --kv-heads 4 --head-dim 64 --intermediate 1024 --vocab 50304"
la() { echo "## load $(cut -d' ' -f1-3 /proc/loadavg) $*"; }
torch_mm() { /usr/bin/python3 -c "
import time, torch, json, sys
torch.set_num_threads(2); dt = dict(bf16=torch.bfloat16, fp32=torch.float32)[sys.argv[1]]
a, b = torch.randn(1024, 1024).to(dt), torch.randn(1024, 1024).to(dt)
for _ in range(3): a @ b
ts = []
for _ in range(20):
    t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
print('torch matmul', sys.argv[1], round(2 * 1024**3 / sorted(ts)[10] / 1e9,1), 'GFLOP/s')" "$1"; }
for rep in 1 2; do
 la matmul rep $rep
 $S bench matmul --size 1024 --precision bf16 --threads 2 | tail -1; torch_mm bf16
 $S bench matmul --size 1024 --precision fp32 --threads 2 | tail -1; torch_mm fp32
 la train-small rep $rep
 $S bench train --threads 2 $SMALL --batch 4 --seq 64 --precision fp32 --steps 5 | sed -n 2,3p
 $S bench train --threads 2 $SMALL --batch 4 --seq 64 --precision bf16 --steps 5 | sed -n 2,3p
 /usr/bin/python3 $A train bf16=0 | tail -1
 /usr/bin/python3 $A train bf16=1 | tail -1
 la decode-small rep $rep
 $S bench decode --threads 2 $SMALL --batch 16 --prompt 64 --new 64 --steps 3 --precision bf16 | tail -4
 $S bench decode --threads 2 $SMALL --batch 16 --prompt 64 --new 64 --steps 3 --precision fp32 | tail -4
 /usr/bin/python3 $A decode bf16=1 batch=16 prompt=64 new=64 | tail -1
 /usr/bin/python3 $A decode bf16=0 batch=16 prompt=64 new=64 | tail -1
done
la decode-0.6b
$S bench decode --threads 2 --preset 0.6b --batch 8 --prompt 64 --new 32 --steps 1 --precision bf16 | tail -4
/usr/bin/python3 $A decode bf16=1 layers=28 hidden=1024 heads=16 kv=8 hd=128 inter=3072 vocab=151936 batch=8 prompt=64 new=32 | tail -1
$S bench decode --threads 2 --preset 0.6b --batch 8 --prompt 64 --new 32 --steps 1 --precision bf16 | tail -4
la train-0.6b
$S bench train --threads 2 --preset 0.6b --batch 1 --seq 256 --precision fp32 --steps 2 | sed -n 2,3p
$S bench train --threads 2 --preset 0.6b --batch 1 --seq 256 --precision bf16 --steps 2 | sed -n 2,3p
la rollout
$S bench rollout --threads 2 $SMALL --batch 16 --rows 64 --prompt 64 --new 128 --mean-len 24 --steps 2 --precision bf16 | tail -3
la end
