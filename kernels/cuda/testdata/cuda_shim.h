// cuda_shim.h: just enough of CUDA's device environment for g++
// -fsyntax-only to type-check the kernel sources on a machine without nvcc
// (see TestKernelSyntax). Declarations only; nothing here runs.
#define __global__
#define __device__
#define __host__
#define __shared__
#define __forceinline__ inline
#define __restrict__
struct sdz_uint3 { unsigned int x, y, z; };
extern sdz_uint3 threadIdx, blockIdx, blockDim, gridDim;
void __syncthreads();
float __int_as_float(int);
int __float_as_int(float);
float __uint_as_float(unsigned int);
unsigned int __float_as_uint(float);
float __fmul_rn(float, float);
int __popc(unsigned int);
unsigned int __ballot_sync(unsigned int, int);
float __shfl_sync(unsigned int, float, int);
int __shfl_sync(unsigned int, int, int);
float __shfl_xor_sync(unsigned int, float, int);
double __shfl_xor_sync(unsigned int, double, int);
int __shfl_xor_sync(unsigned int, int, int);
float atomicAdd(float*, float);
double atomicAdd(double*, double);
int atomicAdd(int*, int);
int atomicCAS(int*, int, int);
int min(int, int);
int max(int, int);
long long min(long long, long long);
long long max(long long, long long);
float expf(float);
float exp2f(float);
float logf(float);
float sqrtf(float);
float fmaxf(float, float);
double ceil(double);
double log(double);
double floor(double);
void sincos(double, double*, double*);
double exp(double);
int atomicMin(int*, int);
int atomicMax(int*, int);
double __shfl_up_sync(unsigned int, double, unsigned int);
#define __launch_bounds__(...)
