// test_cuemu_selftest.cpp - proves the CPU emulator of CUDA (tests/cuemu/cuemu.h)
// right, with kernels written as for the GPU through cuda_compat.cuh: block
// reductions in static shared memory, warp shuffles (full, sub-width, partial
// warps), dynamic shared memory and its poison, 2D/3D indexing, atomics,
// bf16 rounding, tensor-core tiles (wmma: every layout pair, padded strides,
// accumulating into C, through shared memory); each against plain C++ loops.
// Data are small integers, so every sum is exact whatever the order and
// results compare with == (one wmma case also takes rounded random values,
// within 1e-6 of a double sum).
// Broken kernels (divergent barriers, deadlocks, bad masks) must abort with a
// "cuemu: ..." message rather than hang; each runs in a forked child.
// `test_cuemu_selftest --bench` also times 1000 blocks x 256 threads x 10
// barriers (2 busy vCPUs here: 6-7 s; see cuemu.h on the scheduling).
#include "cuda_compat.cuh"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <string>
#include <vector>

#include "check.h"

#define FULL 0xffffffffu

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// Small integers in [-8, 8] as floats: sums stay exact.
static std::vector<float> small_ints(size_t n, unsigned seed) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)((int)(seed >> 24) % 17 - 8);
    }
    return v;
}

// ---- Block reduction: static shared memory + __syncthreads ----------------
// partial[b] = sum of x[i] over the grid-stride indices of block b; blockDim.x a power of two.
static __global__ void __launch_bounds__(1024)
    block_sum_kernel(const float *__restrict__ x, float *__restrict__ partial, int n) {
    __shared__ float red[1024];
    float s = 0.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) s += x[i];
    red[threadIdx.x] = s;
    __syncthreads();
    for (unsigned stride = blockDim.x / 2; stride > 0; stride >>= 1) {
        if (threadIdx.x < stride) red[threadIdx.x] += red[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = red[0];
}

static inline void ptk_block_sum(cudaStream_t stream, const float *x, float *partial, int n, int grid, int block) {
    PT_LAUNCH(block_sum_kernel, grid, block, 0, stream, x, partial, n);
}

static void test_block_sum(void) {
    const int n = 10007;
    std::vector<float> x = small_ints(n, 1);
    const int shapes[][2] = {{7, 256}, {3, 1024}, {5, 64}, {4, 1}, {1, 32}};
    for (auto &sh : shapes) {
        int grid = sh[0], block = sh[1];
        std::vector<float> got(grid, NAN), want(grid, 0.0f);
        for (int i = 0; i < n; i++) want[(i / block) % grid] += x[i];
        ptk_block_sum(nullptr, x.data(), got.data(), n, grid, block);
        CHECK(cudaGetLastError() == cudaSuccess);
        int bad = 0;
        for (int b = 0; b < grid; b++) bad += got[b] != want[b];
        CHECKF(bad == 0, "block sum grid %d block %d: %d partials differ (first %g vs %g)", grid, block, bad, got[0],
               want[0]);
    }
}

// ---- Warp shuffles ---------------------------------------------------------
// Per element: the xor all-reduce and the shfl_down tree over its warp
// (out-of-range lanes keep their own value), padded lanes contributing 0.
static __global__ void warp_reduce_kernel(const float *x, float *xor_out, float *down_out, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float v = i < n ? x[i] : 0.0f;
    float a = v, d = v;
    for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(FULL, a, o);
    for (int o = 16; o > 0; o >>= 1) d += __shfl_down_sync(FULL, d, o);
    if (i < n) {
        xor_out[i] = a;
        down_out[i] = d;
    }
}

// Other types and sub-warp widths: out[i * 8 + k], see test_shuffles for the meaning of k.
static __global__ void shuffle_kinds_kernel(double *out) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    int lane = threadIdx.x % warpSize;
    double *o = out + (size_t)i * 8;
    o[0] = __shfl_sync(FULL, lane * 3 + (int)blockIdx.x, (lane + 5) % 32);   // rotate, int
    o[1] = __shfl_sync(FULL, 100u + (unsigned)lane, 7);                      // broadcast, unsigned
    o[2] = __shfl_xor_sync(FULL, 0.5 + lane, 3);                             // double
    o[3] = __shfl_xor_sync(FULL, (float)lane, 8, 16);                        // width 16
    o[4] = __shfl_down_sync(FULL, (float)lane, 4, 8);                        // width 8
    o[5] = __shfl_sync(FULL, (float)lane, 3, 8);                             // lane 3 of each 8
    o[6] = __shfl_sync(FULL, (float)lane, 35);                               // 35 % 32 = 3
    o[7] = __shfl_xor_sync(FULL, (float)lane, 20, 16);                       // lane ^ 20 in a later group: own
}

// A 48-thread block: warp 1 has 16 lanes.
static __global__ void partial_warp_kernel(float *sum_out, float *down_out) {
    unsigned t = threadIdx.x;
    float v = (float)(t + 1);
    float a = v;
    for (int o = 8; o > 0; o >>= 1) a += __shfl_xor_sync(FULL, a, o);   // stays within 16 lanes
    sum_out[t] = a;
    down_out[t] = __shfl_down_sync(FULL, v, 8);   // lanes 8..15 of warp 1 read absent lanes
}

