package dev.normnet.cli;

import dev.normnet.bench.MachineInfo;
import dev.normnet.bench.Timer;
import dev.normnet.bench.Stats;
import dev.normnet.bench.Limits;
import dev.normnet.bench.KernelBench;
import dev.normnet.bench.ModelBench;
import dev.normnet.bench.BenchCase;
import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.ResidentImages;
import dev.normnet.data.DataDiscovery;
import dev.normnet.data.LabeledImages;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code normnet bench}: training and inference throughput of the reference models on every
 * usable device (GPU steps with and without a CUDA graph), or with {@code --kernels} the time of
 * each op at LeNet-BN's shapes and one large shape against the device's measured copy bandwidth
 * and GEMM rate. Prints a table; {@code --json FILE} writes the figures with the machine, date,
 * commit and Java version (the format is described in benchmarks/README.md). Values out of range are
 * usage errors; the error policy is {@code dev.normnet.cli.Main}'s.
 */
@Command(name = "bench", sortOptions = false,
        header = "Time training steps and kernels on each device.",
        description = {"Throughput (examples/s) of LeNet-BN 28x28 (batch 64, 256, 1024; inference 1000),",
                "LeNet-BN 224x224 (batch 32 on the CPU, 128 on the GPU) and MLP-BN (batch 32, 256;",
                "inference 1000), training steps (gather, forward, loss, backward, update) and",
                "inference (gather, eval forward, loss sums) on data resident on the device.",
                "With --kernels, the time of each op forward and backward instead, with bytes, flops,",
                "GB/s, GFLOP/s and fractions of the measured copy bandwidth and GEMM rate.",
                "--json writes the results (format: benchmarks/README.md)."})
public final class BenchCommand implements Callable<Integer> {
    static final List<String> DEVICES = List.of("cpu", "cuda", "all");

