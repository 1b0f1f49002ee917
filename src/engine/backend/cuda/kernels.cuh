// kernels.cuh - every CUDA kernel of the "cuda" backend except attention,
// each with its launcher ptk_<op>(stream, ...): a static inline host function
// that does nothing but PT_LAUNCH, so tests/cuemu runs the same code on the CPU
// with host pointers. Written only with what cuda_compat.cuh allows.
//
// Letters as in backend.h: N rows, C channels, M output features, H heads,
// HD head dim, V vocab; n a flat element count (size_t). Every launcher
// accepts n = 0 (launches nothing) and any n (grid-stride loops; rows loop
// by gridDim.x too). Block reductions assume blockDim.x a multiple of 32,
// at most 1024 (launchers choose it).
//
// Base weights and the bf16 copies of activations are raw bf16 bit patterns
// (uint16_t), converted as pt_f32_to_bf16 / pt_bf16_to_f32 in backend.h do,
// bit for bit, NaN included; cuBLAS reads them as CUDA_R_16BF.
#ifndef PT_KERNELS_CUH
#define PT_KERNELS_CUH

#include "cuda_compat.cuh"

#include <stddef.h>
#include <stdint.h>

// The emulator runs few blocks, so every grid-stride and row loop goes round
// several times there; on the GPU 8192 blocks of 256 threads fill an H100.
#ifdef PT_CUEMU
#define PTK_MAX_GRID 5u
#else
#define PTK_MAX_GRID 8192u
#endif
#define PTK_THREADS 256u          // threads per block of the elementwise kernels
#define PTK_SUMSQ_MAX_BLOCKS 1024u  // most partial sums ptk_sumsq writes

// for i over [0, n), split across the whole grid
#define PTK_FOR(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)
// for row over [0, N), one block per row at a time
#define PTK_FOR_ROWS(row, N) for (int row = (int)blockIdx.x; row < (N); row += (int)gridDim.x)

// Blocks for n elements of `threads` each, capped (grid-stride loops do the rest).
static inline unsigned ptk_grid(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < PTK_MAX_GRID ? b : PTK_MAX_GRID);
}
// Blocks for N rows, one row per block, capped.
static inline unsigned ptk_row_grid(int N) { return (unsigned)N < PTK_MAX_GRID ? (unsigned)N : PTK_MAX_GRID; }
// Threads for a row of C elements: a power of two from 32 to 1024, about C/4.
static inline unsigned ptk_row_threads(long C) {
    unsigned t = 32;
    while (t < 1024 && (long)t * 4 < C) t *= 2;
    return t;
}

// ---- bit-exact helpers shared by host and device ----

// pt_f32_to_bf16 of backend.h: round to nearest even, NaN kept quiet.
__host__ __device__ __forceinline__ uint16_t ptk_bf16_bits(float f) {
    union { float f; uint32_t u; } x;
    x.f = f;
    if ((x.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x.u >> 16) | 0x40);
    return (uint16_t)((x.u + 0x7fffu + ((x.u >> 16) & 1u)) >> 16);
}
__host__ __device__ __forceinline__ float ptk_bf16_value(uint16_t h) {
    union { uint32_t u; float f; } x;
    x.u = (uint32_t)h << 16;
    return x.f;
}

