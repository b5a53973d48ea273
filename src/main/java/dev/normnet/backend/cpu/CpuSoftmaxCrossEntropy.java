package dev.normnet.backend.cpu;

import dev.normnet.backend.LossGeometry;

/**
 * The fused softmax cross-entropy on the CPU (both CPU paths use it): per row, the log-sum-exp
 * and the gradient in float64, rows split over threads; the batch's loss sum and hit count are
 * then added in row order, so the result does not depend on the thread count.
 */
final class CpuSoftmaxCrossEntropy {
    private final WorkerPool pool;
    private double[] rowLoss = new double[0];      // (N) loss per row
    private boolean[] rowCorrect = new boolean[0]; // (N) arg-max equals the label

    CpuSoftmaxCrossEntropy(WorkerPool pool) {
        this.pool = pool;
    }

    /** See {@code Backend.softmaxCrossEntropy}; labels are checked to be class indices in [0, K). */
    void run(String op, CpuTensor cl, CpuTensor cy, CpuTensor cd, CpuTensor cm, LossGeometry g) {
        int n = g.n(), k = g.k();
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
}
