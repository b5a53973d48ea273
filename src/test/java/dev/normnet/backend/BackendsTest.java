package dev.normnet.backend;

import dev.normnet.backend.cuda.CudaStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.tensor.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Device selection and the CUDA probe, on any machine (with or without a GPU). */
class BackendsTest {
    private static boolean driverInstalled() {
        for (String dir : new String[] {"/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/lib/x86_64-linux-gnu",
                "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib"}) {
            if (Files.exists(Path.of(dir, "libcuda.so.1"))) {
                return true;
            }
        }
        String ldPath = System.getenv("LD_LIBRARY_PATH");
        if (ldPath != null) {
            for (String dir : ldPath.split(":")) {
                if (!dir.isEmpty() && Files.exists(Path.of(dir, "libcuda.so.1"))) {
                    return true;
                }
            }
        }
        return false;
    }

    @Test
    void probeGivesADocumentedReason() {
        CudaStatus s = Backends.cudaStatus();
        assertNotNull(s.reason());
        assertNotNull(s.device());
        assertSame(s, Backends.cudaStatus(), "probed once and remembered");
        if (!s.available()) {
            assertTrue(CudaStatus.UNAVAILABLE_REASONS.contains(s.reason()) || s.reason().startsWith("CUDA_ERROR_"),
                    "undocumented reason: " + s.reason());
        }
        System.out.println("CUDA status: " + s);
    }

    @Test
    void probeSaysNoDriverWhereThereIsNone() {
        Assumptions.assumeFalse(driverInstalled(), "libcuda.so.1 is installed here");
        CudaStatus s = Backends.cudaStatus();
        assertEquals(false, s.available());
        assertEquals("no NVIDIA driver", s.reason());
        assertTrue(s.detail().contains("libcuda.so"), "the loader's words: " + s.detail());
        assertTrue(s.detail().contains("libJCudaDriver"), "the native library's path: " + s.detail());
    }

    @Test
    void selectCpu() {
        Backends.Selection sel = Backends.select("cpu");
        try (Backend b = sel.backend()) {
            assertEquals(Device.CPU, b.device());
            assertTrue(sel.reason().contains("requested"), sel.reason());
        }
    }

    @Test
    void autoFallsBackToCpuAndSaysWhy() {
        CudaStatus s = Backends.cudaStatus();
        Backends.Selection sel = Backends.select("auto");
        try (Backend b = sel.backend()) {
            if (s.available()) {
                assertEquals(Device.CUDA, b.device());
            } else {
                assertEquals(Device.CPU, b.device());
                assertTrue(sel.reason().contains(s.reason()), "the reason names why: " + sel.reason());
                assertTrue(sel.reason().contains("CUDA unavailable"), sel.reason());
            }
        }
    }

    @Test
    void cudaWithoutGpuThrowsWithTheReason() {
        CudaStatus s = Backends.cudaStatus();
        Assumptions.assumeFalse(s.available(), "a usable GPU is present");
        DeviceUnavailableException e = assertThrows(DeviceUnavailableException.class, () -> Backends.select("cuda"));
        assertEquals(s.explain(), e.getMessage());
    }

    @Test
    void unknownDeviceListsTheChoices() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Backends.select("tpu"));
        assertTrue(e.getMessage().contains("auto|cpu|cuda"), e.getMessage());
        assertTrue(e.getMessage().contains("tpu"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Backends.select(null));
    }

    @Test
    void namesAreCaseInsensitive() {
        try (Backend b = Backends.select(" CPU ").backend()) {
            assertEquals(Device.CPU, b.device());
        }
    }

    @Test
    void cpuIsTheVectorPathWhenTheModuleIsPresent() {
        // The build passes --add-modules jdk.incubator.vector to the tests, as the launcher does to normnet.
        assertTrue(Backends.vectorApiAvailable(), "the test JVM should have jdk.incubator.vector");
        try (Backend b = Backends.cpu(2)) {
            assertTrue(b instanceof dev.normnet.backend.cpu.VectorCpuBackend, b.describe());
        }
        Backends.Selection sel = Backends.select("cpu");
        try (Backend b = sel.backend()) {
            assertTrue(sel.reason().contains("vector path"), sel.reason());
        }
    }
}
