// attention_tc.cuh - the tensor-core instances of attention.cuh (HD 64 and
// 128): forward for query tiles and the three backward kernels on
// nvcuda::wmma (bf16 16x16x16, fp32 accumulators), with their launchers.
// Included by attention.cuh after its shared definitions (ptk_att_args,
// the fp32 kernels' configs and modes); not a header of its own. The
// method, the precision contract and when the launchers pick these
// kernels: attention.cuh's top comment and the section comment below.
#ifndef PT_ATTENTION_TC_CUH
#define PT_ATTENTION_TC_CUH
#ifndef PT_ATTENTION_CUH
#error "attention_tc.cuh is included by attention.cuh"
#endif

// ---- tensor-core instances: HD 64 and 128 ----
//
// The same tiling ideas with the products on tensor cores (nvcuda::wmma,
// bf16 16x16x16, fp32 accumulators): a warp owns 16 rows (one wmma tile)
// and the tiles of Q, K, V, dO are rounded to bf16 as they enter shared
// memory. Everything elementwise (masks, exponentials, the softmax state, D)
// stays fp32 and goes through shared memory, as fragments' element layouts
// are unspecified. Exponentials are base 2: x = S * scale * log2(e).
//
// Forward softmax state. A row's reference exponent mq is an integer, and p =
// 2^(x - mq) is rounded to bf16 for P V (l sums the rounded p, so the output
// is exactly a weighted mean of V's rows with the weights used). Because mq
// is an integer, rounding p is rounding 2^x then an exact power-of-two scale:
// up to the fp32 rounding of x - mq, the result does not depend on the
// tiling, and a reference can reproduce it (tests/test_cuemu_attention.cpp).
// mq moves only when a tile's max exceeds it by more than PTK_ATC_SLACK (p <=
// 2^8, far from overflow), so the O accumulators (fragments) are rescaled,
// through shared memory, rarely.
//
// ALiBi's bias enters x in log2 units too: x = (S * scale + slope (t - pos))
// * log2(e), the slope times log2(e) taken once per row.
//
// Backward: the LSE kernel writes L2 = log2 sum 2^x per row (log2 units:
// only these kernels read it) and D = rowsum(dout * out) in fp32; dkdv and
// dQ recompute P = 2^(x - L2) in fp32, round P and dS = P (dP - D) to bf16
// for the products dV += P^T dO, dK += dS^T Q, dQ += dS K.

#define PTK_ATC_MINN 17          // calls with at least this many queries (tokens) may take tensor cores
#define PTK_ATC_SLACK 8.0f       // log2 of how far p may exceed 1 before O is rescaled
#define PTK_ATC_LOG2E 1.4426950408889634f
static_assert(PTK_ATC_MINN > PTK_ATT_SPLIT_MAXN, "the tensor-core forward never splits keys");

typedef nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> ptk_fa;
typedef nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> ptk_fb_row;
typedef nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::col_major> ptk_fb_col;
typedef nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> ptk_facc;

// 4 bf16: one 8-byte store
struct alignas(8) ptk_bf4 {
    __nv_bfloat16 h[4];
};

// dst (rows, LD) bf16 = the HD floats at src(r) rounded to bf16 (zero where
// src(r) is NULL); every src(r) 16-byte aligned. Threads t, t + step, ...
// take part (a block or a warp).
template <int HD, int LD, typename F>
__device__ __forceinline__ void ptk_atc_load(__nv_bfloat16 *dst, int rows, F src, int t, int step) {
    constexpr int per = HD / 4;
    for (int i = t; i < rows * per; i += step) {
        const int r = i / per, c = (i - r * per) * 4;
        const float *p = src(r);
        ptk_vec<4> x = {{0.0f, 0.0f, 0.0f, 0.0f}};
        if (p) x = ptk_ldv<4>(p + c);
        ptk_bf4 y;
        PTK_ATT_UNROLL
        for (int e = 0; e < 4; e++) y.h[e] = __float2bfloat16(x.v[e]);
        *reinterpret_cast<ptk_bf4 *>(dst + r * LD + c) = y;
    }
}

