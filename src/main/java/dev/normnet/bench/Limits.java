package dev.normnet.bench;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The machine's own limits, measured rather than taken from a data sheet, against which per-kernel
 * figures are given as fractions:
 * <ul>
 *   <li>CPU copy bandwidth: {@code System.arraycopy} of a 128 MB float array, split over the
 *       benchmark's threads (bytes read plus bytes written, as STREAM's copy counts them);</li>
 *   <li>CPU GEMM: C += A B with n = 1024, rows split over the threads, by a register-blocked
 *       Vector API kernel ({@link VectorGemm}) when the JVM has {@code jdk.incubator.vector}, else
 *       a cache-blocked plain Java loop;</li>
 *   <li>GPU copy bandwidth: {@link Backend#copy} of a 256 MB device tensor;</li>
 *   <li>GPU GEMM: normnet's own GEMM, {@link Backend#linearForward} with 4096 x 4096 operands.</li>
 * </ul>
 * Each limit is the best of several timed runs (a peak, not a median).
 */
public final class Limits {
    /** Peak copy bandwidth in GB/s and GEMM rate in GFLOP/s, with how they were measured. */
    public record Measured(double copyGbPerSecond, double gemmGflopPerSecond, String copyMethod, String gemmMethod) {
        public Map<String, Object> toJson() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("copy_gb_per_s", copyGbPerSecond);
            m.put("copy_method", copyMethod);
            m.put("gemm_gflop_per_s", gemmGflopPerSecond);
            m.put("gemm_method", gemmMethod);
            return m;
        }
    }

    private Limits() {
    }

    // ---------------------------------------------------------------- CPU

    public static Measured cpu(int threads, int repeats) {
        return cpu(threads, repeats, 32 << 20, 1024);
    }

    /** As {@link #cpu(int, int)} with {@code n} floats copied and a g x g x g GEMM (g a multiple of 4 * threads). */
    static Measured cpu(int threads, int repeats, int n, int g) {
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "normnet-limits");
            t.setDaemon(true);
            return t;
        });
        try {
            double copy = cpuCopy(pool, threads, repeats, n);
            double gemm = cpuGemm(pool, threads, repeats, g);
            return new Measured(copy, gemm,
                    "System.arraycopy of " + (4L * n >> 20) + " MB float arrays, " + threads + " threads (read + write bytes)",
                    (vectorGemm(g) ? "register-blocked Vector API GEMM (4 rows x 2 vectors of " + VectorGemm.lanes() + ")"
                            : "blocked Java GEMM loop") + ", n = " + g + ", " + threads + " threads");
        } finally {
            pool.shutdownNow();
        }
    }

    private static double cpuCopy(ExecutorService pool, int threads, int repeats, int n) {
        float[] src = new float[n];
        float[] dst = new float[n];
        for (int i = 0; i < n; i += 1024) {
            src[i] = i;
        }
        double best = 0;
        for (int r = 0; r < repeats + 1; r++) {
            long t0 = System.nanoTime();
            parallel(pool, threads, n, (from, to) -> System.arraycopy(src, from, dst, from, to - from));
            double s = (System.nanoTime() - t0) / 1e9;
            if (r > 0) {                       // the first run touches the pages
                best = Math.max(best, 2.0 * 4 * n / s / 1e9);
            }
        }
        if (dst[(n - 1) / 1024 * 1024] != src[(n - 1) / 1024 * 1024]) {
            throw new IllegalStateException("copy bandwidth probe: copy went wrong");
        }
        return best;
    }

    private static double cpuGemm(ExecutorService pool, int threads, int repeats, int n) {
        if (n % 4 != 0 || n < 8) {
            throw new IllegalArgumentException("GEMM probe size must be a multiple of 4, at least 8, got " + n);
        }
        float[] a = new float[n * n];          // (n, n)
        float[] b = new float[n * n];          // (n, n)
        float[] c = new float[n * n];          // (n, n)
        SplittableRandom rng = new SplittableRandom(3);
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) rng.nextDouble();
            b[i] = (float) rng.nextDouble();
        }
        boolean vector = vectorGemm(n);
        double best = 0;
        long start = System.nanoTime();
        int warm = 0;
        // untimed runs for at least a second, so that the JIT has compiled the kernel
        while (warm < 2 || (System.nanoTime() - start) / 1e9 < 1.0) {
            if (vector) {
                parallel(pool, threads, n / 4, (from, to) -> VectorGemm.rows(a, b, c, n, from * 4, to * 4));
            } else {
                parallel(pool, threads, n / 4, (from, to) -> gemmRows(a, b, c, n, from * 4, to * 4));
            }
            warm++;
        }
        for (int r = 0; r < repeats; r++) {
            java.util.Arrays.fill(c, 0f);
            long t0 = System.nanoTime();
            if (vector) {
                parallel(pool, threads, n / 4, (from, to) -> VectorGemm.rows(a, b, c, n, from * 4, to * 4));
            } else {
                parallel(pool, threads, n / 4, (from, to) -> gemmRows(a, b, c, n, from * 4, to * 4));
            }
            double s = (System.nanoTime() - t0) / 1e9;
            best = Math.max(best, 2.0 * n * n * n / s / 1e9);
        }
        // spot check one element against a float64 dot product
        double ref = 0;
        for (int k = 0; k < n; k++) {
            ref += (double) a[5 * n + k] * b[k * n + 7];
        }
        if (Math.abs(ref - c[5 * n + 7]) > 1e-3 * Math.abs(ref)) {
            throw new IllegalStateException("GEMM probe: c[5,7] = " + c[5 * n + 7] + ", expected " + ref);
        }
        return best;
    }

    /** Whether the GEMM probe uses the Vector API kernel: the module is present and n fits its tiles. */
    static boolean vectorGemm(int n) {
        return Backends.vectorApiAvailable() && n % (2 * VectorGemm.lanes()) == 0;
    }

    /** c[rows] += a[rows] b, k and j blocked for the caches, four rows of c per pass over a row of b. */
    static void gemmRows(float[] a, float[] b, float[] c, int n, int rowFrom, int rowTo) {
        final int kb = 128;
        final int jb = 512;
        for (int k0 = 0; k0 < n; k0 += kb) {
            int k1 = Math.min(n, k0 + kb);
            for (int j0 = 0; j0 < n; j0 += jb) {
                int j1 = Math.min(n, j0 + jb);
                for (int i = rowFrom; i < rowTo; i += 4) {
                    int c0 = i * n;
                    int c1 = c0 + n;
                    int c2 = c1 + n;
                    int c3 = c2 + n;
                    for (int k = k0; k < k1; k++) {
                        float a0 = a[c0 + k];
                        float a1 = a[c1 + k];
                        float a2 = a[c2 + k];
                        float a3 = a[c3 + k];
                        int bk = k * n;
                        for (int j = j0; j < j1; j++) {
                            float bv = b[bk + j];
                            c[c0 + j] += a0 * bv;
                            c[c1 + j] += a1 * bv;
                            c[c2 + j] += a2 * bv;
                            c[c3 + j] += a3 * bv;
                        }
                    }
                }
            }
        }
    }

    private interface Range {
        void run(int from, int to);
    }

    private static void parallel(ExecutorService pool, int threads, int n, Range body) {
        List<Future<?>> f = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int from = (int) ((long) n * t / threads);
            int to = (int) ((long) n * (t + 1) / threads);
            f.add(pool.submit(() -> body.run(from, to)));
        }
        try {
            for (Future<?> x : f) {
                x.get();
            }
        } catch (Exception e) {
            throw new IllegalStateException("limit probe failed: " + e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------- GPU (any backend)

    /** Copy bandwidth and GEMM rate through the backend's own ops (used on the GPU). */
    public static Measured device(Backend backend, int repeats) {
        return device(backend, repeats, 64 << 20, 4096);
    }

    /** As {@link #device(Backend, int)} with {@code n} floats copied and a g x g x g GEMM. */
    static Measured device(Backend backend, int repeats, int n, int g) {
        double copy;
        try (Tensor src = backend.allocate(Shape.of(n)); Tensor dst = backend.allocate(Shape.of(n))) {
            backend.fill(src, 1f);
            copy = best(backend, repeats, 20, () -> backend.copy(src, dst), 2.0 * 4 * n / 1e9);
        }
        double gemm;
        try (Tensor x = backend.allocate(Shape.of(g, g)); Tensor w = backend.allocate(Shape.of(g, g));
             Tensor y = backend.allocate(Shape.of(g, g))) {
            backend.fill(x, 0.5f);
            backend.fill(w, 0.25f);
            gemm = best(backend, repeats, 5, () -> backend.linearForward(x, w, null, y), 2.0 * g * g * g / 1e9);
        }
        return new Measured(copy, gemm, "Backend.copy of a " + (4L * n >> 20) + " MB tensor (read + write bytes)",
                "Backend.linearForward, " + g + " x " + g + " x " + g + " (normnet's GEMM)");
    }

    private static double best(Backend backend, int repeats, int callsPerRun, Runnable call, double unitsPerCall) {
        call.run();
        backend.synchronize();
        double best = 0;
        for (int r = 0; r < repeats; r++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < callsPerRun; i++) {
                call.run();
            }
            backend.synchronize();
            double s = (System.nanoTime() - t0) / 1e9;
            best = Math.max(best, unitsPerCall * callsPerRun / s);
        }
        return best;
    }
}
