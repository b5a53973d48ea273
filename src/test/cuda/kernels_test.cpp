// kernels_test.cpp: every kernel of normnet.fatbin run on the CPU under the CUDA emulation
// (cuda_emu.h) against naive float64 references, at LeNet sizes and odd sizes, with outputs
// poisoned with NaN. Launched with <<<>>> as on the device; built by emulate.sh (with
// -I src/main/cuda) and run by dev.normnet.backend.cuda.KernelEmulationTest; prints one line per
// check and "N passed, N failed" at the end; exits non-zero on a failure.
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "normnet.cu"  // every kernel, as nvcc compiles them into normnet.fatbin

static int passed = 0, failed = 0;
static std::mt19937 rng(1234);

static std::vector<float> randn(size_t n) {
    std::normal_distribution<float> d(0.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

static std::vector<float> nans(size_t n) { return std::vector<float>(n, std::nanf("")); }

// |got - ref| <= tol * (1 + |ref|) + 2e-6 * scale[i], where scale (when given) is the sum of the
// absolute values of the terms summed into element i: a float32 sum of n terms is off by about
// eps * that much (eps = 6e-8), far below what a wrong index or a lost term does.
static void check(const std::string& what, const std::vector<double>& ref, const std::vector<float>& got, double tol,
                  const std::vector<double>* scale = nullptr) {
    double worst = 0;
    size_t bad = ref.size();
    cudaError_t launch = cudaGetLastError();  // a launch the device would refuse (threads, shared memory)
    if (launch != cudaSuccess) {
        std::printf("FAIL %s: a launch failed: %s\n", what.c_str(), cudaGetErrorString(launch));
        failed++;
        return;
    }
    if (ref.size() != got.size()) {
        std::printf("FAIL %s: size %zu vs %zu\n", what.c_str(), ref.size(), got.size());
        failed++;
        return;
    }
    for (size_t i = 0; i < ref.size(); i++) {
        double d = std::fabs(ref[i] - (double) got[i]);
        double bound = tol * (1 + std::fabs(ref[i])) + (scale ? 2e-6 * (*scale)[i] : 0.0);
        if (!(d <= bound)) {
            bad = i;
            break;
        }
        worst = std::max(worst, d);
    }
    if (bad < ref.size()) {
        std::printf("FAIL %s: element %zu expected %.7g got %.7g\n", what.c_str(), bad, ref[bad], (double) got[bad]);
        failed++;
    } else {
        std::printf("ok   %-60s max |diff| %.3g over %zu\n", what.c_str(), worst, ref.size());
        passed++;
    }
}

static unsigned cdiv(long long a, long long b) { return (unsigned) ((a + b - 1) / b); }

// LaunchGeometry.convThreads: whole warps, one block up to 256 pixels, else the block of 128 to 256
// threads that leaves the fewest idle in the last block (the larger on a tie).
static unsigned convThreads(long long pixels) {
    if (pixels <= 256) return cdiv(std::max(pixels, 1LL), 32) * 32;
    unsigned best = 256;
    long long bestIdle = (long long) cdiv(pixels, 256) * 256 - pixels;
    for (unsigned t = 224; t >= 128; t -= 32) {
        long long idle = (long long) cdiv(pixels, t) * t - pixels;
        if (idle < bestIdle) {
            best = t;
            bestIdle = idle;
        }
    }
    return best;
}

// ------------------------------------------------------------------ convolution

static void testConv(int N, int C, int H, int W, int K, int R, int S, int st, int pad, int gz) {
    int P = (H + 2 * pad - R) / st + 1, Q = (W + 2 * pad - S) / st + 1;
    auto x = randn((size_t) N * C * H * W), w = randn((size_t) K * C * R * S), b = randn(K);
    auto dy = randn((size_t) N * K * P * Q);
    std::vector<double> y((size_t) N * K * P * Q), dx((size_t) N * C * H * W, 0.0), dw((size_t) K * C * R * S, 0.0), db(K, 0.0);
    std::vector<double> ya(y.size()), dxa(dx.size(), 0.0), dwa(dw.size(), 0.0), dba(K, 0.0);  // sums of |terms|
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int p = 0; p < P; p++)
                for (int q = 0; q < Q; q++) {
                    double acc = b[k], acca = std::fabs(b[k]);
                    double g = dy[(((size_t) n * K + k) * P + p) * Q + q];
                    db[k] += g;
                    dba[k] += std::fabs(g);
                    for (int c = 0; c < C; c++)
                        for (int r = 0; r < R; r++)
                            for (int s = 0; s < S; s++) {
                                int ih = p * st - pad + r, iw = q * st - pad + s;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                size_t xi = (((size_t) n * C + c) * H + ih) * W + iw;
                                size_t wi = (((size_t) k * C + c) * R + r) * S + s;
                                acc += (double) x[xi] * w[wi];
                                acca += std::fabs((double) x[xi] * w[wi]);
                                dx[xi] += g * w[wi];
                                dxa[xi] += std::fabs(g * w[wi]);
                                dw[wi] += g * x[xi];
                                dwa[wi] += std::fabs(g * x[xi]);
                            }
                    y[(((size_t) n * K + k) * P + p) * Q + q] = acc;
                    ya[(((size_t) n * K + k) * P + p) * Q + q] = acca;
                }
    char name[160];
    std::snprintf(name, sizeof name, "N%d C%d %dx%d K%d %dx%d stride %d pad %d", N, C, H, W, K, R, S, st, pad);
    // both channel widths of forward and backward-data (LaunchGeometry.convChannelsPerThread picks one)
    for (const int CB : {8, 6}) {
        const int budget = 6144;  // LaunchGeometry.CONV_SMEM_FLOATS
        const std::string cb = CB == 8 ? "" : "_cb6";
        auto forward = CB == 8 ? conv2d_forward : conv2d_forward_cb6;
        auto backwardData = CB == 8 ? conv2d_backward_data : conv2d_backward_data_cb6;
        int cChunk = std::max(1, std::min(C, budget / (R * S * CB)));
        int kChunk = std::max(1, std::min(K, budget / (R * S * CB)));
        // normnet's block size (LaunchGeometry.convThreads), and 256 and 96 besides
        for (const unsigned forwardThreads : {convThreads(P * Q), 256u, 96u}) {
            auto yo = nans(y.size());
            const dim3 grid{cdiv(P * Q, forwardThreads), cdiv(K, CB), (unsigned) gz};
            const size_t smem = (size_t) cChunk * R * S * CB * 4;
            forward<<<grid, forwardThreads, smem>>>(x.data(), w.data(), b.data(), yo.data(), N, C, H, W, K, R, S, P, Q,
                                                    st, pad, cChunk);
            check("conv2d_forward" + cb + " " + name + " block " + std::to_string(forwardThreads), y, yo, 1e-6, &ya);
        }
        for (const unsigned dataThreads : {convThreads(H * W), 256u, 96u}) {
            auto dxo = nans(dx.size());
            const dim3 grid{cdiv(H * W, dataThreads), cdiv(C, CB), (unsigned) gz};
            const size_t smem = (size_t) kChunk * R * S * CB * 4;
            backwardData<<<grid, dataThreads, smem>>>(dy.data(), w.data(), dxo.data(), N, C, H, W, K, R, S, P, Q, st,
                                                      pad, kChunk);
            check("conv2d_backward_data" + cb + " " + name + " block " + std::to_string(dataThreads), dx, dxo, 1e-6,
                  &dxa);
        }
    }
    // backward filter: the partial pass with a few groups, then both merges
    int T = K * C * R * S + K;
    long long M = (long long) N * P * Q;
    int groups = std::min<long long>(5, M);
    int mChunk = (int) ((M + groups - 1) / groups);
    groups = (int) ((M + mChunk - 1) / mChunk);
    auto partials = nans((size_t) T * groups);
    const unsigned filterThreads = T >= 256 ? 256 : (unsigned) ((T + 31) / 32 * 32);  // LaunchGeometry.filterThreads
    conv2d_backward_filter_partial<<<dim3{cdiv(T, filterThreads), (unsigned) groups, 1}, filterThreads, 0>>>(
            x.data(), dy.data(), partials.data(), N, C, H, W, K, R, S, P, Q, st, pad, T, mChunk);
    auto dwo = nans(dw.size()), dbo = nans(db.size());
    partials_merge<<<dim3{(unsigned) std::min(T, 7), 1, 1}, 64, 0>>>(  // any power-of-two block works
            (const float*) partials.data(), groups, T, dwo.data(), K * C * R * S, dbo.data(), (const float*) nullptr, 1);
    check(std::string("conv2d_backward_filter dw (merge) ") + name, dw, dwo, 1e-6, &dwa);
    check(std::string("conv2d_backward_filter db (merge) ") + name, db, dbo, 1e-6, &dba);
    auto dwo2 = nans(dw.size()), dbo2 = nans(db.size());
    partials_merge_serial<<<dim3{2, 1, 1}, 64, 0>>>(
            (const float*) partials.data(), groups, T, dwo2.data(), K * C * R * S, dbo2.data(), (const float*) nullptr, 1);
    check(std::string("conv2d_backward_filter dw (serial merge) ") + name, dw, dwo2, 1e-6, &dwa);
    check(std::string("conv2d_backward_filter db (serial merge) ") + name, db, dbo2, 1e-6, &dba);
}

// ------------------------------------------------------------------ GEMM

static void testGemm(int N, int I, int O, int splits) {
    auto x = randn((size_t) N * I), w = randn((size_t) O * I), b = randn(O), dy = randn((size_t) N * O);
    std::vector<double> y((size_t) N * O), dx((size_t) N * I, 0.0), dw((size_t) O * I, 0.0), db(O, 0.0);
    std::vector<double> ya(y.size()), dxa(dx.size(), 0.0), dwa(dw.size(), 0.0), dba(O, 0.0);  // sums of |terms|
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++) {
            double acc = b[o], acca = std::fabs(b[o]);
            for (int i = 0; i < I; i++) {
                acc += (double) x[(size_t) n * I + i] * w[(size_t) o * I + i];
                acca += std::fabs((double) x[(size_t) n * I + i] * w[(size_t) o * I + i]);
            }
            y[(size_t) n * O + o] = acc;
            ya[(size_t) n * O + o] = acca;
            double g = dy[(size_t) n * O + o];
            db[o] += g;
            dba[o] += std::fabs(g);
            for (int i = 0; i < I; i++) {
                dx[(size_t) n * I + i] += g * w[(size_t) o * I + i];
                dxa[(size_t) n * I + i] += std::fabs(g * w[(size_t) o * I + i]);
                dw[(size_t) o * I + i] += g * x[(size_t) n * I + i];
                dwa[(size_t) o * I + i] += std::fabs(g * x[(size_t) n * I + i]);
            }
        }
    char name[96];
    std::snprintf(name, sizeof name, "N%d I%d O%d splits %d", N, I, O, splits);
    auto grid = [](int m, int n, int z) { return dim3{cdiv(n, 64), cdiv(m, 64), (unsigned) z}; };
    auto chunkFor = [](int k, int z) { int c = (k + z - 1) / z; return (c + 15) / 16 * 16; };
    if (splits == 1) {
        auto yo = nans(y.size());
        sgemm_strided<<<grid(N, O, 1), 256, 0>>>((const float*) x.data(), (long long) I, 1LL, (const float*) w.data(), 1LL,
                (long long) I, yo.data(), (const float*) b.data(), N, O, I, I);
        check(std::string("sgemm forward ") + name, y, yo, 1e-6, &ya);
    } else {
        int kc = chunkFor(I, splits);
        int z = (I + kc - 1) / kc;
        auto part = nans((size_t) z * N * O);
        sgemm_strided<<<grid(N, O, z), 256, 0>>>((const float*) x.data(), (long long) I, 1LL, (const float*) w.data(), 1LL,
                (long long) I, part.data(), (const float*) nullptr, N, O, I, kc);
        auto yo = nans(y.size());
        partials_merge_serial<<<dim3{cdiv((long long) N * O, 256), 1, 1}, 256, 0>>>((const float*) part.data(), z, N * O,
                yo.data(), N * O, (float*) nullptr, (const float*) b.data(), O);
        check(std::string("sgemm forward split-K + merge ") + name, y, yo, 1e-6, &ya);
    }
    auto dxo = nans(dx.size());
    sgemm_strided<<<grid(N, I, 1), 256, 0>>>((const float*) dy.data(), (long long) O, 1LL, (const float*) w.data(),
            (long long) I, 1LL, dxo.data(), (const float*) nullptr, N, I, O, O);
    check(std::string("sgemm backward data ") + name, dx, dxo, 1e-6, &dxa);
    auto dwo = nans(dw.size());
    sgemm_strided<<<grid(O, I, 1), 256, 0>>>((const float*) dy.data(), 1LL, (long long) O, (const float*) x.data(),
            (long long) I, 1LL, dwo.data(), (const float*) nullptr, O, I, N, N);
    check(std::string("sgemm backward weight ") + name, dw, dwo, 1e-6, &dwa);
    auto dbo = nans(db.size());
    column_sum<<<dim3{cdiv(O, 256), 1, 1}, 256, 0>>>((const float*) dy.data(), dbo.data(), N, O);
    check(std::string("column_sum ") + name, db, dbo, 1e-6, &dba);
}

