// emu_runtime.cpp: the CPU emulator's scheduler, plus fake CUDA driver,
// cuBLAS and NVRTC entry points with the real signatures, so the Go backend
// runs unchanged against it (see emu.h and emu_test.go). Everything is
// synchronous: streams and events are no-ops.
#include "emu.h"

#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

sdz_uint3 threadIdx, blockIdx, blockDim, gridDim;
unsigned char* sdz_emu_smem;

namespace {

enum { READY, WAIT_BLOCK, WAIT_WARP, DONE };

// A thread starts through its ucontext (setcontext, once per block) and
// then switches with _setjmp/_longjmp, which skip the signal-mask system
// calls of swapcontext.
struct Thread {
  ucontext_t ctx;
  jmp_buf jb;
  char* stack = nullptr;
  int state = DONE;
  bool started = false;
};

const size_t kStack = 256 << 10;
std::vector<Thread> threads(1024);
std::vector<uint64_t> slots(1024);
jmp_buf schedJb;
int cur = 0;
int nthreads = 0;
const sdz_emu_fn* curFn = nullptr;
void** curParams = nullptr;
std::vector<unsigned char> smemBuf(256 << 10);

std::map<std::string, sdz_emu_kernel>& registry() {
  static std::map<std::string, sdz_emu_kernel> r;
  return r;
}
std::vector<const sdz_emu_kernel*>& funcs() {
  static std::vector<const sdz_emu_kernel*> f;
  return f;
}

// Graph capture: while capture is set, stream work is recorded into it
// instead of running; a graph replays its recorded work in order.
struct EmuGraph {
  std::vector<std::function<void()>> ops;
};
EmuGraph* capture = nullptr;
const int kErrCaptureUnsupported = 900;  // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED

void setThreadIdx(int t) {
  threadIdx.x = t % blockDim.x;
  threadIdx.y = (t / blockDim.x) % blockDim.y;
  threadIdx.z = t / (blockDim.x * blockDim.y);
}

void entry() {
  (*curFn)(curParams);
  threads[cur].state = DONE;
  _longjmp(schedJb, 1);
}

// runBlock runs one block to completion; false on a barrier deadlock.
bool runBlock() {
  for (int t = 0; t < nthreads; t++) {
    Thread& th = threads[t];
    if (!th.stack) th.stack = (char*)malloc(kStack);
    getcontext(&th.ctx);
    th.ctx.uc_stack.ss_sp = th.stack;
    th.ctx.uc_stack.ss_size = kStack;
    th.ctx.uc_link = nullptr;
    makecontext(&th.ctx, entry, 0);
    th.state = READY;
    th.started = false;
  }
  // Between barriers the threads run one after another; the order flips
  // every round, so that a missing barrier shows up as a wrong result
  // whichever of two threads would have won the race.
  for (int round = 0;; round++) {
    for (int i = 0; i < nthreads; i++) {
      int t = (round + blockIdx.x) % 2 == 0 ? i : nthreads - 1 - i;
      if (threads[t].state != READY) continue;
      cur = t;
      setThreadIdx(t);
      if (!_setjmp(schedJb)) {
        if (!threads[t].started) {
          threads[t].started = true;
          setcontext(&threads[t].ctx);
        }
        _longjmp(threads[t].jb, 1);
      }
    }
    int alive = 0, atBlock = 0;
    bool released = false;
    for (int t = 0; t < nthreads; t++) {
      if (threads[t].state != DONE) alive++;
      if (threads[t].state == WAIT_BLOCK) atBlock++;
    }
    if (alive == 0) return true;
    for (int w = 0; w < nthreads; w += 32) {
      int live = 0, waiting = 0;
      for (int t = w; t < w + 32 && t < nthreads; t++) {
        if (threads[t].state != DONE) live++;
        if (threads[t].state == WAIT_WARP) waiting++;
      }
      if (waiting > 0 && waiting == live) {
        for (int t = w; t < w + 32 && t < nthreads; t++)
          if (threads[t].state == WAIT_WARP) threads[t].state = READY;
        released = true;
      }
    }
    if (!released && atBlock == alive) {
      for (int t = 0; t < nthreads; t++)
        if (threads[t].state == WAIT_BLOCK) threads[t].state = READY;
      released = true;
    }
    if (!released) return false;
  }
}

void yieldAs(int state) {
  threads[cur].state = state;
  if (!_setjmp(threads[cur].jb)) _longjmp(schedJb, 1);
}

}  // namespace

void sdz_emu_block_barrier() { yieldAs(WAIT_BLOCK); }
void sdz_emu_warp_barrier() { yieldAs(WAIT_WARP); }
uint64_t* sdz_emu_slots() { return slots.data(); }
int sdz_emu_linear() { return cur; }

int sdz_emu_register(const char* name, sdz_emu_kernel k) {
  registry()[name] = k;
  return 0;
}

