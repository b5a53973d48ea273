package dev.normnet.predict;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ResidentImages;
import dev.normnet.data.LabeledImages;
import dev.normnet.nn.Sequential;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A model's results on a labelled set in eval mode: the mean cross-entropy loss, the accuracy,
 * and the confusion matrix (rows: true class, columns: predicted class), from which the per-class
 * accuracies follow.
 *
 * <p>{@link #run} feeds the images as training does: uploaded once as uint8, each batch gathered on
 * the device, divided by 255 and resized to the model's input ({@link Backend#gatherBatch}). The
 * model's forward pass runs on its backend; each batch's logits are read back and the rest is
 * computed on the host in float64 from those float32 logits: the prediction is the first arg-max
 * (as {@code torch.argmax}), the loss PyTorch's {@code cross_entropy} (mean over the examples of
 * log-sum-exp(logits) - logits[label]). The numbers therefore equal PyTorch's eval of the same
 * model file up to float32 rounding of the logits (an image whose two best logits are nearly tied
 * may flip).
 *
 * <p>With {@code batchStatistics} ({@link #run(Sequential, LabeledImages, int, List, boolean)}) the
 * batch-norm layers normalize each batch with its own mean and variance (training mode's forward
 * pass) instead of the running statistics, which shows how noisy batch statistics of that size are;
 * the running statistics and {@code num_batches_tracked} that the training-mode pass updates are put
 * back afterwards, so the model leaves as it came. The last batch holds what is left over.
 */
public final class Evaluation {
    private final List<String> classNames;
    private final long[][] confusion;   // (K, K): [true][predicted]
    private final double lossSum;

    /**
     * @param classNames the name of each class (K names)
     * @param confusion  (K, K) counts, [true class][predicted class]
     * @param lossSum    the sum over the examples of their cross-entropy
     */
    public Evaluation(List<String> classNames, long[][] confusion, double lossSum) {
        this.classNames = List.copyOf(classNames);
        int k = this.classNames.size();
        if (confusion.length != k) {
            throw new IllegalArgumentException(k + " class names for a confusion matrix of " + confusion.length + " rows");
        }
        this.confusion = new long[k][];
        for (int i = 0; i < k; i++) {
            if (confusion[i].length != k) {
                throw new IllegalArgumentException("confusion row " + i + " has " + confusion[i].length + " columns, expected " + k);
            }
            this.confusion[i] = confusion[i].clone();
        }
        this.lossSum = lossSum;
    }

    /**
     * Evaluates {@code model} (built and on a backend) on {@code data} in batches of {@code batch}.
     *
     * @param classNames the name of each of the model's outputs
     * @throws IllegalArgumentException when a label is not one of the model's classes, or the set is empty
     */
    public static Evaluation run(Sequential model, LabeledImages data, int batch, List<String> classNames) {
        return run(model, data, batch, classNames, false);
    }

    /**
     * Evaluates {@code model} on {@code data} in batches of {@code batch}, in eval mode (running
     * statistics) or, with {@code batchStatistics}, with each batch's own statistics.
     *
     * @param classNames      the name of each of the model's outputs
     * @param batchStatistics normalize with the statistics of each batch of {@code batch} test
     *                        examples (the running statistics are left unchanged)
     * @throws IllegalArgumentException when a label is not one of the model's classes, the set is
     *                                  empty, or, with batch statistics, a batch would hold one example
     */
    public static Evaluation run(Sequential model, LabeledImages data, int batch, List<String> classNames,
                                 boolean batchStatistics) {
        Backend backend = Objects.requireNonNull(model.backend(), "the model is not on a backend: call to(backend)");
        int k = model.outputShape().sizeInt();
        if (classNames.size() != k) {
            throw new IllegalArgumentException(classNames.size() + " class names for a model of " + k + " outputs");
        }
        if (batch < 1) {
            throw new IllegalArgumentException("batch must be >= 1, got " + batch);
        }
        int count = data.count();
        if (count == 0) {
            throw new IllegalArgumentException("cannot evaluate on an empty set");
        }
        for (int i = 0; i < count; i++) {
            if (data.label(i) >= k) {
                throw new IllegalArgumentException("image " + i + " has label " + data.label(i)
                        + ", which is not a class of a model with " + k + " outputs");
            }
        }
        if (batchStatistics && (batch == 1 || count % batch == 1)) {
            throw new IllegalArgumentException("batch statistics need more than one example per batch; batches of "
                    + batch + " over " + count + " examples leave one of a single example");
        }
        long[][] confusion = new long[k][k];
        double lossSum = 0;
        // training mode's forward pass updates the running statistics: keep them to put back
        float[] running = batchStatistics ? model.buffers().toArray() : null;
        List<Tensor> owned = new ArrayList<>();
        Map<Integer, Tensor> labelBuffers = new HashMap<>();
        try (ResidentImages images = backend.uploadImages(data.pixels(), data.labels(), count, data.height(), data.width())) {
            float[] identity = new float[count];
            for (int i = 0; i < count; i++) {
                identity[i] = i;
            }
            Tensor order = own(owned, backend.upload(identity, Shape.of(count)));   // (count)
            Tensor cursor = own(owned, backend.allocate(Shape.of(1)));               // (1)
            for (int start = 0; start < count; start += batch) {
                int n = Math.min(batch, count - start);
                Sequential.Plan plan = model.forwardPlan(n);
                Tensor labels = labelBuffers.computeIfAbsent(n, b -> own(owned, backend.allocate(Shape.of(b))));   // (N)
                backend.gatherBatch(images, order, cursor, plan.input(), labels);
                plan.forward(batchStatistics);
                float[] logits = plan.output().toArray();                           // (N, K)
                for (int i = 0; i < n; i++) {
                    int label = data.label(start + i);
                    confusion[label][Logits.argmax(logits, i * k, k)]++;
                    lossSum += Logits.crossEntropy(logits, i * k, k, label);
                }
            }
        } finally {
            if (running != null) {
                model.buffers().copyFrom(running);
            }
            for (Tensor t : owned) {
                t.close();
            }
        }
        return new Evaluation(classNames, confusion, lossSum);
    }

    private static Tensor own(List<Tensor> owned, Tensor t) {
        owned.add(t);
        return t;
    }

    /** The number of classes K. */
    public int classes() {
        return classNames.size();
    }

    public List<String> classNames() {
        return classNames;
    }

    /** A copy of the confusion matrix (K, K): [true class][predicted class]. */
    public long[][] confusion() {
        long[][] c = new long[confusion.length][];
        for (int i = 0; i < c.length; i++) {
            c[i] = confusion[i].clone();
        }
        return c;
    }

    /** The number of examples (the sum of the confusion matrix). */
    public long count() {
        long n = 0;
        for (int i = 0; i < confusion.length; i++) {
            n += classTotal(i);
        }
        return n;
    }

    /** The number of examples predicted right (the trace). */
    public long correct() {
        long n = 0;
        for (int i = 0; i < confusion.length; i++) {
            n += confusion[i][i];
        }
        return n;
    }

    /** correct / count. */
    public double accuracy() {
        return (double) correct() / count();
    }

    /** The mean cross-entropy over the examples (PyTorch's {@code cross_entropy} with its default mean). */
    public double loss() {
        return lossSum / count();
    }

    /** The examples whose true class is {@code i} (row i's sum). */
    public long classTotal(int i) {
        long n = 0;
        for (long v : confusion[i]) {
            n += v;
        }
        return n;
    }

    /** The examples of class {@code i} predicted right. */
    public long classCorrect(int i) {
        return confusion[i][i];
    }

    /** The accuracy on the examples of class {@code i} (their recall); NaN when the set has none. */
    public double classAccuracy(int i) {
        long total = classTotal(i);
        return total == 0 ? Double.NaN : (double) confusion[i][i] / total;
    }
}
