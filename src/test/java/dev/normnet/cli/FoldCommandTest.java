package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelSpec;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `normnet fold`: what it prints and writes, that eval, predict and inspect read its file, and its errors. */
class FoldCommandTest {
    static final Path PYTORCH = Path.of("src/test/resources/safetensors/pytorch_lenet-bn.safetensors");

    @TempDir
    static Path tmp;
    static Path data;
    static Path model;
    static Path folded;
    static CliTestSupport.Result foldRun;

    /** A LeNet-BN trained by the command line on the synthetic set (so that its predictions are not near-ties), then folded. */
    @BeforeAll
    static void trainAndFold() throws IOException {
        data = SyntheticData.write(tmp.resolve("data"), 300, 200);
        model = tmp.resolve("m.safetensors");
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", data.toString(), "--device", "cpu", "--threads", "1",
                "--epochs", "3", "--batch", "32", "--optimizer", "adam", "--lr", "0.01", "--save", model.toString());
        assertEquals(0, r.status(), r.err());
        folded = tmp.resolve("f.safetensors");
        foldRun = CliTestSupport.run("fold", model.toString(), "--out", folded.toString());
    }

    @Test
    void printsWhatWasFoldedAndTheCountsAndWritesTheFoldedModel() throws IOException {
        assertEquals(0, foldRun.status(), foldRun.err());
        assertEquals("", foldRun.err());
        assertEquals(List.of(
                "model: lenet-bn (avg pooling, sigmoid, input 28x28), from " + model,
                "folded: BatchNorm2d-2 (\"1.\") into Conv2d-1 (\"0.\")",
                "folded: BatchNorm2d-6 (\"5.\") into Conv2d-5 (\"4.\")",
                "folded: BatchNorm1d-11 (\"10.\") into Linear-10 (\"9.\")",
                "folded: BatchNorm1d-14 (\"13.\") into Linear-13 (\"12.\")",
                // 2 x (6 + 16 + 120 + 84) gammas and betas fewer; their running means, variances and 4 counters gone.
                "parameters: 44,878 before, 44,426 after; running statistics: 456 values before, 0 after",
                "saved: " + folded + " (lenet-bn (avg pooling, sigmoid, input 28x28, batch norm folded))"),
                Arrays.asList(foldRun.out().split("\\R")));
        ModelSpec spec = ModelFile.readSpec(folded);
        assertTrue(spec.folded());
        assertEquals(ModelFile.readSpec(model).asFolded(), spec, "the classes and options carry over");
        // The file is the library's fold of the input, written whole.
        try (ModelFile.Loaded in = ModelFile.load(model)) {
            assertArrayEquals(ModelFile.contents(in.model().foldBatchNorm(), spec).toBytes(), Files.readAllBytes(folded));
        }
        try (var files = Files.list(tmp)) {
            assertEquals(List.of("data", "f.safetensors", "m.safetensors"), files.map(p -> p.getFileName().toString())
                    .filter(n -> !n.startsWith("x-")).sorted().toList(), "no temporary file is left");
        }
    }

    @Test
    void evalOfTheFoldedFileGivesTheSamePredictions() throws IOException {
        assertEquals(0, foldRun.status(), foldRun.err());
        JsonNode[] docs = new JsonNode[2];
        String[] firstLines = new String[2];
        Path[] files = {model, folded};
        for (int i = 0; i < 2; i++) {
            Path json = tmp.resolve("x-eval" + i + ".json");
            CliTestSupport.Result r = CliTestSupport.run("eval", files[i].toString(), "--data", data.toString(), "--device", "cpu",
                    "--threads", "1", "--json", json.toString());
            assertEquals(0, r.status(), r.err());
            firstLines[i] = r.out().split("\\R")[0];
            docs[i] = JsonFiles.readObject(json);
        }
        assertEquals("model: lenet-bn (avg pooling, sigmoid, input 28x28, batch norm folded), 44,426 parameters, from " + folded,
                firstLines[1]);
        assertEquals(docs[0].get("confusion"), docs[1].get("confusion"), "the same prediction for every test image");
        assertEquals(docs[0].get("test_acc").asDouble(), docs[1].get("test_acc").asDouble(), 0.0);
        assertEquals(docs[0].get("test_loss").asDouble(), docs[1].get("test_loss").asDouble(), 1e-5 * docs[0].get("test_loss").asDouble());
        assertTrue(docs[0].get("test_acc").asDouble() > 0.5, "a trained model: " + docs[0].get("test_acc"));
    }

    @Test
    void predictAndInspectReadTheFoldedFile() {
        Path images = data.resolve(SyntheticData.TEST_IMAGES);
        CliTestSupport.Result a = CliTestSupport.run("predict", model.toString(), images.toString(), "--top", "1", "--device", "cpu");
        CliTestSupport.Result b = CliTestSupport.run("predict", folded.toString(), images.toString(), "--top", "1", "--device", "cpu");
        assertEquals(0, a.status(), a.err());
        assertEquals(0, b.status(), b.err());
        List<String> classesA = Arrays.stream(a.out().split("\\R")).skip(2).map(l -> l.replaceAll(" [0-9.]+$", "")).toList();
        List<String> classesB = Arrays.stream(b.out().split("\\R")).skip(2).map(l -> l.replaceAll(" [0-9.]+$", "")).toList();
        assertEquals(200, classesA.size());
        assertEquals(classesA, classesB);

        CliTestSupport.Result r = CliTestSupport.run("inspect", folded.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("model: lenet-bn (avg pooling, sigmoid, input 28x28, batch norm folded), 44,426 parameters"), r.out());
        assertTrue(r.out().contains("          Identity-2            [-1, 6, 24, 24]               0"), r.out());
        assertTrue(r.out().contains("no batch-norm layers: they are folded into the convolution and linear layers before them"), r.out());
        assertTrue(r.out().contains("10 tensors (10 F32)"), r.out());
        CliTestSupport.Result png = CliTestSupport.run("inspect", folded.toString(), "--png", tmp.resolve("x.png").toString());
        EvalCommandTest.oneLineExitTwo(png, "inspect --png of a folded file");
        assertTrue(png.err().contains("has no batch-norm layer to draw"), png.err());
    }

    @Test
    void aPyTorchStateDictFoldsWithTheModelNamed() throws IOException {
        Path out = tmp.resolve("x-pt-folded.safetensors");
        CliTestSupport.Result r = CliTestSupport.run("fold", PYTORCH.toString(), "--out", out.toString());
        EvalCommandTest.oneLineExitTwo(r, "a PyTorch file without --model");
        assertTrue(r.err().contains(PYTORCH + " does not say which model it holds"), r.err());
        assertFalse(Files.exists(out));
        r = CliTestSupport.run("fold", PYTORCH.toString(), "--model", "lenet-bn", "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertEquals(new ModelSpec("lenet-bn", ModelOptions.defaults(), List.of(), true), ModelFile.readSpec(out));
    }

    @Test
    void pyTorchsFusedFileEvaluatesAsTheFoldedModelWhenNamedSo() throws IOException {
        Path fused = Path.of("src/test/resources/safetensors/pytorch_lenet-bn-folded.safetensors");
        JsonNode[] docs = new JsonNode[2];
        String[][] args = {{PYTORCH.toString(), "--model", "lenet-bn"}, {fused.toString(), "--model", "lenet-bn-folded"}};
        for (int i = 0; i < 2; i++) {
            Path json = tmp.resolve("x-pt-eval" + i + ".json");
            List<String> line = new java.util.ArrayList<>(List.of("eval"));
            line.addAll(List.of(args[i]));
            line.addAll(List.of("--data", data.toString(), "--device", "cpu", "--threads", "1", "--json", json.toString()));
            CliTestSupport.Result r = CliTestSupport.run(line.toArray(String[]::new));
            assertEquals(0, r.status(), r.err());
            docs[i] = JsonFiles.readObject(json);
        }
        assertEquals(docs[0].get("confusion"), docs[1].get("confusion"));
        assertEquals(docs[0].get("test_loss").asDouble(), docs[1].get("test_loss").asDouble(), 1e-5 * docs[0].get("test_loss").asDouble());
        CliTestSupport.Result r = CliTestSupport.run("inspect", fused.toString(), "--model", "lenet-bn-folded");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("44,426 parameters"), r.out());
        // The unfolded architecture does not take the fused file, nor the folded one the unfolded file.
        EvalCommandTest.oneLineExitTwo(CliTestSupport.run("inspect", fused.toString(), "--model", "lenet-bn"), "fused as unfolded");
        EvalCommandTest.oneLineExitTwo(CliTestSupport.run("inspect", PYTORCH.toString(), "--model", "lenet-bn-folded"), "unfolded as fused");
    }

    /** {@code args} fail with one line naming {@code mentions}, exit 2, and write no {@code out}. */
    private static void refused(Path out, String what, List<String> args, String... mentions) throws IOException {
        boolean existed = Files.exists(out);
        byte[] before = existed ? Files.readAllBytes(out) : null;
        CliTestSupport.Result r = CliTestSupport.run(args.toArray(String[]::new));
        EvalCommandTest.oneLineExitTwo(r, what);
        assertEquals("", r.out(), what);
        for (String m : mentions) {
            assertTrue(r.err().contains(m), what + ": the message names '" + m + "': " + r.err());
        }
        if (existed) {
            assertArrayEquals(before, Files.readAllBytes(out), what + " changed " + out);
        } else {
            assertFalse(Files.exists(out), what + " wrote " + out);
        }
    }

    @Test
    void badInputIsOneLineNamingTheFileAndWritesNothing() throws IOException {
        Path out = tmp.resolve("x-out.safetensors");
        Path missing = tmp.resolve("x-missing.safetensors");
        refused(out, "missing input", List.of("fold", missing.toString(), "--out", out.toString()), missing.toString(),
                "no such file");
        Path garbage = tmp.resolve("x-garbage.safetensors");
        Files.writeString(garbage, "not a safetensors file at all, but long enough to have a header length");
        refused(out, "invalid input", List.of("fold", garbage.toString(), "--out", out.toString()), garbage.toString());
        refused(out, "a directory", List.of("fold", tmp.toString(), "--out", out.toString()), tmp.toString(), "is a directory");
        refused(out, "already folded", List.of("fold", folded.toString(), "--out", out.toString()), folded.toString(),
                "already folded", "nothing to fold");
        Path lenet = tmp.resolve("x-lenet.safetensors");
        ModelFile.save(Models.create("lenet", ModelOptions.defaults()).build(0),
                new ModelSpec("lenet", ModelOptions.defaults(), List.of()), lenet);
        refused(out, "no batch norm", List.of("fold", lenet.toString(), "--out", out.toString()), lenet.toString(),
                "has no batch norm after a convolution or linear layer; nothing to fold");
        refused(model, "--out same as the input", List.of("fold", model.toString(), "--out", model.toString()),
                "--out " + model, "are the same file");
        refused(model, "--out the input by another path", List.of("fold", model.toString(), "--out",
                tmp.resolve("data").resolve("..").resolve("m.safetensors").toString()), "are the same file");
        Path noDir = tmp.resolve("x-no-such-dir").resolve("f.safetensors");
        refused(noDir, "--out in a missing directory", List.of("fold", model.toString(), "--out", noDir.toString()),
                "--out " + noDir);
        refused(out, "contradicting --model", List.of("fold", model.toString(), "--model", "mlp-bn", "--out", out.toString()),
                "--model mlp-bn contradicts the file");
        refused(out, "no --out", List.of("fold", model.toString()), "--out");
        refused(out, "--model lenet-bn for a folded file", List.of("fold", folded.toString(), "--model", "lenet-bn", "--out", out.toString()),
                "--model lenet-bn contradicts the file", "batch norm folded");
        refused(out, "a PyTorch file named folded", List.of("fold", PYTORCH.toString(), "--model", "lenet-bn-folded", "--out", out.toString()),
                "--model lenet-bn-folded names a model already folded; nothing to fold in " + PYTORCH);
    }

    @Test
    void anExistingOutputIsReplacedWhole() throws IOException {
        Path out = tmp.resolve("x-replaced.safetensors");
        Files.writeString(out, "old");
        CliTestSupport.Result r = CliTestSupport.run("fold", model.toString(), "--out", out.toString());
        assertEquals(0, r.status(), r.err());
        assertArrayEquals(Files.readAllBytes(folded), Files.readAllBytes(out));
    }
}