// ------------------------------------------------------------------ batch norm

// Threads of a block that merges one channel's partials in a launch of its own: a power of two
// from 32 to 256, at least the partials (what the merge launch normnet once had used).
static unsigned bnFinalizeThreads(int groups) {
    unsigned t = 32;
    while (t < (unsigned) groups && t < 256) t <<= 1;
    return t;
}

// The merges of batchnorm_stats and batchnorm_backward_reduce as launches of their own, one block
// per channel: what the last block of each channel must compute, whichever block it is.
__global__ void test_stats_merge(const float* partials, int G, long long m, float* rm, float* rv, float* sm,
                                 float* si, float* tracked, float momentum, float eps) {
    __shared__ double dn[256], dm[256], d2[256];
    const int c = blockIdx.x;
    bn_stats_merge(partials + (size_t) c * G * 3, c, G, m, dn, dm, d2, rm, rv, sm, si, tracked, momentum, eps);
}

__global__ void test_backward_merge(const float* partials, int G, float* dgamma, float* dbeta) {
    __shared__ double buf[256];
    const int c = blockIdx.x;
    bn_backward_merge(partials + (size_t) c * G * 2, c, G, buf, dgamma, dbeta);
}

// Every per-channel ticket back at 0 after a launch (the next launch, or graph replay, needs it).
static void zeroTickets(const std::string& what, const std::vector<unsigned>& tickets) {
    for (size_t c = 0; c < tickets.size(); c++) {
        if (tickets[c] != 0u) {
            std::printf("FAIL %s: the ticket of channel %zu was left at %u\n", what.c_str(), c, tickets[c]);
            failed++;
            return;
        }
    }
    std::printf("ok   %-60s all %zu at 0\n", what.c_str(), tickets.size());
    passed++;
}

