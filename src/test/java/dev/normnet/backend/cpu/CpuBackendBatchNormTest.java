package dev.normnet.backend.cpu;

import dev.normnet.Reference64;
import dev.normnet.backend.Activation;
import dev.normnet.backend.PoolSpec;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
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
import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batch norm in training and eval mode against the float64 reference: normalization with the
 * biased batch variance, running statistics with momentum 0.1 and the unbiased variance, the
 * backward pass against finite differences, and PyTorch's error for one value per channel.
 */
class CpuBackendBatchNormTest {
    private static final float EPS = 1e-5f;
    private static final float MOMENTUM = 0.1f;
    private static CpuBackend backend;

    /** x (N, C) when h == 0, else (N, C, H, W). */
    record Case(String name, int n, int c, int h, int w) {
        int hw() {
            return h == 0 ? 1 : h * w;
        }

        int size() {
            return n * c * hw();
        }

        int[] dims() {
            return h == 0 ? new int[] {n, c} : new int[] {n, c, h, w};
        }

        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<Case> cases() {
        return Stream.of(
                new Case("2-D 5x7", 5, 7, 0, 0),
                new Case("2-D LeNet 256 -> 120 features, batch 6", 6, 120, 0, 0),
                new Case("4-D odd 3x5x7x9", 3, 5, 7, 9),
                new Case("4-D LeNet conv1 output 4x6x28x28", 4, 6, 28, 28),
                new Case("4-D batch 1 with 2x3 values per channel", 1, 3, 2, 3));
    }