// pt_dropout_u01 of backend.h, the same hash: uniform in [0, 1) for (seed, i).
__host__ __device__ __forceinline__ float ptk_dropout_u01(uint64_t seed, uint64_t i) {
    uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

// Float multiply / add / subtract each rounded on its own, never fused into
// an FMA, so adamw evaluates pt_adamw_elem's expression literally. nvcc
// contracts a*b+c by default; __f*_rn are the operations it never contracts.
// (The emulator: a volatile store forces the rounding the same way.)
#ifdef PT_CUEMU
static inline float ptk_mul_rn(float a, float b) { volatile float r = a * b; return r; }
static inline float ptk_add_rn(float a, float b) { volatile float r = a + b; return r; }
static inline float ptk_sub_rn(float a, float b) { volatile float r = a - b; return r; }
#else
__device__ __forceinline__ float ptk_mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ float ptk_add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ float ptk_sub_rn(float a, float b) { return __fsub_rn(a, b); }
#endif

// ---- block reductions (warp shuffles, then one float per warp in shared) ----

__device__ __forceinline__ float ptk_red_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ double ptk_red_warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum of v over the block, returned to every thread. sh: a kernel's
// __shared__ float[32]; the leading barrier lets a loop reuse it.
__device__ __forceinline__ float ptk_red_block_sum(float v, float *sh) {
    int lane = (int)(threadIdx.x & 31u), warp = (int)(threadIdx.x >> 5);
    v = ptk_red_warp_sum(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.0f;
    return ptk_red_warp_sum(v);
}
__device__ __forceinline__ double ptk_red_block_sum_d(double v, double *sh) {
    int lane = (int)(threadIdx.x & 31u), warp = (int)(threadIdx.x >> 5);
    v = ptk_red_warp_sum_d(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    v = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.0;
    return ptk_red_warp_sum_d(v);
}

// Online softmax statistics: (m, s) stands for s * exp(m) summed; m = -inf
// with s = 0 is the empty set. Merging never forms exp(-inf - -inf).
__device__ __forceinline__ void ptk_red_ms_merge(float *m, float *s, float m2, float s2) {
    float mx = fmaxf(*m, m2);
    float a = *m == -INFINITY ? 0.0f : *s * expf(*m - mx);
    float b = m2 == -INFINITY ? 0.0f : s2 * expf(m2 - mx);
    *m = mx;
    *s = a + b;
}
// Max and sum of exp(x - max) over x (V), one block, returned to every thread.
// shm, shs: a kernel's __shared__ float[32] each.
__device__ __forceinline__ void ptk_red_max_sumexp(const float *x, int V, float *shm, float *shs, float *mx,
                                                     float *sum) {
    float m = -INFINITY, s = 0.0f;
    for (int v = (int)threadIdx.x; v < V; v += (int)blockDim.x) {
        float xv = x[v];
        if (xv > m) {
            s = s * expf(m - xv) + 1.0f;  // m = -inf at first: expf(-inf) = 0
            m = xv;
        } else if (m != -INFINITY) {
            s += expf(xv - m);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        ptk_red_ms_merge(&m, &s, m2, s2);
    }
    int lane = (int)(threadIdx.x & 31u), warp = (int)(threadIdx.x >> 5);
    __syncthreads();
    if (lane == 0) { shm[warp] = m; shs[warp] = s; }
    __syncthreads();
    m = -INFINITY;
    s = 0.0f;
    if (lane < (int)(blockDim.x >> 5)) { m = shm[lane]; s = shs[lane]; }
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        ptk_red_ms_merge(&m, &s, m2, s2);
    }
    *mx = m;
    *sum = s;
}

// ---- conversion, elementwise ----

// out (n) bf16 bits = inp (n) float32, rounded to nearest even
static __global__ void ptk_f32_to_bf16_kernel(uint16_t *__restrict__ out, const float *__restrict__ inp, size_t n) {
    PTK_FOR(i, n) out[i] = ptk_bf16_bits(inp[i]);
}
static inline void ptk_f32_to_bf16(cudaStream_t s, uint16_t *out, const float *inp, size_t n) {
    if (n) PT_LAUNCH(ptk_f32_to_bf16_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, out, inp, n);
}

// out (N, M) += bias (M)
static __global__ void ptk_bias_add_kernel(float *__restrict__ out, const float *__restrict__ bias, size_t n, int M) {
    PTK_FOR(i, n) out[i] += bias[i % (size_t)M];
}
static inline void ptk_bias_add(cudaStream_t s, float *out, const float *bias, int N, int M) {
    size_t n = (size_t)N * (size_t)M;
    if (n) PT_LAUNCH(ptk_bias_add_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, out, bias, n, M);
}

// out (n) = a + b; out may alias a or b
static __global__ void ptk_add_kernel(float *out, const float *a, const float *b, size_t n) {
    PTK_FOR(i, n) out[i] = a[i] + b[i];
}
static inline void ptk_add(cudaStream_t s, float *out, const float *a, const float *b, size_t n) {
    if (n) PT_LAUNCH(ptk_add_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, out, a, b, n);
}

// x (n) *= sc
static __global__ void ptk_scale_kernel(float *x, size_t n, float sc) {
    PTK_FOR(i, n) x[i] *= sc;
}
static inline void ptk_scale(cudaStream_t s, float *x, size_t n, float sc) {
    if (n) PT_LAUNCH(ptk_scale_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, x, n, sc);
}

// out (n) = silu(gate) * up; out may alias gate or up
static __global__ void ptk_swiglu_kernel(float *out, const float *gate, const float *up, size_t n) {
    PTK_FOR(i, n) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}
static inline void ptk_swiglu(cudaStream_t s, float *out, const float *gate, const float *up, size_t n) {
    if (n) PT_LAUNCH(ptk_swiglu_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, out, gate, up, n);
}

// dgate, dup (n) of out = silu(gate) * up, from dout (n)
static __global__ void ptk_swiglu_backward_kernel(float *dgate, float *dup, const float *dout, const float *gate,
                                           const float *up, size_t n) {
    PTK_FOR(i, n) {
        float g = gate[i], u = up[i], d = dout[i];
        float sg = 1.0f / (1.0f + expf(-g));
        dgate[i] = d * u * (sg + g * sg * (1.0f - sg));
        dup[i] = d * g * sg;
    }
}
static inline void ptk_swiglu_backward(cudaStream_t s, float *dgate, float *dup, const float *dout,
                                       const float *gate, const float *up, size_t n) {
    if (n)
        PT_LAUNCH(ptk_swiglu_backward_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, dgate, dup, dout, gate,
                  up, n);
}

// out (n) = gelu(inp), kind PT_GELU_ERF (0): x/2 (1 + erf(x/sqrt 2)), PT_GELU_TANH (1):
// x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), in float as the cpu backend computes it;
// out may alias inp
static __global__ void ptk_gelu_kernel(float *out, const float *inp, size_t n, int kind) {
    PTK_FOR(i, n) {
        float x = inp[i];
        out[i] = kind == 0 ? 0.5f * x * (1.0f + erff(x * 0.7071067812f))
                           : 0.5f * x * (1.0f + tanhf(0.7978845608f * (x + 0.044715f * x * x * x)));
    }
}
static inline void ptk_gelu(cudaStream_t s, float *out, const float *inp, size_t n, int kind) {
    if (n) PT_LAUNCH(ptk_gelu_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, out, inp, n, kind);
}

// dinp (n) = dout * gelu'(inp): erf 0.5 (1 + erf(x/sqrt 2)) + x phi(x); tanh 0.5 (1 + t) +
// 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2). dinp may alias dout
static __global__ void ptk_gelu_backward_kernel(float *dinp, const float *dout, const float *inp, size_t n, int kind) {
    PTK_FOR(i, n) {
        float x = inp[i], d;
        if (kind == 0) {
            d = 0.5f * (1.0f + erff(x * 0.7071067812f)) + x * expf(-0.5f * x * x) * 0.3989422804f;
        } else {
            const float k = 0.7978845608f;
            float t = tanhf(k * (x + 0.044715f * x * x * x));
            d = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * k * (1.0f + 3.0f * 0.044715f * x * x);
        }
        dinp[i] = dout[i] * d;
    }
}
static inline void ptk_gelu_backward(cudaStream_t s, float *dinp, const float *dout, const float *inp, size_t n,
                                     int kind) {
    if (n) PT_LAUNCH(ptk_gelu_backward_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, dinp, dout, inp, n, kind);
}

// out (n) = inp * keep * k, keep = (u01(seed, i) >= p), k = 1 / (1 - p) in
// float as the naive backend computes it; out may alias inp
static __global__ void ptk_dropout_kernel(float *out, const float *inp, size_t n, float p, float k, uint64_t seed) {
    PTK_FOR(i, n) out[i] = ptk_dropout_u01(seed, (uint64_t)i) >= p ? inp[i] * k : 0.0f;
}
static inline void ptk_dropout(cudaStream_t s, float *out, const float *inp, size_t n, float p, uint64_t seed) {
    float k = 1.0f / (1.0f - p);
    if (n) PT_LAUNCH(ptk_dropout_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, out, inp, n, p, k, seed);
}

// ---- embeddings ----

// out (N, C) = table[tokens[n]];  table (V, C) float32
static __global__ void ptk_embedding_kernel(float *__restrict__ out, const int32_t *__restrict__ tokens,
                                     const float *__restrict__ table, size_t n, int C) {
    PTK_FOR(i, n) {
        size_t row = i / (size_t)C, c = i % (size_t)C;
        out[i] = table[(size_t)tokens[row] * (size_t)C + c];
    }
}
static inline void ptk_embedding(cudaStream_t s, float *out, const int32_t *tokens, const float *table, int N,
                                 int C) {
    size_t n = (size_t)N * (size_t)C;
    if (n) PT_LAUNCH(ptk_embedding_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, out, tokens, table, n, C);
}

// out (N, C) = float(table[tokens[n]]);  table (V, C) bf16 bits
static __global__ void ptk_embedding_bf16_kernel(float *__restrict__ out, const int32_t *__restrict__ tokens,
                                          const uint16_t *__restrict__ table, size_t n, int C) {
    PTK_FOR(i, n) {
        size_t row = i / (size_t)C, c = i % (size_t)C;
        out[i] = ptk_bf16_value(table[(size_t)tokens[row] * (size_t)C + c]);
    }
}
static inline void ptk_embedding_bf16(cudaStream_t s, float *out, const int32_t *tokens, const uint16_t *table,
                                      int N, int C) {
    size_t n = (size_t)N * (size_t)C;
    if (n)
        PT_LAUNCH(ptk_embedding_bf16_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, out, tokens, table, n, C);
}

// dtable (V, C): row tokens[n] += dout (N, C) row n; rows may repeat (atomics,
// so the order of the additions to one row is not fixed)
static __global__ void ptk_embedding_backward_kernel(float *dtable, const float *__restrict__ dout,
                                              const int32_t *__restrict__ tokens, size_t n, int C) {
    PTK_FOR(i, n) {
        size_t row = i / (size_t)C, c = i % (size_t)C;
        atomicAdd(&dtable[(size_t)tokens[row] * (size_t)C + c], dout[i]);
    }
}
static inline void ptk_embedding_backward(cudaStream_t s, float *dtable, const float *dout, const int32_t *tokens,
                                          int N, int C) {
    size_t n = (size_t)N * (size_t)C;
    if (n)
        PT_LAUNCH(ptk_embedding_backward_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, dtable, dout, tokens,
                  n, C);
}

// ---- row-wise: rmsnorm, softmax, cross-entropy ----

// out (N, C) = inp / rms(inp) * weight;  weight (C). out may alias inp.
static __global__ void ptk_rmsnorm_kernel(float *out, const float *inp, const float *__restrict__ weight, int N, int C,
                                   float eps) {
    __shared__ float sh[32];
    PTK_FOR_ROWS(row, N) {
        const float *x = inp + (size_t)row * C;
        float *y = out + (size_t)row * C;
        float ss = 0.0f;
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x) ss += x[c] * x[c];
        ss = ptk_red_block_sum(ss, sh);
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x) y[c] = (x[c] * r) * weight[c];
    }
}
static inline void ptk_rmsnorm(cudaStream_t s, float *out, const float *inp, const float *weight, int N, int C,
                               float eps) {
    if (N > 0 && C > 0)
        PT_LAUNCH(ptk_rmsnorm_kernel, ptk_row_grid(N), ptk_row_threads(C), 0, s, out, inp, weight, N, C, eps);
}

// dinp (N, C) += r w dout - x r^3 / C * sum_c(dout_c w_c x_c), r = rms(inp)^-1
static __global__ void ptk_rmsnorm_backward_kernel(float *dinp, const float *dout, const float *inp,
                                            const float *__restrict__ weight, int N, int C, float eps) {
    __shared__ float sh[32];
    PTK_FOR_ROWS(row, N) {
        const float *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
        float *dx = dinp + (size_t)row * C;
        float ss = 0.0f, dot = 0.0f;
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x) {
            ss += x[c] * x[c];
            dot += dy[c] * weight[c] * x[c];
        }
        ss = ptk_red_block_sum(ss, sh);
        dot = ptk_red_block_sum(dot, sh);
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        float k = r * r * r / (float)C * dot;
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x) dx[c] += r * weight[c] * dy[c] - x[c] * k;
    }
}
static inline void ptk_rmsnorm_backward(cudaStream_t s, float *dinp, const float *dout, const float *inp,
                                        const float *weight, int N, int C, float eps) {
    if (N > 0 && C > 0)
        PT_LAUNCH(ptk_rmsnorm_backward_kernel, ptk_row_grid(N), ptk_row_threads(C), 0, s, dinp, dout, inp, weight, N,
                  C, eps);
}