static void test_shuffles(void) {
    const int n = 1000, block = 128, grid = (n + block - 1) / block;
    std::vector<float> x = small_ints(n, 2), got_xor(n, NAN), got_down(n, NAN);
    PT_LAUNCH(warp_reduce_kernel, grid, block, 0, 0, x.data(), got_xor.data(), got_down.data(), n);
    int bad_xor = 0, bad_down = 0;
    for (int w0 = 0; w0 < grid * block; w0 += 32) {
        float v[32], d[32];
        for (int l = 0; l < 32; l++) v[l] = d[l] = w0 + l < n ? x[w0 + l] : 0.0f;
        float sum = 0.0f;
        for (int l = 0; l < 32; l++) sum += v[l];
        for (int o = 16; o > 0; o >>= 1) {
            float nd[32];
            for (int l = 0; l < 32; l++) nd[l] = d[l] + (l + o < 32 ? d[l + o] : d[l]);
            memcpy(d, nd, sizeof d);
        }
        for (int l = 0; l < 32 && w0 + l < n; l++) {
            bad_xor += got_xor[w0 + l] != sum;
            bad_down += got_down[w0 + l] != d[l];
        }
    }
    CHECKF(bad_xor == 0, "__shfl_xor_sync all-reduce: %d wrong", bad_xor);
    CHECKF(bad_down == 0, "__shfl_down_sync tree: %d wrong", bad_down);

    const int kb = 64, kg = 2;
    std::vector<double> out((size_t)kb * kg * 8, NAN);
    PT_LAUNCH(shuffle_kinds_kernel, dim3(kg), dim3(kb), 0, 0, out.data());
    int bad[8] = {0};
    for (int i = 0; i < kb * kg; i++) {
        int lane = i % 32, b = i / kb;
        const double *o = &out[(size_t)i * 8];
        double want[8] = {
            (double)(((lane + 5) % 32) * 3 + b),
            107.0,
            0.5 + (lane ^ 3),
            (double)(lane ^ 8),
            (double)(lane % 8 + 4 < 8 ? lane + 4 : lane),
            (double)(lane / 8 * 8 + 3),
            3.0,
            (double)((lane ^ 20) < (lane / 16 + 1) * 16 ? lane ^ 20 : lane),
        };
        for (int k = 0; k < 8; k++) bad[k] += o[k] != want[k];
    }
    for (int k = 0; k < 8; k++) CHECKF(bad[k] == 0, "shuffle kind %d: %d wrong", k, bad[k]);

    std::vector<float> psum(48, NAN), pdown(48, NAN);
    PT_LAUNCH(partial_warp_kernel, 1, 48, 0, 0, psum.data(), pdown.data());
    int bad_p = 0;
    for (int t = 0; t < 48; t++) {
        int w0 = t / 32 * 32, g0 = t / 16 * 16;   // xor over offsets 8..1 sums a 16-lane group
        float want = 0.0f;
        for (int l = g0; l < g0 + 16; l++) want += (float)(l + 1);
        bad_p += psum[t] != want;
        int lane = t - w0;
        if (lane + 8 >= 32) bad_p += pdown[t] != (float)(t + 1);                  // own value
        else if (w0 + lane + 8 < 48) bad_p += pdown[t] != (float)(t + 8 + 1);   // real lane
        else bad_p += !isnan(pdown[t]);                                           // absent lane: poison
    }
    CHECKF(bad_p == 0, "partial warp: %d wrong", bad_p);
}

// ---- Dynamic shared memory -------------------------------------------------
// smem = 2 * blockDim.x floats. Counts reads of unwritten smem that are not
// NaN (must be 0 in every block) and blocks whose buffer is 16-byte aligned.
static __global__ void dyn_smem_kernel(float *out, int *not_poisoned, int *aligned) {
    PT_DYN_SMEM(float, buf);
    unsigned t = threadIdx.x, n = blockDim.x;
    if (!isnan(buf[t]) || !isnan(buf[n + t])) atomicAdd(not_poisoned, 1);
    if (t == 0 && ((uintptr_t)buf & 15) == 0) atomicAdd(aligned, 1);
    __syncthreads();   // everyone has looked before anyone writes
    buf[t] = (float)(blockIdx.x * 1000 + t);
    buf[n + t] = -(float)t;
    __syncthreads();
    out[blockIdx.x * n + t] = buf[n - 1 - t] + 10.0f * buf[2 * n - 1 - t];
}

static void test_dyn_smem(void) {
    const int grid = 5, block = 96;
    std::vector<float> out(grid * block, NAN);
    int not_poisoned = 0, aligned = 0;
    PT_LAUNCH(dyn_smem_kernel, grid, block, 2 * block * sizeof(float), 0, out.data(), &not_poisoned, &aligned);
    CHECKF(not_poisoned == 0, "%d threads read unwritten dynamic shared memory that was not NaN", not_poisoned);
    CHECKF(aligned == grid, "dynamic shared memory 16-byte aligned in %d of %d blocks", aligned, grid);
    int bad = 0;
    for (int b = 0; b < grid; b++)
        for (int t = 0; t < block; t++)
            bad += out[b * block + t] != (float)(b * 1000 + (block - 1 - t)) - 10.0f * (float)(block - 1 - t);
    CHECKF(bad == 0, "dynamic shared memory exchange: %d wrong", bad);
}

