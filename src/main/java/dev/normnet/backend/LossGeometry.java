package dev.normnet.backend;

import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * The sizes of one fused softmax cross-entropy, checked once per call by every backend:
 * logits (N, K), labels (N), dlogits (N, K) or null, metrics (2).
 */
public record LossGeometry(int n, int k) {

    public static LossGeometry softmaxCrossEntropy(String op, Tensor logits, Tensor labels, Tensor dlogits, Tensor metrics) {
        Shape ls = Checks.shape(op, "logits", logits);
        Shape ys = Checks.shape(op, "labels", labels);
        Shape ms = Checks.shape(op, "metrics", metrics);
        if (ls.rank() != 2 || !ys.equals(Shape.of(ls.dim(0))) || !ms.equals(Shape.of(2))
                || (dlogits != null && !dlogits.shape().equals(ls))) {
            throw new IllegalArgumentException(op + ": expected logits (N, K), labels (N), dlogits (N, K), metrics (2); got logits "
                    + ls + ", labels " + ys + ", dlogits " + Checks.describe(dlogits) + ", metrics " + ms);
        }
        Checks.elements(op, "logits", ls);
        return new LossGeometry(ls.dim(0), ls.dim(1));
    }

    @Override
    public String toString() {
        return "logits (" + n + ", " + k + ")";
    }
}
