package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.backend.cpu.CpuBackend;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LimitsTest {
    @Test
    void blockedGemmMatchesAFloat64Reference() {
        int n = 136;   // not a multiple of the 128 or 512 blocks
        float[] a = new float[n * n];
        float[] b = new float[n * n];
        float[] c = new float[n * n];
        SplittableRandom rng = new SplittableRandom(11);
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rng.nextDouble() * 2 - 1);
            b[i] = (float) (rng.nextDouble() * 2 - 1);
        }
        Limits.gemmRows(a, b, c, n, 0, 68);
        Limits.gemmRows(a, b, c, n, 68, n);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double ref = 0;
                for (int k = 0; k < n; k++) {
                    ref += (double) a[i * n + k] * b[k * n + j];
                }
                worst = Math.max(worst, Math.abs(ref - c[i * n + j]));
            }
        }
        assertTrue(worst < 1e-4, "largest difference " + worst);
    }

    @Test
    void vectorGemmMatchesAFloat64Reference() {
        org.junit.jupiter.api.Assumptions.assumeTrue(dev.normnet.backend.Backends.vectorApiAvailable(), "no Vector API in this JVM");
        int n = 4 * VectorGemm.lanes();
        float[] a = new float[n * n];
        float[] b = new float[n * n];
        float[] c = new float[n * n];
        SplittableRandom rng = new SplittableRandom(12);
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rng.nextDouble() * 2 - 1);
            b[i] = (float) (rng.nextDouble() * 2 - 1);
            c[i] = 0.5f;   // accumulates into what is there
        }
        VectorGemm.rows(a, b, c, n, 0, n / 2);
        VectorGemm.rows(a, b, c, n, n / 2, n);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                double ref = 0.5;
                for (int k = 0; k < n; k++) {
                    ref += (double) a[i * n + k] * b[k * n + j];
                }
                worst = Math.max(worst, Math.abs(ref - c[i * n + j]));
            }
        }
        assertTrue(worst < 1e-4, "largest difference " + worst);
    }

    @Test
    void cpuLimitsArePositiveAndDescribed() {
        Limits.Measured m = Limits.cpu(2, 1, 1 << 20, 128);
        assertTrue(m.copyGbPerSecond() > 0, "copy " + m.copyGbPerSecond());
        assertTrue(m.gemmGflopPerSecond() > 0, "gemm " + m.gemmGflopPerSecond());
        assertEquals("System.arraycopy of 4 MB float arrays, 2 threads (read + write bytes)", m.copyMethod());
        assertTrue(m.gemmMethod().endsWith("GEMM loop, n = 128, 2 threads") || m.gemmMethod().contains("Vector API"), m.gemmMethod());
        assertEquals(4, m.toJson().size());
    }

    @Test
    void deviceLimitsGoThroughTheBackend() {
        try (CpuBackend backend = new CpuBackend(1)) {
            // the probe the GPU uses, through the CPU backend at small sizes
            Limits.Measured m = Limits.device(backend, 1, 1 << 16, 32);
            assertTrue(m.copyGbPerSecond() > 0 && m.gemmGflopPerSecond() > 0);
            assertEquals("Backend.linearForward, 32 x 32 x 32 (normnet's GEMM)", m.gemmMethod());
        }
    }
}