// ---- 2D / 3D indexing ------------------------------------------------------
// count[(z*H + y)*W + x] += 1 and who[...] = the writer's (block, thread)
// ids; order[block] = the rank in which the block ran (the emulator runs
// them in linear order, x fastest).
static __global__ void index3d_kernel(int *count, int *who, int *order, int *counter, int *dims, int W, int H, int D) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    int z = blockIdx.z * blockDim.z + threadIdx.z;
    int bid = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
    int tid = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
    if (tid == 0) order[bid] = atomicAdd(counter, 1);
    if (bid == 0 && tid == 0) {
        dims[0] = gridDim.x, dims[1] = gridDim.y, dims[2] = gridDim.z;
        dims[3] = blockDim.x, dims[4] = blockDim.y, dims[5] = blockDim.z;
    }
    if (x < W && y < H && z < D) {
        int e = (z * H + y) * W + x;
        atomicAdd(&count[e], 1);
        who[e] = bid * 4096 + tid;
    }
}

static void check_indexing(dim3 grid, dim3 block, int W, int H, int D) {
    size_t n = (size_t)W * H * D;
    int nblocks = (int)(grid.x * grid.y * grid.z), counter = 0;
    std::vector<int> count(n, 0), who(n, -1), dims(6, 0), order(nblocks, -1);
    PT_LAUNCH(index3d_kernel, grid, block, 0, 0, count.data(), who.data(), order.data(), &counter, dims.data(), W, H,
              D);
    int bad_order = 0;
    for (int b = 0; b < nblocks; b++) bad_order += order[b] != b;
    CHECKF(bad_order == 0, "%d blocks ran out of linear order", bad_order);
    int bad_count = 0, bad_who = 0;
    for (int z = 0; z < D; z++)
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                size_t e = ((size_t)z * H + y) * W + x;
                bad_count += count[e] != 1;
                int bid = (int)(((z / block.z) * grid.y + y / block.y) * grid.x + x / block.x);
                int tid = (int)(((z % block.z) * block.y + y % block.y) * block.x + x % block.x);
                bad_who += who[e] != bid * 4096 + tid;
            }
    CHECKF(bad_count == 0, "grid (%u,%u,%u) block (%u,%u,%u): %d elements not written exactly once", grid.x, grid.y,
           grid.z, block.x, block.y, block.z, bad_count);
    CHECKF(bad_who == 0, "grid (%u,%u,%u) block (%u,%u,%u): %d elements written by the wrong thread", grid.x, grid.y,
           grid.z, block.x, block.y, block.z, bad_who);
    CHECK(dims[0] == (int)grid.x && dims[1] == (int)grid.y && dims[2] == (int)grid.z);
    CHECK(dims[3] == (int)block.x && dims[4] == (int)block.y && dims[5] == (int)block.z);
}

static void test_indexing(void) {
    check_indexing(dim3(5, 7), dim3(16, 6), 5 * 16 - 3, 7 * 6 - 5, 1);   // 2D, 96 threads, ragged edges
    check_indexing(dim3(4, 6), dim3(8, 8), 4 * 8, 6 * 8, 1);             // 2D, exact fit
    check_indexing(dim3(3, 2, 4), dim3(7, 5, 3), 19, 9, 10);             // 3D, 105 threads: a partial warp
}

// ---- Atomics ---------------------------------------------------------------
// hist[b] = #{i: vals[i] == b} through a shared-memory histogram; whist[b] =
// sum of w over those i (global float atomics); *maxv = max(vals*7 % 101);
// tickets[i] = old counter value (a permutation of 0..n-1); *dsum += 0.5 each.
static __global__ void histogram_kernel(const int *vals, const float *w, int n, int nbins, int *hist, float *whist,
                                 int *maxv, int *counter, int *tickets, double *dsum) {
    __shared__ int local[64];
    for (int b = threadIdx.x; b < nbins; b += blockDim.x) local[b] = 0;
    __syncthreads();
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
        atomicAdd(&local[vals[i]], 1);
        atomicAdd(&whist[vals[i]], w[i]);
        atomicMax(maxv, vals[i] * 7 % 101);
        tickets[i] = atomicAdd(counter, 1);
        atomicAdd(dsum, 0.5);
    }
    __syncthreads();
    for (int b = threadIdx.x; b < nbins; b += blockDim.x) atomicAdd(&hist[b], local[b]);
}

