package dev.normnet.backend.cpu;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ConvGeometry;
import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.backend.ResidentImages;
import dev.normnet.data.Resize;
import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.Arrays;

/**
 * The reference implementation of {@link Backend}: every op written as plain loops over
 * {@code float[]}, with exactly the semantics documented on the interface (PyTorch's).
 *
 * <p>Numerics: products and short sums (at most C*R*S terms of a convolution output, the
 * columns of a linear layer's input gradient) are accumulated in float32 in a fixed order; long
 * reductions (parameter gradients over the batch, batch-norm statistics, the loss) are
 * accumulated in float64 and rounded once. Batch-norm statistics take two passes (mean, then
 * the sum of squared deviations), never E[x^2] - E[x]^2.
 *
 * <p>Threads: a fixed pool of daemon threads, created once, splits each op over independent
 * output items (planes, channels, rows, filter slices). Each item is computed by one thread in a
 * fixed order, so results are bit-identical for any thread count. Scratch space (per-thread
 * float64 accumulators, per-row loss terms) is allocated at the first call that needs it and
 * grown, never shrunk. Not safe for concurrent use from several threads.
 */
public class CpuBackend implements Backend {
    /** Items smaller than this are not worth a thread hand-off in elementwise ops. */
    private static final int ELEMENTWISE_GRAIN = 1 << 15;

    final WorkerPool pool;                  // shared with the vector subclass
    private final double[][] rowScratch;   // per worker, float64 accumulators for one output row
    private double[] rowLoss = new double[0];     // (N) softmax cross-entropy loss per row
    private boolean[] rowCorrect = new boolean[0]; // (N) arg-max equals the label

