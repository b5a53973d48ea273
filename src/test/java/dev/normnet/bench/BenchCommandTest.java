package dev.normnet.bench;

import dev.normnet.backend.cuda.CudaStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

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

class BenchCommandTest {
    @TempDir
    Path dir;

    private final ByteArrayOutputStream outBytes = new ByteArrayOutputStream();
    private final ByteArrayOutputStream errBytes = new ByteArrayOutputStream();

    private int bench(String... args) {
        return BenchCommand.run(args, new PrintStream(outBytes, true, StandardCharsets.UTF_8),
                new PrintStream(errBytes, true, StandardCharsets.UTF_8));
    }

    private String err() {
        return errBytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void helpAndDefaults() throws Exception {
        assertEquals(0, bench("--help"));
        assertTrue(outBytes.toString(StandardCharsets.UTF_8).startsWith("usage: normnet bench"));
        BenchCommand.Options o = BenchCommand.parse(new String[0]);
        assertEquals("all", o.device());
        assertEquals(5, o.repeats());
        assertEquals(1.0, o.seconds());
        BenchCommand.Options q = BenchCommand.parse(new String[] {"--quick", "--device", "CPU"});
        assertEquals(3, q.repeats());
        assertEquals(0.3, q.seconds());
        assertEquals("cpu", q.device());
        assertNull(q.only());
    }

    @Test
    void badArgumentsAreNamed() {
        assertEquals(2, bench("--device", "tpu"));
        assertTrue(err().contains("--device tpu: expected cpu, cuda or all"), err());
        assertEquals(2, bench("--seconds", "0"));
        assertTrue(err().contains("--seconds 0: expected a number of seconds"), err());
        assertEquals(2, bench("--only", "(("));
        assertTrue(err().contains("--only ((: not a regular expression"), err());
        assertEquals(2, bench("--threads"));
        assertTrue(err().contains("--threads needs a value"), err());
        assertEquals(2, bench("--bogus"));
        assertTrue(err().contains("unknown option --bogus"), err());
    }

    @Test
    void cudaAloneOnAMachineWithoutAGpuSaysWhy() {
        CudaStatus s = Backends.cudaStatus();
        assumeFalse(s.available(), "this machine has a usable GPU");
        assertEquals(1, bench("--device", "cuda", "--quick"));
        assertTrue(err().contains("--device cuda: CUDA is not usable here: " + s.reason()), err());
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
    void missingDataIsReported() {
        assertEquals(1, bench("--device", "cpu", "--data", dir.resolve("nowhere").toString()));
        assertTrue(err().contains("nowhere"), err());
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

    @Test
    void throughputRunWritesTheSharedSchema() throws Exception {
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
        Path json = dir.resolve("out/bench.json");
        assertEquals(0, bench("--device", "cpu", "--quick", "--threads", "1", "--repeats", "2", "--seconds", "0.05",
                "--only", "^mlp-bn-28/(train/b32|infer)", "--data", dir.toString(), "--json", json.toString()), err());
        Map<String, Object> doc = Json.readObject(json);
        assertEquals("normnet-bench/1", doc.get("schema"));
        assertEquals("normnet", doc.get("implementation"));
        assertEquals("throughput", doc.get("kind"));
        assertEquals(1.0, doc.get("threads"));
        Map<String, Object> machine = Json.object(doc, "machine", "bench.json");
        assertTrue(((Number) machine.get("cores")).intValue() >= 1);
        assertTrue(doc.get("date").toString().matches("\\d{4}-\\d\\d-\\d\\dT.*Z"));
        assertTrue(doc.containsKey("git_commit") && doc.containsKey("gpu"));
        List<Object> cases = Json.list(doc, "cases", "bench.json");
        assertEquals(2, cases.size());
        @SuppressWarnings("unchecked")
        Map<String, Object> train = (Map<String, Object>) cases.get(0);
        assertEquals("mlp-bn-28/train/b32/cpu", train.get("id"));
        assertEquals("adam lr 0.01", train.get("optimizer"));
        Map<String, Object> eps = Json.object(train, "examples_per_sec", "bench.json");
        assertEquals(2, Json.list(eps, "runs", "bench.json").size());
        assertTrue(Json.number(eps, "median", "bench.json") > 0);
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
