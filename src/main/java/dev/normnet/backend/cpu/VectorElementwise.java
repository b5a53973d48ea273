package dev.normnet.backend.cpu;

import static dev.normnet.backend.cpu.VectorMath.SPECIES;
import static dev.normnet.backend.cpu.VectorMath.VL;

import dev.normnet.backend.Activation;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * The fast sigmoid (JDK Vector API; see {@link VectorMath#sigmoid}, within 2 float ulps of the
 * reference and the same in every JIT tier), element ranges of at least 2^14 per thread. Every
 * element takes the vector formula, a range's last partial vector under a mask, so an element's
 * bits do not depend on where ranges split (the thread count) or on the pass it runs in: the
 * batch norm's fused passes ({@link VectorBatchNorm}) call the same {@link #activate}.
 *
 * <p><b>What runs the reference ({@link CpuElementwise}):</b> the sigmoid's gradient and ReLU in
 * both directions, which are one or two float operations per element already.
 */
final class VectorElementwise implements CpuOps.Elementwise {
    private final WorkerPool pool;
    private final CpuOps.Elementwise reference;

    VectorElementwise(WorkerPool pool, CpuOps.Elementwise reference) {
        this.pool = pool;
        this.reference = reference;
    }

    @Override
    public void sigmoidForward(CpuTensor cx, CpuTensor cy, int size) {
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(size, 1 << 14, (from, to, worker) -> sigmoid(xa, xo + from, ya, yo + from, to - from));
    }

    /** y[yo ..] = sigmoid(x[xo ..]) for len elements, the vector formula throughout (a masked last vector). */
    static void sigmoid(float[] x, int xo, float[] y, int yo, int len) {
        int j = 0;
        for (; j + VL <= len; j += VL) {
            VectorMath.sigmoid(FloatVector.fromArray(SPECIES, x, xo + j)).intoArray(y, yo + j);
        }
        if (j < len) {
            VectorMask<Float> m = SPECIES.indexInRange(j, len);
            VectorMath.sigmoid(FloatVector.fromArray(SPECIES, x, xo + j, m)).intoArray(y, yo + j, m);
        }
    }

    /**
     * a[at .. at + len) = act(a[at ..]) in place: this family's sigmoid, or the reference's ReLU
     * (v > 0 ? v : +0, NaN to 0) in vector lanes; the identity leaves it.
     */
    static void activate(Activation act, float[] a, int at, int len) {
        switch (act) {
            case SIGMOID -> sigmoid(a, at, a, at, len);
            case RELU -> {
                int j = 0;
                for (; j + VL <= len; j += VL) {
                    FloatVector v = FloatVector.fromArray(SPECIES, a, at + j);
                    ZERO.blend(v, v.compare(VectorOperators.GT, 0f)).intoArray(a, at + j);
                }
                for (; j < len; j++) {
                    float v = a[at + j];
                    a[at + j] = v > 0f ? v : 0f;
                }
            }
            case IDENTITY -> {
            }
        }
    }

    /**
     * g[gb .. gb + len) = the gradient of act's input from its output y[yb ..] and the gradient
     * g[gb ..] of y, in place, as the reference's ops: dy * y * (1 - y) for the sigmoid (in that
     * order), y > 0 ? dy : 0 for ReLU; the identity leaves it.
     */
    static void activationGradient(Activation act, float[] y, int yb, float[] g, int gb, int len) {
        switch (act) {
            case SIGMOID -> {
                int j = 0;
                for (; j + VL <= len; j += VL) {
                    FloatVector s = FloatVector.fromArray(SPECIES, y, yb + j);
                    FloatVector.fromArray(SPECIES, g, gb + j).mul(s).mul(ONE.sub(s)).intoArray(g, gb + j);
                }
                for (; j < len; j++) {
                    float s = y[yb + j];
                    g[gb + j] = g[gb + j] * s * (1f - s);
                }
            }
            case RELU -> {
                int j = 0;
                for (; j + VL <= len; j += VL) {
                    FloatVector s = FloatVector.fromArray(SPECIES, y, yb + j);
                    ZERO.blend(FloatVector.fromArray(SPECIES, g, gb + j), s.compare(VectorOperators.GT, 0f))
                            .intoArray(g, gb + j);
                }
                for (; j < len; j++) {
                    g[gb + j] = y[yb + j] > 0f ? g[gb + j] : 0f;
                }
            }
            case IDENTITY -> {
            }
        }
    }

    private static final FloatVector ZERO = FloatVector.zero(SPECIES);
    private static final FloatVector ONE = FloatVector.broadcast(SPECIES, 1f);

    @Override
    public void sigmoidBackward(CpuTensor y, CpuTensor dy, CpuTensor dx, int n) {
        reference.sigmoidBackward(y, dy, dx, n);   // one multiply-add per element: the reference
    }

    @Override
    public void reluForward(CpuTensor x, CpuTensor y, int n) {
        reference.reluForward(x, y, n);   // one compare per element: the reference
    }

    @Override
    public void reluBackward(CpuTensor x, CpuTensor dy, CpuTensor dx, int n) {
        reference.reluBackward(x, dy, dx, n);   // one compare per element: the reference
    }
}