typedef unsigned long long CUdeviceptr;

static int launchResult;

extern "C" {

// ---- driver ----
int cuInit(unsigned int) { return 0; }
int cuDriverGetVersion(int* v) {
  *v = 13000;
  return 0;
}
int cuDeviceGetCount(int* n) {
  *n = 1;
  return 0;
}
int cuDeviceGet(int* d, int ordinal) {
  if (ordinal != 0) return 101;
  *d = 0;
  return 0;
}
int cuDeviceGetName(char* name, int len, int) {
  snprintf(name, len, "sdzero CPU emulator");
  return 0;
}
int cuDeviceGetAttribute(int* v, int attr, int) {
  switch (attr) {
    case 75: *v = 9; break;
    case 76: *v = 0; break;
    case 16: *v = 2; break;
    case 97: *v = 232448; break;
    default: *v = 0;
  }
  return 0;
}
int cuDeviceTotalMem_v2(size_t* b, int) {
  *b = (size_t)1 << 32;
  return 0;
}
int cuDevicePrimaryCtxRetain(void** ctx, int) {
  *ctx = (void*)0x1;
  return 0;
}
int cuDevicePrimaryCtxRelease_v2(int) { return 0; }
int cuCtxSetCurrent(void* ctx) { return ctx == (void*)0x1 ? 0 : 201; }
int cuStreamCreate(void** s, unsigned int) {
  *s = (void*)0x2;
  return 0;
}
int cuStreamDestroy_v2(void*) { return 0; }
int cuStreamSynchronize(void*) { return capture ? kErrCaptureUnsupported : launchResult; }
int cuStreamBeginCapture_v2(void*, int mode) {
  if (capture) return kErrCaptureUnsupported;
  if (mode != 2) return 1;  // the backend records in relaxed mode
  capture = new EmuGraph;
  return 0;
}
int cuStreamEndCapture(void*, void** g) {
  if (!capture) return 1;
  *g = capture;
  capture = nullptr;
  return 0;
}
int cuGraphInstantiateWithFlags(void** exec, void* g, unsigned long long) {
  *exec = new EmuGraph(*(EmuGraph*)g);
  return 0;
}
int cuGraphLaunch(void* exec, void*) {
  if (capture) return kErrCaptureUnsupported;
  for (auto& op : ((EmuGraph*)exec)->ops) op();
  return 0;
}
int cuGraphExecDestroy(void* exec) {
  delete (EmuGraph*)exec;
  return 0;
}
int cuGraphDestroy(void* g) {
  delete (EmuGraph*)g;
  return 0;
}
// Device memory ends (256-byte aligned) right before a PROT_NONE page, so
// a kernel reading or writing past the end of an allocation faults.
static std::map<CUdeviceptr, std::pair<void*, size_t>> mappings;
int cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t r = (n + 255) & ~(size_t)255;
  if (r == 0) r = 256;
  size_t body = (r + page - 1) / page * page;
  void* m = mmap(nullptr, body + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 2;
  mprotect((char*)m + body, page, PROT_NONE);
  char* base = (char*)m + body - r;
  memset(base, 0xA5, r);  // garbage, as real device memory
  *p = (CUdeviceptr)base;
  mappings[*p] = {m, body + page};
  return 0;
}
int cuMemFree_v2(CUdeviceptr p) {
  auto it = mappings.find(p);
  if (it == mappings.end()) return 1;
  munmap(it->second.first, it->second.second);
  mappings.erase(it);
  return 0;
}
int cuMemAllocHost_v2(void** p, size_t n) {
  *p = malloc(n);
  return *p ? 0 : 2;
}
int cuMemFreeHost(void* p) {
  free(p);
  return 0;
}
int cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void* src, size_t n, void*) {
  if (capture) return kErrCaptureUnsupported;  // the backend refuses host transfers in capture
  memcpy((void*)dst, src, n);
  return 0;
}
int cuMemcpyDtoHAsync_v2(void* dst, CUdeviceptr src, size_t n, void*) {
  if (capture) return kErrCaptureUnsupported;
  memcpy(dst, (const void*)src, n);
  return 0;
}
int cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, void*) {
  auto op = [=] { memmove((void*)dst, (const void*)src, n); };
  if (capture) {
    capture->ops.push_back(op);
  } else {
    op();
  }
  return 0;
}
int cuMemsetD8Async(CUdeviceptr dst, unsigned char v, size_t n, void*) {
  auto op = [=] { memset((void*)dst, v, n); };
  if (capture) {
    capture->ops.push_back(op);
  } else {
    op();
  }
  return 0;
}
int cuMemsetD32Async(CUdeviceptr dst, unsigned int v, size_t n, void*) {
  auto op = [=] {
    unsigned int* p = (unsigned int*)dst;
    for (size_t i = 0; i < n; i++) p[i] = v;
  };
  if (capture) {
    capture->ops.push_back(op);
  } else {
    op();
  }
  return 0;
}
int cuMemGetInfo_v2(size_t* f, size_t* t) {
  *f = (size_t)1 << 31;
  *t = (size_t)1 << 32;
  return 0;
}
int cuModuleLoadData(void** m, const void* image) {
  if (!image || memcmp(image, "SDZEMU", 6) != 0) return 200;
  *m = (void*)0x10;
  return 0;
}
int cuModuleUnload(void*) { return 0; }
int cuModuleGetFunction(void** f, void*, const char* name) {
  auto it = registry().find(name);
  if (it == registry().end()) return 500;
  funcs().push_back(&it->second);
  *f = (void*)(uintptr_t)funcs().size();
  return 0;
}
int cuFuncSetAttribute(void*, int, int) { return 0; }
static void launchNow(size_t idx, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                      unsigned int bz, unsigned int smem, void** params) {
  int rc = 0;
  std::thread worker([&] {
    curFn = &funcs()[idx - 1]->run;
    curParams = params;
    blockDim = {bx, by, bz};
    gridDim = {gx, gy, gz};
    nthreads = (int)(bx * by * bz);
    sdz_emu_smem = smemBuf.data();
    for (unsigned int z = 0; z < gz && rc == 0; z++)
      for (unsigned int y = 0; y < gy && rc == 0; y++)
        for (unsigned int x = 0; x < gx && rc == 0; x++) {
          blockIdx = {x, y, z};
          memset(smemBuf.data(), 0x5A, smem);
          if (!runBlock()) rc = 719;  // barrier deadlock: report a launch failure
        }
  });
  worker.join();
  if (rc && !launchResult) launchResult = rc;
}
int cuLaunchKernel(void* f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by,
                   unsigned int bz, unsigned int smem, void*, void** params, void** extra) {
  size_t idx = (size_t)(uintptr_t)f;
  if (idx == 0 || idx > funcs().size()) return 400;
  if (bx * by * bz == 0 || bx * by * bz > 1024 || gx * gy * gz == 0 || smem > 232448 || extra) return 1;
  if ((bx * by * bz) % 32 != 0) return 1;  // the emulator's warps are whole
  if (capture) {
    // The caller reuses its parameter block: keep copies of the values.
    void** saved = nullptr;
    std::shared_ptr<void> keep = funcs()[idx - 1]->save(params, &saved);
    capture->ops.push_back([=] { launchNow(idx, gx, gy, gz, bx, by, bz, smem, saved); (void)keep; });
    return 0;
  }
  launchNow(idx, gx, gy, gz, bx, by, bz, smem, params);
  return 0;
}
int cuEventCreate(void** e, unsigned int) {
  *e = (void*)0x3;
  return 0;
}
int cuEventRecord(void*, void*) { return 0; }
int cuEventSynchronize(void*) { return 0; }
int cuEventDestroy_v2(void*) { return 0; }
int cuGetErrorName(int, const char**) { return 1; }
int cuGetErrorString(int, const char**) { return 1; }

