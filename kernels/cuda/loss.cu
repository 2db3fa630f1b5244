// loss.cu: per-row losses over logits [rows, vocab]: cross-entropy, log
// probabilities and distillation divergences. One block per row; every
// per-row statistic is an online (max, sum) reduction in a fixed order.
// A null w means weight 1 everywhere; a null loss skips writing losses.

#define SDZ_TOPK_MAX 1024

// dlogits (optional) is of dtype ddt: F32 (it may alias logits) or BF16
// (the output projection's bf16 backward reads it without a conversion).
extern "C" __global__ void __launch_bounds__(512) sdz_cross_entropy(float* loss, void* dlogits, int ddt, const float* logits, const int* targets,
                                             const float* w, int rows, int vocab, float gscale, int* err, int code) {
  __shared__ float shm[32], shs[32];
  int r = blockIdx.x;
  const float* x = logits + (long long)r * vocab;
  long long dbase = (long long)r * vocab;
  int tgt = targets[r];
  float wr = w ? w[r] : 1.f;
  if (tgt >= vocab) {
    if (threadIdx.x == 0) sdz_fail(err, code);
  }
  if (wr == 0.f || tgt < 0 || tgt >= vocab) {
    if (threadIdx.x == 0 && loss) loss[r] = 0.f;
    if (dlogits)
      for (int j = threadIdx.x; j < vocab; j += blockDim.x) sdz_store(dlogits, ddt, dbase + j, 0.f);
    return;
  }
  float xt = x[tgt];
  float m = -sdz_inf(), s = 0.f;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) sdz_ms_add(m, s, x[j]);
  sdz_block_ms(m, s, shm, shs);
  float lse = m + logf(s);
  if (threadIdx.x == 0 && loss) loss[r] = wr * (lse - xt);
  if (dlogits) {
    float c = gscale * wr;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
      float p = expf(x[j] - lse);
      sdz_store(dlogits, ddt, dbase + j, c * (j == tgt ? p - 1.f : p));
    }
  }
}

extern "C" __global__ void __launch_bounds__(512) sdz_logprobs(float* out, const float* logits, const int* targets, int rows, int vocab,
                                        int* err, int code) {
  __shared__ float shm[32], shs[32];
  int r = blockIdx.x;
  const float* x = logits + (long long)r * vocab;
  int tgt = targets[r];
  if (tgt < 0 || tgt >= vocab) {
    if (threadIdx.x == 0) {
      out[r] = 0.f;
      if (tgt >= vocab) sdz_fail(err, code);
    }
    return;
  }
  float m = -sdz_inf(), s = 0.f;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) sdz_ms_add(m, s, x[j]);
  sdz_block_ms(m, s, shm, shs);
  if (threadIdx.x == 0) out[r] = x[tgt] - (m + logf(s));
}

// sdz_distill_full: p = softmax(s/T) (student), q = softmax(t/T) (teacher)
// over the whole row, or over the teacher's K best when 0 < K < vocab,
// D = fw*KL(q||p) + (1-fw)*KL(p||q), loss = w*D,
// ds = gscale*w*(fw*(p-q) + (1-fw)*p*(logp-logq-KL(p||q)))/T.
extern "C" __global__ void __launch_bounds__(512) sdz_distill_full(float* loss, void* dstudent, int ddt, const float* sl, const float* tl,
                                            const float* w, int rows, int vocab, int K, float temp, float fw, float gscale) {
  __shared__ int hist[256];
  __shared__ int shi[40];
  __shared__ float shm[32], shs[32];
  __shared__ double shd[32];
  int r = blockIdx.x;
  const float* s = sl + (long long)r * vocab;
  const float* t = tl + (long long)r * vocab;
  long long dbase = (long long)r * vocab;  // dstudent (optional): F32 or BF16 (ddt), as in sdz_cross_entropy
  float wr = w ? w[r] : 1.f;
  if (wr == 0.f) {
    if (threadIdx.x == 0 && loss) loss[r] = 0.f;
    if (dstudent)
      for (int j = threadIdx.x; j < vocab; j += blockDim.x) sdz_store(dstudent, ddt, dbase + j, 0.f);
    return;
  }
  // 0 < K < vocab: only the teacher's K best count (a mask, for K too
  // large for sdz_distill_topk's shared memory).
  unsigned int kk = 0u;
  int ik = 0x7fffffff;
  if (K > 0 && K < vocab) {
    int needEq;
    kk = sdz_radix_kth(t, vocab, K, hist, shi, &needEq);
    ik = sdz_nth_eq(t, vocab, kk, needEq - 1, 0u, 0x7fffffff, shi);
  }
  float inv = 1.f / temp;
  float ms = -sdz_inf(), ss = 0.f, mt = -sdz_inf(), st = 0.f;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    if (!sdz_keep(sdz_key(t[j]), j, kk, ik)) continue;
    sdz_ms_add(ms, ss, s[j] * inv);
    sdz_ms_add(mt, st, t[j] * inv);
  }
  sdz_block_ms(ms, ss, shm, shs);
  sdz_block_ms(mt, st, shm, shs);
  // p = exp(z - max)/sum rather than exp(z - lse): its normalisation then
  // holds to float32 precision, which the KL in the gradient needs.
  float iss = 1.f / ss, ist = 1.f / st;
  // log p - log q in double, (s - t)/T + (lse_t - lse_s): where the logits
  // are large and p and q nearly agree, float32 would leave it (and the
  // reverse-KL gradient p*(log p - log q - KL)) with few correct digits.
  double invd = 1.0 / (double)temp;
  double dl = (double)mt + log((double)st) - (double)ms - log((double)ss);  // lse_t - lse_s (ms, mt are scaled)
  double kqp = 0.0, kpq = 0.0;
  for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
    if (!sdz_keep(sdz_key(t[j]), j, kk, ik)) continue;
    float p = expf(s[j] * inv - ms) * iss, q = expf(t[j] * inv - mt) * ist;
    double lpq = ((double)s[j] - (double)t[j]) * invd + dl;
    if (q > 0.f) kqp -= (double)q * lpq;
    if (p > 0.f) kpq += (double)p * lpq;
  }
  kqp = sdz_block_sum_d(kqp, shd);
  kpq = sdz_block_sum_d(kpq, shd);
  if (threadIdx.x == 0 && loss) loss[r] = wr * (float)((double)fw * kqp + (1.0 - (double)fw) * kpq);
  if (dstudent) {
    float c = gscale * wr * inv;
    double dk = dl - kpq;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) {
      if (!sdz_keep(sdz_key(t[j]), j, kk, ik)) {
        sdz_store(dstudent, ddt, dbase + j, 0.f);
        continue;
      }
      float p = expf(s[j] * inv - ms) * iss, q = expf(t[j] * inv - mt) * ist;
      float rev = p > 0.f ? p * (float)(((double)s[j] - (double)t[j]) * invd + dk) : 0.f;
      sdz_store(dstudent, ddt, dbase + j, c * (fw * (p - q) + (1.f - fw) * rev));
    }
  }
}

