// gemm.cu: normnet's own tiled SGEMM for the linear layer. C (M, N) = A (M, Kd) * B (Kd, N), with
// A and B read through element strides, which covers every product the layer needs:
//   forward      y (N, O)  = x (N, I) w^T        A = x  (sam=I, sak=1)  B = w^T (sbk=1, sbn=I)
//   backward dx  dx (N, I) = dy (N, O) w         A = dy (sam=O, sak=1)  B = w   (sbk=I, sbn=1)
//   backward dw  dw (O, I) = dy^T x              A = dy^T (sam=1, sak=O) B = x  (sbk=I, sbn=1)
// Every output element is summed by one thread in increasing k (fmaf), so results are
// deterministic. Split-K (gridDim.z > 1) writes per-split partials (z, M, N) that
// partials_merge_serial adds in fixed order (with the bias); it is used when the output has too
// few tiles to fill the GPU (e.g. the 44944 -> 120 layer of LeNet at 224x224).
#include "common.cuh"

#define GEMM_BM 64
#define GEMM_BN 64
#define GEMM_BK 16

// One 64x64 output tile of sgemm_strided: tile (bx, by) of C, split bz (k in [bz*kChunk,
// min(Kd, (bz+1)*kChunk))), by the 256 threads of a block; with bz == 0 and kChunk >= Kd, the
// whole sum. Every kernel that computes a product tile calls it, so each element is summed by the
// same instructions in the same order whichever kernel runs it.
__device__ __forceinline__ void sgemm_tile(const float* __restrict__ A, long long sam, long long sak,
                                           const float* __restrict__ B, long long sbk, long long sbn,
                                           float* __restrict__ Cmat, const float* __restrict__ bias,
                                           int M, int N, int Kd, int kChunk, int bx, int by, int bz) {
    __shared__ float As[GEMM_BK][GEMM_BM + 1];
    __shared__ float Bs[GEMM_BK][GEMM_BN + 1];
    const int tid = threadIdx.x;
    const int tx = tid % 16;
    const int ty = tid / 16;
    const int rowBase = by * GEMM_BM;
    const int colBase = bx * GEMM_BN;
    const int k0 = bz * kChunk;
    const int k1 = min(Kd, k0 + kChunk);
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++) {
#pragma unroll
        for (int j = 0; j < 4; j++) {
            acc[i][j] = 0.0f;
        }
    }
    for (int kt = k0; kt < k1; kt += GEMM_BK) {
#pragma unroll
        for (int l = 0; l < 4; l++) {
            int idx = tid + l * 256;
            int mm, kk;
            if (sak == 1) {
                kk = idx % GEMM_BK;
                mm = idx / GEMM_BK;
            } else {
                mm = idx % GEMM_BM;
                kk = idx / GEMM_BM;
            }
            int gm = rowBase + mm;
            int gk = kt + kk;
            As[kk][mm] = (gm < M && gk < k1) ? A[gm * sam + gk * sak] : 0.0f;
            int nn;
            if (sbk == 1) {
                kk = idx % GEMM_BK;
                nn = idx / GEMM_BK;
            } else {
                nn = idx % GEMM_BN;
                kk = idx / GEMM_BN;
            }
            int gn = colBase + nn;
            gk = kt + kk;
            Bs[kk][nn] = (gn < N && gk < k1) ? B[gk * sbk + gn * sbn] : 0.0f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < GEMM_BK; kk++) {
            float a[4], b[4];
#pragma unroll
            for (int i = 0; i < 4; i++) {
                a[i] = As[kk][ty + 16 * i];
                b[i] = Bs[kk][tx + 16 * i];
            }
#pragma unroll
            for (int i = 0; i < 4; i++) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
                }
            }
        }
        __syncthreads();
    }
    float* out = Cmat + (size_t) bz * M * N;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int gm = rowBase + ty + 16 * i;
        if (gm >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int gn = colBase + tx + 16 * j;
            if (gn >= N) continue;
            float v = acc[i][j];
            if (bias != nullptr) {
                v += bias[gn];
            }
            out[(size_t) gm * N + gn] = v;
        }
    }
}

