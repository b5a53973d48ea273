package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class BenchCaseTest {
    @Test
    void idsNameModelInputModeBatchDeviceAndGraph() {
        assertEquals("lenet-bn-28/train/b256/cuda/graph", new BenchCase("lenet-bn", 28, "train", 256, "cuda", true).id());
        assertEquals("mlp-bn-28/infer/b1000/cpu", new BenchCase("mlp-bn", 28, "infer", 1000, "cpu", false).id());
    }

    @Test
    void gpuCasesComeWithAndWithoutTheGraphAndCpuCasesWithout() {
        List<BenchCase> cpu = BenchCase.forDevice("cpu");
        List<BenchCase> cuda = BenchCase.forDevice("cuda");
        assertTrue(cpu.stream().noneMatch(BenchCase::graph));
        assertEquals(cuda.size(), 2 * cuda.stream().filter(BenchCase::graph).count());
        assertTrue(cpu.stream().anyMatch(c -> c.input() == 224 && c.batch() == 32));
        assertTrue(cuda.stream().anyMatch(c -> c.input() == 224 && c.batch() == 128));
        assertFalse(cpu.stream().anyMatch(c -> c.input() == 224 && c.batch() == 128));
    }

    @Test
    void optimizerIsTheModelsFirstRecipe() {
        assertEquals("sgd lr 1.0", new BenchCase("lenet-bn", 28, "train", 64, "cpu", false).optimizer());
        assertEquals("adam lr 0.01", new BenchCase("mlp-bn", 28, "train", 32, "cpu", false).optimizer());
        assertEquals(null, new BenchCase("mlp-bn", 28, "infer", 1000, "cpu", false).optimizer());
    }

    /** The PyTorch script must time the same cases, or the side-by-side ratios lose rows silently. */
    @Test
    void matchesThePytorchScriptsCaseList() throws Exception {
        Path script = Path.of("benchmarks/pytorch/bench.py");
        assertTrue(Files.isRegularFile(script), "run from the repository root: " + script.toAbsolutePath());
        String text = Files.readString(script);
        Matcher m = Pattern.compile("\\(\"([a-z-]+)\", (\\d+), \"(train|infer)\", (\\d+), \\(([^)]*)\\)\\)").matcher(text);
        List<String> python = new ArrayList<>();
        while (m.find()) {
            for (String device : m.group(5).replace("\"", "").split(",")) {
                device = device.trim();
                if (device.isEmpty()) {
                    continue;
                }
                for (boolean graph : device.equals("cuda") ? new boolean[] {false, true} : new boolean[] {false}) {
                    python.add(new BenchCase(m.group(1), Integer.parseInt(m.group(2)), m.group(3), Integer.parseInt(m.group(4)),
                            device, graph).id());
                }
            }
        }
        List<String> java = new ArrayList<>();
        for (String device : List.of("cpu", "cuda")) {
            for (BenchCase c : BenchCase.forDevice(device)) {
                java.add(c.id());
            }
        }
        assertEquals(java.stream().sorted().toList(), python.stream().sorted().toList());
    }
}