// Accumulator f (16 x 16) through st (the warp's fp32 staging, ldm 20):
// lane (row lane/2, dims (lane&1)*8 ..+8) gets its 8 values in v.
__device__ __forceinline__ void ptk_atc_unstage(float *st, const ptk_facc &f, float v[8]) {
    const int lane = threadIdx.x & 31;
    __syncwarp();  // the last readers of st are done
    nvcuda::wmma::store_matrix_sync(st, f, 20, nvcuda::wmma::mem_row_major);
    __syncwarp();
    const float *src = st + (lane >> 1) * 20 + (lane & 1) * 8;
    ptk_vec<4> x0 = ptk_ldv<4>(src), x1 = ptk_ldv<4>(src + 4);
    PTK_ATT_UNROLL
    for (int e = 0; e < 4; e++) {
        v[e] = x0.v[e];
        v[4 + e] = x1.v[e];
    }
}

// dst (16, 16*NT) fp32, row stride lds = a (16, 16*DC) @ b^T for b (16*NT,
// 16*DC): a and b bf16 in shared memory with row strides lda and ldb (b read
// column-major as the product's right operand). One warp.
template <int NT, int DC>
__device__ __forceinline__ void ptk_atc_abt(float *dst, int lds, const __nv_bfloat16 *a, int lda,
                                            const __nv_bfloat16 *b, int ldb) {
    namespace wm = nvcuda::wmma;
    PTK_ATT_UNROLL
    for (int nt = 0; nt < NT; nt++) {
        ptk_facc st;
        wm::fill_fragment(st, 0.0f);
        PTK_ATT_UNROLL
        for (int c = 0; c < DC; c++) {
            ptk_fa af;
            ptk_fb_col bf;
            wm::load_matrix_sync(af, a + c * 16, lda);
            wm::load_matrix_sync(bf, b + nt * 16 * ldb + c * 16, ldb);
            wm::mma_sync(st, af, bf, st);
        }
        wm::store_matrix_sync(dst + nt * 16, st, lds, wm::mem_row_major);
    }
}

// Shared-memory plan (bytes) of the row kernel: 4 warps of 16 rows, BN keys per tile.
template <int HD, int MODE>
struct ptk_atc_cfg {
    static constexpr int WARPS = 4, ROWS = 16 * WARPS;
    static constexpr int BN = HD == 64 && MODE != PTK_ATT_DQ ? 64 : 32;
    static constexpr int DC = HD / 16, NT = BN / 16;  // 16-wide chunks of dims and keys
    static constexpr int LDH = HD + 8;  // bf16 row stride of Q, K, V, dO (16-byte skew: conflict-free loads)
    static constexpr int LDS = BN + 4;  // fp32 stride of S and dP (16, BN)
    static constexpr int LDP = BN + 8;  // bf16 stride of P or dS (16, BN)
    static constexpr int KV_BYTES = BN * LDH * 2;
    static constexpr int K_OFF = 0;                                                   // K tile (BN, LDH)
    static constexpr int V_OFF = KV_BYTES;                                            // V tile, not in LSE
    static constexpr int W_OFF = V_OFF + (MODE == PTK_ATT_LSE ? 0 : KV_BYTES);        // the warps' regions
    // a warp's region: first its 16 Q (then dO) rows (16, LDH) bf16 while the
    // fragments load; then S (16, LDS) fp32, DQ: dP (16, LDS), and P or dS (16, LDP) bf16
    static constexpr int S_BYTES = 16 * LDS * 4;
    static constexpr int DP_OFF = S_BYTES;
    static constexpr int P_OFF = S_BYTES + (MODE == PTK_ATT_DQ ? S_BYTES : 0);
    static constexpr int WORK = P_OFF + (MODE == PTK_ATT_LSE ? 0 : 16 * LDP * 2);
    static constexpr int WBYTES = WORK > 16 * LDH * 2 ? WORK : 16 * LDH * 2;
    static constexpr int BYTES = W_OFF + WARPS * WBYTES;
    static_assert(HD == 64 || HD == 128, "tensor-core instances: HD 64 and 128");
    static_assert(KV_BYTES % 32 == 0 && S_BYTES % 32 == 0 && WORK % 32 == 0 && WBYTES % 32 == 0,
                  "wmma tiles need 32-byte alignment");
    static_assert(S_BYTES >= 16 * 20 * 4, "the staging of one accumulator fits in S");
    static_assert(BYTES <= 48 * 1024, "tensor-core attention tile exceeds 48 KB of shared memory");
};

