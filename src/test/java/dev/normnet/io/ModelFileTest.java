package dev.normnet.io;

import dev.normnet.HostileInput;
import dev.normnet.Closeness;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.tensor.Shape;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * normnet's model file against PyTorch, both directions (the golden files come from
 * src/test/python/make_safetensors.py), and its checks.
 */
class ModelFileTest {
    static final Path GOLDEN = Path.of("src/test/resources/safetensors");
    /** Rewrites the committed normnet_*.safetensors instead of comparing with them. */
    static final boolean WRITE_GOLDEN = Boolean.getBoolean("normnet.golden.write");
    static final List<String> CLASSES = List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j");

    @TempDir
    Path dir;

    static ModelSpec spec(String model) {
        return new ModelSpec(model, ModelOptions.defaults(), CLASSES);
    }

    /** A seeded model whose biases, running statistics and counters are not the initial ones. */
    static Sequential moved(String model, long seed) {
        Sequential m = Models.create(model, ModelOptions.defaults()).build(seed);
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, float[]> s = m.state();
        s.forEach((name, v) -> {
            for (int i = 0; i < v.length; i++) {
                if (name.endsWith("running_mean") || name.endsWith("bias")) {
                    v[i] = (float) (rng.nextDouble() - 0.5);
                } else if (name.endsWith("running_var")) {
                    v[i] = (float) (0.25 + rng.nextDouble());
                } else if (name.endsWith("num_batches_tracked")) {
                    v[i] = 3;
                }
            }
        });
        m.loadState(s);
        return m;
    }

    /** Eval-mode logits of {@code model} for {@code inputs} (N, 1, 28, 28), on the CPU reference path. */
    static float[] evalLogits(Sequential model, float[] inputs, int n) {
        try (CpuBackend backend = new CpuBackend(1)) {
            model.to(backend);
            Sequential.Plan plan = model.forwardPlan(n);
            plan.input().copyFrom(inputs);
            plan.forward(false);
            float[] out = plan.output().toArray();
            model.to(null);
            return out;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"lenet-bn", "mlp-bn"})
    void aPyTorchStateDictLoadsWithTheModelNamedAndGivesPyTorchsLogits(String model) throws IOException {
        Path file = GOLDEN.resolve("pytorch_" + model + ".safetensors");
        assertNull(ModelFile.readSpec(file), "PyTorch writes no normnet metadata");
        ModelFileException e = assertThrows(ModelFileException.class, () -> ModelFile.load(file));
        assertTrue(e.getMessage().contains("does not say which model"), e.getMessage());
        try (ModelFile.Loaded loaded = ModelFile.load(file, spec(model));
             SafeTensors io = SafeTensors.open(GOLDEN.resolve("pytorch_" + model + "_io.safetensors"))) {
            assertEquals(3f, loaded.model().state().get((model.equals("lenet-bn") ? "1" : "2") + ".num_batches_tracked")[0]);
            float[] x = io.floats("inputs");
            float[] logits = evalLogits(loaded.model(), x, 16);
            Closeness.assertClose(model + " eval logits against PyTorch's (float64)", io.floats("logits"), logits, 1e-5);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"lenet-bn", "mlp-bn"})
    void normnetsFileIsTheOnePyTorchLoadedAndGivesPyTorchsLogits(String model) throws IOException {
        Path golden = GOLDEN.resolve("normnet_" + model + ".safetensors");
        Sequential m = moved(model, model.length());
        byte[] bytes = ModelFile.contents(m, spec(model)).toBytes();
        if (WRITE_GOLDEN) {
            Files.write(golden, bytes);
        }
        // make_safetensors.py loaded this exact file into PyTorch with strict=True.
        assertArrayEquals(Files.readAllBytes(golden), bytes, "normnet's file differs from the one PyTorch checked");
        try (SafeTensors st = SafeTensors.open(golden);
             SafeTensors io = SafeTensors.open(GOLDEN.resolve("pytorch_" + model + "_io.safetensors"));
             SafeTensors pt = SafeTensors.open(GOLDEN.resolve("normnet_" + model + "_logits.safetensors"))) {
            assertEquals("pt", st.metadata().get("format"));
            st.entries().forEach((name, e) -> assertEquals(name.endsWith("num_batches_tracked")
                    ? SafeTensors.DType.I64 : SafeTensors.DType.F32, e.dtype(), name));
            assertEquals(spec(model), ModelSpec.fromJson(st.metadata().get(ModelFile.METADATA_KEY)));
            float[] logits = evalLogits(m, io.floats("inputs"), 16);
            Closeness.assertClose(model + " eval logits against PyTorch's of the same file", pt.floats("logits"), logits, 1e-5);
        }
    }

