// Direct (implicit-GEMM) 2-D convolution, float32, NCHW input, OIHW weight, groups G.
//
// Each pass is a per-group matrix product whose operands are gathered from the
// tensors on the fly, one shared-memory tile at a time, so no column buffer is
// ever written to global memory:
//
//   forward      y[n,o,p]       = sum_{c,i,j} w[o,c,i,j] x[n,c,p*S-P+(i,j)*D] (+ b[o], ReLU)
//                M = O/G rows (o), columns (n, oy, ox), K = C/G*KH*KW (c, i, j)
//   backward-data gx[n,c,h,w]   = sum_{o,i,j} w[o,c,i,j] gy[n,o,oy,ox] over (oy,ox) with
//                oy*SH - PH + i*DH = h (same for w);  M = C/G, columns (n, h, w), K = O/G*KH*KW
//   backward-weight gw[o,c,i,j] = sum_{n,oy,ox} gy[n,o,oy,ox] x[n,c,oy*SH-PH+i*DH, ox*SW-PW+j*DW]
//                M = O/G, columns (c, i, j), K = N*OH*OW, split over gridDim.z into
//                partial sums that the host adds in a fixed order (deterministic, no atomics)
//
// Every kernel exists in two tile shapes, chosen per problem by the autotuner in
// kernels/cuda_conv.py: suffix _64 (a 64 x 64 output tile, 4 x 4 per thread, K step 16)
// and _128 (128 x 128, 8 x 8 per thread, K step 8). Blocks have 256 threads. The
// wrappers in kernels/cuda.py check dtype (float32), contiguity and that every index
// fits in 32 bits.

#define NTHREADS 256

#define CONV_PARAMS int N, int C, int H, int W, int O, int KH, int KW, int SH, int SW, \
                    int PH, int PW, int DH, int DW, int OH, int OW, int G
#define CONV_ARGS N, C, H, W, O, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, G

struct Shape {
    int N, C, H, W, O, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, G;
    __device__ int cg() const { return C / G; }
    __device__ int og() const { return O / G; }
    __device__ int kk() const { return KH * KW; }
    __device__ int ohw() const { return OH * OW; }
};

// The tile of C = A B with rows [m0, m0+BM), columns [p0, p0+BN), reduced over
// k in [k_begin, k_end). Thread (tx, ty) = (tid % 16, tid / 16) accumulates
// acc[r][q] for row m0 + ty + 16 r and column p0 + tx + 16 q (TM = BM/16 rows,
// TN = BN/16 columns), so shared reads are broadcast or consecutive and the
// epilogue's global writes coalesce. A::load(m, k) and B::load(ctx, k) return the
// operand or 0 outside the tensor; B::column(p) precomputes what a column needs.
// B_K_FAST picks the B tile's load order so consecutive threads read consecutive addresses.
template <int BM, int BN, int BK, class A, class B, bool B_K_FAST>
__device__ void gemm_tile(const A& a, const B& b, int m0, int p0, int k_begin, int k_end,
                          float (&acc)[BM / 16][BN / 16]) {
    constexpr int TM = BM / 16, TN = BN / 16;
    constexpr int A_ROWS = NTHREADS / BK, A_LOADS = BM / A_ROWS;         // A tile: k fastest
    constexpr int B_STEP = B_K_FAST ? NTHREADS / BK : NTHREADS / BN;     // B tile: k or p fastest
    constexpr int B_LOADS = BK * BN / NTHREADS;
    static_assert(BM % A_ROWS == 0 && (BK * BN) % NTHREADS == 0, "tile shape does not fit 256 threads");
    __shared__ float As[BK][BM + 1];
    __shared__ float Bs[BK][BN + 1];
    const int tid = threadIdx.x;
    const int tx = tid % 16, ty = tid / 16;
    const int ak = tid % BK, am = tid / BK;
    int bk[B_LOADS], bp[B_LOADS];
    typename B::Ctx ctx[B_LOADS];
#pragma unroll
    for (int r = 0; r < B_LOADS; ++r) {
        bk[r] = B_K_FAST ? tid % BK : tid / BN + B_STEP * r;
        bp[r] = B_K_FAST ? tid / BK + B_STEP * r : tid % BN;
        ctx[r] = b.column(p0 + bp[r]);
    }
    for (int k0 = k_begin; k0 < k_end; k0 += BK) {
        const int k = k0 + ak;
#pragma unroll
        for (int r = 0; r < A_LOADS; ++r)
            As[ak][am + A_ROWS * r] = k < k_end ? a.load(m0 + am + A_ROWS * r, k) : 0.0f;
#pragma unroll
        for (int r = 0; r < B_LOADS; ++r) {
            const int kb = k0 + bk[r];
            Bs[bk[r]][bp[r]] = kb < k_end ? b.load(ctx[r], kb) : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            float ra[TM], rb[TN];
#pragma unroll
            for (int r = 0; r < TM; ++r) ra[r] = As[kk][ty + 16 * r];
#pragma unroll
            for (int q = 0; q < TN; ++q) rb[q] = Bs[kk][tx + 16 * q];
#pragma unroll
            for (int r = 0; r < TM; ++r)
#pragma unroll
                for (int q = 0; q < TN; ++q) acc[r][q] = fmaf(ra[r], rb[q], acc[r][q]);
        }
        __syncthreads();
    }
}

