package dev.normnet.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.backend.cpu.VectorCpuBackend;
import dev.normnet.backend.cuda.CudaBackend;
import dev.normnet.bench.KernelBench;
import dev.normnet.bench.Stats;
import dev.normnet.bench.Timer;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;

/**
 * The timings of {@code normnet experiment bn-speed}: batch norm's training-mode forward pass and
 * its backward pass at the shapes of LeNet-BN's four batch-norm layers (batch 256, 28x28 inputs,
 * and at 224x224 the two convolutional ones, whose shapes grow), on normnet's reference CPU path
 * ({@link CpuBackend}), its fast CPU path ({@link VectorCpuBackend}), its CUDA kernels when a GPU
 * is usable, and PyTorch's {@code nn.BatchNorm2d}/{@code nn.BatchNorm1d} through
 * benchmarks/pytorch/bn_speed.py when Debian's PyTorch is installed. Every implementation is timed
 * with the same protocol ({@link Timer}; the script mirrors it) on the same thread count.
 */
final class BatchNormSpeed {
    /** One layer's input shape: (N, C, H, W), with H = W = 1 meaning (N, C). */
    record Layer(String name, int input, int n, int c, int h, int w) {
        String shape() {
            return h == 1 && w == 1 ? n + "x" + c : n + "x" + c + "x" + h + "x" + w;
        }
    }

    /** The median (and spread) of one implementation's milliseconds per call for one layer and direction. */
    record Row(Layer layer, String direction, Map<String, Stats> ms) {
    }

    /** The timings, and for each implementation not timed, why. */
    record Result(List<String> implementations, List<Row> rows, Map<String, String> missing) {
    }

    static final String REFERENCE = "normnet reference (CpuBackend)";
    static final String FAST = "normnet fast (VectorCpuBackend)";
    static final String CUDA = "normnet CUDA";
    static final String TORCH_CPU = "PyTorch CPU";
    static final String TORCH_CUDA = "PyTorch CUDA (cuDNN)";

    private BatchNormSpeed() {
    }

    /** LeNet-BN's batch-norm inputs at batch 256: at 28x28 (all four), and at 224x224 the two that grow (unless quick). */
    static List<Layer> layers(boolean quick) {
        List<Layer> l = new ArrayList<>(List.of(new Layer("bn1", 28, 256, 6, 24, 24), new Layer("bn2", 28, 256, 16, 8, 8),
                new Layer("bn3", 28, 256, 120, 1, 1), new Layer("bn4", 28, 256, 84, 1, 1)));
        if (!quick) {
            l.add(new Layer("bn1", 224, 256, 6, 220, 220));
            l.add(new Layer("bn2", 224, 256, 16, 106, 106));
        }
        return l;
    }

    /**
     * Times every layer on every implementation available.
     *
     * @param cuda    whether to look for a GPU (false for --device cpu)
     * @param threads CPU threads for normnet and PyTorch
     */
    static Result run(List<Layer> layers, Timer timer, int threads, boolean cuda, PrintStream log) {
        Map<String, Supplier<Backend>> backends = new LinkedHashMap<>();
        Map<String, String> missing = new LinkedHashMap<>();
        backends.put(REFERENCE, () -> new CpuBackend(threads));
        if (Backends.vectorApiAvailable()) {
            backends.put(FAST, () -> new VectorCpuBackend(threads));
        } else {
            missing.put(FAST, "the JVM was started without --add-modules jdk.incubator.vector");
        }
        if (!cuda) {
            missing.put(CUDA, "not asked for (--device cpu)");
        } else if (Backends.cudaStatus().available()) {
            backends.put(CUDA, CudaBackend::new);
        } else {
            missing.put(CUDA, "no GPU: " + Backends.cudaStatus().reason());
        }
        Map<String, Map<String, Stats>> byCase = new LinkedHashMap<>();   // case key -> implementation -> ms
        for (Map.Entry<String, Supplier<Backend>> b : backends.entrySet()) {
            try (Backend backend = b.getValue().get()) {
                for (Layer layer : layers) {
                    KernelBench bench = new KernelBench(backend);
                    try {
                        for (KernelBench.Kernel k : bench.batchNorm(layer.name(), layer.n(), layer.c(), layer.h(), layer.w())) {
                            Stats ms = timer.measure(k.call(), backend::synchronize).millisPerStep();
                            byCase.computeIfAbsent(key(layer, k.direction()), x -> new LinkedHashMap<>()).put(b.getKey(), ms);
                            log.printf(Locale.ROOT, "  %-34s %-36s %10.3f ms%n", b.getKey(), layer.name() + "-" + layer.input()
                                    + " " + k.direction() + " " + layer.shape(), ms.median());
                        }
                    } finally {
                        bench.free();
                    }
                }
            }
        }
        List<String> shapes = new ArrayList<>();
        for (Layer layer : layers) {
            shapes.add(layer.shape());
        }
        pytorch(shapes, timer, threads, cuda, missing, log).forEach((impl, cases) -> {
            for (Layer layer : layers) {
                for (String direction : List.of("forward_train", "backward")) {
                    Stats ms = cases.get(layer.shape() + " " + direction);
                    if (ms != null) {
                        byCase.computeIfAbsent(key(layer, direction), x -> new LinkedHashMap<>()).put(impl, ms);
                    }
                }
            }
        });
        List<String> impls = new ArrayList<>();
        for (String impl : List.of(REFERENCE, FAST, CUDA, TORCH_CPU, TORCH_CUDA)) {
            if (byCase.values().stream().anyMatch(m -> m.containsKey(impl))) {
                impls.add(impl);
            }
        }
        List<Row> rows = new ArrayList<>();
        for (Layer layer : layers) {
            for (String direction : List.of("forward_train", "backward")) {
                rows.add(new Row(layer, direction, byCase.getOrDefault(key(layer, direction), Map.of())));
            }
        }
        return new Result(impls, rows, missing);
    }