// Forward (FWD), L2 and D (LSE) or dQ (DQ) on tensor cores. grid
// (ceil(N*group / 64), NKV), block 128. a.HD == HD, a.splits == 1; FWD:
// a.out = out; LSE: a.out = L2 (N*NH) then D (N*NH); DQ: a.out = dq, a.lse as
// LSE wrote it.
template <int HD, int MODE>
static __global__ void __launch_bounds__(128, MODE == PTK_ATT_DQ ? 2 : 3) ptk_atc_rows_kernel(ptk_att_args a) {
    namespace wm = nvcuda::wmma;
    typedef ptk_atc_cfg<HD, MODE> C;
    constexpr int BN = C::BN, DC = C::DC, NT = C::NT, LDH = C::LDH, LDS = C::LDS, LDP = C::LDP;
    __shared__ ptk_vec<8> sm8[C::BYTES / 32];
    unsigned char *smb = reinterpret_cast<unsigned char *>(sm8);
    __nv_bfloat16 *Ks = reinterpret_cast<__nv_bfloat16 *>(smb + C::K_OFF);
    __nv_bfloat16 *Vs = reinterpret_cast<__nv_bfloat16 *>(smb + C::V_OFF);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    unsigned char *wb = smb + C::W_OFF + warp * C::WBYTES;
    float *Ss = reinterpret_cast<float *>(wb), *DPs = reinterpret_cast<float *>(wb + C::DP_OFF);
    __nv_bfloat16 *Ps = reinterpret_cast<__nv_bfloat16 *>(wb + C::P_OFF), *Qst = reinterpret_cast<__nv_bfloat16 *>(wb);

    const int group = a.NH / a.NKV, g = blockIdx.y, nrows = a.N * group, NH = a.NH, pos0 = a.pos0;
    const size_t QW = (size_t)NH * HD, KVW = (size_t)a.NKV * HD;
    const float sl2 = a.scale * PTK_ATC_LOG2E;
    // the last query tiles (the most keys under the causal mask) start first
    const int r0 = (int)(gridDim.x - 1 - blockIdx.x) * C::ROWS;
    const int n_lo = r0 / group, n_hi = ptk_att_min(a.N - 1, (r0 + C::ROWS - 1) / group);
    const int kmax = pos0 + n_hi;  // the last key any row of the block sees
    const int kmin = a.window > 0 ? ptk_att_max(0, pos0 + n_lo - a.window + 1) : 0;
    const int ntiles = (kmax - kmin) / BN + 1;

    // the warp's rows wr0 .. wr0+15; a lane works on row rl, half `half` of a tile's keys
    const int wr0 = r0 + warp * 16;
    const bool wany = wr0 < nrows;  // warp-uniform
    const int wpmax = pos0 + ptk_att_min(wr0 + 15, nrows - 1) / group;
    const int wfmin = a.window > 0 ? ptk_att_max(0, pos0 + wr0 / group - a.window + 1) : 0;
    const int rl = lane >> 1, half = lane & 1, rr = wr0 + rl;
    const bool valid = rr < nrows;
    const int qn = valid ? rr / group : 0, head = g * group + (valid ? rr % group : 0);
    const int pos = pos0 + qn, first = a.window > 0 ? ptk_att_max(0, pos - a.window + 1) : 0;
    const size_t row = (size_t)qn * NH + head;
    const float ab2 = a.alibi ? pt_alibi_slope(head, NH) * PTK_ATC_LOG2E : 0.0f;  // ALiBi, log2 units per key

    // Q (DQ: and dO) rows of the warp into bf16 fragments, through the warp's region
    auto qrows = [&](const float *base) {
        return [=](int r) -> const float * {
            const int x = wr0 + r;
            return x < nrows ? base + (size_t)(x / group) * QW + (size_t)(g * group + x % group) * HD : nullptr;
        };
    };
    ptk_fa qf[DC], df[MODE == PTK_ATT_DQ ? DC : 1];
    ptk_atc_load<HD, LDH>(Qst, 16, qrows(a.q), lane, 32);
    __syncwarp();
    PTK_ATT_UNROLL
    for (int c = 0; c < DC; c++) wm::load_matrix_sync(qf[c], Qst + c * 16, LDH);
    float Lr = 0.0f, Dr = 0.0f;
    if constexpr (MODE == PTK_ATT_DQ) {
        __syncwarp();
        ptk_atc_load<HD, LDH>(Qst, 16, qrows(a.dout), lane, 32);
        __syncwarp();
        PTK_ATT_UNROLL
        for (int c = 0; c < DC; c++) wm::load_matrix_sync(df[c], Qst + c * 16, LDH);
        if (valid) {
            Lr = a.lse[row];
            Dr = a.lse[(size_t)a.N * NH + row];
        }
    }

    constexpr int NACC = MODE == PTK_ATT_LSE ? 0 : DC;
    ptk_facc acc[NACC > 0 ? NACC : 1];  // FWD: O (16, HD) unnormalised; DQ: dQ / scale
    PTK_ATT_UNROLL
    for (int c = 0; c < NACC; c++) wm::fill_fragment(acc[c], 0.0f);
    float mq = -INFINITY, l = 0.0f;  // reference exponent (integer; -inf: no key yet), this lane's share of l

    const float *kc = a.k + (size_t)g * HD, *vc = a.v + (size_t)g * HD;
    for (int tile = 0; tile < ntiles; tile++) {
        const int t0 = kmin + tile * BN;
        __syncthreads();  // the last tile's readers are done
        auto krows = [&](const float *base) {
            return [=](int r) -> const float * { return t0 + r <= kmax ? base + (size_t)(t0 + r) * KVW : nullptr; };
        };
        ptk_atc_load<HD, LDH>(Ks, BN, krows(kc), threadIdx.x, 128);
        if constexpr (MODE != PTK_ATT_LSE) ptk_atc_load<HD, LDH>(Vs, BN, krows(vc), threadIdx.x, 128);
        __syncthreads();
        if (!wany || t0 > wpmax || t0 + BN - 1 < wfmin) continue;  // warp-uniform: nothing visible

        // S (16, BN) = Q K^T, unscaled; DQ: dP (16, BN) = dO V^T
        PTK_ATT_UNROLL
        for (int nt = 0; nt < NT; nt++) {
            ptk_facc s;
            wm::fill_fragment(s, 0.0f);
            PTK_ATT_UNROLL
            for (int c = 0; c < DC; c++) {
                ptk_fb_col kb;
                wm::load_matrix_sync(kb, Ks + nt * 16 * LDH + c * 16, LDH);
                wm::mma_sync(s, qf[c], kb, s);
            }
            wm::store_matrix_sync(Ss + nt * 16, s, LDS, wm::mem_row_major);
            if constexpr (MODE == PTK_ATT_DQ) {
                wm::fill_fragment(s, 0.0f);
                PTK_ATT_UNROLL
                for (int c = 0; c < DC; c++) {
                    ptk_fb_col vb;
                    wm::load_matrix_sync(vb, Vs + nt * 16 * LDH + c * 16, LDH);
                    wm::mma_sync(s, df[c], vb, s);
                }
                wm::store_matrix_sync(DPs + nt * 16, s, LDS, wm::mem_row_major);
            }
        }
        __syncwarp();

        // elementwise on the lane's BN/2 keys of row rl
        const int cb = half * (BN / 2), tb = t0 + cb;
        const float *srow = Ss + rl * LDS + cb;
        auto xat = [&](int j) { return srow[j] * sl2 + ab2 * (float)(tb + j - pos); };  // x of key tb + j
        __nv_bfloat16 *prow = Ps + rl * LDP + cb;
        if constexpr (MODE == PTK_ATT_DQ) {
            const float *dprow = DPs + rl * LDS + cb;
            PTK_ATT_UNROLL
            for (int j = 0; j < BN / 2; j++) {
                const int t = tb + j;
                const bool ok = valid && t >= first && t <= pos;
                const float p = ok ? exp2f(xat(j) - Lr) : 0.0f;
                prow[j] = __float2bfloat16(p * (dprow[j] - Dr));  // dS
            }
        } else {
            float tmax = -INFINITY;
            PTK_ATT_UNROLL
            for (int j = 0; j < BN / 2; j++) {
                const int t = tb + j;
                if (valid && t >= first && t <= pos) tmax = fmaxf(tmax, xat(j));
            }
            tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
            float alpha = 1.0f;
            bool resc = false;
            if (tmax > mq + PTK_ATC_SLACK) {  // also the row's first visible key (mq = -inf)
                const float mn = ceilf(tmax);
                if (mq != -INFINITY) {
                    alpha = exp2f(mq - mn);
                    resc = true;
                }
                mq = mn;
            }
            float ls = 0.0f;
            PTK_ATT_UNROLL
            for (int j = 0; j < BN / 2; j++) {
                const int t = tb + j;
                const bool ok = valid && t >= first && t <= pos;
                const float p = ok ? exp2f(xat(j) - mq) : 0.0f;
                if constexpr (MODE == PTK_ATT_FWD) {
                    const __nv_bfloat16 pb = __float2bfloat16(p);
                    prow[j] = pb;
                    ls += __bfloat162float(pb);
                } else {
                    ls += p;
                }
            }
            l = l * alpha + ls;
            if constexpr (MODE == PTK_ATT_FWD) {
                // rare: some row of the warp moved its reference; O *= alpha per row
                if (ptk_warp_max(resc ? 1.0f : 0.0f) > 0.0f) {
                    PTK_ATT_UNROLL
                    for (int c = 0; c < DC; c++) {
                        float v[8];
                        ptk_atc_unstage(Ss, acc[c], v);  // Ss is free: every lane has read its S
                        float *dst = Ss + rl * 20 + half * 8;
                        PTK_ATT_UNROLL
                        for (int e = 0; e < 8; e++) dst[e] = v[e] * alpha;
                        __syncwarp();
                        wm::load_matrix_sync(acc[c], Ss, 20, wm::mem_row_major);
                    }
                }
            }
        }
        if constexpr (MODE == PTK_ATT_LSE) continue;

        // FWD: O += P V; DQ: dQ += dS K. X (BN, HD) row-major is the B operand.
        __syncwarp();
        ptk_fa pf[NT];
        PTK_ATT_UNROLL
        for (int kt = 0; kt < NT; kt++) wm::load_matrix_sync(pf[kt], Ps + kt * 16, LDP);
        const __nv_bfloat16 *X = MODE == PTK_ATT_DQ ? Ks : Vs;
        PTK_ATT_UNROLL
        for (int c = 0; c < DC; c++)
            PTK_ATT_UNROLL
            for (int kt = 0; kt < NT; kt++) {
                ptk_fb_row xb;
                wm::load_matrix_sync(xb, X + kt * 16 * LDH + c * 16, LDH);
                wm::mma_sync(acc[c], pf[kt], xb, acc[c]);
            }
    }
    if (!wany) return;  // warp-uniform; no block barrier follows

    // ---- results ----
    if constexpr (MODE == PTK_ATT_LSE) {
        const float lt = l + __shfl_xor_sync(0xffffffffu, l, 1);
        float d = 0.0f;  // D = dout . out over the row, each lane of the pair half of the dims
        if (valid) {
            const float *dr = a.dout + row * HD + half * (HD / 2), *orow = a.o + row * HD + half * (HD / 2);
            PTK_ATT_UNROLL
            for (int i = 0; i < HD / 2; i += 4) d = ptk_dot4(ptk_ldv<4>(dr + i), ptk_ldv<4>(orow + i), d);
        }
        d += __shfl_xor_sync(0xffffffffu, d, 1);
        if (valid && half == 0) {
            a.out[row] = mq + log2f(lt);
            a.out[(size_t)a.N * NH + row] = d;
        }
    } else {
        float mul = a.scale;  // DQ
        if constexpr (MODE == PTK_ATT_FWD) {
            const float lt = l + __shfl_xor_sync(0xffffffffu, l, 1);  // > 0: a row sees its own key
            mul = valid ? 1.0f / lt : 0.0f;
        }
        float *dst = a.out + row * HD + half * 8;
        PTK_ATT_UNROLL
        for (int c = 0; c < DC; c++) {
            float v[8];
            ptk_atc_unstage(Ss, acc[c], v);
            if (valid) {
                ptk_vec<4> x0, x1;
                PTK_ATT_UNROLL
                for (int e = 0; e < 4; e++) {
                    x0.v[e] = v[e] * mul;
                    x1.v[e] = v[4 + e] * mul;
                }
                ptk_stv<4>(dst + c * 16, x0);
                ptk_stv<4>(dst + c * 16 + 4, x1);
            }
        }
    }
}

