// attention.cu: causal grouped-query attention over a right-padded batch.
//
// Layouts: q, out, dq [B,T,HQ,D]; k, v, dk, dv [B,T,HKV,D]; lse, delta
// [B,HQ,T]; query head h uses kv head h/(HQ/HKV). D <= 256 (each lane keeps
// D/32 accumulators). Key/query tiles of 32 live in shared memory with rows
// padded to D+1 floats where a lane walks a row (no bank conflicts).
//
// Forward: block = 8 warps = 8 consecutive queries of one (b, h); lane l
// scores key j0+l of the tile; online softmax (flash-style); lse stored for
// the backward. Backward: delta = rowsum(dout*out), then dq (per query warp,
// over key tiles) and dk/dv (per key warp, over query tiles and the heads of
// the group), both recomputing probabilities from lse. No atomics: the
// results are deterministic.
//
// W > 0 is a sliding window (transformers' mask: query i sees keys j with
// i-W < j <= i); W == 0 is full causal attention. The host passes 0 for a
// window that covers the whole sequence. Key (query) tiles wholly outside
// every window of a block are not loaded: a sliding layer costs O(T*W).

#define SDZ_AQ 8
#define SDZ_AT 32
#define SDZ_MAXA 8

// smem: Ks[32][D+1], Vs[32][D], Qs[8][D]
extern "C" __global__ void __launch_bounds__(256) sdz_attn_fwd(float* out, float* lse, const float* q, const float* k, const float* v,
                                        const int* lens, int B, int T, int HQ, int HKV, int D, float scale, int W) {
  SDZ_DYN_SMEM(float, smem);
  float* Ks = smem;
  float* Vs = Ks + SDZ_AT * (D + 1);
  float* Qs = Vs + SDZ_AT * D;
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  int b = blockIdx.z, h = blockIdx.y, kvh = h / (HQ / HKV);
  int i0 = blockIdx.x * SDZ_AQ;
  int i = i0 + warp;
  int len = sdz_len(lens, b, T);
  bool qvalid = i < len;
  float* qs = Qs + warp * D;
  if (qvalid) {
    const float* qr = q + (((long long)b * T + i) * HQ + h) * D;
    for (int c = lane; c < D; c += 32) qs[c] = qr[c];
  }
  float m = -sdz_inf(), l = 0.f;
  float acc[SDZ_MAXA];
#pragma unroll
  for (int a = 0; a < SDZ_MAXA; a++) acc[a] = 0.f;
  int kend = min(i0 + SDZ_AQ, len);
  // The block's first query i0 sees nothing before i0-W+1.
  for (int j0 = W > 0 ? max(0, i0 - W + 1) : 0; j0 < kend; j0 += SDZ_AT) {
    __syncthreads();
    for (int idx = tid; idx < SDZ_AT * D; idx += blockDim.x) {
      int jj = idx / D, c = idx - jj * D, j = j0 + jj;
      float kv = 0.f, vv = 0.f;
      if (j < kend) {
        long long off = (((long long)b * T + j) * HKV + kvh) * D + c;
        kv = k[off];
        vv = v[off];
      }
      Ks[jj * (D + 1) + c] = kv;
      Vs[jj * D + c] = vv;
    }
    __syncthreads();
    if (qvalid) {
      int j = j0 + lane;
      float s = -sdz_inf();
      if (j <= i && (W <= 0 || j > i - W)) {
        const float* kr = Ks + lane * (D + 1);
        float dot = 0.f;
        for (int c = 0; c < D; c++) dot += qs[c] * kr[c];
        s = dot * scale;
      }
      float mnew = fmaxf(m, sdz_warp_max(s));
      if (mnew != -sdz_inf()) {
        float corr = expf(m - mnew);
        float p = (s == -sdz_inf()) ? 0.f : expf(s - mnew);
        l = l * corr + sdz_warp_sum(p);
#pragma unroll
        for (int a = 0; a < SDZ_MAXA; a++) acc[a] *= corr;
        for (int jj = 0; jj < SDZ_AT; jj++) {
          float pj = __shfl_sync(SDZ_FULL, p, jj);
#pragma unroll
          for (int a = 0; a < SDZ_MAXA; a++) {
            int c = lane + 32 * a;
            if (c < D) acc[a] += pj * Vs[jj * D + c];
          }
        }
        m = mnew;
      }
    }
  }
  if (i < T) {
    float* orow = out + (((long long)b * T + i) * HQ + h) * D;
    float inv = (qvalid && l > 0.f) ? 1.f / l : 0.f;
#pragma unroll
    for (int a = 0; a < SDZ_MAXA; a++) {
      int c = lane + 32 * a;
      if (c < D) orow[c] = qvalid ? acc[a] * inv : 0.f;
    }
    if (lane == 0) lse[((long long)b * HQ + h) * T + i] = qvalid ? m + logf(l) : 0.f;
  }
}

