package dev.normnet.backend.cpu;

import java.lang.reflect.Method;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Two implementations of one convolution direction, timed alternately in one process (so that the
 * machine's slow and fast moments and the process's own JIT and memory layout hit both alike):
 * A runs on wide planes, B by channel vectors. Each round times 20 calls of A, then 20 of B, at
 * batch 256, kernel 5, no padding, 2 threads; the medians and ranges over the rounds are printed.
 * It calls the private methods by reflection, so it runs against a normnet jar of the same version:
 *
 * <pre>
 *   mvn -q package -DskipTests
 *   mkdir -p /tmp/ab &amp;&amp; javac --add-modules jdk.incubator.vector -cp target/normnet-*.jar -d /tmp/ab benchmarks/ab/OpAb.java
 *   java --add-modules jdk.incubator.vector -cp /tmp/ab:target/normnet-0.1.0-SNAPSHOT.jar \
 *       dev.normnet.backend.cpu.OpAb filter 6 12 16 60      # direction, C, H (= W), K, rounds
 * </pre>
 */
public class OpAb {
    public static void main(String[] a) throws Exception {
        String which = a[0];                 // forward | filter
        int n = 256, c = Integer.parseInt(a[1]), h = Integer.parseInt(a[2]), k = Integer.parseInt(a[3]), r = 5, pad = 0;
        int rounds = Integer.parseInt(a[4]);
        int p = h - r + 1;
        WorkerPool pool = new WorkerPool(2, "ab");
        VectorConv2d conv = new VectorConv2d(pool, new CpuConv2d(pool));
        Class<?> wide = Class.forName("dev.normnet.backend.cpu.VectorConv2d$Wide");
        Method of = wide.getDeclaredMethod("of", int.class, int.class, int.class, int.class, int.class, int.class, int.class, int.class, int.class);
        of.setAccessible(true);
        Object v = of.invoke(null, c, h, h, k, r, r, pad, p, p);
        SplittableRandom rnd = new SplittableRandom(1);
        float[] x = new float[n * c * h * h], w = new float[k * c * r * r], b = new float[k], y = new float[n * k * p * p];
        for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextDouble();
        for (int i = 0; i < w.length; i++) w[i] = (float) rnd.nextDouble();
        for (int i = 0; i < y.length; i++) y[i] = (float) rnd.nextDouble();
        Method ma, mb;
        Object[] args;
        if (which.equals("forward")) {
            Class<?>[] sig = {float[].class, int.class, float[].class, int.class, float[].class, int.class, float[].class, int.class, int.class, wide};
            ma = VectorConv2d.class.getDeclaredMethod("convOnWidePlanes", sig);
            mb = VectorConv2d.class.getDeclaredMethod("convByChannelVectors", sig);
            args = new Object[]{x, 0, w, 0, b, 0, y, 0, n, v};
        } else {
            Class<?>[] sig = {float[].class, int.class, float[].class, int.class, double[].class, int.class, int.class, int.class, wide};
            ma = VectorConv2d.class.getDeclaredMethod("filterOnWidePlanes", sig);
            mb = VectorConv2d.class.getDeclaredMethod("filterByChannelVectors", sig);
            int chunks = (n + 15) / 16, stride = k * c * r * r + k;
            args = new Object[]{x, 0, y, 0, new double[chunks * stride], n, chunks, stride, v};
        }
        ma.setAccessible(true);
        mb.setAccessible(true);
        double[] ta = new double[rounds], tb = new double[rounds];
        for (int round = 0; round < rounds; round++) {
            ta[round] = time(ma, conv, args);
            tb[round] = time(mb, conv, args);
        }
        Arrays.sort(ta);
        Arrays.sort(tb);
        System.out.printf("%s c=%d h=%d k=%d  A(old) median %.3f ms [%.3f..%.3f]  B(new) median %.3f ms [%.3f..%.3f]  A/B %.2f%n",
                which, c, h, k, ta[rounds / 2], ta[0], ta[rounds - 1], tb[rounds / 2], tb[0], tb[rounds - 1], ta[rounds / 2] / tb[rounds / 2]);
        pool.close();
    }

    static double time(Method m, Object o, Object[] args) throws Exception {
        int reps = 20;
        long t0 = System.nanoTime();
        for (int i = 0; i < reps; i++) m.invoke(o, args);
        return (System.nanoTime() - t0) / 1e6 / reps;
    }
}