// sdz_distill_topk: as sdz_distill_full over the teacher's K largest logits
// (ties: lower id), both distributions renormalised over those ids; the
// student gradient is zero elsewhere. K <= SDZ_TOPK_MAX (1024).
extern "C" __global__ void __launch_bounds__(512) sdz_distill_topk(float* loss, void* dstudent, int ddt, const float* sl, const float* tl,
                                            const float* w, int rows, int vocab, int K, float temp, float fw,
                                            float gscale) {
  __shared__ int hist[256];
  __shared__ int shi[40];
  __shared__ int ids[SDZ_TOPK_MAX];
  __shared__ float sv[SDZ_TOPK_MAX], tv[SDZ_TOPK_MAX];
  __shared__ float shm[32], shs[32];
  __shared__ double shd[32];
  int r = blockIdx.x;
  const float* s = sl + (long long)r * vocab;
  const float* t = tl + (long long)r * vocab;
  long long dbase = (long long)r * vocab;  // dstudent (optional): F32 or BF16 (ddt), as in sdz_cross_entropy
  float wr = w ? w[r] : 1.f;
  if (wr == 0.f) {
    if (threadIdx.x == 0 && loss) loss[r] = 0.f;
    if (dstudent)
      for (int j = threadIdx.x; j < vocab; j += blockDim.x) sdz_store(dstudent, ddt, dbase + j, 0.f);
    return;
  }
  sdz_block_topk(t, vocab, K, ids, hist, shi);
  float inv = 1.f / temp;
  for (int i = threadIdx.x; i < K; i += blockDim.x) {
    sv[i] = s[ids[i]];  // unscaled: see the log p - log q note in sdz_distill_full
    tv[i] = t[ids[i]];
  }
  __syncthreads();
  float ms = -sdz_inf(), ss = 0.f, mt = -sdz_inf(), st = 0.f;
  for (int i = threadIdx.x; i < K; i += blockDim.x) {
    sdz_ms_add(ms, ss, sv[i] * inv);
    sdz_ms_add(mt, st, tv[i] * inv);
  }
  sdz_block_ms(ms, ss, shm, shs);
  sdz_block_ms(mt, st, shm, shs);
  // p = exp(z - max)/sum rather than exp(z - lse): its normalisation then
  // holds to float32 precision, which the KL in the gradient needs.
  float iss = 1.f / ss, ist = 1.f / st;
  double invd = 1.0 / (double)temp;
  double dl = (double)mt + log((double)st) - (double)ms - log((double)ss);  // lse_t - lse_s (ms, mt are scaled)
  double kqp = 0.0, kpq = 0.0;
  for (int i = threadIdx.x; i < K; i += blockDim.x) {
    float p = expf(sv[i] * inv - ms) * iss, q = expf(tv[i] * inv - mt) * ist;
    double lpq = ((double)sv[i] - (double)tv[i]) * invd + dl;
    if (q > 0.f) kqp -= (double)q * lpq;
    if (p > 0.f) kpq += (double)p * lpq;
  }
  kqp = sdz_block_sum_d(kqp, shd);
  kpq = sdz_block_sum_d(kpq, shd);
  if (threadIdx.x == 0 && loss) loss[r] = wr * (float)((double)fw * kqp + (1.0 - (double)fw) * kpq);
  if (dstudent) {
    // Every read of s (which ds may alias) happened before the reductions'
    // barriers above.
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) sdz_store(dstudent, ddt, dbase + j, 0.f);
    __syncthreads();
    float c = gscale * wr * inv;
    double dk = dl - kpq;
    for (int i = threadIdx.x; i < K; i += blockDim.x) {
      float p = expf(sv[i] * inv - ms) * iss, q = expf(tv[i] * inv - mt) * ist;
      float rev = p > 0.f ? p * (float)(((double)sv[i] - (double)tv[i]) * invd + dk) : 0.f;
      sdz_store(dstudent, ddt, dbase + ids[i], c * (fw * (p - q) + (1.f - fw) * rev));
    }
  }
}
