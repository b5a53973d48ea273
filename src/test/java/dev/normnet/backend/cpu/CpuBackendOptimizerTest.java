package dev.normnet.backend.cpu;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Random;

import static dev.normnet.backend.cpu.Fixtures.RTOL;
import static dev.normnet.Closeness.assertClose;
import static dev.normnet.backend.cpu.Fixtures.assertGuards;
import static dev.normnet.backend.cpu.Fixtures.output;
import static dev.normnet.backend.cpu.Fixtures.tensor;
import static dev.normnet.backend.cpu.Fixtures.toDouble;
import static dev.normnet.backend.cpu.Fixtures.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** SGD and Adam over several steps against PyTorch's formulas evaluated in float64. */
class CpuBackendOptimizerTest {
    private static final int SIZE = 1037;
    private static final int STEPS = 6;
    private static CpuBackend backend;

    @BeforeAll
    static void start() {
        backend = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    /** Learning rate of step s: changed between steps through hyper[0], as a scheduler would. */
    private static float lr(float base, int step) {
        return step < 3 ? base : base * 0.5f;
    }

    @ParameterizedTest(name = "momentum {0}, weight decay {1}")
    @CsvSource({"0, 0", "0, 0.01", "0.9, 0", "0.9, 0.0005"})
    void sgdMatchesFloat64Formula(float momentum, float weightDecay) {
        Random rnd = new Random(Float.floatToIntBits(momentum) * 31 + Float.floatToIntBits(weightDecay));
        float[] p0 = uniform(rnd, SIZE, -1, 1);
        CpuTensor params = tensor(p0, SIZE);
        CpuTensor velocity = momentum == 0f ? null : tensor(new float[SIZE], SIZE);
        CpuTensor hyper = tensor(new float[] {0f}, 1);
        double[] p = toDouble(p0);
        double[] v = new double[SIZE];
        for (int step = 0; step < STEPS; step++) {
            float[] g = uniform(rnd, SIZE, -1, 1);
            float lr = lr(0.5f, step);
            hyper.set(0, lr);
            backend.sgdStep(params, tensor(g, SIZE), velocity, hyper, momentum, weightDecay);
            for (int i = 0; i < SIZE; i++) {
                double d = g[i] + (double) weightDecay * p[i];
                if (momentum != 0f) {
                    v[i] = momentum * v[i] + d;
                    d = v[i];
                }
                p[i] -= lr * d;
            }
        }
        String what = "sgd momentum " + momentum + " weight decay " + weightDecay + " after " + STEPS + " steps";
        assertClose(what + ": params", p, params.toArray(), RTOL);
        assertGuards("params", params);
        if (velocity != null) {
            assertClose(what + ": velocity", v, velocity.toArray(), RTOL);
            assertGuards("velocity", velocity);
        }
    }

    @ParameterizedTest(name = "weight decay {0}")
    @CsvSource({"0", "0.01"})
    void adamMatchesFloat64FormulaWithBiasCorrection(float weightDecay) {
        float beta1 = 0.9f;
        float beta2 = 0.999f;
        float eps = 1e-8f;
        Random rnd = new Random(100 + Float.floatToIntBits(weightDecay));
        float[] p0 = uniform(rnd, SIZE, -1, 1);
        CpuTensor params = tensor(p0, SIZE);
        CpuTensor m = tensor(new float[SIZE], SIZE);
        CpuTensor v = tensor(new float[SIZE], SIZE);
        CpuTensor hyper = tensor(new float[] {0f, 0f}, 2);
        double[] p = toDouble(p0);
        double[] md = new double[SIZE];
        double[] vd = new double[SIZE];
        for (int step = 1; step <= STEPS; step++) {
            float[] g = uniform(rnd, SIZE, -1, 1);
            float lr = lr(0.01f, step - 1);
            hyper.set(0, lr);
            backend.addScalar(hyper, 1, 1f);                 // t = step, advanced on the device
            backend.adamStep(params, tensor(g, SIZE), m, v, hyper, beta1, beta2, eps, weightDecay);
            double bc1 = 1 - Math.pow(beta1, step);
            double bc2 = 1 - Math.pow(beta2, step);
            for (int i = 0; i < SIZE; i++) {
                double d = g[i] + (double) weightDecay * p[i];
                md[i] = beta1 * md[i] + (1 - (double) beta1) * d;
                vd[i] = beta2 * vd[i] + (1 - (double) beta2) * d * d;
                p[i] -= lr / bc1 * md[i] / (Math.sqrt(vd[i]) / Math.sqrt(bc2) + eps);
            }
        }
        assertEquals((float) STEPS, hyper.get(1), "t after " + STEPS + " steps");
        String what = "adam weight decay " + weightDecay + " after " + STEPS + " steps";
        assertClose(what + ": params", p, params.toArray(), RTOL);
        assertClose(what + ": m", md, m.toArray(), RTOL);
        assertClose(what + ": v", vd, v.toArray(), RTOL);
        assertGuards("params", params);
        assertGuards("m", m);
        assertGuards("v", v);
    }

    @Test
    void adamFirstStepMovesEachParameterByAboutTheLearningRate() {
        // With bias correction the first update is lr * g / (|g| + eps): lr * sign(g) up to eps, whatever |g| is.
        float[] g = {3f, -0.02f, 1e-3f, -50f};
        CpuTensor params = tensor(new float[4], 4);
        CpuTensor hyper = tensor(new float[] {0.01f, 1f}, 2);
        backend.adamStep(params, tensor(g, 4), tensor(new float[4], 4), tensor(new float[4], 4), hyper,
                0.9f, 0.999f, 1e-8f, 0f);
        double[] expected = new double[4];
        for (int i = 0; i < 4; i++) {
            expected[i] = -0.01f * g[i] / (Math.abs(g[i]) + 1e-8f);
        }
        assertClose("first Adam step", expected, params.toArray(), RTOL);
    }

    @Test
    void rejectsBadArguments() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () ->
                backend.adamStep(output(4), output(4), output(4), output(4), tensor(new float[] {0.01f, 0f}, 2),
                        0.9f, 0.999f, 1e-8f, 0f));
        assertTrue(e.getMessage().contains("adamStep") && e.getMessage().contains("hyper[1]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                backend.sgdStep(output(4), output(5), null, tensor(new float[] {0.1f}, 1), 0f, 0f));
        assertTrue(e.getMessage().contains("sgdStep") && e.getMessage().contains("[5]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () ->
                backend.sgdStep(output(4), output(4), null, tensor(new float[] {0.1f}, 1), 0.9f, 0f));
        assertTrue(e.getMessage().contains("sgdStep") && e.getMessage().contains("velocity"), e.getMessage());
    }
}