// The same bits in a and b (what a fused launch must give against the launches it replaces).
static void same(const std::string& what, const std::vector<float>& a, const std::vector<float>& b) {
    cudaError_t launch = cudaGetLastError();
    if (launch != cudaSuccess || a.size() != b.size()
            || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0) {
        size_t i = 0;
        while (i < a.size() && i < b.size() && std::memcmp(&a[i], &b[i], sizeof(float)) == 0) i++;
        std::printf("FAIL %s: not the same bits (element %zu of %zu)\n", what.c_str(), i, a.size());
        failed++;
    } else {
        std::printf("ok   %-60s same bits over %zu\n", what.c_str(), a.size());
        passed++;
    }
}

// linear_backward against sgemm_strided (dw, dx) and column_sum (db): the same bits, with every
// output, without dx (a first layer), without db (no bias), and without either.
static void testLinearBackward(int N, int I, int O) {
    auto x = randn((size_t) N * I), w = randn((size_t) O * I), dy = randn((size_t) N * O);
    auto grid = [](int m, int n) { return dim3{cdiv(n, 64), cdiv(m, 64), 1}; };
    auto dxs = nans((size_t) N * I), dws = nans((size_t) O * I), dbs = nans(O);
    sgemm_strided<<<grid(N, I), 256, 0>>>((const float*) dy.data(), (long long) O, 1LL, (const float*) w.data(),
            (long long) I, 1LL, dxs.data(), (const float*) nullptr, N, I, O, O);
    sgemm_strided<<<grid(O, I), 256, 0>>>((const float*) dy.data(), 1LL, (long long) O, (const float*) x.data(),
            (long long) I, 1LL, dws.data(), (const float*) nullptr, O, I, N, N);
    column_sum<<<dim3{cdiv(O, 256), 1, 1}, 256, 0>>>((const float*) dy.data(), dbs.data(), N, O);
    unsigned wTiles = cdiv(O, 64) * cdiv(I, 64), xTiles = cdiv(N, 64) * cdiv(I, 64), bBlocks = cdiv(O, 256);
    char name[64];
    std::snprintf(name, sizeof name, "N%d I%d O%d", N, I, O);
    for (int variant = 0; variant < 4; variant++) {
        bool withDx = (variant & 1) == 0, withDb = (variant & 2) == 0;
        auto dx = nans((size_t) N * I), dw = nans((size_t) O * I), db = nans(O);
        unsigned blocks = wTiles + (withDx ? xTiles : 0) + (withDb ? bBlocks : 0);
        linear_backward<<<dim3{blocks, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) dy.data(),
                (const float*) w.data(), withDx ? dx.data() : nullptr, dw.data(), withDb ? db.data() : nullptr, N, I, O);
        std::string what = std::string("linear_backward ") + name + (withDx ? "" : " no dx") + (withDb ? "" : " no db");
        same(what + ": dw = sgemm_strided's", dw, dws);
        if (withDx) same(what + ": dx = sgemm_strided's", dx, dxs);
        else same(what + ": dx untouched", dx, nans((size_t) N * I));
        if (withDb) same(what + ": db = column_sum's", db, dbs);
        else same(what + ": db untouched", db, nans(O));
    }
}

