package dev.normnet.backend.cpu;

import dev.normnet.backend.NormGeometry;

/**
 * The reference batch norm, one channel per work item. Statistics take two passes in float64
 * (the mean, then the sum of squared deviations from it), never E[x^2] - E[x]^2; the output is
 * computed in float64 and rounded once. The backward pass sums dy and dy * xhat in float64.
 */
final class CpuBatchNorm implements CpuOps.BatchNorm {
    private final WorkerPool pool;

    CpuBatchNorm(WorkerPool pool) {
        this.pool = pool;
    }

    @Override
    public void forwardTrain(CpuTensor cx, CpuTensor cg, CpuTensor cb, CpuTensor crm, CpuTensor crv, CpuTensor cy,
                             CpuTensor csm, CpuTensor csi, float momentum, float eps, NormGeometry d) {
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                trainChannel(c, xa, xo, ya, yo, cg, cb, crm, crv, csm, csi, momentum, eps, d);
            }
        });
    }

    /** {@link #forwardTrain} of channel c: its statistics, its output and its saved and running statistics. */
    static void trainChannel(int c, float[] xa, int xo, float[] ya, int yo, CpuTensor cg, CpuTensor cb, CpuTensor crm,
                             CpuTensor crv, CpuTensor csm, CpuTensor csi, float momentum, float eps, NormGeometry d) {
        int m = Math.toIntExact(d.m());
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
        normalize(c, xa, xo, ya, yo, mean, scale, shift, d);
        saveStatistics(c, mean, invStd, squares, m, momentum, csm, csi, crm, crv);
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
    public void forwardEval(CpuTensor cx, CpuTensor cg, CpuTensor cb, CpuTensor crm, CpuTensor crv, CpuTensor cy,
                            float eps, NormGeometry d) {
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                evalChannel(c, xa, xo, ya, yo, cg, cb, crm, crv, eps, d);
            }
        });
    }

    /** Channel c's output: y = (x - mean) * scale + shift in float64, rounded once. */
    private static void normalize(int c, float[] xa, int xo, float[] ya, int yo, double mean, double scale, double shift,
                                  NormGeometry d) {
        for (int i = 0; i < d.n(); i++) {
            int xBase = xo + (i * d.c() + c) * d.hw();
            int yBase = yo + (i * d.c() + c) * d.hw();
            for (int j = 0; j < d.hw(); j++) {
                ya[yBase + j] = (float) ((xa[xBase + j] - mean) * scale + shift);
            }
        }
    }

    /** {@link #forwardEval} of channel c. */
    static void evalChannel(int c, float[] xa, int xo, float[] ya, int yo, CpuTensor cg, CpuTensor cb, CpuTensor crm,
                            CpuTensor crv, float eps, NormGeometry d) {
        double mean = crm.get(c);
        double scale = cg.get(c) / Math.sqrt((double) crv.get(c) + eps);
        double shift = cb.get(c);
        normalize(c, xa, xo, ya, yo, mean, scale, shift, d);
    }

    @Override
    public void backward(CpuTensor cx, CpuTensor cdy, CpuTensor cg, CpuTensor csm, CpuTensor csi, CpuTensor cdx,
                         CpuTensor cdg, CpuTensor cdb, NormGeometry d) {
        float[] xa = cx.data(), dya = cdy.data(), dxa = cdx.data();
        int xo = cx.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                backwardChannel(c, xa, xo, dya, dyo, dxa, dxo, cg, csm, csi, cdg, cdb, d);
            }
        });
    }

    /** {@link #backward} of channel c: its input gradient and its gamma and beta gradients. */
    static void backwardChannel(int c, float[] xa, int xo, float[] dya, int dyo, float[] dxa, int dxo, CpuTensor cg,
                                CpuTensor csm, CpuTensor csi, CpuTensor cdg, CpuTensor cdb, NormGeometry d) {
        int m = Math.toIntExact(d.m());
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
}
