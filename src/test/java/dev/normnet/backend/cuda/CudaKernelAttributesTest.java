package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.normnet.GpuTest;
import dev.normnet.backend.Backends;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The kernels as the driver loaded them ({@link KernelAttributes}, printed by bin/gpu-check): one
 * per compiled kernel, the GEMM kernels held to their {@code __launch_bounds__}, and none with
 * local memory (a stack frame, where spilled registers go).
 */
@GpuTest
class CudaKernelAttributesTest {
    @Test
    void everyKernelLoadedWithItsBoundsAndNoLocalMemory() {
        assumeTrue(Backends.cudaStatus().available(), "CUDA unavailable: " + Backends.cudaStatus().explain());
        List<String> lines = KernelAttributes.describe();
        lines.forEach(System.out::println);
        assertEquals(CudaDevice.readSignatures().size(), lines.size(), "one line per kernel: " + lines);
        for (String gemm : List.of("sgemm_strided", "linear_backward")) {
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("kernel " + gemm + ": ") && l.contains(", at most 256 threads")),
                    gemm + " is compiled with __launch_bounds__(256, 3): " + lines);
        }
        for (String l : lines) {
            assertTrue(l.endsWith(", 0 bytes of local memory"), l);
        }
    }
}
