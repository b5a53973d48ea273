package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPU check, built and dry-run after {@code package}: {@code ./normnet bundle --gpu-check
 * --skip-build} lays out dist/normnet-gpu-check-linux-x86_64 (jlink runtime, jars, tests, JUnit
 * launcher, Fashion-MNIST, the kernel lab built by nvcc, bin/gpu-check) and packs it into an
 * archive that must stay within 60 MiB (about a minute of xz on two cores), and
 * {@code bin/gpu-check --dry-run} runs every step up to its GPU part on this machine, reports
 * "no GPU" for each and exits 0.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class GpuCheckBundleIT {
    private static final Path FASHION = Path.of("/usr/share/datasets/fashion-mnist");
    private static final Path BUNDLE = Path.of("dist", "normnet-gpu-check-linux-x86_64").toAbsolutePath();

    @TempDir
    Path dir;

    private static String run(Path log, long minutes, String... command) throws IOException, InterruptedException {
        return run(log, minutes, Map.of(), command);
    }

    /** Runs {@code command} with {@code env} added, its output in {@code log}; fails unless it exits 0 within the minutes. */
    private static String run(Path log, long minutes, Map<String, String> env, String... command)
            throws IOException, InterruptedException {
        ProcessBuilder b = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        b.environment().putAll(env);
        Process p = b.start();
        if (!p.waitFor(minutes, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " ran over " + minutes + " minutes: " + Files.readString(log));
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), String.join(" ", command) + ":\n" + out);
        return out;
    }

    @Test
    @Order(1)
    void theGpuCheckBundleDryRunsEveryStep() throws Exception {
        assumeTrue(Files.isRegularFile(FASHION.resolve("train-images-idx3-ubyte.gz")) || System.getenv("NORMNET_DATA") != null,
                "Fashion-MNIST's .gz files are not installed (apt-get install dataset-fashion-mnist)");
        assumeTrue(new File(System.getProperty("java.home"), "bin/jlink").canExecute(), "no jlink in this JDK");
        run(dir.resolve("bundle.log"), 10, LauncherIT.LAUNCHER.toString(), "bundle", "--gpu-check", "--skip-build");
        Path archive = BUNDLE.resolveSibling("normnet-gpu-check-linux-x86_64.tar.xz");
        assertTrue(Files.size(archive) <= 60L << 20, archive + " is " + Files.size(archive) + " bytes, over 60 MiB");
        for (String part : List.of("runtime/bin/java", "bin/gpu-check", "bin/run-gpu-tests", "bin/normnet",
                "test-lib/junit-platform-console-standalone-1.10.2.jar", "data/t10k-labels-idx1-ubyte", "data/train-images-idx3-ubyte",
                "benchmarks/pytorch/bench.py", "benchmarks/compare.py", "benchmarks/ncu_summary.py", "benchmarks/targets.py",
                "test-classes/dev/normnet/GpuCheckProbe.class",
                "lab/run.sh", "lab/conv2d_forward", "lab/gemm")) {
            assertTrue(Files.exists(BUNDLE.resolve(part)), "the bundle lacks " + part);
        }
        Path out = dir.resolve("results");
        String log = run(dir.resolve("check.log"), 5, BUNDLE.resolve("bin/gpu-check").toString(), "--dry-run", "--out", out.toString());
        String summary = Files.readString(out.resolve("summary.md"));
        for (String step : List.of("info", "tests", "sanitizer", "profile", "train", "bench", "lab")) {
            assertTrue(summary.contains("| " + step + " | no GPU |"), step + " did not report \"no GPU\":\n" + summary + "\n" + log);
        }
        assertTrue(Files.readString(out.resolve("probe.txt")).contains("cuda probe: "), log);
        assertTrue(Files.size(out.resolve("train-cpu.safetensors")) > 0, log);
        Process bad = new ProcessBuilder(BUNDLE.resolve("bin/gpu-check").toString(), "--bogus").redirectErrorStream(true).start();
        String badOut = new String(bad.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, bad.waitFor(), badOut);
        assertTrue(badOut.startsWith("gpu-check: unknown argument --bogus"), badOut);
    }

    /**
     * The bundle's own runtime, jars and test launcher on a "GPU": with the emulated driver the build
     * made (target/emulated-driver) on LD_LIBRARY_PATH, as the NVIDIA driver would be on the GPU
     * machine, {@code bin/run-gpu-tests} runs a GPU test class with skips failing, and
     * {@code bin/normnet train --device cuda} trains on the bundled data. So the jlink runtime holds
     * what JCuda and the CUDA backend need, and the bundled tests find their classes and resources.
     */
    @Test
    @Order(2)
    void theBundleRunsTheGpuPathOnTheEmulatedDriver() throws Exception {
        Path driver = Path.of("target/emulated-driver/libcuda.so.1").toAbsolutePath();
        assumeTrue(Files.isRegularFile(driver), "the build made no emulated driver (no nvcc, or -Dnormnet.emulation.skip=true)");
        assumeTrue(Files.isRegularFile(BUNDLE.resolve("bin/run-gpu-tests")), "no bundle (the test before builds it)");
        Map<String, String> env = Map.of("LD_LIBRARY_PATH", driver.getParent().toString(), "NORMNET_REQUIRE_GPU", "1");
        String tests = run(dir.resolve("gpu-tests.log"), 5, env, BUNDLE.resolve("bin/run-gpu-tests").toString(),
                "--select-class", "dev.normnet.parity.CudaBackendParityTest");
        assertTrue(tests.contains("22 tests successful") && tests.contains("0 tests failed"), tests);
        String train = run(dir.resolve("train.log"), 5, env, BUNDLE.resolve("bin/normnet").toString(), "train",
                "--device", "cuda", "--epochs", "1", "--limit", "512", "--test-limit", "256", "--batch", "128",
                "--data", BUNDLE.resolve("data").toString(), "--save", dir.resolve("m.safetensors").toString());
        assertTrue(train.contains("device: cuda: normnet CPU emulation"), train);
        assertTrue(Files.size(dir.resolve("m.safetensors")) > 0, train);
    }
}
