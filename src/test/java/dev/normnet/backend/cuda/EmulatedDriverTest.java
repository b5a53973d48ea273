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
 * The emulated driver (src/test/cuda/emulated_driver.cpp, built by the build into
 * target/emulated-driver) is as strict as its README says, through the driver API as JCuda calls
 * it: src/test/cuda/emulated_driver_test.cpp checks that a call needs a current context, that
 * queued work runs only when the host waits, that fresh memory is NaN, that copies and launches
 * out of bounds are refused, that a capture's forbidden calls fail and invalidate it while a valid
 * capture replays, and, in processes of their own since the error is sticky, that a kernel writing
 * past an allocation, given a freed pointer or a pointer outside every allocation fails the next
 * call and every call after. The GPU
 * tests' run on the emulated driver is only as good as this. Skips where the build made no
 * emulated driver (no nvcc, or -Dnormnet.emulation.skip=true) or no g++.
 */
class EmulatedDriverTest {
    private static final Path DRIVER = Path.of("target/emulated-driver/libcuda.so.1");
    private static final Path FATBIN = Path.of("target/classes" + CudaDevice.FATBIN_RESOURCE);

    @Test
    void theEmulatedDriverIsAsStrictAsDocumented() throws Exception {
        String gxx = NativeTools.gxx();
        Assumptions.assumeTrue(gxx != null, "no g++ on PATH");
        Assumptions.assumeTrue(Files.isRegularFile(DRIVER) && Files.isRegularFile(FATBIN),
                "the build made no emulated driver (" + DRIVER + ") or no fatbin (" + FATBIN + ")");
        Path dir = DRIVER.toAbsolutePath().getParent();
        Path binary = Path.of("target/kernel-emulation/emulated_driver_test").toAbsolutePath();
        Files.createDirectories(binary.getParent());
        NativeTools.run(List.of(gxx, "-std=c++17", "-O1", NativeTools.HARNESS.resolve("emulated_driver_test.cpp").toString(),
                "-o", binary.toString(), "-L" + dir, "-l:libcuda.so.1", "-Wl,-rpath," + dir, "-pthread"), Map.of(), 300);
        int checks = 0;
        for (String mode : List.of("", "overrun", "freed", "pointer")) {
            List<String> command = new ArrayList<>(List.of(binary.toString(), FATBIN.toAbsolutePath().toString()));
            if (!mode.isEmpty()) {
                command.add(mode);
            }
            String out = NativeTools.run(command, Map.of(), 120);
            System.out.print(out);
            checks += NativeTools.passedChecks(out, "emulated_driver_test " + mode);
        }
        assertTrue(checks >= 110, checks + " checks");
        System.out.println("EmulatedDriverTest: " + checks + " checks passed");
    }
}