    @BeforeAll
    static void start() {
        backend = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    /** The result of one training-mode forward pass. */
    private record Train(CpuTensor y, CpuTensor saveMean, CpuTensor saveInvStd, CpuTensor runningMean,
                         CpuTensor runningVar) {
    }

    private static Train train(Case cs, float[] x, float[] gamma, float[] beta, float[] runMean, float[] runVar) {
        Train t = new Train(output(cs.dims()), output(cs.c()), output(cs.c()), tensor(runMean.clone(), cs.c()),
                tensor(runVar.clone(), cs.c()));
        backend.batchNormForwardTrain(tensor(x, cs.dims()), tensor(gamma, cs.c()), tensor(beta, cs.c()),
                t.runningMean(), t.runningVar(), t.y(), t.saveMean(), t.saveInvStd(), MOMENTUM, EPS);
        return t;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void trainingForwardMatchesReference(Case cs) {
        Random rnd = new Random(cs.name().hashCode());
        float[] x = uniform(rnd, cs.size(), 1, 4);           // nonzero mean
        float[] gamma = uniform(rnd, cs.c(), 0.5, 1.5);
        float[] beta = uniform(rnd, cs.c(), -1, 1);
        float[] runMean = uniform(rnd, cs.c(), -1, 1);
        float[] runVar = uniform(rnd, cs.c(), 0.5, 2);
        Train t = train(cs, x, gamma, beta, runMean, runVar);

        double[] xd = toDouble(x);
        double[] mean = Reference64.channelMean(xd, cs.n(), cs.c(), cs.hw());
        double[] var = Reference64.channelVariance(xd, cs.n(), cs.c(), cs.hw());
        double[] y = Reference64.batchNormTrain(xd, cs.n(), cs.c(), cs.hw(), toDouble(gamma), toDouble(beta), EPS);
        assertClose("batchNormForwardTrain y " + cs, y, t.y().toArray(), RTOL);
        assertClose("saveMean " + cs, mean, t.saveMean().toArray(), RTOL);
        double[] invStd = new double[cs.c()];
        double[] expectedRunMean = new double[cs.c()];
        double[] expectedRunVar = new double[cs.c()];
        int m = cs.n() * cs.hw();
        for (int c = 0; c < cs.c(); c++) {
            invStd[c] = 1 / Math.sqrt(var[c] + EPS);
            expectedRunMean[c] = 0.9 * runMean[c] + 0.1 * mean[c];
            expectedRunVar[c] = 0.9 * runVar[c] + 0.1 * var[c] * m / (m - 1);
        }
        assertClose("saveInvStd " + cs, invStd, t.saveInvStd().toArray(), RTOL);
        assertClose("runningMean " + cs, expectedRunMean, t.runningMean().toArray(), RTOL);
        assertClose("runningVar (unbiased) " + cs, expectedRunVar, t.runningVar().toArray(), RTOL);
        for (CpuTensor out : new CpuTensor[] {t.y(), t.saveMean(), t.saveInvStd(), t.runningMean(), t.runningVar()}) {
            assertGuards("batchNormForwardTrain output", out);
        }
    }

    @Test
    void runningStatisticsFollowMomentumConventionOverSeveralSteps() {
        Case cs = new Case("4-D 4x3x5x5", 4, 3, 5, 5);
        Random rnd = new Random(11);
        float[] gamma = uniform(rnd, cs.c(), 0.5, 1.5);
        float[] beta = uniform(rnd, cs.c(), -1, 1);
        CpuTensor runMean = tensor(new float[cs.c()], cs.c());   // PyTorch's initial values: 0 and 1
        float[] ones = new float[cs.c()];
        java.util.Arrays.fill(ones, 1f);
        CpuTensor runVar = tensor(ones, cs.c());
        double[] expectedMean = new double[cs.c()];
        double[] expectedVar = toDouble(ones);
        int m = cs.n() * cs.hw();
        for (int step = 0; step < 6; step++) {
            float[] x = uniform(rnd, cs.size(), -2 + step, 3 + 2 * step);
            backend.batchNormForwardTrain(tensor(x, cs.dims()), tensor(gamma, cs.c()), tensor(beta, cs.c()),
                    runMean, runVar, output(cs.dims()), output(cs.c()), output(cs.c()), MOMENTUM, EPS);
            double[] mean = Reference64.channelMean(toDouble(x), cs.n(), cs.c(), cs.hw());
            double[] var = Reference64.channelVariance(toDouble(x), cs.n(), cs.c(), cs.hw());
            for (int c = 0; c < cs.c(); c++) {
                expectedMean[c] = (1 - 0.1) * expectedMean[c] + 0.1 * mean[c];
                expectedVar[c] = (1 - 0.1) * expectedVar[c] + 0.1 * var[c] * m / (m - 1);
            }
        }
        assertClose("runningMean after 6 steps", expectedMean, runMean.toArray(), RTOL);
        assertClose("runningVar after 6 steps", expectedVar, runVar.toArray(), RTOL);
        assertGuards("runningMean", runMean);
        assertGuards("runningVar", runVar);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void evalForwardUsesRunningStatistics(Case cs) {
        Random rnd = new Random(cs.name().hashCode() + 1);
        float[] x = uniform(rnd, cs.size(), -3, 3);
        float[] gamma = uniform(rnd, cs.c(), 0.5, 1.5);
        float[] beta = uniform(rnd, cs.c(), -1, 1);
        float[] runMean = uniform(rnd, cs.c(), -1, 1);
        float[] runVar = uniform(rnd, cs.c(), 0.5, 2);
        CpuTensor y = output(cs.dims());
        CpuTensor trm = tensor(runMean, cs.c());
        CpuTensor trv = tensor(runVar, cs.c());
        backend.batchNormForwardEval(tensor(x, cs.dims()), tensor(gamma, cs.c()), tensor(beta, cs.c()), trm, trv, y, EPS);
        double[] expected = Reference64.batchNormWith(toDouble(x), cs.n(), cs.c(), cs.hw(), toDouble(gamma),
                toDouble(beta), toDouble(runMean), toDouble(runVar), EPS);
        assertClose("batchNormForwardEval " + cs, expected, y.toArray(), RTOL);
        assertGuards("y", y);
        assertEquals(java.util.Arrays.toString(runMean), java.util.Arrays.toString(trm.toArray()), "eval must not change runningMean");
        assertEquals(java.util.Arrays.toString(runVar), java.util.Arrays.toString(trv.toArray()), "eval must not change runningVar");
    }

    @Test
    void evalAcceptsBatchSizeOne() {
        for (int[] dims : new int[][] {{1, 4}, {1, 4, 1, 1}, {1, 4, 3, 2}}) {
            Case cs = dims.length == 2 ? new Case("eval 1x4", 1, 4, 0, 0) : new Case("eval 4-D", 1, 4, dims[2], dims[3]);
            Random rnd = new Random(dims.length + dims[dims.length - 1]);
            float[] x = uniform(rnd, cs.size(), -3, 3);
            float[] gamma = uniform(rnd, 4, 0.5, 1.5);
            float[] beta = uniform(rnd, 4, -1, 1);
            float[] runMean = uniform(rnd, 4, -1, 1);
            float[] runVar = uniform(rnd, 4, 0.5, 2);
            CpuTensor y = output(dims);
            backend.batchNormForwardEval(tensor(x, dims), tensor(gamma, 4), tensor(beta, 4), tensor(runMean, 4),
                    tensor(runVar, 4), y, EPS);
            double[] expected = Reference64.batchNormWith(toDouble(x), 1, 4, cs.hw(), toDouble(gamma), toDouble(beta),
                    toDouble(runMean), toDouble(runVar), EPS);
            assertClose("batchNormForwardEval batch 1 " + java.util.Arrays.toString(dims), expected, y.toArray(), RTOL);
        }
    }

    @Test
    void trainingWithOneValuePerChannelIsAnError() {
        for (int[] dims : new int[][] {{1, 4}, {1, 4, 1, 1}}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                    backend.batchNormForwardTrain(output(dims), output(4), output(4), output(4), output(4),
                            output(dims), output(4), output(4), MOMENTUM, EPS));
            assertEquals("batchNormForwardTrain: expected more than 1 value per channel when training, got input shape "
                    + java.util.Arrays.toString(dims), e.getMessage());
        }
        // One sample but several values per channel is fine, as in PyTorch.
        Case cs = new Case("1x2x2x1", 1, 2, 2, 1);
        float[] x = {1f, 3f, -2f, 5f};
        assertDoesNotThrow(() -> train(cs, x, new float[] {1f, 1f}, new float[2], new float[2], new float[] {1f, 1f}));
    }

    @Test
    void statisticsAreStableForLargeMeans() {
        // E[x^2] - E[x]^2 in float32 loses every digit here; two passes in float64 keep them.
        Case cs = new Case("4-D 8x2x4x4 around 1e4", 8, 2, 4, 4);
        Random rnd = new Random(5);
        float[] x = uniform(rnd, cs.size(), 1e4 - 1, 1e4 + 1);
        float[] gamma = {1f, 2f};
        float[] beta = {0f, 0.5f};
        Train t = train(cs, x, gamma, beta, new float[2], new float[] {1f, 1f});
        double[] xd = toDouble(x);
        assertClose("y around 1e4", Reference64.batchNormTrain(xd, cs.n(), cs.c(), cs.hw(), toDouble(gamma),
                toDouble(beta), EPS), t.y().toArray(), RTOL);
        double[] var = Reference64.channelVariance(xd, cs.n(), cs.c(), cs.hw());
        double[] invStd = {1 / Math.sqrt(var[0] + EPS), 1 / Math.sqrt(var[1] + EPS)};
        assertClose("saveInvStd around 1e4", invStd, t.saveInvStd().toArray(), RTOL);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void backwardMatchesFiniteDifferences(Case cs) {
        Random rnd = new Random(cs.name().hashCode() + 2);
        float[] x = uniform(rnd, cs.size(), -2, 3);
        float[] gamma = uniform(rnd, cs.c(), 0.5, 1.5);
        float[] beta = uniform(rnd, cs.c(), -1, 1);
        float[] dy = uniform(rnd, cs.size(), -1, 1);
        Train t = train(cs, x, gamma, beta, new float[cs.c()], new float[cs.c()]);
        CpuTensor dx = output(cs.dims());
        CpuTensor dgamma = output(cs.c());
        CpuTensor dbeta = output(cs.c());
        backend.batchNormBackward(tensor(x, cs.dims()), tensor(dy, cs.dims()), tensor(gamma, cs.c()),
                t.saveMean(), t.saveInvStd(), dx, dgamma, dbeta);

        double[] xd = toDouble(x);
        double[] gd = toDouble(gamma);
        double[] bd = toDouble(beta);
        double[] dyd = toDouble(dy);
        int[] at = sampleIndices(rnd, x.length, 300);
        double[] expectedDx = numericGradient(xx -> Reference64.batchNormTrain(xx, cs.n(), cs.c(), cs.hw(), gd, bd, EPS),
                xd, dyd, 1e-4, at);
        assertClose("batchNormBackward dx " + cs, expectedDx, pick(dx.toArray(), at), RTOL);
        double[] expectedDgamma = numericGradient(gg -> Reference64.batchNormTrain(xd, cs.n(), cs.c(), cs.hw(), gg, bd, EPS),
                gd, dyd, 1e-4);
        assertClose("batchNormBackward dgamma " + cs, expectedDgamma, dgamma.toArray(), RTOL);
        double[] expectedDbeta = numericGradient(bb -> Reference64.batchNormTrain(xd, cs.n(), cs.c(), cs.hw(), gd, bb, EPS),
                bd, dyd, 1e-4);
        assertClose("batchNormBackward dbeta " + cs, expectedDbeta, dbeta.toArray(), RTOL);
        assertGuards("dx", dx);
        assertGuards("dgamma", dgamma);
        assertGuards("dbeta", dbeta);
    }

    @Test
    void rejectsMismatchedShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                backend.batchNormForwardTrain(output(4, 6, 3, 3), output(5), output(6), output(6), output(6),
                        output(4, 6, 3, 3), output(6), output(6), MOMENTUM, EPS));
        assertTrue(e.getMessage().contains("batchNormForwardTrain") && e.getMessage().contains("gamma")
                && e.getMessage().contains("[5]") && e.getMessage().contains("[4, 6, 3, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                backend.batchNormForwardEval(output(4, 6, 3), output(6), output(6), output(6), output(6),
                        output(4, 6, 3), EPS));
        assertTrue(e.getMessage().contains("batchNormForwardEval") && e.getMessage().contains("[4, 6, 3]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                backend.batchNormBackward(output(4, 6), output(4, 6), output(6), output(6), output(6),
                        output(6, 4), output(6), output(6)));
        assertTrue(e.getMessage().contains("batchNormBackward") && e.getMessage().contains("[6, 4]"), e.getMessage());
    }

    /** The fused batch norm, activation and pooling ops check the pooled shape before any op runs: nothing changes. */
    @Test
    void aWrongPooledShapeIsRefusedBeforeTheStatisticsMove() {
        Shape xs = Shape.of(4, 3, 6, 6), cs = Shape.of(3);
        Tensor x = backend.upload(new float[4 * 3 * 36], xs);
        backend.fill(x, 2f);
        Tensor rm = backend.allocate(cs), rv = backend.allocate(cs), c = backend.allocate(cs);
        Tensor count = backend.allocate(Shape.of(1));
        Tensor y = backend.allocate(xs), wrong = backend.allocate(Shape.of(4, 3, 3, 2));
        PoolSpec pool = new PoolSpec(2, 2, 0);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.batchNormActivationPoolForwardTrain(x, c, c, rm, rv, y, c, c, MOMENTUM, EPS, count,
                        Activation.SIGMOID, pool, wrong));
        assertTrue(e.getMessage().startsWith("batchNormActivationPoolForwardTrain: y [4, 3, 6, 6]")
                && e.getMessage().contains("pooled"), e.getMessage());
        assertEquals(0f, rm.toArray()[0], "running mean untouched");
        assertEquals(0f, count.toArray()[0], "batch not counted");
        IllegalArgumentException b = assertThrows(IllegalArgumentException.class,
                () -> backend.batchNormActivationPoolBackward(x, y, wrong, pool, Activation.SIGMOID,
                        c, c, c, backend.allocate(xs), c, c));
        assertTrue(b.getMessage().startsWith("batchNormActivationPoolBackward: y [4, 3, 6, 6]")
                && b.getMessage().contains("dPooled"), b.getMessage());
    }
}