static void test_atomics(void) {
    const int n = 20011, nbins = 37;
    std::vector<int> vals(n);
    std::vector<float> w = small_ints(n, 3);
    for (int i = 0; i < n; i++) vals[i] = (int)(((unsigned)i * 2654435761u) >> 7) % nbins;
    std::vector<int> hist(nbins, 0), tickets(n, -1), want_hist(nbins, 0);
    std::vector<float> whist(nbins, 0.0f), want_whist(nbins, 0.0f);
    int maxv = -1, counter = 0, want_max = -1;
    double dsum = 0.0;
    PT_LAUNCH(histogram_kernel, 6, 128, 0, 0, vals.data(), w.data(), n, nbins, hist.data(), whist.data(), &maxv,
              &counter, tickets.data(), &dsum);
    for (int i = 0; i < n; i++) {
        want_hist[vals[i]]++;
        want_whist[vals[i]] += w[i];
        want_max = vals[i] * 7 % 101 > want_max ? vals[i] * 7 % 101 : want_max;
    }
    int bad = 0;
    for (int b = 0; b < nbins; b++) bad += hist[b] != want_hist[b] || whist[b] != want_whist[b];
    CHECKF(bad == 0, "histogram: %d bins wrong", bad);
    CHECKF(maxv == want_max, "atomicMax %d, want %d", maxv, want_max);
    CHECKF(counter == n && dsum == 0.5 * n, "counter %d dsum %g, want %d and %g", counter, dsum, n, 0.5 * n);
    std::vector<int> seen(n, 0);
    int bad_t = 0;
    for (int i = 0; i < n; i++) bad_t += tickets[i] < 0 || tickets[i] >= n || seen[tickets[i]]++;
    CHECKF(bad_t == 0, "atomicAdd old values are not a permutation of 0..n-1 (%d bad)", bad_t);
}

// ---- bf16 ------------------------------------------------------------------
static __global__ void bf16_kernel(const float *in, __nv_bfloat16 *h, float *back, __nv_bfloat16 *h_rn, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        h[i] = __float2bfloat16(in[i]);
        h_rn[i] = __float2bfloat16_rn(in[i]);
        back[i] = __bfloat162float(h[i]);
    }
}

static float f_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static uint32_t u_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static uint16_t bits_of(__nv_bfloat16 h) {
    uint16_t b;
    memcpy(&b, &h, sizeof b);
    return b;
}

static void test_bf16(void) {
    // float bits -> bf16 bits, as cuda_bf16.hpp (host path) and cvt.rn.bf16.f32 give.
    static const uint32_t table[][2] = {
        {0x3f800000, 0x3f80},   // 1
        {0xbfc00000, 0xbfc0},   // -1.5
        {0x3f808000, 0x3f80},   // tie, even below: down
        {0x3f818000, 0x3f82},   // tie, odd below: up
        {0x3f808001, 0x3f81},   // above half: up
        {0x3f807fff, 0x3f80},   // below half: down
        {0xbf818000, 0xbf82},   // negative tie: away from zero to even
        {0x7f7fffff, 0x7f80},   // FLT_MAX rounds to +inf
        {0x7f7f8000, 0x7f80},   // tie at the top, odd below: +inf
        {0x7f7f7fff, 0x7f7f},   // largest finite bf16
        {0x7f800000, 0x7f80},   // +inf
        {0xff800000, 0xff80},   // -inf
        {0x7fc00000, 0x7fff},   // quiet NaN -> canonical
        {0xffc00001, 0x7fff},   // negative NaN -> canonical
        {0x7f800001, 0x7fff},   // signalling NaN -> canonical
        {0x7fffffff, 0x7fff},
        {0x00000000, 0x0000},   // +0
        {0x80000000, 0x8000},   // -0
        {0x00000001, 0x0000},   // smallest denormal: down
        {0x00008000, 0x0000},   // denormal tie, even: down
        {0x00018000, 0x0002},   // denormal tie, odd: up
        {0x00008001, 0x0001},
        {0x3e2aaaab, 0x3e2b},   // 1/6
    };
    const int n = (int)(sizeof table / sizeof table[0]);
    std::vector<float> in(n), back(n, 0.0f);
    std::vector<__nv_bfloat16> h(n), h_rn(n);
    for (int i = 0; i < n; i++) in[i] = f_of(table[i][0]);
    PT_LAUNCH(bf16_kernel, 1, 32, 0, 0, in.data(), h.data(), back.data(), h_rn.data(), n);
    for (int i = 0; i < n; i++) {
        uint16_t want = (uint16_t)table[i][1];
        CHECKF(bits_of(h[i]) == want && bits_of(h_rn[i]) == want, "bf16(0x%08x) = 0x%04x / rn 0x%04x, want 0x%04x",
               table[i][0], bits_of(h[i]), bits_of(h_rn[i]), want);
        CHECKF(u_of(back[i]) == (uint32_t)want << 16, "bf16 0x%04x back to float: 0x%08x", want, u_of(back[i]));
    }
    // Every bf16 value survives the round trip through float (NaNs become canonical).
    int bad = 0;
    for (uint32_t b = 0; b < 0x10000; b++) {
        __nv_bfloat16 x;
        uint16_t b16 = (uint16_t)b;
        memcpy((void *)&x, &b16, sizeof x);
        float f = __bfloat162float(x);
        uint16_t r = bits_of(__float2bfloat16(f));
        bad += isnan(f) ? r != 0x7fff : r != b16;
    }
    CHECKF(bad == 0, "bf16 round trip: %d of 65536 wrong", bad);
    // Random finite floats against the classic add-and-truncate formula.
    bad = 0;
    uint32_t s = 12345;
    for (int i = 0; i < 200000; i++) {
        s = s * 1664525u + 1013904223u;
        if ((s & 0x7fffffffu) > 0x7f800000u) continue;
        uint16_t want = (uint16_t)((s + 0x7fffu + ((s >> 16) & 1u)) >> 16);
        bad += bits_of(__float2bfloat16(f_of(s))) != want;
    }
    CHECKF(bad == 0, "bf16 of random floats: %d wrong", bad);
}