// out (N, C) = (inp - mean) r * weight + bias, r = (var + eps)^-1/2 (biased variance,
// two passes over the row); bias may be NULL. out may alias inp.
static __global__ void ptk_layernorm_kernel(float *out, const float *inp, const float *__restrict__ weight,
                                            const float *__restrict__ bias, int N, int C, float eps) {
    __shared__ float sh[32];
    PTK_FOR_ROWS(row, N) {
        const float *x = inp + (size_t)row * C;
        float *y = out + (size_t)row * C;
        float sum = 0.0f, var = 0.0f;
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x) sum += x[c];
        float mean = ptk_red_block_sum(sum, sh) / (float)C;
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x) var += (x[c] - mean) * (x[c] - mean);
        float r = 1.0f / sqrtf(ptk_red_block_sum(var, sh) / (float)C + eps);
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x)
            y[c] = (x[c] - mean) * r * weight[c] + (bias ? bias[c] : 0.0f);
    }
}
static inline void ptk_layernorm(cudaStream_t s, float *out, const float *inp, const float *weight, const float *bias,
                                 int N, int C, float eps) {
    if (N > 0 && C > 0)
        PT_LAUNCH(ptk_layernorm_kernel, ptk_row_grid(N), ptk_row_threads(C), 0, s, out, inp, weight, bias, N, C, eps);
}

