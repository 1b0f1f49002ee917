// cuemu.h - runs CUDA kernels written against src/engine/cuda/cuda_compat.cuh
// on the CPU, so that CI (no GPU) executes every kernel. Compile the kernel
// headers with g++ -std=c++17 -DPT_CUEMU -I tests/cuemu; host pointers stand in
// for device pointers.
//
// Model. PT_LAUNCH(kernel, grid, block, smem, stream, args...) runs the kernel
// synchronously. It creates one OS thread per CUDA thread of a block
// (blockDim.x*y*z threads, 256 KiB stacks) and reuses them for every block of
// the launch: the blocks run one after another, in order (x fastest), each
// with all of its threads running concurrently (see Scheduling below). Lane =
// linear thread id % 32, as on the GPU (x fastest, then y, then z). Starting
// the threads costs about 40 us each (10 ms for 256), so prefer few launches
// of many blocks in tests.
//
// Shared memory. __shared__ is `static`: blocks of a launch never overlap and
// launches never overlap (a global mutex serialises them: launches from two
// host threads do not run concurrently, the second waits), so a kernel-scope
// static array is exactly the running block's shared memory. It
// keeps the previous block's contents (on the GPU it is undefined) - do not
// read it before writing it. Dynamic shared memory (PT_DYN_SMEM) is a buffer
// of exactly `smem` bytes per launch (AddressSanitizer sees reads past it),
// filled with 0xFF bytes (NaN as float, -1 as int) before every block, so a
// read of a never-written element shows up. At most CUEMU_MAX_DYN_SMEM bytes
// (48 KiB, the GPU's limit without cudaFuncSetAttribute).
//
// Strictness. Everything the GPU leaves undefined and that the emulator can
// see aborts the process with a "cuemu: ..." line on stderr instead of hanging
// or guessing: a __syncthreads that some thread of the block never reaches
// because it returned ("__syncthreads divergence in block (x,y,z)"), the same
// for __syncwarp and the shuffles within a warp, any state where every live
// thread of a block waits at a barrier that cannot complete ("deadlock"), a
// warp mask other than 0xffffffff, an invalid launch configuration, a launch
// from inside a kernel. A shuffle that reads a lane beyond a partial last warp
// gets 0xFF bytes (NaN / -1), like unwritten dynamic shared memory.
//
// Tensor cores (nvcuda::wmma, bf16 16x16x16 only; see the end of this file).
// A fragment is a lane's private object holding the whole 16x16 tile (on the
// GPU each lane holds 8 of its elements, in an unspecified layout, which is
// why kernels may not touch fragment elements); it starts as NaN, so a
// fragment used before a load or fill poisons its results. load_matrix_sync,
// store_matrix_sync and mma_sync are warp-collective: every lane of a full
// warp must call them with the same pointer, ldm and layout (checked: a
// divergent lane, a partial warp or differing arguments abort), the pointer
// 32-byte aligned and ldm a multiple of 16 bytes (checked, as CUDA requires).
// A load waits for the whole warp, then each lane reads the tile. A store
// writes every element once (lane l the elements l, l+32, ... of the tile),
// then waits for the whole warp, so after __syncwarp every lane sees the tile
// as it would on the GPU. mma_sync: D = A B + C with the bf16 products exact
// in float and summed in float from C, k = 0..15 in order (the GPU's
// summation order and internal precision differ: kernels must not depend on
// either). fill_fragment is per lane, as on the GPU.
//
// Global state (the documented exception to "no global mutable state"): the
// launch mutex, the error-report mutex, and thread_local built-ins
// (threadIdx, blockIdx, blockDim, gridDim) plus a pointer to the running
// launch, set by each worker thread.
#ifndef PT_CUEMU_H
#define PT_CUEMU_H

#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#ifndef CUEMU_MAX_DYN_SMEM
#define CUEMU_MAX_DYN_SMEM 49152
#endif

// ---- Qualifiers -----------------------------------------------------------
// Kernels in headers must be `static __global__`: a test also links the
// engine, whose nvcc-built objects hold host stubs under the kernels' names
// (a non-static kernel is a "multiple definition" at link time). Helpers that
// are __host__ __device__ must be inline or static for the same reason.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static
// __restrict__ is already a g++ keyword.

// ---- Built-in variables ---------------------------------------------------
struct dim3 {
    unsigned x, y, z;
    constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
constexpr int warpSize = 32;

// ---- Runtime types --------------------------------------------------------
typedef struct CUstream_st *cudaStream_t;
enum cudaError { cudaSuccess = 0 };
typedef enum cudaError cudaError_t;
// Errors in the emulator abort at once, so there is never one to report.
inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }
inline cudaError_t cudaPeekAtLastError(void) { return cudaSuccess; }
inline const char *cudaGetErrorString(cudaError_t e) { return e == cudaSuccess ? "no error" : "unknown error"; }

