// elementwise.cu: memory-bound ops (conversion, BLAS-1, bias, embedding,
// gathers, caches, SwiGLU, RoPE, AdamW, sum of squares). Element counts are
// long long: a flat parameter buffer can exceed 2^31 elements.

#define SDZ_GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

extern "C" __global__ void sdz_convert(void* dst, int dtDst, const void* src, int dtSrc, long long n) {
  SDZ_GRID_STRIDE(i, n) { sdz_store(dst, dtDst, i, sdz_load(src, dtSrc, i)); }
}

extern "C" __global__ void sdz_scale(float* x, float s, long long n) {
  SDZ_GRID_STRIDE(i, n) { x[i] = x[i] * s; }
}

extern "C" __global__ void sdz_fill(float* x, float v, long long n) {
  SDZ_GRID_STRIDE(i, n) { x[i] = v; }
}

extern "C" __global__ void sdz_axpy(float* y, const float* x, float alpha, long long n) {
  SDZ_GRID_STRIDE(i, n) { y[i] = y[i] + alpha * x[i]; }
}

extern "C" __global__ void sdz_add(float* out, const float* a, const float* b, long long n) {
  SDZ_GRID_STRIDE(i, n) { out[i] = a[i] + b[i]; }
}

extern "C" __global__ void sdz_add_bias(float* y, const float* bias, long long rows, int dim) {
  long long n = rows * dim;
  SDZ_GRID_STRIDE(i, n) { y[i] = y[i] + bias[i % dim]; }
}

// sdz_colsum_partial writes part[chunk*dim + col] = sum over the chunk's rows
// of dy[r,col] (times x[r,col]*rstd[r] when x is not null: RMSNorm's dw).
// Block (32, 8); grid (ceil(dim/32), chunks). Fixed order: deterministic.
extern "C" __global__ void sdz_colsum_partial(float* part, const float* dy, const float* x, const float* rstd,
                                              int rows, int dim, int rowsPerChunk) {
  __shared__ float sh[8][33];
  int col = blockIdx.x * 32 + threadIdx.x;
  int r0 = blockIdx.y * rowsPerChunk;
  int r1 = min(rows, r0 + rowsPerChunk);
  float s = 0.f;
  if (col < dim) {
    for (int r = r0 + threadIdx.y; r < r1; r += 8) {
      long long o = (long long)r * dim + col;
      float g = dy[o];
      if (x) g = g * (x[o] * rstd[r]);
      s += g;
    }
  }
  sh[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && col < dim) {
    float t = 0.f;
    for (int k = 0; k < 8; k++) t += sh[k][threadIdx.x];
    part[(long long)blockIdx.y * dim + col] = t;
  }
}

// sdz_colsum_final accumulates dst[col] += sum over chunks of part[c*dim+col].
extern "C" __global__ void sdz_colsum_final(float* dst, const float* part, int chunks, int dim) {
  int col = blockIdx.x * blockDim.x + threadIdx.x;
  if (col >= dim) return;
  float t = 0.f;
  for (int c = 0; c < chunks; c++) t += part[(long long)c * dim + col];
  dst[col] = dst[col] + t;
}

extern "C" __global__ void sdz_embedding(float* out, const float* table, const int* ids, int n, int dim, int vocab,
                                         int* err, int code) {
  long long total = (long long)n * dim;
  SDZ_GRID_STRIDE(i, total) {
    int r = (int)(i / dim);
    int c = (int)(i % dim);
    int id = ids[r];
    if (id < 0 || id >= vocab) {
      sdz_fail(err, code);
      out[i] = 0.f;
    } else {
      out[i] = table[(long long)id * dim + c];
    }
  }
}

extern "C" __global__ void sdz_embedding_bwd(float* dtable, const float* dout, const int* ids, int n, int dim,
                                             int vocab, int* err, int code) {
  long long total = (long long)n * dim;
  SDZ_GRID_STRIDE(i, total) {
    int r = (int)(i / dim);
    int c = (int)(i % dim);
    int id = ids[r];
    if (id < 0 || id >= vocab) {
      sdz_fail(err, code);
    } else {
      atomicAdd(&dtable[(long long)id * dim + c], dout[i]);
    }
  }
}

// sdz_gather4 and sdz_gather2 copy rows of 4- and 2-byte elements.
extern "C" __global__ void sdz_gather4(unsigned int* dst, const unsigned int* src, const int* idx, int n, int dim,
                                       int srcRows, int* err, int code) {
  long long total = (long long)n * dim;
  SDZ_GRID_STRIDE(i, total) {
    int r = (int)(i / dim);
    int c = (int)(i % dim);
    int id = idx[r];
    if (id < 0 || id >= srcRows) {
      sdz_fail(err, code);
      dst[i] = 0u;
    } else {
      dst[i] = src[(long long)id * dim + c];
    }
  }
}

extern "C" __global__ void sdz_gather2(unsigned short* dst, const unsigned short* src, const int* idx, int n, int dim,
                                       int srcRows, int* err, int code) {
  long long total = (long long)n * dim;
  SDZ_GRID_STRIDE(i, total) {
    int r = (int)(i / dim);
    int c = (int)(i % dim);
    int id = idx[r];
    if (id < 0 || id >= srcRows) {
      sdz_fail(err, code);
      dst[i] = 0;
    } else {
      dst[i] = src[(long long)id * dim + c];
    }
  }
}

