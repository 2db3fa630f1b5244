// emu.h: runs the CUDA C kernels of kernels/cuda on the CPU, for tests on
// machines without a GPU. Each CUDA thread of a block is a ucontext
// coroutine on one OS thread; __syncthreads and the warp primitives are
// barriers (block-wide or per warp) at which the scheduler switches. Blocks
// run one after another, so __shared__ variables become statics.
//
// This header is included before common.cuh and one kernel file; the Go
// test (emu_test.go) compiles every kernel file with it into a shared
// library that also fakes the driver, cuBLAS and NVRTC (emu_runtime.cpp).
#pragma once
#include <cmath>
#include <cstring>
#include <cstdint>
#include <cstddef>
#include <functional>
#include <utility>

#define SDZ_SYNTAX_CHECK 1
#define __global__
#define __device__ static
#define __host__
#define __shared__ static
#define __forceinline__ inline
#define __restrict__
#define __launch_bounds__(...)

struct sdz_uint3 {
  unsigned int x, y, z;
};
extern sdz_uint3 threadIdx, blockIdx, blockDim, gridDim;
extern unsigned char* sdz_emu_smem;
#define SDZ_DYN_SMEM(T, name) T* name = (T*)sdz_emu_smem

// Scheduler entry points (emu_runtime.cpp).
void sdz_emu_block_barrier();
void sdz_emu_warp_barrier();
uint64_t* sdz_emu_slots();  // one 64-bit slot per thread of the block
int sdz_emu_linear();       // linear id of the running thread

inline void __syncthreads() { sdz_emu_block_barrier(); }

template <typename T>
inline T sdz_emu_exchange(T v, int srcLane, bool keepOwn) {
  int me = sdz_emu_linear();
  int base = me & ~31;
  uint64_t* s = sdz_emu_slots();
  uint64_t raw = 0;
  std::memcpy(&raw, &v, sizeof(T));
  s[me] = raw;
  sdz_emu_warp_barrier();
  T r = v;
  if (!keepOwn) std::memcpy(&r, &s[base + (srcLane & 31)], sizeof(T));
  sdz_emu_warp_barrier();
  return r;
}
template <typename T>
inline T __shfl_xor_sync(unsigned int, T v, int o) {
  return sdz_emu_exchange(v, (sdz_emu_linear() & 31) ^ o, false);
}
template <typename T>
inline T __shfl_sync(unsigned int, T v, int src) {
  return sdz_emu_exchange(v, src, false);
}
template <typename T>
inline T __shfl_up_sync(unsigned int, T v, unsigned int d) {
  int lane = sdz_emu_linear() & 31;
  return sdz_emu_exchange(v, lane - (int)d, lane < (int)d);
}
inline unsigned int __ballot_sync(unsigned int, int pred) {
  int me = sdz_emu_linear();
  int base = me & ~31;
  uint64_t* s = sdz_emu_slots();
  s[me] = pred ? 1 : 0;
  sdz_emu_warp_barrier();
  unsigned int r = 0;
  for (int l = 0; l < 32; l++)
    if (s[base + l]) r |= 1u << l;
  sdz_emu_warp_barrier();
  return r;
}

inline float __int_as_float(int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline int __float_as_int(float f) {
  int i;
  std::memcpy(&i, &f, 4);
  return i;
}
inline float __uint_as_float(unsigned int i) {
  float f;
  std::memcpy(&f, &i, 4);
  return f;
}
inline unsigned int __float_as_uint(float f) {
  unsigned int i;
  std::memcpy(&i, &f, 4);
  return i;
}
inline float __fmul_rn(float a, float b) { return a * b; }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }

// The scheduler never preempts between these, so they are atomic.
inline float atomicAdd(float* p, float v) {
  float o = *p;
  *p = o + v;
  return o;
}
inline double atomicAdd(double* p, double v) {
  double o = *p;
  *p = o + v;
  return o;
}
inline int atomicAdd(int* p, int v) {
  int o = *p;
  *p = o + v;
  return o;
}
inline int atomicCAS(int* p, int cmp, int v) {
  int o = *p;
  if (o == cmp) *p = v;
  return o;
}
inline int atomicMin(int* p, int v) {
  int o = *p;
  if (v < o) *p = v;
  return o;
}
inline int atomicMax(int* p, int v) {
  int o = *p;
  if (v > o) *p = v;
  return o;
}

inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }

static inline float sdz_f16_to_f32(unsigned short h) {
  _Float16 x;
  std::memcpy(&x, &h, 2);
  return (float)x;
}
static inline unsigned short sdz_f32_to_f16(float f) {
  _Float16 x = (_Float16)f;
  unsigned short h;
  std::memcpy(&h, &x, 2);
  return h;
}

// sdz_mma_bf16 emulates mma.sync.m16n8k16.row.col.f32.bf16.bf16.f32: the
// warp's fragments are exchanged through the slots, and each lane computes
// its own four outputs (fragment layouts as documented in common.cuh).
static inline void sdz_mma_bf16(float* d, const unsigned* a, const unsigned* b) {
  int me = sdz_emu_linear();
  int base = me & ~31, lane = me & 31;
  uint64_t* s = sdz_emu_slots();
  uint64_t A01[32], A23[32], B[32];
  uint64_t* dst[3] = {A01, A23, B};
  uint64_t mine[3] = {(uint64_t)a[0] | ((uint64_t)a[1] << 32), (uint64_t)a[2] | ((uint64_t)a[3] << 32),
                      (uint64_t)b[0] | ((uint64_t)b[1] << 32)};
  for (int x = 0; x < 3; x++) {
    s[me] = mine[x];
    sdz_emu_warp_barrier();
    for (int l = 0; l < 32; l++) dst[x][l] = s[base + l];
    sdz_emu_warp_barrier();
  }
  auto bf = [](uint64_t w, int reg, int half) {
    unsigned u = (unsigned)(w >> (32 * (reg & 1)));
    unsigned short h = (unsigned short)(u >> (16 * half));
    return __uint_as_float(((unsigned)h) << 16);
  };
  // A[r][k]: lane (r%8)*4 + (k%8)/2, register (r>=8) + 2*(k>=8), half k%2.
  auto A = [&](int r, int k) {
    int ln = (r & 7) * 4 + ((k & 7) >> 1), reg = (r >= 8) + 2 * (k >= 8);
    return bf(reg < 2 ? A01[ln] : A23[ln], reg, k & 1);
  };
  // B[k][n]: lane n*4 + (k%8)/2, register k>=8, half k%2.
  auto Bv = [&](int k, int n) { return bf(B[n * 4 + ((k & 7) >> 1)], k >= 8, k & 1); };
  int g = lane >> 2, t = lane & 3;
  for (int e = 0; e < 4; e++) {
    int r = g + 8 * (e >> 1), c = 2 * t + (e & 1);
    float acc = 0.f;
    for (int k = 0; k < 16; k++) acc += A(r, k) * Bv(k, c);
    d[e] += acc;
  }
}

// Kernel registry: every kernel file's launchers, by name. run calls the
// kernel with a launch's parameter array; save copies the argument values
// it points to (for graph capture, where cuLaunchKernel's caller reuses
// its parameter block) and points *out at a parameter array of the copies.
#include <memory>
#include <tuple>
typedef std::function<void(void**)> sdz_emu_fn;
typedef std::function<std::shared_ptr<void>(void**, void***)> sdz_emu_saver;
struct sdz_emu_kernel {
  sdz_emu_fn run;
  sdz_emu_saver save;
};
int sdz_emu_register(const char* name, sdz_emu_kernel k);

template <typename... A, size_t... I>
void sdz_emu_call(void (*f)(A...), void** p, std::index_sequence<I...>) {
  f(*(A*)p[I]...);
}
template <typename... A, size_t... I>
std::shared_ptr<void> sdz_emu_save(void** p, void*** out, std::index_sequence<I...>) {
  struct Saved {
    std::tuple<A...> vals;
    void* ptrs[sizeof...(A) + 1];
  };
  auto s = std::make_shared<Saved>();
  s->vals = std::tuple<A...>(*(A*)p[I]...);
  ((s->ptrs[I] = (void*)&std::get<I>(s->vals)), ...);
  *out = s->ptrs;
  return s;
}
template <typename... A>
sdz_emu_kernel sdz_emu_launcher(void (*f)(A...)) {
  return {[f](void** p) { sdz_emu_call(f, p, std::index_sequence_for<A...>{}); },
          [](void** p, void*** out) { return sdz_emu_save<A...>(p, out, std::index_sequence_for<A...>{}); }};
}