// ---- cuBLAS (naive column-major GEMM, float accumulation) ----
int cublasCreate_v2(void** h) {
  *h = (void*)0x4;
  return 0;
}
int cublasDestroy_v2(void*) { return 0; }
int cublasSetStream_v2(void*, void*) { return 0; }
int cublasSetMathMode(void*, int) { return 0; }
int cublasGetVersion_v2(void*, int* v) {
  *v = 130000;
  return 0;
}
const char* cublasGetStatusName(int s) { return s == 7 ? "CUBLAS_STATUS_INVALID_VALUE" : "CUBLAS_STATUS_EMULATED"; }
unsigned long long cublasLtGetVersion() { return 130000; }

static float ld(const void* p, int t, long long i) {
  if (t == 0) return ((const float*)p)[i];
  unsigned short h = ((const unsigned short*)p)[i];
  if (t == 14) return __uint_as_float(((unsigned int)h) << 16);
  if (t == 2) return sdz_f16_to_f32(h);
  abort();
}

static int gemm(int ta, int tb, int m, int n, int k, const float* alpha, const void* A, int at, int lda,
                const void* B, int bt, int ldb, const float* beta, void* C, int ct, int ldc, int compute) {
  if (ct != 0 || (compute != 68 && compute != 77)) return 7;
  if ((at != 0 && at != 14 && at != 2) || (bt != 0 && bt != 14 && bt != 2)) return 7;
  if (compute == 77 && (at != 0 || bt != 0)) return 7;
  if (m < 0 || n < 0 || k < 0) return 7;
  if (lda < (ta ? (k > 1 ? k : 1) : (m > 1 ? m : 1))) return 7;
  if (ldb < (tb ? (n > 1 ? n : 1) : (k > 1 ? k : 1))) return 7;
  if (ldc < (m > 1 ? m : 1)) return 7;
  float* c = (float*)C;
  for (int j = 0; j < n; j++)
    for (int i = 0; i < m; i++) {
      float s = 0.f;
      for (int l = 0; l < k; l++) {
        float a = ta ? ld(A, at, l + (long long)i * lda) : ld(A, at, i + (long long)l * lda);
        float b = tb ? ld(B, bt, j + (long long)l * ldb) : ld(B, bt, l + (long long)j * ldb);
        s += a * b;
      }
      float* cij = &c[i + (long long)j * ldc];
      *cij = *beta == 0.f ? *alpha * s : *alpha * s + *beta * *cij;
    }
  return 0;
}

