package dev.normnet.nn;

import dev.normnet.backend.Activation;
import dev.normnet.backend.Backend;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.backend.cpu.VectorCpuBackend;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.function.Supplier;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A Sigmoid or ReLU right after a batch norm runs inside the batch norm's backend ops
 * ({@link Sequential#optFuseActivations}): the plan calls the fused ops instead of the two layers'
 * ops, and the results (outputs, gradients, running statistics, input gradients) are the same bits
 * as the unfused plan's, on both CPU backends, in training, eval, and a watched forward.
 */
class ActivationFusionTest {
    private static final int BATCH = 6;

    static Sequential model(String preset, boolean fuse) {
        return Models.create(preset, ModelOptions.defaults()).build(3).optFuseActivations(fuse);
    }

    /** Input and output gradient for a plan of {@code batch}, from a fixed seed. */
    private static float[][] data(Sequential m, int batch) {
        SplittableRandom r = new SplittableRandom(11);
        float[] x = new float[(int) (m.inputShape().size() * batch)];
        float[] dy = new float[(int) (m.outputShape().size() * batch)];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextDouble(-1, 2);
        }
        for (int i = 0; i < dy.length; i++) {
            dy[i] = (float) r.nextDouble(-1, 1);
        }
        return new float[][] {x, dy};
    }

    /** Two training steps (forward, backward; the second watched when asked), then an eval forward: everything read back. */
    private static Map<String, float[]> run(Sequential m, Backend backend, boolean watchSecond) {
        return run(m, backend, watchSecond, BATCH);
    }

    static Map<String, float[]> run(Sequential m, Backend backend, boolean watchSecond, int batch) {
        m.to(backend);
        float[][] d = data(m, batch);
        Sequential.Plan plan = m.plan(batch);
        Map<String, float[]> out = new LinkedHashMap<>();
        for (int step = 0; step < 2; step++) {
            Tensor x = backend.upload(d[0], plan.input().shape());
            backend.copy(x, plan.input());
            x.close();
            if (step == 1 && watchSecond) {
                plan.forward(true, (index, input) -> out.put("watched input of layer " + index, input.toArray()));
            } else {
                plan.forward(true);
            }
            Tensor dy = backend.upload(d[1], plan.outputGradient().shape());
            backend.copy(dy, plan.outputGradient());
            dy.close();
            plan.backward();
            out.put("output " + step, plan.output().toArray());
            out.put("gradients " + step, m.gradients().toArray());
            List<Layer> layers = m.layers();
            // An activation in place after a batch norm has one gradient buffer for its input and
            // output (and views of it after): unfused it ends holding the input's gradient, fused
            // the output's (the batch norm's output gradient is never written); with an average
            // pooling fused after them the fused plan has none. Every other input gradient is
            // compared.
            boolean[] shared = new boolean[layers.size() + 1];
            for (int i = 0; i < layers.size(); i++) {
                boolean fusedActivation = i > 0 && layers.get(i - 1) instanceof BatchNorm
                        && layers.get(i).fusableActivation() != null;
                boolean fusedPool = layers.get(i).fusableAveragePool() != null && (shared[i]
                        || i > 0 && layers.get(i - 1) instanceof BatchNorm);
                shared[i] |= fusedActivation || fusedPool;
                shared[i + 1] = fusedActivation || shared[i] && layers.get(i).isView();
                if (plan.activationGradient(i) != null && !shared[i]) {
                    out.put("input gradient of layer " + i + ", step " + step, plan.activationGradient(i).toArray());
                }
            }
        }
        out.put("buffers", m.buffers().toArray());
        Sequential.Plan eval = m.forwardPlan(batch);
        eval.forward(false);
        out.put("eval output", eval.output().toArray());
        m.close();
        return out;
    }

    static void assertSameBits(Map<String, float[]> expected, Map<String, float[]> actual, String what) {
        assertEquals(expected.keySet(), actual.keySet(), what);
        for (String k : expected.keySet()) {
            assertArrayEquals(expected.get(k), actual.get(k), what + ": " + k);
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"lenet-bn", "mlp-bn"})
    void fusedPlansComputeTheBitsOfTheLayersOwnOps(String preset) {
        for (Supplier<Backend> backends : List.<Supplier<Backend>>of(() -> new CpuBackend(2), () -> new VectorCpuBackend(2))) {
            try (Backend a = backends.get(); Backend b = backends.get()) {
                Map<String, float[]> unfused = run(model(preset, false), a, false);
                Map<String, float[]> fused = run(model(preset, true), b, false);
                assertSameBits(unfused, fused, preset + " on " + a.describe());
            }
        }
    }

    /**
     * A watched forward runs every layer's own ops, so the watcher sees each activation's input
     * (the batch norm's output, with values below zero); the fused backward that follows gives the
     * bits of an unwatched step.
     */
    @Test
    void aWatchedForwardSeesTheBatchNormOutputAndChangesNoBits() {
        try (Backend a = new CpuBackend(2); Backend b = new CpuBackend(2)) {
            Map<String, float[]> watchedUnfused = run(model("lenet-bn", false), a, true);
            Map<String, float[]> watchedFused = run(model("lenet-bn", true), b, true);
            assertSameBits(watchedUnfused, watchedFused, "watched, unfused vs fused");
            float[] sigmoidInput = watchedFused.get("watched input of layer 2");   // conv1, BN, Sigmoid
            float min = Float.MAX_VALUE;
            for (float v : sigmoidInput) {
                min = Math.min(min, v);
            }
            assertTrue(min < 0, "the Sigmoid's input is the batch norm's output, not its own: min " + min);
        }
        try (Backend a = new CpuBackend(2); Backend b = new CpuBackend(2)) {
            Map<String, float[]> plain = run(model("lenet-bn", true), a, false);
            Map<String, float[]> watched = run(model("lenet-bn", true), b, true);
            watched.keySet().removeIf(k -> k.startsWith("watched"));
            assertSameBits(plain, watched, "fused, plain vs watched");
        }
    }

    /** The backend ops a plan's training step and eval forward call, by name (top-level calls only). */
    private static Map<String, Integer> opsCalled(String preset, boolean fuse) {
        Map<String, Integer> calls = new TreeMap<>();
        try (CpuBackend cpu = new CpuBackend(1)) {
            Backend counting = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                    (proxy, method, args) -> {
                        calls.merge(method.getName(), 1, Integer::sum);
                        try {
                            return method.invoke(cpu, args);
                        } catch (InvocationTargetException e) {
                            throw e.getCause();
                        }
                    });
            Sequential m = model(preset, fuse).to(counting);
            Sequential.Plan plan = m.plan(BATCH);
            calls.clear();
            plan.forward(true);
            plan.backward();
            m.forwardPlan(BATCH).forward(false);
            m.close();
        }
        return calls;
    }

    @Test
    void thePlanCallsTheFusedOps() {
        Map<String, Integer> fused = opsCalled("lenet-bn", true);
        // conv1 and conv2's batch norms with their Sigmoids and pools, fc1 and fc2's with their Sigmoids
        for (String pair : List.of("batchNormActivationForwardTrain", "batchNormActivationForwardEval",
                "batchNormActivationBackward", "batchNormActivationPoolForwardTrain", "batchNormActivationPoolForwardEval",
                "batchNormActivationPoolBackward")) {
            assertEquals(2, fused.get(pair), pair + ": " + fused);
        }
        assertNull(fused.get("sigmoidForward"), fused.toString());
        assertNull(fused.get("sigmoidBackward"), fused.toString());
        assertNull(fused.get("avgPool2dForward"), fused.toString());
        assertNull(fused.get("avgPool2dBackward"), fused.toString());
        Map<String, Integer> unfused = opsCalled("lenet-bn", false);
        assertEquals(8, unfused.get("sigmoidForward"), "4 in training, 4 in eval: " + unfused);
        assertEquals(4, unfused.get("sigmoidBackward"), unfused.toString());
        assertNull(unfused.get("batchNormActivationForwardTrain"), unfused.toString());
        assertNull(unfused.get("batchNormActivationPoolForwardTrain"), unfused.toString());
        assertEquals(2, unfused.get("avgPool2dBackward"), unfused.toString());
        Map<String, Integer> mlp = opsCalled("mlp-bn", true);
        assertEquals(2, mlp.get("batchNormActivationBackward"), mlp.toString());
        assertNull(mlp.get("reluForward"), mlp.toString());
    }

    @Test
    void runCountsFusedPairsOnce() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            Sequential fused = model("lenet-bn", true).to(cpu);
            Sequential unfused = model("lenet-bn", false).to(cpu);
            assertEquals(16, fused.layers().size());
            assertEquals(10, fused.plan(4).runCount(), "four BN + Sigmoid pairs, two with their pools");
            assertEquals(10, fused.forwardPlan(3).runCount());
            assertEquals(16, unfused.plan(4).runCount());
            fused.close();
            unfused.close();
            // Only an activation right after a batch norm: the second of two Sigmoids, a Sigmoid
            // after a Linear, and a ReLU first stay on their own.
            Sequential odd = new Sequential(new ReLU(), new BatchNorm(), new Sigmoid(), new Sigmoid(), new Flatten(),
                    new Linear(4), new Sigmoid()).build(Shape.of(2, 3, 3), 1).to(cpu);
            assertEquals(6, odd.plan(5).runCount());
            odd.close();
        }
    }

    /** A model with average pooling after a batch norm, its fused and unfused run counts, and the input gradients fusion drops. */
    record PoolCase(String name, Supplier<Sequential> model, int fusedRuns, int unfusedRuns, int[] noGradient) {
    }

    /** Poolings after a batch norm: 2x2 and 3x3 tiles, overlapping windows, and poolings that stay on their own. */
    static List<PoolCase> poolCases() {
        return List.of(
                new PoolCase("BN first, then a 2x2 pool", () -> new Sequential(new BatchNorm(), new AvgPool2d(2),
                        new Flatten(), new Linear(3)).build(Shape.of(2, 4, 6), 5), 3, 4, new int[] {1}),
                new PoolCase("conv, BN, ReLU, 3x3 tiles", () -> new Sequential(new Conv2d(3, 3, 1, 1, true),
                        new BatchNorm(), new ReLU(), new AvgPool2d(3), new Flatten(), new Linear(4))
                        .build(Shape.of(2, 6, 9), 6), 4, 6, new int[] {2, 3}),
                new PoolCase("overlapping windows", () -> new Sequential(new Conv2d(2, 3), new BatchNorm(),
                        new Sigmoid(), new AvgPool2d(3, 2), new Flatten(), new Linear(2)).build(Shape.of(1, 9, 9), 7),
                        4, 6, new int[] {2, 3}),
                new PoolCase("a max pool, a pool after a conv, a second pool", () -> new Sequential(new BatchNorm(),
                        new Sigmoid(), new MaxPool2d(2), new Conv2d(2, 1), new AvgPool2d(2), new BatchNorm(),
                        new AvgPool2d(2), new AvgPool2d(1), new Flatten(), new Linear(2)).build(Shape.of(2, 8, 8), 8),
                        8, 10, new int[] {6}));
    }

    /** The fused and unfused runs of a pool case on two backends of one kind: the same bits, plain and watched. */
    static void assertPoolCaseSameBits(PoolCase c, Backend a, Backend b, int batch) {
        Map<String, float[]> expected = run(c.model().get().optFuseActivations(false), a, false, batch);
        Map<String, float[]> actual = run(c.model().get(), b, false, batch);
        assertSameBits(expected, actual, c.name() + " on " + a.describe());
        Map<String, float[]> watched = run(c.model().get(), b, true, batch);
        Map<String, float[]> watchedUnfused = run(c.model().get().optFuseActivations(false), a, true, batch);
        assertSameBits(watchedUnfused, watched, c.name() + ", watched, on " + a.describe());
    }

    /**
     * An average pooling right after a batch norm, or after the activation fused into it, joins
     * the batch norm's ops: the same bits as the layers' own ops on both CPU backends, whatever the
     * pooling (windows that tile the plane or not: the CUDA backend fuses only the former), one
     * run fewer, and no gradient buffer for the inside of the group. A max pooling, a pooling
     * after a convolution, and a second pooling stay on their own.
     */
    @Test
    void averagePoolsJoinTheBatchNormBeforeThem() {
        List<PoolCase> cases = poolCases();
        for (PoolCase c : cases) {
            for (Supplier<Backend> backends : List.<Supplier<Backend>>of(() -> new CpuBackend(2),
                    () -> new VectorCpuBackend(2))) {
                try (Backend a = backends.get(); Backend b = backends.get()) {
                    Sequential fused = c.model().get();
                    Sequential unfused = c.model().get().optFuseActivations(false);
                    fused.to(a);
                    unfused.to(a);
                    assertEquals(c.fusedRuns(), fused.plan(BATCH).runCount(), c.name());
                    assertEquals(c.fusedRuns(), fused.forwardPlan(BATCH).runCount(), c.name());
                    assertEquals(c.unfusedRuns(), unfused.plan(BATCH).runCount(), c.name());
                    for (int i : c.noGradient()) {
                        assertNull(fused.plan(BATCH).activationGradient(i), c.name() + ": input gradient of layer " + i);
                        assertTrue(unfused.plan(BATCH).activationGradient(i) != null, c.name() + ": layer " + i);
                    }
                    fused.close();
                    unfused.close();
                    assertPoolCaseSameBits(c, a, b, BATCH);
                }
            }
        }
    }

    /** A batch norm first (no input gradient wanted) followed by a Sigmoid: fused, the same bits. */
    @Test
    void aBatchNormFirstFusesToo() {
        List<Map<String, float[]>> results = new ArrayList<>();
        for (boolean fuse : new boolean[] {false, true}) {
            try (CpuBackend cpu = new CpuBackend(1)) {
                Sequential m = new Sequential(new BatchNorm(), new Sigmoid(), new Flatten(), new Linear(3))
                        .build(Shape.of(2, 3, 3), 5).optFuseActivations(fuse);
                results.add(run(m, cpu, false));
            }
        }
        assertSameBits(results.get(0), results.get(1), "BN first");
    }

    @Test
    void fusionIsFixedOnceAPlanExistsAndCopiesKeepIt() {
        try (CpuBackend cpu = new CpuBackend(1)) {
            Sequential m = model("mlp-bn", false);
            assertFalse(m.fusesActivations());
            assertFalse(m.copy().fusesActivations());
            m.to(cpu).plan(2);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> m.optFuseActivations(true));
            assertTrue(e.getMessage().contains("before the first plan"), e.getMessage());
            m.close();
            assertTrue(model("mlp-bn", true).fusesActivations());
            assertTrue(Models.create("lenet-bn", ModelOptions.defaults()).fusesActivations(), "on by default");
        }
    }

    /** The activations' codes in the kernels (NN_ACT_* in src/main/cuda/common.cuh) are the enum's ordinals. */
    @Test
    void activationOrdinalsAreTheKernelCodes() throws java.io.IOException {
        String header = java.nio.file.Files.readString(java.nio.file.Path.of("src/main/cuda/common.cuh"));
        java.util.regex.Matcher d = java.util.regex.Pattern.compile("#define NN_ACT_([A-Z]+) (\\d+)").matcher(header);
        Map<String, Integer> codes = new TreeMap<>();
        while (d.find()) {
            codes.put(d.group(1), Integer.parseInt(d.group(2)));
        }
        Map<String, Integer> ordinals = new TreeMap<>();
        for (Activation a : Activation.values()) {
            ordinals.put(a.name(), a.ordinal());
        }
        assertEquals(ordinals, codes);
    }
}
