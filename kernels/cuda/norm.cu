// norm.cu: RMSNorm forward and the dx part of its backward (dw uses the
// deterministic column sums of elementwise.cu). One block per row.

// sdz_rmsnorm writes out in dtype odt (F32, or BF16 to feed a bf16 matmul
// without a separate conversion pass).
extern "C" __global__ void sdz_rmsnorm(void* out, int odt, float* rstd, const float* x, const float* w, int rows, int dim,
                                       float eps) {
  __shared__ float sh[32];
  int r = blockIdx.x;
  const float* xr = x + (long long)r * dim;
  long long yo = (long long)r * dim;
  float ss = 0.f;
  for (int j = threadIdx.x; j < dim; j += blockDim.x) {
    float v = xr[j];
    ss += v * v;
  }
  ss = sdz_block_sum(ss, sh);
  float rs = 1.f / sqrtf(ss / (float)dim + eps);
  for (int j = threadIdx.x; j < dim; j += blockDim.x) sdz_store(out, odt, yo + j, (xr[j] * rs) * w[j]);
  if (threadIdx.x == 0) rstd[r] = rs;
}

// sdz_rmsnorm_bwd_dx accumulates dx += rstd*w*g - x*rstd^3*sum(g*w*x)/dim.
extern "C" __global__ void sdz_rmsnorm_bwd_dx(float* dx, const float* dout, const float* x, const float* w,
                                              const float* rstd, int rows, int dim) {
  __shared__ float sh[32];
  int r = blockIdx.x;
  long long o = (long long)r * dim;
  float dot = 0.f;
  for (int j = threadIdx.x; j < dim; j += blockDim.x) dot += dout[o + j] * w[j] * x[o + j];
  dot = sdz_block_sum(dot, sh);
  float rs = rstd[r];
  float c = rs * rs * rs * dot / (float)dim;
  for (int j = threadIdx.x; j < dim; j += blockDim.x) {
    dx[o + j] = dx[o + j] + (rs * w[j] * dout[o + j] - x[o + j] * c);
  }
}
