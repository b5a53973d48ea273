package dev.normnet.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.backend.cpu.CpuBackend;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class KernelBenchTest {
    private static KernelBench.Kernel find(List<KernelBench.Kernel> list, String op, String direction) {
        return list.stream().filter(k -> k.op().equals(op) && k.direction().equals(direction)).findFirst()
                .orElseThrow(() -> new AssertionError("no kernel " + op + "/" + direction));
    }

    @Test
    void countsFlopsAndBytesOfTheLenetShapes() {
        try (CpuBackend backend = new CpuBackend(1)) {
            KernelBench kb = new KernelBench(backend);
            try {
                int n = 4;
                List<KernelBench.Kernel> list = kb.kernels(n, false, 1000);
                KernelBench.Kernel conv1 = find(list, "conv1", "forward");
                double outputs = n * 6 * 24 * 24;
                assertEquals(2 * outputs * 25 + outputs, conv1.flops());
                assertEquals(4 * (n * 784 + 150 + 6 + outputs), conv1.bytes());
                assertEquals("4x1x28x28->4x6x24x24 k5", conv1.shape());
                KernelBench.Kernel linear1 = find(list, "linear1", "backward_data");
                assertEquals(2.0 * n * 256 * 120, linear1.flops());
                assertEquals(4.0 * (n * 120 + 120 * 256 + n * 256), linear1.bytes());
                KernelBench.Kernel whole = find(list, "linear1", "backward");   // dx, dw and db as the layer asks
                assertEquals(4.0 * n * 256 * 120 + n * 120, whole.flops());
                assertEquals(4.0 * (2 * n * 256 + n * 120 + 2 * 120 * 256 + 120), whole.bytes());
                KernelBench.Kernel bn = find(list, "bn2", "backward");
                assertEquals("4x16x8x8", bn.shape());
                assertEquals(4 * (3.0 * n * 16 * 64 + 5 * 16), bn.bytes());
                assertEquals(4 * 7 * 1000.0, find(list, "adam", "update").bytes());
                // batch norm, Sigmoid and pooling as the plan runs them: x read twice, y and the pooled output written
                KernelBench.Kernel block = find(list, "bn2+sigmoid2+pool2", "forward_train");
                assertEquals("4x16x8x8->4x16x4x4", block.shape());
                assertEquals(4 * (3.0 * n * 16 * 64 + n * 16 * 16 + 8 * 16), block.bytes());
                assertEquals("4x120", find(list, "bn3+sigmoid3", "backward").shape());
                for (String direction : List.of("forward_train", "forward_eval", "backward")) {
                    find(list, "bn1+sigmoid1+pool1", direction).call().run();   // the fused ops run on this backend
                }
                // the first convolution has no input gradient in a model, so none is timed
                assertTrue(list.stream().noneMatch(k -> k.op().equals("conv1") && k.direction().equals("backward_data")));
                assertTrue(list.stream().noneMatch(k -> k.op().endsWith("-224")), "no large shape when not asked");
            } finally {
                kb.free();
            }
        }
    }

    /**
     * With a pattern, only the ops it may match are built (their tensors allocated), and the ids
     * it matches are the same as when every op is built and the list filtered.
     */
    @Test
    void aPatternBuildsOnlyTheOpsItMayMatch() {
        try (CpuBackend backend = new CpuBackend(1)) {
            for (String regex : List.of("^bn2/", "^bn2-224/", "backward", "^linear3/backward_weight 8x", "sgd_momentum",
                    "^(conv1|pool2)/", "x10$", "^nothing")) {
                java.util.regex.Pattern p = java.util.regex.Pattern.compile(regex);
                KernelBench all = new KernelBench(backend);
                KernelBench some = new KernelBench(backend);
                try {
                    List<String> expected = all.kernels(8, false, 500).stream().map(KernelBench.Kernel::id)
                            .filter(id -> p.matcher(id).find()).collect(Collectors.toList());
                    List<KernelBench.Kernel> built = some.kernels(8, false, 500, p);
                    assertEquals(expected, built.stream().map(KernelBench.Kernel::id).filter(id -> p.matcher(id).find())
                            .collect(Collectors.toList()), regex);
                    if (regex.startsWith("^")) {     // anchored at the op: just the ops of the ids it matches
                        assertEquals(expected.stream().map(id -> id.substring(0, id.indexOf('/'))).distinct()
                                .collect(Collectors.toList()), built.stream().map(KernelBench.Kernel::op).distinct()
                                .collect(Collectors.toList()), regex);
                    }
                } finally {
                    all.free();
                    some.free();
                }
            }
        }
        assertTrue(KernelBench.mayMatch(java.util.regex.Pattern.compile("^bn2-224/"), "bn2-224/"));
        assertFalse(KernelBench.mayMatch(java.util.regex.Pattern.compile("^bn2/"), "bn2-224/"));
        assertTrue(KernelBench.mayMatch(java.util.regex.Pattern.compile("^bn2-224/backward"), "bn2-224/"), "a longer id may");
    }

    @Test
    void timesEachKernelAndReportsRatesAndFractions() {
        try (CpuBackend backend = new CpuBackend(1)) {
            KernelBench kb = new KernelBench(backend);
            try {
                List<KernelBench.Kernel> list = kb.kernels(8, false, 500).stream()
                        .filter(k -> k.op().equals("linear3") || k.op().equals("sgd") || k.op().equals("gather"))
                        .collect(Collectors.toList());
                ByteArrayOutputStream log = new ByteArrayOutputStream();
                List<Map<String, Object>> rows = kb.run(list, new Timer(0, 0.01, 2),
                        new Limits.Measured(10, 2, "test", "test"), new PrintStream(log, true, StandardCharsets.UTF_8));
                assertEquals(6, rows.size());
                for (Map<String, Object> r : rows) {
                    double gbps = (Double) r.get("gb_per_s");
                    assertTrue(gbps > 0, r.toString());
                    assertEquals(gbps / 10, (Double) r.get("fraction_of_copy_bandwidth"), 1e-12);
                    assertEquals((Double) r.get("gflop_per_s") / 2, (Double) r.get("fraction_of_gemm"), 1e-12);
                    @SuppressWarnings("unchecked")
                    Map<String, Object> ms = (Map<String, Object>) r.get("ms");
                    assertEquals((Double) r.get("bytes") / ((Double) ms.get("median") / 1e3) / 1e9, gbps, 1e-9 * gbps);
                }
                assertTrue(log.toString(StandardCharsets.UTF_8).contains("linear3/backward_weight 8x84->8x10"));
            } finally {
                kb.free();
            }
        }
    }
}