static void testBatchNorm(int N, int C, int L, int groups) {
    size_t total = (size_t) N * C * L;
    auto x = randn(total);
    for (auto& v : x) v = 3.f + 2.f * v;
    auto gamma = randn(C), beta = randn(C), dy = randn(total);
    std::vector<float> rm = randn(C), rv(C, 0.7f);
    long long m = (long long) N * L;
    std::vector<double> mean(C), var(C), y(total), rmRef(C), rvRef(C), invstd(C), dgamma(C, 0.0), dbeta(C, 0.0), dx(total);
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int n = 0; n < N; n++)
            for (int l = 0; l < L; l++) s += x[((size_t) n * C + c) * L + l];
        mean[c] = s / m;
        double v = 0;
        for (int n = 0; n < N; n++)
            for (int l = 0; l < L; l++) {
                double d = x[((size_t) n * C + c) * L + l] - mean[c];
                v += d * d;
            }
        var[c] = v / m;
        invstd[c] = 1 / std::sqrt(var[c] + 1e-5);
        rmRef[c] = 0.9 * rm[c] + 0.1 * mean[c];
        rvRef[c] = 0.9 * rv[c] + 0.1 * var[c] * m / (m - 1);
        for (int n = 0; n < N; n++)
            for (int l = 0; l < L; l++) {
                size_t i = ((size_t) n * C + c) * L + l;
                double xh = (x[i] - mean[c]) * invstd[c];
                y[i] = gamma[c] * xh + beta[c];
                dbeta[c] += dy[i];
                dgamma[c] += dy[i] * xh;
            }
        for (int n = 0; n < N; n++)
            for (int l = 0; l < L; l++) {
                size_t i = ((size_t) n * C + c) * L + l;
                double xh = (x[i] - mean[c]) * invstd[c];
                dx[i] = gamma[c] * invstd[c] / m * (m * dy[i] - dbeta[c] - xh * dgamma[c]);
            }
    }
    char name[96];
    std::snprintf(name, sizeof name, "N%d C%d L%d groups %d", N, C, L, groups);
    int chunk = (int) ((m + groups - 1) / groups);
    groups = (int) ((m + chunk - 1) / chunk);
    auto part = nans((size_t) C * groups * 3);
    std::vector<unsigned> tickets(C, 0u);
    const std::vector<float> rm0 = rm, rv0 = rv;
    auto sm = nans(C), si = nans(C);
    std::vector<float> tracked{41.0f};  // num_batches_tracked: counted once, by channel 0's merge, whatever C
    batchnorm_stats<<<dim3{(unsigned) groups, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(), part.data(),
            tickets.data(), N, C, L, chunk, m, rm.data(), rv.data(), sm.data(), si.data(), tracked.data(), 0.1f, 1e-5f);
    zeroTickets(std::string("batchnorm_stats ") + name, tickets);
    {
        // The merge as a launch of its own (one block per channel, as few threads as give each a
        // partial) from the same partials: the same bits as the last block's merge.
        auto rm2 = rm0, rv2 = rv0;
        auto sm2 = nans(C), si2 = nans(C);
        std::vector<float> tracked2{41.0f};
        test_stats_merge<<<dim3{(unsigned) C, 1, 1}, bnFinalizeThreads(groups), 0>>>((const float*) part.data(), groups,
                m, rm2.data(), rv2.data(), sm2.data(), si2.data(), tracked2.data(), 0.1f, 1e-5f);
        same(std::string("batchnorm_stats saveMean = a merge launch ") + name, sm2, sm);
        same(std::string("batchnorm_stats saveInvStd = a merge launch ") + name, si2, si);
        same(std::string("batchnorm_stats runningMean = a merge launch ") + name, rm2, rm);
        same(std::string("batchnorm_stats runningVar = a merge launch ") + name, rv2, rv);
        same(std::string("batchnorm_stats batchesTracked = a merge launch ") + name, tracked2, tracked);
        // A second launch finds the tickets at 0 again: the same statistics.
        auto rm3 = rm0, rv3 = rv0;
        auto sm3 = nans(C), si3 = nans(C);
        batchnorm_stats<<<dim3{(unsigned) groups, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(), part.data(),
                tickets.data(), N, C, L, chunk, m, rm3.data(), rv3.data(), sm3.data(), si3.data(), nullptr, 0.1f, 1e-5f);
        zeroTickets(std::string("batchnorm_stats again ") + name, tickets);
        same(std::string("batchnorm_stats saveMean, again ") + name, sm, sm3);
        same(std::string("batchnorm_stats runningVar, again ") + name, rv, rv3);
    }
    check(std::string("batchnorm batchesTracked ") + name, std::vector<double>{42.0}, tracked, 0.0);
    check(std::string("batchnorm saveMean ") + name, mean, sm, 1e-5);
    check(std::string("batchnorm saveInvStd ") + name, invstd, si, 1e-4);
    check(std::string("batchnorm runningMean ") + name, rmRef, rm, 1e-5);
    check(std::string("batchnorm runningVar (unbiased) ") + name, rvRef, rv, 1e-4);
    auto yo = nans(total);
    batchnorm_normalize<<<dim3{3, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) gamma.data(),
            (const float*) beta.data(), (const float*) sm.data(), (const float*) si.data(), yo.data(), C, L, (int) total,
            NN_ACT_IDENTITY);
    check(std::string("batchnorm_normalize ") + name, y, yo, 1e-4);
    auto ye = nans(total);
    std::vector<double> yeRef(total);
    for (size_t i = 0; i < total; i++) {
        int c = (int) ((i / L) % C);
        yeRef[i] = gamma[c] * (x[i] - rm[c]) / std::sqrt((double) rv[c] + 1e-5) + beta[c];
    }
    batchnorm_forward_eval<<<dim3{2, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) gamma.data(),
            (const float*) beta.data(), (const float*) rm.data(), (const float*) rv.data(), ye.data(), C, L, (int) total, 1e-5f,
            NN_ACT_IDENTITY);
    check(std::string("batchnorm_forward_eval ") + name, yeRef, ye, 1e-4);
    auto bpart = nans((size_t) C * groups * 2);
    auto dg = nans(C), dbt = nans(C);
    batchnorm_backward_reduce<<<dim3{(unsigned) groups, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(), nullptr,
            (const float*) dy.data(), (const float*) sm.data(), (const float*) si.data(), bpart.data(), tickets.data(),
            dg.data(), dbt.data(), N, C, L, chunk, NN_ACT_IDENTITY, 0, 1);
    zeroTickets(std::string("batchnorm_backward_reduce ") + name, tickets);
    {
        auto dg2 = nans(C), db2 = nans(C);
        test_backward_merge<<<dim3{(unsigned) C, 1, 1}, bnFinalizeThreads(groups), 0>>>((const float*) bpart.data(),
                groups, dg2.data(), db2.data());
        same(std::string("batchnorm_backward_reduce dgamma = a merge launch ") + name, dg2, dg);
        same(std::string("batchnorm_backward_reduce dbeta = a merge launch ") + name, db2, dbt);
    }
    check(std::string("batchnorm dgamma ") + name, dgamma, dg, 1e-4);
    check(std::string("batchnorm dbeta ") + name, dbeta, dbt, 1e-5);
    auto dxo = dy;  // in place: dx aliases dy
    batchnorm_backward_dx<<<dim3{5, 1, 1}, 256, 0>>>((const float*) x.data(), nullptr, (const float*) dxo.data(),
            (const float*) gamma.data(), (const float*) sm.data(), (const float*) si.data(), (const float*) dg.data(),
            (const float*) dbt.data(), dxo.data(), C, L, (int) total, (float) m, NN_ACT_IDENTITY, 0, 1);
    check(std::string("batchnorm_backward_dx (in place) ") + name, dx, dxo, 1e-3);
    if (groups == 1) {
        // One block per channel: each direction in one launch, the bits of the two.
        auto rm2 = rm0, rv2 = rv0;
        auto sm2 = nans(C), si2 = nans(C), y2 = nans(total), part2 = nans((size_t) C * 3);
        std::vector<float> tracked2{41.0f};
        batchnorm_stats_normalize<<<dim3{1, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(), part2.data(), N, C, L, m,
                rm2.data(), rv2.data(), sm2.data(), si2.data(), tracked2.data(), 0.1f, 1e-5f, (const float*) gamma.data(),
                (const float*) beta.data(), y2.data(), NN_ACT_IDENTITY);
        same(std::string("batchnorm_stats_normalize y = two launches ") + name, yo, y2);
        same(std::string("batchnorm_stats_normalize saveMean = two launches ") + name, sm, sm2);
        same(std::string("batchnorm_stats_normalize saveInvStd = two launches ") + name, si, si2);
        same(std::string("batchnorm_stats_normalize runningMean = two launches ") + name, rm, rm2);
        same(std::string("batchnorm_stats_normalize runningVar = two launches ") + name, rv, rv2);
        same(std::string("batchnorm_stats_normalize batchesTracked = two launches ") + name, tracked, tracked2);
        auto dg2 = nans(C), db2 = nans(C), bpart2 = nans((size_t) C * 2);
        auto dx2 = dy;  // in place, as the two launches ran
        batchnorm_backward_reduce_dx<<<dim3{1, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(), nullptr,
                (const float*) dx2.data(), (const float*) gamma.data(), (const float*) sm.data(), (const float*) si.data(),
                bpart2.data(), dg2.data(), db2.data(), dx2.data(), N, C, L, (float) m, NN_ACT_IDENTITY);
        same(std::string("batchnorm_backward_reduce_dx dgamma = two launches ") + name, dg, dg2);
        same(std::string("batchnorm_backward_reduce_dx dbeta = two launches ") + name, dbt, db2);
        same(std::string("batchnorm_backward_reduce_dx dx (in place) = two launches ") + name, dxo, dx2);
    }

    // An activation fused into the element-wise passes: against float64 (the activation of the
    // float64 batch norm; the backward from the float output a and the gradient da of a), and
    // against the separate launches it replaces, bit for bit.
    for (int act : {NN_ACT_SIGMOID, NN_ACT_RELU}) {
        std::string an = std::string(act == NN_ACT_SIGMOID ? "sigmoid " : "relu ") + name;
        std::vector<double> aRef(total), aeRef(total);
        for (size_t i = 0; i < total; i++) {
            aRef[i] = act == NN_ACT_SIGMOID ? 1 / (1 + std::exp(-y[i])) : std::max(y[i], 0.0);
            aeRef[i] = act == NN_ACT_SIGMOID ? 1 / (1 + std::exp(-yeRef[i])) : std::max(yeRef[i], 0.0);
        }
        auto a = nans(total);
        batchnorm_normalize<<<dim3{3, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) gamma.data(),
                (const float*) beta.data(), (const float*) sm.data(), (const float*) si.data(), a.data(), C, L, (int) total,
                act);
        check("batchnorm_normalize + " + an, aRef, a, 1e-4);
        auto a2 = yo;  // the identity's output, then the activation's own launch in place
        if (act == NN_ACT_SIGMOID) {
            sigmoid_forward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) a2.data(), a2.data(), (int) total);
        } else {
            relu_forward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) a2.data(), a2.data(), (int) total);
        }
        same("batchnorm_normalize + " + an + " = two launches", a2, a);
        auto ae = nans(total), ae2 = ye;
        batchnorm_forward_eval<<<dim3{2, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) gamma.data(),
                (const float*) beta.data(), (const float*) rm.data(), (const float*) rv.data(), ae.data(), C, L, (int) total,
                1e-5f, act);
        check("batchnorm_forward_eval + " + an, aeRef, ae, 1e-4);
        if (act == NN_ACT_SIGMOID) {
            sigmoid_forward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) ae2.data(), ae2.data(), (int) total);
        } else {
            relu_forward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) ae2.data(), ae2.data(), (int) total);
        }
        same("batchnorm_forward_eval + " + an + " = two launches", ae2, ae);

        auto da = randn(total);
        std::vector<double> dz(total), dgRef(C, 0.0), dbRef(C, 0.0), dxRef(total);
        for (size_t i = 0; i < total; i++) {
            dz[i] = act == NN_ACT_SIGMOID ? da[i] * (double) a[i] * (1 - (double) a[i]) : (a[i] > 0 ? da[i] : 0.0);
        }
        for (int c = 0; c < C; c++) {
            for (int n = 0; n < N; n++)
                for (int l = 0; l < L; l++) {
                    size_t i = ((size_t) n * C + c) * L + l;
                    dbRef[c] += dz[i];
                    dgRef[c] += dz[i] * (x[i] - (double) sm[c]) * si[c];
                }
            for (int n = 0; n < N; n++)
                for (int l = 0; l < L; l++) {
                    size_t i = ((size_t) n * C + c) * L + l;
                    double xh = (x[i] - (double) sm[c]) * si[c];
                    dxRef[i] = gamma[c] * (double) si[c] / m * (m * dz[i] - dbRef[c] - xh * dgRef[c]);
                }
        }
        auto fpart = nans((size_t) C * groups * 2);
        auto fdg = nans(C), fdb = nans(C);
        batchnorm_backward_reduce<<<dim3{(unsigned) groups, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(),
                (const float*) a.data(), (const float*) da.data(), (const float*) sm.data(), (const float*) si.data(),
                fpart.data(), tickets.data(), fdg.data(), fdb.data(), N, C, L, chunk, act, 0, 1);
        zeroTickets("batchnorm_backward_reduce + " + an, tickets);
        check("batchnorm dgamma + " + an, dgRef, fdg, 1e-4);
        check("batchnorm dbeta + " + an, dbRef, fdb, 1e-4);
        auto fdx = da;  // in place: dx aliases the activation's gradient
        batchnorm_backward_dx<<<dim3{5, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) a.data(),
                (const float*) fdx.data(), (const float*) gamma.data(), (const float*) sm.data(), (const float*) si.data(),
                (const float*) fdg.data(), (const float*) fdb.data(), fdx.data(), C, L, (int) total, (float) m, act, 0, 1);
        check("batchnorm_backward_dx + " + an + " (in place)", dxRef, fdx, 1e-3);

        // The two launches: the activation's gradient written, then batch norm's two.
        auto dz2 = nans(total);
        if (act == NN_ACT_SIGMOID) {
            sigmoid_backward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) a.data(), (const float*) da.data(), dz2.data(),
                    (int) total);
        } else {
            relu_backward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) a.data(), (const float*) da.data(), dz2.data(),
                    (int) total);
        }
        auto upart = nans((size_t) C * groups * 2);
        auto udg = nans(C), udb = nans(C);
        batchnorm_backward_reduce<<<dim3{(unsigned) groups, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(), nullptr,
                (const float*) dz2.data(), (const float*) sm.data(), (const float*) si.data(), upart.data(), tickets.data(),
                udg.data(), udb.data(), N, C, L, chunk, NN_ACT_IDENTITY, 0, 1);
        auto udx = nans(total);
        batchnorm_backward_dx<<<dim3{5, 1, 1}, 256, 0>>>((const float*) x.data(), nullptr, (const float*) dz2.data(),
                (const float*) gamma.data(), (const float*) sm.data(), (const float*) si.data(), (const float*) udg.data(),
                (const float*) udb.data(), udx.data(), C, L, (int) total, (float) m, NN_ACT_IDENTITY, 0, 1);
        same("batchnorm backward partials + " + an + " = two launches", upart, fpart);
        same("batchnorm dgamma + " + an + " = two launches", udg, fdg);
        same("batchnorm dbeta + " + an + " = two launches", udb, fdb);
        same("batchnorm_backward_dx + " + an + " = two launches", udx, fdx);
        if (groups == 1) {
            auto rm2 = rm0, rv2 = rv0;
            auto sm2 = nans(C), si2 = nans(C), a3 = nans(total), part2 = nans((size_t) C * 3);
            batchnorm_stats_normalize<<<dim3{1, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(), part2.data(), N, C, L,
                    m, rm2.data(), rv2.data(), sm2.data(), si2.data(), nullptr, 0.1f, 1e-5f, (const float*) gamma.data(),
                    (const float*) beta.data(), a3.data(), act);
            same("batchnorm_stats_normalize + " + an + " = two launches", a, a3);
            auto dg3 = nans(C), db3 = nans(C), bpart3 = nans((size_t) C * 2), dx3 = nans(total);
            batchnorm_backward_reduce_dx<<<dim3{1, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(),
                    (const float*) a.data(), (const float*) da.data(), (const float*) gamma.data(), (const float*) sm.data(),
                    (const float*) si.data(), bpart3.data(), dg3.data(), db3.data(), dx3.data(), N, C, L, (float) m, act);
            same("batchnorm_backward_reduce_dx dgamma + " + an + " = two launches", fdg, dg3);
            same("batchnorm_backward_reduce_dx dbeta + " + an + " = two launches", fdb, db3);
            same("batchnorm_backward_reduce_dx dx + " + an + " = two launches", fdx, dx3);
        }
    }
}