// ---- Math and min/max ------------------------------------------------------
static __global__ void math_kernel(float *out) {
    out[0] = __expf(1.0f);
    out[1] = __logf(8.0f);
    out[2] = __fdividef(1.0f, 4.0f);
    out[3] = rsqrtf(16.0f);
    out[4] = __frcp_rn(8.0f);
    out[5] = (float)min(3, -4) + (float)max(2u, 9u) + (float)max((size_t)5, (size_t)6) + (float)min(7LL, 8LL);
    out[6] = min(1.5f, NAN) + max(0.25, -1.0);
    out[7] = fmaxf(-INFINITY, 2.0f) + sqrtf(9.0f) + expf(0.0f) + logf(1.0f) + fabsf(-1.0f) + fminf(1.0f, 2.0f);
}

static void test_math(void) {
    std::vector<float> o(8, NAN);
    PT_LAUNCH(math_kernel, 1, 1, 0, 0, o.data());
    CHECK(check_close(o[0], 2.7182818f, 1e-6f, 1e-6f));
    CHECK(check_close(o[1], 2.0794415f, 1e-6f, 1e-6f));
    CHECK(o[2] == 0.25f && o[3] == 0.25f && o[4] == 0.125f);
    CHECKF(o[5] == -4.0f + 9.0f + 6.0f + 7.0f, "integer min/max: %g", o[5]);
    CHECKF(o[6] == 1.75f, "float min/max: %g", o[6]);
    CHECKF(o[7] == 2.0f + 3.0f + 1.0f + 0.0f + 1.0f + 1.0f, "math.h: %g", o[7]);
}

// ---- Tensor cores (wmma) ----------------------------------------------------
namespace wmma = nvcuda::wmma;

// C (M, N) = A (M, K) B (K, N), plus C's old contents when `accumulate`: one
// warp per 16x16 tile of C, operands straight from global memory. A row-major
// is (M, lda), col-major (K, lda) holding A^T; B likewise ((K, ldb) or
// (N, ldb)); C row-major (M, ldc) or col-major (N, ldc).
template <class LA, class LB>
static __global__ void wmma_gemm_kernel(float *C, const __nv_bfloat16 *A, const __nv_bfloat16 *B, int M, int N,
                                        int K, int lda, int ldb, int ldc, int accumulate, int c_col) {
    const bool acol = std::is_same<LA, wmma::col_major>::value, bcol = std::is_same<LB, wmma::col_major>::value;
    int warp = (int)((blockIdx.x * blockDim.x + threadIdx.x) / 32);
    int tm = warp / (N / 16), tn = warp % (N / 16);
    if (tm >= M / 16) return;   // the whole warp
    wmma::layout_t cl = c_col ? wmma::mem_col_major : wmma::mem_row_major;
    float *c = C + (c_col ? tn * 16 * ldc + tm * 16 : tm * 16 * ldc + tn * 16);
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    if (accumulate) wmma::load_matrix_sync(acc, c, (unsigned)ldc, cl);
    else wmma::fill_fragment(acc, 0.0f);
    for (int k0 = 0; k0 < K; k0 += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, LA> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, LB> b;
        wmma::load_matrix_sync(a, A + (acol ? k0 * lda + tm * 16 : tm * 16 * lda + k0), (unsigned)lda);
        wmma::load_matrix_sync(b, B + (bcol ? tn * 16 * ldb + k0 : k0 * ldb + tn * 16), (unsigned)ldb);
        wmma::mma_sync(acc, a, b, acc);
    }
    wmma::store_matrix_sync(c, acc, (unsigned)ldc, cl);
}

// n elements of T, 32-byte aligned (as wmma needs), zeroed.
template <class T> struct abuf {
    T *p;
    explicit abuf(size_t n) : p((T *)aligned_alloc(32, (n * sizeof(T) + 31) / 32 * 32)) {
        memset((void *)p, 0, n * sizeof(T));
    }
    ~abuf() { free(p); }
    abuf(const abuf &) = delete;
    abuf &operator=(const abuf &) = delete;
};

