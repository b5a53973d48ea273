package dev.normnet.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.Reference64;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.data.DatasetSplits;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.optim.Sgd;
import dev.normnet.optim.StepLr;
import dev.normnet.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * {@link TrainingWatch} through {@link Trainer}: MLP-BN on 600 synthetic 8x8 images, batch 64,
 * so an epoch is 9 full steps and a last one of 24 (steps 10, 20, ... are the short ones).
 */
class TrainingWatchTest {
    private static final DatasetSplits DATA = new DatasetSplits(TrainerTest.synthetic(600, 8, 1), TrainerTest.synthetic(200, 8, 2));

    /** What a run left: the model's state and the history. */
    private record Run(Map<String, float[]> state, History history) {
    }

    private static Run train(Watcher watcher, int epochs, List<Map<String, float[]>> initial) {
        try (CpuBackend backend = new CpuBackend(2)) {
            Sequential model = Models.create("mlp-bn", ModelOptions.defaults().withResize(8)).build(5);
            if (initial != null) {
                initial.add(model.state());
            }
            Trainer.Builder b = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).optMomentum(0.9f).build())
                    .optScheduler(new StepLr(1, 0.5f)).optBatchSize(64).optSeed(5).optGraph(true);
            if (watcher != null) {
                b.optWatcher(watcher);
            }
            Trainer trainer = b.build();
            History h = trainer.fit(DATA, epochs, null);
            Run run = new Run(model.state(), h);
            trainer.close();
            model.close();
            return run;
        }
    }

    @Test
    void recordsEveryNthStepOverTheRunAndGammaAndBetaAfterEachEpoch() {
        TrainingWatch watch = new TrainingWatch(5);
        train(watch, 2, null);
        WatchLog log = watch.log();
        assertEquals(5, log.every());
        assertEquals(List.of("BatchNorm1d-3", "ReLU-4", "BatchNorm1d-6", "ReLU-7"),
                log.layers().stream().map(WatchLog.Layer::name).toList());
        assertEquals(List.of(2, 3, 5, 6), log.layers().stream().map(WatchLog.Layer::index).toList());
        assertEquals(32, log.layers().get(0).channels());
        // 10 steps an epoch: 5 and 10 (the short last batch) in epoch 1, 15 and 20 in epoch 2.
        assertEquals(List.of(5L, 10L, 15L, 20L), log.steps().stream().map(WatchLog.Step::step).toList());
        assertEquals(List.of(1, 1, 2, 2), log.steps().stream().map(WatchLog.Step::epoch).toList());
        for (WatchLog.Step s : log.steps()) {
            assertEquals(List.of("BatchNorm1d-3", "ReLU-4", "BatchNorm1d-6", "ReLU-7"), List.copyOf(s.inputs().keySet()));
            WatchLog.Input bn = s.inputs().get("BatchNorm1d-3");
            assertTrue(bn.p15() <= bn.p50() && bn.p50() <= bn.p85(), bn.toString());
            assertEquals(32, bn.batchMean().size());
            assertEquals(32, bn.runningVar().size());
            assertEquals(null, s.inputs().get("ReLU-4").batchMean());
            assertEquals(List.of("1.weight", "1.bias", "2.weight", "2.bias", "4.weight", "4.bias", "5.weight", "5.bias",
                    "7.weight", "7.bias"), List.copyOf(s.gradNorms().keySet()));
            for (double g : s.gradNorms().values()) {
                assertTrue(g >= 0 && Double.isFinite(g), s.gradNorms().toString());
            }
        }
        assertEquals(2, log.epochs().size());
        assertEquals(List.of(1, 2), log.epochs().stream().map(WatchLog.Epoch::epoch).toList());
        assertEquals(List.of("BatchNorm1d-3", "BatchNorm1d-6"), List.copyOf(log.epochs().get(1).gamma().keySet()));
        assertEquals(32, log.epochs().get(1).beta().get("BatchNorm1d-6").size());
        assertEquals(4, watch.stepsWatched());
    }

    @Test
    void watchingLeavesTrainingBitwiseIdentical() {
        Run plain = train(null, 2, null);
        Run watched = train(new TrainingWatch(1), 2, null);   // every step eager and read back
        Run sparse = train(new TrainingWatch(3), 2, null);    // eager and captured steps mixed
        for (Run other : List.of(watched, sparse)) {
            assertEquals(plain.state().keySet(), other.state().keySet());
            for (String name : plain.state().keySet()) {
                assertArrayEquals(plain.state().get(name), other.state().get(name), name);
            }
            for (int e = 0; e < 2; e++) {
                EpochRecord a = plain.history().records().get(e);
                EpochRecord b = other.history().records().get(e);
                assertEquals(a.trainLoss(), b.trainLoss());
                assertEquals(a.trainAcc(), b.trainAcc());
                assertEquals(a.testAcc(), b.testAcc());
            }
        }
    }

    @Test
    void firstStepMatchesAFloat64Reference() {
        // The batch of step 1 as the model saw it (input of layer 1, Linear), next to what the watch records.
        List<float[]> batch = new ArrayList<>();
        TrainingWatch watch = new TrainingWatch(1);
        Watcher both = new Watcher() {
            private long step;

            @Override
            public boolean watches(long s) {
                return watch.watches(s);
            }

            @Override
            public void beforeStep(long s, int epoch, Sequential model) {
                step = s;
                watch.beforeStep(s, epoch, model);
            }

            @Override
            public void beforeLayer(int index, Tensor input) {
                if (step == 1 && index == 1) {
                    batch.add(input.toArray());
                }
                watch.beforeLayer(index, input);
            }

            @Override
            public void afterBackward(Sequential model) {
                watch.afterBackward(model);
            }

            @Override
            public void afterStep(Sequential model) {
                watch.afterStep(model);
            }

            @Override
            public void afterEpoch(int epoch, Sequential model) {
                watch.afterEpoch(epoch, model);
            }
        };
        List<Map<String, float[]>> initial = new ArrayList<>();
        train(both, 1, initial);
        Map<String, float[]> w0 = initial.get(0);
        double[] x = toDouble(batch.get(0));                                                    // (64, 64)
        double[] h = Reference64.linear(x, 64, 64, toDouble(w0.get("1.weight")), 32, toDouble(w0.get("1.bias")));   // (64, 32)
        double[] mean = Reference64.channelMean(h, 64, 32, 1);
        double[] var = Reference64.channelVariance(h, 64, 32, 1);
        double[] y = Reference64.batchNormTrain(h, 64, 32, 1, ones(32), new double[32], 1e-5);

        WatchLog.Step first = watch.log().steps().get(0);
        assertEquals(1, first.step());
        WatchLog.Input bn = first.inputs().get("BatchNorm1d-3");
        assertPercentiles(h, bn, 1e-5);
        assertPercentiles(y, first.inputs().get("ReLU-4"), 1e-4);
        for (int c = 0; c < 32; c++) {
            assertEquals(mean[c], bn.batchMean().get(c), 1e-5 * (1 + Math.abs(mean[c])), "batch mean " + c);
            assertEquals(var[c], bn.batchVar().get(c), 1e-5 * var[c], "batch var " + c);
            // Running statistics after the first update (momentum 0.1, from 0 and 1; unbiased variance).
            assertEquals(0.1 * mean[c], bn.runningMean().get(c), 1e-5 * (1 + Math.abs(mean[c])), "running mean " + c);
            assertEquals(0.9 + 0.1 * var[c] * 64 / 63, bn.runningVar().get(c), 1e-5 * (1 + var[c]), "running var " + c);
        }
    }

    private static void assertPercentiles(double[] values, WatchLog.Input got, double tolerance) {
        double[] want = {PercentilesTest.reference(values, 0.15), PercentilesTest.reference(values, 0.50),
                PercentilesTest.reference(values, 0.85)};
        double scale = 1 + Math.abs(want[2] - want[0]);
        assertEquals(want[0], got.p15(), tolerance * scale, "p15");
        assertEquals(want[1], got.p50(), tolerance * scale, "p50");
        assertEquals(want[2], got.p85(), tolerance * scale, "p85");
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }

    private static double[] ones(int n) {
        double[] d = new double[n];
        java.util.Arrays.fill(d, 1);
        return d;
    }
}