int cublasGemmEx(void*, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int at, int lda,
                 const void* B, int bt, int ldb, const void* beta, void* C, int ct, int ldc, int compute, int algo) {
  if (algo != -1) return 7;
  if (capture) {
    // Host-pointer scalars are read at the call, as cuBLAS does.
    float al = *(const float*)alpha, be = *(const float*)beta;
    capture->ops.push_back([=] { gemm(ta, tb, m, n, k, &al, A, at, lda, B, bt, ldb, &be, C, ct, ldc, compute); });
    return 0;
  }
  return gemm(ta, tb, m, n, k, (const float*)alpha, A, at, lda, B, bt, ldb, (const float*)beta, C, ct, ldc, compute);
}

int cublasGemmStridedBatchedEx(void*, int ta, int tb, int m, int n, int k, const void* alpha, const void* A, int at,
                               int lda, long long sa, const void* B, int bt, int ldb, long long sb, const void* beta,
                               void* C, int ct, int ldc, long long sc, int batch, int compute, int algo) {
  if (algo != -1 || batch < 0) return 7;
  if (capture) {
    float al = *(const float*)alpha, be = *(const float*)beta;
    capture->ops.push_back([=] {
      cublasGemmStridedBatchedEx(nullptr, ta, tb, m, n, k, &al, A, at, lda, sa, B, bt, ldb, sb, &be, C, ct, ldc, sc,
                                 batch, compute, algo);
    });
    return 0;
  }
  int esA = at == 0 ? 4 : 2, esB = bt == 0 ? 4 : 2;
  for (int i = 0; i < batch; i++) {
    int r = gemm(ta, tb, m, n, k, (const float*)alpha, (const char*)A + i * sa * esA, at, lda,
                 (const char*)B + i * sb * esB, bt, ldb, (const float*)beta, (float*)C + i * sc, ct, ldc, compute);
    if (r) return r;
  }
  return 0;
}

// ---- NVRTC: "compiles" to an image that names the emulator ----
struct Prog {
  std::string src, name, image;
};
int nvrtcVersion(int* a, int* b) {
  *a = 13;
  *b = 0;
  return 0;
}
int nvrtcGetNumSupportedArchs(int* n) {
  *n = 3;
  return 0;
}
int nvrtcGetSupportedArchs(int* a) {
  a[0] = 75;
  a[1] = 80;
  a[2] = 90;
  return 0;
}
int nvrtcCreateProgram(void** p, const char* src, const char* name, int, const char* const*, const char* const*) {
  Prog* pr = new Prog;
  pr->src = src;
  pr->name = name ? name : "";
  *p = pr;
  return 0;
}
int nvrtcCompileProgram(void* p, int n, const char* const* opts) {
  Prog* pr = (Prog*)p;
  bool arch = false;
  for (int i = 0; i < n; i++)
    if (std::string(opts[i]) == "--gpu-architecture=sm_90") arch = true;
  if (!arch) return 5;
  pr->image = "SDZEMU " + pr->name + "\n" + pr->src;
  return 0;
}
int nvrtcGetProgramLogSize(void*, size_t* n) {
  *n = 1;
  return 0;
}
int nvrtcGetProgramLog(void*, char* log) {
  log[0] = 0;
  return 0;
}
int nvrtcGetPTXSize(void* p, size_t* n) {
  *n = ((Prog*)p)->image.size() + 1;
  return 0;
}
int nvrtcGetPTX(void* p, char* out) {
  memcpy(out, ((Prog*)p)->image.c_str(), ((Prog*)p)->image.size() + 1);
  return 0;
}
int nvrtcGetCUBINSize(void* p, size_t* n) { return nvrtcGetPTXSize(p, n); }
int nvrtcGetCUBIN(void* p, char* out) { return nvrtcGetPTX(p, out); }
int nvrtcDestroyProgram(void** p) {
  delete (Prog*)*p;
  *p = nullptr;
  return 0;
}
const char* nvrtcGetErrorString(int) { return "NVRTC_EMULATED"; }

}  // extern "C"