namespace cuemu {

// Prints "cuemu: <message>" and aborts; one report even if threads race here.
[[noreturn]] __attribute__((format(printf, 1, 2))) inline void fail(const char *fmt, ...) {
    static std::mutex report_mutex;
    report_mutex.lock();   // never unlocked: a second reporter waits for the abort
    va_list ap;
    va_start(ap, fmt);
    fputs("cuemu: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    fflush(stderr);
    abort();
}

// ---- Scheduling -----------------------------------------------------------
// Every CUDA thread of a block is an OS thread. The threads are split into
// one group per CPU (thread t in group t % groups, at most 8 groups), pinned
// to that CPU; in each group one thread holds the turn and runs, the others
// sleep on their own futex word. A thread that must wait at a barrier hands
// its turn straight to the next ready thread of its group; the last arrival
// at a barrier makes the waiters ready. So threads of different groups run
// truly in parallel, each wait costs one same-CPU context switch, and no
// wake-up crosses CPUs. Measured on 2 vCPUs (1000 blocks x 256 threads x 10
// barriers, busy machine): 6-7 s; one futex barrier waking all its waiters,
// as pthread_barrier_wait does: 11-15 s (cross-CPU wake-ups); yielding
// before sleeping: no better, as threads outnumber cores 128 to 1. Most of
// the cost is the kernel's context switch (about 2 us here), one per thread
// per barrier.
// Deadlock detection is exact: nobody running and nobody ready means every
// live thread waits forever. Kernels must not spin-wait on other threads
// (nothing in cuda_compat.cuh's subset can).

// Only threads holding a turn take it (one per CPU), for a few hundred
// nanoseconds: spinning beats a mutex, whose sleeping would idle the CPU.
struct SpinLock {
    std::atomic<bool> held{false};
    void lock() {
        for (unsigned i = 0;; i++) {
            if (!held.load(std::memory_order_relaxed) && !held.exchange(true, std::memory_order_acquire)) return;
            if (i >= 64) sched_yield();   // the holder may have been preempted
#if defined(__x86_64__) || defined(__i386__)
            else __builtin_ia32_pause();
#endif
        }
    }
    void unlock() { held.store(false, std::memory_order_release); }
};

struct Barrier {                    // guarded by Launch::m
    unsigned n = 0, arrived = 0;
    unsigned episode = 0;           // completed episodes; parity picks the shuffle buffer
    std::vector<unsigned> waiters;  // thread ids, in arrival order
};

struct Warp {
    Barrier bar;            // __syncwarp and the shuffles
    unsigned exited = 0;    // lanes of this warp that returned, this block
    unsigned nlanes = 0;    // 32, or fewer for a partial last warp
    uint64_t slot[2][32];   // shuffle exchange, double-buffered by episode parity
};

struct alignas(64) Turn {
    std::atomic<uint32_t> go{0};   // futex word: 1 = this thread may run
};
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex word");

// The threads that share one CPU: one of them holds the turn.
struct Group {
    int cpu = -1;                  // pinned there, or -1
    bool running = false;
    std::vector<unsigned> ready;   // ring of threads waiting for the turn
    unsigned head = 0, count = 0;
};

struct Launch {
    dim3 grid, block;
    unsigned long long nblocks = 0;
    unsigned nthreads = 0, nwarps = 0;
    size_t smem = 0;
    unsigned char *smem_buf = nullptr;   // dynamic shared memory, smem bytes
    void (*body)(void *) = nullptr;      // runs the kernel with its arguments
    void *body_ctx = nullptr;
    std::vector<Turn> turns;             // one per thread

    SpinLock m;                          // guards everything below
    Barrier block_bar;                   // __syncthreads
    Barrier end_bar;                     // between blocks; not visible to kernels
    std::vector<Warp> warps;
    unsigned exited = 0;                 // threads of this block that returned
    std::vector<Group> groups;           // thread t belongs to groups[t % groups.size()]
    unsigned running = 0;                // groups whose turn is taken
};

struct ThreadCtx {
    Launch *L;
    unsigned tid, lane;
    Warp *warp;
};
inline thread_local ThreadCtx *tctx = nullptr;

inline ThreadCtx &ctx(const char *what) {
    if (!tctx) fail("%s called outside a kernel", what);
    return *tctx;
}

[[noreturn]] inline void fail_in_block(const char *what, const char *why) {
    fail("%s in block (%u,%u,%u): %s", what, blockIdx.x, blockIdx.y, blockIdx.z, why);
}

inline void futex_wake_one(std::atomic<uint32_t> *w) {
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Threads given a turn under the lock, woken after it is dropped.
struct Wakes {
    unsigned id[9];   // at most one per group, plus a passed turn
    unsigned n = 0;
    void wake(Launch &L) {
        for (unsigned i = 0; i < n; i++) futex_wake_one(&L.turns[id[i]].go);
    }
};

inline Group &group_of(Launch &L, unsigned id) { return L.groups[id % L.groups.size()]; }
inline void push_ready(Launch &L, unsigned id) {
    Group &g = group_of(L, id);
    g.ready[(g.head + g.count++) % g.ready.size()] = id;
}
inline unsigned pop_ready(Group &g) {
    unsigned id = g.ready[g.head];
    g.head = (g.head + 1) % (unsigned)g.ready.size();
    g.count--;
    return id;
}
inline void give_turn(Launch &L, unsigned id, Wakes &wk) {
    L.turns[id].go.store(1, std::memory_order_release);
    wk.id[wk.n++] = id;
}
// Fill free turns from the ready ring (lock held).
inline void dispatch(Launch &L, Wakes &wk) {
    for (Group &g : L.groups)
        if (!g.running && g.count) {
            g.running = true;
            L.running++;
            give_turn(L, pop_ready(g), wk);
        }
}
// Barrier b completes: its waiters become ready (lock held).
inline void complete(Launch &L, Barrier &b, Wakes &wk) {
    b.arrived = 0;
    b.episode++;
    for (unsigned id : b.waiters) push_ready(L, id);
    b.waiters.clear();
    dispatch(L, wk);
}
// The caller stops running: its turn goes to the next ready thread. Returns
// false when nobody is left running or ready (lock held).
inline bool pass_turn(Launch &L, unsigned id, Wakes &wk) {
    Group &g = group_of(L, id);
    if (g.count) {
        give_turn(L, pop_ready(g), wk);
        return true;
    }
    g.running = false;
    return --L.running > 0;
}
inline void wait_turn(Launch &L, unsigned id) {
    std::atomic<uint32_t> &go = L.turns[id].go;
    while (go.load(std::memory_order_acquire) == 0)
        syscall(SYS_futex, reinterpret_cast<uint32_t *>(&go), FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
}

// Arrive at b and wait for it to complete; lk holds L.m and is released.
inline void arrive_and_wait(ThreadCtx &c, Barrier &b, std::unique_lock<SpinLock> &lk) {
    Launch &L = *c.L;
    Wakes wk;
    if (++b.arrived == b.n) {
        complete(L, b, wk);
        lk.unlock();
        wk.wake(L);
        return;
    }
    b.waiters.push_back(c.tid);
    L.turns[c.tid].go.store(0, std::memory_order_relaxed);
    if (!pass_turn(L, c.tid, wk))
        fail_in_block("deadlock", "every live thread waits at a barrier (__syncthreads, __syncwarp or a shuffle) "
                                  "that the others never reach");
    lk.unlock();
    wk.wake(L);
    wait_turn(L, c.tid);
}

// A kernel-visible barrier: warp == nullptr for __syncthreads. A shuffle
// passes its value as `publish`; returns the episode the caller took part in.
inline unsigned kernel_barrier(ThreadCtx &c, Warp *warp, const char *what, const uint64_t *publish = nullptr) {
    Launch &L = *c.L;
    std::unique_lock<SpinLock> lk(L.m);
    Barrier &b = warp ? warp->bar : L.block_bar;
    // A thread that should arrive has returned: it never will. (The return
    // path checks the other order: it returns while we wait.)
    if (warp ? warp->exited > 0 : L.exited > 0) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s divergence", what);
        fail_in_block(msg, warp ? "a lane of the warp returned" : "a thread of the block returned");
    }
    unsigned episode = b.episode;
    if (publish) warp->slot[episode & 1][c.lane] = *publish;
    arrive_and_wait(c, b, lk);
    return episode;
}

inline void check_mask(unsigned mask, const char *what) {
    if (mask != 0xffffffffu) fail("%s: mask 0x%08x; only the full mask 0xffffffff is supported", what, mask);
}

// One shuffle: every lane publishes v, waits for the warp, reads lane src.
// A lane beyond a partial warp reads the slot's 0xFF poison. The buffer
// alternates by episode, so a lane may write the next shuffle's value while
// a slower lane still reads this one.
template <class T> inline T shfl(ThreadCtx &c, T v, unsigned src, const char *what) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value, "shuffle type");
    Warp &w = *c.warp;
    uint64_t bits;
    memset(&bits, 0xFF, sizeof bits);
    memcpy(&bits, &v, sizeof v);
    unsigned parity = kernel_barrier(c, &w, what, &bits) & 1;
    if (src == c.lane) return v;
    T r;
    memcpy(&r, &w.slot[parity][src], sizeof r);
    return r;
}

inline void check_width(int width, const char *what) {
    if (width < 1 || width > 32 || (width & (width - 1))) fail("%s: width %d is not a power of two <= 32", what, width);
}

// ---- Launch ---------------------------------------------------------------
inline std::mutex &launch_mutex() {
    static std::mutex m;
    return m;
}

inline void poison_block_state(Launch &L) {
    if (L.smem) memset(L.smem_buf, 0xFF, L.smem);
}

// The thread returned from the kernel: check nobody waits for it, then wait
// for the rest of the block; the last one resets the block's state.
inline void end_block(ThreadCtx &c) {
    Launch &L = *c.L;
    std::unique_lock<SpinLock> lk(L.m);
    L.exited++;
    c.warp->exited++;
    if (L.block_bar.arrived > 0)
        fail_in_block("__syncthreads divergence", "a thread returned while others of the block wait");
    if (c.warp->bar.arrived > 0)
        fail_in_block("__syncwarp/__shfl/wmma divergence", "a lane returned while others of its warp wait");
    if (L.end_bar.arrived + 1 == L.end_bar.n) {
        L.exited = 0;
        for (Warp &w : L.warps) w.exited = 0;
        poison_block_state(L);
    }
    arrive_and_wait(c, L.end_bar, lk);
}

inline void *worker(void *p) {
    ThreadCtx &c = *static_cast<ThreadCtx *>(p);
    Launch &L = *c.L;
    tctx = &c;
    blockDim = L.block;
    gridDim = L.grid;
    threadIdx = dim3(c.tid % L.block.x, c.tid / L.block.x % L.block.y, c.tid / (L.block.x * L.block.y));
    int cpu = group_of(L, c.tid).cpu;
    if (cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);   // best effort
    }
    wait_turn(L, c.tid);
    for (unsigned long long b = 0; b < L.nblocks; b++) {
        blockIdx = dim3((unsigned)(b % L.grid.x), (unsigned)(b / L.grid.x % L.grid.y),
                        (unsigned)(b / ((unsigned long long)L.grid.x * L.grid.y)));
        L.body(L.body_ctx);
        end_block(c);
    }
    Wakes wk;
    {
        std::lock_guard<SpinLock> lk(L.m);
        pass_turn(L, c.tid, wk);
    }
    wk.wake(L);
    tctx = nullptr;
    return nullptr;
}

