package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.normnet.GpuTest;
import dev.normnet.backend.Backends;
import dev.normnet.backend.cuda.CudaBackend;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

/**
 * What {@code normnet bench --kernels --device cuda} runs, at small sizes: the device's limits
 * through the backend (a copy and normnet's GEMM), then every op of a LeNet-BN step timed on the
 * GPU, each with positive rates and fractions of those limits.
 */
@GpuTest
class CudaKernelBenchTest {
    @Test
    void everyOpOfALenetStepIsTimedOnTheGpu() {
        assumeTrue(Backends.cudaStatus().available(), "CUDA unavailable: " + Backends.cudaStatus().explain());
        try (CudaBackend gpu = new CudaBackend()) {
            Limits.Measured limits = Limits.device(gpu, 1, 1 << 16, 64);
            assertTrue(limits.copyGbPerSecond() > 0 && Double.isFinite(limits.copyGbPerSecond()), limits.toString());
            assertTrue(limits.gemmGflopPerSecond() > 0 && Double.isFinite(limits.gemmGflopPerSecond()), limits.toString());
            KernelBench kb = new KernelBench(gpu);
            try {
                List<KernelBench.Kernel> list = kb.kernels(8, false, 61_706);
                ByteArrayOutputStream log = new ByteArrayOutputStream();
                List<Map<String, Object>> rows = kb.run(list, new Timer(0, 0.001, 1), limits,
                        new PrintStream(log, true, StandardCharsets.UTF_8));
                assertEquals(list.size(), rows.size());
                Set<String> ops = new TreeSet<>();
                for (Map<String, Object> r : rows) {
                    double gbps = (Double) r.get("gb_per_s");
                    assertTrue(gbps > 0 && Double.isFinite(gbps), r.toString());
                    assertEquals(gbps / limits.copyGbPerSecond(), (Double) r.get("fraction_of_copy_bandwidth"), 1e-12);
                    ops.add(String.valueOf(r.get("op")));
                }
                for (String op : List.of("gather", "conv1", "bn1+sigmoid1+pool1", "linear3", "softmax_cross_entropy", "adam")) {
                    assertTrue(ops.contains(op), op + " not timed: " + ops);
                }
                System.out.println("CudaKernelBenchTest: " + rows.size() + " kernels timed; " + limits);
            } finally {
                kb.free();
            }
        }
    }
}
