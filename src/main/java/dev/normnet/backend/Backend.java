package dev.normnet.backend;

import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;

/**
 * The kernel interface every layer calls: one method per op and direction. {@code CpuBackend}
 * is the reference; {@code CudaBackend} runs hand-written CUDA kernels and must compute the same
 * thing.
 *
 * <p>Conventions for every op:
 * <ul>
 *   <li>All tensors are float32, row-major, NCHW for images, and live on this backend's device.
 *       Shapes are checked; a mismatch throws {@link IllegalArgumentException} naming the op and
 *       the shapes.</li>
 *   <li>Outputs are <em>overwritten</em>, never accumulated into, unless the method says
 *       otherwise ({@link #softmaxCrossEntropy} accumulates its metrics). Every parameter is used
 *       once per step, so gradients need no zeroing.</li>
 *   <li>Ops are asynchronous on a GPU: they are queued in order on one stream. Reading a tensor
 *       ({@link Tensor#toArray()}) or {@link #synchronize()} waits for them.</li>
 *   <li>No op allocates device memory in steady state; scratch space an op needs is sized by
 *       the shapes and allocated once (plan once, run many). A step made of these ops can
 *       therefore be captured and replayed ({@link #capture}).</li>
 *   <li>Reductions (batch statistics, parameter gradients, metrics) are deterministic: the same
 *       inputs give the same bits on the same device.</li>
 *   <li>Integer data (labels, shuffled indices, cursors) is stored as exact integers in float32.</li>
 *   <li>An op's outputs share no memory with its inputs or with each other unless the method says
 *       they may (the activations run in place, their backward passes may write dx over dy, and
 *       the loss may write its gradient over the logits). The CUDA backend refuses the overlaps
 *       its linear and loss kernels would race on.</li>
 * </ul>
 *
 * <p>Shape letters: N batch, C input channels, H and W input height and width, K output channels
 * (or classes), R and S filter height and width, P and Q output height and width.
 */
public interface Backend extends AutoCloseable {

    Device device();

    /** One line naming the device, e.g. {@code "cpu: 2 threads, AVX2"} or {@code "cuda: NVIDIA H100 (sm_90)"}. */
    String describe();

    // ---------------------------------------------------------------- memory

    /** A new zero-filled tensor owned by the caller (free it with {@link Tensor#close()}). */
    Tensor allocate(Shape shape);

    /** A new tensor holding a copy of {@code values} ({@code values.length == shape.size()}). */
    default Tensor upload(float[] values, Shape shape) {
        Tensor t = allocate(shape);
        t.copyFrom(values);
        return t;
    }

    void fill(Tensor t, float value);

    /** dst = src, element by element; the two must have the same size (shapes may differ). */
    void copy(Tensor src, Tensor dst);

    /** t[index] += delta, on the device (used to advance step counters inside a captured step). */
    void addScalar(Tensor t, int index, float delta);

    /** Waits for all queued work; a no-op on the CPU. */
    void synchronize();

    // ---------------------------------------------------------------- convolution

    /**
     * y = conv2d(x, w) + b (cross-correlation, as PyTorch).
     * x (N, C, H, W), w (K, C, R, S), b (K) or null, y (N, K, P, Q).
     */
    void conv2dForward(Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec spec);

