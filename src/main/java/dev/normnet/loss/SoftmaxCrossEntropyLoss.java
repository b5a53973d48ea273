package dev.normnet.loss;

import dev.normnet.backend.Backend;
import dev.normnet.tensor.Tensor;

/**
 * Softmax cross-entropy, fused with its gradient, as PyTorch's {@code nn.CrossEntropyLoss()}
 * (mean reduction) on logits:
 * <pre>
 * loss = (1 / N) * sum over n of ( log(sum over k of exp(z[n, k])) - z[n, label[n]] )   (log-sum-exp, stable)
 * dz[n, k] = (softmax(z[n])[k] - (k == label[n] ? 1 : 0)) / N
 * </pre>
 * Instead of returning the loss, each call adds the batch's <em>sum</em> of per-example losses and
 * its number of correct arg-max predictions into a device metrics tensor (2), so a whole epoch is
 * read back once. logits (N, K), labels (N) as exact integers in float32.
 */
public final class SoftmaxCrossEntropyLoss {
    private final Backend backend;

    public SoftmaxCrossEntropyLoss(Backend backend) {
        this.backend = backend;
    }

    /** Accumulates loss sum and correct count into metrics and overwrites dlogits with the gradient of the mean loss. */
    public void forwardBackward(Tensor logits, Tensor labels, Tensor dlogits, Tensor metrics) {
        if (dlogits == null) {
            throw new IllegalArgumentException("forwardBackward needs a dlogits tensor; use forward for evaluation");
        }
        backend.softmaxCrossEntropy(logits, labels, dlogits, metrics);
    }

    /** Accumulates loss sum and correct count into metrics (2) without computing a gradient. */
    public void forward(Tensor logits, Tensor labels, Tensor metrics) {
        backend.softmaxCrossEntropy(logits, labels, null, metrics);
    }
}
