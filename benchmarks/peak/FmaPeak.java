import java.util.ArrayList;
import java.util.List;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU's measured FP32 peak: each of T threads runs 12 independent chains of vector fused
 * multiply-adds on registers only (no memory traffic, enough chains to cover the FMA latency), for
 * about a second; the best of five runs. The ceiling against which benchmarks/notes report the
 * fraction of peak each training case reaches.
 *
 *     java --add-modules jdk.incubator.vector benchmarks/peak/FmaPeak.java [THREADS ...]
 */
public final class FmaPeak {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private FmaPeak() {
    }

    /** 12 chains x n iterations of acc = acc * m + a; returns a value that depends on every chain. */
    static float chains(long n, float seed) {
        FloatVector m = FloatVector.broadcast(S, 0.999999f);
        FloatVector a = FloatVector.broadcast(S, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(S, seed), c1 = c0.add(1), c2 = c0.add(2), c3 = c0.add(3);
        FloatVector c4 = c0.add(4), c5 = c0.add(5), c6 = c0.add(6), c7 = c0.add(7);
        FloatVector c8 = c0.add(8), c9 = c0.add(9), c10 = c0.add(10), c11 = c0.add(11);
        for (long i = 0; i < n; i++) {
            c0 = c0.fma(m, a);
            c1 = c1.fma(m, a);
            c2 = c2.fma(m, a);
            c3 = c3.fma(m, a);
            c4 = c4.fma(m, a);
            c5 = c5.fma(m, a);
            c6 = c6.fma(m, a);
            c7 = c7.fma(m, a);
            c8 = c8.fma(m, a);
            c9 = c9.fma(m, a);
            c10 = c10.fma(m, a);
            c11 = c11.fma(m, a);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11).lane(0);
    }

    /** GFLOP/s of {@code threads} threads each running n iterations. */
    static double run(int threads, long n) throws InterruptedException {
        List<Thread> ts = new ArrayList<>();
        float[] sink = new float[threads];
        long t0 = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            int id = t;
            Thread th = new Thread(() -> sink[id] = chains(n, id));
            ts.add(th);
            th.start();
        }
        for (Thread th : ts) {
            th.join();
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        if (Float.isNaN(sink[0])) {
            System.out.println("(unexpected NaN)");
        }
        return threads * n * 12.0 * S.length() * 2 / seconds / 1e9;
    }

    public static void main(String[] args) throws InterruptedException {
        int[] counts = args.length == 0 ? new int[]{1, Runtime.getRuntime().availableProcessors()}
                : java.util.Arrays.stream(args).mapToInt(Integer::parseInt).toArray();
        for (int i = 0; i < 3; i++) {
            chains(2_000_000, i);   // compile the loop before timing
        }
        long n = 1;
        while (timeOf(n) < 0.2) {
            n *= 2;
        }
        n = (long) (n * 1.0 / timeOf(n));   // about one second per run
        System.out.printf("vector: %d floats (%d bits)%n", S.length(), S.vectorBitSize());
        for (int threads : counts) {
            double best = 0;
            for (int r = 0; r < 5; r++) {
                best = Math.max(best, run(threads, n));
            }
            System.out.printf("threads %d: %.1f GFLOP/s FP32 (best of 5 runs of ~1 s)%n", threads, best);
        }
    }

    private static double timeOf(long n) {
        long t0 = System.nanoTime();
        chains(n, 0.5f);
        return (System.nanoTime() - t0) / 1e9;
    }
}
