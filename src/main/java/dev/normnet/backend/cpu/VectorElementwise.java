package dev.normnet.backend.cpu;

import static dev.normnet.backend.cpu.VectorMath.SPECIES;
import static dev.normnet.backend.cpu.VectorMath.VL;
import static dev.normnet.backend.cpu.VectorMath.sigmoid;

import jdk.incubator.vector.FloatVector;

/**
 * The fast sigmoid (JDK Vector API; see {@link VectorMath#sigmoid}, within 2 float ulps of the
 * reference and the same in every JIT tier), element ranges of at least 2^14 per thread.
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
        pool.run(size, 1 << 14, (from, to, worker) -> {
            int j = from;
            for (; j + VL <= to; j += VL) {
                sigmoid(FloatVector.fromArray(SPECIES, xa, xo + j)).intoArray(ya, yo + j);
            }
            for (; j < to; j++) {
                ya[yo + j] = (float) (1.0 / (1.0 + Math.exp(-(double) xa[xo + j])));
            }
        });
    }

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