    private static String key(Layer layer, String direction) {
        return layer.name() + "-" + layer.input() + " " + direction;
    }

    /**
     * Runs benchmarks/pytorch/bn_speed.py under Debian's Python; returns implementation -> ("SHAPE
     * DIRECTION" -> ms). When it cannot run, says why in {@code missing} and returns nothing.
     */
    private static Map<String, Map<String, Stats>> pytorch(List<String> shapes, Timer timer, int threads, boolean cuda,
                                                            Map<String, String> missing, PrintStream log) {
        Map<String, Map<String, Stats>> out = new LinkedHashMap<>();
        Path root = Path.of(System.getProperty("normnet.root", "."));
        Path script = root.resolve("benchmarks/pytorch/bn_speed.py");
        String python = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
        if (!Files.isRegularFile(script)) {
            missing.put(TORCH_CPU, "not measured: " + script + " not found");
            return out;
        }
        List<String> cmd = new ArrayList<>(List.of(python, script.toString(), "--shapes", String.join(",", shapes),
                "--threads", Integer.toString(threads), "--warmup", Double.toString(timer.warmupSeconds()),
                "--seconds", Double.toString(timer.targetSeconds()), "--repeats", Integer.toString(timer.repeats())));
        if (!cuda) {
            cmd.add("--no-cuda");
        }
        log.println("  " + String.join(" ", cmd));
        Path errFile = null;
        try {
            errFile = Files.createTempFile("normnet-bn-speed", ".err");
            Process p = new ProcessBuilder(cmd).redirectError(errFile.toFile()).start();
            p.getOutputStream().close();
            byte[] stdout = p.getInputStream().readAllBytes();
            if (!p.waitFor(30, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                missing.put(TORCH_CPU, "not measured: " + script.getFileName() + " did not finish in 30 minutes");
                return out;
            }
            if (p.exitValue() != 0) {
                List<String> err = Files.readAllLines(errFile, StandardCharsets.UTF_8);
                String last = err.isEmpty() ? "exit status " + p.exitValue() : err.get(err.size() - 1).trim();
                missing.put(TORCH_CPU, "not measured: " + last);
                return out;
            }
            JsonNode doc = JsonFiles.MAPPER.readTree(stdout);
            String version = doc.path("torch").asText("?");
            for (JsonNode c : doc.path("cases")) {
                String impl = c.path("device").asText().equals("cuda") ? TORCH_CUDA : TORCH_CPU;
                JsonNode ms = c.path("ms");
                double[] runs = JsonFiles.MAPPER.convertValue(ms.path("runs"), double[].class);
                out.computeIfAbsent(impl, k -> new LinkedHashMap<>())
                        .put(c.path("shape").asText() + " " + c.path("direction").asText(), Stats.of(runs));
            }
            log.println("  PyTorch " + version + ": " + doc.path("cases").size() + " cases");
            if (cuda && !out.containsKey(TORCH_CUDA)) {
                missing.put(TORCH_CUDA, "torch.cuda is not available");
            }
        } catch (IOException | RuntimeException e) {
            missing.put(TORCH_CPU, "not measured: " + python + " " + script.getFileName() + ": " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            missing.put(TORCH_CPU, "not measured: interrupted");
        } finally {
            if (errFile != null) {
                try {
                    Files.deleteIfExists(errFile);
                } catch (IOException e) {
                    // a leftover file in the temporary directory: nothing to report
                }
            }
        }
        return out;
    }

    /** A bar chart of milliseconds per call (log scale), one category per layer and direction, one series per implementation. */
    static BufferedImage chart(Result r, String title, int width, int height) {
        CategoryChart chart = PlotCommand.logBarChart(width, height, title, "layer (input size) and direction",
                "ms per call (log scale)");
        chart.getStyler().setYAxisDecimalPattern("#,##0.###");
        List<String> x = new ArrayList<>();
        for (Row row : r.rows()) {
            x.add(row.layer().name() + "-" + row.layer().input() + (row.direction().equals("backward") ? " bwd" : " fwd"));
        }
        double lowest = Double.MAX_VALUE;
        double highest = 0;
        for (String impl : r.implementations()) {
            List<Number> y = new ArrayList<>();
            for (Row row : r.rows()) {
                Stats s = row.ms().get(impl);
                y.add(s == null ? null : s.median());
                if (s != null && s.median() > 0) {
                    lowest = Math.min(lowest, s.median());
                    highest = Math.max(highest, s.median());
                }
            }
            chart.addSeries(impl, x, y);
        }
        if (highest > 0) {
            PlotCommand.logRange(chart, lowest, highest);
        }
        return BitmapEncoder.getBufferedImage(chart);
    }
}
