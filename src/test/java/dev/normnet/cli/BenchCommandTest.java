package dev.normnet.cli;

import dev.normnet.backend.cuda.CudaStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.backend.Backends;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class BenchCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
    private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();

    /** Runs {@code normnet bench ARGS} through the command line. */
    private int bench(String... args) {
        String[] line = new String[args.length + 1];
        line[0] = "bench";
        System.arraycopy(args, 0, line, 1, args.length);
        return Main.run(line, new PrintStream(outBytes, true, StandardCharsets.UTF_8),
                new PrintStream(errBytes, true, StandardCharsets.UTF_8));
    }

    /** The options picocli makes of {@code args}. */
    private static BenchCommand.Options parse(String... args) {
        BenchCommand command = new BenchCommand(System.out, System.err);
        new CommandLine(command).parseArgs(args);
        return command.options();
    }

    private String err() {
        return errBytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void helpAndDefaults() {
        assertEquals(0, bench("--help"));
        assertTrue(outBytes.toString(StandardCharsets.UTF_8).contains("Usage: normnet bench"));
        BenchCommand.Options o = parse();
        assertEquals("all", o.device());
        assertEquals(5, o.repeats());
        assertEquals(1.0, o.seconds());
        assertEquals(42, o.seed());
        assertTrue(o.large());
        assertTrue(o.fuse(), "activations fused into batch norm by default");
        assertFalse(parse("--no-fuse").fuse());
        BenchCommand.Options q = parse("--quick", "--device", "CPU");
        assertEquals(3, q.repeats());
        assertEquals(0.3, q.seconds());
        assertEquals("cpu", q.device());
        assertNull(q.only());
        BenchCommand.Options k = parse("--kernels", "--batch", "64", "--no-large", "--repeats", "7", "--quick");
        assertEquals(64, k.kernelBatch());
        assertEquals(7, k.repeats());
        assertTrue(k.kernels() && !k.large());
    }

    @Test
    void badArgumentsAreNamedInOneLine() {
        String[][] cases = {
            {"--device", "tpu"}, {"--device: unknown value 'tpu' (choose one of cpu, cuda, all)"},
            {"--seconds", "0"}, {"--seconds must be above 0 and at most 600 (got 0)"},
            {"--only", "(("}, {"--only ((: not a regular expression"},
            {"--threads"}, {"missing required parameter for option '--threads'"},
            {"--bogus"}, {"unknown option: '--bogus'"},
        };
        for (int i = 0; i < cases.length; i += 2) {
            errBytes.reset();
            assertEquals(2, bench(cases[i]), err());
            assertTrue(err().startsWith("normnet: " + cases[i + 1][0]), err());
            assertEquals(1, err().split("\\R").length, err());
        }
    }

    @Test
    void cudaAloneOnAMachineWithoutAGpuSaysWhy() {
        CudaStatus s = Backends.cudaStatus();
        assumeFalse(s.available(), "this machine has a usable GPU");
        assertEquals(2, bench("--device", "cuda", "--quick"));
        assertEquals("normnet: --device cuda: no usable GPU: " + s.explain() + " (use --device cpu or --device all)",
                err().trim());
    }

    @Test
    void threadsBuildTheBestCpuBackendWithThatManyThreads() {
        try (dev.normnet.backend.Backend best = Backends.cpu();
             dev.normnet.backend.Backend two = BenchCommand.backend("cpu", 2);
             dev.normnet.backend.Backend one = BenchCommand.backend("cpu", 1)) {
            assertEquals(best.getClass(), two.getClass());
            assertTrue(two.describe().contains("2 threads"), two.describe());
            assertTrue(one.describe().contains("1 thread"), one.describe());
        }
    }

    @Test
    void theFileIsRewrittenAfterEveryCaseSoARunStoppedEarlyKeepsWhatItMeasured() throws Exception {
        writeData();
        Path json = Files.createDirectories(dir.resolve("out")).resolve("partial.json");
        BenchCommand.Options o = parse("--device", "cpu", "--quick", "--threads", "1", "--repeats", "1", "--seconds",
                "0.02", "--only", "^mlp-bn-28/(train/b32|infer)", "--data", dir.toString(), "--json", json.toString());
        PrintStream sink = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);
        // the cases run and are measured, but the command does not get to its final write
        Map<String, Object> doc = BenchCommand.throughput(o, List.of("cpu"), sink, sink);
        JsonNode onDisk = JsonFiles.readObject(json);
        assertFalse(onDisk.get("complete").asBoolean(), onDisk.toString());
        assertEquals(2, onDisk.get("cases").size(), "the file holds every case measured before the stop");
        assertEquals("mlp-bn-28/infer/b1000/cpu", onDisk.get("cases").get(1).get("id").asText());
        assertEquals(((List<?>) doc.get("cases")).size(), onDisk.get("cases").size());
    }

    @Test
    void missingDataIsReported() {
        assertEquals(2, bench("--device", "cpu", "--data", dir.resolve("nowhere").toString()));
        assertTrue(err().startsWith("normnet: ") && err().contains("nowhere"), err());
    }

    private static void idx(Path file, int magic, int[] dims, byte[] body) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + body.length);
        b.putInt(magic);
        for (int d : dims) {
            b.putInt(d);
        }
        b.put(body);
        Files.write(file, b.array());
    }

    /** A small Fashion-MNIST look-alike (1,100 images per split) in {@code dir}. */
    private void writeData() throws IOException {
        int count = 1100;
        byte[] pixels = new byte[count * 784];
        byte[] labels = new byte[count];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) (i * 31);
        }
        for (int i = 0; i < count; i++) {
            labels[i] = (byte) (i % 10);
        }
        for (String split : List.of("train", "t10k")) {
            idx(dir.resolve(split + "-images-idx3-ubyte"), 0x803, new int[] {count, 28, 28}, pixels);
            idx(dir.resolve(split + "-labels-idx1-ubyte"), 0x801, new int[] {count}, labels);
        }
    }

    @Test
    void throughputRunWritesTheSharedSchema() throws Exception {
        writeData();
        Path json = Files.createDirectories(dir.resolve("out")).resolve("bench.json");
        assertEquals(0, bench("--device", "cpu", "--quick", "--threads", "1", "--repeats", "2", "--seconds", "0.05",
                "--only", "^mlp-bn-28/(train/b32|infer)", "--data", dir.toString(), "--json", json.toString()), err());
        JsonNode doc = JsonFiles.readObject(json);
        assertEquals("normnet-bench/1", doc.get("schema").asText());
        assertEquals("normnet", doc.get("implementation").asText());
        assertEquals("throughput", doc.get("kind").asText());
        assertTrue(doc.get("complete").asBoolean(), "a finished run says so");
        assertEquals(1, doc.get("threads").asInt());
        assertTrue(doc.get("machine").get("cores").asInt() >= 1);
        assertTrue(doc.get("date").asText().matches("\\d{4}-\\d\\d-\\d\\dT.*Z"));
        assertTrue(doc.has("git_commit") && doc.has("gpu"));
        assertTrue(doc.get("settings").get("fuse_activations").asBoolean(), doc.get("settings").toString());
        JsonNode cases = doc.get("cases");
        assertEquals(2, cases.size());
        JsonNode train = cases.get(0);
        assertEquals("mlp-bn-28/train/b32/cpu", train.get("id").asText());
        assertEquals("adam lr 0.01", train.get("optimizer").asText());
        JsonNode eps = train.get("examples_per_sec");
        assertEquals(2, eps.get("runs").size());
        assertTrue(eps.get("median").asDouble() > 0);
        // What plot reads of it, typed.
        PlotCommand.BenchFile typed = JsonFiles.read(json, PlotCommand.BenchFile.class);
        assertEquals(2, typed.cases().size());
        assertEquals(eps.get("median").asDouble(), typed.cases().get(0).examplesPerSec().median());
        assertEquals("infer", typed.cases().get(1).mode());
        String table = outBytes.toString(StandardCharsets.UTF_8);
        assertTrue(table.contains("mlp-bn-28/infer/b1000/cpu"), table);
    }

    @Test
    void speedupIsTheGpuMedianOverTheMatchingCpuCase() {
        Map<String, Object> cpu32 = row("lenet-bn-224/train/b32/cpu", "lenet-bn", 224, "train", 32, "cpu", 20);
        Map<String, Object> cuda128 = row("lenet-bn-224/train/b128/cuda", "lenet-bn", 224, "train", 128, "cuda", 2000);
        Map<String, Object> cpu256 = row("lenet-bn-28/train/b256/cpu", "lenet-bn", 28, "train", 256, "cpu", 1000);
        Map<String, Object> cpu64 = row("lenet-bn-28/train/b64/cpu", "lenet-bn", 28, "train", 64, "cpu", 500);
        Map<String, Object> cuda256 = row("lenet-bn-28/train/b256/cuda", "lenet-bn", 28, "train", 256, "cuda", 50000);
        BenchCommand.addSpeedups(List.of(cpu32, cuda128, cpu64, cpu256, cuda256));
        assertEquals(100.0, (Double) cuda128.get("speedup_vs_cpu"), 1e-12);
        assertEquals("lenet-bn-224/train/b32/cpu", cuda128.get("speedup_reference"));
        assertEquals(50.0, (Double) cuda256.get("speedup_vs_cpu"), 1e-12, "same batch preferred");
        assertNull(cpu32.get("speedup_vs_cpu"));
    }

    private static Map<String, Object> row(String id, String model, int input, String mode, int batch, String device, double median) {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("id", id);
        m.put("model", model);
        m.put("input", input);
        m.put("mode", mode);
        m.put("batch", batch);
        m.put("device", device);
        m.put("examples_per_sec", Map.of("median", median));
        return m;
    }
}
