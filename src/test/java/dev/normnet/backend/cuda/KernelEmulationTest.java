package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Runs every kernel of src/main/cuda on the host: src/test/cuda/kernels_test.cpp includes
 * normnet.cu, launches each kernel with {@code <<<>>>} as on the device and checks it against
 * naive float64 references with outputs poisoned with NaN. src/test/cuda/emulate.sh builds it with
 * g++ under the CUDA emulation of src/test/cuda/cuda_emu.h (each CUDA thread a fiber, barriers for
 * __syncthreads and warp shuffles, a barrier that can never release stops the run), the same
 * emulation the kernel lab's {@code make emu-check} uses. The checks run twice, the threads of each
 * block in normal and in reverse order, which exposes most missing barriers. This exercises the
 * kernels' index arithmetic, bounds, barriers and reduction trees on machines without a GPU.
 * A third run moves every expf and logf result by up to the device's documented error (2 and 1
 * ulp; the host's are within about half an ulp), so the checks' tolerances hold for the device's
 * rounding too. Skips without g++.
 */
class KernelEmulationTest {
    @Test
    void everyKernelMatchesItsReferenceOnTheHost() throws Exception {
        String gxx = NativeTools.gxx();
        Assumptions.assumeTrue(gxx != null, "no g++ on PATH to build the kernel emulation");
        Assumptions.assumeTrue(Files.isDirectory(NativeTools.SOURCES) && Files.isDirectory(NativeTools.HARNESS),
                "run from the repository root");
        Path work = Path.of("target/kernel-emulation").toAbsolutePath();
        Files.createDirectories(work);
        Path binary = work.resolve("kernels_test");
        Path deviceUlps = work.resolve("kernels_test_device_ulps");
        for (Path out : List.of(binary, deviceUlps)) {
            List<String> build = new ArrayList<>(List.of("sh", NativeTools.HARNESS.resolve("emulate.sh").toString(),
                    NativeTools.HARNESS.resolve("kernels_test.cpp").toString(), out.toString(),
                    "-I" + NativeTools.SOURCES.toAbsolutePath()));
            if (out == deviceUlps) {
                build.add("-DEMU_DEVICE_ULPS");
            }
            NativeTools.run(build, Map.of("CXX", gxx), 600);
        }
        int checks = 0;
        for (List<String> runOf : List.of(List.of(binary.toString(), "0"), List.of(binary.toString(), "1"),
                List.of(deviceUlps.toString(), "0"))) {
            String order = runOf.get(1);
            String out = NativeTools.run(List.of(runOf.get(0)), Map.of("EMU_REVERSE", order), 900);
            System.out.print(out);
            int passed = NativeTools.passedChecks(out, runOf.get(0) + " (EMU_REVERSE=" + order + ")");
            assertTrue(passed >= 100, "checks run: " + passed);
            checks += passed;
        }
        System.out.println("KernelEmulationTest: " + checks + " checks passed (each kernel in both thread and block orders,"
                + " and with expf and logf off by the device's documented error)");
    }
}