// ---------------------------------------------------------------- forward
struct FwdA {  // w viewed as (O/G, C/G*KH*KW) for group g
    const float* w; int M, K;
    __device__ float load(int m, int k) const { return m < M ? w[m * K + k] : 0.0f; }
};

struct FwdB {  // x gathered as (C/G*KH*KW, N*OH*OW) for group g
    const float* x; Shape s; int g;
    struct Ctx { int base, iy0, ix0; bool ok; };
    __device__ Ctx column(int p) const {
        Ctx c;
        const int ohw = s.ohw();
        c.ok = p < s.N * ohw;
        const int n = c.ok ? p / ohw : 0, sp = c.ok ? p % ohw : 0;
        c.base = (n * s.C + g * s.cg()) * s.H * s.W;
        c.iy0 = (sp / s.OW) * s.SH - s.PH;
        c.ix0 = (sp % s.OW) * s.SW - s.PW;
        return c;
    }
    __device__ float load(const Ctx& c, int k) const {
        const int ch = k / s.kk(), tap = k % s.kk();
        const int iy = c.iy0 + (tap / s.KW) * s.DH, ix = c.ix0 + (tap % s.KW) * s.DW;
        if (!c.ok || iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) return 0.0f;
        return x[c.base + (ch * s.H + iy) * s.W + ix];
    }
};

// ---------------------------------------------------------------- backward data
struct BwdDataA {  // w viewed as (C/G, O/G*KH*KW) for group g: element (c, (o, tap))
    const float* w; Shape s; int g;
    __device__ float load(int c, int k) const {
        if (c >= s.cg()) return 0.0f;
        const int o = k / s.kk(), tap = k % s.kk();
        return w[((g * s.og() + o) * s.cg() + c) * s.kk() + tap];
    }
};

struct BwdDataB {  // gy gathered as (O/G*KH*KW, N*H*W) for group g
    const float* gy; Shape s; int g;
    struct Ctx { int base, hp, wp; bool ok; };
    __device__ Ctx column(int p) const {
        Ctx c;
        const int hw = s.H * s.W;
        c.ok = p < s.N * hw;
        const int n = c.ok ? p / hw : 0, sp = c.ok ? p % hw : 0;
        c.base = (n * s.O + g * s.og()) * s.ohw();
        c.hp = sp / s.W + s.PH;
        c.wp = sp % s.W + s.PW;
        return c;
    }
    __device__ float load(const Ctx& c, int k) const {
        const int o = k / s.kk(), tap = k % s.kk();
        const int qy = c.hp - (tap / s.KW) * s.DH, qx = c.wp - (tap % s.KW) * s.DW;
        if (!c.ok || qy < 0 || qx < 0 || qy % s.SH != 0 || qx % s.SW != 0) return 0.0f;
        const int oy = qy / s.SH, ox = qx / s.SW;
        if (oy >= s.OH || ox >= s.OW) return 0.0f;
        return gy[c.base + o * s.ohw() + oy * s.OW + ox];
    }
};

