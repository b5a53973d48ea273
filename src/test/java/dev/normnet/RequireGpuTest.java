package dev.normnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import dev.normnet.backend.cpu.CpuBackend;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * {@link RequireGpu}: small classes that skip the way the GPU tests do (in {@code @BeforeAll},
 * in {@code @BeforeEach}, in the test) are run through the JUnit launcher, once as usual (skipped)
 * and once with {@code normnet.requireGpu=1} (failed, with the skip's reason).
 */
class RequireGpuTest {
    @ExtendWith(RequireGpu.class)
    static class SkipsInBeforeAll {
        @BeforeAll
        static void open() {
            assumeTrue(false, "CUDA unavailable: no NVIDIA driver");
        }

        @Test
        void usesTheGpu() {
        }
    }

    @ExtendWith(RequireGpu.class)
    static class SkipsInBeforeEach {
        @BeforeEach
        void open() {
            assumeTrue(false, "CUDA unavailable: no NVIDIA driver");
        }

        @Test
        void usesTheGpu() {
        }
    }

    @ExtendWith(RequireGpu.class)
    static class SkipsInBody {
        @Test
        void usesTheGpu() {
            assumeTrue(false, "CUDA unavailable: no NVIDIA driver");
        }

        @Test
        void passes() {
        }
    }

    @ExtendWith(RequireGpu.class)
    static class TooLargeForTheEmulation {
        @Test
        void usesTheGpu() {
            throw new EmulatedDriver.Limit("left to a GPU: 74 million elements");
        }
    }

    private static TestExecutionSummary run(Class<?> cls, boolean required) {
        LauncherDiscoveryRequestBuilder b = LauncherDiscoveryRequestBuilder.request().selectors(selectClass(cls));
        if (required) {
            b.configurationParameter(RequireGpu.PARAMETER, "1");
        }
        LauncherDiscoveryRequest request = b.build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(request, listener);
        return listener.getSummary();
    }

    @Test
    void withoutTheSwitchASkipIsASkip() {
        assumeFalse("1".equals(System.getenv(RequireGpu.ENV)), RequireGpu.ENV + "=1 is set for this run");
        assertEquals(0, run(SkipsInBeforeAll.class, false).getTotalFailureCount());
        assertEquals(1, run(SkipsInBeforeAll.class, false).getContainersAbortedCount());
        assertEquals(1, run(SkipsInBeforeEach.class, false).getTestsAbortedCount());
        TestExecutionSummary body = run(SkipsInBody.class, false);
        assertEquals(1, body.getTestsAbortedCount());
        assertEquals(1, body.getTestsSucceededCount());
        assertEquals(0, body.getTotalFailureCount());
    }

    @Test
    void withTheSwitchEverySkipFailsWithItsReason() {
        for (Class<?> cls : new Class<?>[] {SkipsInBeforeAll.class, SkipsInBeforeEach.class, SkipsInBody.class}) {
            TestExecutionSummary s = run(cls, true);
            assertEquals(1, s.getTotalFailureCount(), cls.getSimpleName());
            assertEquals(0, s.getTestsAbortedCount() + s.getContainersAbortedCount(), cls.getSimpleName());
            String message = s.getFailures().get(0).getException().getMessage();
            assertTrue(message.startsWith("NORMNET_REQUIRE_GPU=1 and a GPU test was skipped: "), message);
            assertTrue(message.contains("no NVIDIA driver"), message);
        }
        assertEquals(1, run(SkipsInBody.class, true).getTestsSucceededCount(), "a test that ran still passes");
    }

    @Test
    void aCaseLeftToAGpuByTheEmulatedDriverStaysASkip() {
        TestExecutionSummary s = run(TooLargeForTheEmulation.class, true);
        assertEquals(0, s.getTotalFailureCount());
        assertEquals(1, s.getTestsAbortedCount());
    }

    @Test
    void onlyTheEmulatedDriversRunLeavesCasesToAGpu() {
        try (CpuBackend cpu = new CpuBackend()) {
            String before = System.getProperty(EmulatedDriver.PROPERTY);
            try {
                System.setProperty(EmulatedDriver.PROPERTY, "1");
                assertFalse(EmulatedDriver.active(cpu), cpu.describe());
                EmulatedDriver.skipIfTooLarge(cpu, Long.MAX_VALUE);  // not the emulation's device: runs
            } finally {
                if (before == null) {
                    System.clearProperty(EmulatedDriver.PROPERTY);
                } else {
                    System.setProperty(EmulatedDriver.PROPERTY, before);
                }
            }
        }
    }

    @Test
    void theGpuTestsAreMarked() throws ClassNotFoundException {
        for (String name : new String[] {"dev.normnet.backend.cuda.CudaBackendTest",
                "dev.normnet.parity.CudaBackendParityTest", "dev.normnet.parity.CudaModelParityTest",
                "dev.normnet.cli.CudaTrainCommandTest", "dev.normnet.predict.CudaPredictorTest"}) {
            assertTrue(Class.forName(name).isAnnotationPresent(GpuTest.class), name);
        }
    }
}
