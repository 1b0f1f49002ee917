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
// dynamic shared memory, the float math of <math.h> (expf, exp2f, logf,
// log2f, sqrtf, rsqrtf, fmaxf, fminf, fabsf, ceilf, erff, tanhf, powf,
// __expf, __logf, __fdividef), INFINITY, __host__ __device__ helpers of
// backend.h (pt_alibi_slope), and __nv_bfloat16 with __float2bfloat16
// (round to nearest even) and __bfloat162float.
// Tensor cores through nvcuda::wmma (<mma.h>), bf16 only:
// fragment<matrix_a|matrix_b, 16, 16, 16, __nv_bfloat16, row_major|col_major>,
// fragment<accumulator, 16, 16, 16, float>, fill_fragment, load_matrix_sync
// (shared or global memory; pointer 32-byte aligned, ldm a multiple of 16
// bytes), store_matrix_sync (mem_row_major or mem_col_major), mma_sync; each
// called by every lane of a full warp with warp-uniform arguments. Never touch
// a fragment's elements (frag.x[i], num_elements: their layout is
// unspecified); go through shared memory, and __syncwarp before other lanes
// read what a store wrote.
// Nothing else: no inline PTX, no __ldg, no cooperative groups, no dynamic
// parallelism. Launch with PT_LAUNCH.
#ifndef PT_CUDA_COMPAT_CUH
#define PT_CUDA_COMPAT_CUH

#ifdef PT_CUEMU
#include "cuemu.h"
#else
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <mma.h>
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