// Batch norm, an activation and a k x k average pooling (stride k, no padding) in one pass each
// way: batchnorm_normalize_pool (train and eval) against batchnorm_normalize or
// batchnorm_forward_eval followed by avg_pool2d_forward, and the backward kernels given the
// pooled gradient (pool = k) against avg_pool2d_backward followed by the unpooled kernels, bit
// for bit; the pooled output also against float64.
static void testBatchNormPool(int N, int C, int H, int W, int k, int groups, int act) {
    const int L = H * W, P = H / k, Q = W / k;
    const size_t total = (size_t) N * C * L, pooledTotal = (size_t) N * C * P * Q;
    auto x = randn(total);
    for (auto& v : x) v = 1.f + 1.5f * v;
    auto gamma = randn(C), beta = randn(C);
    std::vector<float> rm = randn(C), rv(C, 0.8f);
    const long long m = (long long) N * L;
    char name[112];
    std::snprintf(name, sizeof name, "N%d C%d %dx%d pool %d act %d groups %d", N, C, H, W, k, act, groups);
    int chunk = (int) ((m + groups - 1) / groups);
    groups = (int) ((m + chunk - 1) / chunk);
    std::vector<unsigned> tickets(C, 0u);
    auto part = nans((size_t) C * groups * 3);
    auto sm = nans(C), si = nans(C);
    batchnorm_stats<<<dim3{(unsigned) groups, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(), part.data(),
            tickets.data(), N, C, L, chunk, m, rm.data(), rv.data(), sm.data(), si.data(), nullptr, 0.1f, 1e-5f);
    const int planes = N * C;
    for (int eval = 0; eval < 2; eval++) {
        std::string en = std::string(eval ? "eval " : "train ") + name;
        const float* mean = eval ? rm.data() : sm.data();
        const float* scale = eval ? rv.data() : si.data();
        auto y = nans(total), pooled = nans(pooledTotal);
        batchnorm_normalize_pool<<<dim3{2, 1, 1}, 128, 0>>>((const float*) x.data(), (const float*) gamma.data(),
                (const float*) beta.data(), mean, scale, y.data(), pooled.data(), C, H, W, k, (int) pooledTotal, 1e-5f, eval, act);
        auto y2 = nans(total), pooled2 = nans(pooledTotal);
        if (eval) {
            batchnorm_forward_eval<<<dim3{3, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) gamma.data(),
                    (const float*) beta.data(), mean, scale, y2.data(), C, L, (int) total, 1e-5f, act);
        } else {
            batchnorm_normalize<<<dim3{3, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) gamma.data(),
                    (const float*) beta.data(), mean, scale, y2.data(), C, L, (int) total, act);
        }
        avg_pool2d_forward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) y2.data(), pooled2.data(), planes, H, W, P, Q, k, k, 0);
        same("batchnorm_normalize_pool y = two launches, " + en, y2, y);
        same("batchnorm_normalize_pool pooled = two launches, " + en, pooled2, pooled);
        std::vector<double> ref(pooledTotal, 0.0);
        for (size_t o = 0; o < pooledTotal; o++) {
            size_t plane = o / ((size_t) P * Q);
            int p = (int) (o / Q % P), q = (int) (o % Q), c = (int) (plane % C);
            double invstd = eval ? 1 / std::sqrt((double) rv[c] + 1e-5) : (double) si[c];
            double mu = eval ? rm[c] : sm[c];
            for (int r = 0; r < k; r++)
                for (int s2 = 0; s2 < k; s2++) {
                    double v = gamma[c] * (x[(plane * H + p * k + r) * W + q * k + s2] - mu) * invstd + beta[c];
                    v = act == NN_ACT_SIGMOID ? 1 / (1 + std::exp(-v)) : act == NN_ACT_RELU ? std::max(v, 0.0) : v;
                    ref[o] += v / (k * k);
                }
        }
        check("batchnorm_normalize_pool pooled, " + en, ref, pooled, 1e-4);
        if (eval) {
            continue;
        }
        // Backward from the pooled gradient, against the pooling's own backward launch and then
        // the unpooled kernels.
        auto dp = randn(pooledTotal);
        auto fpart = nans((size_t) C * groups * 2), fdg = nans(C), fdb = nans(C);
        batchnorm_backward_reduce<<<dim3{(unsigned) groups, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(),
                (const float*) y.data(), (const float*) dp.data(), (const float*) sm.data(), (const float*) si.data(),
                fpart.data(), tickets.data(), fdg.data(), fdb.data(), N, C, L, chunk, act, k, W);
        zeroTickets("batchnorm_backward_reduce pooled, " + en, tickets);
        auto fdx = nans(total);
        batchnorm_backward_dx<<<dim3{5, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) y.data(),
                (const float*) dp.data(), (const float*) gamma.data(), (const float*) sm.data(), (const float*) si.data(),
                (const float*) fdg.data(), (const float*) fdb.data(), fdx.data(), C, L, (int) total, (float) m, act, k, W);
        auto da = nans(total);
        avg_pool2d_backward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) dp.data(), da.data(), planes, H, W, P, Q, k, k, 0);
        auto upart = nans((size_t) C * groups * 2), udg = nans(C), udb = nans(C);
        batchnorm_backward_reduce<<<dim3{(unsigned) groups, (unsigned) C, 1}, 256, 0>>>((const float*) x.data(),
                (const float*) y.data(), (const float*) da.data(), (const float*) sm.data(), (const float*) si.data(),
                upart.data(), tickets.data(), udg.data(), udb.data(), N, C, L, chunk, act, 0, 1);
        auto udx = da;  // in place, as the layers' own ops run it
        batchnorm_backward_dx<<<dim3{5, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) y.data(),
                (const float*) udx.data(), (const float*) gamma.data(), (const float*) sm.data(), (const float*) si.data(),
                (const float*) udg.data(), (const float*) udb.data(), udx.data(), C, L, (int) total, (float) m, act, 0, 1);
        same("batchnorm backward partials pooled = three launches, " + en, upart, fpart);
        same("batchnorm dgamma pooled = three launches, " + en, udg, fdg);
        same("batchnorm dbeta pooled = three launches, " + en, udb, fdb);
        same("batchnorm_backward_dx pooled = three launches, " + en, udx, fdx);
    }
}