    @Test
    void saveAndLoadRoundTripEveryTensorAndTheSpec() throws IOException {
        Sequential a = moved("lenet-bn", 1);
        ModelSpec spec = new ModelSpec("lenet-bn", ModelOptions.defaults().withPool("max").withActivation("relu"), CLASSES);
        Path f = dir.resolve("m.safetensors");
        ModelFile.save(a, spec, f);
        try (ModelFile.Loaded b = ModelFile.load(f)) {
            assertEquals(spec, b.spec());
            assertEquals(a.state().keySet(), b.model().state().keySet());
            a.state().forEach((k, v) -> assertArrayEquals(v, b.model().state().get(k), k));
        }
        try (CpuBackend backend = new CpuBackend(1)) {
            Sequential c = Models.create("lenet-bn", ModelOptions.defaults()).build(3).to(backend);
            ModelFile.loadInto(c, f);
            a.state().forEach((k, v) -> assertArrayEquals(v, c.state().get(k), k));
            c.close();
        }
        try (var files = Files.list(dir)) {
            assertEquals(List.of(f), files.toList(), "save leaves no temporary file");
        }
    }

    @Test
    void aSaveThatFailsKeepsThePreviousFileWhole() throws IOException {
        Path f = dir.resolve("m.safetensors");
        ModelFile.save(moved("mlp-bn", 1), spec("mlp-bn"), f);
        byte[] before = Files.readAllBytes(f);
        Sequential unbuilt = Models.create("mlp-bn", ModelOptions.defaults());
        assertThrows(IllegalStateException.class, () -> ModelFile.save(unbuilt, spec("mlp-bn"), f));
        assertArrayEquals(before, Files.readAllBytes(f));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count());
        }
    }

    /** Writes mlp-bn's state with {@code edit} applied, then expects loading into mlp-bn to fail saying {@code expected}. */
    private void assertRefused(String expected, Consumer<Map<String, float[]>> edit, boolean dropOne, boolean extra,
                               String shapeName, long[] shape) throws IOException {
        Sequential m = moved("mlp-bn", 5);
        Map<String, float[]> state = m.state();
        edit.accept(state);
        SafeTensors.Builder b = new SafeTensors.Builder();
        m.stateShapes().forEach((name, s) -> {
            if (dropOne && name.equals("7.bias")) {
                return;
            }
            long[] dims = name.equals(shapeName) ? shape : java.util.Arrays.stream(s.dims()).asLongStream().toArray();
            float[] v = state.get(name);
            if (name.equals(shapeName)) {
                v = new float[(int) java.util.Arrays.stream(shape).reduce(1, (x, y) -> x * y)];
            }
            b.putF32(name, dims, v);
        });
        if (extra) {
            b.putF32("8.weight", new long[] {1}, new float[] {1});
        }
        Path f = dir.resolve("bad.safetensors");
        b.write(f);
        Sequential target = moved("mlp-bn", 6);
        Map<String, float[]> before = target.state();
        ModelFileException e = assertThrows(ModelFileException.class, () -> ModelFile.loadInto(target, f));
        assertTrue(e.getMessage().startsWith(f + ": ") && e.getMessage().contains(expected), e.getMessage());
        before.forEach((k, v) -> assertArrayEquals(v, target.state().get(k), "a refused file changed " + k));
    }

    @Test
    void filesThatDoNotFitTheModelOrHoldImpossibleValuesAreRefusedAndChangeNothing() throws IOException {
        Consumer<Map<String, float[]>> none = s -> { };
        assertRefused("tensor '7.bias' [10] is missing", none, true, false, null, null);
        assertRefused("tensor '8.weight' is not in the model", none, false, true, null, null);
        assertRefused("tensor '1.weight' has shape [32, 783], the model expects [32, 784]", none, false, false,
                "1.weight", new long[] {32, 783});
        assertRefused("tensor '4.weight' holds NaN at index 7", s -> s.get("4.weight")[7] = Float.NaN, false, false, null, null);
        assertRefused("tensor '2.running_mean' holds Infinity at index 0",
                s -> s.get("2.running_mean")[0] = Float.POSITIVE_INFINITY, false, false, null, null);
        assertRefused("tensor '5.running_var' holds the negative value -0.5 at index 3 (a variance is never negative)",
                s -> s.get("5.running_var")[3] = -0.5f, false, false, null, null);
        assertRefused("tensor '2.num_batches_tracked' holds the negative value -1.0",
                s -> s.get("2.num_batches_tracked")[0] = -1, false, false, null, null);
    }

    @Test
    void parametersMustBeFloatingAndTheCountAnInteger() throws IOException {
        Sequential m = moved("mlp", 2);
        SafeTensors.Builder b = new SafeTensors.Builder();
        m.state().forEach((name, v) -> {
            long[] dims = java.util.Arrays.stream(m.stateShapes().get(name).dims()).asLongStream().toArray();
            if (name.equals("5.bias")) {
                b.putI64(name, dims, new long[v.length]);
            } else {
                b.putF32(name, dims, v);
            }
        });
        Path f = dir.resolve("int.safetensors");
        b.write(f);
        ModelFileException e = assertThrows(ModelFileException.class, () -> ModelFile.loadInto(m, f));
        assertTrue(e.getMessage().contains("tensor '5.bias' is I64, expected a floating type"), e.getMessage());
    }

    @Test
    void aBrokenModelDescriptionIsNamed() throws IOException {
        Sequential m = moved("mlp", 2);
        Path f = dir.resolve("meta.safetensors");
        SafeTensors.Builder b = ModelFile.contents(m, null).putMetadata(ModelFile.METADATA_KEY, "{\"format_version\": 1, \"model\": \"resnet\"}");
        b.write(f);
        ModelFileException e = assertThrows(ModelFileException.class, () -> ModelFile.load(f));
        assertTrue(e.getMessage().startsWith(f + ": metadata 'normnet': "), e.getMessage());
        SafeTensors.Builder v3 = ModelFile.contents(m, null).putMetadata(ModelFile.METADATA_KEY, "{\"format_version\": 3}");
        v3.write(f);
        e = assertThrows(ModelFileException.class, () -> ModelFile.load(f));
        assertTrue(e.getMessage().contains("version 3 is not supported"), e.getMessage());
    }

    @Test
    void theSpecRebuildsTheModelsShapes() {
        ModelSpec s = new ModelSpec("lenet", ModelOptions.defaults().withResize(32), List.of());
        assertEquals("sigmoid", s.options().activation(), "the preset's activation is written out");
        assertEquals(s, ModelSpec.fromJson(s.toJson()));
        try (Sequential m = s.create().build(0)) {
            assertEquals(Shape.of(120, 400), m.stateShapes().get("7.weight"));
        }
        assertEquals("3", s.className(3));
        assertThrows(IllegalArgumentException.class, () -> new ModelSpec("lenet", ModelOptions.defaults().withResize(8), List.of()));
    }

    // ------------------------------------------------------------------ folded models

    @ParameterizedTest
    @ValueSource(strings = {"lenet-bn", "mlp-bn"})
    void normnetsFoldAgreesWithPyTorchsFusionOfTheSameFile(String model) throws IOException {
        try (ModelFile.Loaded loaded = ModelFile.load(GOLDEN.resolve("pytorch_" + model + ".safetensors"), spec(model));
             SafeTensors pt = SafeTensors.open(GOLDEN.resolve("pytorch_" + model + "-folded.safetensors"));
             SafeTensors io = SafeTensors.open(GOLDEN.resolve("pytorch_" + model + "_io.safetensors"))) {
            Sequential folded = loaded.model().foldBatchNorm();
            Map<String, float[]> state = folded.state();
            assertEquals(pt.entries().keySet(), state.keySet(), "the state_dict names of PyTorch's fused model");
            // PyTorch computes the fused values in float32 (a few roundings each), normnet in float64 rounded once.
            for (Map.Entry<String, float[]> e : state.entrySet()) {
                System.out.println(Closeness.assertClose(model + " folded " + e.getKey() + " against torch.nn.utils.fusion",
                        pt.floats(e.getKey()), e.getValue(), 1e-6));
            }
            float[] x = io.floats("inputs");
            Closeness.assertClose(model + " folded logits against PyTorch's unfolded eval logits (float64)", io.floats("logits"),
                    evalLogits(folded, x, 16), 1e-5);
            // PyTorch's fused file, with no metadata, loads as the folded model when named so.
            try (ModelFile.Loaded fused = ModelFile.load(GOLDEN.resolve("pytorch_" + model + "-folded.safetensors"),
                    spec(model).asFolded())) {
                Closeness.assertClose(model + " PyTorch's fused file in normnet", io.floats("logits"), evalLogits(fused.model(), x, 16), 1e-5);
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"lenet-bn", "mlp-bn"})
    void normnetsFoldedFileIsTheOnePyTorchLoadedAndGivesPyTorchsLogits(String model) throws IOException {
        Path golden = GOLDEN.resolve("normnet_" + model + "-folded.safetensors");
        Sequential unfolded = moved(model, model.length());
        Sequential m = unfolded.foldBatchNorm();
        byte[] bytes = ModelFile.contents(m, spec(model).asFolded()).toBytes();
        if (WRITE_GOLDEN) {
            Files.write(golden, bytes);
        }
        // make_safetensors.py loaded this exact file into models.make_model(model + "-folded") with strict=True.
        assertArrayEquals(Files.readAllBytes(golden), bytes, "normnet's folded file differs from the one PyTorch checked");
        try (SafeTensors st = SafeTensors.open(golden);
             SafeTensors io = SafeTensors.open(GOLDEN.resolve("pytorch_" + model + "_io.safetensors"));
             SafeTensors pt = SafeTensors.open(GOLDEN.resolve("normnet_" + model + "-folded_logits.safetensors"))) {
            st.entries().forEach((name, e) -> assertEquals(SafeTensors.DType.F32, e.dtype(), name));
            assertEquals(spec(model).asFolded(), ModelSpec.fromJson(st.metadata().get(ModelFile.METADATA_KEY)));
            float[] x = io.floats("inputs");
            float[] logits = evalLogits(m, x, 16);
            Closeness.assertClose(model + " folded eval logits against PyTorch's of the same file", pt.floats("logits"), logits, 1e-5);
            Closeness.assertClose(model + " folded eval logits against the unfolded model's", evalLogits(unfolded, x, 16), logits, 1e-5);
        }
    }

    @Test
    void aFoldedModelSavesAndLoadsWithItsArchitecture() throws IOException {
        Sequential a = moved("lenet-bn", 1).foldBatchNorm();
        ModelSpec spec = new ModelSpec("lenet-bn", ModelOptions.defaults().withPool("max"), CLASSES, true);
        Path f = dir.resolve("f.safetensors");
        ModelFile.save(a, spec, f);
        assertEquals(spec, ModelFile.readSpec(f));
        try (SafeTensors st = SafeTensors.open(f)) {
            String json = st.metadata().get(ModelFile.METADATA_KEY);
            assertTrue(json.contains("\"format_version\":2") && json.contains("\"folded\":true"), json);
            assertEquals(List.of("0.weight", "0.bias", "4.weight", "4.bias", "9.weight", "9.bias", "12.weight", "12.bias",
                    "15.weight", "15.bias"), List.copyOf(st.entries().keySet()).stream().sorted(
                    java.util.Comparator.comparingInt((String k) -> Integer.parseInt(k.substring(0, k.indexOf('.'))))
                            .thenComparing(k -> k.endsWith("bias"))).toList());
        }
        try (ModelFile.Loaded b = ModelFile.load(f)) {
            assertEquals(spec, b.spec());
            assertEquals("Identity", b.model().layers().get(1).typeName());
            assertEquals(a.state().keySet(), b.model().state().keySet());
            a.state().forEach((k, v) -> assertArrayEquals(v, b.model().state().get(k), k));
        }
        String plain = spec("lenet-bn").toJson();
        assertTrue(plain.contains("\"format_version\":1") && !plain.contains("folded"), plain);
        // The file and the architecture must agree: a folded file is not an unfolded model, and the other way round.
        ModelFileException e = assertThrows(ModelFileException.class, () -> ModelFile.load(f, spec("lenet-bn")));
        assertTrue(e.getMessage().contains("tensor '1.weight' [6] is missing"), e.getMessage());
        Path unfolded = dir.resolve("u.safetensors");
        ModelFile.save(moved("lenet-bn", 1), spec("lenet-bn"), unfolded);
        e = assertThrows(ModelFileException.class, () -> ModelFile.load(unfolded, spec("lenet-bn").asFolded()));
        assertTrue(e.getMessage().contains("tensor '1.") && e.getMessage().contains("is not in the model"), e.getMessage());
    }

    @Test
    void aFoldedDescriptionMustBeConsistent() {
        String v1 = spec("mlp-bn").toJson();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelSpec.fromJson(v1.replace("{", "{\"folded\":true,")));
        assertTrue(e.getMessage().contains("version 1 cannot mark the model folded"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(v1.replace("\"format_version\":1", "\"format_version\":2")));
        assertTrue(e.getMessage().contains("version 2 must mark the model folded"), e.getMessage());
        String v2 = spec("mlp-bn").asFolded().toJson();
        e = assertThrows(IllegalArgumentException.class, () -> ModelSpec.fromJson(v2.replace("\"folded\":true", "\"folded\":\"yes\"")));
        assertTrue(e.getMessage().contains("'folded' must be true or false"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new ModelSpec("mlp", ModelOptions.defaults(), List.of(), true));
        assertEquals("mlp has no batch norm to fold, so no folded mlp exists", e.getMessage());
    }

    /**
     * Found by SafeTensorsFuzzTest (seed model-lenet-bn-1024-no-tensors): a 252-byte file whose
     * metadata names LeNet-BN at 1024 x 1024 built that model (about 1 GB, initialized at random)
     * before finding that its one tensor does not fit. Now names and shapes are checked against the
     * model's inferred state first, and nothing is allocated for a file that cannot fit.
     */
    @Test
    void aSmallFileNamingALargeModelIsRefusedBeforeTheModelIsBuilt() throws Exception {
        ModelSpec big = new ModelSpec("lenet-bn", ModelOptions.defaults().withResize(ModelSpec.MAX_SIDE), CLASSES);
        Path file = dir.resolve("big.safetensors");
        new SafeTensors.Builder().putMetadata(ModelFile.METADATA_KEY, big.toJson())
                .putF32("0.weight", new long[] {1}, new float[] {1}).write(file);
        Path small = dir.resolve("small.safetensors");
        new SafeTensors.Builder().putMetadata(ModelFile.METADATA_KEY, spec("mlp-bn").toJson())
                .putF32("0.weight", new long[] {1}, new float[] {1}).write(small);
        assertThrows(ModelFileException.class, () -> ModelFile.load(small));  // loads the classes
        HostileInput.Outcome<ModelFile.Loaded> got = HostileInput.read(file, ModelFileException.class, 0,
                () -> ModelFile.load(file));
        assertEquals(file + ": tensor '0.weight' has shape [1], the model expects [6, 1, 5, 5]", got.refusal().getMessage());
    }
}
