package dev.normnet.backend.cpu;

import dev.normnet.backend.PoolGeometry;
import java.util.Arrays;

/**
 * The fast average pooling for LeNet's windows: kernel 2, stride 2, no padding, each output the
 * reference's sum in the reference's order (row 0 then row 1, left to right) times 0.25, so the
 * bits equal the reference's; the backward pass writes each gradient to its four inputs directly.
 *
 * <p><b>What runs the reference ({@link CpuPooling}):</b> every other average-pooling window, and
 * max pooling of every shape.
 */
final class VectorPooling implements CpuOps.Pooling {
    private final WorkerPool pool;
    private final CpuOps.Pooling reference;

    VectorPooling(WorkerPool pool, CpuOps.Pooling reference) {
        this.pool = pool;
        this.reference = reference;
    }

    /** Non-overlapping 2x2 windows (kernel 2, stride 2, no padding): the LeNet pooling. */
    private static boolean isTwoByTwo(PoolGeometry g) {
        return g.kernel() == 2 && g.stride() == 2 && g.pad() == 0;
    }

    @Override
    public void avgForward(CpuTensor cx, CpuTensor cy, PoolGeometry g) {
        if (!isTwoByTwo(g)) {
            reference.avgForward(cx, cy, g);   // other windows: the reference
            return;
        }
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(g.planes(), 16, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int xPlane = xo + pl * g.h() * g.w();
                int yPlane = yo + pl * g.p() * g.q();
                for (int p = 0; p < g.p(); p++) {
                    int r0 = xPlane + 2 * p * g.w();
                    int r1 = r0 + g.w();
                    int yr = yPlane + p * g.q();
                    for (int q = 0; q < g.q(); q++) {
                        // the reference's order: row 0 then row 1, left to right
                        ya[yr + q] = (xa[r0 + 2 * q] + xa[r0 + 2 * q + 1] + xa[r1 + 2 * q] + xa[r1 + 2 * q + 1]) * 0.25f;
                    }
                }
            }
        });
    }

    @Override
    public void avgBackward(CpuTensor cdy, CpuTensor cdx, PoolGeometry g) {
        if (!isTwoByTwo(g)) {
            reference.avgBackward(cdy, cdx, g);   // other windows: the reference
            return;
        }
        float[] dya = cdy.data(), dxa = cdx.data();
        int dyo = cdy.off(), dxo = cdx.off();
        pool.run(g.planes(), 16, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int dxPlane = dxo + pl * g.h() * g.w();
                int dyPlane = dyo + pl * g.p() * g.q();
                if (g.h() != 2 * g.p() || g.w() != 2 * g.q()) {
                    Arrays.fill(dxa, dxPlane, dxPlane + g.h() * g.w(), 0f);   // odd edge rows/columns get nothing
                }
                for (int p = 0; p < g.p(); p++) {
                    int r0 = dxPlane + 2 * p * g.w();
                    int r1 = r0 + g.w();
                    int yr = dyPlane + p * g.q();
                    for (int q = 0; q < g.q(); q++) {
                        float v = dya[yr + q] * 0.25f;
                        dxa[r0 + 2 * q] = v;
                        dxa[r0 + 2 * q + 1] = v;
                        dxa[r1 + 2 * q] = v;
                        dxa[r1 + 2 * q + 1] = v;
                    }
                }
            }
        });
    }

    @Override
    public void maxForward(CpuTensor cx, CpuTensor cy, PoolGeometry g) {
        reference.maxForward(cx, cy, g);   // max pooling: the reference
    }

    @Override
    public void maxBackward(CpuTensor cx, CpuTensor cdy, CpuTensor cdx, PoolGeometry g) {
        reference.maxBackward(cx, cdy, cdx, g);   // max pooling: the reference
    }
}
