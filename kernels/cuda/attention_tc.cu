// attention_tc.cu: causal grouped-query attention on bf16 tensor cores
// (mma.sync m16n8k16, fp32 accumulation), flash-attention-2 style: scores
// live in registers tile by tile, never as a T x T matrix in memory.
//
// Used when q, k and v are BF16 and the head dim is 64 or 128. Layouts as
// attention.cu: q [B,T,HQ,D], k/v [B,T,HKV,D] (bf16); out, dq, dk, dv, dout
// fp32; lse, delta [B,HQ,T] fp32. Softmax statistics, the running max and
// sum, and every accumulator are fp32; only the matrix operands (q, k, v,
// the probabilities P, dO and dS) are bf16, as in PyTorch's bf16 SDPA.
//
// Each warp owns 16 rows (queries in the forward and dq, keys in dk/dv), so
// its products are 16 x N tiles whose C fragments (row g or g+8, columns
// 2t, 2t+1 of each 8-column tile; g = lane/4, t = lane%4) can be re-packed
// in registers as the A operand of the next product. B operands come from
// shared memory, stored so that each lane's two bf16 values are one 32-bit
// word: "row-major" tiles [n][k] for products over the head dim and
// transposed tiles [d][n] for products over the key/query dim. Rows are
// padded by 8 bf16 (16 bytes) so the 8 rows a fragment load touches fall
// on different banks.
//
// Backward without atomics, like attention.cu: dq per query block, dk/dv
// per key block over the query tiles of every head in the group. So the
// result does not depend on scheduling.
//
// W > 0 is a sliding window as in attention.cu (query i sees keys j with
// i-W < j <= i; 0: full causal). Blocks start their tile loops at the first
// key (query) any of their rows can see and stop after the last, and warps
// skip tiles wholly outside their rows' windows. The window tests cost
// registers (the forward at head dim 64 went from 127 to 136 on sm_90, one
// block per SM fewer), so each kernel has a full-causal instance (W
// ignored) and a windowed one (name suffix w) that the host picks.

#define SDZ_TCW 4          // warps per block
#define SDZ_TCR 64         // rows per block (16 per warp)
#define SDZ_TCK 64         // keys per tile in the forward
#define SDZ_TCB 32         // keys (dq) or queries (dk/dv) per tile in the backward
#define SDZ_LOG2E 1.4426950408889634f
#define SDZ_LN2 0.6931471805599453f

__device__ __forceinline__ unsigned sdz_pack2(float lo, float hi) {
  return (unsigned)sdz_f32_to_bf16(lo) | ((unsigned)sdz_f32_to_bf16(hi) << 16);
}

__device__ __forceinline__ unsigned sdz_ld2(const unsigned short* p) {
  return (unsigned)p[0] | ((unsigned)p[1] << 16);
}

__device__ __forceinline__ unsigned sdz_smem2(const unsigned short* p) { return *(const unsigned*)p; }

// sdz_quad_max/sum reduce over the 4 lanes (t = 0..3) that share a row.
__device__ __forceinline__ float sdz_quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(SDZ_FULL, v, 1));
  return fmaxf(v, __shfl_xor_sync(SDZ_FULL, v, 2));
}
__device__ __forceinline__ float sdz_quad_sum(float v) {
  v += __shfl_xor_sync(SDZ_FULL, v, 1);
  return v + __shfl_xor_sync(SDZ_FULL, v, 2);
}

// sdz_afrag loads the A fragment of rows r0, r0+8 and columns c..c+15
// (c a multiple of 16) of a bf16 matrix with row stride ld; rows >= nrows
// are zero.
__device__ __forceinline__ void sdz_afrag(unsigned* a, const unsigned short* base, long long ld, int r0, int nrows,
                                          int c, int g, int t) {
  int ra = r0 + g, rb = r0 + g + 8, cc = c + 2 * t;
  a[0] = ra < nrows ? sdz_ld2(base + ra * ld + cc) : 0u;
  a[1] = rb < nrows ? sdz_ld2(base + rb * ld + cc) : 0u;
  a[2] = ra < nrows ? sdz_ld2(base + ra * ld + cc + 8) : 0u;
  a[3] = rb < nrows ? sdz_ld2(base + rb * ld + cc + 8) : 0u;
}

