package dev.normnet.nn;

import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.backend.cpu.CpuTensor;
import dev.normnet.tensor.Shape;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SequentialTest {
    private final CpuBackend backend = new CpuBackend(2);

    @AfterEach
    void close() {
        backend.close();
    }

    private static Sequential lenetBn(int resize) {
        return Models.create("lenet-bn", ModelOptions.defaults().withResize(resize)).build(1);
    }

    /** copy(): the same layers, input shape and state, from the host or from a backend; training the copy leaves the original. */
    @Test
    void aCopyHasTheStateAndSharesNothing() {
        Sequential m = lenetBn(28);
        Sequential onHost = m.copy();
        m.to(backend);
        Sequential fromBackend = m.copy();
        for (Sequential c : List.of(onHost, fromBackend)) {
            assertEquals(m.inputShape(), c.inputShape());
            assertEquals(m.summary(4), c.summary(4));
            assertEquals(null, c.backend());
            Map<String, float[]> a = m.state();
            Map<String, float[]> b = c.state();
            assertEquals(a.keySet(), b.keySet());
            for (String k : a.keySet()) {
                assertArrayEquals(a.get(k), b.get(k), k);
            }
            for (int i = 0; i < m.layers().size(); i++) {
                assertNotSame(m.layers().get(i), c.layers().get(i));
            }
        }
        float[] before = m.parameters().toArray();
        fromBackend.to(backend);
        backend.fill(fromBackend.parameters(), 0.5f);
        backend.fill(fromBackend.buffers(), 2f);
        assertArrayEquals(before, m.parameters().toArray());
        assertTrue(m.state().get("1.running_var")[0] != 2f);
        fromBackend.close();
        m.close();
    }

    @Test
    void lazyInferenceGivesTheD2lShapes() {
        Sequential m = lenetBn(28);
        assertEquals(Shape.of(1, 28, 28), m.inputShape());
        assertEquals(Shape.of(6, 24, 24), m.shapeBefore(1));
        assertEquals(Shape.of(6, 12, 12), m.shapeBefore(4));
        assertEquals(Shape.of(16, 8, 8), m.shapeBefore(5));
        assertEquals(Shape.of(256), m.shapeBefore(9));
        assertEquals(Shape.of(10), m.outputShape());
        assertEquals(256, ((Linear) m.layers().get(9)).inFeatures());
        assertEquals(6, ((Conv2d) m.layers().get(4)).inChannels());
        assertEquals(120, ((BatchNorm) m.layers().get(10)).channels());
        assertEquals(400, ((Linear) lenetBn(32).layers().get(9)).inFeatures());
        assertEquals(16 * 53 * 53, ((Linear) lenetBn(224).layers().get(9)).inFeatures());
        Sequential mlp = Models.create("mlp-bn", ModelOptions.defaults()).build(1);
        assertEquals(784, ((Linear) mlp.layers().get(1)).inFeatures());
        assertEquals(List.of("Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"),
                mlp.layers().stream().map(Layer::typeName).toList());
    }

    @Test
    void printsLikePyTorch() {
        String bn = "eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)";
        String expected = String.join("\n",
                "Sequential(",
                "  (0): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))",
                "  (1): BatchNorm2d(6, " + bn,
                "  (2): Sigmoid()",
                "  (3): AvgPool2d(kernel_size=2, stride=2, padding=0)",
                "  (4): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))",
                "  (5): BatchNorm2d(16, " + bn,
                "  (6): Sigmoid()",
                "  (7): AvgPool2d(kernel_size=2, stride=2, padding=0)",
                "  (8): Flatten(start_dim=1, end_dim=-1)",
                "  (9): Linear(in_features=256, out_features=120, bias=True)",
                "  (10): BatchNorm1d(120, " + bn,
                "  (11): Sigmoid()",
                "  (12): Linear(in_features=120, out_features=84, bias=True)",
                "  (13): BatchNorm1d(84, " + bn,
                "  (14): Sigmoid()",
                "  (15): Linear(in_features=84, out_features=10, bias=True)",
                ")");
        assertEquals(expected, lenetBn(28).toString());
        assertEquals("Conv2d(?, 4, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)",
                new Conv2d(4, 3, 2, 1, false).toString());
        assertEquals("MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)", new MaxPool2d(3, 2, 1).toString());
    }

    @Test
    void presetOptionsChangeTheLayers() {
        Sequential m = Models.create("lenet", ModelOptions.defaults().withPool("max").withActivation("relu")).build(1);
        assertEquals(List.of("Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
                "Linear", "ReLU", "Linear", "ReLU", "Linear"), m.layers().stream().map(Layer::typeName).toList());
        // LeNet-BN's count less the BatchNorm parameters.
        assertEquals(44878 - (12 + 32 + 240 + 168), m.parameterCount());
    }

    @Test
    void unknownNamesListTheValidOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Models.create("resnet", ModelOptions.defaults()));
        assertTrue(e.getMessage().contains("resnet") && e.getMessage().contains("lenet-bn, lenet, mlp-bn, mlp"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ModelOptions.defaults().withPool("min"));
        assertTrue(e.getMessage().contains("avg, max"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ModelOptions.defaults().withActivation("tanh"));
        assertTrue(e.getMessage().contains("sigmoid, relu"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ModelOptions.defaults().withInit("he"));
        assertTrue(e.getMessage().contains("default, xavier"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> Models.create("lenet-bn", ModelOptions.defaults().withResize(8)).build(1));
        assertTrue(e.getMessage().contains("Conv2d"), e.getMessage());
    }

    @Test
    void stateNamesAreThoseOfPyTorchsSequential() {
        List<String> pytorch = List.of(
                "0.weight", "0.bias",
                "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
                "4.weight", "4.bias",
                "5.weight", "5.bias", "5.running_mean", "5.running_var", "5.num_batches_tracked",
                "9.weight", "9.bias",
                "10.weight", "10.bias", "10.running_mean", "10.running_var", "10.num_batches_tracked",
                "12.weight", "12.bias",
                "13.weight", "13.bias", "13.running_mean", "13.running_var", "13.num_batches_tracked",
                "15.weight", "15.bias");
        Sequential m = lenetBn(28);
        assertEquals(pytorch, List.copyOf(m.state().keySet()));
        assertEquals(pytorch, List.copyOf(m.stateShapes().keySet()));
        assertEquals(Shape.of(6, 1, 5, 5), m.stateShapes().get("0.weight"));
        assertEquals(Shape.of(120, 256), m.stateShapes().get("9.weight"));
        assertEquals(Shape.of(), m.stateShapes().get("13.num_batches_tracked"));
        m.to(backend);
        assertEquals(pytorch, List.copyOf(m.state().keySet()));
    }

    @Test
    void summaryOfLenetBnAt28MatchesHandCounts() {
        String s = lenetBn(28).summary(256);
        String expectedRows = String.join("\n",
                "----------------------------------------------------------------",
                "        Layer (type)               Output Shape         Param #",
                "================================================================",
                "            Conv2d-1            [-1, 6, 24, 24]             156",
                "       BatchNorm2d-2            [-1, 6, 24, 24]              12",
                "           Sigmoid-3            [-1, 6, 24, 24]               0",
                "         AvgPool2d-4            [-1, 6, 12, 12]               0",
                "            Conv2d-5             [-1, 16, 8, 8]           2,416",
                "       BatchNorm2d-6             [-1, 16, 8, 8]              32",
                "           Sigmoid-7             [-1, 16, 8, 8]               0",
                "         AvgPool2d-8             [-1, 16, 4, 4]               0",
                "           Flatten-9                  [-1, 256]               0",
                "           Linear-10                  [-1, 120]          30,840",
                "      BatchNorm1d-11                  [-1, 120]             240",
                "          Sigmoid-12                  [-1, 120]               0",
                "           Linear-13                   [-1, 84]          10,164",
                "      BatchNorm1d-14                   [-1, 84]             168",
                "          Sigmoid-15                   [-1, 84]               0",
                "           Linear-16                   [-1, 10]             850",
                "================================================================",
                // 156 + 12 + 2416 + 32 + 30840 + 240 + 10164 + 168 + 850
                "Total params: 44,878",
                "Trainable params: 44,878",
                "Non-trainable params: 0",
                "----------------------------------------------------------------",
                // 784 * 256 * 4 B = 0.7656 MB
                "Input size (MB): 0.77",
                // outputs per sample: 3*3456 + 864 + 3*1024 + 256 + 256 + 3*120 + 3*84 + 10 = 15438;
                // 15438 * 256 * 4 B * 2 (gradients) = 30.1523 MB
                "Forward/backward pass size (MB): 30.15",
                // 44878 * 4 B = 0.1712 MB
                "Params size (MB): 0.17",
                "Estimated Total Size (MB): 31.09",
                "----------------------------------------------------------------",
                "");
        assertEquals(expectedRows, s.replace(System.lineSeparator(), "\n"));
    }

    @Test
    void lenetBnAt224HasAbout5Point4MillionParameters() {
        Sequential m = lenetBn(224);
        // 44878 - 30840 + (44944 * 120 + 120)
        assertEquals(5_407_438, m.parameterCount());
        String s = m.summary(1);
        assertTrue(s.contains("           Linear-10                  [-1, 120]       5,393,400"), s);
        assertTrue(s.contains("Total params: 5,407,438"), s);
        assertTrue(s.contains("            Conv2d-1          [-1, 6, 220, 220]             156"), s);
        assertEquals(26_634, Models.create("mlp-bn", ModelOptions.defaults()).build(1).parameterCount());
    }

    @Test
    void parametersAreViewsOfOneFlatTensorAndFlattenIsAView() {
        Sequential m = lenetBn(28).to(backend);
        CpuTensor flat = (CpuTensor) m.parameters();
        assertEquals(1, flat.shape().rank());
        assertTrue(flat.size() >= m.parameterCount());
        Conv2d conv = (Conv2d) m.layers().get(0);
        CpuTensor w = (CpuTensor) conv.param(0);
        assertSame(flat.data(), w.data(), "a layer's weight is a view of the flat parameter tensor");
        assertSame(((CpuTensor) m.gradients()).data(), ((CpuTensor) conv.grad(0)).data());
        Sequential.Plan plan = m.plan(4);
        CpuTensor beforeFlatten = (CpuTensor) plan.activation(8);
        CpuTensor afterFlatten = (CpuTensor) plan.activation(9);
        assertSame(beforeFlatten.data(), afterFlatten.data(), "Flatten must not copy");
        assertEquals(Shape.of(4, 256), afterFlatten.shape());
        assertSame(((CpuTensor) plan.activation(2)).data(), ((CpuTensor) plan.activation(3)).data(),
                "Sigmoid after BatchNorm runs in place");
        assertNotSame(((CpuTensor) plan.activation(1)).data(), ((CpuTensor) plan.activation(2)).data());
        assertSame(plan, m.plan(4), "plans are cached per batch size");
        assertSame(plan, m.forwardPlan(4), "evaluation reuses the training plan of the same size");
        assertNotSame(plan, m.plan(3));
    }

    /**
     * A backend closed while it holds a model takes the model's state with it (a GPU frees the
     * memory): closing the model afterwards is quiet, but reading its state fails and names the
     * backend, on the CPU as on a GPU, until loadState gives it one. The host copy from before the
     * move is stale, and must not be what a save writes.
     */
    @Test
    void aBackendClosedWhileItHoldsTheModelTakesTheStateWithIt() {
        Sequential a = lenetBn(28);
        Map<String, float[]> initial = a.state();
        CpuBackend early = new CpuBackend(1);
        a.to(early);
        a.parameters().copyFrom(new float[a.parameters().shape().sizeInt()]);  // "trained" on the device
        early.close();
        assertTrue(early.isClosed());
        IllegalStateException e = assertThrows(IllegalStateException.class, a::state);
        assertTrue(e.getMessage().contains("was closed while it held the model") && e.getMessage().contains(early.describe()),
                e.getMessage());
        a.close();  // quiet: the backend already freed the device state
        assertThrows(IllegalStateException.class, a::state, "the host copy is the stale one from before the move");
        assertThrows(IllegalStateException.class, () -> a.to(backend));
        assertThrows(IllegalStateException.class, a::copy);
        a.loadState(initial);
        a.to(backend);
        for (String k : initial.keySet()) {
            assertArrayEquals(initial.get(k), a.state().get(k), k);
        }
        a.close();
        assertTrue(a.state().containsKey("0.weight"), "closed in order, the state is home");
    }

    @Test
    void stateSurvivesMovingAndLoadStateChecksBeforeWriting() {
        Sequential a = lenetBn(28);
        Map<String, float[]> s = a.state();
        a.to(backend);
        Map<String, float[]> onDevice = a.state();
        for (String k : s.keySet()) {
            assertArrayEquals(s.get(k), onDevice.get(k), k);
        }
        Sequential b = Models.create("lenet-bn", ModelOptions.defaults()).build(2).to(backend);
        Map<String, float[]> before = b.state();
        Map<String, float[]> bad = a.state();
        bad.put("9.weight", new float[5]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.loadState(bad));
        assertTrue(e.getMessage().contains("9.weight"), e.getMessage());
        Map<String, float[]> missing = a.state();
        missing.remove("13.running_var");
        e = assertThrows(IllegalArgumentException.class, () -> b.loadState(missing));
        assertTrue(e.getMessage().contains("13.running_var"), e.getMessage());
        Map<String, float[]> extra = a.state();
        extra.put("16.weight", new float[1]);
        e = assertThrows(IllegalArgumentException.class, () -> b.loadState(extra));
        assertTrue(e.getMessage().contains("16.weight"), e.getMessage());
        Map<String, float[]> after = b.state();
        for (String k : before.keySet()) {
            assertArrayEquals(before.get(k), after.get(k), "failed loads must not change " + k);
        }
        b.loadState(a.state());
        for (String k : s.keySet()) {
            assertArrayEquals(s.get(k), b.state().get(k), k);
        }
        b.to(null);
        for (String k : s.keySet()) {
            assertArrayEquals(s.get(k), b.state().get(k), "after moving back to the host: " + k);
        }
    }

    @Test
    void defaultInitFollowsPyTorchBoundsAndXavierItsOwn() {
        Map<String, float[]> s = lenetBn(28).state();
        checkBound(s.get("0.weight"), 1 / Math.sqrt(25));
        checkBound(s.get("0.bias"), 1 / Math.sqrt(25));
        checkBound(s.get("9.weight"), 1 / Math.sqrt(256));
        assertArrayEquals(BatchNormTest.filled(6, 1f), s.get("1.weight"));
        assertArrayEquals(new float[6], s.get("1.bias"));
        Map<String, float[]> x = Models.create("lenet-bn", ModelOptions.defaults().withInit("xavier")).build(1).state();
        checkBound(x.get("9.weight"), Math.sqrt(6.0 / (256 + 120)));
        checkBound(x.get("0.weight"), Math.sqrt(6.0 / (25 + 150)));
        // Same seed, same values; another seed, other values.
        assertArrayEquals(s.get("4.weight"), lenetBn(28).state().get("4.weight"));
        assertTrue(!java.util.Arrays.equals(s.get("4.weight"),
                Models.create("lenet-bn", ModelOptions.defaults()).build(2).state().get("4.weight")));
    }

    /** All values within the bound, and spread over it (max |v| above 90% of the bound). */
    private static void checkBound(float[] v, double bound) {
        double max = 0;
        for (float f : v) {
            max = Math.max(max, Math.abs(f));
        }
        assertTrue(max <= bound && max > 0.9 * bound, "max |v| " + max + " for bound " + bound);
    }

    /** planValues counts exactly what a plan allocates, less the batch norms' scratch (bounded here). */
    @Test
    void planValuesPredictsWhatAPlanAllocates() {
        for (String preset : Models.NAMES) {
            for (String act : ModelOptions.ACTIVATIONS) {
                for (boolean training : new boolean[] {true, false}) {
                    long[] allocated = {0};
                    try (CpuBackend cpu = new CpuBackend(1)) {
                        dev.normnet.backend.Backend counting = (dev.normnet.backend.Backend) java.lang.reflect.Proxy.newProxyInstance(
                                getClass().getClassLoader(), new Class<?>[] {dev.normnet.backend.Backend.class}, (proxy, m, args) -> {
                                    if (m.getName().equals("allocate")) {
                                        allocated[0] += ((Shape) args[0]).size();
                                    }
                                    try {
                                        return m.invoke(cpu, args);
                                    } catch (java.lang.reflect.InvocationTargetException e) {
                                        throw e.getCause();
                                    }
                                });
                        Sequential model = Models.create(preset, ModelOptions.defaults().withActivation(act)).build(1).to(counting);
                        long predicted = model.planValues(8, training);
                        long before = allocated[0];
                        if (training) {
                            model.plan(8);
                        } else {
                            model.forwardPlan(8);
                        }
                        long used = allocated[0] - before;
                        long scratch = 0;
                        for (int i = 0; i < model.layers().size(); i++) {
                            if (model.layers().get(i) instanceof BatchNorm) {
                                Shape out = model.shapeBefore(i + 1);
                                scratch += 2L * out.dim(0) + (training ? 8 * out.size() : 0);
                            }
                        }
                        String what = preset + " " + act + (training ? " training" : " forward");
                        assertTrue(predicted <= used && used <= predicted + scratch,
                                what + ": predicted " + predicted + ", allocated " + used + " (scratch at most " + scratch + ")");
                        model.close();
                    }
                }
            }
        }
        Sequential big = Models.create("lenet-bn", ModelOptions.defaults().withResize(1000)).build(1);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> big.planValues(2048, true));
        assertEquals("the output of layer 0 (Conv2d) would be 2048 x [6, 996, 996] = 12189892608 values, more than one"
                + " tensor holds (2^31 - 1)", e.getMessage());
    }
}
