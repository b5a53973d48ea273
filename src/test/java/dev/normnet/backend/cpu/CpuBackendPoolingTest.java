package dev.normnet.backend.cpu;

import dev.normnet.Reference64;
import dev.normnet.backend.PoolSpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Random;
import java.util.stream.Stream;

import static dev.normnet.backend.cpu.Fixtures.RTOL;
import static dev.normnet.Closeness.assertClose;
import static dev.normnet.backend.cpu.Fixtures.assertGuards;
import static dev.normnet.backend.cpu.Fixtures.numericGradient;
import static dev.normnet.backend.cpu.Fixtures.output;
import static dev.normnet.backend.cpu.Fixtures.pick;
import static dev.normnet.backend.cpu.Fixtures.sampleIndices;
import static dev.normnet.backend.cpu.Fixtures.tensor;
import static dev.normnet.backend.cpu.Fixtures.toDouble;
import static dev.normnet.backend.cpu.Fixtures.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Average and max pooling forward and backward against the float64 reference. */
class CpuBackendPoolingTest {
    private static CpuBackend backend;

    /** x (N, C, H, W) pooled with a square window. */
    record Case(String name, int n, int c, int h, int w, int kernel, int stride, int pad) {
        int p() {
            return (h + 2 * pad - kernel) / stride + 1;
        }

        int q() {
            return (w + 2 * pad - kernel) / stride + 1;
        }

        PoolSpec spec() {
            return new PoolSpec(kernel, stride, pad);
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("odd 3x5x7x9 window 2 stride 2", 3, 5, 7, 9, 2, 2, 0),
                new Case("odd 3x5x7x9 window 3 stride 2 pad 1", 3, 5, 7, 9, 3, 2, 1),
                new Case("odd 2x3x7x9 window 3 stride 1 pad 1 (overlapping)", 2, 3, 7, 9, 3, 1, 1),
                new Case("LeNet 2x6x28x28 window 2 stride 2", 2, 6, 28, 28, 2, 2, 0),
                new Case("LeNet 2x16x10x10 window 2 stride 2", 2, 16, 10, 10, 2, 2, 0));
    }

