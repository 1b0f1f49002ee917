// attention.cuh - fused, memory-efficient causal attention for the "cuda"
// backend: the forward over the KV cache (prefill, training, decode) and its
// backward, FlashAttention-2 style, written only with what cuda_compat.cuh
// allows. Launchers ptk_attention / ptk_attention_backward do nothing but
// PT_LAUNCH, so tests/cuemu runs the same kernels on the CPU.
//
// Letters as in backend.h: N new queries, T keys (cache rows), NH query heads,
// NKV kv heads, HD head dim (at most 512), group = NH / NKV; query head
// h reads kv head h / group. A "row" is one (query, head) pair; the kernels
// walk the rows of one kv head in the order (n, h % group), so one tile of
// keys in shared memory serves every query head of the group.
//
// Method (never a T x T matrix): a block holds a tile of query rows, streams
// tiles of keys and values through shared memory and keeps the softmax
// online in fp32 (running max m and sum l per row). Within a warp a lane owns
// one key of the tile (or a 1/LPK share of its dot product when HD is large)
// for the scores, and DPL output dims for the products with V. Head dims are
// padded with zeros to HDP = 32 * DPL >= HD (DPL 1, 2, 4, 8 or 16), so
// every loop has a compile-time trip count; HD 64 and 128 with 16-byte
// aligned buffers take the FULL instances (vector loads, no masks), any other
// HD the masked ones. Masked scores are -INFINITY, and a row with no key
// yet uses 0 as its reference max, so a fully masked tile gives p = 0 and
// alpha = 0, never exp(-inf - -inf) = NaN.
//
// Forward: grid (query-row tiles, NKV, splits). Calls of at most
// PTK_ATT_SPLIT_MAXN queries (decode, short chunks) split the keys across
// blocks (flash-decoding) so that even NH = 9 heads fill the GPU; each split
// writes its unnormalised output with its m and l to scratch, and a small
// combine kernel merges them. Calls with few rows use one row per warp.
//
// Backward (one causal sequence, no cache, no window), three kernels:
//   1. rows (LSE mode): L = m + log l of every row and D = rowsum(dout * out)
//      into scratch (2 * T * NH floats);
//   2. dkdv: a block per (key tile, kv head) keeps dK, dV of its keys in
//      registers and walks every query tile at or after the keys, for each
//      query head of the group: P = exp(S - L), dS = P * (dP - D); no atomics.
//   3. rows (DQ mode): a block per (query-row tile, kv head) walks the key
//      tiles up to its rows and accumulates dQ = scale * dS K. A separate pass
//      (it recomputes S and dP once more, ~40% more arithmetic than one fused
//      pass) instead of atomicAdd into dq: the result is deterministic run to
//      run, dq needs no zeroing, and nothing contends on fp32 atomics.
//
// Tensor cores (HD 64 and 128, the real models). On an H100 these fp32
// CUDA-core kernels would be the slowest part of LoRA training (at seq 2048
// attention is ~6% of Llama-2-7B's FLOPs but ~20x slower per FLOP than the
// bf16 cuBLAS GEMMs around it), so calls with N >= PTK_ATC_MINN (17) queries
// (the backward: tokens), HD 64 or 128 and 16-byte aligned buffers take
// tensor-core instances (ptk_attention_uses_tc): the forward for query tiles
// (training, prefill; any pos0, window, GQA) and all three backward kernels,
// with S = Q K^T, O += P V, dP = dO V^T, dV += P^T dO, dK += dS^T Q and dQ +=
// dS K through nvcuda::wmma (bf16 16x16x16, fp32 accumulators); see "tensor-
// core instances" below. Decode and short calls (split-K), other HD and
// unaligned buffers keep the fp32 kernels unchanged. Expected speed-up over
// the fp32 kernels: 4-8x forward and backward at T = 2048, HD 128 (an
// estimate from the instruction mix, not yet measured: mma.sync peaks ~15x
// the fp32 FMA rate, and these kernels also convert fp32 tiles to bf16 as
// they load them, stage elementwise work through shared memory and use
// 32-key tiles to stay within 48 KB).
//
// Precision. fp32 kernels: fp32 throughout (tests: 1e-5 against the naive
// oracle). Tensor cores: Q, K, V and P (backward also dO, P^T and dS) are
// rounded to bf16, unit roundoff u = 2^-9; their products are exact and
// summed in fp32, and the softmax, L, D and every elementwise step stay
// fp32. A score is then off by at most 2u scale sum_d |q_d k_d|, a weight or
// a value by u relative. Taking the roundings as independent, an output's
// normalised error is about E = sqrt(es^2 + (4/3) u^2), es = u scale
// sqrt((2/3) HD mean(q^2) mean(k^2)) the rms score error: E = 3e-3 for |q|,
// |k| <= 2 and |v| <= 1 at any HD; the backward's is ~1.6 E (dS = P (dP - D)
// cancels). Tests hold the forward to 3 E and the backward to 4 E (about
// 1e-2), and the kernels to a double model of exactly these roundings at
// 2e-4 (tests/test_cuemu_attention.cpp).
//
// ALiBi (alibi 1: BLOOM, MPT): every kernel adds slope_h * (j - i) to the
// scaled score of query position i with key j, slope_h = pt_alibi_slope(h,
// NH) from backend.h (the one definition every backend uses), after the
// product and before the mask and the softmax; the backward recomputes the
// same biased scores. The bias is fp32 on both paths (the tensor cores'
// contract is unchanged: it rounds no operand).
//
// Shared memory is static and within 48 KB per block for every instance (the
// static_asserts), so the host raises no limit.
#ifndef PT_ATTENTION_CUH
#define PT_ATTENTION_CUH

