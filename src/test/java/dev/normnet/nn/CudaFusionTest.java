package dev.normnet.nn;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.normnet.GpuTest;
import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.cuda.CudaStatus;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link ActivationFusionTest}'s plan-level checks on the CUDA backend, where the fused ops are
 * kernels of their own (batchnorm_normalize_pool, the backward passes reading the pooled
 * gradient, and the one-launch kernels of one-block channels): two training steps, a watched
 * step, and an eval forward give the same bits fused and unfused. Skipped where no GPU is usable.
 */
@GpuTest
class CudaFusionTest {
    @BeforeEach
    void requireCuda() {
        CudaStatus status = Backends.cudaStatus();
        assumeTrue(status.available(), "CUDA unavailable: " + status.reason());
    }

    private static Backend cuda() {
        return Backends.select("cuda").backend();
    }

    /** Batch 6: one block per channel after every layer but conv1; batch 256: LeNet-BN's training batch. */
    @ParameterizedTest(name = "{0} batch {1}")
    @CsvSource({"lenet-bn, 6", "lenet-bn, 256", "mlp-bn, 6", "mlp-bn, 256"})
    void fusedPlansComputeTheBitsOfTheLayersOwnOps(String preset, int batch) {
        try (Backend a = cuda(); Backend b = cuda()) {
            for (boolean watch : new boolean[] {false, true}) {
                Map<String, float[]> unfused = ActivationFusionTest.run(ActivationFusionTest.model(preset, false), a,
                        watch, batch);
                Map<String, float[]> fused = ActivationFusionTest.run(ActivationFusionTest.model(preset, true), b,
                        watch, batch);
                ActivationFusionTest.assertSameBits(unfused, fused, preset + " batch " + batch
                        + (watch ? ", watched" : "") + " on " + a.describe());
            }
        }
    }

    @Test
    void averagePoolsJoinTheBatchNormBeforeThem() {
        try (Backend a = cuda(); Backend b = cuda()) {
            for (ActivationFusionTest.PoolCase c : ActivationFusionTest.poolCases()) {
                ActivationFusionTest.assertPoolCaseSameBits(c, a, b, 6);
                ActivationFusionTest.assertPoolCaseSameBits(c, a, b, 300);   // several blocks per channel
            }
        }
    }
}
