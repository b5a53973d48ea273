package dev.normnet.backend.cpu;

import dev.normnet.backend.LinearGeometry;
import java.util.Arrays;

/**
 * The reference linear layer: y = x w^T + b accumulated in float64 per output, dx = dy w in
 * float32 in a fixed order, and dw = dy^T x, db = sum of dy over the batch in float64 (one row
 * of dw per work item, with a per-thread float64 row of accumulators).
 */
final class CpuLinear implements CpuOps.Linear {
    private final WorkerPool pool;
    private final double[][] rowScratch;   // per worker, float64 accumulators for one row of dw

    CpuLinear(WorkerPool pool) {
        this.pool = pool;
        this.rowScratch = new double[pool.threads()][0];
    }

    @Override
    public void forward(CpuTensor x, CpuTensor w, CpuTensor b, CpuTensor y, LinearGeometry g) {
        int in = g.in(), out = g.out();
        float[] xa = x.data(), wa = w.data(), ya = y.data();
        float[] ba = b == null ? null : b.data();
        int xo = x.off(), wo = w.off(), yo = y.off(), bo = b == null ? 0 : b.off();
        pool.run(g.n(), 1, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                int xRow = xo + i * in;
                for (int o = 0; o < out; o++) {
                    int wRow = wo + o * in;
                    double acc = ba == null ? 0.0 : ba[bo + o];
                    for (int j = 0; j < in; j++) {
                        acc += (double) xa[xRow + j] * wa[wRow + j];
                    }
                    ya[yo + i * out + o] = (float) acc;
                }
            }
        });
    }

    @Override
    public void backwardData(CpuTensor dy, CpuTensor w, CpuTensor dx, LinearGeometry g) {
        int in = g.in(), out = g.out();
        float[] dya = dy.data(), wa = w.data(), dxa = dx.data();
        int dyo = dy.off(), wo = w.off(), dxo = dx.off();
        pool.run(g.n(), 1, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                int dxRow = dxo + i * in;                     // dx (N, I)
                Arrays.fill(dxa, dxRow, dxRow + in, 0f);
                for (int o = 0; o < out; o++) {
                    float a = dya[dyo + i * out + o];
                    int wRow = wo + o * in;
                    for (int j = 0; j < in; j++) {
                        dxa[dxRow + j] += a * wa[wRow + j];
                    }
                }
            }
        });
    }

    @Override
    public void backwardWeight(CpuTensor x, CpuTensor dy, CpuTensor dw, CpuTensor db, LinearGeometry g) {
        int n = g.n(), in = g.in(), out = g.out();
        float[] xa = x.data(), dya = dy.data(), dwa = dw.data();
        float[] dba = db == null ? null : db.data();
        int xo = x.off(), dyo = dy.off(), dwo = dw.off(), dbo = db == null ? 0 : db.off();
        growRowScratch(in);
        pool.run(out, 1, (from, to, worker) -> {
            double[] acc = rowScratch[worker];                // (I) float64 sums for one row of dw
            for (int o = from; o < to; o++) {
                Arrays.fill(acc, 0, in, 0.0);
                double bias = 0;
                for (int i = 0; i < n; i++) {
                    float a = dya[dyo + i * out + o];
                    int xRow = xo + i * in;
                    for (int j = 0; j < in; j++) {
                        acc[j] += (double) a * xa[xRow + j];
                    }
                    bias += a;
                }
                int dwRow = dwo + o * in;                     // dw (O, I)
                for (int j = 0; j < in; j++) {
                    dwa[dwRow + j] = (float) acc[j];
                }
                if (dba != null) {
                    dba[dbo + o] = (float) bias;
                }
            }
        });
    }

    private void growRowScratch(int size) {
        for (int t = 0; t < rowScratch.length; t++) {
            if (rowScratch[t].length < size) {
                rowScratch[t] = new double[size];
            }
        }
    }
}