    /** A backend using {@link Runtime#availableProcessors()} threads. */
    public CpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    /** A backend using {@code threads} threads (the calling one included). */
    public CpuBackend(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("CpuBackend: thread count must be >= 1, got " + threads);
        }
        this.pool = new WorkerPool(threads, "normnet-cpu");
        this.rowScratch = new double[threads][0];
    }

    /** Number of threads ops are split over. */
    public int threads() {
        return pool.threads();
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public String describe() {
        int t = pool.threads();
        return "cpu: " + t + (t == 1 ? " thread" : " threads");
    }

    // ================================================================ memory

    @Override
    public Tensor allocate(Shape shape) {
        return new CpuTensor(shape);
    }

    @Override
    public void fill(Tensor t, float value) {
        CpuTensor ct = cpu("fill", "t", t);
        Arrays.fill(ct.data(), ct.off(), ct.off() + ct.shape().sizeInt(), value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        CpuTensor s = cpu("copy", "src", src);
        CpuTensor d = cpu("copy", "dst", dst);
        if (s.size() != d.size()) {
            throw new IllegalArgumentException("copy: src " + s.shape() + " and dst " + d.shape() + " differ in size");
        }
        System.arraycopy(s.data(), s.off(), d.data(), d.off(), s.shape().sizeInt());
    }

    @Override
    public void addScalar(Tensor t, int index, float delta) {
        CpuTensor ct = cpu("addScalar", "t", t);
        if (index < 0 || index >= ct.size()) {
            throw new IllegalArgumentException("addScalar: index " + index + " outside a tensor of shape " + ct.shape());
        }
        ct.data()[ct.off() + index] += delta;
    }

    @Override
    public void synchronize() {
    }

    // ================================================================ convolution

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec spec) {
        String op = "conv2dForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cw = cpu(op, "w", w);
        CpuTensor cy = cpu(op, "y", y);
        ConvGeometry g = ConvGeometry.forward(op, cx, cw, null, cy, spec);
        CpuTensor cb = b == null ? null : cpu(op, "b", b);
        if (cb != null) {
            requireShape(op, "b", cb, g.k());
        }
        float[] xa = cx.data(), wa = cw.data(), ya = cy.data();
        float[] ba = cb == null ? null : cb.data();
        int xo = cx.off(), wo = cw.off(), yo = cy.off(), bo = cb == null ? 0 : cb.off();
        pool.run(g.n() * g.k(), 1, (from, to, worker) -> {
            for (int nk = from; nk < to; nk++) {
                convForwardPlane(xa, xo, wa, wo, ba, bo, ya, yo, g, nk);
            }
        });
    }

    /** y[n, k] = b[k] + sum over c, r, s of w[k, c, r, s] * x[n, c] shifted; {@code nk = n*K + k}. */
    private static void convForwardPlane(float[] x, int xo, float[] w, int wo, float[] b, int bo,
                                         float[] y, int yo, ConvGeometry g, int nk) {
        int n = nk / g.k();
        int k = nk % g.k();
        int st = g.stride();
        int plane = g.p() * g.q();
        int yPlane = yo + nk * plane;                         // y (N, K, P, Q)
        Arrays.fill(y, yPlane, yPlane + plane, b == null ? 0f : b[bo + k]);
        for (int c = 0; c < g.c(); c++) {
            int xPlane = xo + (n * g.c() + c) * g.h() * g.w();  // x (N, C, H, W)
            int wBase = wo + (k * g.c() + c) * g.r() * g.s();    // w (K, C, R, S)
            for (int r = 0; r < g.r(); r++) {
                int p0 = g.first(r);
                int p1 = g.end(r, g.h(), g.p());
                for (int s = 0; s < g.s(); s++) {
                    int q0 = g.first(s);
                    int q1 = g.end(s, g.w(), g.q());
                    float wv = w[wBase + r * g.s() + s];
                    for (int p = p0; p < p1; p++) {
                        int xRow = xPlane + (p * st - g.pad() + r) * g.w() + s - g.pad();
                        int yRow = yPlane + p * g.q();
                        if (st == 1) {
                            for (int qq = q0; qq < q1; qq++) {
                                y[yRow + qq] += wv * x[xRow + qq];
                            }
                        } else {
                            for (int qq = q0; qq < q1; qq++) {
                                y[yRow + qq] += wv * x[xRow + qq * st];
                            }
                        }
                    }
                }
            }
        }
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvSpec spec) {
        String op = "conv2dBackwardData";
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cw = cpu(op, "w", w);
        CpuTensor cdx = cpu(op, "dx", dx);
        ConvGeometry g = ConvGeometry.backwardData(op, cdy, cw, cdx, spec);
        float[] dya = cdy.data(), wa = cw.data(), dxa = cdx.data();
        int dyo = cdy.off(), wo = cw.off(), dxo = cdx.off();
        pool.run(g.n() * g.c(), 1, (from, to, worker) -> {
            for (int nc = from; nc < to; nc++) {
                convBackwardDataPlane(dya, dyo, wa, wo, dxa, dxo, g, nc);
            }
        });
    }

    /** dx[n, c] = sum over k, r, s of w[k, c, r, s] * dy[n, k] scattered back; {@code nc = n*C + c}. */
    private static void convBackwardDataPlane(float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo,
                                              ConvGeometry g, int nc) {
        int n = nc / g.c();
        int c = nc % g.c();
        int st = g.stride();
        int dxPlane = dxo + nc * g.h() * g.w();               // dx (N, C, H, W)
        Arrays.fill(dx, dxPlane, dxPlane + g.h() * g.w(), 0f);
        for (int k = 0; k < g.k(); k++) {
            int dyPlane = dyo + (n * g.k() + k) * g.p() * g.q();  // dy (N, K, P, Q)
            int wBase = wo + (k * g.c() + c) * g.r() * g.s();
            for (int r = 0; r < g.r(); r++) {
                int p0 = g.first(r);
                int p1 = g.end(r, g.h(), g.p());
                for (int s = 0; s < g.s(); s++) {
                    int q0 = g.first(s);
                    int q1 = g.end(s, g.w(), g.q());
                    float wv = w[wBase + r * g.s() + s];
                    for (int p = p0; p < p1; p++) {
                        int dxRow = dxPlane + (p * st - g.pad() + r) * g.w() + s - g.pad();
                        int dyRow = dyPlane + p * g.q();
                        if (st == 1) {
                            for (int qq = q0; qq < q1; qq++) {
                                dx[dxRow + qq] += wv * dy[dyRow + qq];
                            }
                        } else {
                            for (int qq = q0; qq < q1; qq++) {
                                dx[dxRow + qq * st] += wv * dy[dyRow + qq];
                            }
                        }
                    }
                }
            }
        }
    }

    @Override
    public void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, Tensor db, ConvSpec spec) {
        String op = "conv2dBackwardFilter";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdw = cpu(op, "dw", dw);
        ConvGeometry g = ConvGeometry.backwardFilter(op, cx, cdy, cdw, null, spec);
        CpuTensor cdb = db == null ? null : cpu(op, "db", db);
        if (cdb != null) {
            requireShape(op, "db", cdb, g.k());
        }
        float[] xa = cx.data(), dya = cdy.data(), dwa = cdw.data();
        int xo = cx.off(), dyo = cdy.off(), dwo = cdw.off();
        pool.run(g.k() * g.c(), 1, (from, to, worker) -> {
            for (int kc = from; kc < to; kc++) {
                convBackwardFilterSlice(xa, xo, dya, dyo, dwa, dwo, g, kc);
            }
        });
        if (cdb != null) {
            float[] dba = cdb.data();
            int dbo = cdb.off();
            int plane = g.p() * g.q();
            pool.run(g.k(), 1, (from, to, worker) -> {
                for (int k = from; k < to; k++) {
                    double acc = 0;
                    for (int n = 0; n < g.n(); n++) {
                        int dyPlane = dyo + (n * g.k() + k) * plane;
                        for (int j = 0; j < plane; j++) {
                            acc += dya[dyPlane + j];
                        }
                    }
                    dba[dbo + k] = (float) acc;
                }
            });
        }
    }

    /**
     * dw[k, c, r, s] = sum over n, p, q of dy[n, k, p, q] * x[n, c, p*stride - pad + r, q*stride - pad + s];
     * {@code kc = k*C + c}. Each output row's Q products are summed in float32, the rows in float64.
     */
    private static void convBackwardFilterSlice(float[] x, int xo, float[] dy, int dyo, float[] dw, int dwo,
                                                ConvGeometry g, int kc) {
        int k = kc / g.c();
        int c = kc % g.c();
        int st = g.stride();
        int dwBase = dwo + kc * g.r() * g.s();                // dw (K, C, R, S)
        for (int r = 0; r < g.r(); r++) {
            int p0 = g.first(r);
            int p1 = g.end(r, g.h(), g.p());
            for (int s = 0; s < g.s(); s++) {
                int q0 = g.first(s);
                int q1 = g.end(s, g.w(), g.q());
                double acc = 0;
                for (int n = 0; n < g.n(); n++) {
                    int xPlane = xo + (n * g.c() + c) * g.h() * g.w();
                    int dyPlane = dyo + (n * g.k() + k) * g.p() * g.q();
                    for (int p = p0; p < p1; p++) {
                        int xRow = xPlane + (p * st - g.pad() + r) * g.w() + s - g.pad();
                        int dyRow = dyPlane + p * g.q();
                        float row = 0f;
                        for (int qq = q0; qq < q1; qq++) {
                            row += dy[dyRow + qq] * x[xRow + qq * st];
                        }
                        acc += row;
                    }
                }
                dw[dwBase + r * g.s() + s] = (float) acc;
            }
        }
    }

    // ================================================================ linear

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        String op = "linearForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cw = cpu(op, "w", w);
        CpuTensor cy = cpu(op, "y", y);
        CpuTensor cb = b == null ? null : cpu(op, "b", b);
        if (cx.shape().rank() != 2 || cw.shape().rank() != 2 || cx.shape().dim(1) != cw.shape().dim(1)
                || !cy.shape().equals(Shape.of(cx.shape().dim(0), cw.shape().dim(0)))
                || (cb != null && !cb.shape().equals(Shape.of(cw.shape().dim(0))))) {
            throw new IllegalArgumentException(op + ": expected x (N, I), w (O, I), b (O), y (N, O); got x "
                    + cx.shape() + ", w " + cw.shape() + ", b " + (cb == null ? "null" : cb.shape()) + ", y " + cy.shape());
        }
        int n = cx.shape().dim(0), in = cx.shape().dim(1), out = cw.shape().dim(0);
        float[] xa = cx.data(), wa = cw.data(), ya = cy.data();
        float[] ba = cb == null ? null : cb.data();
        int xo = cx.off(), wo = cw.off(), yo = cy.off(), bo = cb == null ? 0 : cb.off();
        pool.run(n, 1, (from, to, worker) -> {
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
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        String op = "linearBackwardData";
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cw = cpu(op, "w", w);
        CpuTensor cdx = cpu(op, "dx", dx);
        if (cdy.shape().rank() != 2 || cw.shape().rank() != 2 || cdy.shape().dim(1) != cw.shape().dim(0)
                || !cdx.shape().equals(Shape.of(cdy.shape().dim(0), cw.shape().dim(1)))) {
            throw new IllegalArgumentException(op + ": expected dy (N, O), w (O, I), dx (N, I); got dy "
                    + cdy.shape() + ", w " + cw.shape() + ", dx " + cdx.shape());
        }
        int n = cdy.shape().dim(0), out = cw.shape().dim(0), in = cw.shape().dim(1);
        float[] dya = cdy.data(), wa = cw.data(), dxa = cdx.data();
        int dyo = cdy.off(), wo = cw.off(), dxo = cdx.off();
        pool.run(n, 1, (from, to, worker) -> {
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
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw, Tensor db) {
        String op = "linearBackwardWeight";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdw = cpu(op, "dw", dw);
        CpuTensor cdb = db == null ? null : cpu(op, "db", db);
        if (cx.shape().rank() != 2 || cdy.shape().rank() != 2 || cx.shape().dim(0) != cdy.shape().dim(0)
                || !cdw.shape().equals(Shape.of(cdy.shape().dim(1), cx.shape().dim(1)))
                || (cdb != null && !cdb.shape().equals(Shape.of(cdy.shape().dim(1))))) {
            throw new IllegalArgumentException(op + ": expected x (N, I), dy (N, O), dw (O, I), db (O); got x "
                    + cx.shape() + ", dy " + cdy.shape() + ", dw " + cdw.shape() + ", db "
                    + (cdb == null ? "null" : cdb.shape()));
        }
        int n = cx.shape().dim(0), in = cx.shape().dim(1), out = cdy.shape().dim(1);
        float[] xa = cx.data(), dya = cdy.data(), dwa = cdw.data();
        float[] dba = cdb == null ? null : cdb.data();
        int xo = cx.off(), dyo = cdy.off(), dwo = cdw.off(), dbo = cdb == null ? 0 : cdb.off();
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

    // ================================================================ batch norm

    /** Channel count C, values per (sample, channel) HW (1 for 2-D input), and batch N of a batch-norm input. */
    record NormDims(int n, int c, int hw) {
        int m() {
            return n * hw;
        }
    }

    static NormDims normDims(String op, Tensor x, Tensor y, String yName) {
        Shape xs = x.shape();
        if ((xs.rank() != 2 && xs.rank() != 4) || !y.shape().equals(xs)) {
            throw new IllegalArgumentException(op + ": expected x (N, C) or (N, C, H, W) and " + yName
                    + " of the same shape; got x " + xs + ", " + yName + " " + y.shape());
        }
        return new NormDims(xs.dim(0), xs.dim(1), xs.rank() == 4 ? xs.dim(2) * xs.dim(3) : 1);
    }

    @Override
    public void batchNormForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                      Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps) {
        String op = "batchNormForwardTrain";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        NormDims d = normDims(op, cx, cy, "y");
        CpuTensor cg = channelParam(op, "gamma", gamma, d, cx);
        CpuTensor cb = channelParam(op, "beta", beta, d, cx);
        CpuTensor crm = channelParam(op, "runningMean", runningMean, d, cx);
        CpuTensor crv = channelParam(op, "runningVar", runningVar, d, cx);
        CpuTensor csm = channelParam(op, "saveMean", saveMean, d, cx);
        CpuTensor csi = channelParam(op, "saveInvStd", saveInvStd, d, cx);
        if (d.m() <= 1) {
            throw new IllegalArgumentException("expected more than 1 value per channel when training, got input shape "
                    + cx.shape());
        }
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                int m = d.m();
                double sum = 0;
                for (int i = 0; i < d.n(); i++) {
                    int base = xo + (i * d.c() + c) * d.hw();
                    for (int j = 0; j < d.hw(); j++) {
                        sum += xa[base + j];
                    }
                }
                double mean = sum / m;
                double squares = 0;
                for (int i = 0; i < d.n(); i++) {
                    int base = xo + (i * d.c() + c) * d.hw();
                    for (int j = 0; j < d.hw(); j++) {
                        double dev = xa[base + j] - mean;
                        squares += dev * dev;
                    }
                }
                double var = squares / m;                     // biased, used to normalize
                double invStd = 1.0 / Math.sqrt(var + eps);
                double scale = cg.get(c) * invStd;
                double shift = cb.get(c);
                for (int i = 0; i < d.n(); i++) {
                    int xBase = xo + (i * d.c() + c) * d.hw();
                    int yBase = yo + (i * d.c() + c) * d.hw();
                    for (int j = 0; j < d.hw(); j++) {
                        ya[yBase + j] = (float) ((xa[xBase + j] - mean) * scale + shift);
                    }
                }
                saveStatistics(c, mean, invStd, squares, m, momentum, csm, csi, crm, crv);
            }
        });
    }

    /**
     * Channel c's batch statistics after a training-mode forward pass: saveMean, saveInvStd, and the
     * running statistics with PyTorch's convention (momentum on the new value; the running
     * variance from the unbiased batch variance, squares / (m - 1)).
     */
    static void saveStatistics(int c, double mean, double invStd, double squares, int m, float momentum,
                               CpuTensor saveMean, CpuTensor saveInvStd, CpuTensor runningMean, CpuTensor runningVar) {
        saveMean.set(c, (float) mean);
        saveInvStd.set(c, (float) invStd);
        double unbiased = squares / (m - 1);
        runningMean.set(c, (float) ((1.0 - momentum) * runningMean.get(c) + (double) momentum * mean));
        runningVar.set(c, (float) ((1.0 - momentum) * runningVar.get(c) + (double) momentum * unbiased));
    }

    @Override
    public void batchNormForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                     Tensor y, float eps) {
        String op = "batchNormForwardEval";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        NormDims d = normDims(op, cx, cy, "y");
        CpuTensor cg = channelParam(op, "gamma", gamma, d, cx);
        CpuTensor cb = channelParam(op, "beta", beta, d, cx);
        CpuTensor crm = channelParam(op, "runningMean", runningMean, d, cx);
        CpuTensor crv = channelParam(op, "runningVar", runningVar, d, cx);
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                double mean = crm.get(c);
                double scale = cg.get(c) / Math.sqrt((double) crv.get(c) + eps);
                double shift = cb.get(c);
                for (int i = 0; i < d.n(); i++) {
                    int xBase = xo + (i * d.c() + c) * d.hw();
                    int yBase = yo + (i * d.c() + c) * d.hw();
                    for (int j = 0; j < d.hw(); j++) {
                        ya[yBase + j] = (float) ((xa[xBase + j] - mean) * scale + shift);
                    }
                }
            }
        });
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta) {
        String op = "batchNormBackward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdx = cpu(op, "dx", dx);
        NormDims d = normDims(op, cx, cdy, "dy");
        normDims(op, cx, cdx, "dx");
        CpuTensor cg = channelParam(op, "gamma", gamma, d, cx);
        CpuTensor csm = channelParam(op, "saveMean", saveMean, d, cx);
        CpuTensor csi = channelParam(op, "saveInvStd", saveInvStd, d, cx);
        CpuTensor cdg = channelParam(op, "dgamma", dgamma, d, cx);
        CpuTensor cdb = channelParam(op, "dbeta", dbeta, d, cx);
        float[] xa = cx.data(), dya = cdy.data(), dxa = cdx.data();
        int xo = cx.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                int m = d.m();
                double mean = csm.get(c);
                double invStd = csi.get(c);
                double sumDy = 0;
                double sumDyXhat = 0;
                for (int i = 0; i < d.n(); i++) {
                    int xBase = xo + (i * d.c() + c) * d.hw();
                    int dyBase = dyo + (i * d.c() + c) * d.hw();
                    for (int j = 0; j < d.hw(); j++) {
                        double g = dya[dyBase + j];
                        sumDy += g;
                        sumDyXhat += g * ((xa[xBase + j] - mean) * invStd);
                    }
                }
                double k = cg.get(c) * invStd / m;
                for (int i = 0; i < d.n(); i++) {
                    int xBase = xo + (i * d.c() + c) * d.hw();
                    int dyBase = dyo + (i * d.c() + c) * d.hw();
                    int dxBase = dxo + (i * d.c() + c) * d.hw();
                    for (int j = 0; j < d.hw(); j++) {
                        double xhat = (xa[xBase + j] - mean) * invStd;
                        dxa[dxBase + j] = (float) (k * ((double) m * dya[dyBase + j] - sumDy - xhat * sumDyXhat));
                    }
                }
                cdg.set(c, (float) sumDyXhat);
                cdb.set(c, (float) sumDy);
            }
        });
    }

    static CpuTensor channelParam(String op, String name, Tensor t, NormDims d, Tensor x) {
        CpuTensor ct = cpu(op, name, t);
        if (!ct.shape().equals(Shape.of(d.c()))) {
            throw new IllegalArgumentException(op + ": expected " + name + " (C) = [" + d.c() + "] for x "
                    + x.shape() + ", got " + ct.shape());
        }
        return ct;
    }

    // ================================================================ pooling

    /** Sizes of one pooling: planes NC, input H x W, output P x Q. */
    record PoolDims(int planes, int h, int w, int p, int q, int kernel, int stride, int pad) {
    }

    static PoolDims poolDims(String op, Tensor x, Tensor y, String xName, String yName, PoolSpec spec) {
        if (spec == null) {
            throw new IllegalArgumentException(op + ": spec must not be null");
        }
        Shape xs = x.shape();
        Shape ys = y.shape();
        if (xs.rank() != 4) {
            throw new IllegalArgumentException(op + ": expected " + xName + " (N, C, H, W), got " + xs);
        }
        int p;
        int q;
        try {
            p = spec.outSize(xs.dim(2));
            q = spec.outSize(xs.dim(3));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(op + ": " + xName + " " + xs + ": " + e.getMessage(), e);
        }
        Shape expected = Shape.of(xs.dim(0), xs.dim(1), p, q);
        if (!ys.equals(expected)) {
            throw new IllegalArgumentException(op + ": " + xName + " " + xs + " with " + spec + " gives "
                    + yName + " " + expected + ", got " + ys);
        }
        return new PoolDims(xs.dim(0) * xs.dim(1), xs.dim(2), xs.dim(3), p, q, spec.kernel(), spec.stride(), spec.pad());
    }

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        String op = "avgPool2dForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        PoolDims g = poolDims(op, cx, cy, "x", "y", spec);
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        float inv = 1f / (g.kernel() * g.kernel());
        pool.run(g.planes(), 1, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int xPlane = xo + pl * g.h() * g.w();
                int yPlane = yo + pl * g.p() * g.q();
                for (int p = 0; p < g.p(); p++) {
                    int h0 = Math.max(p * g.stride() - g.pad(), 0);
                    int h1 = Math.min(p * g.stride() - g.pad() + g.kernel(), g.h());
                    for (int q = 0; q < g.q(); q++) {
                        int w0 = Math.max(q * g.stride() - g.pad(), 0);
                        int w1 = Math.min(q * g.stride() - g.pad() + g.kernel(), g.w());
                        float sum = 0f;
                        for (int h = h0; h < h1; h++) {
                            for (int w = w0; w < w1; w++) {
                                sum += xa[xPlane + h * g.w() + w];
                            }
                        }
                        ya[yPlane + p * g.q() + q] = sum * inv;
                    }
                }
            }
        });
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Tensor dx, PoolSpec spec) {
        String op = "avgPool2dBackward";
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdx = cpu(op, "dx", dx);
        PoolDims g = poolDims(op, cdx, cdy, "dx", "dy", spec);
        float[] dya = cdy.data(), dxa = cdx.data();
        int dyo = cdy.off(), dxo = cdx.off();
        float inv = 1f / (g.kernel() * g.kernel());
        pool.run(g.planes(), 1, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int dxPlane = dxo + pl * g.h() * g.w();
                int dyPlane = dyo + pl * g.p() * g.q();
                Arrays.fill(dxa, dxPlane, dxPlane + g.h() * g.w(), 0f);
                for (int p = 0; p < g.p(); p++) {
                    int h0 = Math.max(p * g.stride() - g.pad(), 0);
                    int h1 = Math.min(p * g.stride() - g.pad() + g.kernel(), g.h());
                    for (int q = 0; q < g.q(); q++) {
                        int w0 = Math.max(q * g.stride() - g.pad(), 0);
                        int w1 = Math.min(q * g.stride() - g.pad() + g.kernel(), g.w());
                        float grad = dya[dyPlane + p * g.q() + q] * inv;
                        for (int h = h0; h < h1; h++) {
                            for (int w = w0; w < w1; w++) {
                                dxa[dxPlane + h * g.w() + w] += grad;
                            }
                        }
                    }
                }
            }
        });
    }

    @Override
    public void maxPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        String op = "maxPool2dForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        PoolDims g = poolDims(op, cx, cy, "x", "y", spec);
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(g.planes(), 1, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int xPlane = xo + pl * g.h() * g.w();
                int yPlane = yo + pl * g.p() * g.q();
                for (int p = 0; p < g.p(); p++) {
                    for (int q = 0; q < g.q(); q++) {
                        ya[yPlane + p * g.q() + q] = xa[xPlane + argMax(xa, xPlane, g, p, q)];
                    }
                }
            }
        });
    }

    /**
     * Offset within the plane of the window's first maximum in row-major order, PyTorch's rule: a
     * value wins when it is greater than the best so far or NaN. Padding never wins.
     */
    private static int argMax(float[] x, int plane, PoolDims g, int p, int q) {
        int h0 = Math.max(p * g.stride() - g.pad(), 0);
        int h1 = Math.min(p * g.stride() - g.pad() + g.kernel(), g.h());
        int w0 = Math.max(q * g.stride() - g.pad(), 0);
        int w1 = Math.min(q * g.stride() - g.pad() + g.kernel(), g.w());
        int best = h0 * g.w() + w0;
        float max = Float.NEGATIVE_INFINITY;
        for (int h = h0; h < h1; h++) {
            for (int w = w0; w < w1; w++) {
                float v = x[plane + h * g.w() + w];
                if (v > max || Float.isNaN(v)) {
                    max = v;
                    best = h * g.w() + w;
                }
            }
        }
        return best;
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, PoolSpec spec) {
        String op = "maxPool2dBackward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdx = cpu(op, "dx", dx);
        PoolDims g = poolDims(op, cx, cdy, "x", "dy", spec);
        if (!cdx.shape().equals(cx.shape())) {
            throw new IllegalArgumentException(op + ": dx " + cdx.shape() + " must have x's shape " + cx.shape());
        }
        float[] xa = cx.data(), dya = cdy.data(), dxa = cdx.data();
        int xo = cx.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(g.planes(), 1, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int xPlane = xo + pl * g.h() * g.w();
                int dxPlane = dxo + pl * g.h() * g.w();
                int dyPlane = dyo + pl * g.p() * g.q();
                Arrays.fill(dxa, dxPlane, dxPlane + g.h() * g.w(), 0f);
                for (int p = 0; p < g.p(); p++) {
                    for (int q = 0; q < g.q(); q++) {
                        dxa[dxPlane + argMax(xa, xPlane, g, p, q)] += dya[dyPlane + p * g.q() + q];
                    }
                }
            }
        });
    }

    // ================================================================ elementwise

    @Override
    public void sigmoidForward(Tensor x, Tensor y) {
        String op = "sigmoidForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        int n = sameSize(op, "x", cx, "y", cy);
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(n, ELEMENTWISE_GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                ya[yo + i] = (float) (1.0 / (1.0 + Math.exp(-(double) xa[xo + i])));
            }
        });
    }

    @Override
    public void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        String op = "sigmoidBackward";
        CpuTensor cy = cpu(op, "y", y);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdx = cpu(op, "dx", dx);
        int n = sameSize(op, "y", cy, "dy", cdy);
        sameSize(op, "y", cy, "dx", cdx);
        float[] ya = cy.data(), dya = cdy.data(), dxa = cdx.data();
        int yo = cy.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(n, ELEMENTWISE_GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                float s = ya[yo + i];
                dxa[dxo + i] = dya[dyo + i] * s * (1f - s);
            }
        });
    }

    @Override
    public void reluForward(Tensor x, Tensor y) {
        String op = "reluForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        int n = sameSize(op, "x", cx, "y", cy);
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(n, ELEMENTWISE_GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                float v = xa[xo + i];
                ya[yo + i] = v > 0f ? v : 0f;
            }
        });
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        String op = "reluBackward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdx = cpu(op, "dx", dx);
        int n = sameSize(op, "x", cx, "dy", cdy);
        sameSize(op, "x", cx, "dx", cdx);
        float[] xa = cx.data(), dya = cdy.data(), dxa = cdx.data();
        int xo = cx.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(n, ELEMENTWISE_GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                dxa[dxo + i] = xa[xo + i] > 0f ? dya[dyo + i] : 0f;
            }
        });
    }

    // ================================================================ loss

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor dlogits, Tensor metrics) {
        String op = "softmaxCrossEntropy";
        CpuTensor cl = cpu(op, "logits", logits);
        CpuTensor cy = cpu(op, "labels", labels);
        CpuTensor cm = cpu(op, "metrics", metrics);
        CpuTensor cd = dlogits == null ? null : cpu(op, "dlogits", dlogits);
        Shape ls = cl.shape();
        if (ls.rank() != 2 || !cy.shape().equals(Shape.of(ls.dim(0))) || !cm.shape().equals(Shape.of(2))
                || (cd != null && !cd.shape().equals(ls))) {
            throw new IllegalArgumentException(op + ": expected logits (N, K), labels (N), dlogits (N, K), metrics (2);"
                    + " got logits " + ls + ", labels " + cy.shape() + ", dlogits " + (cd == null ? "null" : cd.shape())
                    + ", metrics " + cm.shape());
        }
        int n = ls.dim(0), k = ls.dim(1);
        for (int i = 0; i < n; i++) {
            float label = cy.get(i);
            if (!(label >= 0f && label < k) || label != (int) label) {
                throw new IllegalArgumentException(op + ": label at row " + i + " is " + label
                        + ", expected an integer class index in [0, " + k + ")");
            }
        }
        if (rowLoss.length < n) {
            rowLoss = new double[n];
            rowCorrect = new boolean[n];
        }
        double[] loss = rowLoss;
        boolean[] correct = rowCorrect;
        float[] la = cl.data();
        float[] da = cd == null ? null : cd.data();
        int lo = cl.off(), dOff = cd == null ? 0 : cd.off();
        double invN = 1.0 / n;
        pool.run(n, 64, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                int row = lo + i * k;
                int label = (int) cy.get(i);
                float max = la[row];
                int arg = 0;
                for (int j = 1; j < k; j++) {
                    if (la[row + j] > max) {
                        max = la[row + j];
                        arg = j;
                    }
                }
                double sum = 0;
                for (int j = 0; j < k; j++) {
                    sum += Math.exp((double) la[row + j] - max);
                }
                double logSumExp = max + Math.log(sum);
                loss[i] = logSumExp - la[row + label];
                correct[i] = arg == label;
                if (da != null) {
                    int dRow = dOff + i * k;
                    for (int j = 0; j < k; j++) {
                        double p = Math.exp((double) la[row + j] - logSumExp);
                        da[dRow + j] = (float) ((j == label ? p - 1.0 : p) * invN);
                    }
                }
            }
        });
        double total = 0;
        int hits = 0;
        for (int i = 0; i < n; i++) {
            total += loss[i];
            hits += correct[i] ? 1 : 0;
        }
        cm.set(0, cm.get(0) + (float) total);
        cm.set(1, cm.get(1) + hits);
    }

    // ================================================================ optimizers

    @Override
    public void sgdStep(Tensor params, Tensor grads, Tensor velocity, Tensor hyper, float momentum, float weightDecay) {
        String op = "sgdStep";
        CpuTensor cp = cpu(op, "params", params);
        CpuTensor cg = cpu(op, "grads", grads);
        CpuTensor ch = cpu(op, "hyper", hyper);
        int n = sameSize(op, "params", cp, "grads", cg);
        CpuTensor cv = null;
        if (momentum != 0f) {
            cv = cpu(op, "velocity (required when momentum != 0)", velocity);
            sameSize(op, "params", cp, "velocity", cv);
        }
        if (ch.size() < 1) {
            throw new IllegalArgumentException(op + ": hyper must hold lr at index 0, got shape " + ch.shape());
        }
        float lr = ch.get(0);
        float[] pa = cp.data(), ga = cg.data();
        float[] va = cv == null ? null : cv.data();
        int po = cp.off(), go = cg.off(), vo = cv == null ? 0 : cv.off();
        pool.run(n, ELEMENTWISE_GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                float g = ga[go + i] + weightDecay * pa[po + i];
                if (va != null) {
                    g = momentum * va[vo + i] + g;
                    va[vo + i] = g;
                }
                pa[po + i] -= lr * g;
            }
        });
    }

    @Override
    public void adamStep(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor hyper,
                         float beta1, float beta2, float eps, float weightDecay) {
        String op = "adamStep";
        CpuTensor cp = cpu(op, "params", params);
        CpuTensor cg = cpu(op, "grads", grads);
        CpuTensor cm = cpu(op, "m", m);
        CpuTensor cv = cpu(op, "v", v);
        CpuTensor ch = cpu(op, "hyper", hyper);
        int n = sameSize(op, "params", cp, "grads", cg);
        sameSize(op, "params", cp, "m", cm);
        sameSize(op, "params", cp, "v", cv);
        if (ch.size() < 2) {
            throw new IllegalArgumentException(op + ": hyper must hold lr and the step count t, got shape " + ch.shape());
        }
        float lr = ch.get(0);
        float t = ch.get(1);
        if (!(t >= 1f) || t != (int) t) {
            throw new IllegalArgumentException(op + ": step count hyper[1] must be an integer >= 1, got " + t);
        }
        double biasCorrection1 = 1.0 - Math.pow(beta1, t);
        double biasCorrection2Sqrt = Math.sqrt(1.0 - Math.pow(beta2, t));
        float stepSize = (float) (lr / biasCorrection1);
        float corr2 = (float) biasCorrection2Sqrt;
        float oneMinusBeta1 = 1f - beta1;
        float oneMinusBeta2 = 1f - beta2;
        float[] pa = cp.data(), ga = cg.data(), ma = cm.data(), va = cv.data();
        int po = cp.off(), go = cg.off(), mo = cm.off(), vo = cv.off();
        pool.run(n, ELEMENTWISE_GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                float g = ga[go + i] + weightDecay * pa[po + i];
                float mi = beta1 * ma[mo + i] + oneMinusBeta1 * g;
                float vi = beta2 * va[vo + i] + oneMinusBeta2 * g * g;
                ma[mo + i] = mi;
                va[vo + i] = vi;
                float denom = (float) Math.sqrt(vi) / corr2 + eps;
                pa[po + i] -= stepSize * mi / denom;
            }
        });
    }

    // ================================================================ data

    @Override
    public ResidentImages uploadImages(byte[] pixels, byte[] labels, int count, int height, int width) {
        return new CpuResidentImages(pixels, labels, count, height, width);
    }

    @Override
    public void gatherBatch(ResidentImages images, Tensor order, Tensor cursor, Tensor x, Tensor labels) {
        String op = "gatherBatch";
        if (!(images instanceof CpuResidentImages im)) {
            throw new IllegalArgumentException(op + ": images must come from CpuBackend.uploadImages, got "
                    + (images == null ? "null" : images.getClass().getName()));
        }
        CpuTensor co = cpu(op, "order", order);
        CpuTensor cc = cpu(op, "cursor", cursor);
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cl = cpu(op, "labels", labels);
        Shape xs = cx.shape();
        if (xs.rank() != 4 || xs.dim(1) != 1 || !cl.shape().equals(Shape.of(xs.dim(0))) || cc.size() < 1) {
            throw new IllegalArgumentException(op + ": expected x (B, 1, H, W), labels (B), cursor (1); got x "
                    + xs + ", labels " + cl.shape() + ", cursor " + cc.shape());
        }
        int b = xs.dim(0), outH = xs.dim(2), outW = xs.dim(3);
        float start = cc.get(0);
        if (!(start >= 0f) || start != (int) start) {
            throw new IllegalArgumentException(op + ": cursor must be a non-negative integer, got " + start);
        }
        int first = (int) start;
        if ((long) first + b > co.size()) {
            throw new IllegalArgumentException(op + ": the order ran out: cursor " + first + " + batch " + b
                    + " > " + co.size() + " indices");
        }
        for (int i = 0; i < b; i++) {
            float j = co.get(first + i);
            if (!(j >= 0f && j < im.count()) || j != (int) j) {
                throw new IllegalArgumentException(op + ": order[" + (first + i) + "] = " + j
                        + " is not an image index in [0, " + im.count() + ")");
            }
        }
        byte[] pixels = im.pixels();
        byte[] imageLabels = im.labels();
        int inH = im.height(), inW = im.width();
        float[] xa = cx.data(), la = cl.data();
        int xo = cx.off(), lo = cl.off();
        pool.run(b, 1, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                int j = (int) co.get(first + i);
                Resize.bilinear(pixels, j * inH * inW, inH, inW, xa, xo + i * outH * outW, outH, outW, 255f);
                la[lo + i] = imageLabels[j] & 0xFF;
            }
        });
        cc.set(0, start + b);
    }

    @Override
    public void close() {
        pool.close();
    }

    // ================================================================ checks

    static CpuTensor cpu(String op, String name, Tensor t) {
        if (t instanceof CpuTensor ct) {
            return ct;
        }
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + name + " must not be null");
        }
        throw new IllegalArgumentException(op + ": " + name + " " + t.shape() + " lives on " + t.device().id()
                + ", expected a CPU tensor");
    }

    static void requireShape(String op, String name, Tensor t, int... dims) {
        Shape expected = Shape.of(dims);
        if (!t.shape().equals(expected)) {
            throw new IllegalArgumentException(op + ": expected " + name + " " + expected + ", got " + t.shape());
        }
    }

    static int sameSize(String op, String aName, Tensor a, String bName, Tensor b) {
        if (a.size() != b.size()) {
            throw new IllegalArgumentException(op + ": " + aName + " " + a.shape() + " and " + bName + " "
                    + b.shape() + " differ in size");
        }
        return a.shape().sizeInt();
    }
}