// dinp (N, C) += r (w dy - mean(w dy) - xh mean(w dy xh)), xh = (x - mean) r
static __global__ void ptk_layernorm_backward_kernel(float *dinp, const float *dout, const float *inp,
                                                     const float *__restrict__ weight, int N, int C, float eps) {
    __shared__ float sh[32];
    PTK_FOR_ROWS(row, N) {
        const float *x = inp + (size_t)row * C, *dy = dout + (size_t)row * C;
        float *dx = dinp + (size_t)row * C;
        float sum = 0.0f, var = 0.0f, m1 = 0.0f, m2 = 0.0f;
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x) sum += x[c];
        float mean = ptk_red_block_sum(sum, sh) / (float)C;
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x) var += (x[c] - mean) * (x[c] - mean);
        float r = 1.0f / sqrtf(ptk_red_block_sum(var, sh) / (float)C + eps);
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x) {
            float g = weight[c] * dy[c];
            m1 += g;
            m2 += g * (x[c] - mean) * r;
        }
        m1 = ptk_red_block_sum(m1, sh) / (float)C;
        m2 = ptk_red_block_sum(m2, sh) / (float)C;
        for (int c = (int)threadIdx.x; c < C; c += (int)blockDim.x)
            dx[c] += r * (weight[c] * dy[c] - m1 - (x[c] - mean) * r * m2);
    }
}
static inline void ptk_layernorm_backward(cudaStream_t s, float *dinp, const float *dout, const float *inp,
                                          const float *weight, int N, int C, float eps) {
    if (N > 0 && C > 0)
        PT_LAUNCH(ptk_layernorm_backward_kernel, ptk_row_grid(N), ptk_row_threads(C), 0, s, dinp, dout, inp, weight,
                  N, C, eps);
}

