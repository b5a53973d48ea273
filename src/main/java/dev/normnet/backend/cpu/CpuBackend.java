package dev.normnet.backend.cpu;

import dev.normnet.backend.Backend;
import dev.normnet.backend.ConvGeometry;
import dev.normnet.backend.ConvSpec;
import dev.normnet.backend.ElementwiseGeometry;
import dev.normnet.backend.GatherGeometry;
import dev.normnet.backend.LinearGeometry;
import dev.normnet.backend.LossGeometry;
import dev.normnet.backend.NormGeometry;
import dev.normnet.backend.OptimizerGeometry;
import dev.normnet.backend.PoolGeometry;
import dev.normnet.backend.PoolSpec;
import dev.normnet.backend.ResidentImages;
import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import java.util.Arrays;
import java.util.function.Function;

/**
 * The reference implementation of {@link Backend}: every op written as plain loops over
 * {@code float[]}, with exactly the semantics documented on the interface (PyTorch's).
 *
 * <p>This class is a facade: each op checks its shapes once with the backend-level geometry
 * record ({@link ConvGeometry}, {@link LinearGeometry}, {@link NormGeometry}, ...), checks that
 * every tensor lives on the CPU, and hands the work to its op family: {@link CpuConv2d},
 * {@link CpuLinear}, {@link CpuBatchNorm}, {@link CpuPooling}, {@link CpuElementwise},
 * {@link CpuSoftmaxCrossEntropy}, {@link CpuOptimizers}, {@link CpuGather}. The fast path
 * ({@link VectorCpuBackend}) is the same facade over other families.
 *
 * <p>Numerics: products and short sums (at most C*R*S terms of a convolution output, the
 * columns of a linear layer's input gradient) are accumulated in float32 in a fixed order; long
 * reductions (parameter gradients over the batch, batch-norm statistics, the loss) are
 * accumulated in float64 and rounded once. Batch-norm statistics take two passes (mean, then
 * the sum of squared deviations), never E[x^2] - E[x]^2.
 *
 * <p>Threads: a fixed pool of daemon threads, created once, splits each op over independent
 * output items (planes, channels, rows, filter slices). Each item is computed by one thread in a
 * fixed order, so results are bit-identical for any thread count. Scratch space is allocated at
 * the first call that needs it and grown, never shrunk. Not safe for concurrent use from several
 * threads.
 */
public class CpuBackend implements Backend {
    final WorkerPool pool;
    private final CpuOps ops;
    private final CpuSoftmaxCrossEntropy loss;
    private final CpuOptimizers optimizers;
    private final CpuGather gather;

    /** A backend using {@link Runtime#availableProcessors()} threads. */
    public CpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    /** A backend using {@code threads} threads (the calling one included). */
    public CpuBackend(int threads) {
        this(threads, CpuOps::reference);
    }

    /** A backend whose op families {@code families} makes, given the thread pool they share. */
    CpuBackend(int threads, Function<WorkerPool, CpuOps> families) {
        if (threads < 1) {
            throw new IllegalArgumentException("CpuBackend: thread count must be >= 1, got " + threads);
        }
        this.pool = new WorkerPool(threads, "normnet-cpu");
        this.ops = families.apply(pool);
        this.loss = new CpuSoftmaxCrossEntropy(pool);
        this.optimizers = new CpuOptimizers(pool);
        this.gather = new CpuGather(pool);
    }

    /** Number of threads ops are split over. */
    public int threads() {
        return pool.threads();
    }

    /** The JVM heap not in use: its limit (-Xmx) less what is allocated now. */
    @Override
    public long availableBytes() {
        Runtime rt = Runtime.getRuntime();
        return rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
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
        ElementwiseGeometry g = ElementwiseGeometry.fill("fill", t);
        CpuTensor ct = cpu("fill", "t", t);
        Arrays.fill(ct.data(), ct.off(), ct.off() + g.n(), value);
    }

    @Override
    public void copy(Tensor src, Tensor dst) {
        ElementwiseGeometry g = ElementwiseGeometry.of("copy", "src", src, "dst", dst);
        CpuTensor s = cpu("copy", "src", src);
        CpuTensor d = cpu("copy", "dst", dst);
        System.arraycopy(s.data(), s.off(), d.data(), d.off(), g.n());
    }

    @Override
    public void addScalar(Tensor t, int index, float delta) {
        ElementwiseGeometry.index("addScalar", t, index);
        CpuTensor ct = cpu("addScalar", "t", t);
        ct.data()[ct.off() + index] += delta;
    }

    @Override
    public void synchronize() {
    }

