package dev.normnet.backend.cuda;

import dev.normnet.backend.Activation;
import dev.normnet.backend.Backend;
import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.PoolSpec;
import dev.normnet.backend.ResidentImages;
import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.util.Objects;
import java.util.function.Function;

/**
 * The CUDA backend: normnet's own kernels ({@code src/main/cuda}, compiled ahead of time into a
 * class-path resource) launched through JCuda's driver API. This class is a facade over
 * {@link CudaDevice} (context, stream, module), {@link CudaMemory}, {@link CudaGraphs}, a
 * {@link Launcher}, and one launch class per kernel source: {@link CudaConv2d} (conv2d.cu),
 * {@link CudaLinear} (gemm.cu), {@link CudaBatchNorm} (batchnorm.cu), {@link CudaPooling}
 * (pool.cu), {@link CudaElementwise} (elementwise.cu), {@link CudaSoftmaxCrossEntropy}
 * (softmax_ce.cu), {@link CudaOptimizers} (optim.cu), {@link CudaGather} (data.cu) and
 * {@link CudaReductions} (reduce.cu).
 *
 * <p>One context (the device's primary context), one stream, one module. Every op queues its
 * kernels on the stream and returns; reading a tensor waits. Tensors are windows onto
 * cuMemAlloc'ed storage, zero-filled when allocated. Reductions (batch statistics, parameter
 * gradients, metrics) use per-block partials merged in a fixed order, never float atomics, so a
 * run gives the same bits every time on the same GPU. Scratch for those partials is allocated
 * once per shape and kept, so a steady-state step allocates nothing, and {@link #capture} turns
 * a step into a CUDA graph that is replayed.
 *
 * <p>Errors: every driver call is checked; a failure throws {@link CudaException} naming the call
 * or kernel, its shapes and the CUDA error, or, for out-of-memory,
 * {@link dev.normnet.backend.DeviceMemoryException} naming what was allocated, its size and the
 * GPU's free memory (the context stays usable). Kernel faults surface asynchronously at the next
 * synchronizing call; with {@code -Dnormnet.debug=1} every launch is logged with its grid and
 * block and followed by a synchronize, so the failing kernel is named.
 */
public final class CudaBackend implements Backend {
    private final OpContext ctx;
    private final CudaConv2d conv;
    private final CudaLinear linear;
    private final CudaBatchNorm batchNorm;
    private final CudaPooling pooling;
    private final CudaElementwise elementwise;
    private final CudaSoftmaxCrossEntropy loss;
    private final CudaOptimizers optimizers;
    private final CudaGather gather;

    /**
     * Opens the first CUDA device. Prefer {@code Backends.select(String)}, which probes first and
     * explains why CUDA is unavailable.
     *
     * @throws CudaException when the driver, the device or the kernels cannot be used
     */
    public CudaBackend() {
        this(new CudaDevice());
    }

    private CudaBackend(CudaDevice device) {
        this(device, closingOnFailure(device, DriverLauncher::new), closingOnFailure(device, DriverMemory::new));
    }

    /** {@code make.apply(device)}; when it throws, the device (its context, stream and module) is closed first. */
    private static <T> T closingOnFailure(CudaDevice device, Function<CudaDevice, T> make) {
        try {
            return make.apply(device);
        } catch (RuntimeException | Error e) {
            device.close();
            throw e;
        }
    }

    /** A backend over the given stream, launcher and memory (the tests' launch recorder passes its own). */
    CudaBackend(CudaStream stream, Launcher launcher, CudaMemory memory) {
        ctx = new OpContext(this, stream, launcher, memory);
        try {
            CudaReductions reductions = new CudaReductions(ctx);
            conv = new CudaConv2d(ctx, reductions);
            linear = new CudaLinear(ctx, reductions);
            batchNorm = new CudaBatchNorm(ctx);
            pooling = new CudaPooling(ctx);
            elementwise = new CudaElementwise(ctx);
            loss = new CudaSoftmaxCrossEntropy(ctx);
            optimizers = new CudaOptimizers(ctx);
            gather = new CudaGather(ctx);
        } catch (RuntimeException e) {
            memory.close();
            stream.close();
            throw e;
        }
    }