// sdz_attn_delta: delta[b,h,i] = sum_c dout*out (0 at padded positions).
// One warp per (b, i, h) row; block of 8 warps. With round16, dout is
// rounded to bf16 first, as the tensor-core backward uses it: dS = P(dP -
// delta) then is the exact softmax gradient for the rounded dout, instead
// of mixing two versions of dout in one cancelling difference.
extern "C" __global__ void __launch_bounds__(256) sdz_attn_delta(float* delta, const float* dout, const float* out, const int* lens, int B,
                                          int T, int HQ, int D, int round16) {
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  long long row = (long long)blockIdx.x * (blockDim.x >> 5) + warp;
  if (row >= (long long)B * T * HQ) return;
  int h = (int)(row % HQ);
  long long bi = row / HQ;
  int i = (int)(bi % T);
  int b = (int)(bi / T);
  float s = 0.f;
  if (i < sdz_len(lens, b, T)) {
    const float* d = dout + row * D;
    const float* o = out + row * D;
    for (int c = lane; c < D; c += 32) s += (round16 ? sdz_bf16_to_f32(sdz_f32_to_bf16(d[c])) : d[c]) * o[c];
  }
  s = sdz_warp_sum(s);
  if (lane == 0) delta[((long long)b * HQ + h) * T + i] = s;
}

