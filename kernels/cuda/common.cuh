// common.cuh: helpers prepended (by the Go side) to every kernel source before
// NVRTC compiles it. NVRTC is run without include paths, so nothing here may
// include a header: bf16 and f16 conversions are done by hand or inline PTX.
//
// DType codes match kernels.DType: 0 F32, 1 BF16, 2 F16, 3 I32.

#define SDZ_FULL 0xffffffffu

// SDZ_DYN_SMEM declares the kernel's dynamic shared memory (a macro so the
// CPU emulator used by the tests can supply its own).
#ifndef SDZ_DYN_SMEM
#define SDZ_DYN_SMEM(T, name) extern __shared__ T name[]
#endif

// sdz_inf returns +infinity.
__device__ __forceinline__ float sdz_inf() { return __int_as_float(0x7f800000); }

__device__ __forceinline__ float sdz_bf16_to_f32(unsigned short h) {
  return __uint_as_float(((unsigned int)h) << 16);
}

// sdz_f32_to_bf16 rounds to nearest even; NaNs stay (quiet) NaNs.
__device__ __forceinline__ unsigned short sdz_f32_to_bf16(float f) {
  unsigned int u = __float_as_uint(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (unsigned short)(u >> 16);
}

// sdz_len is row b's length lens[b] clamped to [0, T].
__device__ __forceinline__ int sdz_len(const int* lens, int b, int T) {
  int n = lens[b];
  return n < 0 ? 0 : (n > T ? T : n);
}

// sdz_mma_bf16 accumulates one warp-wide 16x8x16 tensor-core product,
// d += a * b, with the fragment layouts of PTX mma.m16n8k16 .bf16 (g =
// lane/4, t = lane%4): a[r] holds A[g + 8*(r%2)][2t + 8*(r/2) + {0,1}], b[r]
// holds B[2t + 8r + {0,1}][g], d[e] is D[g + 8*(e/2)][2t + e%2]; the lower
// 16 bits of a word hold the lower k. Needs sm_80+ on a GPU; the CPU
// emulator supplies its own.
#ifdef SDZ_SYNTAX_CHECK
__device__ void sdz_mma_bf16(float* d, const unsigned* a, const unsigned* b);
#else
__device__ __forceinline__ void sdz_mma_bf16(float* d, const unsigned* a, const unsigned* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

#ifdef SDZ_SYNTAX_CHECK
__device__ float sdz_f16_to_f32(unsigned short h);
__device__ unsigned short sdz_f32_to_f16(float f);
#else
__device__ __forceinline__ float sdz_f16_to_f32(unsigned short h) {
  float f;
  asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
  return f;
}
__device__ __forceinline__ unsigned short sdz_f32_to_f16(float f) {
  unsigned short h;
  asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(f));
  return h;
}
#endif

__device__ __forceinline__ float sdz_load(const void* p, int dt, long long i) {
  if (dt == 0) return ((const float*)p)[i];
  if (dt == 1) return sdz_bf16_to_f32(((const unsigned short*)p)[i]);
  return sdz_f16_to_f32(((const unsigned short*)p)[i]);
}

__device__ __forceinline__ void sdz_store(void* p, int dt, long long i, float v) {
  if (dt == 0) {
    ((float*)p)[i] = v;
  } else if (dt == 1) {
    ((unsigned short*)p)[i] = sdz_f32_to_bf16(v);
  } else {
    ((unsigned short*)p)[i] = sdz_f32_to_f16(v);
  }
}

// sdz_fail records the first failing op code in *err (device-side checks
// such as out-of-range ids); the host reads it at Sync.
__device__ __forceinline__ void sdz_fail(int* err, int code) {
  if (err) atomicCAS(err, 0, code);
}

__device__ __forceinline__ float sdz_warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(SDZ_FULL, v, o);
  return v;
}

__device__ __forceinline__ double sdz_warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(SDZ_FULL, v, o);
  return v;
}

__device__ __forceinline__ float sdz_warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(SDZ_FULL, v, o));
  return v;
}

// Block reductions: blockDim.x is a multiple of 32 (<= 1024); every thread of
// the block must call them; every thread gets the result. sh holds >= 32
// elements. The reduction order is fixed, so results are deterministic.
__device__ float sdz_block_sum(float v, float* sh) {
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = sdz_warp_sum(v);
  __syncthreads();
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  float r = lane < nw ? sh[lane] : 0.f;
  return sdz_warp_sum(r);
}

__device__ double sdz_block_sum_d(double v, double* sh) {
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = sdz_warp_sum_d(v);
  __syncthreads();
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  double r = lane < nw ? sh[lane] : 0.0;
  return sdz_warp_sum_d(r);
}

__device__ float sdz_block_max(float v, float* sh) {
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  v = sdz_warp_max(v);
  __syncthreads();
  if (lane == 0) sh[wid] = v;
  __syncthreads();
  float r = lane < nw ? sh[lane] : -sdz_inf();
  return sdz_warp_max(r);
}

// Online softmax state: running max m and sum s of exp(x - m).
__device__ __forceinline__ void sdz_ms_add(float& m, float& s, float x) {
  if (x == -sdz_inf()) return;
  if (x > m) {
    s = s * expf(m - x) + 1.f;
    m = x;
  } else {
    s += expf(x - m);
  }
}

__device__ __forceinline__ void sdz_ms_combine(float& m, float& s, float m2, float s2) {
  float mn = fmaxf(m, m2);
  if (mn == -sdz_inf()) {
    m = mn;
    s = 0.f;
    return;
  }
  s = s * expf(m - mn) + s2 * expf(m2 - mn);
  m = mn;
}

