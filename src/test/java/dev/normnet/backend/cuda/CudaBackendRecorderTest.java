package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.backend.Activation;
import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.backend.ResidentImages;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The CUDA backend's host side without a GPU: every op runs on a {@link LaunchRecorder}, which
 * checks each launch's argument types against the parameter lists nvcc compiled
 * (normnet.kernels) and its grid against CUDA's limits. The tests then check that the grids
 * cover the work, that the dry run before a capture launches nothing, that kernels are looked up
 * only when the backend is built, and that every compiled kernel is exercised.
 */
class CudaBackendRecorderTest {
    private LaunchRecorder recorder;
    private CudaBackend be;

    @BeforeEach
    void open() {
        recorder = new LaunchRecorder();
        be = recorder.newBackend();
    }

    @AfterEach
    void close() {
        be.close();
    }

    private Tensor t(int... dims) {
        return be.allocate(Shape.of(dims));
    }

    private List<LaunchRecorder.Launch> launches(String kernel) {
        return recorder.recorded().stream().filter(l -> l.kernel().equals(kernel)).collect(Collectors.toList());
    }

    private LaunchRecorder.Launch only(String kernel) {
        List<LaunchRecorder.Launch> l = launches(kernel);
        assertEquals(1, l.size(), kernel + " launches: " + recorder.recorded());
        return l.get(0);
    }

    /** Runs every op at LeNet-BN sizes (batch 256) plus odd sizes. */
    private void runEveryOp() {
        int n = 256;
        ConvSpec pad2 = new ConvSpec(1, 2);
        ConvSpec pad0 = new ConvSpec(1, 0);
        PoolSpec pool = new PoolSpec(2, 2, 0);
        Tensor x = t(n, 1, 28, 28);
        Tensor w1 = t(6, 1, 5, 5);
        Tensor b1 = t(6);
        Tensor y1 = t(n, 6, 28, 28);
        be.conv2dForward(x, w1, b1, y1, pad2);
        be.conv2dBackwardData(y1, w1, x, pad2);
        be.conv2dBackwardFilter(x, y1, w1, b1, pad2);
        Tensor x2 = t(n, 6, 14, 14);
        Tensor w2 = t(16, 6, 5, 5);
        Tensor y2 = t(n, 16, 10, 10);
        be.conv2dForward(x2, w2, null, y2, pad0);
        be.conv2dBackwardData(y2, w2, x2, pad0);
        be.conv2dBackwardFilter(x2, y2, w2, null, pad0);
        Tensor x3 = t(2, 16, 9, 9);
        Tensor w3 = t(5, 16, 3, 3);
        Tensor y3 = t(2, 5, 7, 7);
        be.conv2dBackwardData(y3, w3, x3, pad0);
        Tensor c6 = t(6);
        be.batchNormForwardTrain(y1, c6, c6, c6, c6, y1, c6, c6, 0.1f, 1e-5f);
        be.batchNormForwardEval(y1, c6, c6, c6, c6, y1, 1e-5f);
        be.batchNormBackward(y1, y1, c6, c6, c6, y1, c6, c6);
        Tensor h = t(n, 120);
        Tensor c120 = t(120);
        be.batchNormForwardTrain(h, c120, c120, c120, c120, h, c120, c120, 0.1f, 1e-5f);
        be.batchNormBackward(h, h, c120, c120, c120, h, c120, c120);
        Tensor a1 = t(n, 6, 28, 28);
        be.batchNormActivationPoolForwardTrain(y1, c6, c6, c6, c6, a1, c6, c6, 0.1f, 1e-5f, t(1), Activation.SIGMOID, pool,
                x2);
        be.batchNormActivationPoolForwardEval(y1, c6, c6, c6, c6, a1, 1e-5f, Activation.SIGMOID, pool, x2);
        be.batchNormActivationPoolBackward(y1, a1, x2, pool, Activation.SIGMOID, c6, c6, c6, t(n, 6, 28, 28), c6, c6);
        be.avgPool2dForward(y1, x2, pool);
        be.avgPool2dBackward(x2, y1, pool);
        be.maxPool2dForward(y1, x2, pool);
        be.maxPool2dBackward(y1, x2, y1, pool);
        be.sigmoidForward(y1, y1);
        be.sigmoidBackward(y1, y1, y1);
        be.reluForward(y1, y1);
        be.reluBackward(y1, y1, y1);
        Tensor flat = t(n, 256);
        Tensor fw = t(120, 256);
        be.linearForward(flat, fw, c120, h);
        be.linearBackwardData(h, fw, flat);
        be.linearBackwardWeight(flat, h, fw, c120);
        be.linearBackward(flat, h, fw, t(n, 256), t(120, 256), t(120));
        Tensor bigX = t(16, 3000);
        Tensor bigW = t(10, 3000);
        Tensor bigY = t(16, 10);
        be.linearForward(bigX, bigW, t(10), bigY);  // split-K
        Tensor logits = t(n, 10);
        Tensor labels = t(n);
        Tensor metrics = t(2);
        be.softmaxCrossEntropy(logits, labels, logits, metrics);
        Tensor params = t(1000);
        Tensor hyper = t(2);
        be.sgdStep(params, params, params, hyper, 0.9f, 0f);
        be.sgdStep(params, params, null, hyper, 0f, 0f);
        be.adamStep(params, params, params, params, hyper, 0.9f, 0.999f, 1e-8f, 0f);
        be.fill(params, 1f);
        be.copy(params, params);
        be.addScalar(hyper, 1, 1f);
        try (ResidentImages images = be.uploadImages(new byte[10 * 28 * 28], new byte[10], 10, 28, 28)) {
            be.gatherBatch(images, t(10), t(1), t(4, 1, 32, 32), t(4));
        }
    }