// sdz_afrag_f32 is sdz_afrag for an fp32 matrix, rounding to bf16.
__device__ __forceinline__ void sdz_afrag_f32(unsigned* a, const float* base, long long ld, int r0, int nrows, int c,
                                              int g, int t) {
  int ra = r0 + g, rb = r0 + g + 8, cc = c + 2 * t;
  a[0] = ra < nrows ? sdz_pack2(base[ra * ld + cc], base[ra * ld + cc + 1]) : 0u;
  a[1] = rb < nrows ? sdz_pack2(base[rb * ld + cc], base[rb * ld + cc + 1]) : 0u;
  a[2] = ra < nrows ? sdz_pack2(base[ra * ld + cc + 8], base[ra * ld + cc + 9]) : 0u;
  a[3] = rb < nrows ? sdz_pack2(base[rb * ld + cc + 8], base[rb * ld + cc + 9]) : 0u;
}

// sdz_bfrag loads the B fragment of a [n][k] shared tile (row stride ld):
// columns n0..n0+7, k0..k0+15.
__device__ __forceinline__ void sdz_bfrag(unsigned* bf, const unsigned short* s, int ld, int n0, int k0, int g, int t) {
  const unsigned short* p = s + (n0 + g) * ld + k0 + 2 * t;
  bf[0] = sdz_smem2(p);
  bf[1] = sdz_smem2(p + 8);
}

// sdz_cfrag_to_a re-packs the C fragments of two adjacent 8-column tiles
// (columns 16kk..16kk+15) as one A fragment.
__device__ __forceinline__ void sdz_cfrag_to_a(unsigned* a, const float* c0, const float* c1) {
  a[0] = sdz_pack2(c0[0], c0[1]);
  a[1] = sdz_pack2(c0[2], c0[3]);
  a[2] = sdz_pack2(c1[0], c1[1]);
  a[3] = sdz_pack2(c1[2], c1[3]);
}

// sdz_two_products computes, over the head dim, the warp's 16 x 8*NT tiles
// x = A1 B1^T and y = A2 B2^T: a1, a2 are the warp's 16 rows as A fragments
// (D/16 of them), b1, b2 shared [8*NT][ld] tiles.
template <int D, int NT>
__device__ __forceinline__ void sdz_two_products(float (*x)[4], float (*y)[4], const unsigned (*a1)[4],
                                                 const unsigned (*a2)[4], const unsigned short* b1,
                                                 const unsigned short* b2, int ld, int g, int t) {
#pragma unroll
  for (int n = 0; n < NT; n++) {
    x[n][0] = x[n][1] = x[n][2] = x[n][3] = 0.f;
    y[n][0] = y[n][1] = y[n][2] = y[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; kk++) {
      unsigned bf[2];
      sdz_bfrag(bf, b1, ld, n * 8, kk * 16, g, t);
      sdz_mma_bf16(x[n], a1[kk], bf);
      sdz_bfrag(bf, b2, ld, n * 8, kk * 16, g, t);
      sdz_mma_bf16(y[n], a2[kk], bf);
    }
  }
}

// sdz_acc_product accumulates acc (16 x D) += C B, C the warp's 16 x KT
// tile held as C fragments (re-packed to A fragments), B given transposed
// as a shared [D][ld] tile.
template <int D, int KT>
__device__ __forceinline__ void sdz_acc_product(float (*acc)[4], float (*c)[4], const unsigned short* bt, int ld, int g,
                                                int t) {
#pragma unroll
  for (int kk = 0; kk < KT / 16; kk++) {
    unsigned a[4];
    sdz_cfrag_to_a(a, c[2 * kk], c[2 * kk + 1]);
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      unsigned bf[2];
      sdz_bfrag(bf, bt, ld, n * 8, kk * 16, g, t);
      sdz_mma_bf16(acc[n], a, bf);
    }
  }
}