// ------------------------------------------------------------------ pooling

static void testPool(int planes, int H, int W, int k, int st, int pad) {
    int P = (H + 2 * pad - k) / st + 1, Q = (W + 2 * pad - k) / st + 1;
    auto x = randn((size_t) planes * H * W);
    for (auto& v : x) v = std::round(v * 2) / 2;  // ties
    auto dy = randn((size_t) planes * P * Q);
    std::vector<double> ya(planes * P * Q), ym(planes * P * Q), dxa(planes * H * W, 0.0), dxm(planes * H * W, 0.0);
    for (int pl = 0; pl < planes; pl++)
        for (int p = 0; p < P; p++)
            for (int q = 0; q < Q; q++) {
                double s = 0, best = -INFINITY;
                int arg = -1;
                for (int r = 0; r < k; r++)
                    for (int c = 0; c < k; c++) {
                        int ih = p * st - pad + r, iw = q * st - pad + c;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        double v = x[((size_t) pl * H + ih) * W + iw];
                        s += v;
                        if (arg < 0 || v > best) { best = v; arg = ih * W + iw; }
                    }
                size_t o = ((size_t) pl * P + p) * Q + q;
                ya[o] = s / (k * k);
                ym[o] = best;
                dxm[(size_t) pl * H * W + arg] += dy[o];
                for (int r = 0; r < k; r++)
                    for (int c = 0; c < k; c++) {
                        int ih = p * st - pad + r, iw = q * st - pad + c;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        dxa[((size_t) pl * H + ih) * W + iw] += dy[o] / (k * k);
                    }
            }
    char name[96];
    std::snprintf(name, sizeof name, "planes %d %dx%d k%d s%d p%d", planes, H, W, k, st, pad);
    auto o1 = nans(ya.size()), o2 = nans(ym.size()), o3 = nans(dxa.size()), o4 = nans(dxm.size());
    avg_pool2d_forward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) x.data(), o1.data(), planes, H, W, P, Q, k, st, pad);
    check(std::string("avg_pool2d_forward ") + name, ya, o1, 1e-6);
    max_pool2d_forward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) x.data(), o2.data(), planes, H, W, P, Q, k, st, pad);
    check(std::string("max_pool2d_forward ") + name, ym, o2, 0);
    avg_pool2d_backward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) dy.data(), o3.data(), planes, H, W, P, Q, k, st, pad);
    check(std::string("avg_pool2d_backward ") + name, dxa, o3, 1e-6);
    max_pool2d_backward<<<dim3{3, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) dy.data(), o4.data(), planes, H, W,
            P, Q, k, st, pad);
    check(std::string("max_pool2d_backward (first maximum) ") + name, dxm, o4, 1e-6);
}

