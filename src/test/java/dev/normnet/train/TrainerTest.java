package dev.normnet.train;

import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.backend.cpu.VectorCpuBackend;
import dev.normnet.data.DatasetSplits;
import dev.normnet.data.LabeledImages;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.optim.Adam;
import dev.normnet.optim.Optimizer;
import dev.normnet.optim.Sgd;
import dev.normnet.optim.StepLr;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Supplier;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TrainerTest {
    /**
     * Four classes of side x side images: noise in [0, 80), plus class k's quadrant lit in
     * [150, 256). Linearly separable, so any of the models should learn it.
     */
    static LabeledImages synthetic(int count, int side, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        byte[] px = new byte[count * side * side];
        byte[] labels = new byte[count];
        int half = side / 2;
        for (int i = 0; i < count; i++) {
            int k = r.nextInt(4);
            labels[i] = (byte) k;
            int y0 = (k / 2) * half;
            int x0 = (k % 2) * half;
            for (int y = 0; y < side; y++) {
                for (int x = 0; x < side; x++) {
                    boolean lit = y >= y0 && y < y0 + half && x >= x0 && x < x0 + half;
                    int v = lit ? 150 + r.nextInt(106) : r.nextInt(80);
                    px[i * side * side + y * side + x] = (byte) v;
                }
            }
        }
        return new LabeledImages(px, labels, count, side, side);
    }

    private static History train(long seed, int epochs, List<Map<String, float[]>> stateOut) {
        try (CpuBackend backend = new CpuBackend(2)) {
            Sequential model = Models.create("mlp-bn", ModelOptions.defaults().withResize(8)).build(seed);
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).optMomentum(0.9f).build())
                    .optScheduler(new StepLr(2, 0.9f)).optBatchSize(64).optSeed(seed).optGraph(true).build();
            DatasetSplits data = new DatasetSplits(synthetic(600, 8, 1), synthetic(200, 8, 2));
            History h = trainer.fit(data, epochs, null);
            if (stateOut != null) {
                stateOut.add(model.state());
            }
            trainer.close();
            model.close();
            return h;
        }
    }

    @Test
    void learnsASeparableProblem() {
        History h = train(3, 4, null);
        assertEquals(4, h.records().size());
        EpochRecord last = h.last();
        assertTrue(last.testAcc() > 0.9, "test accuracy " + last.testAcc() + " (chance is 0.25)");
        assertTrue(last.trainAcc() > 0.9, "train accuracy " + last.trainAcc());
        assertTrue(last.trainLoss() < h.records().get(0).trainLoss(), "loss should fall: " + h.toString());
        assertTrue(last.examplesPerSec() > 0 && last.seconds() > 0);
        for (int i = 0; i < 4; i++) {
            assertEquals(i + 1, h.records().get(i).epoch());
        }
    }

    @Test
    void aNonFiniteWeightStopsTrainingAtTheFirstStepNamingTheLayer() {
        try (CpuBackend backend = new CpuBackend(1)) {
            Sequential model = Models.create("mlp", ModelOptions.defaults().withResize(8)).build(1);
            Map<String, float[]> state = model.state();
            state.get("3.weight")[5] = Float.POSITIVE_INFINITY;   // 0 Flatten 1 Linear 2 ReLU 3 Linear ...
            model.loadState(state);
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).build()).optBatchSize(64).optSeed(1).build();
            DivergedException e = assertThrows(DivergedException.class,
                    () -> trainer.fit(synthetic(600, 8, 1), synthetic(200, 8, 2), 2, null));
            assertEquals(1, e.epoch());
            assertEquals(1, e.step());
            assertEquals(0, e.history().records().size());
            assertEquals("training diverged in epoch 1 at step 1: the loss is NaN; first non-finite: the output of layer 3 (Linear)",
                    e.getMessage());
            trainer.close();
            model.close();
        }
    }

    @Test
    void sameSeedGivesTheSameBits() {
        List<Map<String, float[]>> a = new ArrayList<>();
        List<Map<String, float[]>> b = new ArrayList<>();
        List<Map<String, float[]>> c = new ArrayList<>();
        History ha = train(5, 2, a);
        History hb = train(5, 2, b);
        History hc = train(6, 2, c);
        for (int i = 0; i < 2; i++) {
            assertEquals(ha.records().get(i).trainLoss(), hb.records().get(i).trainLoss());
            assertEquals(ha.records().get(i).testAcc(), hb.records().get(i).testAcc());
        }
        for (String k : a.get(0).keySet()) {
            assertArrayEquals(a.get(0).get(k), b.get(0).get(k), k);
        }
        assertFalse(java.util.Arrays.equals(a.get(0).get("1.weight"), c.get(0).get("1.weight")), "another seed, another run");
    }

    @Test
    void steadyStateTrainingAndEvaluationAllocateNothing() {
        CountingBackend backend = new CountingBackend(new CpuBackend(2));
        // LeNet-BN exercises conv, BatchNorm 2-D and 1-D, pooling and the Flatten view; 130 images
        // in batches of 32 leave a last batch of 2 with its own plan; 50 test images a last batch of 18.
        Sequential model = Models.create("lenet-bn", ModelOptions.defaults()).build(1);
        Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                .setOptimizer(Adam.builder().setLearningRate(0.01f).build())
                .optScheduler(new StepLr(1, 0.5f)).optBatchSize(32).optSeed(1).optGraph(true).build();
        List<EpochRecord> seen = new ArrayList<>();
        int[] batchesSeen = new int[1];
        EpochListener armAfterFirstEpoch = new EpochListener() {
            @Override
            public void onEpoch(EpochRecord record) {
                seen.add(record);
                if (record.epoch() == 1) {
                    assertTrue(backend.allocations > 0);
                    backend.forbidAllocation();
                }
            }

            @Override
            public void onBatch(int epoch, int batch, int batches) {
                batchesSeen[0]++;
                assertEquals(5, batches);
            }
        };
        LabeledImages test = synthetic(50, 28, 4);
        History h = trainer.fit(synthetic(130, 28, 3), test, 3, armAfterFirstEpoch);
        assertEquals(3, seen.size());
        assertEquals(15, batchesSeen[0]);
        // Two training steps (32 and 2) and two evaluation steps (32 and 18), each captured once.
        assertEquals(4, backend.captures);
        // Evaluating the test set again still allocates nothing.
        double acc = trainer.evaluate(test);
        assertTrue(acc >= 0 && acc <= 1);
        assertTrue(h.last().trainLoss() < h.records().get(0).trainLoss(), h.toString());
        trainer.close();
        model.close();
        backend.close();
    }

    @Test
    void lastBatchOfOneWithBatchNormIsRefusedUpFront() {
        try (CpuBackend backend = new CpuBackend(2)) {
            Sequential model = Models.create("mlp-bn", ModelOptions.defaults().withResize(8)).build(1);
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).build()).optBatchSize(16).build();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> trainer.fit(synthetic(33, 8, 1), null, 1, null));
            assertTrue(e.getMessage().contains("expected more than 1 value per channel")
                    && e.getMessage().contains("layer 2 (BatchNorm1d)"), e.getMessage());
            Trainer ones = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).build()).optBatchSize(1).build();
            assertThrows(IllegalArgumentException.class, () -> ones.fit(synthetic(4, 8, 1), null, 1, null));
            // With drop-last the same data trains.
            Trainer dropping = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).build()).optBatchSize(16).optDropLast(true).build();
            History h = dropping.fit(synthetic(33, 8, 1), null, 1, null);
            assertTrue(Double.isNaN(h.last().testAcc()));
        }
    }

    @Test
    void buildsAnUnbuiltModelAndResizesOnTheDevice() {
        try (CpuBackend backend = new CpuBackend(2)) {
            // 8 x 8 images, model input 12 x 12: gatherBatch resizes every batch.
            Sequential model = Models.create("mlp-bn", ModelOptions.defaults().withResize(12));
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Adam.builder().setLearningRate(0.01f).build()).optBatchSize(50).optSeed(4).build();
            LabeledImages test = synthetic(200, 8, 2);
            History h = trainer.fit(synthetic(600, 8, 1), test, 3, null);
            assertTrue(model.isBuilt());
            assertEquals(dev.normnet.tensor.Shape.of(1, 12, 12), model.inputShape());
            assertTrue(h.last().testAcc() > 0.9, h.toString());
            double[] lossAndAcc = trainer.evaluateLossAndAccuracy(test);
            assertEquals(h.last().testAcc(), lossAndAcc[1]);
            assertTrue(lossAndAcc[0] > 0 && lossAndAcc[0] < h.records().get(0).trainLoss(), h.toString());
            trainer.close();
        }
    }

    /**
     * The warm-up trains a copy of the model: on the fast CPU path it is meant for, LeNet-BN trains
     * to the same history, weights, running statistics and optimizer state, bit for bit, without a
     * warm-up, with the one fit runs by itself, and with one asked for first and one fit per epoch
     * (as {@code normnet train} does).
     */
    @Test
    void aWarmUpChangesNoBit() {
        List<Supplier<Optimizer>> optimizers = List.of(() -> Sgd.builder().setLearningRate(0.5f).optMomentum(0.9f).build(),
                () -> Adam.builder().setLearningRate(0.01f).build());
        for (Supplier<Optimizer> optimizer : optimizers) {
            Outcome cold = lenetRun(optimizer.get(), 0, false);
            Outcome warm = lenetRun(optimizer.get(), 30, false);
            Outcome warmFirst = lenetRun(optimizer.get(), 30, true);
            assertEquals(Warmup.NONE, cold.warmup());
            // 130 images in batches of 32: the step cap (one epoch, 5 steps) ends the training steps.
            for (Outcome o : List.of(warm, warmFirst)) {
                assertEquals(5, o.warmup().trainSteps(), o.warmup().toString());
                assertEquals(Trainer.WARMUP_EVAL_STEPS, o.warmup().evalSteps(), o.warmup().toString());
                assertTrue(o.warmup().seconds() > 0, o.warmup().toString());
                assertEquals(3, o.history().records().size());
                for (int i = 0; i < 3; i++) {
                    EpochRecord a = cold.history().records().get(i);
                    EpochRecord b = o.history().records().get(i);
                    assertEquals(a.epoch(), b.epoch());
                    assertEquals(a.trainLoss(), b.trainLoss(), "train loss, epoch " + a.epoch());
                    assertEquals(a.trainAcc(), b.trainAcc(), "train accuracy, epoch " + a.epoch());
                    assertEquals(a.testAcc(), b.testAcc(), "test accuracy, epoch " + a.epoch());
                }
                assertSameState(cold.model(), o.model());
                assertSameState(cold.optimizer(), o.optimizer());
            }
        }
    }

    private record Outcome(Warmup warmup, History history, Map<String, float[]> model, Map<String, float[]> optimizer) {
    }

    /** LeNet-BN on the fast CPU path, 130 images in batches of 32, 50 test images, three epochs of one fit each. */
    private static Outcome lenetRun(Optimizer optimizer, double warmup, boolean warmUpFirst) {
        try (VectorCpuBackend backend = new VectorCpuBackend(2);
             Sequential model = Models.create("lenet-bn", ModelOptions.defaults()).build(3)) {
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend).setOptimizer(optimizer)
                    .optScheduler(new StepLr(1, 0.5f)).optBatchSize(32).optSeed(11).optWarmup(warmup).build();
            LabeledImages train = synthetic(130, 28, 3);
            LabeledImages test = synthetic(50, 28, 4);
            Warmup first = warmUpFirst ? trainer.warmUp(train, test) : null;
            History h = new History();
            for (int e = 0; e < 3; e++) {
                h.add(trainer.fit(train, test, 1, null).last());
            }
            Warmup done = trainer.warmUp(train, test);
            if (first != null) {
                assertTrue(first == done, "the warm-up runs once");
            }
            Outcome o = new Outcome(done, h, model.state(), trainer.optimizer().state());
            trainer.close();
            return o;
        }
    }

    @Test
    void warmUpSecondsOutsideZeroTo600AreRefusedByName() {
        Sequential model = Models.create("mlp-bn", ModelOptions.defaults().withResize(8));
        try (CpuBackend backend = new CpuBackend(1)) {
            Supplier<Trainer.Builder> builder = () -> Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).build());
            for (double bad : new double[] {-1, -1e-9, 600.5, Double.NaN, Double.POSITIVE_INFINITY}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> builder.get().optWarmup(bad).build(), "warm-up " + bad);
                assertEquals("Trainer: warm-up must be from 0 to 600 seconds, got " + bad, e.getMessage());
            }
            builder.get().optWarmup(0).build().close();
            builder.get().optWarmup(600).build().close();
        }
    }

    /** Without a warm-up nothing changes: fit and warmUp run no throwaway step. */
    @Test
    void noWarmUpIsTheDefault() {
        try (CpuBackend backend = new CpuBackend(1);
             Sequential model = Models.create("mlp-bn", ModelOptions.defaults().withResize(8)).build(1)) {
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.1f).build()).optBatchSize(32).build();
            LabeledImages train = synthetic(64, 8, 1);
            trainer.fit(train, null, 1, null);
            assertEquals(Warmup.NONE, trainer.warmUp(train, null));
            trainer.close();
        }
    }

    /**
     * Four epochs in one go, and two epochs, then two more in a new trainer over a new model (built
     * from another seed, then given the saved state) on a new backend: the same weights, running
     * statistics, optimizer state and per-epoch losses and accuracies, bit for bit. StepLr(1, 0.5)
     * changes the learning rate at every epoch, so the restored epoch count must drive it.
     */
    @Test
    void aRunResumedAfterTwoEpochsEndsBitForBitAsAnUninterruptedOne() {
        assertResumeIsExact(() -> Sgd.builder().setLearningRate(0.1f).optMomentum(0.9f).build(), 0);
        assertResumeIsExact(() -> Adam.builder().setLearningRate(0.01f).build(), 0);
    }

    /** The same, with a warm-up before the resumed epochs (a new process is cold again). */
    @Test
    void aRunResumedWithAWarmUpEndsBitForBitAsAnUninterruptedOneWithout() {
        assertResumeIsExact(() -> Sgd.builder().setLearningRate(0.1f).optMomentum(0.9f).build(), 30);
        assertResumeIsExact(() -> Adam.builder().setLearningRate(0.01f).build(), 30);
    }

    private static void assertResumeIsExact(Supplier<Optimizer> optimizer, double resumedWarmup) {
        DatasetSplits data = new DatasetSplits(synthetic(600, 8, 1), synthetic(200, 8, 2));
        Run whole = Run.start(5, optimizer.get(), 0);
        History all = whole.trainer.fit(data, 4, null);
        Run first = Run.start(5, optimizer.get(), 0);
        first.trainer.fit(data, 2, null);
        Map<String, float[]> model = first.model.state();
        Map<String, float[]> opt = first.trainer.optimizer().state();
        int done = first.trainer.epochsDone();
        first.close();

        Run second = Run.start(99, optimizer.get(), resumedWarmup);
        second.model.loadState(model);
        second.trainer.restore(done, opt);
        assertEquals(resumedWarmup > 0, second.trainer.warmUp(data.train(), data.test()).ran());
        History rest = second.trainer.fit(data, 2, null);
        assertEquals(4, second.trainer.epochsDone());
        for (int i = 0; i < 2; i++) {
            EpochRecord a = all.records().get(i + 2);
            EpochRecord b = rest.records().get(i);
            assertEquals(a.epoch(), b.epoch());
            assertEquals(a.trainLoss(), b.trainLoss(), "train loss, epoch " + a.epoch());
            assertEquals(a.trainAcc(), b.trainAcc(), "train accuracy, epoch " + a.epoch());
            assertEquals(a.testAcc(), b.testAcc(), "test accuracy, epoch " + a.epoch());
        }
        assertSameState(whole.model.state(), second.model.state());
        assertSameState(whole.trainer.optimizer().state(), second.trainer.optimizer().state());
        whole.close();
        second.close();
    }

    private static void assertSameState(Map<String, float[]> a, Map<String, float[]> b) {
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) {
            assertArrayEquals(a.get(k), b.get(k), k);
        }
    }

    /** MLP-BN on 8 x 8 images, batch 64 (600 images: a last batch of 24), StepLr(1, 0.5), shuffle seed 7. */
    private record Run(CpuBackend backend, Sequential model, Trainer trainer) {
        static Run start(long initSeed, Optimizer optimizer, double warmup) {
            CpuBackend backend = new CpuBackend(2);
            Sequential model = Models.create("mlp-bn", ModelOptions.defaults().withResize(8)).build(initSeed);
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend).setOptimizer(optimizer)
                    .optScheduler(new StepLr(1, 0.5f)).optBatchSize(64).optSeed(7).optGraph(true).optWarmup(warmup).build();
            return new Run(backend, model, trainer);
        }

        void close() {
            trainer.close();
            model.close();
            backend.close();
        }
    }
}
