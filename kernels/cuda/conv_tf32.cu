// Direct (implicit-GEMM) 2-D convolution forward on TF32 tensor cores (sm_80+), NCHW input,
// OIHW weight, groups G, fused bias + ReLU:
//
//   y[n,o,p] = sum_{c,i,j} tf32(w[o,c,i,j]) tf32(x[n,c,p*S-P+(i,j)*D]) (+ b[o], ReLU)
//
// per group g a matrix product with M = O/G rows (o), columns (n, oy, ox) and
// K = C/G*KH*KW (c, i, j), like conv2d_fwd_implicit_* in conv.cu. tf32(v) rounds v to
// 10 mantissa bits (wmma::__float_to_tf32, round to nearest, ties away from zero), so
// each product carries a relative error up to ~2^-10; products are accumulated in FP32.
//
// A block of 256 threads (8 warps) computes a 64 x 64 output tile. Each K step of 16
// stages the weight tile (64 x 16) and the gathered input tile (16 x 64) in shared
// memory, rounded to TF32; warp (wm, wn) = (warp / 2, warp % 2) owns rows 16 wm.. and
// columns 32 wn.. and runs two m16n16k8 wmma products per 8 k. The accumulators go
// through a shared staging tile so the epilogue (bias, ReLU, bounds checks, the NCHW
// scatter) is per thread with coalesced global writes. The wrapper in kernels/cuda_conv.py
// checks dtype (float32), contiguity and that every index fits in 32 bits.
#include <mma.h>

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "conv_tf32.cu needs TF32 tensor cores: compile for sm_80 or newer"
#endif

namespace wmma = nvcuda::wmma;

#define TF32_THREADS 256

constexpr int BM = 64, BN = 64, BK = 16;  // block tile and K step
constexpr int WM = 16, WN = 16, WK = 8;   // the TF32 wmma shape
constexpr int WARPS_N = 2, FRAGS_N = BN / (WARPS_N * WN);
constexpr int A_LD = BK + 4, B_LD = BN + 4, C_LD = BN + 4;  // padded; wmma needs multiples of 4 floats
static_assert((TF32_THREADS / 32 / WARPS_N) * WM == BM, "warps must cover the block's rows");
static_assert(TF32_THREADS % BK == 0 && TF32_THREADS % BN == 0, "loads must tile 256 threads");

struct Shape {
    int N, C, H, W, O, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, G;
    __device__ int cg() const { return C / G; }
    __device__ int kk() const { return KH * KW; }
    __device__ int ohw() const { return OH * OW; }
};

// x gathered as the (C/G*KH*KW, N*OH*OW) im2col matrix of group g, one column at a time
// (the same gather as FwdB in conv.cu): 0 outside the image or past the last column.
struct Im2colColumn {
    const float* x; Shape s; int g;
    int base, iy0, ix0; bool ok;
    __device__ Im2colColumn(const float* x_, const Shape& s_, int g_, int p) : x(x_), s(s_), g(g_) {
        const int ohw = s.ohw();
        ok = p < s.N * ohw;
        const int n = ok ? p / ohw : 0, sp = ok ? p % ohw : 0;
        base = (n * s.C + g * s.cg()) * s.H * s.W;
        iy0 = (sp / s.OW) * s.SH - s.PH;
        ix0 = (sp % s.OW) * s.SW - s.PW;
    }
    __device__ float load(int k) const {
        const int ch = k / s.kk(), tap = k % s.kk();
        const int iy = iy0 + (tap / s.KW) * s.DH, ix = ix0 + (tap % s.KW) * s.DW;
        if (!ok || iy < 0 || iy >= s.H || ix < 0 || ix >= s.W) return 0.0f;
        return x[base + (ch * s.H + iy) * s.W + ix];
    }
};

// grid (ceil(N*OH*OW / 64), ceil((O/G) / 64), G), block 256; bias is ignored when has_bias == 0.
extern "C" __global__ void __launch_bounds__(TF32_THREADS)
conv2d_fwd_tf32(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias,
                float* __restrict__ y, int N, int C, int H, int W, int O, int KH, int KW, int SH, int SW,
                int PH, int PW, int DH, int DW, int OH, int OW, int G, int has_bias, int relu) {
    __shared__ __align__(32) float As[BM][A_LD];
    __shared__ __align__(32) float Bs[BK][B_LD];
    __shared__ __align__(32) float Cs[BM][C_LD];
    const Shape s = {N, C, H, W, O, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW, G};
    const int g = blockIdx.z, M = O / G, K = s.cg() * s.kk(), ohw = s.ohw(), P = N * ohw;
    const int m0 = blockIdx.y * BM, p0 = blockIdx.x * BN;
    const int tid = threadIdx.x, warp = tid / 32, wm = warp / WARPS_N, wn = warp % WARPS_N;
    const float* wg = w + g * M * K;
    const int ak = tid % BK, am = tid / BK;  // weight tile: k fastest (coalesced rows of w)
    const int bp = tid % BN, bk = tid / BN;  // input tile: columns fastest (coalesced along ox)
    const Im2colColumn col(x, s, g, p0 + bp);

    wmma::fragment<wmma::accumulator, WM, WN, WK, float> acc[FRAGS_N];
#pragma unroll
    for (int f = 0; f < FRAGS_N; ++f) wmma::fill_fragment(acc[f], 0.0f);

    for (int k0 = 0; k0 < K; k0 += BK) {
        const int k = k0 + ak;
#pragma unroll
        for (int r = am; r < BM; r += TF32_THREADS / BK) {
            const int m = m0 + r;
            As[r][ak] = wmma::__float_to_tf32(m < M && k < K ? wg[m * K + k] : 0.0f);
        }
#pragma unroll
        for (int r = bk; r < BK; r += TF32_THREADS / BN) {
            const int kb = k0 + r;
            Bs[r][bp] = wmma::__float_to_tf32(kb < K ? col.load(kb) : 0.0f);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; kk += WK) {
            wmma::fragment<wmma::matrix_a, WM, WN, WK, wmma::precision::tf32, wmma::row_major> fa;
            wmma::load_matrix_sync(fa, &As[wm * WM][kk], A_LD);
#pragma unroll
            for (int f = 0; f < FRAGS_N; ++f) {
                wmma::fragment<wmma::matrix_b, WM, WN, WK, wmma::precision::tf32, wmma::row_major> fb;
                wmma::load_matrix_sync(fb, &Bs[kk][(wn * FRAGS_N + f) * WN], B_LD);
                wmma::mma_sync(acc[f], fa, fb, acc[f]);
            }
        }
        __syncthreads();
    }
#pragma unroll
    for (int f = 0; f < FRAGS_N; ++f)
        wmma::store_matrix_sync(&Cs[wm * WM][(wn * FRAGS_N + f) * WN], acc[f], C_LD, wmma::mem_row_major);
    __syncthreads();
    for (int e = tid; e < BM * BN; e += TF32_THREADS) {
        const int r = e / BN, c = e % BN, m = m0 + r, p = p0 + c;
        if (m >= M || p >= P) continue;
        const int o = g * M + m;
        float v = Cs[r][c] + (has_bias ? bias[o] : 0.0f);
        if (relu) v = fmaxf(v, 0.0f);
        y[((p / ohw) * O + o) * ohw + p % ohw] = v;
    }
}
