package dev.normnet.optim;

import dev.normnet.Closeness;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sgd and Adam over several steps (with a learning-rate change between them) against float64 formulas. */
class OptimizerTest {
    private static final int P = 53;
    private static final int STEPS = 6;
    private final CpuBackend backend = new CpuBackend(2);

    @AfterEach
    void close() {
        backend.close();
    }

    private static float[] random(SplittableRandom r, double scale) {
        float[] v = new float[P];
        for (int i = 0; i < P; i++) {
            v[i] = (float) (scale * (r.nextDouble() * 2 - 1));
        }
        return v;
    }

    /** Learning rate used at step s: the base rate, halved from step 3 on (as a schedule would). */
    private static float lrAt(float base, int s) {
        return s < 3 ? base : base * 0.5f;
    }

    @Test
    void sgdWithMomentumAndWeightDecay() {
        runSgd(0.9f, 1e-2f);
    }

    @Test
    void plainSgd() {
        runSgd(0f, 0f);
    }

    private void runSgd(float momentum, float weightDecay) {
        SplittableRandom r = new SplittableRandom(1);
        float[] p0 = random(r, 1);
        Tensor params = backend.upload(p0, Shape.of(P));
        Tensor grads = backend.allocate(Shape.of(P));
        float lr = 0.1f;
        Sgd sgd = Sgd.builder().setLearningRate(lr).optMomentum(momentum).optWeightDecay(weightDecay).build();
        sgd.attach(backend, params, grads);
        double[] p = toDouble(p0);
        double[] v = new double[P];
        for (int s = 0; s < STEPS; s++) {
            float[] g = random(r, 0.5);
            grads.copyFrom(g);
            float stepLr = lrAt(lr, s);
            sgd.setLearningRate(stepLr);
            sgd.step();
            for (int i = 0; i < P; i++) {
                double gi = g[i] + weightDecay * p[i];
                if (momentum != 0) {
                    v[i] = s == 0 ? gi : momentum * v[i] + gi;   // PyTorch: the first buffer is g itself
                    p[i] -= stepLr * v[i];
                } else {
                    p[i] -= stepLr * gi;
                }
            }
        }
        Closeness.assertClose("params", p, params.toArray(), 2e-6);
        assertEquals(lrAt(lr, STEPS - 1), sgd.learningRate());
        assertEquals(lr, sgd.baseLearningRate());
        sgd.close();
    }

    @Test
    void adamWithWeightDecayAndBiasCorrection() {
        SplittableRandom r = new SplittableRandom(2);
        float[] p0 = random(r, 1);
        Tensor params = backend.upload(p0, Shape.of(P));
        Tensor grads = backend.allocate(Shape.of(P));
        float lr = 0.01f;
        float wd = 1e-3f;
        Adam adam = Adam.builder().setLearningRate(lr).optWeightDecay(wd).build();
        adam.attach(backend, params, grads);
        double[] p = toDouble(p0);
        double[] m = new double[P];
        double[] v = new double[P];
        double b1 = 0.9f;
        double b2 = 0.999f;
        double eps = 1e-8f;
        for (int s = 0; s < STEPS; s++) {
            float[] g = random(r, s % 2 == 0 ? 0.5 : 1e-3);
            grads.copyFrom(g);
            float stepLr = lrAt(lr, s);
            adam.setLearningRate(stepLr);
            adam.step();
            int t = s + 1;
            for (int i = 0; i < P; i++) {
                double gi = g[i] + wd * p[i];
                m[i] = b1 * m[i] + (1 - b1) * gi;
                v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                double stepSize = stepLr / (1 - Math.pow(b1, t));
                double denom = Math.sqrt(v[i]) / Math.sqrt(1 - Math.pow(b2, t)) + eps;
                p[i] -= stepSize * m[i] / denom;
            }
        }
        Closeness.assertClose("params", p, params.toArray(), 2e-6);
        adam.close();
    }

