// sample.cu: next-token selection, one block per row of logits [rows,vocab].
//
// Semantics (shared with the CPU backend and the conformance suite): the
// kept ids are the topK best (larger logit first, ties to the lower id),
// then the shortest prefix of them, in that order, whose normalised mass
// reaches topP; the draw walks the kept ids in ascending id order and
// returns the first whose cumulative mass exceeds u * (kept mass). Masses
// are exp((double)(x/temp) - max) in double, as on the CPU.
//
// Up to SDZ_SORT_MAX candidates are sorted in shared memory. Larger sets
// are never sorted: top-k finds its K-th key by radix select, top-p its
// cut-off element by a radix descent on the mass, and the id-order walk is
// a segmented block scan.

#define SDZ_SORT_MAX 1024

__device__ __forceinline__ bool sdz_before(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

__device__ __forceinline__ double sdz_mass(float x, float temp, double mx) { return exp((double)(x / temp) - mx); }

extern "C" __global__ void __launch_bounds__(512) sdz_sample_argmax(int* out, const float* logits, int rows, int vocab) {
  __shared__ float sv[32];
  __shared__ int si[32];
  int r = blockIdx.x;
  const float* x = logits + (long long)r * vocab;
  float bv = -sdz_inf();
  int bi = 0x7fffffff;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    float v = x[j];
    if (sdz_before(v, j, bv, bi)) {
      bv = v;
      bi = j;
    }
  }
  for (int o = 16; o > 0; o >>= 1) {
    float v = __shfl_xor_sync(SDZ_FULL, bv, o);
    int i = __shfl_xor_sync(SDZ_FULL, bi, o);
    if (sdz_before(v, i, bv, bi)) {
      bv = v;
      bi = i;
    }
  }
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  if (lane == 0) {
    sv[wid] = bv;
    si[wid] = bi;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < nw; w++)
      if (sdz_before(sv[w], si[w], bv, bi)) {
        bv = sv[w];
        bi = si[w];
      }
    // A row of NaNs only: fall back to id 0.
    out[r] = bi == 0x7fffffff ? 0 : bi;
  }
}

// sdz_bitonic sorts P (a power of two) pairs in shared memory: by "before"
// order (value desc, id asc), or by id ascending when byId.
__device__ void sdz_bitonic(float* cv, int* ci, int P, bool byId) {
  for (int k = 2; k <= P; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < P; i += blockDim.x) {
        int ixj = i ^ j;
        if (ixj > i) {
          bool up = (i & k) == 0;
          bool first = byId ? ci[ixj] < ci[i] : sdz_before(cv[ixj], ci[ixj], cv[i], ci[i]);
          bool second = byId ? ci[i] < ci[ixj] : sdz_before(cv[i], ci[i], cv[ixj], ci[ixj]);
          if (up ? first : second) {
            float tv = cv[i];
            cv[i] = cv[ixj];
            cv[ixj] = tv;
            int ti = ci[i];
            ci[i] = ci[ixj];
            ci[ixj] = ti;
          }
        }
      }
      __syncthreads();
    }
  }
}