// ------------------------------------------------------------------ softmax cross-entropy

// softmax_ce's sum of the per-row results as a launch of its own (one block of 256 threads): what
// the last block must compute, whichever block it is.
__global__ void test_softmax_accumulate(const float* rowLoss, const float* rowCorrect, int N, float* metrics) {
    __shared__ double buf[256];
    sce_accumulate(rowLoss, rowCorrect, N, metrics, buf);
}

static void testSoftmax(int N, int K) {
    auto logits = randn((size_t) N * K);
    if (K > 3) logits[2] = logits[3] = 9.f;  // a tie for the arg-max of row 0
    std::vector<float> labels(N);
    for (int n = 0; n < N; n++) labels[n] = (float) (rng() % K);
    if (K > 3) labels[0] = 3.f;  // the tie's second index: not "correct"
    std::vector<double> d((size_t) N * K), metrics(2);
    double lossSum = 0, correct = 0;
    for (int n = 0; n < N; n++) {
        const float* row = logits.data() + (size_t) n * K;
        double mx = row[0];
        int arg = 0;
        for (int i = 1; i < K; i++) if (row[i] > mx) { mx = row[i]; arg = i; }
        double s = 0;
        for (int i = 0; i < K; i++) s += std::exp(row[i] - mx);
        int lab = (int) labels[n];
        lossSum += mx + std::log(s) - row[lab];
        correct += arg == lab;
        for (int i = 0; i < K; i++) d[(size_t) n * K + i] = (std::exp(row[i] - mx) / s - (i == lab)) / N;
    }
    metrics[0] = 0.5 + lossSum;
    metrics[1] = 1 + correct;
    char name[64];
    std::snprintf(name, sizeof name, "N%d K%d", N, K);
    auto dlo = nans(d.size());
    auto rows = nans(2 * (size_t) N);
    std::vector<unsigned> ticket{0u};
    std::vector<float> m = {0.5f, 1.f};
    softmax_ce<<<dim3{std::max(1u, std::min(3u, cdiv(N, 8))), 1, 1}, 256, 0>>>((const float*) logits.data(),
            (const float*) labels.data(), dlo.data(), rows.data(), rows.data() + N, ticket.data(), m.data(), N, K);
    zeroTickets(std::string("softmax_ce ") + name, ticket);
    check(std::string("softmax_ce dlogits ") + name, d, dlo, 1e-5);
    check(std::string("softmax_ce metrics (loss sum, correct) ") + name, metrics, m, 1e-5);
    // The rows' sum as a launch of its own (one block, from the same per-row results): the same bits.
    std::vector<float> m2 = {0.5f, 1.f};
    test_softmax_accumulate<<<dim3{1, 1, 1}, 256, 0>>>((const float*) rows.data(), (const float*) rows.data() + N, N,
            m2.data());
    same(std::string("softmax_ce metrics = a summing launch ") + name, m2, m);
    // In place (dlogits over the logits): the same bits.
    auto inplace = logits;
    std::vector<float> m3 = {0.5f, 1.f};
    softmax_ce<<<dim3{std::max(1u, std::min(3u, cdiv(N, 8))), 1, 1}, 256, 0>>>((const float*) inplace.data(),
            (const float*) labels.data(), inplace.data(), rows.data(), rows.data() + N, ticket.data(), m3.data(), N, K);
    zeroTickets(std::string("softmax_ce in place ") + name, ticket);
    same(std::string("softmax_ce in place: dlogits ") + name, inplace, dlo);
    same(std::string("softmax_ce in place: metrics ") + name, m3, m);
}

// ------------------------------------------------------------------ elementwise, optimizers, data

static void testElementwiseAndOptim() {
    int n = 1000;
    auto x = randn(n), dy = randn(n);
    std::vector<double> sig(n), dsig(n), relu(n), drelu(n);
    for (int i = 0; i < n; i++) {
        sig[i] = 1 / (1 + std::exp(-(double) x[i]));
        relu[i] = x[i] > 0 ? x[i] : 0;
        drelu[i] = x[i] > 0 ? dy[i] : 0;
    }
    auto y = nans(n);
    sigmoid_forward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) x.data(), y.data(), n);
    check("sigmoid_forward", sig, y, 1e-6);
    for (int i = 0; i < n; i++) dsig[i] = dy[i] * (double) y[i] * (1 - (double) y[i]);
    auto dx = nans(n);
    sigmoid_backward<<<dim3{2, 1, 1}, 256, 0>>>((const float*) y.data(), (const float*) dy.data(), dx.data(), n);
    check("sigmoid_backward", dsig, dx, 1e-6);
    auto r = nans(n), dr = nans(n);
    relu_forward<<<dim3{1, 1, 1}, 256, 0>>>((const float*) x.data(), r.data(), n);
    check("relu_forward", relu, r, 0);
    relu_backward<<<dim3{3, 1, 1}, 256, 0>>>((const float*) x.data(), (const float*) dy.data(), dr.data(), n);
    check("relu_backward", drelu, dr, 0);
    auto f = nans(n);
    fill<<<dim3{1, 1, 1}, 128, 0>>>(f.data(), 2.5f, n);
    check("fill", std::vector<double>(n, 2.5), f, 0);
    auto cpy = nans(n);
    copy<<<dim3{2, 1, 1}, 256, 0>>>((const float*) x.data(), cpy.data(), n);
    check("copy", std::vector<double>(x.begin(), x.end()), cpy, 0);
    add_scalar<<<dim3{1, 1, 1}, 1, 0>>>(f.data(), 7, 1.f);
    std::vector<double> fr(n, 2.5);
    fr[7] = 3.5;
    check("add_scalar", fr, f, 0);

    // SGD with momentum and weight decay, two steps
    auto p = randn(n), g = randn(n);
    std::vector<float> v(n, 0.f), hyper = {0.1f, 1.f};
    std::vector<double> pr(p.begin(), p.end()), vr(n, 0.0);
    for (int step = 0; step < 2; step++) {
        for (int i = 0; i < n; i++) {
            double gg = g[i] + 1e-3 * pr[i];
            vr[i] = 0.9 * vr[i] + gg;
            pr[i] -= 0.1 * vr[i];
        }
        sgd_step<<<dim3{2, 1, 1}, 256, 0>>>(p.data(), (const float*) g.data(), v.data(), (const float*) hyper.data(), 0.9f,
                1e-3f, n);
    }
    check("sgd_step (momentum, weight decay)", pr, p, 1e-5);
    auto p2 = randn(n);
    std::vector<double> p2r(p2.begin(), p2.end());
    for (int i = 0; i < n; i++) p2r[i] -= 0.1 * g[i];
    sgd_step<<<dim3{1, 1, 1}, 256, 0>>>(p2.data(), (const float*) g.data(), (float*) nullptr, (const float*) hyper.data(), 0.f,
            0.f, n);
    check("sgd_step (plain, no velocity)", p2r, p2, 1e-6);

    // Adam, three steps with t advanced on the device
    auto pa = randn(n);
    std::vector<float> ma(n, 0.f), va(n, 0.f), ah = {0.01f, 0.f};
    std::vector<double> par(pa.begin(), pa.end()), mr(n, 0.0), vr2(n, 0.0);
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < n; i++) {
            double gg = g[i] + 1e-4 * par[i];
            mr[i] = 0.9 * mr[i] + 0.1 * gg;
            vr2[i] = 0.999 * vr2[i] + 0.001 * gg * gg;
            double denom = std::sqrt(vr2[i]) / std::sqrt(1 - std::pow(0.999, t)) + 1e-8;
            par[i] -= 0.01 / (1 - std::pow(0.9, t)) * mr[i] / denom;
        }
        add_scalar<<<dim3{1, 1, 1}, 1, 0>>>(ah.data(), 1, 1.f);
        adam_step<<<dim3{2, 1, 1}, 256, 0>>>(pa.data(), (const float*) g.data(), ma.data(), va.data(), (const float*) ah.data(),
                0.9f, 0.999f, 1e-8f, 1e-4f, n);
    }
    check("adam_step (3 steps)", par, pa, 1e-5);
}