// smem: Ks[32][D+1], Vs[32][D+1], Qs[8][D], dOs[8][D]
extern "C" __global__ void __launch_bounds__(256) sdz_attn_bwd_dq(float* dq, const float* dout, const float* lse, const float* delta,
                                           const float* q, const float* k, const float* v, const int* lens, int B,
                                           int T, int HQ, int HKV, int D, float scale, int W) {
  SDZ_DYN_SMEM(float, smem);
  float* Ks = smem;
  float* Vs = Ks + SDZ_AT * (D + 1);
  float* Qs = Vs + SDZ_AT * (D + 1);
  float* dOs = Qs + SDZ_AQ * D;
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  int b = blockIdx.z, h = blockIdx.y, kvh = h / (HQ / HKV);
  int i0 = blockIdx.x * SDZ_AQ;
  int i = i0 + warp;
  int len = sdz_len(lens, b, T);
  bool qvalid = i < len;
  float* qs = Qs + warp * D;
  float* dos = dOs + warp * D;
  float li = 0.f, di = 0.f;
  if (qvalid) {
    long long ro = (((long long)b * T + i) * HQ + h) * D;
    for (int c = lane; c < D; c += 32) {
      qs[c] = q[ro + c];
      dos[c] = dout[ro + c];
    }
    li = lse[((long long)b * HQ + h) * T + i];
    di = delta[((long long)b * HQ + h) * T + i];
  }
  float acc[SDZ_MAXA];
#pragma unroll
  for (int a = 0; a < SDZ_MAXA; a++) acc[a] = 0.f;
  int kend = min(i0 + SDZ_AQ, len);
  // The block's first query i0 sees nothing before i0-W+1.
  for (int j0 = W > 0 ? max(0, i0 - W + 1) : 0; j0 < kend; j0 += SDZ_AT) {
    __syncthreads();
    for (int idx = tid; idx < SDZ_AT * D; idx += blockDim.x) {
      int jj = idx / D, c = idx - jj * D, j = j0 + jj;
      float kv = 0.f, vv = 0.f;
      if (j < kend) {
        long long off = (((long long)b * T + j) * HKV + kvh) * D + c;
        kv = k[off];
        vv = v[off];
      }
      Ks[jj * (D + 1) + c] = kv;
      Vs[jj * (D + 1) + c] = vv;
    }
    __syncthreads();
    if (qvalid) {
      int j = j0 + lane;
      float ds = 0.f;
      if (j <= i && (W <= 0 || j > i - W)) {
        const float* kr = Ks + lane * (D + 1);
        const float* vr = Vs + lane * (D + 1);
        float dot = 0.f, dp = 0.f;
        for (int c = 0; c < D; c++) {
          dot += qs[c] * kr[c];
          dp += dos[c] * vr[c];
        }
        float p = expf(dot * scale - li);
        ds = p * (dp - di);
      }
      for (int jj = 0; jj < SDZ_AT; jj++) {
        float dsj = __shfl_sync(SDZ_FULL, ds, jj);
#pragma unroll
        for (int a = 0; a < SDZ_MAXA; a++) {
          int c = lane + 32 * a;
          if (c < D) acc[a] += dsj * Ks[jj * (D + 1) + c];
        }
      }
    }
  }
  if (i < T) {
    float* row = dq + (((long long)b * T + i) * HQ + h) * D;
#pragma unroll
    for (int a = 0; a < SDZ_MAXA; a++) {
      int c = lane + 32 * a;
      if (c < D) row[c] = qvalid ? acc[a] * scale : 0.f;
    }
  }
}

