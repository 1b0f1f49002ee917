// cuda_compat.cuh - the few spellings CUDA kernels here may use, so that the
// same kernel source compiles with nvcc for the GPU and with g++ against
// tests/cuemu/cuemu.h, which runs kernels on the CPU (one host thread per
// CUDA thread) so that CI, which has no GPU, still executes every kernel.
//
// Kernels written for both may use: __global__, __device__, __host__,
// __forceinline__, __restrict__, threadIdx/blockIdx/blockDim/gridDim (x, y, z),
// warpSize, __syncthreads(), __syncwarp(), __shfl_xor_sync, __shfl_down_sync,
// __shfl_sync (full-warp mask 0xffffffff only), atomicAdd (float, double),
// static-size __shared__ arrays declared at kernel scope, PT_DYN_SMEM for
// dynamic shared memory, the float math of <math.h> (expf, logf, sqrtf,
// rsqrtf, fmaxf, fminf, fabsf, __expf, __logf, __fdividef), INFINITY, and
// __nv_bfloat16 with __float2bfloat16 (round to nearest even) and
// __bfloat162float. Nothing else: no inline PTX, no wmma, no __ldg, no
// cooperative groups, no dynamic parallelism. Launch with PT_LAUNCH.
#ifndef PT_CUDA_COMPAT_CUH
#define PT_CUDA_COMPAT_CUH

#ifdef PT_CUEMU
#include "cuemu.h"
#else
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
// kernel<<<grid, block, smem_bytes, stream>>>(args...)
#define PT_LAUNCH(kernel, grid, block, smem, stream, ...) \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__)
// type *name = the block's dynamic shared memory (16-byte aligned)
#define PT_DYN_SMEM(type, name)                                   \
    extern __shared__ __align__(16) unsigned char pt_dyn_smem_[]; \
    type *name = reinterpret_cast<type *>(pt_dyn_smem_)
#endif

#endif