// One group per CPU this process may use (at most 8: beyond that the one
// lock is the bottleneck; at most one per thread).
inline void make_groups(Launch &L) {
    cpu_set_t set;
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int i = 0; i < CPU_SETSIZE && cpus.size() < 8; i++)
            if (CPU_ISSET(i, &set)) cpus.push_back(i);
    if (cpus.empty()) cpus.push_back(-1);
    if (cpus.size() > L.nthreads) cpus.resize(L.nthreads);
    L.groups = std::vector<Group>(cpus.size());
    for (size_t i = 0; i < cpus.size(); i++) {
        L.groups[i].cpu = cpus[i];
        L.groups[i].ready.assign((L.nthreads + cpus.size() - 1) / cpus.size(), 0);
    }
}

template <class T> inline dim3 to_dim3(T v) {
    static_assert(std::is_integral<T>::value, "grid/block: an integer or a dim3");
    if (v < 1 || (unsigned long long)v > 0x7fffffffull)
        fail("PT_LAUNCH: grid/block size %lld out of range", (long long)v);
    return dim3((unsigned)v);
}
inline dim3 to_dim3(dim3 d) { return d; }

inline void run_launch(Launch &L, const char *name) {
    const dim3 g = L.grid, b = L.block;
    unsigned long long nt = (unsigned long long)b.x * b.y * b.z;
    if (!b.x || !b.y || !b.z || b.x > 1024 || b.y > 1024 || b.z > 64 || nt > 1024)
        fail("PT_LAUNCH(%s): invalid block (%u,%u,%u): each >= 1, x,y <= 1024, z <= 64, product <= 1024", name,
             b.x, b.y, b.z);
    if (!g.x || !g.y || !g.z || g.x > 0x7fffffffu || g.y > 65535 || g.z > 65535)
        fail("PT_LAUNCH(%s): invalid grid (%u,%u,%u)", name, g.x, g.y, g.z);
    if (L.smem > CUEMU_MAX_DYN_SMEM)
        fail("PT_LAUNCH(%s): %zu bytes of dynamic shared memory, more than %d", name, L.smem, CUEMU_MAX_DYN_SMEM);
    if (tctx) fail("PT_LAUNCH(%s) from inside a kernel", name);

    std::lock_guard<std::mutex> lock(launch_mutex());
    L.nblocks = (unsigned long long)g.x * g.y * g.z;
    L.nthreads = (unsigned)nt;
    L.nwarps = (L.nthreads + 31) / 32;
    make_groups(L);
    L.turns = std::vector<Turn>(L.nthreads);
    L.block_bar.n = L.end_bar.n = L.nthreads;
    L.block_bar.waiters.reserve(L.nthreads);
    L.end_bar.waiters.reserve(L.nthreads);
    L.warps = std::vector<Warp>(L.nwarps);
    for (unsigned w = 0; w < L.nwarps; w++) {
        L.warps[w].nlanes = w + 1 < L.nwarps ? 32 : L.nthreads - 32 * w;
        L.warps[w].bar.n = L.warps[w].nlanes;
        L.warps[w].bar.waiters.reserve(32);
        memset(L.warps[w].slot, 0xFF, sizeof L.warps[w].slot);
    }
    L.smem_buf = static_cast<unsigned char *>(::operator new(L.smem, std::align_val_t(16)));
    poison_block_state(L);

    std::vector<ThreadCtx> ctxs(L.nthreads);
    std::vector<pthread_t> threads(L.nthreads);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
#if defined(__SANITIZE_ADDRESS__)
    pthread_attr_setstacksize(&attr, 1u << 20);   // ASan frames are larger
#else
    pthread_attr_setstacksize(&attr, 256u << 10);
#endif
    for (unsigned t = 0; t < L.nthreads; t++) {
        ctxs[t] = ThreadCtx{&L, t, t % 32, &L.warps[t / 32]};
        int rc = pthread_create(&threads[t], &attr, worker, &ctxs[t]);
        if (rc) fail("PT_LAUNCH(%s): cannot start thread %u of %u: %s", name, t, L.nthreads, strerror(rc));
    }
    pthread_attr_destroy(&attr);
    Wakes wk;
    {
        std::lock_guard<SpinLock> lk(L.m);
        for (unsigned t = 0; t < L.nthreads; t++) push_ready(L, t);
        dispatch(L, wk);
    }
    wk.wake(L);
    for (pthread_t &t : threads) pthread_join(t, nullptr);
    ::operator delete(L.smem_buf, std::align_val_t(16));
    L.smem_buf = nullptr;
}

