package dev.normnet.backend.cpu;

import dev.normnet.Reference64;
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

/** Linear forward, backward data and backward weight against the float64 reference. */
class CpuBackendLinearTest {
    private static CpuBackend backend;

    /** x (N, I), w (O, I). */
    record Case(String name, int n, int in, int out, boolean bias) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("odd 3x7 -> 5", 3, 7, 5, true),
                new Case("odd 5x11 -> 1, no bias", 5, 11, 1, false),
                new Case("LeNet 400 -> 120", 4, 400, 120, true),
                new Case("LeNet 120 -> 84", 4, 120, 84, true),
                new Case("LeNet 84 -> 10", 4, 84, 10, true));
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
        float[] x = uniform(rnd, cs.n() * cs.in(), -1, 1);
        float[] w = uniform(rnd, cs.out() * cs.in(), -1, 1);
        float[] b = cs.bias() ? uniform(rnd, cs.out(), -1, 1) : null;
        CpuTensor ty = output(cs.n(), cs.out());
        backend.linearForward(tensor(x, cs.n(), cs.in()), tensor(w, cs.out(), cs.in()),
                b == null ? null : tensor(b, cs.out()), ty);
        double[] expected = Reference64.linear(toDouble(x), cs.n(), cs.in(), toDouble(w), cs.out(),
                b == null ? null : toDouble(b));
        assertClose("linearForward " + cs, expected, ty.toArray(), RTOL);
        assertGuards("y", ty);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void backwardDataMatchesFiniteDifferences(Case cs) {
        Random rnd = new Random(cs.name().hashCode() + 1);
        float[] x = uniform(rnd, cs.n() * cs.in(), -1, 1);
        float[] w = uniform(rnd, cs.out() * cs.in(), -1, 1);
        float[] dy = uniform(rnd, cs.n() * cs.out(), -1, 1);
        CpuTensor tdx = output(cs.n(), cs.in());
        backend.linearBackwardData(tensor(dy, cs.n(), cs.out()), tensor(w, cs.out(), cs.in()), tdx);
        double[] wd = toDouble(w);
        int[] at = sampleIndices(rnd, x.length, 400);
        double[] expected = numericGradient(xx -> Reference64.linear(xx, cs.n(), cs.in(), wd, cs.out(), null),
                toDouble(x), toDouble(dy), 1e-2, at);
        assertClose("linearBackwardData " + cs, expected, pick(tdx.toArray(), at), RTOL);
        assertGuards("dx", tdx);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void backwardWeightMatchesFiniteDifferences(Case cs) {
        Random rnd = new Random(cs.name().hashCode() + 2);
        float[] x = uniform(rnd, cs.n() * cs.in(), -1, 1);
        float[] w = uniform(rnd, cs.out() * cs.in(), -1, 1);
        float[] b = uniform(rnd, cs.out(), -1, 1);
        float[] dy = uniform(rnd, cs.n() * cs.out(), -1, 1);
        CpuTensor tdw = output(cs.out(), cs.in());
        CpuTensor tdb = cs.bias() ? output(cs.out()) : null;
        backend.linearBackwardWeight(tensor(x, cs.n(), cs.in()), tensor(dy, cs.n(), cs.out()), tdw, tdb);
        double[] xd = toDouble(x);
        double[] wd = toDouble(w);
        double[] bd = toDouble(b);
        double[] dyd = toDouble(dy);
        int[] at = sampleIndices(rnd, w.length, 400);
        double[] expectedDw = numericGradient(ww -> Reference64.linear(xd, cs.n(), cs.in(), ww, cs.out(), bd),
                wd, dyd, 1e-2, at);
        assertClose("linearBackwardWeight dw " + cs, expectedDw, pick(tdw.toArray(), at), RTOL);
        assertGuards("dw", tdw);
        if (tdb != null) {
            double[] expectedDb = numericGradient(bb -> Reference64.linear(xd, cs.n(), cs.in(), wd, cs.out(), bb),
                    bd, dyd, 1e-2);
            assertClose("linearBackwardWeight db " + cs, expectedDb, tdb.toArray(), RTOL);
            assertGuards("db", tdb);
        }
    }

    /** The whole backward in one call: the two ops' results, and a refusal before either runs. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void wholeBackwardIsTheTwoOps(Case cs) {
        Random rnd = new Random(cs.name().hashCode() + 3);
        CpuTensor x = tensor(uniform(rnd, cs.n() * cs.in(), -1, 1), cs.n(), cs.in());
        CpuTensor w = tensor(uniform(rnd, cs.out() * cs.in(), -1, 1), cs.out(), cs.in());
        CpuTensor dy = tensor(uniform(rnd, cs.n() * cs.out(), -1, 1), cs.n(), cs.out());
        CpuTensor dx = output(cs.n(), cs.in());
        CpuTensor dw = output(cs.out(), cs.in());
        CpuTensor db = cs.bias() ? output(cs.out()) : null;
        backend.linearBackwardWeight(x, dy, dw, db);
        backend.linearBackwardData(dy, w, dx);
        CpuTensor dx2 = output(cs.n(), cs.in());
        CpuTensor dw2 = output(cs.out(), cs.in());
        CpuTensor db2 = cs.bias() ? output(cs.out()) : null;
        backend.linearBackward(x, dy, w, dx2, dw2, db2);
        assertArrayEquals(dx.toArray(), dx2.toArray(), "dx");
        assertArrayEquals(dw.toArray(), dw2.toArray(), "dw");
        if (db != null) {
            assertArrayEquals(db.toArray(), db2.toArray(), "db");
        }
        CpuTensor dw3 = output(cs.out(), cs.in());
        backend.linearBackward(x, dy, null, null, dw3, null);
        assertArrayEquals(dw.toArray(), dw3.toArray(), "dw without dx, w not needed");
    }

    @Test
    void wholeBackwardRefusesDisagreeingShapesBeforeAnyOp() {
        CpuTensor dw = output(10, 84);
        float[] before = dw.toArray();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.linearBackward(output(4, 84), output(4, 10), output(10, 85), output(4, 85), dw, output(10)));
        assertTrue(e.getMessage().startsWith("linearBackward: x [4, 84] and w [10, 85] disagree"), e.getMessage());
        assertArrayEquals(before, dw.toArray(), "dw untouched: the weight gradient did not run first");
    }

    @Test
    void rejectsMismatchedShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.linearForward(output(4, 400), output(120, 256), null, output(4, 120)));
        assertTrue(e.getMessage().contains("linearForward") && e.getMessage().contains("[4, 400]")
                && e.getMessage().contains("[120, 256]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> backend.linearBackwardData(output(4, 10), output(10, 84), output(4, 85)));
        assertTrue(e.getMessage().contains("linearBackwardData") && e.getMessage().contains("[4, 85]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> backend.linearBackwardWeight(output(4, 84), output(4, 10), output(10, 84), output(11)));
        assertTrue(e.getMessage().contains("linearBackwardWeight") && e.getMessage().contains("[11]"), e.getMessage());
    }
}