    /** dx = gradient of the convolution with respect to x. dy (N, K, P, Q), w (K, C, R, S), dx (N, C, H, W). */
    void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvSpec spec);

    /**
     * dw = gradient with respect to w, summed over the batch; db = sum of dy over (N, P, Q), or
     * skipped when db is null. x (N, C, H, W), dy (N, K, P, Q), dw (K, C, R, S), db (K).
     */
    void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, Tensor db, ConvSpec spec);

    // ---------------------------------------------------------------- linear (GEMM)

    /** y = x w^T + b. x (N, I), w (O, I), b (O) or null, y (N, O). */
    void linearForward(Tensor x, Tensor w, Tensor b, Tensor y);

    /** dx = dy w. dy (N, O), w (O, I), dx (N, I). */
    void linearBackwardData(Tensor dy, Tensor w, Tensor dx);

    /** dw = dy^T x, db = sum of dy over N (skipped when db is null). x (N, I), dy (N, O), dw (O, I), db (O). */
    void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw, Tensor db);

    /**
     * The linear layer's whole backward: dw and db as {@link #linearBackwardWeight}, then dx as
     * {@link #linearBackwardData} (skipped when dx is null; w is read only for it). Every shape is
     * checked before anything is computed. By default the two ops in turn; a backend may compute
     * all three in one pass (the CUDA backend does, in one launch, when neither product splits its
     * sum) as long as the bits are those of the ops.
     */
    default void linearBackward(Tensor x, Tensor dy, Tensor w, Tensor dx, Tensor dw, Tensor db) {
        LinearGeometry.backward("linearBackward", x, dy, w, dx, dw, db);
        linearBackwardWeight(x, dy, dw, db);
        if (dx != null) {
            linearBackwardData(dy, w, dx);
        }
    }

    // ---------------------------------------------------------------- batch norm

    /**
     * Training-mode batch norm with PyTorch's semantics. x and y are (N, C) or (N, C, H, W);
     * statistics are per channel over m = N (2-D) or m = N*H*W (4-D) values. gamma, beta,
     * runningMean, runningVar, saveMean, saveInvStd are (C).
     *
     * <pre>
     * mean = sum(x) / m;  var = sum((x - mean)^2) / m            (biased, computed stably)
     * y = gamma * (x - mean) / sqrt(var + eps) + beta
     * saveMean = mean;  saveInvStd = 1 / sqrt(var + eps)
     * runningMean = (1 - momentum) * runningMean + momentum * mean
     * runningVar  = (1 - momentum) * runningVar  + momentum * var * m / (m - 1)   (unbiased)
     * </pre>
     *
     * @throws IllegalArgumentException when m == 1 ("expected more than 1 value per channel when training")
     */
    void batchNormForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                               Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps);

    /**
     * {@link #batchNormForwardTrain(Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, Tensor, float, float)}
     * and the batch counted: batchesTracked[0] += 1 (PyTorch's num_batches_tracked, one element).
     * By default the two ops one after the other; a backend may count inside the statistics pass
     * (the CUDA backend does, one launch fewer per layer and step).
     */
    default void batchNormForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                       Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps,
                                       Tensor batchesTracked) {
        batchNormForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, momentum, eps);
        addScalar(batchesTracked, 0, 1f);
    }

    /** Eval-mode batch norm: y = gamma * (x - runningMean) / sqrt(runningVar + eps) + beta. Shapes as above. */
    void batchNormForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                              Tensor y, float eps);

    /**
     * Backward of training-mode batch norm, given the statistics saved by the forward pass.
     * With xhat = (x - saveMean) * saveInvStd:
     * <pre>
     * dbeta  = sum(dy);  dgamma = sum(dy * xhat)
     * dx = gamma * saveInvStd / m * (m * dy - dbeta - xhat * dgamma)
     * </pre>
     * dx may be dy (the sums are taken before dx is written).
     */
    void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                           Tensor dx, Tensor dgamma, Tensor dbeta);

    /**
     * Training-mode batch norm followed by an activation: y = act(batch norm of x), the statistics,
     * running statistics and batch counter as in the 11-argument {@code batchNormForwardTrain}.
     * By default the two ops one after the other (act in place on y); a backend may apply act in
     * the normalizing pass (the CUDA backend does: one launch fewer per layer and step) as long as
     * the bits are those of the two ops.
     */
    default void batchNormActivationForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                 Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd,
                                                 float momentum, float eps, Tensor batchesTracked, Activation act) {
        batchNormForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, momentum, eps,
                batchesTracked);
        act.forward(this, y, y);
    }

    /** Eval-mode batch norm followed by an activation: y = act(batch norm of x). By default the two ops. */
    default void batchNormActivationForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                Tensor runningVar, Tensor y, float eps, Activation act) {
        batchNormForwardEval(x, gamma, beta, runningMean, runningVar, y, eps);
        act.forward(this, y, y);
    }

    /**
     * Backward of {@link #batchNormActivationForwardTrain}, from the activation's output y and
     * its gradient dy: the batch norm's output gradient is act's backward of (y, dy), then as
     * {@link #batchNormBackward}. dx may be dy. By default the two ops, the first writing into dx;
     * a backend may find the batch norm's output gradient element by element inside its passes
     * (the CUDA backend does) as long as the bits are those of the two ops.
     */
    default void batchNormActivationBackward(Tensor x, Tensor y, Tensor dy, Activation act, Tensor gamma,
                                             Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dgamma,
                                             Tensor dbeta) {
        if (act == Activation.IDENTITY) {
            batchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
            return;
        }
        act.backward(this, y, dy, dx);
        batchNormBackward(x, dx, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
    }

    /**
     * Training-mode batch norm, an activation, then average pooling: y = act(batch norm of x) (the
     * pooling's input, kept for the backward pass; statistics, running statistics and batch
     * counter as in {@link #batchNormActivationForwardTrain}) and pooled = avgPool(y) under
     * {@code pool}. By default the ops one after the other; a backend may pool in the normalizing
     * pass (the CUDA backend does when the windows tile the plane: kernel == stride, no padding,
     * the kernel dividing H and W) as long as the bits are those of the ops.
     */
    default void batchNormActivationPoolForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                     Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd,
                                                     float momentum, float eps, Tensor batchesTracked, Activation act,
                                                     PoolSpec pool, Tensor pooled) {
        PoolGeometry.of("batchNormActivationPoolForwardTrain", "y", y, "pooled", pooled, pool);   // before any op
        batchNormActivationForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, momentum, eps,
                batchesTracked, act);
        avgPool2dForward(y, pooled, pool);
    }

    /** Eval-mode batch norm, an activation, then average pooling, as above. By default the ops. */
    default void batchNormActivationPoolForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                    Tensor runningVar, Tensor y, float eps, Activation act,
                                                    PoolSpec pool, Tensor pooled) {
        PoolGeometry.of("batchNormActivationPoolForwardEval", "y", y, "pooled", pooled, pool);
        batchNormActivationForwardEval(x, gamma, beta, runningMean, runningVar, y, eps, act);
        avgPool2dForward(y, pooled, pool);
    }

    /**
     * Backward of {@link #batchNormActivationPoolForwardTrain}, from the activation's output y and
     * the gradient dPooled of the pooled output: the pooling's backward gives the gradient of y,
     * then as {@link #batchNormActivationBackward}. dx must not be dPooled. By default the ops,
     * the pooling's backward writing into dx; a backend may find each element's share of
     * dPooled inside its passes (the CUDA backend does, for the pools it fuses forward) as long
     * as the bits are those of the ops.
     */
    default void batchNormActivationPoolBackward(Tensor x, Tensor y, Tensor dPooled, PoolSpec pool, Activation act,
                                                 Tensor gamma, Tensor saveMean, Tensor saveInvStd, Tensor dx,
                                                 Tensor dgamma, Tensor dbeta) {
        PoolGeometry.of("batchNormActivationPoolBackward", "y", y, "dPooled", dPooled, pool);
        avgPool2dBackward(dPooled, dx, pool);
        batchNormActivationBackward(x, y, dx, act, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
    }

    // ---------------------------------------------------------------- pooling

    /** Average pooling (padded zeros counted in the divisor). x (N, C, H, W), y (N, C, P, Q). */
    void avgPool2dForward(Tensor x, Tensor y, PoolSpec spec);

    /** dx from dy for average pooling; overlapping windows add up. */
    void avgPool2dBackward(Tensor dy, Tensor dx, PoolSpec spec);

    /** Max pooling (padding never wins). x (N, C, H, W), y (N, C, P, Q). */
    void maxPool2dForward(Tensor x, Tensor y, PoolSpec spec);

    /**
     * dx from dy for max pooling: each window's gradient goes to its first maximum in row-major
     * order (as PyTorch), recomputed from x; overlapping windows add up.
     */
    void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, PoolSpec spec);

    // ---------------------------------------------------------------- elementwise

    /** y = 1 / (1 + exp(-x)). x and y have the same size and may be the same tensor. */
    void sigmoidForward(Tensor x, Tensor y);

    /** dx = dy * y * (1 - y), from the forward output y. dx may alias dy. */
    void sigmoidBackward(Tensor y, Tensor dy, Tensor dx);

    /** y = max(x, 0). May run in place. */
    void reluForward(Tensor x, Tensor y);

    /** dx = x > 0 ? dy : 0, from the forward input x (or output: the sign test is the same). dx may alias dy. */
    void reluBackward(Tensor x, Tensor dy, Tensor dx);

    // ---------------------------------------------------------------- loss

    /**
     * Fused softmax cross-entropy. logits (N, K); labels (N) holding class indices in [0, K).
     * Accumulates into metrics (2): metrics[0] += sum over rows of -log softmax(logits)[label]
     * (computed with log-sum-exp), metrics[1] += number of rows whose first arg-max equals the label.
     * When dlogits (N, K) is not null it is overwritten with (softmax(logits) - onehot(label)) / N,
     * the gradient of the mean loss over the batch; it may be logits itself (in place).
     */
    void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor dlogits, Tensor metrics);

    // ---------------------------------------------------------------- optimizers (one call over a flat buffer)

    /**
     * PyTorch's SGD (dampening 0, no Nesterov) over flat buffers of equal size:
     * <pre>
     * g = grads + weightDecay * params
     * velocity = momentum * velocity + g        (skipped, and velocity may be null, when momentum == 0)
     * params -= lr * (momentum == 0 ? g : velocity)
     * </pre>
     * lr is read from {@code hyper[0]} on the device, so a captured step follows a schedule.
     */
    void sgdStep(Tensor params, Tensor grads, Tensor velocity, Tensor hyper, float momentum, float weightDecay);

    /**
     * PyTorch's Adam (L2 weight decay added to the gradient, not AdamW) over flat buffers:
     * <pre>
     * g = grads + weightDecay * params
     * m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
     * params -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
     * </pre>
     * lr = {@code hyper[0]}, t = {@code hyper[1]} (1 for the first step), both read on the device;
     * the caller advances t with {@link #addScalar} before each step.
     */
    void adamStep(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor hyper,
                  float beta1, float beta2, float eps, float weightDecay);

    // ---------------------------------------------------------------- data

    /**
     * Keeps a labelled set of single-channel uint8 images on this device: pixels (count * height
     * * width, row-major) and labels (count). Uploaded once; gathered per batch by {@link #gatherBatch}.
     */
    ResidentImages uploadImages(byte[] pixels, byte[] labels, int count, int height, int width);

    /**
     * Assembles a batch from resident images. For i in [0, B): j = order[cursor[0] + i];
     * x[i, 0] = pixels[j] / 255, resized to x's (H', W') when that differs from the stored size
     * (bilinear, half-pixel centres, edge-clamped: torch.nn.functional.interpolate with
     * align_corners=False); labels[i] = label[j]. Then cursor[0] += B.
     * order (count or more) holds indices; cursor (1); x (B, 1, H', W'); labels (B).
     */
    void gatherBatch(ResidentImages images, Tensor order, Tensor cursor, Tensor x, Tensor labels);

    // ---------------------------------------------------------------- whole-step replay

    /**
     * Bytes this backend can still allocate for tensors, as far as it knows (the JVM's heap for the
     * CPU backends, free device memory for a GPU), or -1 when it cannot tell. For checking a plan
     * before it is made; allocation may still fail for other reasons.
     */
    default long availableBytes() {
        return -1;
    }

    /**
     * Returns something that performs {@code step} each time it is run. On the GPU the first run
     * is eager, the launches of the second are captured into a CUDA graph and later runs replay
     * it; the step must
     * therefore only queue ops of this backend (no allocation, no read-back, no host-side
     * decisions that change between runs). The CPU runs the step directly.
     */
    default Runnable capture(Runnable step) {
        return step;
    }

    /**
     * Frees what this backend holds for a step {@link #capture} returned (on the GPU its CUDA
     * graph), for a step that will not run again, or before the tensors it uses are freed; run
     * again, the step is captured anew. Does nothing for a step that never captured or that another
     * backend captured (and, by default, for any step).
     */
    default void release(Runnable captured) {
    }

    /**
     * Frees the device resources this backend owns; its tensors, and a model's state held in them,
     * go with it (close a model, or move it off with {@code to(null)}, first).
     */
    @Override
    void close();

    /** Whether {@link #close} ran: the backend's tensors and ops may not be used any more. */
    boolean isClosed();
}