    /**
     * Checks once whether this backend can run here; see {@link CudaStatus} for the reasons
     * ("no NVIDIA driver", "no CUDA device", "kernels not built", "no binary for this GPU").
     */
    public static CudaStatus probe() {
        return CudaDevice.probe();
    }

    @Override
    public Device device() {
        return Device.CUDA;
    }

    @Override
    public String describe() {
        return ctx.stream.describe();
    }

    // ================================================================ memory

    @Override
    public Tensor allocate(Shape shape) {
        ctx.enter();
        if (ctx.graphs.capturing()) {
            throw new IllegalStateException("allocate " + shape + " inside a captured step: allocate buffers once, before the step");
        }
        return new CudaTensor(this, ctx.memory.allocate(Math.max(1, shape.size()), shape), 0, shape, true);
    }

    /** The device's free memory (cuMemGetInfo), or -1 when unknown. */
    @Override
    public long availableBytes() {
        ctx.enter();
        return ctx.memory.availableBytes();
    }

    /** Frees a tensor's (or an image set's) storage once; a no-op after {@link #close}. */
    void free(CudaTensor.Storage storage) {
        if (storage.freed || ctx.closed()) {
            return;
        }
        if (ctx.graphs.capturing()) {
            throw new IllegalStateException("closing a tensor inside a captured step");
        }
        ctx.enter();
        storage.freed = true;
        ctx.memory.free(storage, !ctx.graphs.planning());
    }

    /** Copies a device tensor to {@code out} (waits for the stream). */
    void download(CudaTensor t, float[] out) {
        ctx.enter();
        ctx.noTransferWhileCapturing("reading", t.shape());
        ctx.memory.download(t.pointer(), out, t.shape());
    }

    /** Copies {@code src} into a device tensor (synchronous: src may be reused at once). */
    void upload(CudaTensor t, float[] src) {
        ctx.enter();
        ctx.noTransferWhileCapturing("copyFrom into", t.shape());
        ctx.memory.upload(t.pointer(), src, t.shape());
    }

    @Override
    public void fill(Tensor t, float value) {
        elementwise.fill(t, value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        elementwise.copy(src, dst);
    }

    @Override
    public void addScalar(Tensor t, int index, float delta) {
        elementwise.addScalar(t, index, delta);
    }

    @Override
    public void synchronize() {
        ctx.enter();
        if (ctx.graphs.insideStep()) {
            return;
        }
        ctx.stream.synchronize("cuStreamSynchronize (an earlier kernel may have failed)");
    }

    // ================================================================ ops

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec spec) {
        conv.forward(x, w, b, y, spec);
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvSpec spec) {
        conv.backwardData(dy, w, dx, spec);
    }