// Forward. Grid (ceil(T/64), HQ, B), 128 threads. smem: Ks[64][D+8],
// Vt[D][64+8] (bf16).
template <int D, bool WIN>
__device__ void sdz_attn_fwd_tc(float* out, float* lse, const unsigned short* q, const unsigned short* k,
                                const unsigned short* v, const int* lens, int T, int HQ, int HKV, float scale, int W) {
  if (!WIN) W = 0;  // the full-causal instance: every window test folds away
  const int KS = D + 8, VS = SDZ_TCK + 8;
  SDZ_DYN_SMEM(unsigned short, sm);
  unsigned short* Ks = sm;
  unsigned short* Vt = Ks + SDZ_TCK * KS;
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  int b = blockIdx.z, h = blockIdx.y, kvh = h / (HQ / HKV);
  int q0 = blockIdx.x * SDZ_TCR, w0 = q0 + warp * 16;
  int len = sdz_len(lens, b, T);
  int ra = w0 + g, rb = ra + 8;
  long long qld = (long long)HQ * D, kld = (long long)HKV * D;
  const unsigned short* qb = q + ((long long)b * T * HQ + h) * D;
  const unsigned short* kb = k + ((long long)b * T * HKV + kvh) * D;
  const unsigned short* vb = v + ((long long)b * T * HKV + kvh) * D;

  unsigned qa[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) sdz_afrag(qa[kk], qb, qld, w0, len, kk * 16, g, t);
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  // Running max (in log2 units of the scaled score) and sum, rows ra, rb.
  float ma = -sdz_inf(), mb = -sdz_inf(), la = 0.f, lb = 0.f;
  float sl = scale * SDZ_LOG2E;
  int kend = min(q0 + SDZ_TCR, len);
  for (int j0 = W > 0 ? max(0, q0 - W + 1) : 0; j0 < kend; j0 += SDZ_TCK) {
    __syncthreads();
    for (int idx = tid; idx < SDZ_TCK * D; idx += blockDim.x) {
      int jj = idx / D, c = idx - jj * D, j = j0 + jj;
      unsigned short kv = 0, vv = 0;
      if (j < kend) {
        kv = kb[j * kld + c];
        vv = vb[j * kld + c];
      }
      Ks[jj * KS + c] = kv;
      Vt[c * VS + jj] = vv;
    }
    __syncthreads();
    // Warp-uniform: nothing to attend in this tile. (No tile lies wholly
    // before a warp's windows: the loop starts at the block's first row's
    // window, and a tile of 64 keys outreaches the 48 rows to the last warp.)
    if (w0 >= len || j0 > w0 + 15) continue;
    float s[SDZ_TCK / 8][4];
#pragma unroll
    for (int n = 0; n < SDZ_TCK / 8; n++) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
      for (int kk = 0; kk < D / 16; kk++) {
        unsigned bf[2];
        sdz_bfrag(bf, Ks, KS, n * 8, kk * 16, g, t);
        sdz_mma_bf16(s[n], qa[kk], bf);
      }
    }
    float mxa = -sdz_inf(), mxb = -sdz_inf();
#pragma unroll
    for (int n = 0; n < SDZ_TCK / 8; n++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int j = j0 + n * 8 + 2 * t + (e & 1);
        int r = e < 2 ? ra : rb;
        float x = (j <= r && r < len && (W <= 0 || j > r - W)) ? s[n][e] * sl : -sdz_inf();
        s[n][e] = x;
        if (e < 2) {
          mxa = fmaxf(mxa, x);
        } else {
          mxb = fmaxf(mxb, x);
        }
      }
    }
    mxa = sdz_quad_max(mxa);
    mxb = sdz_quad_max(mxb);
    float na = fmaxf(ma, mxa), nb = fmaxf(mb, mxb);
    // A row with no valid score yet keeps max -inf: its p are 0, corr 1.
    float ca = na == -sdz_inf() ? 1.f : exp2f(ma - na);
    float cb = nb == -sdz_inf() ? 1.f : exp2f(mb - nb);
    float sa = 0.f, sb = 0.f;