    @Option(names = "--device", paramLabel = "cpu|cuda|all", defaultValue = "all", completionCandidates = DeviceNames.class,
            description = "cpu, cuda, or all usable devices (default: ${DEFAULT-VALUE})")
    String device;
    @Option(names = "--quick", description = "shorter timed runs (0.3 s), fewer repeats (3), 1 s warm-up instead of 2 s and no waiting for the JIT to finish compiling (default: off)")
    boolean quick;
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;
    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores)")
    Integer threads;
    @Option(names = "--repeats", paramLabel = "R", description = "timed runs per case (default: 5, 3 with --quick)")
    Integer repeats;
    @Option(names = "--seconds", paramLabel = "S", description = "target seconds per timed run (default: 1.0, 0.3 with --quick)")
    Double seconds;
    @Option(names = "--only", paramLabel = "REGEX",
            description = "run only the cases (or kernels) whose id matches the regular expression (default: all)")
    String only;
    @Option(names = "--data", paramLabel = "DIR", description = "Fashion-MNIST directory (default: normnet's discovery order)")
    Path data;
    @Option(names = "--seed", paramLabel = "N", defaultValue = "42", description = "seed of the models and batch order (default: ${DEFAULT-VALUE})")
    long seed;
    @Option(names = "--json", paramLabel = "FILE", description = "write the results to FILE (default: none)")
    Path json;
    @Option(names = "--kernels", description = "time each op forward and backward instead of whole steps (default: off)")
    boolean kernels;
    @Option(names = "--batch", paramLabel = "N", defaultValue = "256",
            description = "with --kernels: the batch of the LeNet-BN shapes (default: ${DEFAULT-VALUE})")
    int kernelBatch;
    @Option(names = "--no-large", description = "with --kernels: skip the large shape (N=256, C=16, H=W=106) (default: off)")
    boolean noLarge;
    @Option(names = "--no-fuse", description = "run each Sigmoid or ReLU after a batch norm, and an average pooling after"
            + " them, as its own op instead of inside the batch norm's (the same results; to measure what fusing saves)"
            + " (default: off)")
    boolean noFuse;

    private final PrintStream out;
    private final PrintStream err;

    /** The command, printing its table to {@code out} and its progress to {@code err}. */
    public BenchCommand(PrintStream out, PrintStream err) {
        this.out = out;
        this.err = err;
    }

    /** Options of one invocation. */
    record Options(String device, boolean quick, int threads, int repeats, double seconds, Pattern only,
                   Path data, long seed, Path json, boolean kernels, boolean large, int kernelBatch, boolean fuse) {
        Timer timer() {
            return new Timer(warmupSeconds(), seconds, repeats, !quick);
        }

        /** Long enough for the JIT to finish compiling a step's hot loops (vector code runs far slower before). */
        double warmupSeconds() {
            return quick ? 1.0 : 2.0;
        }

        Map<String, Object> settings() {
            Map<String, Object> s = new LinkedHashMap<>();
            s.put("quick", quick);
            s.put("repeats", repeats);
            s.put("target_seconds", seconds);
            s.put("warmup_seconds", warmupSeconds());
            s.put("warmup_waits_for_jit", !quick);
            s.put("seed", seed);
            s.put("fuse_activations", fuse);
            if (only != null) {
                s.put("only", only.pattern());
            }
            if (kernels) {
                s.put("kernel_batch", kernelBatch);
            }
            return s;
        }
    }

    /** The options checked, with the defaults that depend on --quick filled in. */
    Options options() {
        String d = Check.choice("--device", device, DEVICES);
        threads = Check.threads("--threads", threads, spec.commandLine().getErr());
        Check.range("--repeats", repeats, 1, 1_000_000);
        Check.range("--seconds", seconds, 0, true, 600);
        Check.range("--batch", kernelBatch, 1, 1 << 20);
        Pattern pattern = null;
        if (only != null) {
            try {
                pattern = Pattern.compile(only);
            } catch (PatternSyntaxException e) {
                throw new UsageException("--only " + only + ": not a regular expression (" + e.getDescription() + ")");
            }
        }
        if (json != null) {
            Outputs.checkWritable("--json", json);
        }
        return new Options(d, quick, threads != null ? threads : 0, repeats != null ? repeats : quick ? 3 : 5,
                seconds != null ? seconds : quick ? 0.3 : 1.0, pattern, data, seed, json, kernels, !noLarge, kernelBatch,
                !noFuse);
    }

    @Override
    public Integer call() throws IOException {
        Options o = options();
        List<String> devices = devices(o.device(), err);
        Map<String, Object> doc = o.kernels() ? kernels(o, devices, out, err) : throughput(o, devices, out, err);
        doc.put("complete", true);
        if (o.json() != null) {
            JsonFiles.write("--json", o.json(), doc);
            out.println("wrote " + o.json());
        }
        return 0;
    }

    /**
     * Rewrites the --json file, whole, with what has been measured so far ({@code "complete": false}),
     * so that a run stopped early (a time limit, a fault on a later case) keeps its figures.
     */
    private static void checkpoint(Options o, Map<String, Object> doc) {
        if (o.json() != null) {
            JsonFiles.write("--json", o.json(), doc);
        }
    }

    /** Completion candidates for --device. */
    static final class DeviceNames extends ArrayList<String> {
        DeviceNames() {
            super(DEVICES);
        }
    }

    /**
     * The devices to run: cuda and/or cpu, the GPU first (a run stopped by a time limit then has the
     * GPU's cases, the ones set against PyTorch's); an unusable GPU is an error when asked for
     * alone, and skipped in "all".
     */
    private static List<String> devices(String device, PrintStream err) {
        List<String> d = new ArrayList<>();
        if (!device.equals("cpu")) {
            dev.normnet.backend.cuda.CudaStatus s = Backends.cudaStatus();
            if (s.available()) {
                d.add("cuda");
            } else if (device.equals("cuda")) {
                throw new UsageException("--device cuda: no usable GPU: " + s.explain() + " (use --device cpu or --device all)");
            } else {
                err.println("cuda: skipped (" + s.reason() + ")");
            }
        }
        if (!device.equals("cuda")) {
            d.add("cpu");
        }
        return d;
    }

    /** The backend for a device: on the CPU the best one ({@link Backends#cpu(int)}), with the given threads or all cores. */
    static Backend backend(String device, int threads) {
        if (!device.equals("cpu")) {
            return Backends.select("cuda").backend();
        }
        return threads > 0 ? Backends.cpu(threads) : Backends.cpu();
    }

    private static int threadCount(Options o) {
        return o.threads() > 0 ? o.threads() : Runtime.getRuntime().availableProcessors();
    }

    private static Map<String, Object> header(Options o, List<String> devices) {
        String gpu = devices.contains("cuda") ? Backends.cudaStatus().device() : null;
        Map<String, Object> h = MachineInfo.header("normnet", gpu, threadCount(o), o.settings());
        h.put("kind", o.kernels() ? "kernels" : "throughput");
        h.put("complete", false);
        return h;
    }

    // ---------------------------------------------------------------- throughput

    static Map<String, Object> throughput(Options o, List<String> devices, PrintStream out, PrintStream err) {
        LabeledImages train = DataDiscovery.load("fashion-mnist", o.data()).train();
        Map<String, Object> doc = header(o, devices);
        Map<String, Object> backends = new LinkedHashMap<>();
        doc.put("backends", backends);
        List<Map<String, Object>> cases = new ArrayList<>();
        doc.put("cases", cases);
        Timer timer = o.timer();
        for (String device : devices) {
            try (Backend backend = backend(device, o.threads())) {
                backends.put(device, backend.describe());
                err.println(backend.describe());
                try (ResidentImages images = ModelBench.upload(backend, train)) {
                    List<BenchCase> selected = new ArrayList<>();
                    for (BenchCase c : BenchCase.forDevice(device)) {
                        if (o.only() == null || o.only().matcher(c.id()).find()) {
                            selected.add(c);
                        }
                    }
                    jitWarmup(backend, images, selected, o, err);
                    for (BenchCase c : selected) {
                        Timer.Result r;
                        try (ModelBench m = new ModelBench(backend, images, c, o.seed(), o.fuse())) {
                            r = timer.measure(m::step, m::sync);
                        }
                        Map<String, Object> row = caseJson(c, r);
                        cases.add(row);
                        checkpoint(o, doc);
                        err.printf(Locale.ROOT, "  %s: %.1f examples/s%n", c.id(), r.rate(c.batch()).median());
                    }
                }
            }
        }
        addSpeedups(cases);
        printTable(cases, out);
        return doc;
    }

    /**
     * Runs every selected case untimed for a moment before any is timed, so that the JIT has
     * compiled the shared op code (the Vector API loops run many times slower before) and the
     * first case timed is not penalized for being first. At least one step per case.
     */
    static void jitWarmup(Backend backend, ResidentImages images, List<BenchCase> cases, Options o, PrintStream err) {
        double perCase = o.quick() ? 0.25 : 0.5;
        long start = System.nanoTime();
        for (BenchCase c : cases) {
            try (ModelBench m = new ModelBench(backend, images, c, o.seed(), o.fuse())) {
                long t0 = System.nanoTime();
                do {
                    m.step();
                    m.sync();
                } while ((System.nanoTime() - t0) / 1e9 < perCase);
            }
        }
        err.printf(Locale.ROOT, "  warm-up of all %d cases: %.1f s%n", cases.size(), (System.nanoTime() - start) / 1e9);
    }

    static Map<String, Object> caseJson(BenchCase c, Timer.Result r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", c.id());
        m.put("model", c.model());
        m.put("input", c.input());
        m.put("mode", c.mode());
        m.put("batch", c.batch());
        m.put("device", c.device());
        m.put("graph", c.graph());
        m.put("optimizer", c.optimizer());
        m.put("steps_per_run", r.steps());
        m.put("repeats", r.seconds().length);
        m.put("seconds", Stats.of(r.seconds()).toJson());
        m.put("examples_per_sec", r.rate(c.batch()).toJson());
        return m;
    }

    /** GPU/CPU speed-up: a CUDA case's median over the CPU case of the same model, input, mode (and batch when there is one). */
    static void addSpeedups(List<Map<String, Object>> cases) {
        Map<String, Map<String, Object>> cpu = new LinkedHashMap<>();
        for (Map<String, Object> c : cases) {
            if ("cpu".equals(c.get("device"))) {
                cpu.putIfAbsent(key(c, false), c);
                cpu.put(key(c, true), c);
            }
        }
        for (Map<String, Object> c : cases) {
            if ("cuda".equals(c.get("device"))) {
                Map<String, Object> ref = cpu.getOrDefault(key(c, true), cpu.get(key(c, false)));
                if (ref != null) {
                    c.put("speedup_vs_cpu", median(c) / median(ref));
                    c.put("speedup_reference", ref.get("id"));
                }
            }
        }
    }

    private static String key(Map<String, Object> c, boolean withBatch) {
        return c.get("model") + "|" + c.get("input") + "|" + c.get("mode") + (withBatch ? "|" + c.get("batch") : "");
    }

    @SuppressWarnings("unchecked")
    static double median(Map<String, Object> c) {
        return ((Number) ((Map<String, Object>) c.get("examples_per_sec")).get("median")).doubleValue();
    }

    static void printTable(List<Map<String, Object>> cases, PrintStream out) {
        out.printf(Locale.ROOT, "%-34s %6s %20s %10s %10s %7s%n", "case", "steps", "examples/s (median)", "min", "max", "vs cpu");
        for (Map<String, Object> c : cases) {
            @SuppressWarnings("unchecked")
            Map<String, Object> e = (Map<String, Object>) c.get("examples_per_sec");
            Object sp = c.get("speedup_vs_cpu");
            out.printf(Locale.ROOT, "%-34s %6d %20.1f %10.1f %10.1f %7s%n", c.get("id"), ((Number) c.get("steps_per_run")).intValue(),
                    ((Number) e.get("median")).doubleValue(), ((Number) e.get("min")).doubleValue(),
                    ((Number) e.get("max")).doubleValue(),
                    sp == null ? "" : String.format(Locale.ROOT, "%.1fx", ((Number) sp).doubleValue()));
        }
    }

    // ---------------------------------------------------------------- kernels

    static Map<String, Object> kernels(Options o, List<String> devices, PrintStream out, PrintStream err) {
        Map<String, Object> doc = header(o, devices);
        List<Map<String, Object>> perDevice = new ArrayList<>();
        doc.put("devices", perDevice);
        long lenetParameters = Models.create("lenet-bn", ModelOptions.defaults()).build(0).parameterCount();
        Timer timer = o.timer();
        for (String device : devices) {
            try (Backend backend = backend(device, o.threads())) {
                err.println(backend.describe() + ": measuring copy bandwidth and GEMM");
                Limits.Measured limits = device.equals("cpu") ? Limits.cpu(threadCount(o), o.quick() ? 3 : 5)
                        : Limits.device(backend, o.quick() ? 3 : 5);
                err.printf(Locale.ROOT, "  limits: copy %.1f GB/s, GEMM %.1f GFLOP/s%n",
                        limits.copyGbPerSecond(), limits.gemmGflopPerSecond());
                KernelBench kb = new KernelBench(backend);
                try {
                    List<KernelBench.Kernel> list = new ArrayList<>();
                    for (KernelBench.Kernel k : kb.kernels(o.kernelBatch(), o.large(), lenetParameters, o.only())) {
                        if (o.only() == null || o.only().matcher(k.id()).find()) {
                            list.add(k);
                        }
                    }
                    List<Map<String, Object>> rows = kb.run(list, timer, limits, err);
                    Map<String, Object> d = new LinkedHashMap<>();
                    d.put("device", device);
                    d.put("backend", backend.describe());
                    d.put("limits", limits.toJson());
                    d.put("kernels", rows);
                    perDevice.add(d);
                    checkpoint(o, doc);
                    printKernelTable(d, out);
                } finally {
                    kb.free();
                }
            }
        }
        return doc;
    }

    @SuppressWarnings("unchecked")
    static void printKernelTable(Map<String, Object> d, PrintStream out) {
        Map<String, Object> lim = (Map<String, Object>) d.get("limits");
        out.printf(Locale.ROOT, "%s (%s): copy %.1f GB/s, GEMM %.1f GFLOP/s%n", d.get("device"), d.get("backend"),
                ((Number) lim.get("copy_gb_per_s")).doubleValue(), ((Number) lim.get("gemm_gflop_per_s")).doubleValue());
        out.printf(Locale.ROOT, "%-22s %-16s %-30s %10s %9s %9s %7s %7s%n", "op", "direction", "shape", "ms", "GB/s", "GFLOP/s",
                "%copy", "%gemm");
        for (Map<String, Object> k : (List<Map<String, Object>>) d.get("kernels")) {
            double ms = ((Number) ((Map<String, Object>) k.get("ms")).get("median")).doubleValue();
            out.printf(Locale.ROOT, "%-22s %-16s %-30s %10.4f %9.2f %9.2f %6.1f%% %6.1f%%%n", k.get("op"), k.get("direction"),
                    k.get("shape"), ms, ((Number) k.get("gb_per_s")).doubleValue(), ((Number) k.get("gflop_per_s")).doubleValue(),
                    100 * ((Number) k.get("fraction_of_copy_bandwidth")).doubleValue(),
                    100 * ((Number) k.get("fraction_of_gemm")).doubleValue());
        }
    }
}