    @BeforeAll
    static void start() {
        backend = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    /** Distinct values at least 1e-2 apart in random order, so that every window has a unique maximum. */
    private static float[] distinct(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (i - n / 2) * 0.01f;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            float t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
        return v;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void avgPoolMatchesReference(Case cs) {
        Random rnd = new Random(cs.name().hashCode());
        float[] x = uniform(rnd, cs.n() * cs.c() * cs.h() * cs.w(), -1, 1);
        CpuTensor y = output(cs.n(), cs.c(), cs.p(), cs.q());
        backend.avgPool2dForward(tensor(x, cs.n(), cs.c(), cs.h(), cs.w()), y, cs.spec());
        double[] expected = Reference64.avgPool(toDouble(x), cs.n() * cs.c(), cs.h(), cs.w(), cs.kernel(), cs.stride(), cs.pad());
        assertClose("avgPool2dForward " + cs, expected, y.toArray(), RTOL);
        assertGuards("y", y);

        float[] dy = uniform(rnd, cs.n() * cs.c() * cs.p() * cs.q(), -1, 1);
        CpuTensor dx = output(cs.n(), cs.c(), cs.h(), cs.w());
        backend.avgPool2dBackward(tensor(dy, cs.n(), cs.c(), cs.p(), cs.q()), dx, cs.spec());
        int[] at = sampleIndices(rnd, x.length, 600);
        double[] expectedDx = numericGradient(xx -> Reference64.avgPool(xx, cs.n() * cs.c(), cs.h(), cs.w(), cs.kernel(),
                cs.stride(), cs.pad()), toDouble(x), toDouble(dy), 1e-2, at);
        assertClose("avgPool2dBackward " + cs, expectedDx, pick(dx.toArray(), at), RTOL);
        assertGuards("dx", dx);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void maxPoolMatchesReference(Case cs) {
        Random rnd = new Random(cs.name().hashCode() + 1);
        float[] x = distinct(rnd, cs.n() * cs.c() * cs.h() * cs.w());
        CpuTensor y = output(cs.n(), cs.c(), cs.p(), cs.q());
        backend.maxPool2dForward(tensor(x, cs.n(), cs.c(), cs.h(), cs.w()), y, cs.spec());
        double[] expected = Reference64.maxPool(toDouble(x), cs.n() * cs.c(), cs.h(), cs.w(), cs.kernel(), cs.stride(), cs.pad());
        assertClose("maxPool2dForward " + cs, expected, y.toArray(), 0);
        assertGuards("y", y);

        float[] dy = uniform(rnd, cs.n() * cs.c() * cs.p() * cs.q(), -1, 1);
        CpuTensor dx = output(cs.n(), cs.c(), cs.h(), cs.w());
        backend.maxPool2dBackward(tensor(x, cs.n(), cs.c(), cs.h(), cs.w()), tensor(dy, cs.n(), cs.c(), cs.p(), cs.q()),
                dx, cs.spec());
        int[] at = sampleIndices(rnd, x.length, 600);
        double[] expectedDx = numericGradient(xx -> Reference64.maxPool(xx, cs.n() * cs.c(), cs.h(), cs.w(), cs.kernel(),
                cs.stride(), cs.pad()), toDouble(x), toDouble(dy), 1e-3, at);
        assertClose("maxPool2dBackward " + cs, expectedDx, pick(dx.toArray(), at), RTOL);
        assertGuards("dx", dx);
    }

    @Test
    void maxPoolGradientGoesToTheFirstMaximumOfEachWindow() {
        // One 1x1x2x4 plane, windows 2x2 stride 2: left window all equal, right window maximum 5 twice.
        float[] x = {
            1f, 1f, 5f, 2f,
            1f, 1f, 3f, 5f};
        CpuTensor y = output(1, 1, 1, 2);
        backend.maxPool2dForward(tensor(x, 1, 1, 2, 4), y, new PoolSpec(2, 2, 0));
        assertArrayEquals(new float[] {1f, 5f}, y.toArray());
        CpuTensor dx = output(1, 1, 2, 4);
        backend.maxPool2dBackward(tensor(x, 1, 1, 2, 4), tensor(new float[] {10f, 20f}, 1, 1, 1, 2), dx, new PoolSpec(2, 2, 0));
        assertArrayEquals(new float[] {10f, 0f, 20f, 0f, 0f, 0f, 0f, 0f}, dx.toArray());
    }

    @Test
    void maxPoolPaddingNeverWinsAndAvgPoolCountsPadding() {
        float[] x = {-4f, -3f, -2f, -1f};                    // (1, 1, 2, 2), all negative
        CpuTensor max = output(1, 1, 2, 2);
        backend.maxPool2dForward(tensor(x, 1, 1, 2, 2), max, new PoolSpec(3, 1, 1));
        assertArrayEquals(new float[] {-1f, -1f, -1f, -1f}, max.toArray());
        CpuTensor avg = output(1, 1, 2, 2);
        backend.avgPool2dForward(tensor(x, 1, 1, 2, 2), avg, new PoolSpec(3, 1, 1));
        float all = (-4f - 3f - 2f - 1f) / 9f;
        assertArrayEquals(new float[] {all, all, all, all}, avg.toArray(), 1e-6f);
    }

    @Test
    void overlappingWindowsAddUpInMaxPoolBackward() {
        // A 3x3 plane, window 3 stride 1 pad 1: the centre 9 is the maximum of all nine windows.
        float[] x = {0f, 0f, 0f, 0f, 9f, 0f, 0f, 0f, 0f};
        CpuTensor dx = output(1, 1, 3, 3);
        float[] ones = new float[9];
        java.util.Arrays.fill(ones, 1f);
        backend.maxPool2dBackward(tensor(x, 1, 1, 3, 3), tensor(ones, 1, 1, 3, 3), dx, new PoolSpec(3, 1, 1));
        assertArrayEquals(new float[] {0f, 0f, 0f, 0f, 9f, 0f, 0f, 0f, 0f}, dx.toArray());
    }

    @Test
    void rejectsMismatchedShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.avgPool2dForward(output(2, 6, 28, 28), output(2, 6, 28, 14), new PoolSpec(2, 2, 0)));
        assertTrue(e.getMessage().contains("avgPool2dForward") && e.getMessage().contains("[2, 6, 14, 14]")
                && e.getMessage().contains("[2, 6, 28, 14]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> backend.maxPool2dBackward(output(2, 6, 28, 28), output(2, 6, 14, 14), output(2, 6, 28, 27),
                        new PoolSpec(2, 2, 0)));
        assertTrue(e.getMessage().contains("maxPool2dBackward") && e.getMessage().contains("[2, 6, 28, 27]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> backend.maxPool2dForward(output(6, 28, 28), output(6, 14, 14), new PoolSpec(2, 2, 0)));
        assertTrue(e.getMessage().contains("maxPool2dForward") && e.getMessage().contains("[6, 28, 28]"), e.getMessage());
    }
}