#pragma unroll
    for (int n = 0; n < SDZ_TCK / 8; n++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        float mref = e < 2 ? na : nb;
        float p = s[n][e] == -sdz_inf() ? 0.f : exp2f(s[n][e] - mref);
        s[n][e] = p;
        if (e < 2) {
          sa += p;
        } else {
          sb += p;
        }
      }
    }
    la = la * ca + sdz_quad_sum(sa);
    lb = lb * cb + sdz_quad_sum(sb);
    ma = na;
    mb = nb;
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
      o[n][0] *= ca;
      o[n][1] *= ca;
      o[n][2] *= cb;
      o[n][3] *= cb;
    }
    sdz_acc_product<D, SDZ_TCK>(o, s, Vt, VS, g, t);
  }
  float ia = (ra < len && la > 0.f) ? 1.f / la : 0.f;
  float ib = (rb < len && lb > 0.f) ? 1.f / lb : 0.f;
#pragma unroll
  for (int n = 0; n < D / 8; n++) {
    int c = n * 8 + 2 * t;
    if (ra < T) {
      float* orow = out + (((long long)b * T + ra) * HQ + h) * D;
      orow[c] = o[n][0] * ia;
      orow[c + 1] = o[n][1] * ia;
    }
    if (rb < T) {
      float* orow = out + (((long long)b * T + rb) * HQ + h) * D;
      orow[c] = o[n][2] * ib;
      orow[c + 1] = o[n][3] * ib;
    }
  }
  if (t == 0) {
    float* lrow = lse + ((long long)b * HQ + h) * T;
    if (ra < T) lrow[ra] = ra < len ? ma * SDZ_LN2 + logf(la) : 0.f;
    if (rb < T) lrow[rb] = rb < len ? mb * SDZ_LN2 + logf(lb) : 0.f;
  }
}

// dq. Grid (ceil(T/64), HQ, B), 128 threads. smem: Ks[32][D+8],
// Vs[32][D+8], Kt[D][32+8] (bf16).
template <int D, bool WIN>
__device__ void sdz_attn_dq_tc(float* dq, const float* dout, const float* lse, const float* delta,
                               const unsigned short* q, const unsigned short* k, const unsigned short* v,
                               const int* lens, int T, int HQ, int HKV, float scale, int W) {
  if (!WIN) W = 0;  // the full-causal instance: every window test folds away
  const int KS = D + 8, TS = SDZ_TCB + 8;
  SDZ_DYN_SMEM(unsigned short, sm);
  unsigned short* Ks = sm;
  unsigned short* Vs = Ks + SDZ_TCB * KS;
  unsigned short* Kt = Vs + SDZ_TCB * KS;
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  int b = blockIdx.z, h = blockIdx.y, kvh = h / (HQ / HKV);
  int q0 = blockIdx.x * SDZ_TCR, w0 = q0 + warp * 16;
  int len = sdz_len(lens, b, T);
  int ra = w0 + g, rb = ra + 8;
  long long qld = (long long)HQ * D, kld = (long long)HKV * D;
  const unsigned short* kb = k + ((long long)b * T * HKV + kvh) * D;
  const unsigned short* vb = v + ((long long)b * T * HKV + kvh) * D;
  unsigned qa[D / 16][4], da[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) {
    sdz_afrag(qa[kk], q + ((long long)b * T * HQ + h) * D, qld, w0, len, kk * 16, g, t);
    sdz_afrag_f32(da[kk], dout + ((long long)b * T * HQ + h) * D, qld, w0, len, kk * 16, g, t);
  }
  const float* lrow = lse + ((long long)b * HQ + h) * T;
  const float* drow = delta + ((long long)b * HQ + h) * T;
  float lsa = ra < len ? lrow[ra] * SDZ_LOG2E : 0.f, lsb = rb < len ? lrow[rb] * SDZ_LOG2E : 0.f;
  float dea = ra < len ? drow[ra] : 0.f, deb = rb < len ? drow[rb] : 0.f;
  float sl = scale * SDZ_LOG2E;
  float acc[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; n++) acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.f;
  int kend = min(q0 + SDZ_TCR, len);
  for (int j0 = W > 0 ? max(0, q0 - W + 1) : 0; j0 < kend; j0 += SDZ_TCB) {
    __syncthreads();
    for (int idx = tid; idx < SDZ_TCB * D; idx += blockDim.x) {
      int jj = idx / D, c = idx - jj * D, j = j0 + jj;
      unsigned short kv = 0, vv = 0;
      if (j < kend) {
        kv = kb[j * kld + c];
        vv = vb[j * kld + c];
      }
      Ks[jj * KS + c] = kv;
      Vs[jj * KS + c] = vv;
      Kt[c * TS + jj] = kv;
    }
    __syncthreads();
    if (w0 >= len || j0 > w0 + 15 || (W > 0 && j0 + SDZ_TCB <= w0 - W + 1)) continue;  // as the forward
    float s[SDZ_TCB / 8][4], dp[SDZ_TCB / 8][4];
    sdz_two_products<D, SDZ_TCB / 8>(s, dp, qa, da, Ks, Vs, KS, g, t);
    // dS = P * (dP - delta), P = exp(s*scale - lse) on valid entries.
#pragma unroll
    for (int n = 0; n < SDZ_TCB / 8; n++) {
#pragma unroll
      for (int e = 0; e < 4; e++) {
        int j = j0 + n * 8 + 2 * t + (e & 1);
        int r = e < 2 ? ra : rb;
        float p = (j <= r && r < len && (W <= 0 || j > r - W)) ? exp2f(s[n][e] * sl - (e < 2 ? lsa : lsb)) : 0.f;
        s[n][e] = p * (dp[n][e] - (e < 2 ? dea : deb));
      }
    }
    sdz_acc_product<D, SDZ_TCB>(acc, s, Kt, TS, g, t);
  }
#pragma unroll
  for (int n = 0; n < D / 8; n++) {
    int c = n * 8 + 2 * t;
    if (ra < T) {
      float* row = dq + (((long long)b * T + ra) * HQ + h) * D;
      row[c] = ra < len ? acc[n][0] * scale : 0.f;
      row[c + 1] = ra < len ? acc[n][1] * scale : 0.f;
    }
    if (rb < T) {
      float* row = dq + (((long long)b * T + rb) * HQ + h) * D;
      row[c] = rb < len ? acc[n][2] * scale : 0.f;
      row[c + 1] = rb < len ? acc[n][3] * scale : 0.f;
    }
  }
}

