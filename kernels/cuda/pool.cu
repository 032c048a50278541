// Max and average pooling over NCHW images, forward and backward.
//
//   max:  y[n,c,oy,ox] = max_{i<KH, j<KW} x[n,c,oy*SH-PH+i, ox*SW-PW+j]   (padding is -inf)
//         argmax holds the winner's flat index h*W + w in its (n, c) plane
//         (the first maximum in row-major window order; NaN wins, as in PyTorch).
//   avg:  y = (1/d) * sum over the window, d = KH*KW when count_include_pad,
//         else the number of window taps inside the image.
//
// Both backward passes are gathers: one thread per input pixel visits the
// output windows that cover it, so there are no atomics and results are
// deterministic. The wrappers in kernels/cuda.py check dtype, contiguity and sizes.

#define POOL_PARAMS int NC, int H, int W, int OH, int OW, int KH, int KW, int SH, int SW, int PH, int PW

// Output rows whose window covers input row h: o*S - P <= h <= o*S - P + K - 1.
__device__ __forceinline__ void covering(int h, int K, int S, int P, int O, int* lo, int* hi) {
    const int top = h + P - K + 1;
    *lo = top <= 0 ? 0 : (top + S - 1) / S;
    const int last = (h + P) / S;
    *hi = last < O - 1 ? last : O - 1;
}

__device__ __forceinline__ int avg_divisor(int oy, int ox, int H, int W, int KH, int KW, int SH, int SW,
                                           int PH, int PW, int count_include_pad) {
    if (count_include_pad) return KH * KW;
    const int h0 = oy * SH - PH, w0 = ox * SW - PW;
    const int hs = max(h0, 0), he = min(h0 + KH, H);
    const int ws = max(w0, 0), we = min(w0 + KW, W);
    return (he - hs) * (we - ws);
}

template <typename T>
__device__ void maxpool_fwd_body(const T* __restrict__ x, T* __restrict__ y, long long* __restrict__ argmax,
                                 POOL_PARAMS) {
    const long long total = (long long)NC * OH * OW;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int ox = (int)(idx % OW);
        const int oy = (int)((idx / OW) % OH);
        const long long plane = idx / ((long long)OH * OW);
        const T* xp = x + plane * H * W;
        const int h0 = oy * SH - PH, w0 = ox * SW - PW;
        T best = T(0);
        int best_idx = -1;
        for (int h = max(h0, 0); h < min(h0 + KH, H); ++h) {
            for (int w = max(w0, 0); w < min(w0 + KW, W); ++w) {
                const T v = xp[h * W + w];
                if (best_idx < 0 || v > best || v != v) {  // NaN wins, the last one as in PyTorch
                    best = v;
                    best_idx = h * W + w;
                }
            }
        }
        y[idx] = best;
        argmax[idx] = best_idx;
    }
}

template <typename T>
__device__ void maxpool_bwd_body(const T* __restrict__ gy, const long long* __restrict__ argmax,
                                 T* __restrict__ gx, POOL_PARAMS) {
    const long long total = (long long)NC * H * W;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int w = (int)(idx % W);
        const int h = (int)((idx / W) % H);
        const long long plane = idx / ((long long)H * W);
        const long long base = plane * OH * OW;
        int oy0, oy1, ox0, ox1;
        covering(h, KH, SH, PH, OH, &oy0, &oy1);
        covering(w, KW, SW, PW, OW, &ox0, &ox1);
        const long long me = (long long)h * W + w;
        T acc = T(0);
        for (int oy = oy0; oy <= oy1; ++oy)
            for (int ox = ox0; ox <= ox1; ++ox) {
                const long long o = base + (long long)oy * OW + ox;
                if (argmax[o] == me) acc += gy[o];
            }
        gx[idx] = acc;
    }
}

template <typename T>
__device__ void avgpool_fwd_body(const T* __restrict__ x, T* __restrict__ y, POOL_PARAMS,
                                 int count_include_pad) {
    const long long total = (long long)NC * OH * OW;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int ox = (int)(idx % OW);
        const int oy = (int)((idx / OW) % OH);
        const long long plane = idx / ((long long)OH * OW);
        const T* xp = x + plane * H * W;
        const int h0 = oy * SH - PH, w0 = ox * SW - PW;
        T acc = T(0);
        for (int h = max(h0, 0); h < min(h0 + KH, H); ++h)
            for (int w = max(w0, 0); w < min(w0 + KW, W); ++w) acc += xp[h * W + w];
        y[idx] = acc / T(avg_divisor(oy, ox, H, W, KH, KW, SH, SW, PH, PW, count_include_pad));
    }
}

template <typename T>
__device__ void avgpool_bwd_body(const T* __restrict__ gy, T* __restrict__ gx, POOL_PARAMS,
                                 int count_include_pad) {
    const long long total = (long long)NC * H * W;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        const int w = (int)(idx % W);
        const int h = (int)((idx / W) % H);
        const long long base = (idx / ((long long)H * W)) * OH * OW;
        int oy0, oy1, ox0, ox1;
        covering(h, KH, SH, PH, OH, &oy0, &oy1);
        covering(w, KW, SW, PW, OW, &ox0, &ox1);
        T acc = T(0);
        for (int oy = oy0; oy <= oy1; ++oy)
            for (int ox = ox0; ox <= ox1; ++ox)
                acc += gy[base + (long long)oy * OW + ox] /
                       T(avg_divisor(oy, ox, H, W, KH, KW, SH, SW, PH, PW, count_include_pad));
        gx[idx] = acc;
    }
}

#define POOL_ARGS NC, H, W, OH, OW, KH, KW, SH, SW, PH, PW

extern "C" {

__global__ void maxpool_fwd_f32(const float* x, float* y, long long* argmax, POOL_PARAMS) {
    maxpool_fwd_body<float>(x, y, argmax, POOL_ARGS);
}
__global__ void maxpool_fwd_f64(const double* x, double* y, long long* argmax, POOL_PARAMS) {
    maxpool_fwd_body<double>(x, y, argmax, POOL_ARGS);
}
__global__ void maxpool_bwd_f32(const float* gy, const long long* argmax, float* gx, POOL_PARAMS) {
    maxpool_bwd_body<float>(gy, argmax, gx, POOL_ARGS);
}
__global__ void maxpool_bwd_f64(const double* gy, const long long* argmax, double* gx, POOL_PARAMS) {
    maxpool_bwd_body<double>(gy, argmax, gx, POOL_ARGS);
}
__global__ void avgpool_fwd_f32(const float* x, float* y, POOL_PARAMS, int count_include_pad) {
    avgpool_fwd_body<float>(x, y, POOL_ARGS, count_include_pad);
}
__global__ void avgpool_fwd_f64(const double* x, double* y, POOL_PARAMS, int count_include_pad) {
    avgpool_fwd_body<double>(x, y, POOL_ARGS, count_include_pad);
}
__global__ void avgpool_bwd_f32(const float* gy, float* gx, POOL_PARAMS, int count_include_pad) {
    avgpool_bwd_body<float>(gy, gx, POOL_ARGS, count_include_pad);
}
__global__ void avgpool_bwd_f64(const double* gy, double* gx, POOL_PARAMS, int count_include_pad) {
    avgpool_bwd_body<double>(gy, gx, POOL_ARGS, count_include_pad);
}

}