// Shared-memory plan (bytes) of the dkdv kernel: WARPS warps of 16 keys, BQ queries per tile.
template <int HD>
struct ptk_atcbw_cfg {
    static constexpr int WARPS = HD == 64 ? 4 : 2;
    static constexpr int KEYS = 16 * WARPS, BQ = 32;
    static constexpr int DC = HD / 16, NT = BQ / 16;
    static constexpr int LDH = HD + 8, LDS = BQ + 4, LDP = BQ + 8;
    static constexpr int K_OFF = 0;                           // the block's keys (KEYS, LDH) bf16
    static constexpr int V_OFF = KEYS * LDH * 2;              // (KEYS, LDH)
    static constexpr int Q_OFF = 2 * V_OFF;                   // Q tile (BQ, LDH)
    static constexpr int DO_OFF = Q_OFF + BQ * LDH * 2;       // dout tile (BQ, LDH)
    static constexpr int L_OFF = DO_OFF + BQ * LDH * 2;       // L2 (BQ), then D (BQ), fp32
    static constexpr int W_OFF = L_OFF + 2 * BQ * 4;
    // a warp's region, two (16, LDS) fp32 tiles: A holds S^T, then P^T in
    // place, then dS^T (16, LDP) bf16; B holds P^T (16, LDP) bf16, then dP^T
    static constexpr int S_BYTES = 16 * LDS * 4;
    static constexpr int WBYTES = 2 * S_BYTES;
    static constexpr int BYTES = W_OFF + WARPS * WBYTES;
    static_assert(HD == 64 || HD == 128, "tensor-core instances: HD 64 and 128");
    static_assert(V_OFF % 32 == 0 && W_OFF % 32 == 0 && S_BYTES % 32 == 0, "wmma tiles need 32-byte alignment");
    static_assert(S_BYTES >= 16 * LDP * 2 && S_BYTES >= 16 * 20 * 4, "bf16 tiles and staging fit in a tile");
    static_assert(BYTES <= 48 * 1024, "tensor-core attention backward tile exceeds 48 KB of shared memory");
};