// sdz_block_ms combines every thread's (m, s) into the block's (m, s).
// shm and shs hold >= 32 floats each.
__device__ void sdz_block_ms(float& m, float& s, float* shm, float* shs) {
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  for (int o = 16; o > 0; o >>= 1) {
    float m2 = __shfl_xor_sync(SDZ_FULL, m, o);
    float s2 = __shfl_xor_sync(SDZ_FULL, s, o);
    sdz_ms_combine(m, s, m2, s2);
  }
  __syncthreads();
  if (lane == 0) {
    shm[wid] = m;
    shs[wid] = s;
  }
  __syncthreads();
  m = lane < nw ? shm[lane] : -sdz_inf();
  s = lane < nw ? shs[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1) {
    float m2 = __shfl_xor_sync(SDZ_FULL, m, o);
    float s2 = __shfl_xor_sync(SDZ_FULL, s, o);
    sdz_ms_combine(m, s, m2, s2);
  }
}

// sdz_block_scan_flag returns the exclusive prefix count of flag over the
// block's threads in thread order, and the block total in *total. sh holds
// >= 33 ints.
__device__ int sdz_block_scan_flag(int flag, int* sh, int* total) {
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  unsigned int bal = __ballot_sync(SDZ_FULL, flag != 0);
  int pre = __popc(bal & ((1u << lane) - 1u));
  __syncthreads();
  if (lane == 0) sh[wid] = __popc(bal);
  __syncthreads();
  if (threadIdx.x == 0) {
    int run = 0;
    for (int w = 0; w < nw; w++) {
      int c = sh[w];
      sh[w] = run;
      run += c;
    }
    sh[32] = run;
  }
  __syncthreads();
  *total = sh[32];
  return sh[wid] + pre;
}

// sdz_key maps a float to an unsigned key with the same order (-0 == +0).
__device__ __forceinline__ unsigned int sdz_key(float f) {
  if (f == 0.f) f = 0.f;
  unsigned int u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// sdz_radix_kth finds the key of the K-th largest of x[0..n) (1 <= K <= n)
// by an MSB-first radix select, 8 bits per pass. It returns the key and sets
// *needEq to how many elements equal to that key belong to the top K (the
// lowest ids win ties). hist holds 256 ints; sh holds >= 2 ints.
__device__ unsigned int sdz_radix_kth(const float* x, int n, int K, int* hist, int* sh, int* needEq) {
  unsigned int prefix = 0u, pmask = 0u;
  int remaining = K;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) hist[i] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      unsigned int k = sdz_key(x[i]);
      if ((k & pmask) == prefix) atomicAdd(&hist[(k >> shift) & 255u], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      int cum = 0, sel = 0;
      for (int bin = 255; bin >= 0; bin--) {
        if (cum + hist[bin] >= remaining) {
          sel = bin;
          break;
        }
        cum += hist[bin];
      }
      sh[0] = sel;
      sh[1] = remaining - cum;
    }
    __syncthreads();
    prefix |= ((unsigned int)sh[0]) << shift;
    pmask |= 255u << shift;
    remaining = sh[1];
    __syncthreads();
  }
  *needEq = remaining;
  return prefix;
}

// sdz_block_topk writes the ids of the K largest x (ties: lower id first) to
// ids[0..K) in ascending id order. hist: 256 ints; sh: >= 40 ints.
__device__ void sdz_block_topk(const float* x, int n, int K, int* ids, int* hist, int* sh) {
  int needEq;
  unsigned int kth = sdz_radix_kth(x, n, K, hist, sh, &needEq);
  int eqBase = 0, outBase = 0;
  for (int c0 = 0; c0 < n; c0 += blockDim.x) {
    int i = c0 + threadIdx.x;
    unsigned int k = i < n ? sdz_key(x[i]) : 0u;
    int eq = (i < n && k == kth) ? 1 : 0;
    int eqTotal;
    int eqRank = eqBase + sdz_block_scan_flag(eq, sh, &eqTotal);
    int sel = (i < n && (k > kth || (eq && eqRank < needEq))) ? 1 : 0;
    int selTotal;
    int pos = outBase + sdz_block_scan_flag(sel, sh, &selTotal);
    if (sel && pos < K) ids[pos] = i;
    eqBase += eqTotal;
    outBase += selTotal;
  }
  __syncthreads();
}

// sdz_keep is the top-k filter of the large-row kernels: keys above the
// K-th largest key kk, and the elements equal to it up to id ik (kk = 0 and
// ik = INT_MAX keep everything).
__device__ __forceinline__ bool sdz_keep(unsigned int k, int j, unsigned int kk, int ik) {
  return k > kk || (k == kk && j <= ik);
}

// sdz_nth_eq returns the id of the want-th (0-based, in id order) kept
// element whose key is key, or the last one when there are fewer. sh holds
// >= 40 ints.
__device__ int sdz_nth_eq(const float* x, int n, unsigned int key, long long want, unsigned int kk, int ik, int* sh) {
  __shared__ int found, lastEq;
  if (threadIdx.x == 0) {
    found = -1;
    lastEq = -1;
  }
  __syncthreads();
  int base = 0;
  for (int c0 = 0; c0 < n; c0 += blockDim.x) {
    int i = c0 + threadIdx.x;
    int eq = 0;
    if (i < n) {
      unsigned int k = sdz_key(x[i]);
      eq = (k == key && sdz_keep(k, i, kk, ik)) ? 1 : 0;
    }
    int tot;
    int rank = base + sdz_block_scan_flag(eq, sh, &tot);
    if (eq && (long long)rank == want) found = i;
    if (eq && rank == base + tot - 1) lastEq = i;
    base += tot;
  }
  __syncthreads();
  int id = found >= 0 ? found : lastEq;
  __syncthreads();
  return id;
}
