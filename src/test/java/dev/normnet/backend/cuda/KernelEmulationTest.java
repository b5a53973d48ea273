package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Runs every kernel of src/main/cuda on the host: the sources are compiled as C++20 with
 * src/test/cuda/emulator.hpp (each CUDA thread an OS thread, barriers for __syncthreads and warp
 * shuffles) together with src/test/cuda/kernels_test.cpp, which checks each kernel against naive
 * float64 references with outputs poisoned with NaN. This exercises the kernels' index
 * arithmetic, bounds, barriers and reduction trees on machines without a GPU. Skips without g++.
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

    private static String run(List<String> command, Path dir, long timeoutSeconds) throws Exception {
        Process p = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(timeoutSeconds, TimeUnit.SECONDS), "timed out: " + command);
        String text = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), String.join(" ", command) + " failed:\n" + text);
        return text;
    }

    @Test
    void everyKernelMatchesItsReferenceOnTheHost() throws Exception {
        String gxx = gxx();
        Assumptions.assumeTrue(gxx != null, "no g++ on PATH to build the kernel emulator");
        Assumptions.assumeTrue(Files.isDirectory(SOURCES) && Files.isDirectory(HARNESS), "run from the repository root");
        Path work = Path.of("target/kernel-emulation").toAbsolutePath();
        Files.createDirectories(work);
        List<String> files = new ArrayList<>();
        try (var list = Files.list(SOURCES)) {
            list.filter(f -> f.toString().endsWith(".cu") || f.toString().endsWith(".cuh")).forEach(f -> files.add(f.getFileName().toString()));
        }
        for (String name : files) {
            String text = Files.readString(SOURCES.resolve(name));
            // dynamic shared memory becomes the emulator's per-launch buffer
            text = text.replace("extern __shared__ float ws[];", "float* ws = nn_dynamic_shared;");
            assertTrue(!text.contains("extern __shared__"), name + " declares dynamic shared memory the emulator does not map");
            Files.writeString(work.resolve(name), text);
        }
        Files.copy(work.resolve("normnet.cu"), work.resolve("normnet_emulated.cu"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Path harness = HARNESS.toAbsolutePath();
        run(List.of(gxx, "-std=c++20", "-O1", "-pthread", "-ffp-contract=off", "-Wno-unknown-pragmas",
                "-I" + work, "-include", harness.resolve("emulator.hpp").toString(),
                harness.resolve("kernels_test.cpp").toString(), "-o", work.resolve("kernels_test").toString()), work, 600);
        String out = run(List.of(work.resolve("kernels_test").toString()), work, 900);
        System.out.print(out);
        String last = out.strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.matches("\\d+ passed, 0 failed"), "last line: " + last);
        assertTrue(Integer.parseInt(last.split(" ")[0]) >= 100, "checks run: " + last);
    }
}