// One warp per key j of kv head kvh; loops over the query heads of the group
// and over query tiles i >= j. smem: Qs[32][D+1], dOs[32][D+1], Kw[8][D],
// Vw[8][D], Ls[32], Ds[32].
extern "C" __global__ void __launch_bounds__(256) sdz_attn_bwd_dkdv(float* dk, float* dv, const float* dout, const float* lse,
                                             const float* delta, const float* q, const float* k, const float* v,
                                             const int* lens, int B, int T, int HQ, int HKV, int D, float scale, int W) {
  SDZ_DYN_SMEM(float, smem);
  float* Qs = smem;
  float* dOs = Qs + SDZ_AT * (D + 1);
  float* Kw = dOs + SDZ_AT * (D + 1);
  float* Vw = Kw + SDZ_AQ * D;
  float* Ls = Vw + SDZ_AQ * D;
  float* Ds = Ls + SDZ_AT;
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
  int b = blockIdx.z, kvh = blockIdx.y;
  int G = HQ / HKV;
  int j0b = blockIdx.x * SDZ_AQ;
  int j = j0b + warp;
  int len = sdz_len(lens, b, T);
  bool kvalid = j < len;
  float* kw = Kw + warp * D;
  float* vw = Vw + warp * D;
  if (kvalid) {
    long long ro = (((long long)b * T + j) * HKV + kvh) * D;
    for (int c = lane; c < D; c += 32) {
      kw[c] = k[ro + c];
      vw[c] = v[ro + c];
    }
  }
  float ak[SDZ_MAXA], av[SDZ_MAXA];
#pragma unroll
  for (int a = 0; a < SDZ_MAXA; a++) {
    ak[a] = 0.f;
    av[a] = 0.f;
  }
  // The block's last key j0b+SDZ_AQ-1 is seen by no query from it+W on.
  int iend = W > 0 ? min(len, j0b + SDZ_AQ - 1 + W) : len;
  for (int g = 0; g < G; g++) {
    int h = kvh * G + g;
    for (int i0 = j0b; i0 < iend; i0 += SDZ_AT) {
      __syncthreads();
      for (int idx = tid; idx < SDZ_AT * D; idx += blockDim.x) {
        int ii = idx / D, c = idx - ii * D, i = i0 + ii;
        float qv = 0.f, dv0 = 0.f;
        if (i < len) {
          long long off = (((long long)b * T + i) * HQ + h) * D + c;
          qv = q[off];
          dv0 = dout[off];
        }
        Qs[ii * (D + 1) + c] = qv;
        dOs[ii * (D + 1) + c] = dv0;
      }
      if (tid < SDZ_AT) {
        int i = i0 + tid;
        Ls[tid] = i < len ? lse[((long long)b * HQ + h) * T + i] : 0.f;
        Ds[tid] = i < len ? delta[((long long)b * HQ + h) * T + i] : 0.f;
      }
      __syncthreads();
      if (kvalid) {
        int i = i0 + lane;
        float p = 0.f, ds = 0.f;
        if (i >= j && i < len && (W <= 0 || i - j < W)) {
          const float* qr = Qs + lane * (D + 1);
          const float* dr = dOs + lane * (D + 1);
          float dot = 0.f, dp = 0.f;
          for (int c = 0; c < D; c++) {
            dot += qr[c] * kw[c];
            dp += dr[c] * vw[c];
          }
          p = expf(dot * scale - Ls[lane]);
          ds = p * (dp - Ds[lane]);
        }
        for (int ii = 0; ii < SDZ_AT; ii++) {
          float pi = __shfl_sync(SDZ_FULL, p, ii);
          float dsi = __shfl_sync(SDZ_FULL, ds, ii);
#pragma unroll
          for (int a = 0; a < SDZ_MAXA; a++) {
            int c = lane + 32 * a;
            if (c < D) {
              av[a] += pi * dOs[ii * (D + 1) + c];
              ak[a] += dsi * Qs[ii * (D + 1) + c];
            }
          }
        }
      }
    }
  }
  if (j < T) {
    long long ro = (((long long)b * T + j) * HKV + kvh) * D;
#pragma unroll
    for (int a = 0; a < SDZ_MAXA; a++) {
      int c = lane + 32 * a;
      if (c < D) {
        dk[ro + c] = kvalid ? ak[a] * scale : 0.f;
        dv[ro + c] = kvalid ? av[a] : 0.f;
      }
    }
  }
}

