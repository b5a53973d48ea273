package dev.normnet.nn;

import dev.normnet.Closeness;
import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Batch norm folded into the convolution or linear layer before it: the values, the model, its outputs. */
class BatchNormFoldingTest {
    /** Each folded value is rounded once from float64, so it is within half an ulp of the exact value. */
    static final double HALF_ULP = 0.5;

    private static float[] random(SplittableRandom rng, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        }
        return v;
    }

    private static double[] ulps(double[] v) {
        double[] u = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            u[i] = Math.ulp((float) v[i]);
        }
        return u;
    }

    @Test
    void eachFoldedValueIsTheFloat32NearestTheFloat64Formula() {
        SplittableRandom rng = new SplittableRandom(7);
        int channels = 13;
        int row = 3 * 5 * 5;
        for (boolean withBias : new boolean[] {true, false}) {
            float[] w = random(rng, channels * row, -1, 1);
            float[] b = withBias ? random(rng, channels, -1, 1) : null;
            float[] gamma = random(rng, channels, -2, 2);
            float[] beta = random(rng, channels, -1, 1);
            float[] mean = random(rng, channels, -3, 3);
            float[] var = random(rng, channels, 1e-4, 4);
            double eps = 1e-5f;
            BatchNormFolding.Folded f = BatchNormFolding.fold(w, b, gamma, beta, mean, var, eps);
            // The reference, written from the formula in float64: s = gamma / sqrt(var + eps).
            double[] wRef = new double[w.length];
            double[] bRef = new double[channels];
            for (int o = 0; o < channels; o++) {
                double s = (double) gamma[o] / Math.sqrt((double) var[o] + eps);
                for (int j = 0; j < row; j++) {
                    wRef[o * row + j] = s * w[o * row + j];
                }
                bRef[o] = s * ((b == null ? 0 : b[o]) - (double) mean[o]) + beta[o];
            }
            Closeness.Report rw = Closeness.assertClose("folded weight (bias " + withBias + ")", wRef, f.weight(), HALF_ULP, ulps(wRef));
            Closeness.Report rb = Closeness.assertClose("folded bias (bias " + withBias + ")", bRef, f.bias(), HALF_ULP, ulps(bRef));
            System.out.println(rw + "; " + rb);
        }
    }

    @Test
    void foldRefusesStatisticsThatDoNotMatchTheWeight() {
        float[] four = new float[4];
        assertThrows(IllegalArgumentException.class, () -> BatchNormFolding.fold(new float[10], null, four, four, four, four, 1e-5));
        assertThrows(IllegalArgumentException.class, () -> BatchNormFolding.fold(new float[8], new float[3], four, four, four, four, 1e-5));
        assertThrows(IllegalArgumentException.class, () -> BatchNormFolding.fold(new float[8], null, four, new float[3], four, four, 1e-5));
    }

    /** A built preset whose gamma, beta, biases and running statistics are far from their initial values. */
    static Sequential trained(String name, long seed) {
        Sequential m = Models.create(name, ModelOptions.defaults()).build(seed);
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, float[]> s = m.state();
        List<Integer> bn = BatchNormFolding.foldedIndices(m.layers());
        s.forEach((key, v) -> {
            int layer = Integer.parseInt(key.substring(0, key.indexOf('.')));
            if (!bn.contains(layer)) {
                return;
            }
            for (int i = 0; i < v.length; i++) {
                if (key.endsWith(".weight")) {
                    v[i] = (float) (0.3 + 2 * rng.nextDouble()) * (rng.nextBoolean() ? 1 : -1);
                } else if (key.endsWith(".bias")) {
                    v[i] = (float) (rng.nextDouble() - 0.5);
                } else if (key.endsWith("running_mean")) {
                    v[i] = (float) (rng.nextDouble() - 0.5);
                } else if (key.endsWith("running_var")) {
                    v[i] = (float) (0.05 + rng.nextDouble());
                } else {
                    v[i] = 17;
                }
            }
        });
        m.loadState(s);
        return m;
    }

    /** Eval-mode outputs of {@code model} for {@code x} (N, sample...) on {@code backend}; the model comes back to the host. */
    static float[] logits(Sequential model, Backend backend, float[] x, int n) {
        model.to(backend);
        Sequential.Plan plan = model.forwardPlan(n);
        plan.input().copyFrom(x);
        plan.forward(false);
        float[] out = plan.output().toArray();
        model.to(null);
        return out;
    }

    static int argmax(float[] v, int row, int k) {
        int best = 0;
        for (int j = 1; j < k; j++) {
            if (v[row * k + j] > v[row * k + best]) {
                best = j;
            }
        }
        return best;
    }

    /** The gap between the largest and the second largest output of row {@code row}. */
    static double margin(float[] v, int row, int k) {
        int best = argmax(v, row, k);
        double second = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < k; j++) {
            if (j != best) {
                second = Math.max(second, v[row * k + j]);
            }
        }
        return v[row * k + best] - second;
    }

    @ParameterizedTest
    @ValueSource(strings = {"lenet-bn", "mlp-bn"})
    void theFoldedModelGivesTheEvalModeLogitsAndPredictions(String name) {
        Sequential model = trained(name, name.length());
        Map<String, float[]> before = model.state();
        Sequential folded = model.foldBatchNorm();
        assertNotSame(model, folded);
        // The original is unchanged, and the folded model has an Identity in each batch norm's place.
        Map<String, float[]> after = model.state();
        before.forEach((k, v) -> assertArrayEquals(v, after.get(k), k));
        List<Integer> bn = BatchNormFolding.foldedIndices(model.layers());
        assertEquals(name.equals("lenet-bn") ? List.of(1, 5, 10, 13) : List.of(2, 5), bn);
        assertEquals(model.layers().size(), folded.layers().size());
        for (int i = 0; i < model.layers().size(); i++) {
            Layer a = model.layers().get(i);
            Layer b = folded.layers().get(i);
            assertNotSame(a, b);
            assertEquals(bn.contains(i) ? Identity.class : a.getClass(), b.getClass(), "layer " + i);
            assertEquals(model.shapeBefore(i + 1), folded.shapeBefore(i + 1), "output of layer " + i);
        }
        assertTrue(BatchNormFolding.foldedIndices(folded.layers()).isEmpty());
        long bnParameters = 0;
        for (int i : bn) {
            bnParameters += 2L * ((BatchNorm) model.layers().get(i)).channels();
            assertFalse(folded.state().keySet().stream().anyMatch(k -> k.startsWith(i + ".")));
        }
        assertEquals(model.parameterCount() - bnParameters, folded.parameterCount());
        assertNull(folded.backend());

        int n = 256;
        SplittableRandom rng = new SplittableRandom(99);
        float[] x = random(rng, n * model.inputShape().sizeInt(), 0, 1);
        int k = model.outputShape().sizeInt();
        for (Backend backend : new Backend[] {new CpuBackend(1), Backends.cpu(2)}) {
            try (backend) {
                float[] expected = logits(model, backend, x, n);
                float[] got = logits(folded, backend, x, n);
                Closeness.Report r = Closeness.assertClose(name + " folded logits against eval-mode logits on "
                        + backend.describe(), expected, got, 1e-5);
                System.out.println(r);
                double scale = 0;
                for (float v : expected) {
                    scale = Math.max(scale, Math.abs(v));
                }
                int differ = 0;
                for (int row = 0; row < n; row++) {
                    if (argmax(expected, row, k) != argmax(got, row, k)) {
                        differ++;
                        // Only a near-tie may change: the top two within twice the closeness bound.
                        assertTrue(margin(expected, row, k) <= 2 * 1e-5 * scale, "row " + row + " changed its prediction");
                    }
                }
                assertTrue(differ <= 1, differ + " predictions changed");
            }
        }
    }

    @Test
    void onlyABatchNormDirectlyAfterAConvolutionOrLinearFoldsAndALayerWithoutBiasGainsOne() {
        Sequential model = new Sequential(new BatchNorm(), new Conv2d(4, 3, 1, 1, false), new BatchNorm(0.2f, 1e-3f), new ReLU(),
                new BatchNorm(), new MaxPool2d(2), new Flatten(), new Linear(6, false), new BatchNorm(), new Sigmoid(),
                new Linear(3)).build(Shape.of(2, 6, 6), 5);
        SplittableRandom rng = new SplittableRandom(3);
        Map<String, float[]> s = model.state();
        s.replaceAll((key, v) -> key.endsWith("running_var") ? random(rng, v.length, 0.1, 2)
                : key.endsWith("num_batches_tracked") ? v : random(rng, v.length, -1, 1));
        model.loadState(s);
        Sequential folded = model.foldBatchNorm();
        assertEquals(List.of(2, 8), BatchNormFolding.foldedIndices(model.layers()));
        List<String> types = new ArrayList<>();
        folded.layers().forEach(l -> types.add(l.typeName()));
        assertEquals(List.of("BatchNorm2d", "Conv2d", "Identity", "ReLU", "BatchNorm2d", "MaxPool2d", "Flatten", "Linear",
                "Identity", "Sigmoid", "Linear"), types);
        assertTrue(((Conv2d) folded.layers().get(1)).hasBias());
        assertTrue(((Linear) folded.layers().get(7)).hasBias());
        assertEquals(Set.of("0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias", "7.weight", "7.bias",
                "10.weight", "10.bias", "0.running_mean", "0.running_var", "0.num_batches_tracked", "4.running_mean",
                "4.running_var", "4.num_batches_tracked"), folded.stateShapes().keySet());
        // The batch norms left in place keep their values, momentum and eps.
        for (String key : List.of("0.weight", "0.running_var", "4.bias", "4.running_mean", "10.weight", "10.bias")) {
            assertArrayEquals(s.get(key), folded.state().get(key), key);
        }
        assertEquals(0.2f, ((BatchNorm) model.layers().get(2)).momentum());
        int n = 40;
        float[] x = random(rng, n * 72, -2, 2);
        try (CpuBackend backend = new CpuBackend(1)) {
            System.out.println(Closeness.assertClose("mixed model folded", logits(model, backend, x, n),
                    logits(folded, backend, x, n), 1e-5));
        }
    }

    @Test
    void foldingAModelOnABackendLeavesItThereAndAModelWithoutBatchNormGivesACopy() {
        try (CpuBackend backend = new CpuBackend(1)) {
            Sequential model = trained("mlp-bn", 4).to(backend);
            Sequential folded = model.foldBatchNorm();
            assertSame(backend, model.backend());
            assertNull(folded.backend());
            model.close();
        }
        Sequential plain = Models.create("lenet", ModelOptions.defaults()).build(1);
        Sequential copy = plain.foldBatchNorm();
        assertEquals(plain.stateShapes(), copy.stateShapes());
        plain.state().forEach((k, v) -> assertArrayEquals(v, copy.state().get(k), k));
        assertThrows(IllegalStateException.class, () -> Models.create("lenet-bn", ModelOptions.defaults()).foldBatchNorm());
    }

    @Test
    void theFoldedPresetIsTheArchitectureFoldingBuilds() {
        for (String name : List.of("lenet-bn", "mlp-bn")) {
            Sequential folded = trained(name, 2).foldBatchNorm();
            Sequential preset = Models.createFolded(name, ModelOptions.defaults()).build(0);
            assertEquals(folded.stateShapes(), preset.stateShapes(), name);
            assertEquals(folded.toString(), preset.toString(), name);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Models.createFolded("mlp", ModelOptions.defaults()));
        assertEquals("mlp has no batch norm to fold", e.getMessage());
    }
}
