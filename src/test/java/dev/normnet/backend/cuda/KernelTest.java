package dev.normnet.backend.cuda;

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
}
