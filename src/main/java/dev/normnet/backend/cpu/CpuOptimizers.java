package dev.normnet.backend.cpu;

import dev.normnet.backend.OptimizerGeometry;

/**
 * SGD and Adam over flat float32 buffers on the CPU (both CPU paths use them), element ranges
 * split over threads; the learning rate (and Adam's step count) are read from {@code hyper} as
 * the GPU kernels read them.
 */
final class CpuOptimizers {
    private final WorkerPool pool;

    CpuOptimizers(WorkerPool pool) {
        this.pool = pool;
    }

    /** See {@code Backend.sgdStep}; cv is null when momentum == 0. */
    void sgd(CpuTensor cp, CpuTensor cg, CpuTensor cv, CpuTensor ch, float momentum, float weightDecay,
             OptimizerGeometry geometry) {
        int n = geometry.n();
        float lr = ch.get(0);
        float[] pa = cp.data(), ga = cg.data();
        float[] va = cv == null ? null : cv.data();
        int po = cp.off(), go = cg.off(), vo = cv == null ? 0 : cv.off();
        pool.run(n, CpuElementwise.GRAIN, (from, to, worker) -> {
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


    /** See {@code Backend.adamStep}; hyper[1], the step count, must be an integer >= 1. */
    void adam(String op, CpuTensor cp, CpuTensor cg, CpuTensor cm, CpuTensor cv, CpuTensor ch,
              float beta1, float beta2, float eps, float weightDecay, OptimizerGeometry geometry) {
        int n = geometry.n();
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
        pool.run(n, CpuElementwise.GRAIN, (from, to, worker) -> {
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
}
