package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** A launch's checks build no text unless they fail: the shapes' toString is never called on the way to a launch. */
class KernelTest {
    /** Shapes that fail the test when turned into text. */
    private static final Object UNPRINTABLE = new Object() {
        @Override
        public String toString() {
            throw new AssertionError("a launch that passes its checks turned its shapes into text");
        }
    };

    @Test
    void aGoodLaunchBuildsNoText() {
        Kernel fill = new Kernel("fill", List.of("u64", "f32", "u32"), null);
        fill.checkLaunch(4, 1, 1, 256, 0, UNPRINTABLE, OpContext.args().nullPointer().f(1f).i(1000));
    }

    @Test
    void aBadLaunchNamesItsShapes() {
        Kernel fill = new Kernel("fill", List.of("u64", "f32", "u32"), null);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> fill.checkLaunch(0, 1, 1, 256, 0, "x (3, 4)", OpContext.args().nullPointer().f(1f).i(12)));
        assertTrue(e.getMessage().startsWith("fill: grid (0, 1, 1)") && e.getMessage().endsWith("x (3, 4)"), e.getMessage());
    }

    @Test
    void aBlockOrSharedMemoryAboveTheKernelsOwnLimitsIsRefused() {
        // sgemm_strided's limits: __launch_bounds__(256, 3), and 8,320 bytes of static shared memory
        Kernel gemm = new Kernel("fill", List.of("u64", "f32", "u32"), null, 256, 8320);
        KernelArgs args = OpContext.args().nullPointer().f(1f).i(12);
        gemm.checkLaunch(1, 1, 1, 256, 48 * 1024 - 8320, UNPRINTABLE, args);
        IllegalArgumentException threads = assertThrows(IllegalArgumentException.class,
                () -> gemm.checkLaunch(1, 1, 1, 288, 0, "y (3, 4)", args));
        assertEquals("fill: block 288, shared 0 + 8320 static bytes above the kernel's limits (256 threads, 49152 bytes"
                + " of shared memory) for y (3, 4)", threads.getMessage());
        IllegalArgumentException shared = assertThrows(IllegalArgumentException.class,
                () -> gemm.checkLaunch(1, 1, 1, 256, 48 * 1024 - 8320 + 4, "y (3, 4)", args));
        assertTrue(shared.getMessage().startsWith("fill: block 256, shared 40836 + 8320 static bytes"), shared.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Kernel("fill", null, null, 2048, 0));
        assertThrows(IllegalArgumentException.class, () -> new Kernel("fill", null, null, 256, 64 * 1024));
    }
}