    @Test
    void everyLaunchMatchesItsKernelsParameters() {
        Assumptions.assumeFalse(CudaDevice.readSignatures().isEmpty(), "the build had no nvcc, so no normnet.kernels");
        runEveryOp();
        Set<String> compiled = new TreeSet<>(CudaDevice.readSignatures().keySet());
        Set<String> launched = recorder.recorded().stream().map(LaunchRecorder.Launch::kernel).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(compiled, launched, "every compiled kernel is launched by some op, and only those");
    }

    @Test
    void batchNormCountsItsBatchInTheStatisticsLaunch() {
        Tensor x = t(8, 6, 5, 5);
        Tensor c6 = t(6);
        be.batchNormForwardTrain(x, c6, c6, c6, c6, x, c6, c6, 0.1f, 1e-5f, t());
        assertEquals(List.of("batchnorm_stats_normalize"), kernels(),
                "200 values per channel, one block each: one launch, num_batches_tracked counted in it");
        Tensor large = t(8, 6, 25, 25);
        be.batchNormForwardTrain(large, c6, c6, c6, c6, large, c6, c6, 0.1f, 1e-5f, t());
        assertEquals(List.of("batchnorm_stats", "batchnorm_normalize"), kernels(),
                "5,000 values per channel, two blocks each: num_batches_tracked rides on the statistics launch");
        be.batchNormBackward(x, x, c6, c6, c6, x, c6, c6);
        assertEquals(List.of("batchnorm_backward_reduce_dx"), kernels(), "one block per channel: one launch");
        be.batchNormBackward(large, large, c6, c6, c6, large, c6, c6);
        assertEquals(List.of("batchnorm_backward_reduce", "batchnorm_backward_dx"), kernels());
        IllegalArgumentException empty = assertThrows(IllegalArgumentException.class,
                () -> be.batchNormForwardTrain(x, c6, c6, c6, c6, x, c6, c6, 0.1f, 1e-5f, t(0)));
        assertTrue(empty.getMessage().startsWith("batchNormForwardTrain: index 0 outside"), empty.getMessage());
        assertThrows(NullPointerException.class, () -> be.batchNormForwardTrain(x, c6, c6, c6, c6, x, c6, c6, 0.1f, 1e-5f, null));
    }

    private List<String> kernels() {
        List<String> k = recorder.recorded().stream().map(LaunchRecorder.Launch::kernel).collect(Collectors.toList());
        recorder.recorded().clear();
        return k;
    }