    @Test
    void buildersRequireALearningRateAndCheckRanges() {
        assertThrows(IllegalArgumentException.class, () -> Sgd.builder().build());
        assertThrows(IllegalArgumentException.class, () -> Sgd.builder().setLearningRate(0.1f).optMomentum(1.5f).build());
        assertThrows(IllegalArgumentException.class, () -> Adam.builder().build());
        assertThrows(IllegalArgumentException.class, () -> Adam.builder().setLearningRate(-1f).build());
        assertThrows(IllegalStateException.class, () -> Sgd.builder().setLearningRate(0.1f).build().step());
    }

    @Test
    void stepLrDecaysEveryStepSizeEpochs() {
        StepLr s = new StepLr(2, 0.9f);
        float base = 0.5f;
        double[] expected = {0.5, 0.5, 0.45, 0.45, 0.405, 0.405, 0.3645};
        for (int e = 0; e < expected.length; e++) {
            assertEquals(expected[e], s.learningRate(base, e), 1e-7, "epoch " + e);
        }
        // float32 result: the float64 value within float32 rounding.
        assertEquals(0.01 * Math.pow(0.9, 9), new StepLr(2, 0.9f).learningRate(0.01f, 19), 0.01 * Math.pow(0.9, 9) * 1e-6);
        assertThrows(IllegalArgumentException.class, () -> new StepLr(0, 0.9f));
    }

    /**
     * Three steps, then the state moved to a fresh optimizer over a copy of the parameters: three
     * more steps on each give the same bits, and the same state (Adam's step count included).
     */
    @Test
    void stateMovesToAFreshOptimizerAndTheStepsContinueBitForBit() {
        assertStateMoves(() -> Sgd.builder().setLearningRate(0.1f).optMomentum(0.9f).optWeightDecay(1e-2f).build(),
                List.of("momentum_buffer"));
        assertStateMoves(() -> Sgd.builder().setLearningRate(0.1f).build(), List.of());
        assertStateMoves(() -> Adam.builder().setLearningRate(0.01f).optWeightDecay(1e-3f).build(),
                List.of("exp_avg", "exp_avg_sq", "step"));
    }

    private void assertStateMoves(Supplier<Optimizer> make, List<String> names) {
        SplittableRandom r = new SplittableRandom(3);
        float[] p0 = random(r, 1);
        float[][] g = new float[6][];
        for (int s = 0; s < g.length; s++) {
            g[s] = random(r, 0.5);
        }
        Tensor params = backend.upload(p0, Shape.of(P));
        Tensor grads = backend.allocate(Shape.of(P));
        Optimizer a = make.get();
        a.attach(backend, params, grads);
        for (int s = 0; s < 3; s++) {
            grads.copyFrom(g[s]);
            a.step();
        }
        Map<String, float[]> saved = a.state();
        assertEquals(names, List.copyOf(saved.keySet()));
        if (saved.containsKey("step")) {
            assertArrayEquals(new float[] {3f}, saved.get("step"));
        }
        Tensor params2 = backend.upload(params.toArray(), Shape.of(P));
        Optimizer b = make.get();
        b.attach(backend, params2, grads);
        b.loadState(saved);
        for (int s = 3; s < 6; s++) {
            grads.copyFrom(g[s]);
            a.step();
            b.step();
        }
        assertArrayEquals(params.toArray(), params2.toArray(), a.toString());
        Map<String, float[]> sa = a.state();
        Map<String, float[]> sb = b.state();
        for (String name : names) {
            assertArrayEquals(sa.get(name), sb.get(name), name);
        }
        a.close();
        b.close();
    }