// dk, dv. Grid (ceil(T/64), HKV, B), 128 threads; warp rows are keys.
// smem: Qs[32][D+8], dOs[32][D+8], Qt[D][32+8], dOt[D][32+8] (bf16),
// Ls[32], Ds[32] (fp32).
template <int D, bool WIN>
__device__ void sdz_attn_dkdv_tc(float* dk, float* dv, const float* dout, const float* lse, const float* delta,
                                 const unsigned short* q, const unsigned short* k, const unsigned short* v,
                                 const int* lens, int T, int HQ, int HKV, float scale, int W) {
  if (!WIN) W = 0;  // the full-causal instance: every window test folds away
  const int KS = D + 8, TS = SDZ_TCB + 8;
  SDZ_DYN_SMEM(unsigned short, sm);
  unsigned short* Qs = sm;
  unsigned short* dOs = Qs + SDZ_TCB * KS;
  unsigned short* Qt = dOs + SDZ_TCB * KS;
  unsigned short* dOt = Qt + D * TS;
  float* Ls = (float*)(dOt + D * TS);
  float* Ds = Ls + SDZ_TCB;
  int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, g = lane >> 2, t = lane & 3;
  int b = blockIdx.z, kvh = blockIdx.y, G = HQ / HKV;
  int k0 = blockIdx.x * SDZ_TCR, w0 = k0 + warp * 16;
  int len = sdz_len(lens, b, T);
  int ka = w0 + g, kb2 = ka + 8;  // this lane's key rows
  long long qld = (long long)HQ * D, kld = (long long)HKV * D;
  unsigned kfr[D / 16][4], vfr[D / 16][4];
#pragma unroll
  for (int kk = 0; kk < D / 16; kk++) {
    sdz_afrag(kfr[kk], k + ((long long)b * T * HKV + kvh) * D, kld, w0, len, kk * 16, g, t);
    sdz_afrag(vfr[kk], v + ((long long)b * T * HKV + kvh) * D, kld, w0, len, kk * 16, g, t);
  }
  float sl = scale * SDZ_LOG2E;
  float ak[D / 8][4], av[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; n++) {
    ak[n][0] = ak[n][1] = ak[n][2] = ak[n][3] = 0.f;
    av[n][0] = av[n][1] = av[n][2] = av[n][3] = 0.f;
  }
  int istart = (k0 / SDZ_TCB) * SDZ_TCB;
  // No query from k0+SDZ_TCR-1+W on sees any key of the block.
  int iend = W > 0 ? min(len, k0 + SDZ_TCR - 1 + W) : len;
  for (int gi = 0; gi < G; gi++) {
    int h = kvh * G + gi;
    const unsigned short* qb = q + ((long long)b * T * HQ + h) * D;
    const float* db = dout + ((long long)b * T * HQ + h) * D;
    const float* lrow = lse + ((long long)b * HQ + h) * T;
    const float* drow = delta + ((long long)b * HQ + h) * T;
    for (int i0 = istart; i0 < iend; i0 += SDZ_TCB) {
      __syncthreads();
      for (int idx = tid; idx < SDZ_TCB * D; idx += blockDim.x) {
        int ii = idx / D, c = idx - ii * D, i = i0 + ii;
        unsigned short qv = 0, dv0 = 0;
        if (i < len) {
          qv = qb[i * qld + c];
          dv0 = sdz_f32_to_bf16(db[i * qld + c]);
        }
        Qs[ii * KS + c] = qv;
        dOs[ii * KS + c] = dv0;
        Qt[c * TS + ii] = qv;
        dOt[c * TS + ii] = dv0;
      }
      if (tid < SDZ_TCB) {
        int i = i0 + tid;
        Ls[tid] = i < len ? lrow[i] * SDZ_LOG2E : 0.f;
        Ds[tid] = i < len ? drow[i] : 0.f;
      }
      __syncthreads();
      // Warp-uniform: all queries before these keys, or all past the
      // window of the warp's last key w0+15.
      if (w0 >= len || i0 + SDZ_TCB - 1 < w0 || (W > 0 && i0 >= w0 + 15 + W)) continue;
      float s[SDZ_TCB / 8][4], dp[SDZ_TCB / 8][4];
      sdz_two_products<D, SDZ_TCB / 8>(s, dp, kfr, vfr, Qs, dOs, KS, g, t);
      // s holds S^T (rows keys, columns queries): P^T and dS^T in place.
#pragma unroll
      for (int n = 0; n < SDZ_TCB / 8; n++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
          int ii = n * 8 + 2 * t + (e & 1), i = i0 + ii;
          int j = e < 2 ? ka : kb2;
          float p = (i >= j && i < len && j < len && (W <= 0 || i - j < W)) ? exp2f(s[n][e] * sl - Ls[ii]) : 0.f;
          s[n][e] = p;
          dp[n][e] = p * (dp[n][e] - Ds[ii]);
        }
      }
      sdz_acc_product<D, SDZ_TCB>(av, s, dOt, TS, g, t);   // dV += P^T dO
      sdz_acc_product<D, SDZ_TCB>(ak, dp, Qt, TS, g, t);   // dK += dS^T Q
    }
  }