// One GEMM shape and layout against a double loop. ints: small integers, so
// every sum is exact and must match exactly; else values in [-1, 1] rounded
// to bf16, within 1e-6 of sum |a b| (float accumulation).
template <class LA, class LB>
static void check_wmma_gemm(int M, int N, int K, int pad, bool accumulate, bool c_col, bool ints) {
    const bool acol = std::is_same<LA, wmma::col_major>::value, bcol = std::is_same<LB, wmma::col_major>::value;
    int lda = (acol ? M : K) + pad, ldb = (bcol ? K : N) + pad, ldc = (c_col ? M : N) + pad / 2;
    size_t na = (size_t)(acol ? K : M) * lda, nb = (size_t)(bcol ? N : K) * ldb, nc = (size_t)(c_col ? N : M) * ldc;
    abuf<__nv_bfloat16> A(na), B(nb);
    abuf<float> C(nc);
    std::vector<float> ia = small_ints(na, 11), ib = small_ints(nb, 12), ic = small_ints(nc, 13);
    uint32_t s = 99;
    auto val = [&](float small) {
        if (ints) return small;
        s = s * 1664525u + 1013904223u;
        return __bfloat162float(__float2bfloat16((float)(s >> 8) / (float)(1u << 23) - 1.0f));
    };
    for (size_t i = 0; i < na; i++) A.p[i] = __float2bfloat16(val(ia[i]));
    for (size_t i = 0; i < nb; i++) B.p[i] = __float2bfloat16(val(ib[i]));
    for (size_t i = 0; i < nc; i++) C.p[i] = val(ic[i]);
    std::vector<float> c0(C.p, C.p + nc);
    auto a_at = [&](int i, int k) { return (double)__bfloat162float(A.p[acol ? k * lda + i : i * lda + k]); };
    auto b_at = [&](int k, int j) { return (double)__bfloat162float(B.p[bcol ? j * ldb + k : k * ldb + j]); };
    auto c_ix = [&](int i, int j) { return c_col ? j * ldc + i : i * ldc + j; };
    int warps = (M / 16) * (N / 16), block = 64;
    PT_LAUNCH((wmma_gemm_kernel<LA, LB>), (warps * 32 + block - 1) / block, block, 0, 0, C.p, A.p, B.p, M, N, K, lda,
              ldb, ldc, (int)accumulate, (int)c_col);
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double want = accumulate ? c0[c_ix(i, j)] : 0.0, mag = fabs(want);
            for (int k = 0; k < K; k++) {
                want += a_at(i, k) * b_at(k, j);
                mag += fabs(a_at(i, k) * b_at(k, j));
            }
            double got = C.p[c_ix(i, j)], err = fabs(got - want);
            if (!(ints ? got == want : err <= 1e-6 * mag)) bad++;
            if (mag > 0 && err / mag > worst) worst = err / mag;
        }
    // padding of C (beyond the tile columns or rows) is untouched
    int bad_pad = 0;
    for (int r = 0; r < (c_col ? N : M); r++)
        for (int c = c_col ? M : N; c < ldc; c++) bad_pad += C.p[(size_t)r * ldc + c] != c0[(size_t)r * ldc + c];
    CHECKF(bad == 0 && bad_pad == 0,
           "wmma %dx%dx%d A %s B %s C %s lda %d ldb %d ldc %d acc %d ints %d: %d wrong (worst rel %g), %d padding "
           "written",
           M, N, K, acol ? "col" : "row", bcol ? "col" : "row", c_col ? "col" : "row", lda, ldb, ldc, (int)accumulate,
           (int)ints, bad, worst, bad_pad);
}

// Shared memory: each warp of a 64-thread block writes A (row-major) and B^T
// (so B col-major) into static shared memory with ldm 24, multiplies them,
// stores C to shared memory (ldm 20) and, after __syncwarp, each lane reads
// the elements another lane wrote; then lane 0 overwrites C[0][0] and after
// __syncwarp every lane must see the new value (the store wrote once).
// in: A then B, 256 floats each per warp; out: 256 (+ 32) floats per warp.
struct alignas(32) sm_tiles {
    __nv_bfloat16 a[2][16 * 24], b[2][16 * 24];
    float c[2][16 * 20];
};
static __global__ void wmma_smem_kernel(const float *in, float *out) {
    __shared__ sm_tiles t;
    const int w = (int)threadIdx.x / 32, lane = (int)threadIdx.x % 32;
    const float *a = in + w * 512, *b = a + 256;
    for (int e = lane; e < 256; e += 32) {
        int r = e / 16, c = e % 16;
        t.a[w][r * 24 + c] = __float2bfloat16(a[e]);       // A (r, c)
        t.b[w][c * 24 + r] = __float2bfloat16(b[e]);       // B (r, c) stored column-major
    }
    __syncwarp();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::load_matrix_sync(fa, t.a[w], 24);
    wmma::load_matrix_sync(fb, t.b[w], 24);
    wmma::fill_fragment(fc, 0.5f);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(t.c[w], fc, 20, wmma::mem_row_major);
    __syncwarp();
    float *o = out + w * 288;
    for (int e = lane; e < 256; e += 32) {
        int f = 255 - e;   // another lane's share
        o[f] = t.c[w][f / 16 * 20 + f % 16];
    }
    __syncwarp();
    if (lane == 0) t.c[w][0] = 1000.0f;
    __syncwarp();
    o[256 + lane] = t.c[w][0];
}

static void test_wmma(void) {
    // every layout pair, exact small-integer products, padded strides, accumulate into C
    check_wmma_gemm<wmma::row_major, wmma::row_major>(48, 32, 64, 8, false, false, true);
    check_wmma_gemm<wmma::row_major, wmma::col_major>(32, 48, 32, 16, true, false, true);
    check_wmma_gemm<wmma::col_major, wmma::row_major>(16, 64, 48, 8, true, true, true);
    check_wmma_gemm<wmma::col_major, wmma::col_major>(64, 16, 16, 24, false, true, true);
    check_wmma_gemm<wmma::row_major, wmma::col_major>(16, 16, 16, 0, true, false, true);   // ldm exactly 16
    // rounded random values: float accumulation
    check_wmma_gemm<wmma::row_major, wmma::col_major>(32, 32, 128, 8, true, false, false);
    check_wmma_gemm<wmma::col_major, wmma::row_major>(48, 16, 64, 8, false, true, false);

    std::vector<float> in = small_ints(1024, 21), out(576, NAN);
    PT_LAUNCH(wmma_smem_kernel, 1, 64, 0, 0, in.data(), out.data());
    int bad = 0;
    for (int w = 0; w < 2; w++) {
        const float *a = &in[w * 512], *b = a + 256, *o = &out[w * 288];
        for (int i = 0; i < 16; i++)
            for (int j = 0; j < 16; j++) {
                float want = 0.5f;
                for (int k = 0; k < 16; k++) want += a[i * 16 + k] * b[k * 16 + j];
                bad += o[i * 16 + j] != want;
            }
        for (int l = 0; l < 32; l++) bad += o[256 + l] != 1000.0f;
    }
    CHECKF(bad == 0, "wmma through shared memory: %d wrong", bad);
}