// dK, dV on tensor cores. grid (ceil(T / KEYS), NKV), block 32 * WARPS.
// a.lse: L2 then D as the LSE kernel wrote them; writes dk, dv (T, NKV*HD)
// rows of the block's keys, summed over the group's heads.
template <int HD>
static __global__ void __launch_bounds__(32 * ptk_atcbw_cfg<HD>::WARPS)
    ptk_atc_dkdv_kernel(float *dk, float *dv, ptk_att_args a) {
    namespace wm = nvcuda::wmma;
    typedef ptk_atcbw_cfg<HD> C;
    constexpr int BQ = C::BQ, DC = C::DC, NT = C::NT, LDH = C::LDH, LDS = C::LDS, LDP = C::LDP;
    constexpr int NTHR = 32 * C::WARPS;
    __shared__ ptk_vec<8> sm8[C::BYTES / 32];
    unsigned char *smb = reinterpret_cast<unsigned char *>(sm8);
    __nv_bfloat16 *Ks = reinterpret_cast<__nv_bfloat16 *>(smb + C::K_OFF);
    __nv_bfloat16 *Vs = reinterpret_cast<__nv_bfloat16 *>(smb + C::V_OFF);
    __nv_bfloat16 *Qs = reinterpret_cast<__nv_bfloat16 *>(smb + C::Q_OFF);
    __nv_bfloat16 *DOs = reinterpret_cast<__nv_bfloat16 *>(smb + C::DO_OFF);
    float *Ls = reinterpret_cast<float *>(smb + C::L_OFF), *Ds = Ls + BQ;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    unsigned char *wb = smb + C::W_OFF + warp * C::WBYTES;
    float *TA = reinterpret_cast<float *>(wb), *TB = reinterpret_cast<float *>(wb + C::S_BYTES);
    __nv_bfloat16 *DST = reinterpret_cast<__nv_bfloat16 *>(TA), *PT = reinterpret_cast<__nv_bfloat16 *>(TB);

    const int T = a.N, NH = a.NH, group = a.NH / a.NKV, g = blockIdx.y;
    const size_t QW = (size_t)NH * HD, KVW = (size_t)a.NKV * HD;
    const float sl2 = a.scale * PTK_ATC_LOG2E;
    const int j0 = blockIdx.x * C::KEYS, wk0 = j0 + warp * 16;  // the block's and the warp's first key
    const int kr = lane >> 1, half = lane & 1, key = wk0 + kr;  // a lane: key row kr, half of a tile's queries
    const int cb = half * (BQ / 2);
    const float *kc = a.k + (size_t)g * HD, *vc = a.v + (size_t)g * HD;
    auto keyrows = [&](const float *base) {
        return [=](int r) -> const float * { return j0 + r < T ? base + (size_t)(j0 + r) * KVW : nullptr; };
    };
    ptk_atc_load<HD, LDH>(Ks, C::KEYS, keyrows(kc), threadIdx.x, NTHR);
    ptk_atc_load<HD, LDH>(Vs, C::KEYS, keyrows(vc), threadIdx.x, NTHR);

    ptk_facc dK[DC], dV[DC];  // dK / scale, dV of the warp's 16 keys
    PTK_ATT_UNROLL
    for (int c = 0; c < DC; c++) {
        wm::fill_fragment(dK[c], 0.0f);
        wm::fill_fragment(dV[c], 0.0f);
    }
    const __nv_bfloat16 *Kw = Ks + warp * 16 * LDH, *Vw = Vs + warp * 16 * LDH;

    for (int i0 = j0; i0 < T; i0 += BQ) {
        for (int hh = 0; hh < group; hh++) {
            const int h = g * group + hh;
            const float ab2 = a.alibi ? pt_alibi_slope(h, NH) * PTK_ATC_LOG2E : 0.0f;  // ALiBi, log2 units
            __syncthreads();  // the last tile's readers are done (and K, V are stored)
            auto qrows = [&](const float *base) {
                return [=](int r) -> const float * {
                    return i0 + r < T ? base + (size_t)(i0 + r) * QW + (size_t)h * HD : nullptr;
                };
            };
            ptk_atc_load<HD, LDH>(Qs, BQ, qrows(a.q), threadIdx.x, NTHR);
            ptk_atc_load<HD, LDH>(DOs, BQ, qrows(a.dout), threadIdx.x, NTHR);
            if (threadIdx.x < BQ) {
                const int i = i0 + threadIdx.x;
                Ls[threadIdx.x] = i < T ? a.lse[(size_t)i * NH + h] : 0.0f;
                Ds[threadIdx.x] = i < T ? a.lse[(size_t)T * NH + (size_t)i * NH + h] : 0.0f;
            }
            __syncthreads();
            if (wk0 >= T || i0 + BQ - 1 < wk0) continue;  // warp-uniform: no query sees these keys

            // S^T (16 keys, BQ queries) = K Q^T into TA
            ptk_atc_abt<NT, DC>(TA, LDS, Kw, LDH, Qs, LDH);
            __syncwarp();
            // P^T = 2^(x - L2) where query i sees the key: fp32 in place in TA, bf16 into PT (TB)
            PTK_ATT_UNROLL
            for (int j = 0; j < BQ / 2; j++) {
                const int i = i0 + cb + j;
                float *x = TA + kr * LDS + cb + j;
                const float p = i < T && key <= i ? exp2f(*x * sl2 + ab2 * (float)(key - i) - Ls[cb + j]) : 0.0f;
                *x = p;
                PT[kr * LDP + cb + j] = __float2bfloat16(p);
            }
            __syncwarp();
            ptk_fa pa[NT];
            PTK_ATT_UNROLL
            for (int kt = 0; kt < NT; kt++) wm::load_matrix_sync(pa[kt], PT + kt * 16, LDP);
            __syncwarp();  // PT is read before dP^T overwrites it

            // dP^T (16 keys, BQ queries) = V dO^T into TB
            ptk_atc_abt<NT, DC>(TB, LDS, Vw, LDH, DOs, LDH);
            __syncwarp();
            // dS^T = P^T (dP^T - D), bf16 into TA once every lane has read its P
            float ds[BQ / 2];
            PTK_ATT_UNROLL
            for (int j = 0; j < BQ / 2; j++) ds[j] = TA[kr * LDS + cb + j] * (TB[kr * LDS + cb + j] - Ds[cb + j]);
            __syncwarp();
            PTK_ATT_UNROLL
            for (int j = 0; j < BQ / 2; j++) DST[kr * LDP + cb + j] = __float2bfloat16(ds[j]);
            __syncwarp();

            // dV += P^T dO, dK += dS^T Q
            ptk_fa sa[NT];
            PTK_ATT_UNROLL
            for (int kt = 0; kt < NT; kt++) wm::load_matrix_sync(sa[kt], DST + kt * 16, LDP);
            PTK_ATT_UNROLL
            for (int c = 0; c < DC; c++)
                PTK_ATT_UNROLL
                for (int kt = 0; kt < NT; kt++) {
                    ptk_fb_row xb;
                    wm::load_matrix_sync(xb, DOs + kt * 16 * LDH + c * 16, LDH);
                    wm::mma_sync(dV[c], pa[kt], xb, dV[c]);
                    wm::load_matrix_sync(xb, Qs + kt * 16 * LDH + c * 16, LDH);
                    wm::mma_sync(dK[c], sa[kt], xb, dK[c]);
                }
        }
    }
    if (wk0 >= T) return;  // warp-uniform; no block barrier follows

    const size_t off = (size_t)ptk_att_min(key, T - 1) * KVW + (size_t)g * HD + half * 8;
    PTK_ATT_UNROLL
    for (int c = 0; c < DC; c++) {
        PTK_ATT_UNROLL
        for (int m = 0; m < 2; m++) {  // dK (times scale), then dV
            float v[8];
            ptk_atc_unstage(TA, m ? dV[c] : dK[c], v);
            if (key < T) {
                const float mul = m ? 1.0f : a.scale;
                ptk_vec<4> x0, x1;
                PTK_ATT_UNROLL
                for (int e = 0; e < 4; e++) {
                    x0.v[e] = v[e] * mul;
                    x1.v[e] = v[4 + e] * mul;
                }
                float *dst = (m ? dv : dk) + off + c * 16;
                ptk_stv<4>(dst, x0);
                ptk_stv<4>(dst + 4, x1);
            }
        }
    }
}

