package dev.normnet.predict;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * Host-side arithmetic on one row of logits, in float64 from the float32 values the model
 * computed: arg-max, log-sum-exp (for PyTorch's cross-entropy), softmax and the top classes.
 */
final class Logits {
    private Logits() {
    }

    /** The index of the first largest value of {@code l[off .. off + k)} (torch.argmax's choice). */
    static int argmax(float[] l, int off, int k) {
        int best = 0;
        for (int j = 1; j < k; j++) {
            if (l[off + j] > l[off + best]) {
                best = j;
            }
        }
        return best;
    }

    /** log(sum(exp(l))) over the row, shifted by its maximum so that no exponential overflows. */
    static double logSumExp(float[] l, int off, int k) {
        double max = l[off + argmax(l, off, k)];
        double sum = 0;
        for (int j = 0; j < k; j++) {
            sum += Math.exp(l[off + j] - max);
        }
        return max + Math.log(sum);
    }

    /** -log softmax(l)[label]: one row's term of PyTorch's {@code cross_entropy}. */
    static double crossEntropy(float[] l, int off, int k, int label) {
        return logSumExp(l, off, k) - l[off + label];
    }

    /** softmax of the row. */
    static double[] softmax(float[] l, int off, int k) {
        double lse = logSumExp(l, off, k);
        double[] p = new double[k];
        for (int j = 0; j < k; j++) {
            p[j] = Math.exp(l[off + j] - lse);
        }
        return p;
    }

    /** The {@code top} most probable classes of the row, most probable first (ties: lower index first). */
    static List<Prediction> top(float[] l, int off, int k, int top, IntFunction<String> names) {
        double[] p = softmax(l, off, k);
        boolean[] taken = new boolean[k];
        List<Prediction> out = new ArrayList<>(top);
        for (int t = 0; t < top; t++) {
            int best = -1;
            for (int j = 0; j < k; j++) {
                if (!taken[j] && (best < 0 || l[off + j] > l[off + best])) {
                    best = j;
                }
            }
            taken[best] = true;
            out.add(new Prediction(best, names.apply(best), p[best]));
        }
        return List.copyOf(out);
    }
}