#pragma unroll
  for (int n = 0; n < D / 8; n++) {
    int c = n * 8 + 2 * t;
    if (ka < T) {
      long long ro = (((long long)b * T + ka) * HKV + kvh) * D + c;
      dk[ro] = ka < len ? ak[n][0] * scale : 0.f;
      dk[ro + 1] = ka < len ? ak[n][1] * scale : 0.f;
      dv[ro] = ka < len ? av[n][0] : 0.f;
      dv[ro + 1] = ka < len ? av[n][1] : 0.f;
    }
    if (kb2 < T) {
      long long ro = (((long long)b * T + kb2) * HKV + kvh) * D + c;
      dk[ro] = kb2 < len ? ak[n][2] * scale : 0.f;
      dk[ro + 1] = kb2 < len ? ak[n][3] * scale : 0.f;
      dv[ro] = kb2 < len ? av[n][2] : 0.f;
      dv[ro + 1] = kb2 < len ? av[n][3] : 0.f;
    }
  }
}

extern "C" __global__ void __launch_bounds__(128) sdz_attn_fwd_tc64(float* out, float* lse, const unsigned short* q,
                                                                    const unsigned short* k, const unsigned short* v,
                                                                    const int* lens, int T, int HQ, int HKV,
                                                                    float scale, int W) {
  sdz_attn_fwd_tc<64, false>(out, lse, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_dq_tc64(float* dq, const float* dout, const float* lse,
                                                                   const float* delta, const unsigned short* q,
                                                                   const unsigned short* k, const unsigned short* v,
                                                                   const int* lens, int T, int HQ, int HKV, float scale,
                                                                   int W) {
  sdz_attn_dq_tc<64, false>(dq, dout, lse, delta, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_dkdv_tc64(float* dk, float* dv, const float* dout,
                                                                     const float* lse, const float* delta,
                                                                     const unsigned short* q, const unsigned short* k,
                                                                     const unsigned short* v, const int* lens, int T,
                                                                     int HQ, int HKV, float scale, int W) {
  sdz_attn_dkdv_tc<64, false>(dk, dv, dout, lse, delta, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_fwd_tc64w(float* out, float* lse, const unsigned short* q,
                                                                     const unsigned short* k, const unsigned short* v,
                                                                     const int* lens, int T, int HQ, int HKV,
                                                                     float scale, int W) {
  sdz_attn_fwd_tc<64, true>(out, lse, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_dq_tc64w(float* dq, const float* dout, const float* lse,
                                                                    const float* delta, const unsigned short* q,
                                                                    const unsigned short* k, const unsigned short* v,
                                                                    const int* lens, int T, int HQ, int HKV,
                                                                    float scale, int W) {
  sdz_attn_dq_tc<64, true>(dq, dout, lse, delta, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_dkdv_tc64w(float* dk, float* dv, const float* dout,
                                                                      const float* lse, const float* delta,
                                                                      const unsigned short* q, const unsigned short* k,
                                                                      const unsigned short* v, const int* lens, int T,
                                                                      int HQ, int HKV, float scale, int W) {
  sdz_attn_dkdv_tc<64, true>(dk, dv, dout, lse, delta, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_fwd_tc128(float* out, float* lse, const unsigned short* q,
                                                                     const unsigned short* k, const unsigned short* v,
                                                                     const int* lens, int T, int HQ, int HKV,
                                                                     float scale, int W) {
  sdz_attn_fwd_tc<128, false>(out, lse, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_dq_tc128(float* dq, const float* dout, const float* lse,
                                                                    const float* delta, const unsigned short* q,
                                                                    const unsigned short* k, const unsigned short* v,
                                                                    const int* lens, int T, int HQ, int HKV,
                                                                    float scale, int W) {
  sdz_attn_dq_tc<128, false>(dq, dout, lse, delta, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_dkdv_tc128(float* dk, float* dv, const float* dout,
                                                                      const float* lse, const float* delta,
                                                                      const unsigned short* q, const unsigned short* k,
                                                                      const unsigned short* v, const int* lens, int T,
                                                                      int HQ, int HKV, float scale, int W) {
  sdz_attn_dkdv_tc<128, false>(dk, dv, dout, lse, delta, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_fwd_tc128w(float* out, float* lse, const unsigned short* q,
                                                                      const unsigned short* k, const unsigned short* v,
                                                                      const int* lens, int T, int HQ, int HKV,
                                                                      float scale, int W) {
  sdz_attn_fwd_tc<128, true>(out, lse, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_dq_tc128w(float* dq, const float* dout, const float* lse,
                                                                     const float* delta, const unsigned short* q,
                                                                     const unsigned short* k, const unsigned short* v,
                                                                     const int* lens, int T, int HQ, int HKV,
                                                                     float scale, int W) {
  sdz_attn_dq_tc<128, true>(dq, dout, lse, delta, q, k, v, lens, T, HQ, HKV, scale, W);
}
extern "C" __global__ void __launch_bounds__(128) sdz_attn_dkdv_tc128w(float* dk, float* dv, const float* dout,
                                                                       const float* lse, const float* delta,
                                                                       const unsigned short* q, const unsigned short* k,
                                                                       const unsigned short* v, const int* lens, int T,
                                                                       int HQ, int HKV, float scale, int W) {
  sdz_attn_dkdv_tc<128, true>(dk, dv, dout, lse, delta, q, k, v, lens, T, HQ, HKV, scale, W);
}