// sdz_attn_decode: one block (4 warps) per (h, b); warps split the keys,
// each keeps an online softmax, and the block merges them at the end.
// q [B,HQ,D] F32, kc/vc [B,TMAX,HKV,D] of dtype cdt (F32 or BF16), out
// [B,HQ,D]. smem: 4*(D+2) floats. Used when a group has more than
// SDZ_MAXG query heads; sdz_attn_decode_g below reads each kv head once.
extern "C" __global__ void __launch_bounds__(128) sdz_attn_decode(float* out, const float* q, const void* kc, const void* vc,
                                           const int* lens, int B, int TMAX, int HQ, int HKV, int D, float scale, int cdt,
                                           int W) {
  SDZ_DYN_SMEM(float, smem);
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, nw = blockDim.x >> 5;
  int h = blockIdx.x, b = blockIdx.y, kvh = h / (HQ / HKV);
  int len = sdz_len(lens, b, TMAX);
  const float* qr = q + ((long long)b * HQ + h) * D;
  float qreg[SDZ_MAXA], acc[SDZ_MAXA];
#pragma unroll
  for (int a = 0; a < SDZ_MAXA; a++) {
    int c = lane + 32 * a;
    qreg[a] = c < D ? qr[c] : 0.f;
    acc[a] = 0.f;
  }
  float m = -sdz_inf(), l = 0.f;
  // The query sits at len-1: a sliding layer reads the last W rows only.
  int jbeg = W > 0 ? max(0, len - W) : 0;
  for (int j = jbeg + warp; j < len; j += nw) {
    long long row = (((long long)b * TMAX + j) * HKV + kvh) * D;
    float dot = 0.f;
#pragma unroll
    for (int a = 0; a < SDZ_MAXA; a++) {
      int c = lane + 32 * a;
      if (c < D) dot += qreg[a] * sdz_load(kc, cdt, row + c);
    }
    float s = sdz_warp_sum(dot) * scale;
    float mnew = fmaxf(m, s);
    float corr = expf(m - mnew);
    float p = expf(s - mnew);
    l = l * corr + p;
#pragma unroll
    for (int a = 0; a < SDZ_MAXA; a++) {
      int c = lane + 32 * a;
      if (c < D) acc[a] = acc[a] * corr + p * sdz_load(vc, cdt, row + c);
    }
    m = mnew;
  }
  float* wm = smem;
  float* wl = wm + nw;
  float* wa = wl + nw;
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int a = 0; a < SDZ_MAXA; a++) {
    int c = lane + 32 * a;
    if (c < D) wa[warp * D + c] = acc[a];
  }
  __syncthreads();
  float M = -sdz_inf();
  for (int w = 0; w < nw; w++) M = fmaxf(M, wm[w]);
  float L = 0.f;
  for (int w = 0; w < nw; w++) L += wm[w] == -sdz_inf() ? 0.f : wl[w] * expf(wm[w] - M);
  float* orow = out + ((long long)b * HQ + h) * D;
  for (int c = tid; c < D; c += blockDim.x) {
    float s = 0.f;
    for (int w = 0; w < nw; w++) s += wm[w] == -sdz_inf() ? 0.f : wa[w * D + c] * expf(wm[w] - M);
    orow[c] = L > 0.f ? s / L : 0.f;
  }
}

#define SDZ_MAXG 8