// sdz_sample_sorted handles n = min(K, vocab) <= SDZ_SORT_MAX candidates
// (K >= vocab means the whole row).
extern "C" __global__ void __launch_bounds__(512) sdz_sample_sorted(int* out, const float* logits, const float* u, int rows, int vocab,
                                             int K, float temp, float topP) {
  __shared__ int hist[256];
  __shared__ int shi[40];
  __shared__ int ids[SDZ_SORT_MAX];
  __shared__ float cv[SDZ_SORT_MAX];
  __shared__ int ci[SDZ_SORT_MAX];
  __shared__ int nkeep;
  int r = blockIdx.x;
  const float* x = logits + (long long)r * vocab;
  int n = K < vocab ? K : vocab;
  if (n < vocab) {
    sdz_block_topk(x, vocab, n, ids, hist, shi);
  } else {
    for (int i = threadIdx.x; i < n; i += blockDim.x) ids[i] = i;
    __syncthreads();
  }
  int P = 1;
  while (P < n) P <<= 1;
  for (int i = threadIdx.x; i < P; i += blockDim.x) {
    if (i < n) {
      cv[i] = x[ids[i]];
      ci[i] = ids[i];
    } else {
      cv[i] = -sdz_inf();
      ci[i] = 0x7fffffff;
    }
  }
  __syncthreads();
  if (topP < 1.f) {
    sdz_bitonic(cv, ci, P, false);
    if (threadIdx.x == 0) {
      double mx = (double)(cv[0] / temp), sum = 0.0;
      for (int i = 0; i < n; i++) sum += sdz_mass(cv[i], temp, mx);
      int keep = n;
      double c = 0.0;
      for (int i = 0; i < n; i++) {
        c += sdz_mass(cv[i], temp, mx) / sum;
        if (c >= (double)topP) {
          keep = i + 1;
          break;
        }
      }
      nkeep = keep;
    }
    __syncthreads();
    int keep = nkeep;
    for (int i = keep + threadIdx.x; i < P; i += blockDim.x) {
      cv[i] = -sdz_inf();
      ci[i] = 0x7fffffff;
    }
    __syncthreads();
    sdz_bitonic(cv, ci, P, true);
    n = keep;
  }
  // cv/ci[0..n) now hold the kept candidates in ascending id order.
  if (threadIdx.x == 0) {
    float best = -sdz_inf();
    for (int i = 0; i < n; i++) best = fmaxf(best, cv[i] / temp);
    double mx = (double)best, sum = 0.0;
    for (int i = 0; i < n; i++) sum += sdz_mass(cv[i], temp, mx);
    double target = (double)u[r] * sum, c = 0.0;
    int pick = ci[0];
    for (int i = 0; i < n; i++) {
      double e = sdz_mass(cv[i], temp, mx);
      if (e > 0.0) pick = ci[i];
      c += e;
      if (c > target && e > 0.0) break;
    }
    out[r] = pick;
  }
}

__device__ __forceinline__ float sdz_unkey(unsigned int k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// sdz_mass_cross finds, in "before" order (value desc, id asc) over the kept
// elements, the first whose cumulative mass is >= T. It returns that
// element's key and sets *idOut to its id: the top-p set is then key > kth,
// or key == kth and id <= *idOut. hd: 256 doubles; sh: >= 40 ints; shd:
// >= 32 doubles.
__device__ unsigned int sdz_mass_cross(const float* x, int n, float temp, double mx, double T, unsigned int kk, int ik,
                                       double* hd, int* sh, double* shd, int* idOut) {
  unsigned int prefix = 0u, pmask = 0u;
  double above = 0.0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += blockDim.x) hd[i] = 0.0;
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
      float v = x[i];
      unsigned int k = sdz_key(v);
      if ((k & pmask) == prefix && sdz_keep(k, i, kk, ik)) atomicAdd(&hd[(k >> shift) & 255u], sdz_mass(v, temp, mx));
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      double cum = above, cumAtLast = above;
      int sel = -1, lastPos = -1;
      for (int bin = 255; bin >= 0; bin--) {
        double h = hd[bin];
        if (h > 0.0) {
          if (cum + h >= T) {
            sel = bin;
            break;
          }
          lastPos = bin;
          cumAtLast = cum;
        }
        cum += h;
      }
      if (sel < 0) {
        // Rounding left T past the total: the last element with mass.
        sel = lastPos >= 0 ? lastPos : 0;
        cum = lastPos >= 0 ? cumAtLast : above;
      }
      shd[0] = cum;
      sh[0] = sel;
    }
    __syncthreads();
    prefix |= ((unsigned int)sh[0]) << shift;
    pmask |= 255u << shift;
    above = shd[0];
    __syncthreads();
  }
  // Every kept element with key == prefix has the same mass pv; the
  // crossing is the want-th of them in id order (or the last one).
  double pv = sdz_mass(sdz_unkey(prefix), temp, mx);
  long long want = 0x7fffffff;
  if (pv > 0.0) {
    double q = (T - above) / pv;
    if (q < 1.0) q = 1.0;
    if (q > 2147483647.0) q = 2147483647.0;
    want = (long long)ceil(q) - 1;
  }
  *idOut = sdz_nth_eq(x, n, prefix, want, kk, ik, sh);
  return prefix;
}