// ---------------------------------------------------------------- backward weight
struct BwdWeightA {  // gy viewed as (O/G, N*OH*OW) for group g: element (o, (n, oy, ox))
    const float* gy; Shape s; int g;
    __device__ float load(int o, int k) const {
        if (o >= s.og()) return 0.0f;
        const int n = k / s.ohw(), sp = k % s.ohw();
        return gy[(n * s.O + g * s.og() + o) * s.ohw() + sp];
    }
};

struct BwdWeightB {  // x gathered as (N*OH*OW, C/G*KH*KW) for group g
    const float* x; Shape s; int g;
    struct Ctx { int base, dy, dx; bool ok; };
    __device__ Ctx column(int p) const {
        Ctx c;
        c.ok = p < s.cg() * s.kk();
        const int ch = c.ok ? p / s.kk() : 0, tap = c.ok ? p % s.kk() : 0;
        c.base = (g * s.cg() + ch) * s.H * s.W;
        c.dy = (tap / s.KW) * s.DH - s.PH;
        c.dx = (tap % s.KW) * s.DW - s.PW;
        return c;
    }
    __device__ float load(const Ctx& c, int k) const {
        const int n = k / s.ohw(), sp = k % s.ohw();
        const int iy = (sp / s.OW) * s.SH + c.dy, ix = (sp % s.OW) * s.SW + c.dx;
        if (!c.ok || iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) return 0.0f;
        return x[n * s.C * s.H * s.W + c.base + iy * s.W + ix];
    }
};

// grid (ceil(N*OH*OW / BN), ceil((O/G) / BM), G); bias is ignored when has_bias == 0.
template <int BM, int BN, int BK>
__device__ void conv2d_fwd(const float* __restrict__ x, const float* __restrict__ w,
                           const float* __restrict__ bias, float* __restrict__ y, const Shape& s,
                           int has_bias, int relu) {
    const int g = blockIdx.z, M = s.og(), K = s.cg() * s.kk();
    const int m0 = blockIdx.y * BM, p0 = blockIdx.x * BN;
    float acc[BM / 16][BN / 16] = {};
    const FwdA a = {w + g * M * K, M, K};
    const FwdB b = {x, s, g};
    gemm_tile<BM, BN, BK, FwdA, FwdB, false>(a, b, m0, p0, 0, K, acc);
    const int ohw = s.ohw(), P = s.N * ohw;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int r = 0; r < BM / 16; ++r) {
        const int m = m0 + ty + 16 * r;
        if (m >= M) continue;
        const int o = g * M + m;
        const float bo = has_bias ? bias[o] : 0.0f;
#pragma unroll
        for (int q = 0; q < BN / 16; ++q) {
            const int p = p0 + tx + 16 * q;
            if (p >= P) continue;
            float v = acc[r][q] + bo;
            if (relu) v = fmaxf(v, 0.0f);
            y[((p / ohw) * s.O + o) * ohw + p % ohw] = v;
        }
    }
}

