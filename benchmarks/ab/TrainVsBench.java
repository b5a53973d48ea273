import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.ResidentImages;
import dev.normnet.bench.BenchCase;
import dev.normnet.bench.ModelBench;
import dev.normnet.data.DataDiscovery;
import dev.normnet.data.DatasetSplits;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import dev.normnet.optim.Sgd;
import dev.normnet.train.History;
import dev.normnet.train.Trainer;
import java.util.Arrays;
import java.util.Locale;

/**
 * {@code normnet train}'s loop against {@code normnet bench}'s step, in one process and alternately,
 * so that the machine's slow and fast moments and the process's own JIT state hit both alike.
 * LeNet-BN on Fashion-MNIST, batch 256, SGD lr 1.0, the CPU's fast path: each round times one
 * epoch's worth of {@link ModelBench} steps (234, the bench case {@code lenet-bn-28/train/b256}),
 * then one epoch of {@link Trainer#fit} (235 batches, the last of 96, with the per-step loss check
 * and the epoch's read-back, as {@code train} runs it) and prints both rates: the epoch's is the
 * examples/s that {@code train} prints. With {@code eval} each epoch also evaluates the test set
 * afterwards (outside the epoch's time, as in {@code train}), so that the next round runs after it.
 * Before the rounds: 8 s of bench steps, and the trainer's own warm-up (6 s cap, as {@code train}).
 *
 * <pre>
 *   mvn -q package -DskipTests
 *   mkdir -p /tmp/ab &amp;&amp; javac --add-modules jdk.incubator.vector -cp "target/normnet-0.1.0-SNAPSHOT.jar:target/lib/*" \
 *       -d /tmp/ab benchmarks/ab/TrainVsBench.java
 *   java --add-modules jdk.incubator.vector -XX:+UseParallelGC -cp "/tmp/ab:target/normnet-0.1.0-SNAPSHOT.jar:target/lib/*" \
 *       TrainVsBench 5 [eval] [threads]
 * </pre>
 * Fashion-MNIST is found as {@code normnet train} finds it (DataDiscovery).
 */
public class TrainVsBench {
    public static void main(String[] args) {
        if (args.length < 1) {
            System.err.println("usage: TrainVsBench ROUNDS [eval|none] [THREADS]");
            System.exit(2);
        }
        int rounds = Integer.parseInt(args[0]);
        boolean eval = args.length > 1 && args[1].equals("eval");
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        DatasetSplits data = DataDiscovery.load("fashion-mnist", null);
        try (Backend backend = Backends.cpu(threads)) {
            System.out.println(backend.describe() + "; " + Runtime.version() + "; test evaluation after each epoch: " + eval);
            ResidentImages images = ModelBench.upload(backend, data.train());
            ModelBench bench = new ModelBench(backend, images, new BenchCase("lenet-bn", 28, "train", 256, "cpu", false), 42);
            Sequential model = Models.create("lenet-bn", ModelOptions.defaults());
            model.build(0);
            Trainer trainer = Trainer.builder().setModel(model).setBackend(backend)
                    .setOptimizer(Sgd.builder().setLearningRate(1.0f).build()).optWarmup(6).build();
            long end = System.nanoTime() + 8_000_000_000L;
            while (System.nanoTime() < end) {
                bench.step();
            }
            bench.sync();
            trainer.warmUp(data.train(), data.test());
            int steps = data.train().count() / 256;
            double[] b = new double[rounds];
            double[] t = new double[rounds];
            for (int k = 0; k < rounds; k++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < steps; i++) {
                    bench.step();
                }
                bench.sync();
                b[k] = steps * 256 / ((System.nanoTime() - t0) / 1e9);
                History h = trainer.fit(data.train(), eval ? data.test() : null, 1, null);
                t[k] = h.records().get(0).examplesPerSec();
                System.out.printf(Locale.ROOT, "round %d  bench %.0f  train %.0f  train/bench %.3f%n", k + 1, b[k], t[k], t[k] / b[k]);
            }
            double mb = median(b);
            double mt = median(t);
            System.out.printf(Locale.ROOT, "medians: bench %.0f  train %.0f  train/bench %.3f%n", mb, mt, mt / mb);
            trainer.close();
            bench.close();
            images.close();
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