template <class... P> struct Launcher {
    void (*kernel)(P...);
    const char *name;
    dim3 grid, block;
    size_t smem;

    template <class... A> void operator()(A &&...args) const {
        static_assert(sizeof...(A) == sizeof...(P), "PT_LAUNCH: argument count differs from the kernel's parameters");
        struct Body {
            void (*fn)(P...);
            std::tuple<std::decay_t<P>...> params;   // copied into each thread's by-value parameters
            static void run(void *p) {
                Body *b = static_cast<Body *>(p);
                std::apply(b->fn, b->params);
            }
        } body{kernel, std::tuple<std::decay_t<P>...>(std::forward<A>(args)...)};
        Launch L;
        L.grid = grid;
        L.block = block;
        L.smem = smem;
        L.body = &Body::run;
        L.body_ctx = &body;
        run_launch(L, name);
    }
};

template <class... P, class G, class B>
inline Launcher<P...> make_launcher(void (*kernel)(P...), const char *name, G grid, B block, size_t smem) {
    return Launcher<P...>{kernel, name, to_dim3(grid), to_dim3(block), smem};
}

inline unsigned char *dyn_smem() { return ctx("PT_DYN_SMEM").L->smem_buf; }

// Read-modify-write of *addr with f, atomically (lock-free CAS on the bits).
template <class T, class F> inline T atomic_update(T *addr, F f) {
    T old, next;
    __atomic_load(addr, &old, __ATOMIC_RELAXED);
    do {
        next = f(old);
    } while (!__atomic_compare_exchange(addr, &old, &next, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED));
    return old;
}

}   // namespace cuemu