// sdz_attn_decode_g: one block (8 warps) per (kv head, row) serving all G
// <= SDZ_MAXG query heads of the group, so each cache row is read once per
// step rather than G times: decoding is bound by reading the cache. Warps
// split the keys; per key, a warp scores it against each query head of the
// group, with one online softmax per head; the block merges the warps.
// smem: nw*G*(D+2) floats.
// A = ceil(D/32) per lane, a template parameter so the registers match the
// head dim (sdz_attn_decode_gA for A = 1, 2, 4, 8).
template <int A>
__device__ void sdz_attn_decode_g(float* out, const float* q, const void* kc, const void* vc, const int* lens, int TMAX,
                                  int HQ, int HKV, int D, float scale, int cdt, int W) {
  SDZ_DYN_SMEM(float, smem);
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, nw = blockDim.x >> 5;
  int kvh = blockIdx.x, b = blockIdx.y, G = HQ / HKV;
  int len = sdz_len(lens, b, TMAX);
  float qreg[SDZ_MAXG][A], acc[SDZ_MAXG][A], m[SDZ_MAXG], l[SDZ_MAXG];
#pragma unroll
  for (int g = 0; g < SDZ_MAXG; g++) {
    const float* qr = q + ((long long)b * HQ + kvh * G + g) * D;
#pragma unroll
    for (int a = 0; a < A; a++) {
      int c = lane + 32 * a;
      qreg[g][a] = (g < G && c < D) ? qr[c] : 0.f;
      acc[g][a] = 0.f;
    }
    m[g] = -sdz_inf();
    l[g] = 0.f;
  }
  int jbeg = W > 0 ? max(0, len - W) : 0;  // as sdz_attn_decode: the last W rows
  for (int j = jbeg + warp; j < len; j += nw) {
    long long row = (((long long)b * TMAX + j) * HKV + kvh) * D;
    float kr[A], vr[A];
#pragma unroll
    for (int a = 0; a < A; a++) {
      int c = lane + 32 * a;
      kr[a] = c < D ? sdz_load(kc, cdt, row + c) : 0.f;
      vr[a] = c < D ? sdz_load(vc, cdt, row + c) : 0.f;
    }
#pragma unroll
    for (int g = 0; g < SDZ_MAXG; g++) {
      if (g >= G) break;
      float dot = 0.f;
#pragma unroll
      for (int a = 0; a < A; a++) dot += qreg[g][a] * kr[a];
      float s = sdz_warp_sum(dot) * scale;
      float mnew = fmaxf(m[g], s);
      float corr = expf(m[g] - mnew);
      float p = expf(s - mnew);
      l[g] = l[g] * corr + p;
#pragma unroll
      for (int a = 0; a < A; a++) acc[g][a] = acc[g][a] * corr + p * vr[a];
      m[g] = mnew;
    }
  }
  // Per-warp partials: wm[nw][G], wl[nw][G], wa[nw][G][D].
  float* wm = smem;
  float* wl = wm + nw * G;
  float* wa = wl + nw * G;
#pragma unroll
  for (int g = 0; g < SDZ_MAXG; g++) {
    if (g >= G) break;
    if (lane == 0) {
      wm[warp * G + g] = m[g];
      wl[warp * G + g] = l[g];
    }
#pragma unroll
    for (int a = 0; a < A; a++) {
      int c = lane + 32 * a;
      if (c < D) wa[(warp * G + g) * D + c] = acc[g][a];
    }
  }
  __syncthreads();
  for (int idx = tid; idx < G * D; idx += blockDim.x) {
    int g = idx / D, c = idx - g * D;
    float M = -sdz_inf();
    for (int w = 0; w < nw; w++) M = fmaxf(M, wm[w * G + g]);
    float L = 0.f, s = 0.f;
    for (int w = 0; w < nw; w++) {
      float mw = wm[w * G + g];
      if (mw == -sdz_inf()) continue;
      float e = expf(mw - M);
      L += wl[w * G + g] * e;
      s += wa[(w * G + g) * D + c] * e;
    }
    out[((long long)b * HQ + kvh * G + g) * D + c] = L > 0.f ? s / L : 0.f;
  }
}

extern "C" __global__ void __launch_bounds__(256) sdz_attn_decode_g1(float* out, const float* q, const void* kc,
                                                                      const void* vc, const int* lens, int TMAX, int HQ,
                                                                      int HKV, int D, float scale, int cdt, int W) {
  sdz_attn_decode_g<1>(out, q, kc, vc, lens, TMAX, HQ, HKV, D, scale, cdt, W);
}
extern "C" __global__ void __launch_bounds__(256) sdz_attn_decode_g2(float* out, const float* q, const void* kc,
                                                                      const void* vc, const int* lens, int TMAX, int HQ,
                                                                      int HKV, int D, float scale, int cdt, int W) {
  sdz_attn_decode_g<2>(out, q, kc, vc, lens, TMAX, HQ, HKV, D, scale, cdt, W);
}
extern "C" __global__ void __launch_bounds__(256) sdz_attn_decode_g4(float* out, const float* q, const void* kc,
                                                                      const void* vc, const int* lens, int TMAX, int HQ,
                                                                      int HKV, int D, float scale, int cdt, int W) {
  sdz_attn_decode_g<4>(out, q, kc, vc, lens, TMAX, HQ, HKV, D, scale, cdt, W);
}
extern "C" __global__ void __launch_bounds__(256) sdz_attn_decode_g8(float* out, const float* q, const void* kc,
                                                                      const void* vc, const int* lens, int TMAX, int HQ,
                                                                      int HKV, int D, float scale, int cdt, int W) {
  sdz_attn_decode_g<8>(out, q, kc, vc, lens, TMAX, HQ, HKV, D, scale, cdt, W);
}
