package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
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
    private static final Path SOURCES = Path.of("src/main/cuda");
    private static final Path HARNESS = Path.of("src/test/cuda");

    private static String gxx() {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(File.pathSeparator)) {
            Path p = Path.of(dir, "g++");
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return null;
    }

    private static String run(List<String> command, Map<String, String> env, long timeoutSeconds) throws Exception {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(env);
        Process p = builder.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(timeoutSeconds, TimeUnit.SECONDS), "timed out: " + command);
        String text = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), String.join(" ", command) + " " + env + " failed:\n" + text);
        return text;
    }

    @Test
    void everyKernelMatchesItsReferenceOnTheHost() throws Exception {
        String gxx = gxx();
        Assumptions.assumeTrue(gxx != null, "no g++ on PATH to build the kernel emulation");
        Assumptions.assumeTrue(Files.isDirectory(SOURCES) && Files.isDirectory(HARNESS), "run from the repository root");
        Path work = Path.of("target/kernel-emulation").toAbsolutePath();
        Files.createDirectories(work);
        Path binary = work.resolve("kernels_test");
        Path deviceUlps = work.resolve("kernels_test_device_ulps");
        run(List.of("sh", HARNESS.resolve("emulate.sh").toString(), HARNESS.resolve("kernels_test.cpp").toString(),
                binary.toString(), "-I" + SOURCES.toAbsolutePath()), Map.of("CXX", gxx), 600);
        run(List.of("sh", HARNESS.resolve("emulate.sh").toString(), HARNESS.resolve("kernels_test.cpp").toString(),
                deviceUlps.toString(), "-I" + SOURCES.toAbsolutePath(), "-DEMU_DEVICE_ULPS"), Map.of("CXX", gxx), 600);
        int checks = 0;
        for (List<String> runOf : List.of(List.of(binary.toString(), "0"), List.of(binary.toString(), "1"),
                List.of(deviceUlps.toString(), "0"))) {
            String order = runOf.get(1);
            String out = run(List.of(runOf.get(0)), Map.of("EMU_REVERSE", order), 900);
            System.out.print(out);
            String last = out.strip().lines().reduce((a, b) -> b).orElse("");
            assertTrue(last.matches("\\d+ passed, 0 failed"), runOf.get(0) + ", last line (EMU_REVERSE=" + order + "): " + last);
            int passed = Integer.parseInt(last.split(" ")[0]);
            assertTrue(passed >= 100, "checks run: " + last);
            checks += passed;
        }
        System.out.println("KernelEmulationTest: " + checks + " checks passed (each kernel in both thread and block orders,"
                + " and with expf and logf off by the device's documented error)");
    }
}