// sdz_block_exscan_d returns the exclusive prefix sum of v over the block's
// threads (thread order) and the total in *total. sh holds >= 33 doubles.
__device__ double sdz_block_exscan_d(double v, double* sh, double* total) {
  int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
  double x = v;
  for (int o = 1; o < 32; o <<= 1) {
    double y = __shfl_up_sync(SDZ_FULL, x, o);
    if (lane >= o) x += y;
  }
  double ex = __shfl_up_sync(SDZ_FULL, x, 1);
  if (lane == 0) ex = 0.0;
  __syncthreads();
  if (lane == 31) sh[wid] = x;
  __syncthreads();
  if (threadIdx.x == 0) {
    double run = 0.0;
    for (int w = 0; w < nw; w++) {
      double c = sh[w];
      sh[w] = run;
      run += c;
    }
    sh[32] = run;
  }
  __syncthreads();
  *total = sh[32];
  return sh[wid] + ex;
}

// sdz_sample_full samples from a row too large to sort in shared memory:
// the whole row, or its K best (0 < K < vocab), optionally top-p filtered.
extern "C" __global__ void __launch_bounds__(512) sdz_sample_full(int* out, const float* logits, const float* u,
                                                                  int rows, int vocab, int K, float temp,
                                                                  float topP) {
  __shared__ double hd[256];
  __shared__ int hist[256];
  __shared__ int shi[40];
  __shared__ double shd[40];
  __shared__ float shf[32];
  __shared__ int crossT, lastT;
  int r = blockIdx.x;
  const float* x = logits + (long long)r * vocab;
  // Top-k filter: the K-th largest key and the last id kept among its ties.
  unsigned int kk = 0u;
  int ik = 0x7fffffff;
  if (K > 0 && K < vocab) {
    int needEq;
    kk = sdz_radix_kth(x, vocab, K, hist, shi, &needEq);
    ik = sdz_nth_eq(x, vocab, kk, needEq - 1, 0u, 0x7fffffff, shi);
  }
  float best = -sdz_inf();
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) best = fmaxf(best, x[j] / temp);
  double mx = (double)sdz_block_max(best, shf);
  bool cut = topP < 1.f;
  unsigned int kth = 0u;
  int idp = 0x7fffffff;
  if (cut) {
    double z = 0.0;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x)
      if (sdz_keep(sdz_key(x[j]), j, kk, ik)) z += sdz_mass(x[j], temp, mx);
    z = sdz_block_sum_d(z, shd);
    kth = sdz_mass_cross(x, vocab, temp, mx, (double)topP * z, kk, ik, hd, shi, shd, &idp);
  }
  // Id-order walk: thread t owns the contiguous segment [j0, j1).
  int seg = (vocab + blockDim.x - 1) / blockDim.x;
  int j0 = min(vocab, (int)threadIdx.x * seg), j1 = min(vocab, j0 + seg);
  double s = 0.0;
  int lastMine = -1;
  for (int j = j0; j < j1; j++) {
    unsigned int k = sdz_key(x[j]);
    if (!sdz_keep(k, j, kk, ik) || (cut && !sdz_keep(k, j, kth, idp))) continue;
    double e = sdz_mass(x[j], temp, mx);
    s += e;
    if (e > 0.0) lastMine = j;
  }
  double total;
  double excl = sdz_block_exscan_d(s, shd, &total);
  double target = (double)u[r] * total;
  if (threadIdx.x == 0) {
    crossT = 0x7fffffff;
    lastT = -1;
  }
  __syncthreads();
  if (s > 0.0 && excl + s > target) atomicMin(&crossT, (int)threadIdx.x);
  if (lastMine >= 0) atomicMax(&lastT, lastMine);
  __syncthreads();
  if ((int)threadIdx.x == crossT) {
    double c = 0.0;
    int pick = lastMine;
    for (int j = j0; j < j1; j++) {
      unsigned int k = sdz_key(x[j]);
      if (!sdz_keep(k, j, kk, ik) || (cut && !sdz_keep(k, j, kth, idp))) continue;
      double e = sdz_mass(x[j], temp, mx);
      c += e;
      if (excl + c > target && e > 0.0) {
        pick = j;
        break;
      }
    }
    out[r] = pick;
  } else if (threadIdx.x == 0 && crossT == 0x7fffffff) {
    out[r] = lastT >= 0 ? lastT : 0;
  }
}
