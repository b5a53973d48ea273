package dev.normnet.backend.cpu;

import dev.normnet.Reference64;
import dev.normnet.backend.ConvSpec;
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
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Conv2d forward, backward data and backward filter against the float64 reference. */
class CpuBackendConvolutionTest {
    private static CpuBackend backend;

    /** One convolution geometry: x (N, C, H, W), w (K, C, R, S). */
    record Case(String name, int n, int c, int h, int w, int k, int r, int s, int stride, int pad, boolean bias) {
        int p() {
            return (h + 2 * pad - r) / stride + 1;
        }

        int q() {
            return (w + 2 * pad - s) / stride + 1;
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("odd 3x5x7x9 -> 4, 3x3 stride 2 pad 1", 3, 5, 7, 9, 4, 3, 3, 2, 1, true),
                new Case("odd 3x5x7x9 -> 4, 3x2 stride 1 pad 1", 3, 5, 7, 9, 4, 3, 2, 1, 1, true),
                new Case("odd 3x5x7x9 -> 2, 2x3 stride 2 pad 0, no bias", 3, 5, 7, 9, 2, 2, 3, 2, 0, false),
                new Case("kernel wider than the padded input's last stride, 1x3x5x4 -> 3, 5x4 stride 3 pad 2",
                        1, 3, 5, 4, 3, 5, 4, 3, 2, true),
                new Case("LeNet conv1 1->6 5x5 pad 2 on 28x28", 2, 1, 28, 28, 6, 5, 5, 1, 2, true),
                new Case("LeNet conv2 6->16 5x5 on 14x14", 2, 6, 14, 14, 16, 5, 5, 1, 0, true));
    }

    @BeforeAll
    static void start() {
        backend = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void forwardMatchesReference(Case cs) {
        Random rnd = new Random(cs.name().hashCode());
        float[] x = uniform(rnd, cs.n() * cs.c() * cs.h() * cs.w(), -1, 1);
        float[] w = uniform(rnd, cs.k() * cs.c() * cs.r() * cs.s(), -1, 1);
        float[] b = cs.bias() ? uniform(rnd, cs.k(), -1, 1) : null;
        CpuTensor tx = tensor(x, cs.n(), cs.c(), cs.h(), cs.w());
        CpuTensor tw = tensor(w, cs.k(), cs.c(), cs.r(), cs.s());
        CpuTensor tb = b == null ? null : tensor(b, cs.k());
        CpuTensor ty = output(cs.n(), cs.k(), cs.p(), cs.q());
        backend.conv2dForward(tx, tw, tb, ty, new ConvSpec(cs.stride(), cs.pad()));
        double[] expected = Reference64.conv2d(toDouble(x), cs.n(), cs.c(), cs.h(), cs.w(), toDouble(w),
                cs.k(), cs.r(), cs.s(), b == null ? null : toDouble(b), cs.stride(), cs.pad());
        assertClose("conv2dForward " + cs, expected, ty.toArray(), RTOL);
        assertGuards("y", ty);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void backwardDataMatchesFiniteDifferences(Case cs) {
        Random rnd = new Random(cs.name().hashCode() + 1);
        float[] x = uniform(rnd, cs.n() * cs.c() * cs.h() * cs.w(), -1, 1);
        float[] w = uniform(rnd, cs.k() * cs.c() * cs.r() * cs.s(), -1, 1);
        float[] dy = uniform(rnd, cs.n() * cs.k() * cs.p() * cs.q(), -1, 1);
        CpuTensor tdx = output(cs.n(), cs.c(), cs.h(), cs.w());
        backend.conv2dBackwardData(tensor(dy, cs.n(), cs.k(), cs.p(), cs.q()), tensor(w, cs.k(), cs.c(), cs.r(), cs.s()),
                tdx, new ConvSpec(cs.stride(), cs.pad()));
        double[] wd = toDouble(w);
        int[] at = sampleIndices(rnd, x.length, 200);
        double[] expected = numericGradient(xx -> Reference64.conv2d(xx, cs.n(), cs.c(), cs.h(), cs.w(), wd,
                cs.k(), cs.r(), cs.s(), null, cs.stride(), cs.pad()), toDouble(x), toDouble(dy), 1e-2, at);
        assertClose("conv2dBackwardData " + cs, expected, pick(tdx.toArray(), at), RTOL);
        assertGuards("dx", tdx);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void backwardFilterMatchesFiniteDifferences(Case cs) {
        Random rnd = new Random(cs.name().hashCode() + 2);
        float[] x = uniform(rnd, cs.n() * cs.c() * cs.h() * cs.w(), -1, 1);
        float[] w = uniform(rnd, cs.k() * cs.c() * cs.r() * cs.s(), -1, 1);
        float[] b = uniform(rnd, cs.k(), -1, 1);
        float[] dy = uniform(rnd, cs.n() * cs.k() * cs.p() * cs.q(), -1, 1);
        CpuTensor tdw = output(cs.k(), cs.c(), cs.r(), cs.s());
        CpuTensor tdb = cs.bias() ? output(cs.k()) : null;
        backend.conv2dBackwardFilter(tensor(x, cs.n(), cs.c(), cs.h(), cs.w()), tensor(dy, cs.n(), cs.k(), cs.p(), cs.q()),
                tdw, tdb, new ConvSpec(cs.stride(), cs.pad()));
        double[] xd = toDouble(x);
        double[] bd = toDouble(b);
        double[] dyd = toDouble(dy);
        int[] at = sampleIndices(rnd, w.length, 200);
        double[] expectedDw = numericGradient(ww -> Reference64.conv2d(xd, cs.n(), cs.c(), cs.h(), cs.w(), ww,
                cs.k(), cs.r(), cs.s(), bd, cs.stride(), cs.pad()), toDouble(w), dyd, 1e-2, at);
        assertClose("conv2dBackwardFilter dw " + cs, expectedDw, pick(tdw.toArray(), at), RTOL);
        assertGuards("dw", tdw);
        if (tdb != null) {
            double[] wd = toDouble(w);
            double[] expectedDb = numericGradient(bb -> Reference64.conv2d(xd, cs.n(), cs.c(), cs.h(), cs.w(), wd,
                    cs.k(), cs.r(), cs.s(), bb, cs.stride(), cs.pad()), bd, dyd, 1e-2);
            assertClose("conv2dBackwardFilter db " + cs, expectedDb, tdb.toArray(), RTOL);
            assertGuards("db", tdb);
        }
    }

    @Test
    void rejectsMismatchedShapes() {
        CpuTensor x = output(2, 3, 8, 8);
        CpuTensor w = output(4, 2, 3, 3);
        CpuTensor y = output(2, 4, 6, 6);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.conv2dForward(x, w, null, y, new ConvSpec(1, 0)));
        assertTrue(e.getMessage().contains("conv2dForward") && e.getMessage().contains("[2, 3, 8, 8]")
                && e.getMessage().contains("[4, 2, 3, 3]"), e.getMessage());
        CpuTensor w3 = output(4, 3, 3, 3);
        CpuTensor wrongY = output(2, 4, 7, 6);
        e = assertThrows(IllegalArgumentException.class,
                () -> backend.conv2dForward(x, w3, null, wrongY, new ConvSpec(1, 0)));
        assertTrue(e.getMessage().contains("[2, 4, 6, 6]") && e.getMessage().contains("[2, 4, 7, 6]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> backend.conv2dForward(x, w3, output(3), output(2, 4, 6, 6), new ConvSpec(1, 0)));
        assertTrue(e.getMessage().contains("b"), e.getMessage());
    }
}