// ---- tensor-core launchers ----

// Whether a call of N queries (the backward: T tokens) at head dim HD takes
// the tensor-core instances: HD 64 or 128, every buffer 16-byte aligned
// (`aligned`), N >= PTK_ATC_MINN. The precision contract differs (the header).
static inline int ptk_attention_uses_tc(int N, int HD, int aligned) {
    return aligned && N >= PTK_ATC_MINN && (HD == 64 || HD == 128);
}

template <int HD, int MODE>
static inline void ptk_atc_rows_launch(cudaStream_t s, const ptk_att_args &a) {
    const int rows = a.N * (a.NH / a.NKV), per = ptk_atc_cfg<HD, MODE>::ROWS;
    dim3 grid((unsigned)((rows + per - 1) / per), (unsigned)a.NKV);
    PT_LAUNCH((ptk_atc_rows_kernel<HD, MODE>), grid, dim3(128), 0, s, a);
}
template <int HD>
static inline void ptk_atc_dkdv_launch(cudaStream_t s, float *dk, float *dv, const ptk_att_args &a) {
    typedef ptk_atcbw_cfg<HD> C;
    dim3 grid((unsigned)((a.N + C::KEYS - 1) / C::KEYS), (unsigned)a.NKV);
    PT_LAUNCH((ptk_atc_dkdv_kernel<HD>), grid, dim3(32 * C::WARPS), 0, s, dk, dv, a);
}
// The whole backward on tensor cores: L2 and D, dK and dV, dQ.
template <int HD>
static inline void ptk_atc_backward(cudaStream_t s, float *dq, float *dk, float *dv, ptk_att_args a, float *scratch) {
    a.out = scratch;
    ptk_atc_rows_launch<HD, PTK_ATT_LSE>(s, a);
    ptk_atc_dkdv_launch<HD>(s, dk, dv, a);
    a.out = dq;
    ptk_atc_rows_launch<HD, PTK_ATT_DQ>(s, a);
}

#endif