// ---- Broken kernels must abort, not hang ------------------------------------
// Block (2,0,0), thread 5 returns before the barrier the others reach.
static __global__ void early_return_kernel(int *sink) {
    if (blockIdx.x == 2 && threadIdx.x == 5) return;
    __syncthreads();
    atomicAdd(sink, 1);
}
// Block (1,0,0), thread 0 returns late, after thread 1 waits (given two
// CPUs; on one, thread 1 arrives after the return: the same message).
static __global__ void late_return_kernel(int *sink) {
    if (blockIdx.x == 1 && threadIdx.x == 0) {
        usleep(50000);
        return;
    }
    __syncthreads();
    atomicAdd(sink, 1);
}
// Lane 3 leaves before a shuffle.
static __global__ void shuffle_divergence_kernel(float *out) {
    if (threadIdx.x == 3) return;
    out[threadIdx.x] = __shfl_xor_sync(FULL, 1.0f, 1);
}
// Thread 0 waits at __syncthreads while the rest of its warp waits at
// __syncwarp: nobody can move.
static __global__ void mixed_barrier_kernel(int *sink) {
    if (threadIdx.x != 0) __syncwarp();
    __syncthreads();
    atomicAdd(sink, 1);
}
static __global__ void half_mask_kernel(float *out) { out[threadIdx.x] = __shfl_xor_sync(0x0000ffffu, 1.0f, 1); }

// wmma misuse (how): 0 lane 5 returns before mma_sync; 1 a pointer 16 bytes
// off; 2 ldm 20 bf16; 3 lanes 16..31 pass another pointer; 4 a 48-thread
// block (partial warp); 5 lane 5 skips mma_sync (and meets the others'
// mma_sync with its store_matrix_sync).
struct alignas(32) bad_tiles {
    __nv_bfloat16 h[64 * 32];
};
static __global__ void wmma_misuse_kernel(float *out, int how) {
    __shared__ bad_tiles t;
    for (int e = (int)threadIdx.x; e < 64 * 32; e += (int)blockDim.x) t.h[e] = __float2bfloat16(1.0f);
    __syncthreads();
    const int lane = (int)threadIdx.x % 32;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> b;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
    wmma::fill_fragment(c, 0.0f);
    const __nv_bfloat16 *pa = t.h;
    unsigned lda = 32;
    if (how == 1) pa = t.h + 8;
    if (how == 2) lda = 20;
    if (how == 3 && lane >= 16) pa = t.h + 16 * 32;
    wmma::load_matrix_sync(a, pa, lda);
    wmma::load_matrix_sync(b, t.h, 32);
    if (how == 0 && lane == 5) return;
    if (how != 5 || lane != 5) wmma::mma_sync(c, a, b, c);
    wmma::store_matrix_sync(out + threadIdx.x / 32 * 256, c, 16, wmma::mem_row_major);
}
static float g_wmma_out[512] __attribute__((aligned(32)));
static void run_wmma_skip(void) { PT_LAUNCH(wmma_misuse_kernel, 1, 32, 0, 0, g_wmma_out, 0); }
static void run_wmma_misaligned(void) { PT_LAUNCH(wmma_misuse_kernel, 1, 32, 0, 0, g_wmma_out, 1); }
static void run_wmma_bad_ldm(void) { PT_LAUNCH(wmma_misuse_kernel, 1, 32, 0, 0, g_wmma_out, 2); }
static void run_wmma_lane_pointer(void) { PT_LAUNCH(wmma_misuse_kernel, 1, 32, 0, 0, g_wmma_out, 3); }
static void run_wmma_partial_warp(void) { PT_LAUNCH(wmma_misuse_kernel, 1, 48, 0, 0, g_wmma_out, 4); }
static void run_wmma_skip_call(void) { PT_LAUNCH(wmma_misuse_kernel, 1, 32, 0, 0, g_wmma_out, 5); }

static int g_sink;
static float g_out[64];
static void run_early_return(void) { PT_LAUNCH(early_return_kernel, 3, 64, 0, 0, &g_sink); }
static void run_late_return(void) { PT_LAUNCH(late_return_kernel, 2, 2, 0, 0, &g_sink); }
static void run_shuffle_divergence(void) { PT_LAUNCH(shuffle_divergence_kernel, 1, 32, 0, 0, g_out); }
static void run_mixed_barrier(void) { PT_LAUNCH(mixed_barrier_kernel, 1, 64, 0, 0, &g_sink); }
static void run_half_mask(void) { PT_LAUNCH(half_mask_kernel, 1, 32, 0, 0, g_out); }
static void run_bad_block(void) { PT_LAUNCH(early_return_kernel, 1, dim3(64, 32), 0, 0, &g_sink); }
#if defined(__SANITIZE_ADDRESS__)
// Reads one float past the dynamic shared memory it was given.
static __global__ void smem_overflow_kernel(float *out) {
    PT_DYN_SMEM(float, buf);
    buf[threadIdx.x] = 1.0f;
    __syncthreads();
    out[threadIdx.x] = buf[threadIdx.x + 1];
}
static void run_smem_overflow(void) { PT_LAUNCH(smem_overflow_kernel, 1, 32, 32 * sizeof(float), 0, g_out); }
#endif