// sdz_cache_write4/2: cache [b,tmax,width] rows start[r]+i <- x [b,t,width].
extern "C" __global__ void sdz_cache_write4(unsigned int* cache, const unsigned int* x, const int* start, int b, int t,
                                            int tmax, int width) {
  long long total = (long long)b * t * width;
  SDZ_GRID_STRIDE(i, total) {
    int c = (int)(i % width);
    long long rt = i / width;
    int ti = (int)(rt % t);
    int r = (int)(rt / t);
    long long pos = (long long)start[r] + ti;
    if (pos >= 0 && pos < tmax) cache[((long long)r * tmax + pos) * width + c] = x[i];
  }
}

extern "C" __global__ void sdz_cache_write2(unsigned short* cache, const unsigned short* x, const int* start, int b,
                                            int t, int tmax, int width) {
  long long total = (long long)b * t * width;
  SDZ_GRID_STRIDE(i, total) {
    int c = (int)(i % width);
    long long rt = i / width;
    int ti = (int)(rt % t);
    int r = (int)(rt / t);
    long long pos = (long long)start[r] + ti;
    if (pos >= 0 && pos < tmax) cache[((long long)r * tmax + pos) * width + c] = x[i];
  }
}

// sdz_swiglu writes out in dtype odt (F32, or BF16 for the down projection).
extern "C" __global__ void sdz_swiglu(void* out, int odt, const float* gate, const float* up, long long n) {
  SDZ_GRID_STRIDE(i, n) {
    float g = gate[i];
    float sig = 1.f / (1.f + expf(-g));
    sdz_store(out, odt, i, (g * sig) * up[i]);
  }
}

extern "C" __global__ void sdz_swiglu_bwd(float* dgate, float* dup, const float* dout, const float* gate,
                                          const float* up, long long n) {
  SDZ_GRID_STRIDE(i, n) {
    float g = gate[i];
    float u = up[i];
    float d = dout[i];
    float sig = 1.f / (1.f + expf(-g));
    float silu = g * sig;
    dgate[i] = d * u * (sig * (1.f + g * (1.f - sig)));
    dup[i] = d * silu;
  }
}

// sdz_rope rotates x [tokens,heads,hd] in place ("rotate_half" layout).
// invFreq [hd/2] is computed on the host in float32 as Hugging Face does;
// the angle is the float32 product pos*invFreq, and cos/sin are taken in
// double and rounded, i.e. float32 cos/sin correctly rounded.
extern "C" __global__ void sdz_rope(float* x, const int* pos, const float* invFreq, int tokens, int heads, int hd,
                                    int inverse) {
  int half = hd / 2;
  long long total = (long long)tokens * heads * half;
  SDZ_GRID_STRIDE(i, total) {
    int j = (int)(i % half);
    long long th = i / half;
    int t = (int)(th / heads);
    float ang = __fmul_rn((float)pos[t], invFreq[j]);
    double sd, cd;
    sincos((double)ang, &sd, &cd);
    float c = (float)cd;
    float s = (float)sd;
    if (inverse) s = -s;
    float* row = x + th * hd;
    float a = row[j];
    float b = row[j + half];
    row[j] = a * c - b * s;
    row[j + half] = b * c + a * s;
  }
}

// sdz_adamw is torch.optim.AdamW (foreach=False semantics) over a flat buffer.
// stepSize = lr/(1-b1^t) and bc2sqrt = sqrt(1-b2^t) come from the host in
// double, rounded to float as PyTorch's scalar arguments are.
extern "C" __global__ void sdz_adamw(float* p, const float* g, float* m, float* v, long long n, float lr, float b1,
                                     float b2, float eps, float wd, float gscale, float stepSize, float bc2sqrt) {
  float decay = 1.f - lr * wd;
  SDZ_GRID_STRIDE(i, n) {
    float gi = g[i] * gscale;
    float pi = p[i] * decay;
    float mi = b1 * m[i] + (1.f - b1) * gi;
    float vi = b2 * v[i] + (1.f - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    float denom = sqrtf(vi) / bc2sqrt + eps;
    p[i] = pi - stepSize * (mi / denom);
  }
}

// sdz_sumsq_partial: part[block] = sum of x^2 over a grid-stride slice, in
// double; sdz_sumsq_final adds the partials in a fixed order.
extern "C" __global__ void sdz_sumsq_partial(double* part, const float* x, long long n) {
  __shared__ double sh[32];
  double s = 0.0;
  SDZ_GRID_STRIDE(i, n) {
    double v = (double)x[i];
    s += v * v;
  }
  s = sdz_block_sum_d(s, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

extern "C" __global__ void __launch_bounds__(1024) sdz_sumsq_final(double* out, const double* part, int nparts) {
  __shared__ double sh[32];
  double s = 0.0;
  for (int i = threadIdx.x; i < nparts; i += blockDim.x) s += part[i];
  s = sdz_block_sum_d(s, sh);
  if (threadIdx.x == 0) out[0] = s;
}