    // ================================================================ convolution

    @Override
    public void conv2dForward(Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec spec) {
        String op = "conv2dForward";
        ConvGeometry g = ConvGeometry.forward(op, x, w, b, y, spec);
        ops.conv2d().forward(cpu(op, "x", x), cpu(op, "w", w), cpuOrNull(op, "b", b), cpu(op, "y", y), g);
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvSpec spec) {
        String op = "conv2dBackwardData";
        ConvGeometry g = ConvGeometry.backwardData(op, dy, w, dx, spec);
        ops.conv2d().backwardData(cpu(op, "dy", dy), cpu(op, "w", w), cpu(op, "dx", dx), g);
    }

    @Override
    public void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, Tensor db, ConvSpec spec) {
        String op = "conv2dBackwardFilter";
        ConvGeometry g = ConvGeometry.backwardFilter(op, x, dy, dw, db, spec);
        ops.conv2d().backwardFilter(cpu(op, "x", x), cpu(op, "dy", dy), cpu(op, "dw", dw), cpuOrNull(op, "db", db), g);
    }

    // ================================================================ linear

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        String op = "linearForward";
        LinearGeometry g = LinearGeometry.forward(op, x, w, b, y);
        ops.linear().forward(cpu(op, "x", x), cpu(op, "w", w), cpuOrNull(op, "b", b), cpu(op, "y", y), g);
    }

    @Override
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        String op = "linearBackwardData";
        LinearGeometry g = LinearGeometry.backwardData(op, dy, w, dx);
        ops.linear().backwardData(cpu(op, "dy", dy), cpu(op, "w", w), cpu(op, "dx", dx), g);
    }

    @Override
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw, Tensor db) {
        String op = "linearBackwardWeight";
        LinearGeometry g = LinearGeometry.backwardWeight(op, x, dy, dw, db);
        ops.linear().backwardWeight(cpu(op, "x", x), cpu(op, "dy", dy), cpu(op, "dw", dw), cpuOrNull(op, "db", db), g);
    }

    // ================================================================ batch norm

    @Override
    public void batchNormForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                      Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps) {
        String op = "batchNormForwardTrain";
        NormGeometry g = NormGeometry.forwardTrain(op, x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd);
        ops.batchNorm().forwardTrain(cpu(op, "x", x), cpu(op, "gamma", gamma), cpu(op, "beta", beta),
                cpu(op, "runningMean", runningMean), cpu(op, "runningVar", runningVar), cpu(op, "y", y),
                cpu(op, "saveMean", saveMean), cpu(op, "saveInvStd", saveInvStd), momentum, eps, g);
    }

    @Override
    public void batchNormForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                     Tensor y, float eps) {
        String op = "batchNormForwardEval";
        NormGeometry g = NormGeometry.forwardEval(op, x, gamma, beta, runningMean, runningVar, y);
        ops.batchNorm().forwardEval(cpu(op, "x", x), cpu(op, "gamma", gamma), cpu(op, "beta", beta),
                cpu(op, "runningMean", runningMean), cpu(op, "runningVar", runningVar), cpu(op, "y", y), eps, g);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta) {
        String op = "batchNormBackward";
        NormGeometry g = NormGeometry.backward(op, x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
        ops.batchNorm().backward(cpu(op, "x", x), cpu(op, "dy", dy), cpu(op, "gamma", gamma), cpu(op, "saveMean", saveMean),
                cpu(op, "saveInvStd", saveInvStd), cpu(op, "dx", dx), cpu(op, "dgamma", dgamma), cpu(op, "dbeta", dbeta), g);
    }

    // ================================================================ pooling

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        String op = "avgPool2dForward";
        PoolGeometry g = PoolGeometry.forward(op, x, y, spec);
        ops.pooling().avgForward(cpu(op, "x", x), cpu(op, "y", y), g);
    }

    @Override
    public void avgPool2dBackward(Tensor dy, Tensor dx, PoolSpec spec) {
        String op = "avgPool2dBackward";
        PoolGeometry g = PoolGeometry.backward(op, dy, dx, spec);
        ops.pooling().avgBackward(cpu(op, "dy", dy), cpu(op, "dx", dx), g);
    }

    @Override
    public void maxPool2dForward(Tensor x, Tensor y, PoolSpec spec) {
        String op = "maxPool2dForward";
        PoolGeometry g = PoolGeometry.forward(op, x, y, spec);
        ops.pooling().maxForward(cpu(op, "x", x), cpu(op, "y", y), g);
    }

    @Override
    public void maxPool2dBackward(Tensor x, Tensor dy, Tensor dx, PoolSpec spec) {
        String op = "maxPool2dBackward";
        PoolGeometry g = PoolGeometry.maxBackward(op, x, dy, dx, spec);
        ops.pooling().maxBackward(cpu(op, "x", x), cpu(op, "dy", dy), cpu(op, "dx", dx), g);
    }

    // ================================================================ elementwise

    @Override
    public void sigmoidForward(Tensor x, Tensor y) {
        String op = "sigmoidForward";
        ElementwiseGeometry g = ElementwiseGeometry.of(op, "x", x, "y", y);
        ops.elementwise().sigmoidForward(cpu(op, "x", x), cpu(op, "y", y), g.n());
    }

    @Override
    public void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        String op = "sigmoidBackward";
        ElementwiseGeometry g = ElementwiseGeometry.of(op, "y", y, "dy", dy, "dx", dx);
        ops.elementwise().sigmoidBackward(cpu(op, "y", y), cpu(op, "dy", dy), cpu(op, "dx", dx), g.n());
    }

    @Override
    public void reluForward(Tensor x, Tensor y) {
        String op = "reluForward";
        ElementwiseGeometry g = ElementwiseGeometry.of(op, "x", x, "y", y);
        ops.elementwise().reluForward(cpu(op, "x", x), cpu(op, "y", y), g.n());
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        String op = "reluBackward";
        ElementwiseGeometry g = ElementwiseGeometry.of(op, "x", x, "dy", dy, "dx", dx);
        ops.elementwise().reluBackward(cpu(op, "x", x), cpu(op, "dy", dy), cpu(op, "dx", dx), g.n());
    }

    // ================================================================ loss

    @Override
    public void softmaxCrossEntropy(Tensor logits, Tensor labels, Tensor dlogits, Tensor metrics) {
        String op = "softmaxCrossEntropy";
        LossGeometry g = LossGeometry.softmaxCrossEntropy(op, logits, labels, dlogits, metrics);
        loss.run(op, cpu(op, "logits", logits), cpu(op, "labels", labels), cpuOrNull(op, "dlogits", dlogits),
                cpu(op, "metrics", metrics), g);
    }

    // ================================================================ optimizers

    @Override
    public void sgdStep(Tensor params, Tensor grads, Tensor velocity, Tensor hyper, float momentum, float weightDecay) {
        String op = "sgdStep";
        OptimizerGeometry g = OptimizerGeometry.sgd(op, params, grads, velocity, hyper, momentum);
        optimizers.sgd(cpu(op, "params", params), cpu(op, "grads", grads),
                momentum == 0f ? null : cpu(op, "velocity", velocity), cpu(op, "hyper", hyper), momentum, weightDecay, g);
    }

    @Override
    public void adamStep(Tensor params, Tensor grads, Tensor m, Tensor v, Tensor hyper,
                         float beta1, float beta2, float eps, float weightDecay) {
        String op = "adamStep";
        OptimizerGeometry g = OptimizerGeometry.adam(op, params, grads, m, v, hyper);
        optimizers.adam(op, cpu(op, "params", params), cpu(op, "grads", grads), cpu(op, "m", m), cpu(op, "v", v),
                cpu(op, "hyper", hyper), beta1, beta2, eps, weightDecay, g);
    }

    // ================================================================ data

    @Override
    public ResidentImages uploadImages(byte[] pixels, byte[] labels, int count, int height, int width) {
        GatherGeometry.checkUpload("uploadImages", pixels, labels, count, height, width);
        return new CpuResidentImages(pixels, labels, count, height, width);
    }

    @Override
    public void gatherBatch(ResidentImages images, Tensor order, Tensor cursor, Tensor x, Tensor labels) {
        String op = "gatherBatch";
        GatherGeometry g = GatherGeometry.check(op, images, order, cursor, x, labels);
        if (!(images instanceof CpuResidentImages im)) {
            throw new IllegalArgumentException(op + ": images must come from CpuBackend.uploadImages, got "
                    + images.getClass().getName());
        }
        gather.gather(op, im, cpu(op, "order", order), cpu(op, "cursor", cursor), cpu(op, "x", x), cpu(op, "labels", labels), g);
    }

    @Override
    public void close() {
        pool.close();
    }

    @Override
    public boolean isClosed() {
        return pool.isClosed();
    }

    // ================================================================ device check

    /** {@code t} as a CPU tensor; throws naming the op and the argument when it is null or lives elsewhere. */
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

    private static CpuTensor cpuOrNull(String op, String name, Tensor t) {
        return t == null ? null : cpu(op, name, t);
    }
}