    @Override
    public void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, Tensor db, ConvSpec spec) {
        conv.backwardFilter(x, dy, dw, db, spec);
    }

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        linear.forward(x, w, b, y);
    }

    @Override
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        linear.backwardData(dy, w, dx);
    }

    @Override
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw, Tensor db) {
        linear.backwardWeight(x, dy, dw, db);
    }

    /** One launch for dw, db and dx when neither product splits its sum (see {@code CudaLinear.backward}). */
    @Override
    public void linearBackward(Tensor x, Tensor dy, Tensor w, Tensor dx, Tensor dw, Tensor db) {
        linear.backward(x, dy, w, dx, dw, db);
    }

    @Override
    public void batchNormForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                      Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps) {
        batchNorm.forwardTrain("batchNormForwardTrain", x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd,
                momentum, eps, null, Activation.IDENTITY, null, null);
    }

    /** The count rides on the statistics launch (channel 0's merge), not a launch of its own. */
    @Override
    public void batchNormForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                      Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps,
                                      Tensor batchesTracked) {
        batchNorm.forwardTrain("batchNormForwardTrain", x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd,
                momentum, eps, Objects.requireNonNull(batchesTracked, "batchNormForwardTrain: batchesTracked"),
                Activation.IDENTITY, null, null);
    }

    /** The activation rides on the normalizing launch: the same bits as the two ops, one launch. */
    @Override
    public void batchNormActivationForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd,
                                                float momentum, float eps, Tensor batchesTracked, Activation act) {
        batchNorm.forwardTrain("batchNormForwardTrain", x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd,
                momentum, eps, Objects.requireNonNull(batchesTracked, "batchNormActivationForwardTrain: batchesTracked"),
                Objects.requireNonNull(act, "batchNormActivationForwardTrain: act"), null, null);
    }

    @Override
    public void batchNormForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                     Tensor y, float eps) {
        batchNorm.forwardEval("batchNormForwardEval", x, gamma, beta, runningMean, runningVar, y, eps, Activation.IDENTITY,
                null, null);
    }

    @Override
    public void batchNormActivationForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                               Tensor runningVar, Tensor y, float eps, Activation act) {
        batchNorm.forwardEval("batchNormForwardEval", x, gamma, beta, runningMean, runningVar, y, eps,
                Objects.requireNonNull(act, "batchNormActivationForwardEval: act"), null, null);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta) {
        batchNorm.backward("batchNormBackward", x, null, dy, Activation.IDENTITY, gamma, saveMean, saveInvStd, dx,
                dgamma, dbeta, null);
    }

    /** The activation's gradient is found inside both element passes: no launch of its own, no tensor written. */
    @Override
    public void batchNormActivationBackward(Tensor x, Tensor y, Tensor dy, Activation act, Tensor gamma,
                                            Tensor saveMean, Tensor saveInvStd, Tensor dx, Tensor dgamma,
                                            Tensor dbeta) {
        batchNorm.backward("batchNormActivationBackward", x, y, dy,
                Objects.requireNonNull(act, "batchNormActivationBackward: act"), gamma, saveMean, saveInvStd, dx,
                dgamma, dbeta, null);
    }

    /**
     * A pooling whose windows tile the plane (kernel == stride, no padding) rides on the
     * normalizing launch: one thread per pooled output writes its tile of y and the pooled value,
     * the same bits as the ops; any other pooling runs as its own op.
     */
    @Override
    public void batchNormActivationPoolForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                    Tensor runningVar, Tensor y, Tensor saveMean, Tensor saveInvStd,
                                                    float momentum, float eps, Tensor batchesTracked, Activation act,
                                                    PoolSpec pool, Tensor pooled) {
        String op = "batchNormActivationPoolForwardTrain";
        if (!CudaBatchNorm.tiles(pool, y)) {
            Backend.super.batchNormActivationPoolForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean,
                    saveInvStd, momentum, eps, batchesTracked, act, pool, pooled);
            return;
        }
        batchNorm.forwardTrain(op, x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, momentum, eps,
                Objects.requireNonNull(batchesTracked, op + ": batchesTracked"), Objects.requireNonNull(act, op + ": act"),
                pool, pooled);
    }

    @Override
    public void batchNormActivationPoolForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean,
                                                   Tensor runningVar, Tensor y, float eps, Activation act,
                                                   PoolSpec pool, Tensor pooled) {
        String op = "batchNormActivationPoolForwardEval";
        if (!CudaBatchNorm.tiles(pool, y)) {
            Backend.super.batchNormActivationPoolForwardEval(x, gamma, beta, runningMean, runningVar, y, eps, act, pool,
                    pooled);
            return;
        }
        batchNorm.forwardEval(op, x, gamma, beta, runningMean, runningVar, y, eps,
                Objects.requireNonNull(act, op + ": act"), pool, pooled);
    }

    /** For the poolings fused forward: each element's share of dPooled is found inside both passes, nothing written. */
    @Override
    public void batchNormActivationPoolBackward(Tensor x, Tensor y, Tensor dPooled, PoolSpec pool, Activation act,
                                                Tensor gamma, Tensor saveMean, Tensor saveInvStd, Tensor dx,
                                                Tensor dgamma, Tensor dbeta) {
        String op = "batchNormActivationPoolBackward";
        if (!CudaBatchNorm.tiles(pool, y)) {
            Backend.super.batchNormActivationPoolBackward(x, y, dPooled, pool, act, gamma, saveMean, saveInvStd, dx,
                    dgamma, dbeta);
            return;
        }
        batchNorm.backward(op, x, y, dPooled, Objects.requireNonNull(act, op + ": act"), gamma, saveMean, saveInvStd, dx,
                dgamma, dbeta, pool);
    }

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        pooling.avgForward(x, y, spec);
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Tensor dx, PoolSpec spec) {
        pooling.avgBackward(dy, dx, spec);
    }

    @Override
    public void maxPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        pooling.maxForward(x, y, spec);
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, PoolSpec spec) {
        pooling.maxBackward(x, dy, dx, spec);
    }

    @Override
    public void sigmoidForward(Tensor x, Tensor y) {
        elementwise.sigmoidForward(x, y);
    }

    @Override
    public void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        elementwise.sigmoidBackward(y, dy, dx);
    }

    @Override
    public void reluForward(Tensor x, Tensor y) {
        elementwise.reluForward(x, y);
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        elementwise.reluBackward(x, dy, dx);
    }

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor dlogits, Tensor metrics) {
        loss.forwardBackward(logits, labels, dlogits, metrics);
    }

    @Override
    public void sgdStep(Tensor params, Tensor grads, Tensor velocity, Tensor hyper, float momentum, float weightDecay) {
        optimizers.sgd(params, grads, velocity, hyper, momentum, weightDecay);
    }

    @Override
    public void adamStep(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor hyper,
                         float beta1, float beta2, float eps, float weightDecay) {
        optimizers.adam(params, grads, m, v, hyper, beta1, beta2, eps, weightDecay);
    }

    @Override
    public ResidentImages uploadImages(byte[] pixels, byte[] labels, int count, int height, int width) {
        return gather.upload(pixels, labels, count, height, width);
    }

    @Override
    public void gatherBatch(ResidentImages images, Tensor order, Tensor cursor, Tensor x, Tensor labels) {
        gather.gatherBatch(images, order, cursor, x, labels);
    }

    // ================================================================ graphs and close

    /**
     * The first run runs {@code step} eagerly (kernels launched as usual, so that the driver's
     * first-launch work and every scratch allocation happen outside a capture; transfers are
     * refused as in a capture). The second run: a dry run (shapes checked, nothing launched), then
     * the step is captured on the stream into a CUDA graph, instantiated and launched. Later runs
     * launch the graph. The step must only queue ops of this backend.
     */
    @Override
    public Runnable capture(Runnable step) {
        return ctx.graphs.capture(step);
    }

    @Override
    public void release(Runnable captured) {
        if (!ctx.closed()) {  // a closed backend has destroyed every graph
            ctx.graphs.release(captured);
        }
    }

    @Override
    public boolean isClosed() {
        return ctx.closed();
    }

    /** Frees every graph, scratch buffer and still-live tensor, the pinned staging memory, the stream and the module. */
    @Override
    public void close() {
        if (ctx.closed()) {
            return;
        }
        ctx.enter();
        try {
            ctx.stream.synchronize("cuStreamSynchronize before close");
        } catch (CudaException e) {
            CudaDevice.debug("close: " + e.getMessage());  // an earlier kernel failed; free everything regardless
        }
        ctx.graphs.close();
        ctx.memory.close();
        ctx.stream.close();
        ctx.markClosed();
    }
}
