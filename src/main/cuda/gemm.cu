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
    __shared__ float As[GEMM_BK][GEMM_BM + 1];
    __shared__ float Bs[GEMM_BK][GEMM_BN + 1];
    const int tid = threadIdx.x;
    const int tx = tid % 16;
    const int ty = tid / 16;
    const int rowBase = blockIdx.y * GEMM_BM;
    const int colBase = blockIdx.x * GEMM_BN;
    const int k0 = blockIdx.z * kChunk;
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
    float* out = Cmat + (size_t) blockIdx.z * M * N;
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

// column_sum v1: db[o] = sum over n of dy[n, o], one thread per column, in increasing n
// (coalesced across threads; deterministic).
NN_KERNEL void column_sum(const float* __restrict__ dy,  // (N, O)
                          float* __restrict__ db,        // (O)
                          int N, int O) {
    for (int o = blockIdx.x * blockDim.x + threadIdx.x; o < O; o += gridDim.x * blockDim.x) {
        float acc = 0.0f;
        for (int n = 0; n < N; n++) {
            acc += dy[(size_t) n * O + o];
        }
        db[o] = acc;
    }
}