// out (N, V) = softmax of each row of inp (N, V); out may alias inp
static __global__ void ptk_softmax_kernel(float *out, const float *inp, int N, int V) {
    __shared__ float shm[32], shs[32];
    PTK_FOR_ROWS(row, N) {
        const float *x = inp + (size_t)row * V;
        float *y = out + (size_t)row * V;
        float mx, sum;
        ptk_red_max_sumexp(x, V, shm, shs, &mx, &sum);
        for (int v = (int)threadIdx.x; v < V; v += (int)blockDim.x) y[v] = expf(x[v] - mx) / sum;
    }
}
static inline void ptk_softmax(cudaStream_t s, float *out, const float *inp, int N, int V) {
    if (N > 0 && V > 0) PT_LAUNCH(ptk_softmax_kernel, ptk_row_grid(N), ptk_row_threads(V), 0, s, out, inp, N, V);
}

// Fused softmax cross-entropy, one block per row of logits (N, V), V up to
// a few 100k: for 0 <= targets[n] < V, losses[n] = -log softmax(row)[target]
// and the row becomes (softmax - onehot(target)) * gscale. Other targets
// (< 0: ignored rows; >= V: invalid, never read out of bounds): loss 0 and
// a zero row. The row is read twice (online max/sum, then the gradient).
static __global__ void ptk_cross_entropy_kernel(float *logits, float *__restrict__ losses,
                                         const int32_t *__restrict__ targets, int N, int V, float gscale) {
    __shared__ float shm[32], shs[32];
    PTK_FOR_ROWS(row, N) {
        float *x = logits + (size_t)row * V;
        int t = targets[row];
        if (t < 0 || t >= V) {
            for (int v = (int)threadIdx.x; v < V; v += (int)blockDim.x) x[v] = 0.0f;
            if (threadIdx.x == 0) losses[row] = 0.0f;
            continue;
        }
        float xt = x[t];  // read before the barriers in the reduction, so before any write
        float mx, sum;
        ptk_red_max_sumexp(x, V, shm, shs, &mx, &sum);
        if (threadIdx.x == 0) losses[row] = logf(sum) + mx - xt;
        for (int v = (int)threadIdx.x; v < V; v += (int)blockDim.x) {
            float g = expf(x[v] - mx) / sum * gscale;
            x[v] = v == t ? g - gscale : g;
        }
    }
}
static inline void ptk_cross_entropy(cudaStream_t s, float *logits, float *losses, const int32_t *targets, int N,
                                     int V, float gscale) {
    if (N > 0)
        PT_LAUNCH(ptk_cross_entropy_kernel, ptk_row_grid(N), ptk_row_threads(V), 0, s, logits, losses, targets, N, V,
                  gscale);
}