#include "cuda_compat.cuh"

#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "backend/backend.h"  // pt_alibi_slope
}

#define PTK_ATT_WARPS 4
#define PTK_ATT_THREADS (32 * PTK_ATT_WARPS)
#define PTK_ATT_MAX_HD 512          // larger HD: the launchers write nothing
#define PTK_ATT_SPLIT_MAXN 16       // forward calls of at most this many queries may split keys
#define PTK_ATT_SPLIT_KEYS 64       // at least this many keys (two tiles) per split
#define PTK_ATT_SPLIT_MAX 64        // at most this many splits
#define PTK_ATT_SPLIT_FLOATS 8192   // and splits * HD at most this
#define PTK_ATT_TARGET_BLOCKS 256   // splits stop adding blocks past this (about 2 per SM)

#ifdef PT_CUEMU
#define PTK_ATT_UNROLL
#else
#define PTK_ATT_UNROLL _Pragma("unroll")
#endif

// V consecutive floats, aligned to their size (one vector load or store).
template <int V>
struct alignas(4 * V) ptk_vec {
    float v[V];
};

template <int V>
__device__ __forceinline__ ptk_vec<V> ptk_ldv(const float *p) {
    return *reinterpret_cast<const ptk_vec<V> *>(p);
}
template <int V>
__device__ __forceinline__ void ptk_stv(float *p, const ptk_vec<V> &x) {
    *reinterpret_cast<ptk_vec<V> *>(p) = x;
}
__host__ __device__ __forceinline__ int ptk_att_min(int a, int b) { return a < b ? a : b; }
__host__ __device__ __forceinline__ int ptk_att_max(int a, int b) { return a > b ? a : b; }