    /**
     * copy() of an optimizer that has taken steps: the same settings (from the same parameters and
     * gradients it steps to the same bits as a new optimizer from the same builder), none of the
     * state, not attached.
     */
    @Test
    void aCopyHasTheSettingsButNotTheState() {
        assertCopies(() -> Sgd.builder().setLearningRate(0.1f).optMomentum(0.9f).optWeightDecay(1e-2f).build());
        assertCopies(() -> Adam.builder().setLearningRate(0.01f).optBetas(0.8f, 0.99f).optEps(1e-6f).optWeightDecay(1e-3f).build());
    }

    private void assertCopies(Supplier<Optimizer> make) {
        SplittableRandom r = new SplittableRandom(5);
        float[] p0 = random(r, 1);
        float[] g0 = random(r, 0.5);
        Optimizer original = make.get();
        original.attach(backend, backend.upload(p0, Shape.of(P)), backend.upload(g0, Shape.of(P)));
        original.step();
        Optimizer copy = original.copy();
        assertEquals(original.toString(), copy.toString());
        IllegalStateException e = assertThrows(IllegalStateException.class, copy::state);
        assertTrue(e.getMessage().contains("attach"), e.getMessage());
        Tensor grads = backend.upload(g0, Shape.of(P));
        Tensor pCopy = backend.upload(p0, Shape.of(P));
        Tensor pNew = backend.upload(p0, Shape.of(P));
        Optimizer fresh = make.get();
        copy.attach(backend, pCopy, grads);
        fresh.attach(backend, pNew, grads);
        for (int s = 0; s < 3; s++) {
            copy.step();
            fresh.step();
        }
        assertArrayEquals(pNew.toArray(), pCopy.toArray(), copy.toString());
        original.close();
        copy.close();
        fresh.close();
    }

    @Test
    void aStateThatDoesNotFitIsRefusedAndChangesNothing() {
        Tensor params = backend.upload(new float[P], Shape.of(P));
        Tensor grads = backend.upload(random(new SplittableRandom(4), 1), Shape.of(P));
        Adam adam = Adam.builder().setLearningRate(0.01f).build();
        assertThrows(IllegalStateException.class, adam::state);
        adam.attach(backend, params, grads);
        adam.step();
        Map<String, float[]> good = adam.state();
        List<Map<String, float[]>> bad = List.of(
                with(good, "exp_avg", null),                       // missing
                with(good, "momentum_buffer", new float[P]),       // unknown
                with(good, "exp_avg", new float[P - 1]),           // short
                with(good, "exp_avg", nanAt(good.get("exp_avg"), 7)),
                with(good, "exp_avg_sq", negative(good.get("exp_avg_sq"))),
                with(good, "step", new float[] {2.5f}),
                with(good, "step", new float[] {-1f}),
                with(good, "step", new float[] {1, 2}));
        for (Map<String, float[]> state : bad) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> adam.loadState(state));
            assertTrue(e.getMessage().startsWith("Adam: state"), e.getMessage());
            Map<String, float[]> now = adam.state();
            for (String name : good.keySet()) {
                assertArrayEquals(good.get(name), now.get(name), name);
            }
        }
        adam.close();

        Sgd sgd = Sgd.builder().setLearningRate(0.1f).optMomentum(0.5f).build();
        sgd.attach(backend, params, grads);
        assertThrows(IllegalArgumentException.class, () -> sgd.loadState(Map.of()));
        assertThrows(IllegalArgumentException.class, () -> sgd.loadState(Map.of("momentum_buffer", new float[P + 1])));
        sgd.close();
    }

    private static Map<String, float[]> with(Map<String, float[]> state, String name, float[] value) {
        Map<String, float[]> out = new HashMap<>(state);
        if (value == null) {
            out.remove(name);
        } else {
            out.put(name, value);
        }
        return out;
    }

    private static float[] nanAt(float[] v, int i) {
        float[] out = v.clone();
        out[i] = Float.NaN;
        return out;
    }

    private static float[] negative(float[] v) {
        float[] out = v.clone();
        out[out.length - 1] = -1e-3f;
        return out;
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }
}