// Runs fn in a child with stderr captured; it must die of SIGABRT (the
// emulator's checks) or, with any_failure, fail in any way (AddressSanitizer
// exits with 1) within 20 s, and its stderr must contain `needle`.
static void expect_abort(const char *what, void (*fn)(void), const char *needle, bool any_failure = false) {
    fflush(stdout);
    fflush(stderr);
    int fds[2];
    if (pipe(fds) != 0) {
        CHECKF(0, "%s: pipe failed", what);
        return;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], 2);
        alarm(20);   // a hang ends as SIGALRM, and the test fails
        fn();
        _exit(0);
    }
    close(fds[1]);
    std::string err;
    char buf[512];
    ssize_t k;
    while ((k = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, (size_t)k);
    close(fds[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    bool aborted = WIFSIGNALED(st) ? WTERMSIG(st) == SIGABRT || (any_failure && WTERMSIG(st) != SIGALRM)
                                   : any_failure && WEXITSTATUS(st) != 0;
    CHECKF(aborted, "%s: child %s %d, stderr: %s", what, WIFSIGNALED(st) ? "killed by signal" : "exited with",
           WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), err.c_str());
    CHECKF(err.find(needle) != std::string::npos, "%s: stderr lacks \"%s\": %s", what, needle, err.c_str());
    if (aborted) printf("  %s -> %s", what, any_failure ? "failed as it should\n" : err.c_str());
}

static void test_broken_kernels(void) {
    expect_abort("thread returns before __syncthreads", run_early_return,
                 "cuemu: __syncthreads divergence in block (2,0,0)");
    expect_abort("thread returns while others wait", run_late_return,
                 "cuemu: __syncthreads divergence in block (1,0,0)");
    expect_abort("lane returns before a shuffle", run_shuffle_divergence, "divergence in block (0,0,0)");
    expect_abort("__syncthreads against __syncwarp", run_mixed_barrier, "cuemu: deadlock in block (0,0,0)");
    expect_abort("partial mask", run_half_mask, "mask 0x0000ffff");
    expect_abort("2048-thread block", run_bad_block, "invalid block (64,32,1)");
    expect_abort("a lane returns before mma_sync", run_wmma_skip, "divergence in block (0,0,0)");
    expect_abort("a lane skips mma_sync", run_wmma_skip_call, "different wmma calls");
    expect_abort("wmma pointer 16 bytes off", run_wmma_misaligned, "is not 32-byte (256-bit) aligned");
    expect_abort("wmma bf16 ldm 20", run_wmma_bad_ldm, "ldm 20 is not a multiple of 8 elements");
    expect_abort("wmma pointer differs by lane", run_wmma_lane_pointer, "different pointers");
    expect_abort("wmma in a partial warp", run_wmma_partial_warp, "fewer than 32 lanes");
#if defined(__SANITIZE_ADDRESS__)
    expect_abort("read past dynamic shared memory", run_smem_overflow, "heap-buffer-overflow", true);
#endif
}

// ---- Speed -----------------------------------------------------------------
// 10 barriers per block; s is double-buffered so a write never races a read.
static __global__ void barrier_bench_kernel(float *out) {
    __shared__ float s[2][1024];
    float v = (float)threadIdx.x;
    for (int i = 0; i < 10; i++) {
        s[i & 1][threadIdx.x] = v;
        __syncthreads();
        v += s[i & 1][(threadIdx.x + 1) % blockDim.x];
    }
    if (threadIdx.x == 0) out[blockIdx.x] = v;
}

static void bench(int blocks, int threads) {
    std::vector<float> out(blocks, NAN);
    double t0 = now_s();
    PT_LAUNCH(barrier_bench_kernel, blocks, threads, 0, 0, out.data());
    double dt = now_s() - t0;
    // v_i = v_{i-1} + v_{i-1} of the next thread: after 10 rounds thread 0 holds sum_k C(10,k) * k
    double want = 0.0, c = 1.0;
    for (int k = 0; k <= 10; k++) {
        want += c * (k % threads);
        c = c * (10 - k) / (k + 1);
    }
    int bad = 0;
    for (int b = 0; b < blocks; b++) bad += out[b] != (float)want;
    CHECKF(bad == 0, "barrier bench: %d blocks wrong (%g, want %g)", bad, out[0], want);
    printf("  %d blocks x %d threads x 10 barriers: %.2f s\n", blocks, threads, dt);
}

int main(int argc, char **argv) {
    test_block_sum();
    test_shuffles();
    test_dyn_smem();
    test_indexing();
    test_atomics();
    test_bf16();
    test_math();
    test_wmma();
    test_broken_kernels();
    bench(50, 256);
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) {
        bench(1000, 256);
        bench(20, 1024);
    }
    return check_report("test_cuemu_selftest");
}
