// Inference time of a model file against its folded copy (normnet fold), on the CPU, in turn.
//
//   ./normnet train --epochs 2 --save m.safetensors && ./normnet fold m.safetensors --out f.safetensors
//   java --add-modules jdk.incubator.vector -cp "target/normnet-0.1.0-SNAPSHOT.jar:target/lib/*" \
//       benchmarks/fold/FoldTiming.java m.safetensors f.safetensors [--threads 2] [--rounds 3]
//
// Three measurements, each alternating the two files so that a change in the machine's load falls
// on both:
//   paired:  the eval-mode forward pass of a batch of 1000 test images, one batch of each file in
//            turn (A B, then B A, ...) for 30 s; the ratio of the two times of each pair, and its
//            median and quartiles over the pairs: the load changes little within one pair, so this
//            is the figure to trust on a busy machine;
//   forward: the eval-mode forward pass of a batch of 1000 test images already on the backend, timed
//            by normnet's benchmark timer (bench.Timer: warm-up, then 5 runs of about 1 s; the
//            median of each round's runs is reported, and the best run of all rounds);
//   eval:    a whole Evaluation.run over the 10,000 test images in batches of 256, as `normnet eval`
//            does it (upload, gather, forward, logits read back, loss and arg-max on the host in
//            float64), after one untimed pass of each file; the median and the best round.
// On a machine shared with other jobs the best runs say more about the code than the medians; with
// --threads 1 every op runs on the calling thread, and the forward passes are also timed by that
// thread's CPU time (ThreadMXBean), which time spent waiting for the CPU does not count.
// Prints each round and the medians; the folded file's predictions must equal the unfolded one's.
import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.ResidentImages;
import dev.normnet.bench.MachineInfo;
import dev.normnet.bench.Stats;
import dev.normnet.bench.Timer;
import dev.normnet.data.DataDiscovery;
import dev.normnet.data.LabeledImages;
import dev.normnet.io.ModelFile;
import dev.normnet.nn.Sequential;
import dev.normnet.predict.Evaluation;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