// ---- RoPE ----

// inv_freq (HD/2) = 1 / theta^(2i/HD), on the host in float32 exactly as
// backend_naive.c does: the GPU's powf may differ by an ulp, and at positions
// of 10^5 an ulp of inv_freq moves the angle by 10^-2. The backend uploads
// this table; angles are then pos * inv_freq in float32 on both sides.
static inline void ptk_rope_inv_freq(float *inv_freq, int HD, float theta) {
    for (int i = 0; i < HD / 2; i++) inv_freq[i] = 1.0f / powf(theta, (float)(2 * i) / (float)HD);
}

// in place on x (N, H*HD), HF rotate_half: pairs (i, i + HD/2) turned by
// pos[n] * inv_freq[i] (dir 1), or back (dir -1, the backward); pos (N)
static __global__ void ptk_rope_kernel(float *x, const int32_t *__restrict__ pos, const float *__restrict__ inv_freq,
                                int N, int H, int HD, float dir) {
    int half = HD / 2;
    size_t n = (size_t)N * (size_t)H * (size_t)half;
    PTK_FOR(j, n) {
        size_t nh = j / (size_t)half;
        int i = (int)(j % (size_t)half);
        float ang = (float)pos[nh / (size_t)H] * inv_freq[i];
        float c = cosf(ang), s = dir * sinf(ang);
        float *v = x + nh * (size_t)HD;
        float a = v[i], b = v[i + half];
        v[i] = a * c - b * s;
        v[i + half] = b * c + a * s;
    }
}
// rope with the table from ptk_rope_inv_freq(HD, theta)
static inline void ptk_rope(cudaStream_t s, float *x, const int32_t *pos, const float *inv_freq, int N, int H,
                            int HD) {
    size_t n = (size_t)N * (size_t)H * (size_t)(HD / 2);
    if (n) PT_LAUNCH(ptk_rope_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, x, pos, inv_freq, N, H, HD, 1.0f);
}
static inline void ptk_rope_backward(cudaStream_t s, float *dx, const int32_t *pos, const float *inv_freq, int N,
                                     int H, int HD) {
    size_t n = (size_t)N * (size_t)H * (size_t)(HD / 2);
    if (n)
        PT_LAUNCH(ptk_rope_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, dx, pos, inv_freq, N, H, HD, -1.0f);
}

