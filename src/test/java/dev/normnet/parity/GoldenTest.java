package dev.normnet.parity;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The comparison rule itself: what passes, what fails, and what the failure says. */
class GoldenTest {
    private final Golden g = new Golden("rule", "test");

    private static NpyReader.Array ref(float... values) {
        return new NpyReader.Array("ref.npy", new int[] {values.length}, values);
    }

    @Test
    void toleranceIsRelativeToTheLargestReferenceValue() {
        NpyReader.Array r = ref(2f, -0.001f, 0f);
        // 1e-5 * 2 = 2e-5 absolute is allowed anywhere in the tensor, also on the small entries.
        assertEquals(0.75e-5, g.check("ok", new float[] {2f, -0.001f + 1.5e-5f, 0f}, r), 1e-7);
        AssertionFailedError e = assertThrows(AssertionFailedError.class,
                () -> g.check("bad", new float[] {2f, -0.001f, 3e-5f}, r));
        assertTrue(e.getMessage().contains("test rule/bad") && e.getMessage().contains("at 2")
                && e.getMessage().contains("ref.npy"), e.getMessage());
    }

    @Test
    void nanAndLengthMismatchFail() {
        assertThrows(AssertionFailedError.class, () -> g.check("nan", new float[] {1f, Float.NaN}, ref(1f, 1f)));
        assertThrows(AssertionFailedError.class, () -> g.check("short", new float[] {1f}, ref(1f, 1f)));
    }

    @Test
    void allZeroReferenceUsesTheGivenScale() {
        NpyReader.Array zeros = ref(0f, 0f);
        g.check("zero", new float[] {0f, 0f}, zeros);
        assertThrows(AssertionFailedError.class, () -> g.check("noise, no scale", new float[] {1e-9f, 0f}, zeros));
        g.check("noise within scale", new float[] {1e-9f, 0f}, zeros, 1e-3);
        assertThrows(AssertionFailedError.class, () -> g.check("too big for scale", new float[] {1e-7f, 0f}, zeros, 1e-3));
    }
}