    /**
     * The linear layer's backward is one launch whose grid is the tiles of dw, then of dx, then
     * the 256-column blocks of db; when a product would split its sum, or an output overlaps an
     * input, the ops one after the other; bad shapes are refused before any launch.
     */
    @Test
    void theLinearBackwardIsOneLaunchUnlessAProductSplits() {
        Tensor x = t(256, 400);     // LeNet's fc1 at batch 256
        Tensor dy = t(256, 120);
        Tensor w = t(120, 400);
        Tensor dx = t(256, 400);
        Tensor dw = t(120, 400);
        Tensor db = t(120);
        be.linearBackward(x, dy, w, dx, dw, db);
        LaunchRecorder.Launch one = only("linear_backward");
        assertEquals(List.of(7 * 2 + 7 * 4 + 1, 1, 1, 256), List.of(one.gx(), one.gy(), one.gz(), one.threads()),
                "dw's 2x7 tiles, dx's 4x7, db's one block");
        assertEquals(List.of("linear_backward"), kernels());
        be.linearBackward(x, dy, null, null, dw, db);
        assertEquals(7 * 2 + 1, only("linear_backward").gx(), "no dx (a first layer): no dx tiles, w not needed");
        kernels();
        be.linearBackward(x, dy, w, null, dw, null);
        assertEquals(7 * 2, only("linear_backward").gx(), "no bias either");
        kernels();
        Tensor wide = t(300);
        be.linearBackward(t(5, 70), t(5, 300), t(300, 70), t(5, 70), t(300, 70), wide);
        assertEquals(2 * 5 + 2 * 1 + 2, only("linear_backward").gx(), "db over two blocks of 256 columns");
        kernels();
        // dw (10, 30) over a batch of 2048: one tile, so its sum is split over the grid's z and merged
        be.linearBackward(t(2048, 30), t(2048, 10), t(10, 30), t(2048, 30), t(10, 30), t(10));
        assertEquals(List.of("sgemm_strided", "partials_merge_serial", "column_sum", "sgemm_strided"), kernels());
        be.linearBackward(x, dy, w, x, dw, db);     // dx over x: other blocks would read what it writes
        assertEquals(List.of("sgemm_strided", "column_sum", "sgemm_strided"), kernels());
        be.linearBackward(x, dy, w, dx, dw, x.view(0, Shape.of(120)));     // db over x: the same
        assertEquals(List.of("sgemm_strided", "column_sum", "sgemm_strided"), kernels());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> be.linearBackward(x, dy, t(120, 300), t(256, 300), dw, db));
        assertTrue(e.getMessage().startsWith("linearBackward: x [256, 400] and w [120, 300] disagree"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> be.linearBackward(x, dy, w, dx, t(120, 300), db));
        assertEquals(List.of(), kernels(), "nothing launched for bad shapes");
    }

    /**
     * An output that shares memory with an input another block reads (or with another output) is
     * refused before anything is launched: the GEMM tiles would read what other tiles overwrite.
     * The loss may write its gradient over the logits: each lane writes only what it read.
     */
    @Test
    void overlappingOutputsAreRefusedWhereTheKernelsWouldRace() {
        Tensor big = t(2 * 256 * 400);
        Tensor x = big.view(0, Shape.of(256, 400));
        Tensor dyOverX = big.view(1000, Shape.of(256, 120));     // inside x
        Tensor dy = t(256, 120);
        Tensor w = t(120, 400);
        Tensor dw = t(120, 400);
        Tensor db = t(120);
        Tensor dxOverDy = big.view(256 * 400, Shape.of(256, 400)); // dy's storage is not this one
        String message = assertThrows(IllegalArgumentException.class,
                () -> be.linearForward(x, w, null, dyOverX)).getMessage();
        assertEquals("linearForward: y [256, 120] shares memory with x [256, 400]; an output must not overlap an input"
                + " or another output", message);
        Tensor sharedDy = big.view(256 * 400, Shape.of(256, 120));
        message = assertThrows(IllegalArgumentException.class,
                () -> be.linearBackward(x, sharedDy, w, dxOverDy, dw, db)).getMessage();
        assertTrue(message.startsWith("linearBackward: dx [256, 400] shares memory with dy [256, 120]"), message);
        message = assertThrows(IllegalArgumentException.class,
                () -> be.linearBackward(x, dy, w, t(256, 400), w, db)).getMessage();
        assertTrue(message.startsWith("linearBackward: dw [120, 400] shares memory with w [120, 400]"), message);
        message = assertThrows(IllegalArgumentException.class,
                () -> be.linearBackwardWeight(x, dy, big.view(0, Shape.of(120, 400)), db)).getMessage();
        assertTrue(message.startsWith("linearBackwardWeight: dw [120, 400] shares memory with x [256, 400]"), message);
        Tensor both = t(120 * 400 + 120);
        message = assertThrows(IllegalArgumentException.class, () -> be.linearBackwardWeight(x, dy,
                both.view(0, Shape.of(120, 400)), both.view(120 * 400 - 1, Shape.of(120)))).getMessage();
        assertTrue(message.startsWith("linearBackwardWeight: db [120] shares memory with dw [120, 400]"), message);
        message = assertThrows(IllegalArgumentException.class,
                () -> be.linearBackwardData(dyOverX, w, x)).getMessage();
        assertTrue(message.startsWith("linearBackwardData: dx [256, 400] shares memory with dy [256, 120]"), message);
        Tensor logits = t(16, 10);
        Tensor metrics = t(2);
        message = assertThrows(IllegalArgumentException.class,
                () -> be.softmaxCrossEntropy(logits, t(16), logits, logits.view(0, Shape.of(2)))).getMessage();
        assertTrue(message.startsWith("softmaxCrossEntropy: dlogits [16, 10] shares memory with metrics [2]"), message);
        Tensor rows = t(17, 10);
        message = assertThrows(IllegalArgumentException.class, () -> be.softmaxCrossEntropy(rows.view(0, Shape.of(16, 10)),
                t(16), rows.view(10, Shape.of(16, 10)), metrics)).getMessage();
        assertTrue(message.startsWith("softmaxCrossEntropy: dlogits [16, 10] overlaps logits [16, 10] without being the same"),
                message);
        assertEquals(List.of(), kernels(), "nothing launched");
        be.softmaxCrossEntropy(logits, t(16), logits, metrics);    // in place: allowed
        assertEquals(List.of("softmax_ce"), kernels());
    }