// grid (ceil(N*H*W / BN), ceil((C/G) / BM), G)
template <int BM, int BN, int BK>
__device__ void conv2d_bwd_data(const float* __restrict__ gy, const float* __restrict__ w,
                                float* __restrict__ gx, const Shape& s) {
    const int g = blockIdx.z, M = s.cg(), K = s.og() * s.kk();
    const int m0 = blockIdx.y * BM, p0 = blockIdx.x * BN;
    float acc[BM / 16][BN / 16] = {};
    const BwdDataA a = {w, s, g};
    const BwdDataB b = {gy, s, g};
    gemm_tile<BM, BN, BK, BwdDataA, BwdDataB, false>(a, b, m0, p0, 0, K, acc);
    const int hw = s.H * s.W, P = s.N * hw;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int r = 0; r < BM / 16; ++r) {
        const int m = m0 + ty + 16 * r;
        if (m >= M) continue;
#pragma unroll
        for (int q = 0; q < BN / 16; ++q) {
            const int p = p0 + tx + 16 * q;
            if (p < P) gx[((p / hw) * s.C + g * M + m) * hw + p % hw] = acc[r][q];
        }
    }
}

// grid (ceil(C/G*KH*KW / BN), ceil((O/G) / BM), G * splits); split z % splits covers
// K indices [split * k_chunk, min(K, (split + 1) * k_chunk)), k_chunk a multiple of 16.
// out is (splits, O, C/G*KH*KW): the host sums axis 0.
template <int BM, int BN, int BK>
__device__ void conv2d_bwd_weight(const float* __restrict__ gy, const float* __restrict__ x,
                                  float* __restrict__ out, const Shape& s, int splits, int k_chunk) {
    const int g = blockIdx.z / splits, split = blockIdx.z % splits;
    const int M = s.og(), P = s.cg() * s.kk(), K = s.N * s.ohw();
    const int k_begin = split * k_chunk, k_end = min(K, k_begin + k_chunk);
    const int m0 = blockIdx.y * BM, p0 = blockIdx.x * BN;
    float acc[BM / 16][BN / 16] = {};
    const BwdWeightA a = {gy, s, g};
    const BwdWeightB b = {x, s, g};
    gemm_tile<BM, BN, BK, BwdWeightA, BwdWeightB, true>(a, b, m0, p0, k_begin, k_end, acc);
    float* dst = out + (long long)split * s.O * P;
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
#pragma unroll
    for (int r = 0; r < BM / 16; ++r) {
        const int m = m0 + ty + 16 * r;
        if (m >= M) continue;
#pragma unroll
        for (int q = 0; q < BN / 16; ++q) {
            const int p = p0 + tx + 16 * q;
            if (p < P) dst[(g * M + m) * P + p] = acc[r][q];
        }
    }
}

#define CONV_KERNELS(SUFFIX, BM, BN, BK)                                                              \
    __global__ void __launch_bounds__(NTHREADS)                                                         \
    conv2d_fwd_implicit_##SUFFIX(const float* x, const float* w, const float* bias, float* y,          \
                                 CONV_PARAMS, int has_bias, int relu) {                                 \
        const Shape s = {CONV_ARGS};                                                                    \
        conv2d_fwd<BM, BN, BK>(x, w, bias, y, s, has_bias, relu);                                       \
    }                                                                                                   \
    __global__ void __launch_bounds__(NTHREADS)                                                         \
    conv2d_bwd_data_implicit_##SUFFIX(const float* gy, const float* w, float* gx, CONV_PARAMS) {        \
        const Shape s = {CONV_ARGS};                                                                    \
        conv2d_bwd_data<BM, BN, BK>(gy, w, gx, s);                                                      \
    }                                                                                                   \
    __global__ void __launch_bounds__(NTHREADS)                                                         \
    conv2d_bwd_weight_implicit_##SUFFIX(const float* gy, const float* x, float* out, CONV_PARAMS,       \
                                        int splits, int k_chunk) {                                      \
        const Shape s = {CONV_ARGS};                                                                    \
        conv2d_bwd_weight<BM, BN, BK>(gy, x, out, s, splits, k_chunk);                                  \
    }

extern "C" {
CONV_KERNELS(64, 64, 64, 16)
CONV_KERNELS(128, 128, 128, 8)
}
