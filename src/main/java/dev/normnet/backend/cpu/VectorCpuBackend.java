package dev.normnet.backend.cpu;

/**
 * The fast CPU path: the same facade as {@link CpuBackend} over op families rewritten with the
 * JDK Vector API ({@code jdk.incubator.vector}, so the JVM needs
 * {@code --add-modules jdk.incubator.vector}). Each family says in its Javadoc which shapes it
 * hands to the reference, and says so again at the line that does it:
 * <ul>
 *   <li>convolution: {@link VectorConv2d} (stride 1; strided convolutions, and backward-data with
 *       a non-square filter or padding > R - 1, run the reference);</li>
 *   <li>linear: {@link VectorLinear} (every shape);</li>
 *   <li>batch norm: {@link VectorBatchNorm} (planes of at least one vector; 2-D inputs and short
 *       planes run the reference);</li>
 *   <li>pooling: {@link VectorPooling} (2x2 average pooling, stride 2; other windows and max
 *       pooling run the reference);</li>
 *   <li>activations: {@link VectorElementwise} (sigmoid forward; its gradient and ReLU run the
 *       reference);</li>
 *   <li>softmax cross-entropy, optimizers and batch gathering: the one CPU implementation.</li>
 * </ul>
 * The tests check each fast op against the reference within float32 rounding, and check that
 * results are the same for any thread count and JIT state.
 */
public class VectorCpuBackend extends CpuBackend {

    public VectorCpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    public VectorCpuBackend(int threads) {
        super(threads, VectorCpuBackend::families);
    }

    private static CpuOps families(WorkerPool pool) {
        CpuOps reference = CpuOps.reference(pool);
        return new CpuOps(new VectorConv2d(pool, reference.conv2d()), new VectorLinear(pool),
                new VectorBatchNorm(pool, reference.batchNorm()), new VectorPooling(pool, reference.pooling()),
                new VectorElementwise(pool, reference.elementwise()));
    }

    /** Vector width in floats on this machine (16 with AVX-512, 8 with AVX2). */
    public static int vectorLength() {
        return VectorMath.VL;
    }

    @Override
    public String describe() {
        int t = threads();
        return "cpu: " + t + (t == 1 ? " thread" : " threads") + ", " + (VectorMath.VL * 32) + "-bit vectors";
    }
}