    /**
     * An average pooling whose windows tile the plane rides on the batch norm's launches (the
     * normalizing pass writes y and the pooled output; the backward passes read the pooled
     * gradient); any other pooling runs as its own ops; misuse is refused with the op's name.
     */
    @Test
    void aPoolThatTilesRidesOnTheBatchNormLaunches() {
        // 32 x 12 x 12 = 4,608 values per channel: two blocks each (one would run the one-launch kernels)
        Tensor x = t(32, 6, 12, 12);
        Tensor y = t(32, 6, 12, 12);
        Tensor dx = t(32, 6, 12, 12);
        Tensor c6 = t(6);
        for (int k : new int[] {2, 3, 4}) {
            PoolSpec tiles = new PoolSpec(k, k, 0);
            Tensor pooled = t(32, 6, 12 / k, 12 / k);
            be.batchNormActivationPoolForwardTrain(x, c6, c6, c6, c6, y, c6, c6, 0.1f, 1e-5f, t(1), Activation.SIGMOID,
                    tiles, pooled);
            assertEquals(List.of("batchnorm_stats", "batchnorm_normalize_pool"), kernels(), "k " + k);
            be.batchNormActivationPoolForwardEval(x, c6, c6, c6, c6, y, 1e-5f, Activation.RELU, tiles, pooled);
            assertEquals(List.of("batchnorm_normalize_pool"), kernels(), "k " + k);
            be.batchNormActivationPoolBackward(x, y, pooled, tiles, Activation.IDENTITY, c6, c6, c6, dx, c6, c6);
            assertEquals(List.of("batchnorm_backward_reduce", "batchnorm_backward_dx"), kernels(), "k " + k);
        }
        // Overlapping windows, and windows that leave a row over: the ops one after the other.
        for (PoolSpec other : new PoolSpec[] {new PoolSpec(3, 2, 0), new PoolSpec(5, 5, 0), new PoolSpec(2, 2, 1)}) {
            Tensor pooled = t(32, 6, other.outSize(12), other.outSize(12));
            be.batchNormActivationPoolForwardTrain(x, c6, c6, c6, c6, y, c6, c6, 0.1f, 1e-5f, t(1), Activation.SIGMOID,
                    other, pooled);
            assertEquals(List.of("batchnorm_stats", "batchnorm_normalize", "avg_pool2d_forward"), kernels(),
                    other.toString());
            be.batchNormActivationPoolBackward(x, y, pooled, other, Activation.SIGMOID, c6, c6, c6, dx, c6, c6);
            assertEquals(List.of("avg_pool2d_backward", "batchnorm_backward_reduce", "batchnorm_backward_dx"), kernels(),
                    other.toString());
        }
        PoolSpec two = new PoolSpec(2, 2, 0);
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                () -> be.batchNormActivationPoolForwardEval(x, c6, c6, c6, c6, y, 1e-5f, Activation.RELU, two,
                        t(32, 6, 5, 6)));
        assertTrue(shape.getMessage().startsWith("batchNormActivationPoolForwardEval: y [32, 6, 12, 12]")
                && shape.getMessage().contains("pooled"), shape.getMessage());
        IllegalArgumentException trainShape = assertThrows(IllegalArgumentException.class,
                () -> be.batchNormActivationPoolForwardTrain(x, c6, c6, c6, c6, y, c6, c6, 0.1f, 1e-5f, t(1),
                        Activation.SIGMOID, two, t(32, 6, 6, 5)));
        assertTrue(trainShape.getMessage().startsWith("batchNormActivationPoolForwardTrain: y [32, 6, 12, 12]"),
                trainShape.getMessage());
        Tensor big = t(32 * 6 * 12 * 12);
        Tensor dxOverPooled = big.view(0, Shape.of(32, 6, 12, 12));
        Tensor dPooled = big.view(32 * 6 * 12 * 12 - 32 * 6 * 36, Shape.of(32, 6, 6, 6));
        IllegalArgumentException alias = assertThrows(IllegalArgumentException.class,
                () -> be.batchNormActivationPoolBackward(x, y, dPooled, two, Activation.SIGMOID, c6, c6, c6,
                        dxOverPooled, c6, c6));
        assertEquals("batchNormActivationPoolBackward: dx must not be dPooled", alias.getMessage());
        IllegalArgumentException yShape = assertThrows(IllegalArgumentException.class,
                () -> be.batchNormActivationPoolBackward(x, t(32, 6, 12, 10), t(32, 6, 6, 5), two, Activation.SIGMOID, c6,
                        c6, c6, dx, c6, c6));
        assertTrue(yShape.getMessage().startsWith("batchNormActivationPoolBackward: expected x"), yShape.getMessage());
        assertTrue(recorder.recorded().isEmpty(), "nothing launched by a refused op: " + recorder.recorded());
    }

    @Test
    void gridsCoverTheWork() {
        runEveryOp();
        // conv1 forward: P*Q = 784 pixels per thread row, K = 6 in one block of 6 channels, the batch on z
        LaunchRecorder.Launch conv = only("conv2d_forward_cb6");
        assertEquals(LaunchGeometry.convThreads(28 * 28), conv.threads());
        assertTrue(conv.gx() * conv.threads() >= 28 * 28);
        assertEquals(1, conv.gy());
        assertEquals(256, conv.gz());
        assertEquals(1 * 25 * 6 * Float.BYTES, conv.sharedBytes(), "one input channel of 6 filters");
        LaunchRecorder.Launch conv2 = only("conv2d_forward");
        assertEquals(2, conv2.gy(), "16 output channels in blocks of 8");
        assertEquals(6 * 25 * 8 * Float.BYTES, conv2.sharedBytes(), "6 input channels of 8 filters");
        // backward-data: conv1 (C = 1) and conv2 (C = 6) six channels per thread, C = 16 eight
        List<LaunchRecorder.Launch> narrow = launches("conv2d_backward_data_cb6");
        assertEquals(2, narrow.size(), narrow.toString());
        LaunchRecorder.Launch data = narrow.get(0);
        assertTrue(data.gx() * data.threads() >= 28 * 28);
        assertEquals(1, data.gy());
        assertEquals(6 * 25 * 6 * Float.BYTES, data.sharedBytes(), "6 output channels of 1 input channel, padded to 6");
        LaunchRecorder.Launch data2 = narrow.get(1);
        assertEquals(1, data2.gy(), "6 input channels in one block of 6");
        assertEquals(16 * 25 * 6 * Float.BYTES, data2.sharedBytes());
        LaunchRecorder.Launch data3 = only("conv2d_backward_data");
        assertEquals(2, data3.gy(), "16 input channels in blocks of 8");
        assertEquals(5 * 9 * 8 * Float.BYTES, data3.sharedBytes());
        LaunchRecorder.Launch filter = launches("conv2d_backward_filter_partial").get(0);
        LaunchGeometry.Split split = LaunchGeometry.filterSplit(156, 256L * 28 * 28);
        assertEquals(1, filter.gx());
        assertEquals(160, filter.threads(), "156 sums in five warps");
        assertEquals(split.groups(), filter.gy());
        // batch norm after conv1: (G, C) blocks
        LaunchRecorder.Launch stats = launches("batchnorm_stats").get(0);
        assertEquals(LaunchGeometry.batchNormSplit(256L * 784).groups(), stats.gx());
        assertEquals(6, stats.gy());
        assertEquals(LaunchGeometry.REDUCE_THREADS, stats.threads(), "the merge's tree needs a power of two");
        LaunchRecorder.Launch reduce = launches("batchnorm_backward_reduce").get(0);
        assertEquals(stats.gx(), reduce.gx());
        assertEquals(6, reduce.gy());
        assertEquals(LaunchGeometry.REDUCE_THREADS, reduce.threads());
        // GEMM: y (256, 120) is 4 x 2 tiles of 64; the 16 x 10 output with k = 3000 is split
        LaunchRecorder.Launch gemm = launches("sgemm_strided").get(0);
        assertEquals(2, gemm.gx());
        assertEquals(4, gemm.gy());
        assertEquals(1, gemm.gz());
        LaunchRecorder.Launch splitK = launches("sgemm_strided").get(3);
        assertEquals(LaunchGeometry.gemmSplit(16, 10, 3000).groups(), splitK.gz());
        assertTrue(splitK.gz() > 1);
        // softmax: 8 rows per block of 256 threads (the last block's merge tree needs a power of two)
        LaunchRecorder.Launch rows = only("softmax_ce");
        assertEquals(32, rows.gx());
        assertEquals(LaunchGeometry.REDUCE_THREADS, rows.threads());
        for (LaunchRecorder.Launch g : launches("sgemm_strided")) {
            assertEquals(256, g.threads(), "sgemm_strided is compiled with __launch_bounds__(256, 3)");
        }
    }

    @Test
    void captureRunsTheStepEagerlyFirstThenCapturesIt() {
        Tensor a = t(3, 4);
        Tensor b = t(3, 4);
        Runnable step = () -> {
            be.sigmoidForward(a, b);
            be.addScalar(a, 0, 1f);
        };
        Runnable replay = be.capture(step);
        assertTrue(recorder.recorded().isEmpty(), "capture itself launches nothing");
        replay.run();
        assertEquals(List.of("sigmoid_forward false", "add_scalar false"), kernelsAndCapture(),
                "the first run launches the step outside any capture");
        replay.run();
        assertEquals(List.of("sigmoid_forward false", "add_scalar false", "sigmoid_forward true", "add_scalar true"),
                kernelsAndCapture(), "the second run: the dry run launches nothing, the capture records the step once");
        replay.run();
        assertEquals(4, recorder.recorded().size(), "replays launch the graph, not the step");
    }

    /**
     * release destroys a captured step's graph (the step records a new one if run again); a step
     * that never captured, or another backend's, is left alone; close destroys what is left.
     */
    @Test
    void releaseDestroysAStepsGraphAndTheStepCapturesAnew() {
        Tensor a = t(3, 4);
        Runnable replay = be.capture(() -> be.addScalar(a, 0, 1f));
        be.release(replay);
        replay.run();
        be.release(replay);  // ran eagerly only: no graph yet
        assertEquals(0, recorder.graphsDestroyed);
        replay.run();
        replay.run();
        assertEquals(List.of(1, 2, 0), List.of(recorder.graphsMade, recorder.graphLaunches, recorder.graphsDestroyed));
        be.release(replay);
        be.release(replay);
        assertEquals(1, recorder.graphsDestroyed, "released once");
        replay.run();
        assertEquals(List.of(2, 3), List.of(recorder.graphsMade, recorder.graphLaunches), "captured anew, then launched");
        be.release(() -> { });
        LaunchRecorder other = new LaunchRecorder();
        try (CudaBackend otherBackend = other.newBackend()) {
            otherBackend.release(replay);
        }
        assertEquals(1, recorder.graphsDestroyed, "neither a plain Runnable nor another backend's release touches it");
        be.close();
        assertEquals(2, recorder.graphsDestroyed, "close destroys the graph left");
        be.release(replay);  // after close: nothing to do
        assertEquals(2, recorder.graphsDestroyed);
    }

    private List<String> kernelsAndCapture() {
        return recorder.recorded().stream().map(l -> l.kernel() + " " + l.captured()).collect(Collectors.toList());
    }

    @Test
    void captureRejectsTransfersAndAllocationInsideTheStep() {
        Tensor a = t(3);
        Runnable reads = be.capture(a::toArray);
        IllegalStateException e = assertThrows(IllegalStateException.class, reads::run);
        assertTrue(e.getMessage().contains("captured step"), "refused in the eager first run too: " + e.getMessage());
        Runnable uploads = be.capture(() -> a.copyFrom(new float[3]));
        assertThrows(IllegalStateException.class, uploads::run);
    }

    @Test
    void allocationInTheFirstRunIsKeptForTheCapture() {
        Tensor[] lazy = new Tensor[1];
        Runnable replay = be.capture(() -> {
            if (lazy[0] == null) {
                lazy[0] = be.allocate(Shape.of(5));
            }
            be.fill(lazy[0], 2f);
        });
        replay.run();
        replay.run();
        assertEquals(2, launches("fill").size(), "eager, then captured");
        assertTrue(launches("fill").get(1).captured());
    }

    @Test
    void shapeErrorsNameTheOpAndShapes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> be.conv2dForward(t(2, 3, 8, 8), t(4, 2, 3, 3), null, t(2, 4, 6, 6), new ConvSpec(1, 0)));
        assertTrue(e.getMessage().startsWith("conv2dForward"), e.getMessage());
        assertTrue(e.getMessage().contains("[2, 3, 8, 8]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> be.linearForward(t(2, 3), t(4, 5), null, t(2, 4)));
        assertTrue(e.getMessage().startsWith("linearForward"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> be.batchNormForwardTrain(t(1, 3), t(3), t(3), t(3), t(3), t(1, 3), t(3), t(3), 0.1f, 1e-5f));
        assertTrue(e.getMessage().contains("expected more than 1 value per channel when training"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> be.copy(t(3), t(4)));
        assertTrue(e.getMessage().startsWith("copy"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> be.addScalar(t(3), 3, 1f));
        assertTrue(e.getMessage().contains("index 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> be.conv2dForward(new dev.normnet.backend.cpu.CpuTensor(Shape.of(1, 1, 5, 5)), t(1, 1, 3, 3), null,
                        t(1, 1, 3, 3), new ConvSpec(1, 0)));
        assertTrue(e.getMessage().contains("lives on cpu"), e.getMessage());
        assertTrue(recorder.recorded().isEmpty(), "nothing launched for bad input");
    }

    @Test
    void viewsAddressTheirOffsetAndClosedStorageIsRefused() {
        Tensor a = t(10);
        Tensor v = a.view(4, Shape.of(2, 3));
        assertEquals(4, v.offset());
        assertThrows(IllegalArgumentException.class, () -> a.view(5, Shape.of(6)));
        v.close();  // a view does not own the storage
        be.fill(a, 1f);
        a.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> be.fill(a, 1f));
        assertTrue(e.getMessage().contains("after its storage was closed"), e.getMessage());
        assertFalse(recorder.recorded().isEmpty());
    }

    @Test
    void kernelsAreLookedUpOnlyWhenTheBackendIsBuilt() {
        int atBuild = recorder.lookups();
        Assumptions.assumeFalse(CudaDevice.readSignatures().isEmpty(), "the build had no nvcc, so no kernel list");
        assertEquals(CudaDevice.readSignatures().size(), atBuild, "every kernel looked up once when built");
        Tensor x = t(8, 1, 28, 28);
        Tensor w = t(6, 1, 5, 5);
        Tensor y = t(8, 6, 28, 28);
        Tensor c6 = t(6);
        Tensor fx = t(16, 3000);
        Tensor fw = t(10, 3000);
        Tensor logits = t(16, 10);
        Tensor labels = t(16);
        Tensor metrics = t(2);
        Runnable replay = be.capture(() -> {
            be.conv2dForward(x, w, c6, y, new ConvSpec(1, 2));
            be.batchNormForwardTrain(y, c6, c6, c6, c6, y, c6, c6, 0.1f, 1e-5f);
            be.conv2dBackwardFilter(x, y, w, c6, new ConvSpec(1, 2));
            be.linearForward(fx, fw, null, logits);  // split-K
            be.softmaxCrossEntropy(logits, labels, logits, metrics);
        });
        replay.run();
        replay.run();
        assertTrue(recorder.recorded().stream().filter(LaunchRecorder.Launch::captured).count() >= 8,
                "the captured step launched: " + recorder.recorded());
        runEveryOp();
        assertEquals(atBuild, recorder.lookups(), "no kernel looked up by a launch, eager or captured");
    }

    @Test
    void scratchFirstNeededInsideACaptureIsRefused() {
        Tensor x = t(16, 3000);
        Tensor w = t(10, 3000);
        Tensor y = t(16, 10);
        int[] runs = {0};
        Runnable replay = be.capture(() -> {
            if (runs[0]++ < 2) {
                be.sigmoidForward(y, y);  // the eager run and the dry run do not reach the split-K GEMM: no scratch for it
            } else {
                be.linearForward(x, w, null, y);
            }
        });
        replay.run();
        IllegalStateException e = assertThrows(IllegalStateException.class, replay::run);
        assertTrue(e.getMessage().contains("first needed inside a capture"), e.getMessage());
    }

    @Test
    void launchChecksNameTheKernelAndTheShapes() {
        Assumptions.assumeFalse(CudaDevice.readSignatures().isEmpty(), "the build had no nvcc, so no normnet.kernels");
        Kernel fill = recorder.kernel("fill");
        KernelArgs wrong = OpContext.args().nullPointer().i(1).i(2);
        IllegalStateException types = assertThrows(IllegalStateException.class,
                () -> fill.checkLaunch(1, 1, 1, 256, 0, Shape.of(2), wrong));
        assertEquals("kernel fill declares parameters (u64 f32 u32) but is launched with (u64 u32 u32)", types.getMessage());
        KernelArgs right = OpContext.args().nullPointer().f(1f).i(2);
        IllegalArgumentException grid = assertThrows(IllegalArgumentException.class,
                () -> fill.checkLaunch(1, LaunchGeometry.MAX_GRID_YZ + 1, 1, 256, 0, Shape.of(2, 3), right));
        assertEquals("fill: grid (1, 65536, 1), block 256, shared 0 bytes out of range for [2, 3]", grid.getMessage());
        fill.checkLaunch(1, 1, 1, 256, 0, Shape.of(2), right);
        assertThrows(IllegalStateException.class, () -> recorder.kernel("no_such_kernel"));
    }

    @Test
    void eachKernelHasTheLimitsPtxasGaveIt() {
        Assumptions.assumeTrue(Files.isRegularFile(Path.of(LaunchRecorder.RESOURCES)),
                "the build made no emulated driver, so no " + LaunchRecorder.RESOURCES);
        Kernel gemm = recorder.kernel("sgemm_strided");
        assertEquals(256, gemm.maxThreads(), "sgemm_strided is compiled with __launch_bounds__(256, 3)");
        assertTrue(gemm.staticSharedBytes() >= 2 * 16 * 65 * Float.BYTES, "its two tiles: " + gemm.staticSharedBytes());
        assertEquals(Kernel.MAX_THREADS, recorder.kernel("fill").maxThreads());
        assertEquals(0, recorder.kernel("conv2d_forward").staticSharedBytes(), "the convolution's shared memory is dynamic");
        runEveryOp();  // every launch above was checked against its kernel's limits
        assertFalse(recorder.recorded().isEmpty());
    }

    /**
     * No kernel needs local memory on sm_90: no stack frame, so no register spills (which would
     * go to memory on every use). ptxas's account of the build's own code.
     */
    @Test
    void noKernelSpillsOnSm90() {
        Assumptions.assumeTrue(Files.isRegularFile(Path.of(LaunchRecorder.RESOURCES)),
                "the build made no emulated driver, so no " + LaunchRecorder.RESOURCES);
        Map<String, int[]> resources = LaunchRecorder.readResources(Path.of(LaunchRecorder.RESOURCES));
        assertEquals(CudaDevice.readSignatures().keySet(), resources.keySet(), "ptxas's kernels are the module's");
        Map<String, Integer> local = new TreeMap<>();
        resources.forEach((kernel, r) -> {
            if (r[3] != 0) {
                local.put(kernel, r[3]);
            }
        });
        assertEquals(Map.of(), local, "kernels with a stack frame (bytes per thread)");
    }
}