static void testGather(int outH, int outW) {
    int count = 20, inH = 28, inW = 28, B = 6;
    std::vector<unsigned char> pixels((size_t) count * inH * inW);
    for (auto& px : pixels) px = (unsigned char) (rng() & 0xFF);
    std::vector<float> imageLabels(count), order(count), cursor = {4.f};
    for (int i = 0; i < count; i++) {
        imageLabels[i] = (float) (rng() % 10);
        order[i] = (float) ((i * 7) % count);
    }
    std::vector<double> xr((size_t) B * outH * outW), lr(B);
    float sh = (float) inH / outH, sw = (float) inW / outW, divisor = 255.f;
    for (int i = 0; i < B; i++) {
        int j = (int) order[4 + i];
        lr[i] = imageLabels[j];
        const unsigned char* src = pixels.data() + (size_t) j * inH * inW;
        for (int oy = 0; oy < outH; oy++)
            for (int ox = 0; ox < outW; ox++) {
                float value;
                if (inH == outH && inW == outW) {
                    value = src[oy * inW + ox] / divisor;
                } else {  // dev.normnet.data.Resize.bilinear, operation by operation in float
                    float fy = std::max((oy + 0.5f) * sh - 0.5f, 0.f);
                    int y0 = std::min((int) fy, inH - 1), y1 = std::min(y0 + 1, inH - 1);
                    float ly = fy - y0;
                    float fx = std::max((ox + 0.5f) * sw - 0.5f, 0.f);
                    int x0 = std::min((int) fx, inW - 1), x1 = std::min(x0 + 1, inW - 1);
                    float lx = fx - x0;
                    float p00 = src[y0 * inW + x0], p01 = src[y0 * inW + x1], p10 = src[y1 * inW + x0], p11 = src[y1 * inW + x1];
                    float top = p00 + (p01 - p00) * lx;
                    float bottom = p10 + (p11 - p10) * lx;
                    value = (top + (bottom - top) * ly) / divisor;
                }
                xr[((size_t) i * outH + oy) * outW + ox] = value;
            }
    }
    auto x = nans(xr.size()), lab = nans(B);
    std::vector<unsigned> ticket{0u};
    gather_batch<<<dim3{3, 1, 1}, 256, 0>>>((const unsigned char*) pixels.data(), (const float*) imageLabels.data(),
            (const float*) order.data(), cursor.data(), ticket.data(), x.data(), lab.data(), B, count, count, inH, inW, outH,
            outW, sh, sw, divisor);
    char name[64];
    std::snprintf(name, sizeof name, "to %dx%d", outH, outW);
    zeroTickets(std::string("gather_batch ") + name, ticket);
    check(std::string("gather_batch x (bit-exact) ") + name, xr, x, 0);
    check(std::string("gather_batch labels ") + name, lr, lab, 0);
    check(std::string("gather_batch cursor advanced ") + name, std::vector<double>{4.0 + B}, cursor, 0);
}

int main() {
    testConv(2, 1, 28, 28, 6, 5, 5, 1, 2, 2);     // LeNet conv1 (batch strided over z)
    testConv(3, 6, 14, 14, 16, 5, 5, 1, 0, 2);    // LeNet conv2
    testConv(2, 3, 11, 9, 5, 3, 4, 2, 1, 1);      // odd sizes, stride 2
    testConv(1, 40, 9, 10, 17, 5, 5, 3, 2, 1);    // channels over one shared-memory chunk, stride 3
    testConv(1, 45, 6, 7, 7, 5, 5, 1, 1, 1);      // over one chunk at 6 channels per thread too (40 fit)
    testConv(1, 4, 7, 7, 9, 1, 1, 1, 0, 1);       // 1x1 filter
    testConv(2, 2, 10, 11, 3, 2, 2, 3, 0, 1);     // stride 3 over a 2x2 filter: pixels no window covers
    testConv(1, 3, 12, 12, 20, 5, 5, 2, 2, 1);    // stride 2, padding 2, 420 filter-gradient sums
    testGemm(64, 256, 120, 1);                    // LeNet fc1 (batch 64)
    testGemm(7, 13, 5, 1);
    testGemm(130, 70, 65, 1);                     // partial tiles in every direction
    testGemm(16, 3000, 10, 6);                    // split-K
    testLinearBackward(64, 400, 120);             // LeNet fc1 (batch 64)
    testLinearBackward(37, 84, 10);               // LeNet fc3 at an odd batch
    testLinearBackward(130, 70, 300);             // partial tiles everywhere, db over two blocks
    testBatchNorm(8, 6, 28 * 28, 3);              // after conv1, split over 3 blocks per channel
    testBatchNorm(4, 16, 100, 1);
    testBatchNorm(64, 40, 1, 1);                  // BatchNorm1d
    testBatchNorm(256, 120, 1, 1);                // LeNet's fc1 batch norm: one block per channel
    testBatchNorm(300, 3, 1, 1);                  // more values than threads per block
    testBatchNorm(3, 5, 63, 4);
    testBatchNorm(5, 3, 1031, 300);               // 300 partials: merge threads take several each
    testBatchNorm(16, 2, 2048, 9);                // long slices: four values at a time per thread
    for (int act : {NN_ACT_IDENTITY, NN_ACT_SIGMOID, NN_ACT_RELU}) {
        testBatchNormPool(8, 6, 28, 28, 2, 3, act);  // LeNet's first batch norm, Sigmoid and pool
    }
    testBatchNormPool(4, 16, 10, 10, 2, 1, NN_ACT_SIGMOID);  // the second
    testBatchNormPool(3, 5, 9, 6, 3, 4, NN_ACT_RELU);        // 3x3 tiles, H != W
    testBatchNormPool(2, 3, 7, 5, 1, 2, NN_ACT_SIGMOID);     // 1x1 tiles: no pooling at all
    testPool(6, 28, 28, 2, 2, 0);
    testPool(4, 7, 9, 3, 2, 1);
    testPool(3, 6, 5, 3, 1, 1);                   // overlapping windows
    testSoftmax(256, 10);
    testSoftmax(37, 100);
    testSoftmax(5, 1);
    testElementwiseAndOptim();
    testGather(28, 28);
    testGather(32, 32);
    testGather(45, 37);
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