__device__ __forceinline__ float ptk_warp_max(float x) {
    for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
    return x;
}
__device__ __forceinline__ float ptk_warp_sum(float x) {
    for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
// Sum over the LPK consecutive lanes that share one dot product.
template <int LPK>
__device__ __forceinline__ float ptk_lane_sum(float x) {
    PTK_ATT_UNROLL
    for (int o = 1; o < LPK; o <<= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
    return x;
}
__device__ __forceinline__ float ptk_dot4(const ptk_vec<4> &a, const ptk_vec<4> &b, float acc) {
    acc = fmaf(a.v[0], b.v[0], acc);
    acc = fmaf(a.v[1], b.v[1], acc);
    acc = fmaf(a.v[2], b.v[2], acc);
    return fmaf(a.v[3], b.v[3], acc);
}

// dst (rows, STR) in shared memory = mul * the HD floats at src(r) for each
// row r (zero where src(r) is NULL and for dims HD..HDP-1). FULL: HD == HDP
// and every src(r) 16-byte aligned. All threads of the block call it.
template <int HDP, int STR, bool FULL, typename F>
__device__ __forceinline__ void ptk_att_load(float *dst, int rows, F src, int HD, float mul) {
    if (FULL) {
        const int per = HDP / 4;
        for (int i = threadIdx.x; i < rows * per; i += PTK_ATT_THREADS) {
            int r = i / per, c = (i - r * per) * 4;
            const float *p = src(r);
            ptk_vec<4> x = {{0.0f, 0.0f, 0.0f, 0.0f}};
            if (p) {
                x = ptk_ldv<4>(p + c);
                for (int e = 0; e < 4; e++) x.v[e] *= mul;
            }
            ptk_stv<4>(dst + r * STR + c, x);
        }
    } else {
        for (int i = threadIdx.x; i < rows * HDP; i += PTK_ATT_THREADS) {
            int r = i / HDP, c = i - r * HDP;
            const float *p = src(r);
            dst[r * STR + c] = p && c < HD ? p[c] * mul : 0.0f;
        }
    }
}

// ---- the row kernel: forward, L/D for the backward, dQ ----

enum { PTK_ATT_FWD = 0, PTK_ATT_LSE = 1, PTK_ATT_DQ = 2 };

// Shared-memory plan (floats) of the row kernel: R rows per warp.
template <int DPL, int MODE, int R>
struct ptk_att_cfg {
    static constexpr int HDP = 32 * DPL;
    // lanes per key: big heads split each dot product so a key tile stays small
    static constexpr int LPK = MODE == PTK_ATT_DQ ? (DPL <= 2 ? 1 : DPL / 2) : (DPL <= 4 ? 1 : DPL / 4);
    static constexpr int BK = 32 / LPK;          // keys per tile
    static constexpr int KSTR = HDP + 4 * LPK;   // padded K/V row: conflict-free per-lane rows
    static constexpr int ROWS = PTK_ATT_WARPS * R;
    static constexpr int VEC = DPL < 4 ? DPL : 4; // a lane's output dims: DPL/VEC runs of VEC
    static constexpr int Q_OFF = 0;                                     // Q rows (ROWS, HDP), scaled
    static constexpr int DO_OFF = ROWS * HDP;                           // DQ: dout rows (ROWS, HDP)
    static constexpr int K_OFF = DO_OFF + (MODE == PTK_ATT_DQ ? ROWS * HDP : 0);  // (BK, KSTR)
    static constexpr int V_OFF = K_OFF + BK * KSTR;                     // (BK, KSTR), not in LSE
    static constexpr int P_OFF = V_OFF + (MODE == PTK_ATT_LSE ? 0 : BK * KSTR);   // (WARPS, R, BK)
    static constexpr int FLOATS = P_OFF + ROWS * BK;
    static_assert(FLOATS % 4 == 0 && FLOATS * 4 <= 48 * 1024, "attention tile exceeds 48 KB of shared memory");
};

struct ptk_att_args {
    float *out;          // FWD: out (N, NH*HD), or with splits > 1 partials (splits, N*NH, HD+2)
                         // LSE: L (N*NH) then D (N*NH);  DQ: dq (N, NH*HD)
    const float *q;      // (N, NH*HD)
    const float *k, *v;  // (pos0+N, NKV*HD)
    const float *dout;   // LSE, DQ: (N, NH*HD)
    const float *o;      // LSE: the forward's out (N, NH*HD)
    const float *lse;    // DQ: L then D, as LSE wrote them
    int N, pos0, NH, NKV, HD, window, splits;
    int alibi;           // 1: add pt_alibi_slope(h, NH) * (key - query position) to each scaled score
    float scale;
};

// grid (ceil(N*group / ROWS), NKV, splits), block PTK_ATT_THREADS.
template <int DPL, int MODE, int R, bool FULL>
static __global__ void ptk_att_rows_kernel(ptk_att_args a) {
    typedef ptk_att_cfg<DPL, MODE, R> C;
    constexpr int HDP = C::HDP, LPK = C::LPK, BK = C::BK, KSTR = C::KSTR, VEC = C::VEC;
    __shared__ ptk_vec<4> sm4[C::FLOATS / 4];
    float *sm = reinterpret_cast<float *>(sm4);
    float *Qs = sm + C::Q_OFF, *DOs = sm + C::DO_OFF, *Ks = sm + C::K_OFF, *Vs = sm + C::V_OFF;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int group = a.NH / a.NKV, g = blockIdx.y, nrows = a.N * group;
    const size_t QW = (size_t)a.NH * a.HD, KVW = (size_t)a.NKV * a.HD;
    // the last query tiles (the most keys under the causal mask) start first
    const int r0 = (int)(gridDim.x - 1 - blockIdx.x) * C::ROWS;
    const int n_lo = r0 / group, n_hi = ptk_att_min(a.N - 1, (r0 + C::ROWS - 1) / group);
    const int kmax = a.pos0 + n_hi;  // the last key any row of the block sees
    const int kmin = a.window > 0 ? ptk_att_max(0, a.pos0 + n_lo - a.window + 1) : 0;
    const int ntiles = (kmax - kmin) / BK + 1;
    const int split = blockIdx.z;
    const int t_lo = (int)((long long)ntiles * split / a.splits);
    const int t_hi = (int)((long long)ntiles * (split + 1) / a.splits);

    // this warp's rows: R consecutive (n, head) pairs
    const int wr0 = r0 + warp * R;
    int pos[R], first[R], head[R], qn[R];
    bool valid[R];
    PTK_ATT_UNROLL
    for (int r = 0; r < R; r++) {
        int rr = wr0 + r;
        valid[r] = rr < nrows;
        qn[r] = valid[r] ? rr / group : n_hi;
        head[r] = g * group + (valid[r] ? rr % group : 0);
        pos[r] = a.pos0 + qn[r];
        first[r] = a.window > 0 ? ptk_att_max(0, pos[r] - a.window + 1) : 0;
    }
    const bool wany = valid[0];  // warp-uniform: has at least one row
    const int wpmax = pos[R - 1], wfmin = first[0];
    float slope[R];  // ALiBi's per row (0: none)
    PTK_ATT_UNROLL
    for (int r = 0; r < R; r++) slope[r] = a.alibi ? pt_alibi_slope(head[r], a.NH) : 0.0f;

    const float *q = a.q, *dout = a.dout;
    const int NH = a.NH, HD = a.HD;
    ptk_att_load<HDP, HDP, FULL>(Qs, C::ROWS, [&](int r) -> const float * {
        int rr = r0 + r;
        return rr < nrows ? q + (size_t)(rr / group) * QW + (size_t)(g * group + rr % group) * HD : nullptr;
    }, HD, a.scale);
    float Lr[R], Dr[R];
    if constexpr (MODE == PTK_ATT_DQ) {
        ptk_att_load<HDP, HDP, FULL>(DOs, C::ROWS, [&](int r) -> const float * {
            int rr = r0 + r;
            return rr < nrows ? dout + (size_t)(rr / group) * QW + (size_t)(g * group + rr % group) * HD : nullptr;
        }, HD, 1.0f);
        PTK_ATT_UNROLL
        for (int r = 0; r < R; r++) {
            size_t row = (size_t)qn[r] * NH + head[r];
            Lr[r] = valid[r] ? a.lse[row] : 0.0f;
            Dr[r] = valid[r] ? a.lse[(size_t)a.N * NH + row] : 0.0f;
        }
    }

    float m[R], l[R], acc[R][DPL];
    PTK_ATT_UNROLL
    for (int r = 0; r < R; r++) {
        m[r] = -INFINITY;
        l[r] = 0.0f;  // this lane's share of the row sum (lanes with part 0)
        PTK_ATT_UNROLL
        for (int i = 0; i < DPL; i++) acc[r][i] = 0.0f;
    }
    float *Pw = sm + C::P_OFF + warp * R * BK;  // (R, BK): this warp's p (or dS) per key
    const int j = lane / LPK, part = lane % LPK;
    const float *kc = a.k + (size_t)g * HD, *vc = a.v + (size_t)g * HD;

    for (int tile = t_lo; tile < t_hi; tile++) {
        const int t0 = kmin + tile * BK;
        __syncthreads();  // the last tile's readers are done (and Q is stored)
        auto krow = [&](const float *base) {
            return [=](int r) -> const float * { return t0 + r <= kmax ? base + (size_t)(t0 + r) * KVW : nullptr; };
        };
        ptk_att_load<HDP, KSTR, FULL>(Ks, BK, krow(kc), HD, 1.0f);
        if constexpr (MODE != PTK_ATT_LSE) ptk_att_load<HDP, KSTR, FULL>(Vs, BK, krow(vc), HD, 1.0f);
        __syncthreads();
        if (!wany || t0 > wpmax || t0 + BK - 1 < wfmin) continue;  // warp-uniform: nothing visible

        // scores of key t for each row: lane (j, part) sums dims part*4 + c*4*LPK
        const int t = t0 + j;
        float s[R], dp[R];
        PTK_ATT_UNROLL
        for (int r = 0; r < R; r++) s[r] = dp[r] = 0.0f;
        PTK_ATT_UNROLL
        for (int c = 0; c < HDP / (4 * LPK); c++) {
            const int d = part * 4 + c * 4 * LPK;
            ptk_vec<4> kk = ptk_ldv<4>(Ks + j * KSTR + d);
            PTK_ATT_UNROLL
            for (int r = 0; r < R; r++) s[r] = ptk_dot4(ptk_ldv<4>(Qs + (warp * R + r) * HDP + d), kk, s[r]);
            if constexpr (MODE == PTK_ATT_DQ) {
                ptk_vec<4> vv = ptk_ldv<4>(Vs + j * KSTR + d);
                PTK_ATT_UNROLL
                for (int r = 0; r < R; r++) dp[r] = ptk_dot4(ptk_ldv<4>(DOs + (warp * R + r) * HDP + d), vv, dp[r]);
            }
        }
        PTK_ATT_UNROLL
        for (int r = 0; r < R; r++) {
            s[r] = ptk_lane_sum<LPK>(s[r]) + slope[r] * (float)(t - pos[r]);
            if constexpr (MODE == PTK_ATT_DQ) dp[r] = ptk_lane_sum<LPK>(dp[r]);
        }

        if constexpr (MODE == PTK_ATT_DQ) {
            // dS = P * (dP - D), P = exp(S - L) recomputed; L is finite for valid rows
            PTK_ATT_UNROLL
            for (int r = 0; r < R; r++) {
                bool ok = valid[r] && t <= pos[r];
                float p = ok ? expf(s[r] - Lr[r]) : 0.0f;
                if (part == 0) Pw[r * BK + j] = p * (dp[r] - Dr[r]);
            }
        } else {
            PTK_ATT_UNROLL
            for (int r = 0; r < R; r++) {
                bool ok = valid[r] && t >= first[r] && t <= pos[r];
                float mn = fmaxf(m[r], ptk_warp_max(ok ? s[r] : -INFINITY));
                float ref = mn == -INFINITY ? 0.0f : mn;  // no key yet: p = 0, alpha = 0, no NaN
                float alpha = expf(m[r] - ref);
                float p = ok ? expf(s[r] - ref) : 0.0f;
                m[r] = mn;
                l[r] = l[r] * alpha + (part == 0 ? p : 0.0f);
                if constexpr (MODE == PTK_ATT_FWD) {
                    PTK_ATT_UNROLL
                    for (int i = 0; i < DPL; i++) acc[r][i] *= alpha;
                    if (part == 0) Pw[r * BK + j] = p;
                }
            }
        }
        if constexpr (MODE == PTK_ATT_LSE) continue;

        // acc[r] += sum_j Pw[r][j] * X[j], X = V (forward) or K (dQ); a lane
        // owns dims c*32*VEC + lane*VEC + e
        __syncwarp();
        const float *X = MODE == PTK_ATT_DQ ? Ks : Vs;
        PTK_ATT_UNROLL
        for (int jj = 0; jj < BK; jj += 4) {
            ptk_vec<4> pr[R];
            PTK_ATT_UNROLL
            for (int r = 0; r < R; r++) pr[r] = ptk_ldv<4>(Pw + r * BK + jj);
            PTK_ATT_UNROLL
            for (int u = 0; u < 4; u++) {
                PTK_ATT_UNROLL
                for (int c = 0; c < DPL / VEC; c++) {
                    ptk_vec<VEC> x = ptk_ldv<VEC>(X + (jj + u) * KSTR + c * 32 * VEC + lane * VEC);
                    PTK_ATT_UNROLL
                    for (int r = 0; r < R; r++)
                        PTK_ATT_UNROLL
                        for (int e = 0; e < VEC; e++) acc[r][c * VEC + e] = fmaf(pr[r].v[u], x.v[e], acc[r][c * VEC + e]);
                }
            }
        }
        __syncwarp();
    }

    // ---- results ----
    PTK_ATT_UNROLL
    for (int r = 0; r < R; r++) {
        if (MODE != PTK_ATT_DQ) l[r] = ptk_warp_sum(l[r]);
        if (!valid[r]) continue;
        const size_t row = (size_t)qn[r] * NH + head[r];
        if constexpr (MODE == PTK_ATT_LSE) {
            const float *dr = dout + row * HD, *orow = a.o + row * HD;
            float d = 0.0f;
            for (int i = lane; i < HD; i += 32) d = fmaf(dr[i], orow[i], d);
            d = ptk_warp_sum(d);
            if (lane == 0) {
                a.out[row] = m[r] + logf(l[r]);
                a.out[(size_t)a.N * NH + row] = d;
            }
            continue;
        }
        float mul, *dst;
        if (MODE == PTK_ATT_DQ) {
            mul = a.scale;
            dst = a.out + row * HD;
        } else if (a.splits == 1) {
            mul = 1.0f / l[r];
            dst = a.out + row * HD;
        } else {  // this split's share: unnormalised output, then m and l
            mul = 1.0f;
            dst = a.out + ((size_t)split * a.N * NH + row) * (size_t)(HD + 2);
            if (lane == 0) {
                dst[HD] = m[r];
                dst[HD + 1] = l[r];
            }
        }
        PTK_ATT_UNROLL
        for (int c = 0; c < DPL / VEC; c++) {
            const int d0 = c * 32 * VEC + lane * VEC;
            if (FULL && a.splits == 1) {
                ptk_vec<VEC> x;
                PTK_ATT_UNROLL
                for (int e = 0; e < VEC; e++) x.v[e] = acc[r][c * VEC + e] * mul;
                ptk_stv<VEC>(dst + d0, x);
            } else {
                PTK_ATT_UNROLL
                for (int e = 0; e < VEC; e++)
                    if (d0 + e < HD) dst[d0 + e] = acc[r][c * VEC + e] * mul;
            }
        }
    }
}

// Merges the splits of one row: out = sum_s w_s O_s / sum_s w_s l_s with
// w_s = exp(m_s - max m). grid (N*NH), block 32. Every row has a visible key
// (its own), so max m is finite; a split that saw none has m = -inf, w = 0.
static __global__ void ptk_att_combine_kernel(float *out, const float *part, int rows, int HD, int splits) {
    __shared__ float w[PTK_ATT_SPLIT_MAX];
    const int lane = threadIdx.x, row = blockIdx.x;
    const size_t stride = (size_t)HD + 2;
    const float *base = part + (size_t)row * stride;
    float m0 = -INFINITY, m1 = -INFINITY;
    if (lane < splits) m0 = base[(size_t)lane * rows * stride + HD];
    if (lane + 32 < splits) m1 = base[(size_t)(lane + 32) * rows * stride + HD];
    float M = ptk_warp_max(fmaxf(m0, m1));
    if (M == -INFINITY) M = 0.0f;
    float w0 = lane < splits ? expf(m0 - M) : 0.0f, w1 = lane + 32 < splits ? expf(m1 - M) : 0.0f;
    float L = (lane < splits ? w0 * base[(size_t)lane * rows * stride + HD + 1] : 0.0f) +
              (lane + 32 < splits ? w1 * base[(size_t)(lane + 32) * rows * stride + HD + 1] : 0.0f);
    L = ptk_warp_sum(L);
    if (lane < splits) w[lane] = w0 / L;
    if (lane + 32 < splits) w[lane + 32] = w1 / L;
    __syncwarp();
    for (int d = lane; d < HD; d += 32) {
        float o = 0.0f;
        for (int s = 0; s < splits; s++) o = fmaf(w[s], base[(size_t)s * rows * stride + d], o);
        out[(size_t)row * HD + d] = o;
    }
}

// ---- dK, dV ----

// Shared-memory plan (floats) of the dkdv kernel: BQ queries per tile, R keys per warp.
template <int DPL>
struct ptk_attbw_cfg {
    static constexpr int HDP = 32 * DPL;
    static constexpr int LPK = DPL <= 2 ? 1 : DPL / 2;  // lanes per query
    static constexpr int BQ = 32 / LPK;
    static constexpr int R = DPL <= 2 ? 8 : 16 / DPL;
    static constexpr int KEYS = PTK_ATT_WARPS * R;
    static constexpr int QSTR = HDP + 4 * LPK;
    static constexpr int VEC = DPL < 4 ? DPL : 4;
    static constexpr int Q_OFF = 0;                        // Q tile (BQ, QSTR), scaled
    static constexpr int DO_OFF = BQ * QSTR;               // dout tile (BQ, QSTR)
    static constexpr int K_OFF = 2 * BQ * QSTR;            // the block's keys (KEYS, HDP)
    static constexpr int V_OFF = K_OFF + KEYS * HDP;       // (KEYS, HDP)
    static constexpr int P_OFF = V_OFF + KEYS * HDP;       // P (KEYS, BQ)
    static constexpr int S_OFF = P_OFF + KEYS * BQ;        // dS (KEYS, BQ)
    static constexpr int L_OFF = S_OFF + KEYS * BQ;        // L (BQ), then D (BQ)
    static constexpr int FLOATS = (L_OFF + 2 * BQ + 3) / 4 * 4;
    static_assert(FLOATS * 4 <= 48 * 1024, "attention backward tile exceeds 48 KB of shared memory");
};

// grid (ceil(T / KEYS), NKV), block PTK_ATT_THREADS. a.lse: L then D; writes
// dk, dv (T, NKV*HD) rows of the block's keys, summed over the group's heads.
template <int DPL, bool FULL>
static __global__ void ptk_att_dkdv_kernel(float *dk, float *dv, ptk_att_args a) {
    typedef ptk_attbw_cfg<DPL> C;
    constexpr int HDP = C::HDP, LPK = C::LPK, BQ = C::BQ, R = C::R, QSTR = C::QSTR, VEC = C::VEC;
    __shared__ ptk_vec<4> sm4[C::FLOATS / 4];
    float *sm = reinterpret_cast<float *>(sm4);
    float *Qs = sm + C::Q_OFF, *DOs = sm + C::DO_OFF, *Ks = sm + C::K_OFF, *Vs = sm + C::V_OFF;
    float *Ls = sm + C::L_OFF, *Ds = Ls + BQ;

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int T = a.N, NH = a.NH, HD = a.HD, group = a.NH / a.NKV, g = blockIdx.y;
    const size_t QW = (size_t)NH * HD, KVW = (size_t)a.NKV * HD;
    const int j0 = blockIdx.x * C::KEYS, wk0 = j0 + warp * R;  // block's and warp's first key
    const float *kc = a.k + (size_t)g * HD, *vc = a.v + (size_t)g * HD;
    ptk_att_load<HDP, HDP, FULL>(Ks, C::KEYS, [&](int r) -> const float * {
        return j0 + r < T ? kc + (size_t)(j0 + r) * KVW : nullptr;
    }, HD, 1.0f);
    ptk_att_load<HDP, HDP, FULL>(Vs, C::KEYS, [&](int r) -> const float * {
        return j0 + r < T ? vc + (size_t)(j0 + r) * KVW : nullptr;
    }, HD, 1.0f);

    float dK[R][DPL], dV[R][DPL];
    PTK_ATT_UNROLL
    for (int r = 0; r < R; r++)
        PTK_ATT_UNROLL
        for (int i = 0; i < DPL; i++) dK[r][i] = dV[r][i] = 0.0f;
    float *Pw = sm + C::P_OFF + warp * R * BQ, *Sw = sm + C::S_OFF + warp * R * BQ;
    const int qi = lane / LPK, part = lane % LPK;

    for (int i0 = j0; i0 < T; i0 += BQ) {
        for (int hh = 0; hh < group; hh++) {
            const int h = g * group + hh;
            const float slope = a.alibi ? pt_alibi_slope(h, NH) : 0.0f;
            __syncthreads();  // the last tile's readers are done (and K, V are stored)
            ptk_att_load<HDP, QSTR, FULL>(Qs, BQ, [&](int r) -> const float * {
                return i0 + r < T ? a.q + (size_t)(i0 + r) * QW + (size_t)h * HD : nullptr;
            }, HD, a.scale);
            ptk_att_load<HDP, QSTR, FULL>(DOs, BQ, [&](int r) -> const float * {
                return i0 + r < T ? a.dout + (size_t)(i0 + r) * QW + (size_t)h * HD : nullptr;
            }, HD, 1.0f);
            if (threadIdx.x < BQ) {
                int i = i0 + threadIdx.x;
                Ls[threadIdx.x] = i < T ? a.lse[(size_t)i * NH + h] : 0.0f;
                Ds[threadIdx.x] = i < T ? a.lse[(size_t)T * NH + (size_t)i * NH + h] : 0.0f;
            }
            __syncthreads();
            if (wk0 >= T || i0 + BQ - 1 < wk0) continue;  // warp-uniform: no query sees these keys

            // S and dP of query qi with each of the warp's keys
            float s[R], dp[R];
            PTK_ATT_UNROLL
            for (int r = 0; r < R; r++) s[r] = dp[r] = 0.0f;
            PTK_ATT_UNROLL
            for (int c = 0; c < HDP / (4 * LPK); c++) {
                const int d = part * 4 + c * 4 * LPK;
                ptk_vec<4> qq = ptk_ldv<4>(Qs + qi * QSTR + d), dd = ptk_ldv<4>(DOs + qi * QSTR + d);
                PTK_ATT_UNROLL
                for (int r = 0; r < R; r++) {
                    s[r] = ptk_dot4(qq, ptk_ldv<4>(Ks + (warp * R + r) * HDP + d), s[r]);
                    dp[r] = ptk_dot4(dd, ptk_ldv<4>(Vs + (warp * R + r) * HDP + d), dp[r]);
                }
            }
            const int i = i0 + qi;
            PTK_ATT_UNROLL
            for (int r = 0; r < R; r++) {
                s[r] = ptk_lane_sum<LPK>(s[r]) + slope * (float)(wk0 + r - i);
                dp[r] = ptk_lane_sum<LPK>(dp[r]);
                bool ok = i < T && i >= wk0 + r;
                float p = ok ? expf(s[r] - Ls[qi]) : 0.0f;
                if (part == 0) {
                    Pw[r * BQ + qi] = p;
                    Sw[r * BQ + qi] = p * (dp[r] - Ds[qi]);
                }
            }
            __syncwarp();
            // dV[r] += P[r][i] dout_i, dK[r] += dS[r][i] (scale q_i); lane dims c*32*VEC + lane*VEC + e
            PTK_ATT_UNROLL
            for (int ii = 0; ii < BQ; ii += 4) {
                ptk_vec<4> pr[R], sr[R];
                PTK_ATT_UNROLL
                for (int r = 0; r < R; r++) {
                    pr[r] = ptk_ldv<4>(Pw + r * BQ + ii);
                    sr[r] = ptk_ldv<4>(Sw + r * BQ + ii);
                }
                PTK_ATT_UNROLL
                for (int u = 0; u < 4; u++) {
                    PTK_ATT_UNROLL
                    for (int c = 0; c < DPL / VEC; c++) {
                        const int d0 = c * 32 * VEC + lane * VEC;
                        ptk_vec<VEC> x = ptk_ldv<VEC>(Qs + (ii + u) * QSTR + d0);
                        ptk_vec<VEC> y = ptk_ldv<VEC>(DOs + (ii + u) * QSTR + d0);
                        PTK_ATT_UNROLL
                        for (int r = 0; r < R; r++)
                            PTK_ATT_UNROLL
                            for (int e = 0; e < VEC; e++) {
                                dK[r][c * VEC + e] = fmaf(sr[r].v[u], x.v[e], dK[r][c * VEC + e]);
                                dV[r][c * VEC + e] = fmaf(pr[r].v[u], y.v[e], dV[r][c * VEC + e]);
                            }
                    }
                }
            }
            __syncwarp();
        }
    }

    PTK_ATT_UNROLL
    for (int r = 0; r < R; r++) {
        const int key = wk0 + r;
        if (key >= T) continue;
        float *dkr = dk + (size_t)key * KVW + (size_t)g * HD, *dvr = dv + (size_t)key * KVW + (size_t)g * HD;
        PTK_ATT_UNROLL
        for (int c = 0; c < DPL / VEC; c++) {
            const int d0 = c * 32 * VEC + lane * VEC;
            if (FULL) {
                ptk_vec<VEC> x, y;
                PTK_ATT_UNROLL
                for (int e = 0; e < VEC; e++) {
                    x.v[e] = dK[r][c * VEC + e];
                    y.v[e] = dV[r][c * VEC + e];
                }
                ptk_stv<VEC>(dkr + d0, x);
                ptk_stv<VEC>(dvr + d0, y);
            } else {
                PTK_ATT_UNROLL
                for (int e = 0; e < VEC; e++)
                    if (d0 + e < HD) {
                        dkr[d0 + e] = dK[r][c * VEC + e];
                        dvr[d0 + e] = dV[r][c * VEC + e];
                    }
            }
        }
    }
}

#include "attention_tc.cuh"  // the tensor-core instances (HD 64, 128) and their launchers

// ---- launchers ----

// dims per lane: HD <= 32 * DPL, DPL in {1, 2, 4, 8, 16}
static inline int ptk_att_dpl(int HD) {
    int dpl = 1;
    while (32 * dpl < HD) dpl *= 2;
    return dpl;
}
static inline int ptk_att_aligned(const void *p) { return ((uintptr_t)p & 15u) == 0; }

// Rows per warp of the forward: fewer for big heads (registers, 48 KB).
static inline int ptk_att_fwd_rows(int dpl) { return dpl <= 2 ? 8 : 16 / dpl; }

template <int DPL, int MODE, int R, bool FULL>
static inline void ptk_att_rows_launch(cudaStream_t s, const ptk_att_args &a) {
    int rows = a.N * (a.NH / a.NKV), per = PTK_ATT_WARPS * R;
    dim3 grid((unsigned)((rows + per - 1) / per), (unsigned)a.NKV, (unsigned)a.splits);
    PT_LAUNCH((ptk_att_rows_kernel<DPL, MODE, R, FULL>), grid, dim3(PTK_ATT_THREADS), 0, s, a);
}

// The row kernel at DPL: one row per warp (forward calls with few rows) or RDEF.
template <int DPL, int MODE, int RDEF, bool FULL>
static inline void ptk_att_rows_pick(cudaStream_t s, const ptk_att_args &a, int one_row) {
    if constexpr (MODE == PTK_ATT_FWD && RDEF != 1) {
        if (one_row) {
            ptk_att_rows_launch<DPL, MODE, 1, FULL>(s, a);
            return;
        }
    }
    (void)one_row;
    ptk_att_rows_launch<DPL, MODE, RDEF, FULL>(s, a);
}

// The row kernel for HD's DPL, with the rows per warp of ptk_att_fwd_rows.
template <int MODE>
static inline void ptk_att_rows_dispatch(cudaStream_t s, const ptk_att_args &a, int one_row, int full) {
    int dpl = ptk_att_dpl(a.HD);
    if (full && a.HD == 64) ptk_att_rows_pick<2, MODE, 8, true>(s, a, one_row);
    else if (full && a.HD == 128) ptk_att_rows_pick<4, MODE, 4, true>(s, a, one_row);
    else if (dpl == 1) ptk_att_rows_pick<1, MODE, 8, false>(s, a, one_row);
    else if (dpl == 2) ptk_att_rows_pick<2, MODE, 8, false>(s, a, one_row);
    else if (dpl == 4) ptk_att_rows_pick<4, MODE, 4, false>(s, a, one_row);
    else if (dpl == 8) ptk_att_rows_pick<8, MODE, 2, false>(s, a, one_row);
    else ptk_att_rows_pick<16, MODE, 1, false>(s, a, one_row);
}

// Splits of the keys for a forward call (1: none); never more than
// ptk_attention_scratch(N, T, NH) has room for when T >= pos0 + N.
static inline int ptk_att_splits(int N, int pos0, int NH, int NKV, int HD, int window) {
    if (N > PTK_ATT_SPLIT_MAXN) return 1;
    int T = pos0 + N, keys = window > 0 && window + N - 1 < T ? window + N - 1 : T;
    int rows = N * (NH / NKV), per = rows <= 4 * PTK_ATT_WARPS ? PTK_ATT_WARPS : PTK_ATT_WARPS * ptk_att_fwd_rows(ptk_att_dpl(HD));
    int blocks = (rows + per - 1) / per * NKV;
    int sp = (keys + PTK_ATT_SPLIT_KEYS - 1) / PTK_ATT_SPLIT_KEYS;
    sp = ptk_att_min(sp, (PTK_ATT_TARGET_BLOCKS + blocks - 1) / blocks);
    sp = ptk_att_min(sp, ptk_att_min(PTK_ATT_SPLIT_MAX, PTK_ATT_SPLIT_FLOATS / HD));
    return sp > 1 ? sp : 1;
}

// Floats of device scratch ptk_attention needs for N queries over at most T
// cache rows (T >= pos0 + N) and NH heads, for any HD: room for the
// per-split partials of a short call (0 for calls that never split).
static inline size_t ptk_attention_scratch(int N, int T, int NH) {
    if (N <= 0 || N > PTK_ATT_SPLIT_MAXN || T <= 0) return 0;
    size_t sp = ((size_t)T + PTK_ATT_SPLIT_KEYS - 1) / PTK_ATT_SPLIT_KEYS;
    size_t per_row = sp * (PTK_ATT_MAX_HD + 2);  // splits * (HD + 2), bounded both ways
    size_t cap = PTK_ATT_SPLIT_FLOATS + 2 * PTK_ATT_SPLIT_MAX;
    if (per_row > cap) per_row = cap;
    return sp > 1 ? (size_t)N * NH * per_row : 0;
}

// backend.h's attention: out (N, NH*HD) from q (N, NH*HD) over kc, vc
// (pos0+N, NKV*HD), causal, window > 0 the last `window` keys, alibi 1 with
// ALiBi's bias. scratch:
// ptk_attention_scratch(N, T, NH) floats (NULL: the keys are never split).
// Writes nothing for HD > 512 or NH not a multiple of NKV. allow_tc 0: the
// fp32 kernels even where ptk_attention_uses_tc (tests hold them to 1e-5).
static inline void ptk_attention(cudaStream_t s, float *out, const float *q, const float *kc, const float *vc,
                                 int N, int pos0, int NH, int NKV, int HD, int window, int alibi,
                                 float *scratch, int allow_tc = 1) {
    if (N <= 0 || pos0 < 0 || NKV <= 0 || NH < NKV || NH % NKV || HD <= 0 || HD > PTK_ATT_MAX_HD) return;
    ptk_att_args a = {};
    a.q = q; a.k = kc; a.v = vc;
    a.N = N; a.pos0 = pos0; a.NH = NH; a.NKV = NKV; a.HD = HD; a.window = window; a.alibi = alibi;
    a.scale = 1.0f / sqrtf((float)HD);
    a.splits = scratch ? ptk_att_splits(N, pos0, NH, NKV, HD, window) : 1;
    a.out = a.splits > 1 ? scratch : out;
    int full = ptk_att_aligned(out) && ptk_att_aligned(q) && ptk_att_aligned(kc) && ptk_att_aligned(vc);
    if (allow_tc && ptk_attention_uses_tc(N, HD, full)) {  // N > PTK_ATT_SPLIT_MAXN: never split
        if (HD == 64) ptk_atc_rows_launch<64, PTK_ATT_FWD>(s, a);
        else ptk_atc_rows_launch<128, PTK_ATT_FWD>(s, a);
        return;
    }
    ptk_att_rows_dispatch<PTK_ATT_FWD>(s, a, N * (NH / NKV) <= 4 * PTK_ATT_WARPS, full);
    if (a.splits > 1)
        PT_LAUNCH(ptk_att_combine_kernel, dim3((unsigned)(N * NH)), dim3(32), 0, s, out, scratch, N * NH, HD, a.splits);
}

// Floats of device scratch ptk_attention_backward needs: L and D per row.
static inline size_t ptk_attention_backward_scratch(int T, int NH) { return 2 * (size_t)T * NH; }

template <int DPL, bool FULL>
static inline void ptk_att_dkdv_launch(cudaStream_t s, float *dk, float *dv, const ptk_att_args &a) {
    int keys = ptk_attbw_cfg<DPL>::KEYS;
    dim3 grid((unsigned)((a.N + keys - 1) / keys), (unsigned)a.NKV);
    PT_LAUNCH((ptk_att_dkdv_kernel<DPL, FULL>), grid, dim3(PTK_ATT_THREADS), 0, s, dk, dv, a);
}

// backend.h's attention_backward: one causal sequence of T tokens. Writes dq
// (T, NH*HD), dk, dv (T, NKV*HD); scratch: ptk_attention_backward_scratch(T, NH).
// alibi and allow_tc as for ptk_attention.
static inline void ptk_attention_backward(cudaStream_t s, float *dq, float *dk, float *dv, const float *dout,
                                          const float *q, const float *k, const float *v, const float *out,
                                          int T, int NH, int NKV, int HD, int alibi, float *scratch,
                                          int allow_tc = 1) {
    if (T <= 0 || NKV <= 0 || NH < NKV || NH % NKV || HD <= 0 || HD > PTK_ATT_MAX_HD) return;
    ptk_att_args a = {};
    a.q = q; a.k = k; a.v = v; a.dout = dout; a.o = out; a.lse = scratch;
    a.N = T; a.pos0 = 0; a.NH = NH; a.NKV = NKV; a.HD = HD; a.window = 0; a.splits = 1; a.alibi = alibi;
    a.scale = 1.0f / sqrtf((float)HD);
    int full = ptk_att_aligned(dq) && ptk_att_aligned(dk) && ptk_att_aligned(dv) && ptk_att_aligned(dout) &&
               ptk_att_aligned(q) && ptk_att_aligned(k) && ptk_att_aligned(v) && ptk_att_aligned(out);
    if (allow_tc && ptk_attention_uses_tc(T, HD, full)) {
        if (HD == 64) ptk_atc_backward<64>(s, dq, dk, dv, a, scratch);
        else ptk_atc_backward<128>(s, dq, dk, dv, a, scratch);
        return;
    }
    a.out = scratch;
    ptk_att_rows_dispatch<PTK_ATT_LSE>(s, a, 0, full);
    int dpl = ptk_att_dpl(HD);
    if (full && HD == 64) ptk_att_dkdv_launch<2, true>(s, dk, dv, a);
    else if (full && HD == 128) ptk_att_dkdv_launch<4, true>(s, dk, dv, a);
    else if (dpl == 1) ptk_att_dkdv_launch<1, false>(s, dk, dv, a);
    else if (dpl == 2) ptk_att_dkdv_launch<2, false>(s, dk, dv, a);
    else if (dpl == 4) ptk_att_dkdv_launch<4, false>(s, dk, dv, a);
    else if (dpl == 8) ptk_att_dkdv_launch<8, false>(s, dk, dv, a);
    else ptk_att_dkdv_launch<16, false>(s, dk, dv, a);
    a.out = dq;
    ptk_att_rows_dispatch<PTK_ATT_DQ>(s, a, 0, full);
}

#endif