// kernel<<<grid, block, smem, stream>>>(args...), synchronously on the CPU.
#define PT_LAUNCH(kernel, grid, block, smem, stream, ...) \
    ((void)(stream), ::cuemu::make_launcher((kernel), #kernel, (grid), (block), (size_t)(smem))(__VA_ARGS__))
// type *name = the block's dynamic shared memory (16-byte aligned)
#define PT_DYN_SMEM(type, name) type *name = reinterpret_cast<type *>(::cuemu::dyn_smem())

// ---- Synchronisation and warp shuffles ------------------------------------
inline void __syncthreads(void) {
    cuemu::ThreadCtx &c = cuemu::ctx("__syncthreads");
    cuemu::kernel_barrier(c, nullptr, "__syncthreads");
}
inline void __syncwarp(unsigned mask = 0xffffffffu) {
    cuemu::ThreadCtx &c = cuemu::ctx("__syncwarp");
    cuemu::check_mask(mask, "__syncwarp");
    cuemu::kernel_barrier(c, c.warp, "__syncwarp");
}

#define CUEMU_SHUFFLES(T)                                                                       \
    inline T __shfl_sync(unsigned mask, T v, int src_lane, int width = warpSize) {              \
        cuemu::ThreadCtx &c = cuemu::ctx("__shfl_sync");                                        \
        cuemu::check_mask(mask, "__shfl_sync");                                                 \
        cuemu::check_width(width, "__shfl_sync");                                               \
        unsigned w = (unsigned)width;                                                           \
        unsigned src = (c.lane & ~(w - 1)) + ((unsigned)src_lane & (w - 1));                    \
        return cuemu::shfl(c, v, src, "__shfl_sync");                                           \
    }                                                                                           \
    inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {         \
        cuemu::ThreadCtx &c = cuemu::ctx("__shfl_xor_sync");                                    \
        cuemu::check_mask(mask, "__shfl_xor_sync");                                             \
        cuemu::check_width(width, "__shfl_xor_sync");                                           \
        unsigned w = (unsigned)width;                                                           \
        unsigned src = c.lane ^ ((unsigned)lane_mask & 31u);                                    \
        if (src >= (c.lane & ~(w - 1)) + w) src = c.lane; /* later group: own value */          \
        return cuemu::shfl(c, v, src, "__shfl_xor_sync");                                       \
    }                                                                                           \
    inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {       \
        cuemu::ThreadCtx &c = cuemu::ctx("__shfl_down_sync");                                   \
        cuemu::check_mask(mask, "__shfl_down_sync");                                            \
        cuemu::check_width(width, "__shfl_down_sync");                                          \
        unsigned w = (unsigned)width;                                                           \
        unsigned src = (c.lane & (w - 1)) + delta < w ? c.lane + delta : c.lane;                \
        return cuemu::shfl(c, v, src, "__shfl_down_sync");                                      \
    }
CUEMU_SHUFFLES(float)
CUEMU_SHUFFLES(double)
CUEMU_SHUFFLES(int)
CUEMU_SHUFFLES(unsigned)
#undef CUEMU_SHUFFLES

// ---- Atomics (return the old value) ----------------------------------------
inline float atomicAdd(float *a, float v) {
    return cuemu::atomic_update(a, [v](float o) { return o + v; });
}
inline double atomicAdd(double *a, double v) {
    return cuemu::atomic_update(a, [v](double o) { return o + v; });
}
inline int atomicAdd(int *a, int v) {   // wraps like the GPU's
    return cuemu::atomic_update(a, [v](int o) { return (int)((unsigned)o + (unsigned)v); });
}
inline int atomicMax(int *a, int v) {
    return cuemu::atomic_update(a, [v](int o) { return o > v ? o : v; });
}

// ---- Math the GPU has and glibc lacks --------------------------------------
// glibc's math.h declares __expf/__logf (noexcept, C linkage) but does not
// export them; these definitions match those declarations.
extern "C" {
inline float __expf(float x) noexcept { return expf(x); }
inline float __logf(float x) noexcept { return logf(x); }
inline float __fdividef(float a, float b) noexcept { return a / b; }
inline float rsqrtf(float x) noexcept { return 1.0f / sqrtf(x); }
inline float __frcp_rn(float x) noexcept { return 1.0f / x; }
}

// ---- min / max: CUDA's device overloads (same result types) ---------------
#define CUEMU_MINMAX(R, A, B)                                 \
    inline R min(A a, B b) { return (R)a < (R)b ? (R)a : (R)b; } \
    inline R max(A a, B b) { return (R)a > (R)b ? (R)a : (R)b; }
CUEMU_MINMAX(int, int, int)
CUEMU_MINMAX(unsigned, unsigned, unsigned)
CUEMU_MINMAX(unsigned, int, unsigned)
CUEMU_MINMAX(unsigned, unsigned, int)
CUEMU_MINMAX(long, long, long)
CUEMU_MINMAX(unsigned long, unsigned long, unsigned long)
CUEMU_MINMAX(unsigned long, long, unsigned long)
CUEMU_MINMAX(unsigned long, unsigned long, long)
CUEMU_MINMAX(long long, long long, long long)
CUEMU_MINMAX(unsigned long long, unsigned long long, unsigned long long)
CUEMU_MINMAX(unsigned long long, long long, unsigned long long)
CUEMU_MINMAX(unsigned long long, unsigned long long, long long)
#undef CUEMU_MINMAX
// Floating point: fmin/fmax, so a NaN operand yields the other one.
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(float a, double b) { return fmin(a, b); }
inline double max(float a, double b) { return fmax(a, b); }
inline double min(double a, float b) { return fmin(a, b); }
inline double max(double a, float b) { return fmax(a, b); }

// ---- bfloat16, bit-exact with cuda_bf16.h ----------------------------------
struct __nv_bfloat16 {
    uint16_t __x;   // the bits; kernels must not touch them (protected in CUDA)
};
// Round to nearest, ties to even; every NaN becomes 0x7FFF (CUDA's canonical
// NaN); overflow rounds to infinity.
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    __nv_bfloat16 h;
    if ((u & 0x7fffffffu) > 0x7f800000u) {
        h.__x = 0x7fff;
        return h;
    }
    uint32_t rem = u << 16;
    uint16_t r = (uint16_t)(u >> 16);
    if (rem > 0x80000000u || (rem == 0x80000000u && (r & 1u))) r++;
    h.__x = r;
    return h;
}
inline __nv_bfloat16 __float2bfloat16(float f) { return __float2bfloat16_rn(f); }
inline float __bfloat162float(__nv_bfloat16 h) {
    uint32_t u = (uint32_t)h.__x << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

// ---- Tensor cores: nvcuda::wmma, bf16 16x16x16 --------------------------------
// The subset of <mma.h> that cuda_compat.cuh allows; any other fragment shape
// or type is a compile error, and so is frag.x / frag.num_elements.
namespace cuemu {
struct WmmaAccess;
}
namespace nvcuda {
namespace wmma {
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

// The whole 16x16 tile, element (r, c) at t_[r * 16 + c]: (row, k) of A,
// (k, col) of B, (row, col) of C. NaN until loaded or filled.
class cuemu_tile_ {
    friend struct ::cuemu::WmmaAccess;
    float t_[256];

  public:
    cuemu_tile_() {
        for (float &x : t_) x = NAN;
    }
};

template <class> struct cuemu_false_ : std::false_type {};
template <class Use, int M, int N, int K, class T, class Layout = void> class fragment {
    static_assert(cuemu_false_<Use>::value,
                  "cuemu wmma: only fragment<matrix_a|matrix_b, 16, 16, 16, __nv_bfloat16, row_major|col_major> and "
                  "fragment<accumulator, 16, 16, 16, float>");
};
template <class Layout> class fragment<matrix_a, 16, 16, 16, __nv_bfloat16, Layout> : public cuemu_tile_ {
    static_assert(std::is_same<Layout, row_major>::value || std::is_same<Layout, col_major>::value,
                  "cuemu wmma: matrix_a needs row_major or col_major");
};
template <class Layout> class fragment<matrix_b, 16, 16, 16, __nv_bfloat16, Layout> : public cuemu_tile_ {
    static_assert(std::is_same<Layout, row_major>::value || std::is_same<Layout, col_major>::value,
                  "cuemu wmma: matrix_b needs row_major or col_major");
};
template <> class fragment<accumulator, 16, 16, 16, float, void> : public cuemu_tile_ {};

}   // namespace wmma
}   // namespace nvcuda

namespace cuemu {
struct WmmaAccess {
    static float *tile(nvcuda::wmma::cuemu_tile_ &f) { return f.t_; }
    static const float *tile(const nvcuda::wmma::cuemu_tile_ &f) { return f.t_; }
};

// The arguments CUDA requires of a matrix in memory.
inline void wmma_check_mem(const char *what, const void *p, unsigned ldm, unsigned elem_bytes) {
    if ((uintptr_t)p & 31u) fail("%s: pointer %p is not 32-byte (256-bit) aligned", what, p);
    if (ldm * elem_bytes % 16u)
        fail("%s: ldm %u is not a multiple of %u elements (16 bytes)", what, ldm, 16u / elem_bytes);
}

// A warp-collective step: every lane of a full warp arrives with the same
// key (pointer, ldm and layout); returns when all have.
inline void wmma_sync_point(const char *what, uint64_t key) {
    ThreadCtx &c = ctx(what);
    Warp &w = *c.warp;
    if (w.nlanes != 32) fail_in_block(what, "a warp with fewer than 32 lanes; wmma needs a full warp");
    unsigned parity = kernel_barrier(c, &w, what, &key) & 1;
    for (unsigned l = 0; l < 32; l++)
        if (w.slot[parity][l] != key)
            fail_in_block(what, "the lanes of a warp are at different wmma calls or passed different pointers, "
                                "strides or layouts");
}
// op: 1 load, 2 store, 3 mma (so lanes at different wmma calls differ too)
inline uint64_t wmma_key(unsigned op, const void *p = nullptr, unsigned ldm = 0, unsigned layout = 0) {
    return (uint64_t)(uintptr_t)p ^ ((uint64_t)ldm * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)layout << 59) ^
           ((uint64_t)op << 60);
}
}   // namespace cuemu

namespace nvcuda {
namespace wmma {
template <class Use, class Layout>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout> &f, const __nv_bfloat16 *p,
                             unsigned ldm) {
    const bool col = std::is_same<Layout, col_major>::value;
    cuemu::wmma_check_mem("load_matrix_sync", p, ldm, 2);
    cuemu::wmma_sync_point("load_matrix_sync", cuemu::wmma_key(1, p, ldm, col));
    float *t = cuemu::WmmaAccess::tile(f);
    for (unsigned r = 0; r < 16; r++)
        for (unsigned c = 0; c < 16; c++) t[r * 16 + c] = __bfloat162float(col ? p[c * ldm + r] : p[r * ldm + c]);
}
inline void load_matrix_sync(fragment<accumulator, 16, 16, 16, float> &f, const float *p, unsigned ldm,
                             layout_t layout) {
    const bool col = layout == mem_col_major;
    cuemu::wmma_check_mem("load_matrix_sync", p, ldm, 4);
    cuemu::wmma_sync_point("load_matrix_sync", cuemu::wmma_key(1, p, ldm, col));
    float *t = cuemu::WmmaAccess::tile(f);
    for (unsigned r = 0; r < 16; r++)
        for (unsigned c = 0; c < 16; c++) t[r * 16 + c] = col ? p[c * ldm + r] : p[r * ldm + c];
}
inline void store_matrix_sync(float *p, const fragment<accumulator, 16, 16, 16, float> &f, unsigned ldm,
                              layout_t layout) {
    const bool col = layout == mem_col_major;
    cuemu::wmma_check_mem("store_matrix_sync", p, ldm, 4);
    const float *t = cuemu::WmmaAccess::tile(f);
    for (unsigned e = cuemu::ctx("store_matrix_sync").lane; e < 256; e += 32) {
        unsigned r = e / 16, c = e % 16;
        p[col ? c * ldm + r : r * ldm + c] = t[e];
    }
    cuemu::wmma_sync_point("store_matrix_sync", cuemu::wmma_key(2, p, ldm, col));
}
inline void fill_fragment(fragment<accumulator, 16, 16, 16, float> &f, float v) {
    for (unsigned e = 0; e < 256; e++) cuemu::WmmaAccess::tile(f)[e] = v;
}
template <class Use, class Layout>
inline void fill_fragment(fragment<Use, 16, 16, 16, __nv_bfloat16, Layout> &f, __nv_bfloat16 v) {
    for (unsigned e = 0; e < 256; e++) cuemu::WmmaAccess::tile(f)[e] = __bfloat162float(v);
}
// d = a b + c; d may be c.
template <class LA, class LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float> &d,
                     const fragment<matrix_a, 16, 16, 16, __nv_bfloat16, LA> &a,
                     const fragment<matrix_b, 16, 16, 16, __nv_bfloat16, LB> &b,
                     const fragment<accumulator, 16, 16, 16, float> &c) {
    cuemu::wmma_sync_point("mma_sync", cuemu::wmma_key(3));
    const float *A = cuemu::WmmaAccess::tile(a), *B = cuemu::WmmaAccess::tile(b);
    float r[256];
    memcpy(r, cuemu::WmmaAccess::tile(c), sizeof r);
    for (unsigned i = 0; i < 16; i++)
        for (unsigned k = 0; k < 16; k++) {
            const float aik = A[i * 16 + k];   // the products of two bf16 are exact in float
            for (unsigned j = 0; j < 16; j++) r[i * 16 + j] += aik * B[k * 16 + j];
        }
    memcpy(cuemu::WmmaAccess::tile(d), r, sizeof r);
}
}   // namespace wmma
}   // namespace nvcuda

#endif