public class FoldTiming {
    public static void main(String[] args) throws Exception {
        Path[] files = {Path.of(args[0]), Path.of(args[1])};
        int threads = 2;
        int rounds = 3;
        for (int i = 2; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--threads" -> threads = Integer.parseInt(args[i + 1]);
                case "--rounds" -> rounds = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        String[] names = {"unfolded", "folded"};
        System.out.printf(Locale.ROOT, "date: %s%nmachine: %s, %d cores; load average at the start: %s%njava: %s; commit: %s%n",
                Instant.now(), MachineInfo.cpuModel(), Runtime.getRuntime().availableProcessors(),
                Files.readString(Path.of("/proc/loadavg")).trim(), System.getProperty("java.version"), MachineInfo.gitCommit());
        LabeledImages test = DataDiscovery.load("fashion-mnist", null).test();
        try (Backend backend = Backends.cpu(threads);
             ModelFile.Loaded a = ModelFile.load(files[0]);
             ModelFile.Loaded b = ModelFile.load(files[1])) {
            System.out.println("backend: " + backend.describe());
            Sequential[] models = {a.model().to(backend), b.model().to(backend)};
            for (int m = 0; m < 2; m++) {
                System.out.printf(Locale.ROOT, "%s: %s, %,d parameters, %d layers%n", names[m], files[m],
                        models[m].parameterCount(), models[m].layers().size());
            }

            // forward: batch 1000 of real test images, gathered once into each model's plan.
            int batch = 1000;
            Runnable[] steps = new Runnable[2];
            try (ResidentImages images = backend.uploadImages(test.pixels(), test.labels(), test.count(), test.height(), test.width());
                 Tensor order = backend.upload(identity(test.count()), Shape.of(test.count()));
                 Tensor cursor = backend.allocate(Shape.of(1));
                 Tensor labels = backend.allocate(Shape.of(batch))) {
                for (int m = 0; m < 2; m++) {
                    Sequential.Plan plan = models[m].forwardPlan(batch);
                    backend.fill(cursor, 0f);
                    backend.gatherBatch(images, order, cursor, plan.input(), labels);
                    steps[m] = () -> plan.forward(false);
                }
                Timer timer = new Timer(2.0, 1.0, 5);
                for (int m = 0; m < 2; m++) {
                    timer.measure(steps[m], backend::synchronize);   // warm-up (the JIT) before the pairs
                }
                List<Double> ratios = new ArrayList<>();
                List<Double> ms0 = new ArrayList<>();
                List<Double> ms1 = new ArrayList<>();
                long end = System.nanoTime() + 30_000_000_000L;
                for (int i = 0; System.nanoTime() < end; i++) {
                    double[] t = new double[2];
                    for (int k = 0; k < 2; k++) {
                        int m = (i % 2 == 0) == (k == 0) ? 0 : 1;
                        long t0 = System.nanoTime();
                        steps[m].run();
                        backend.synchronize();
                        t[m] = (System.nanoTime() - t0) / 1e6;
                    }
                    ratios.add(t[0] / t[1]);
                    ms0.add(t[0]);
                    ms1.add(t[1]);
                }
                Stats pr = Stats.of(ratios.stream().mapToDouble(Double::doubleValue).toArray());
                System.out.printf(Locale.ROOT, "paired forward b%d, %d pairs: median ms per batch unfolded %.3f, folded %.3f; "
                                + "time ratio unfolded/folded per pair: median %.3f (quartiles %.3f %.3f)%n", batch, ratios.size(),
                        Stats.of(ms0.stream().mapToDouble(Double::doubleValue).toArray()).median(),
                        Stats.of(ms1.stream().mapToDouble(Double::doubleValue).toArray()).median(), pr.median(), pr.q1(), pr.q3());
                double[][] rate = new double[2][rounds];
                double[] best = new double[2];
                double[][] cpuRate = new double[2][rounds];
                ThreadMXBean mx = ManagementFactory.getThreadMXBean();
                for (int r = 0; r < rounds; r++) {
                    for (int m = 0; m < 2; m++) {
                        Timer.Result result = timer.measure(steps[m], backend::synchronize);
                        Stats s = result.rate(batch);
                        rate[m][r] = s.median();
                        best[m] = Math.max(best[m], s.max());
                        String cpu = "";
                        if (threads == 1) {
                            long c0 = mx.getCurrentThreadCpuTime();
                            for (int i = 0; i < result.steps(); i++) {
                                steps[m].run();
                            }
                            backend.synchronize();
                            cpuRate[m][r] = (double) batch * result.steps() / ((mx.getCurrentThreadCpuTime() - c0) / 1e9);
                            cpu = String.format(Locale.ROOT, "; by CPU time %,.0f images/s over %d batches", cpuRate[m][r], result.steps());
                        }
                        System.out.printf(Locale.ROOT, "forward b%d round %d %-8s %,10.0f images/s (runs %s)%s%n", batch, r + 1, names[m],
                                s.median(), format(s.runs()), cpu);
                    }
                }
                report("forward b" + batch + " (images/s, higher is faster)", rate, true);
                System.out.printf(Locale.ROOT, "forward b%d, best run of all rounds: unfolded %,.0f, folded %,.0f images/s; speed-up %.2fx%n",
                        batch, best[0], best[1], best[1] / best[0]);
                if (threads == 1) {
                    report("forward b" + batch + " by the computing thread's CPU time (images/s, higher is faster)", cpuRate, true);
                }
            }

            // eval: Evaluation.run over the whole test set, batch 256, as `normnet eval`.
            List<String> classes = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                classes.add(Integer.toString(i));
            }
            Evaluation[] results = new Evaluation[2];
            for (int m = 0; m < 2; m++) {
                results[m] = Evaluation.run(models[m], test, 256, classes);   // untimed warm-up
            }
            double[][] seconds = new double[2][rounds];
            for (int r = 0; r < rounds; r++) {
                for (int m = 0; m < 2; m++) {
                    long t0 = System.nanoTime();
                    results[m] = Evaluation.run(models[m], test, 256, classes);
                    seconds[m][r] = (System.nanoTime() - t0) / 1e9;
                    System.out.printf(Locale.ROOT, "eval round %d %-8s %.3f s (%,.0f images/s)%n", r + 1, names[m], seconds[m][r],
                            test.count() / seconds[m][r]);
                }
            }
            report("eval of " + test.count() + " images, batch 256 (seconds, lower is faster)", seconds, false);
            double fa = Arrays.stream(seconds[0]).min().orElseThrow();
            double fb = Arrays.stream(seconds[1]).min().orElseThrow();
            System.out.printf(Locale.ROOT, "eval, best round: unfolded %.3f s, folded %.3f s; speed-up %.2fx%n", fa, fb, fa / fb);

            int differ = 0;
            long[][] ca = results[0].confusion();
            long[][] cb = results[1].confusion();
            for (int i = 0; i < ca.length; i++) {
                differ += Arrays.equals(ca[i], cb[i]) ? 0 : 1;
            }
            System.out.printf(Locale.ROOT, "accuracy: unfolded %.4f, folded %.4f; confusion matrices %s%n", accuracy(ca), accuracy(cb),
                    differ == 0 ? "equal" : "differ in " + differ + " rows");
            for (Sequential m : models) {
                m.close();
            }
        }
    }

    private static float[] identity(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = i;
        }
        return v;
    }

    private static double accuracy(long[][] c) {
        long right = 0;
        long all = 0;
        for (int i = 0; i < c.length; i++) {
            for (int j = 0; j < c.length; j++) {
                all += c[i][j];
                right += i == j ? c[i][j] : 0;
            }
        }
        return (double) right / all;
    }

    /** The median of each file's rounds and the folded file's speed-up, per round and of the medians. */
    private static void report(String what, double[][] v, boolean higherIsFaster) {
        double[] ratio = new double[v[0].length];
        for (int r = 0; r < ratio.length; r++) {
            ratio[r] = higherIsFaster ? v[1][r] / v[0][r] : v[0][r] / v[1][r];
        }
        double ma = Stats.of(v[0]).median();
        double mb = Stats.of(v[1]).median();
        System.out.printf(Locale.ROOT, "%s: unfolded %s, folded %s; speed-up of the folded model %.2fx (per round %s)%n", what,
                format(new double[] {ma}), format(new double[] {mb}), higherIsFaster ? mb / ma : ma / mb, ratios(ratio));
    }

    private static String ratios(double[] v) {
        StringBuilder sb = new StringBuilder();
        for (double x : v) {
            sb.append(sb.length() == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.3f", x));
        }
        return sb.toString();
    }

    private static String format(double[] v) {
        StringBuilder sb = new StringBuilder();
        for (double x : v) {
            sb.append(sb.length() == 0 ? "" : " ").append(String.format(Locale.ROOT, x >= 100 ? "%.0f" : "%.3f", x));
        }
        return sb.toString();
    }
}
