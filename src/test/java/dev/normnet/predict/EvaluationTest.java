package dev.normnet.predict;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.backend.Backend;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.data.LabeledImages;
import dev.normnet.io.ModelFile;
import dev.normnet.nn.BatchNorm;
import dev.normnet.nn.Sequential;
import java.util.Map;
import dev.normnet.optim.Sgd;
import dev.normnet.train.Trainer;
import java.io.IOException;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** {@link Evaluation}: its numbers against the trainer's and against the predictor's logits, and its arithmetic. */
class EvaluationTest {
    static final List<String> NAMES = List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j");

    static LabeledImages randomSet(int count, int side, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        byte[] pixels = new byte[count * side * side];
        rng.nextBytes(pixels);
        byte[] labels = new byte[count];
        for (int i = 0; i < count; i++) {
            labels[i] = (byte) rng.nextInt(10);
        }
        return new LabeledImages(pixels, labels, count, side, side);
    }

    @ParameterizedTest
    @ValueSource(ints = {28, 20})   // 20: the images are resized to the model's 28 on the device
    void agreesWithTheTrainersEvaluationAndThePredictorsLogits(int side) throws IOException {
        LabeledImages data = randomSet(150, side, side);
        try (ModelFile.Loaded loaded = ModelFile.load(PredictorTest.NORMNET); Backend backend = new CpuBackend(1)) {
            loaded.model().to(backend);
            Evaluation e = Evaluation.run(loaded.model(), data, 64, NAMES);
            assertEquals(150, e.count());
            try (Trainer trainer = Trainer.builder().setModel(loaded.model()).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).build()).optBatchSize(64).optGraph(false).build()) {
                double[] lossAcc = trainer.evaluateLossAndAccuracy(data);
                assertEquals(lossAcc[1], e.accuracy(), 0.0, "the same logits give the same arg-max");
                assertEquals(lossAcc[0], e.loss(), 1e-6 * lossAcc[0], "float32 device sums against float64 host sums");
            }
        }
        // The same numbers from the predictor's logits (host-side resize, another batching).
        try (Predictor p = Predictor.builder().setModelFile(PredictorTest.NORMNET).optBackend(new CpuBackend(1)).build()) {
            long[][] confusion = new long[10][10];
            double loss = 0;
            for (int i = 0; i < data.count(); i++) {
                byte[] img = java.util.Arrays.copyOfRange(data.pixels(), i * side * side, (i + 1) * side * side);
                List<Prediction> all = p.predict(img, side, side, 10);
                confusion[data.label(i)][all.get(0).index()]++;
                for (Prediction q : all) {
                    if (q.index() == data.label(i)) {
                        loss -= Math.log(q.probability());
                    }
                }
            }
            try (ModelFile.Loaded loaded = ModelFile.load(PredictorTest.NORMNET); Backend backend = new CpuBackend(1)) {
                loaded.model().to(backend);
                Evaluation e = Evaluation.run(loaded.model(), data, 150, NAMES);
                assertEquals(loss / data.count(), e.loss(), 1e-6 * e.loss());
                long[][] c = e.confusion();
                for (int i = 0; i < 10; i++) {
                    assertArrayEquals(confusion[i], c[i], "confusion row " + i);
                }
            }
        }
    }

    @Test
    void countsAccuraciesAndPerClassFollowTheConfusionMatrix() {
        long[][] c = new long[3][3];
        c[0][0] = 5;
        c[0][2] = 1;
        c[1][0] = 2;
        c[1][1] = 2;
        Evaluation e = new Evaluation(List.of("x", "y", "z"), c, 3.0);
        c[0][0] = 99;   // the evaluation keeps its own copy
        assertEquals(10, e.count());
        assertEquals(7, e.correct());
        assertEquals(0.7, e.accuracy(), 1e-15);
        assertEquals(0.3, e.loss(), 1e-15);
        assertEquals(5.0 / 6, e.classAccuracy(0), 1e-15);
        assertEquals(0.5, e.classAccuracy(1), 1e-15);
        assertTrue(Double.isNaN(e.classAccuracy(2)), "a class without examples has no accuracy");
        assertEquals(6, e.classTotal(0));
        assertEquals(5, e.confusion()[0][0]);
        assertThrows(IllegalArgumentException.class, () -> new Evaluation(List.of("x"), c, 0));
    }

    @Test
    void labelsOutsideTheModelsClassesAndEmptySetsAreRefused() throws IOException {
        try (ModelFile.Loaded loaded = ModelFile.load(PredictorTest.NORMNET); Backend backend = new CpuBackend(1)) {
            loaded.model().to(backend);
            LabeledImages bad = new LabeledImages(new byte[2 * 784], new byte[] {3, 12}, 2, 28, 28);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Evaluation.run(loaded.model(), bad, 8, NAMES));
            assertTrue(e.getMessage().contains("image 1 has label 12"), e.getMessage());
            LabeledImages empty = new LabeledImages(new byte[0], new byte[0], 0, 28, 28);
            assertThrows(IllegalArgumentException.class, () -> Evaluation.run(loaded.model(), empty, 8, NAMES));
        }
    }

    /**
     * Batch statistics over one batch of the whole set give what eval mode gives once every batch
     * norm's running mean and variance are set to that batch's mean and biased variance, computed
     * here in float64 from the layers' inputs; and the model's running statistics are left as they were.
     */
    @Test
    void batchStatisticsNormalizeWithEachBatchsOwnMeanAndVarianceAndLeaveTheRunningOnes() throws IOException {
        int n = 64;
        LabeledImages data = randomSet(n, 28, 5);
        try (ModelFile.Loaded loaded = ModelFile.load(PredictorTest.NORMNET); Backend backend = new CpuBackend(1)) {
            Sequential model = loaded.model().to(backend);
            Map<String, float[]> before = model.state();
            Evaluation running = Evaluation.run(model, data, n, NAMES);
            Evaluation batchStats = Evaluation.run(model, data, n, NAMES, true);
            Map<String, float[]> after = model.state();
            for (Map.Entry<String, float[]> e : before.entrySet()) {
                assertArrayEquals(e.getValue(), after.get(e.getKey()), e.getKey() + " changed");
            }
            assertTrue(Math.abs(running.loss() - batchStats.loss()) > 1e-3, "the running statistics are not the batch's");

            // The reference: the training-mode forward pass, its inputs to each batch norm, their statistics.
            Sequential.Plan plan = model.forwardPlan(n);
            float[] x = new float[n * 784];
            for (int i = 0; i < x.length; i++) {
                x[i] = (data.pixels()[i] & 0xff) / 255f;
            }
            plan.input().copyFrom(x);
            plan.forward(true);
            Map<String, float[]> batchState = new java.util.LinkedHashMap<>(before);
            int bnLayers = 0;
            for (int i = 0; i < model.layers().size(); i++) {
                if (!(model.layers().get(i) instanceof BatchNorm bn)) {
                    continue;
                }
                bnLayers++;
                float[] in = plan.activation(i).toArray();
                int c = bn.channels();
                int inner = in.length / n / c;   // H * W, or 1 after a Linear
                double[] sum = new double[c];
                double[] sq = new double[c];
                for (int j = 0; j < in.length; j++) {
                    sum[(j / inner) % c] += in[j];
                }
                float[] mean = new float[c];
                for (int ch = 0; ch < c; ch++) {
                    mean[ch] = (float) (sum[ch] / ((double) n * inner));
                }
                for (int j = 0; j < in.length; j++) {
                    int ch = (j / inner) % c;
                    double d = in[j] - sum[ch] / ((double) n * inner);
                    sq[ch] += d * d;
                }
                float[] var = new float[c];
                for (int ch = 0; ch < c; ch++) {
                    var[ch] = (float) (sq[ch] / ((double) n * inner));   // biased, as training normalizes
                }
                batchState.put(i + ".running_mean", mean);
                batchState.put(i + ".running_var", var);
            }
            assertEquals(4, bnLayers);
            model.loadState(batchState);
            Evaluation reference = Evaluation.run(model, data, n, NAMES);
            assertEquals(reference.loss(), batchStats.loss(), 1e-5 * reference.loss());
            assertEquals(reference.accuracy(), batchStats.accuracy(), 1.0 / n, "at most one near-tie flips");
        }
    }

    @Test
    void batchStatisticsGiveEvalModeForAModelWithoutBatchNormAndRefuseABatchOfOne() {
        LabeledImages data = randomSet(40, 28, 9);
        try (Sequential model = dev.normnet.nn.Models.create("lenet", dev.normnet.nn.ModelOptions.defaults()).build(3);
             Backend backend = new CpuBackend(1)) {
            model.to(backend);
            Evaluation a = Evaluation.run(model, data, 8, NAMES);
            Evaluation b = Evaluation.run(model, data, 8, NAMES, true);
            assertEquals(a.loss(), b.loss(), 0.0);
            for (int i = 0; i < 10; i++) {
                assertArrayEquals(a.confusion()[i], b.confusion()[i]);
            }
            LabeledImages odd = randomSet(41, 28, 9);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Evaluation.run(model, odd, 8, NAMES, true));   // 41 = 5 * 8 + 1
            assertTrue(e.getMessage().contains("one of a single example"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> Evaluation.run(model, data, 1, NAMES, true));
        }
    }
}
