package dev.normnet.backend.cuda;

import dev.normnet.data.LabeledImages;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.optim.Adam;
import dev.normnet.optim.Sgd;
import dev.normnet.train.Trainer;
import dev.normnet.train.Warmup;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The trainer's warm-up on the CUDA backend's host side ({@link LaunchRecorder}: no GPU, but every
 * tensor allocated and freed is counted): what the warm-up allocates (the model's copy, its
 * optimizer state, its plan and buffers) is all freed again, and a warm-up that would not fit
 * beside the run is skipped; what one captured training step launches, activations fused into
 * batch norm or not; and that every later step is one graph launch and nothing else.
 */
class TrainerWarmupRecorderTest {
    private static final long CAPACITY = 1L << 32;   // floats

    private static LabeledImages blank(int count) {
        return new LabeledImages(new byte[count * 28 * 28], new byte[count], count, 28, 28);
    }

    /** LeNet-BN, 100 images in batches of 32, 40 test images, one epoch: the floats still allocated after it. */
    private static long floatsInUseAfterAnEpoch(long capacity, double warmupSeconds, Warmup[] warmup) {
        LaunchRecorder recorder = new LaunchRecorder();
        try (CudaBackend backend = recorder.newBackend(capacity);
             Sequential model = Models.create("lenet-bn", ModelOptions.defaults()).build(1)) {
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Adam.builder().setLearningRate(0.01f).build()).optBatchSize(32)
                    .optWarmup(warmupSeconds).build();
            LabeledImages train = blank(100);
            LabeledImages test = blank(40);
            warmup[0] = trainer.warmUp(train, test);
            trainer.fit(train, test, 1, null);
            long inUse = capacity - backend.availableBytes() / Float.BYTES;
            trainer.close();
            return inUse;
        }
    }

    @Test
    void theWarmUpFreesAllItAllocated() {
        Warmup[] none = new Warmup[1];
        Warmup[] warm = new Warmup[1];
        long without = floatsInUseAfterAnEpoch(CAPACITY, 0, none);
        long with = floatsInUseAfterAnEpoch(CAPACITY, 30, warm);
        assertEquals(Warmup.NONE, none[0]);
        assertEquals(4, warm[0].trainSteps(), "one epoch's steps: " + warm[0]);
        assertTrue(warm[0].evalSteps() > 0, warm[0].toString());
        assertTrue(without > 0);
        assertEquals(without, with, "floats allocated after an epoch, without and with a warm-up");
    }

    @Test
    void aWarmUpThatDoesNotFitBesideTheRunIsSkipped() {
        long run = floatsInUseAfterAnEpoch(CAPACITY, 0, new Warmup[1]);
        // Room for the run and a thousand floats more: not for a second plan of 32 images.
        Warmup[] warm = new Warmup[1];
        long with = floatsInUseAfterAnEpoch(run + 1000, 30, warm);
        assertEquals(Warmup.NONE, warm[0]);
        assertEquals(run, with);
    }

    /** Kernel name to launches in one captured LeNet-BN training step (SGD, batch 256), activations fused or not. */
    private static Map<String, Integer> capturedLeNetBnStep(boolean fuse) {
        LaunchRecorder recorder = new LaunchRecorder();
        try (CudaBackend backend = recorder.newBackend(CAPACITY);
             Sequential model = Models.create("lenet-bn", ModelOptions.defaults()).build(1).optFuseActivations(fuse)) {
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(0.9f).build()).optBatchSize(256).build();
            trainer.fit(blank(512), null, 1, null);
            trainer.close();
        }
        List<String> captured = recorder.recorded().stream().filter(LaunchRecorder.Launch::captured)
                .map(LaunchRecorder.Launch::kernel).collect(Collectors.toList());
        Map<String, Integer> perKernel = new TreeMap<>();
        captured.forEach(k -> perKernel.merge(k, 1, Integer::sum));
        return perKernel;
    }

    private static int total(Map<String, Integer> perKernel) {
        return perKernel.values().stream().mapToInt(Integer::intValue).sum();
    }

    /**
     * The kernels of one captured LeNet-BN training step (SGD, batch 256): 28 launches, each layer's
     * work in as few as the ops allow (a batch norm two each way, one each way after a linear layer,
     * where a channel's 256 values are one block; a linear layer one forward and one for all of its
     * gradients), each Sigmoid inside the batch norm before it, and each 2x2 average pooling too. On
     * the GPU a replayed step costs at least a launch's latency per kernel, so a change that adds
     * one shows here.
     */
    @Test
    void aCapturedLeNetBnStepIsTwentyEightLaunches() {
        Map<String, Integer> perKernel = capturedLeNetBnStep(true);
        assertEquals(28, total(perKernel), "launches of the captured step: " + perKernel);
        assertEquals(3, perKernel.get("sgemm_strided"), "the three linear layers' forward passes: " + perKernel);
        assertEquals(3, perKernel.get("linear_backward"), "and their dw, dx and db, one launch each: " + perKernel);
        assertNull(perKernel.get("column_sum"), "the bias gradients are in linear_backward: " + perKernel);
        assertEquals(2, perKernel.get("batchnorm_stats"), "after conv1 and conv2: " + perKernel);
        assertEquals(2, perKernel.get("batchnorm_backward_reduce"), perKernel.toString());
        assertEquals(2, perKernel.get("batchnorm_backward_dx"), perKernel.toString());
        assertEquals(2, perKernel.get("batchnorm_stats_normalize"), "after fc1 and fc2: " + perKernel);
        assertEquals(2, perKernel.get("batchnorm_backward_reduce_dx"), perKernel.toString());
        assertNull(perKernel.get("add_scalar"), "num_batches_tracked is counted in the statistics launches");
        assertEquals(1, perKernel.get("gather_batch"), "the gather advances the cursor itself");
        assertEquals(1, perKernel.get("softmax_ce"), "the loss and its gradient in one launch");
        assertNull(perKernel.get("sigmoid_forward"), "the sigmoids run in batch norm's normalize launches: " + perKernel);
        assertNull(perKernel.get("sigmoid_backward"), "and in its backward launches: " + perKernel);
        assertNull(perKernel.get("avg_pool2d_forward"), "the pools run in batch norm's normalize launches: " + perKernel);
        assertNull(perKernel.get("avg_pool2d_backward"), "and in its backward launches: " + perKernel);
        assertEquals(2, perKernel.get("batchnorm_normalize_pool"), "after conv1 and conv2: " + perKernel);
        assertNull(perKernel.get("batchnorm_normalize"), perKernel.toString());
        assertEquals(1, perKernel.get("conv2d_forward_cb6"), "conv1: 6 output channels, 6 per thread");
        assertEquals(1, perKernel.get("conv2d_backward_data_cb6"), "conv2's data gradient: 6 input channels");
        assertEquals(1, perKernel.get("sgd_step"), "one optimizer launch for every parameter");
    }

    /**
     * Without fusion, each of the four Sigmoids launches its own kernel each way (8 more), and each
     * of the two pools too (4 more), the two batch norms before them normalizing on their own.
     */
    @Test
    void unfusedTheSigmoidsAndPoolsLaunchTheirOwnKernels() {
        Map<String, Integer> fused = capturedLeNetBnStep(true);
        Map<String, Integer> unfused = capturedLeNetBnStep(false);
        assertEquals(total(fused) + 12, total(unfused), "fused " + fused + ", unfused " + unfused);
        assertEquals(4, unfused.get("sigmoid_forward"), unfused.toString());
        assertEquals(4, unfused.get("sigmoid_backward"), unfused.toString());
        assertEquals(2, unfused.get("avg_pool2d_forward"), unfused.toString());
        assertEquals(2, unfused.get("avg_pool2d_backward"), unfused.toString());
        assertEquals(2, unfused.get("batchnorm_normalize"), "after conv1 and conv2: " + unfused);
        Map<String, Integer> rest = new TreeMap<>(unfused);
        for (String own : List.of("sigmoid_forward", "sigmoid_backward", "avg_pool2d_forward", "avg_pool2d_backward")) {
            rest.remove(own);
        }
        rest.remove("batchnorm_normalize");
        rest.put("batchnorm_normalize_pool", 2);
        assertEquals(fused, rest, "every other kernel as often");
    }

    /**
     * After its first two steps (one eager, one captured), a training step is one graph launch and
     * nothing else: no kernel launched on its own, no wait for the device, no copy either way and
     * no allocation. On a GPU any of these per step would cost more than LeNet-BN's whole step;
     * the epoch ends with one read-back of its metrics and parameters.
     */
    @Test
    void aReplayedStepIsOneGraphLaunchAndNothingElse() {
        int batches = 10;
        LaunchRecorder recorder = new LaunchRecorder();
        int[][] at = new int[batches + 1][];
        try (CudaBackend backend = recorder.newBackend(CAPACITY);
             Sequential model = Models.create("lenet-bn", ModelOptions.defaults()).build(1)) {
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Adam.builder().setLearningRate(0.01f).build()).optBatchSize(256).build();
            trainer.fit(blank(256 * batches), null, 1, new dev.normnet.train.EpochListener() {
                @Override
                public void onEpoch(dev.normnet.train.EpochRecord record) {
                }

                @Override
                public void onBatch(int epoch, int batch, int all) {
                    at[batch] = counts(recorder);
                }
            });
            trainer.close();
        }
        assertEquals(List.of(0, 0, 0, 0, 0, 1), diff(at[2], at[3]), "the third step: launches, syncs, uploads, "
                + "downloads, allocations, graph launches");
        assertEquals(List.of(0, 0, 0, 0, 0, batches - 2), diff(at[2], at[batches]), "steps 3 to " + batches);
        assertEquals(1, diff(at[1], at[2]).get(5), "the second step is captured, then launched");
        assertTrue(at[2][0] > at[1][0], "it launches its kernels into the capture");
    }

    /** Launches recorded, host waits, uploads, downloads, allocations, graph launches, so far. */
    private static int[] counts(LaunchRecorder r) {
        return new int[] {r.recorded().size(), r.synchronizes, r.uploads, r.downloads, r.allocations, r.graphLaunches};
    }

    private static List<Integer> diff(int[] from, int[] to) {
        return java.util.stream.IntStream.range(0, from.length).map(i -> to[i] - from[i]).boxed().collect(Collectors.toList());
    }

    /**
     * An evaluation, once its steps are captured, is a graph launch per batch, the two fills that
     * zero its cursor and metrics, and one read-back of the metrics at the end.
     */
    @Test
    void aSecondEvaluationIsAGraphLaunchPerBatchAndOneReadBack() {
        int batches = 10;
        LaunchRecorder recorder = new LaunchRecorder();
        try (CudaBackend backend = recorder.newBackend(CAPACITY);
             Sequential model = Models.create("lenet-bn", ModelOptions.defaults()).build(1)) {
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Adam.builder().setLearningRate(0.01f).build()).optBatchSize(256).build();
            LabeledImages test = blank(256 * batches);
            trainer.fit(blank(512), test, 1, null);
            int[] before = counts(recorder);
            trainer.evaluate(test);
            assertEquals(List.of(2, 0, 0, 1, 0, batches), diff(before, counts(recorder)),
                    "launches, syncs, uploads, downloads, allocations, graph launches");
            trainer.close();
        }
    }
}