// ---- optimizer ----

// partials (ptk_sumsq_blocks(n)) = per-block sums of x^2 over x (n), in
// double; the host adds them in order.
static inline unsigned ptk_sumsq_blocks(size_t n) {
    unsigned b = ptk_grid(n, PTK_THREADS);
    return b < PTK_SUMSQ_MAX_BLOCKS ? b : PTK_SUMSQ_MAX_BLOCKS;
}
static __global__ void ptk_sumsq_kernel(double *__restrict__ partials, const float *__restrict__ x, size_t n) {
    __shared__ double sh[32];
    double acc = 0.0;
    PTK_FOR(i, n) acc += (double)x[i] * (double)x[i];
    acc = ptk_red_block_sum_d(acc, sh);
    if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}
static inline void ptk_sumsq(cudaStream_t s, double *partials, const float *x, size_t n) {
    if (n) PT_LAUNCH(ptk_sumsq_kernel, ptk_sumsq_blocks(n), PTK_THREADS, 0, s, partials, x, n);
}

// pt_adamw_scalars of backend.h, field for field (this header stands alone)
typedef struct {
    float decay, w1, b2, w2, step_size, bc2s, eps;
} ptk_adamw_scalars;

// One AdamW step on p (n) from g (n), moments m, v (n): pt_adamw_elem's
// expression, each operation rounded as written
static __global__ void ptk_adamw_kernel(float *__restrict__ p, const float *__restrict__ g, float *__restrict__ m,
                                 float *__restrict__ v, size_t n, ptk_adamw_scalars sc) {
    PTK_FOR(i, n) {
        float pv = p[i], gv = g[i], mv = m[i], vv = v[i];
        float pd = ptk_mul_rn(pv, sc.decay);
        mv = ptk_add_rn(mv, ptk_mul_rn(sc.w1, ptk_sub_rn(gv, mv)));
        vv = ptk_add_rn(ptk_mul_rn(vv, sc.b2), ptk_mul_rn(ptk_mul_rn(sc.w2, gv), gv));
        float denom = ptk_add_rn(sqrtf(vv) / sc.bc2s, sc.eps);
        p[i] = ptk_sub_rn(pd, ptk_mul_rn(sc.step_size, mv / denom));
        m[i] = mv;
        v[i] = vv;
    }
}
static inline void ptk_adamw(cudaStream_t s, float *p, const float *g, float *m, float *v, size_t n,
                             ptk_adamw_scalars sc) {
    if (n) PT_LAUNCH(ptk_adamw_kernel, ptk_grid(n, PTK_THREADS), PTK_THREADS, 0, s, p, g, m, v, n, sc);
}

#endif
