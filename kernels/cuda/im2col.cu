// im2col and its adjoint col2im for NCHW images.
//
// Column layout (the registry contract): col has shape (C, KH, KW, N, OH, OW) and
//   col[c, i, j, n, y, x] = x_padded[n, c, y*SH + i*DH, x*SW + j*DW]
// (zero outside the image). col2im is written as a gather: one thread per
// input pixel sums every column entry that reads it, so it needs no atomics
// and is deterministic. Groups need no kernel support: a group's rows of col
// are a contiguous slice of the C axis.
//
// The wrappers in kernels/cuda.py check dtype, contiguity and sizes; every
// array here is C-contiguous and indexed with 64-bit integers.

struct ConvGeom {
    int N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW;
};

// Kernels take the geometry as 14 plain ints (portable across CuPy versions) in this order.
#define GEOM_PARAMS int N, int C, int H, int W, int KH, int KW, int SH, int SW, \
                    int PH, int PW, int DH, int DW, int OH, int OW
#define GEOM_STRUCT {N, C, H, W, KH, KW, SH, SW, PH, PW, DH, DW, OH, OW}

template <typename T>
__device__ void im2col_body(const T* __restrict__ x, T* __restrict__ col, ConvGeom g) {
    const long long total = (long long)g.C * g.KH * g.KW * g.N * g.OH * g.OW;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        long long r = idx;
        const int ox = (int)(r % g.OW); r /= g.OW;
        const int oy = (int)(r % g.OH); r /= g.OH;
        const int n = (int)(r % g.N); r /= g.N;
        const int j = (int)(r % g.KW); r /= g.KW;
        const int i = (int)(r % g.KH);
        const int c = (int)(r / g.KH);
        const int iy = oy * g.SH - g.PH + i * g.DH;
        const int ix = ox * g.SW - g.PW + j * g.DW;
        T v = T(0);
        if (iy >= 0 && iy < g.H && ix >= 0 && ix < g.W)
            v = x[(((long long)n * g.C + c) * g.H + iy) * g.W + ix];
        col[idx] = v;
    }
}

// For one kernel tap (offset t = i*D along an axis) the output positions that read
// input coordinate h satisfy h + P - t = o*S with 0 <= o < O.
__device__ __forceinline__ bool tap_source(int h, int P, int t, int S, int O, int* o) {
    const int q = h + P - t;
    if (q < 0 || q % S != 0) return false;
    *o = q / S;
    return *o < O;
}

template <typename T>
__device__ void col2im_body(const T* __restrict__ col, T* __restrict__ gx, ConvGeom g) {
    const long long total = (long long)g.N * g.C * g.H * g.W;
    const long long plane = (long long)g.OH * g.OW;
    for (long long idx = blockIdx.x * (long long)blockDim.x + threadIdx.x; idx < total;
         idx += (long long)gridDim.x * blockDim.x) {
        long long r = idx;
        const int w = (int)(r % g.W); r /= g.W;
        const int h = (int)(r % g.H); r /= g.H;
        const int c = (int)(r % g.C);
        const int n = (int)(r / g.C);
        T acc = T(0);
        for (int i = 0; i < g.KH; ++i) {
            int oy;
            if (!tap_source(h, g.PH, i * g.DH, g.SH, g.OH, &oy)) continue;
            for (int j = 0; j < g.KW; ++j) {
                int ox;
                if (!tap_source(w, g.PW, j * g.DW, g.SW, g.OW, &ox)) continue;
                const long long row = ((long long)(c * g.KH + i) * g.KW + j) * g.N + n;
                acc += col[row * plane + (long long)oy * g.OW + ox];
            }
        }
        gx[idx] = acc;
    }
}

extern "C" {

__global__ void im2col_f32(const float* x, float* col, GEOM_PARAMS) {
    im2col_body<float>(x, col, ConvGeom GEOM_STRUCT);
}
__global__ void im2col_f64(const double* x, double* col, GEOM_PARAMS) {
    im2col_body<double>(x, col, ConvGeom GEOM_STRUCT);
}
__global__ void col2im_f32(const float* col, float* gx, GEOM_PARAMS) {
    col2im_body<float>(col, gx, ConvGeom GEOM_STRUCT);
}
__global__ void col2im_f64(const double* col, double* gx, GEOM_PARAMS) {
    col2im_body<double>(col, gx, ConvGeom GEOM_STRUCT);
}

}