// sgemm_strided v2: 64x64 output tile per block of 256 threads, 16-deep k tiles in shared memory
// (A tile padded by one column against bank conflicts), 4x4 outputs per thread at rows
// ty + 16*i and columns tx + 16*j (conflict-free shared reads, coalesced stores). Tile loads pick
// the thread-to-element mapping by which stride is 1, so global reads coalesce.
// Grid (ceil(N / 64), ceil(M / 64), splits); split z covers k in [z*kChunk, min(Kd, (z+1)*kChunk)).
// splits == 1: C = A B (+ bias[n] when bias is not null). splits > 1: C + z*M*N = partial sum.
// __launch_bounds__(256, 3): three blocks per multiprocessor; without it nvcc gives 128 registers (one
// block of 256 threads per 64K registers, 25% occupancy on sm_90); with it, no spills.
NN_KERNEL void __launch_bounds__(256, 3) sgemm_strided(const float* __restrict__ A, long long sam, long long sak,
                             const float* __restrict__ B, long long sbk, long long sbn,
                             float* __restrict__ Cmat, const float* __restrict__ bias,
                             int M, int N, int Kd, int kChunk) {
    sgemm_tile(A, sam, sak, B, sbk, sbn, Cmat, bias, M, N, Kd, kChunk, blockIdx.x, blockIdx.y, blockIdx.z);
}

// column_sum v1: db[o] = sum over n of dy[n, o], one thread per column, in increasing n
// (coalesced across threads; deterministic).
__device__ __forceinline__ float column_total(const float* __restrict__ dy, int N, int O, int o) {
    float acc = 0.0f;
    for (int n = 0; n < N; n++) {
        acc += dy[(size_t) n * O + o];
    }
    return acc;
}

NN_KERNEL void column_sum(const float* __restrict__ dy,  // (N, O)
                          float* __restrict__ db,        // (O)
                          int N, int O) {
    for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < O; o += gridDim.x * blockDim.x) {
        db[o] = column_total(dy, N, O, o);
    }
}

// linear_backward v1: the linear layer's backward in one launch instead of three (sgemm_strided for
// dw and for dx, column_sum for db). A 1-D grid of 256-thread blocks: the first ceil(O/64) *
// ceil(I/64) are the 64x64 tiles of dw (O, I) = dy^T x (k = N), the next ceil(N/64) * ceil(I/64)
// (none when dx is null) the tiles of dx (N, I) = dy w (k = O), the last ceil(O/256) (none when db
// is null) one thread per column of db (O) = the sum of dy over n. Each element is computed by
// sgemm_strided's tile code or column_sum's loop, unsplit, so the bits are those of the three
// launches. The host uses it only when neither product would split k; dx must not overlap x, dy or
// w (other blocks read them).
NN_KERNEL void __launch_bounds__(256, 3) linear_backward(const float* __restrict__ x,   // (N, I)
                                                         const float* __restrict__ dy,  // (N, O)
                                                         const float* __restrict__ w,   // (O, I)
                                                         float* __restrict__ dx,        // (N, I) or null
                                                         float* __restrict__ dw,        // (O, I)
                                                         float* __restrict__ db,        // (O) or null
                                                         int N, int I, int O) {
    const int tilesI = (I + GEMM_BN - 1) / GEMM_BN;
    const int wTiles = tilesI * ((O + GEMM_BM - 1) / GEMM_BM);
    const int xTiles = dx == nullptr ? 0 : tilesI * ((N + GEMM_BM - 1) / GEMM_BM);
    int b = blockIdx.x;
    if (b < wTiles) {
        sgemm_tile(dy, 1LL, (long long) O, x, (long long) I, 1LL, dw, nullptr, O, I, N, N, b % tilesI, b / tilesI, 0);
        return;
    }
    b -= wTiles;
    if (b < xTiles) {
        sgemm_tile(dy, (long long) O, 1LL, w, (long long) I, 1LL, dx, nullptr, N, I, O, O, b % tilesI, b / tilesI, 0);
        return;
    }
    b -= xTiles;
    const int o = b * blockDim.x + threadIdx.x;
    if (db != nullptr && o < O) {
        db[o] = column_total(dy, N, O, o);
    }
}
