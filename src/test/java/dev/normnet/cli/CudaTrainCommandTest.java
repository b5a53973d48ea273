package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.normnet.Closeness;
import dev.normnet.GpuTest;
import dev.normnet.backend.Backends;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code train}, {@code predict} and {@code eval} on the GPU exactly as the command line runs
 * them: the Trainer with captured steps (the first step eager, then the graph), two runs with
 * one seed giving the same bits, the captured path giving the eager path's bits, and the GPU's
 * predictions of a model agreeing with the CPU's (probabilities within the closeness rule, few
 * differing top-1 classes: near-tied logits may flip). Skips without a usable GPU.
 */
@GpuTest
class CudaTrainCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    Path data;

    @BeforeEach
    void requireGpu() throws IOException {
        assumeTrue(Backends.cudaStatus().available(), "CUDA unavailable: " + Backends.cudaStatus().explain());
        data = SyntheticData.write(tmp.resolve("data"), 2048, 512);
    }

    /** Trains 2 epochs of LeNet-BN on {@code device}; returns the saved model file (the history beside it). */
    private Path train(String name, String device, String... extra) {
        Path model = tmp.resolve(name + ".safetensors");
        List<String> args = new ArrayList<>(List.of("train", "--data", data.toString(), "--device", device, "--epochs", "2",
                "--batch", "128", "--seed", "11", "--save", model.toString(), "--history", tmp.resolve(name + ".json").toString()));
        args.addAll(List.of(extra));
        CliTestSupport.Result r = CliTestSupport.run(args.toArray(new String[0]));
        assertEquals(0, r.status(), r.err());
        return model;
    }

    /** The per-epoch losses and accuracies of a run's history (no timings). */
    private List<String> metrics(String name) throws IOException {
        JsonNode doc = JSON.readTree(tmp.resolve(name + ".json").toFile());
        List<String> out = new ArrayList<>();
        for (JsonNode e : doc.get("history")) {
            out.add(e.get("epoch") + " " + e.get("train_loss") + " " + e.get("train_acc") + " " + e.get("test_acc"));
        }
        assertEquals(2, out.size(), doc.toString());
        return out;
    }

    @Test
    void sameSeedSameBitsAndTheGraphEqualsEagerLaunches() throws IOException {
        Path a = train("a", "cuda");
        Path b = train("b", "cuda");
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "two GPU runs with one seed: the same model file");
        assertEquals(metrics("a"), metrics("b"), "and the same history");
        Path eager = train("eager", "cuda", "--no-graph");
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(eager), "captured steps give the eager launches' bits");
        assertEquals(metrics("a"), metrics("eager"));
        double testAcc = JSON.readTree(tmp.resolve("a.json").toFile()).get("history").get(1).get("test_acc").asDouble();
        assertTrue(testAcc > 0.5, "the synthetic labels are easy to learn; test accuracy " + testAcc);
    }

    /** predict --json --top 10: every image's ten probabilities, by class index. */
    private double[][] probabilities(Path model, String device) throws IOException {
        Path images = data.resolve(SyntheticData.TEST_IMAGES);
        CliTestSupport.Result r = CliTestSupport.run("predict", model.toString(), images.toString(), "--top", "10", "--json",
                "--device", device);
        assertEquals(0, r.status(), r.err());
        JsonNode predictions = JSON.readTree(r.out()).get("predictions");
        double[][] p = new double[predictions.size()][10];
        for (int i = 0; i < p.length; i++) {
            for (JsonNode c : predictions.get(i).get("top")) {
                p[i][c.get("index").asInt()] = c.get("probability").asDouble();
            }
        }
        return p;
    }

    @Test
    void gpuAndCpuPredictionsOfOneModelAgree() throws IOException {
        Path model = train("m", "cuda");
        double[][] gpu = probabilities(model, "cuda");
        double[][] cpu = probabilities(model, "cpu");
        assertEquals(512, gpu.length);
        double[] expected = new double[gpu.length * 10];
        float[] actual = new float[expected.length];
        int differing = 0;
        for (int i = 0; i < gpu.length; i++) {
            for (int k = 0; k < 10; k++) {
                expected[i * 10 + k] = cpu[i][k];
                actual[i * 10 + k] = (float) gpu[i][k];
            }
            differing += argmax(gpu[i]) == argmax(cpu[i]) ? 0 : 1;
        }
        System.out.println(Closeness.assertClose("predict probabilities, GPU vs CPU", expected, actual, 1e-3, 1e-6));
        assertTrue(differing <= gpu.length / 100, differing + " of " + gpu.length + " top-1 classes differ");
        CliTestSupport.Result ge = CliTestSupport.run("eval", model.toString(), "--data", data.toString(), "--device", "cuda");
        CliTestSupport.Result ce = CliTestSupport.run("eval", model.toString(), "--data", data.toString(), "--device", "cpu");
        assertEquals(0, ge.status(), ge.err());
        assertEquals(0, ce.status(), ce.err());
    }

    private static int argmax(double[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            best = v[i] > v[best] ? i : best;
        }
        return best;
    }
}
