package dev.normnet.backend.cpu;

import static dev.normnet.backend.cpu.VectorMath.SPECIES;
import static dev.normnet.backend.cpu.VectorMath.VL;

import dev.normnet.backend.PoolGeometry;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;

/**
 * The fast average pooling for LeNet's windows: kernel 2, stride 2, no padding, each output the
 * reference's sum in the reference's order (row 0 then row 1, left to right) times 0.25, so the
 * bits equal the reference's; the backward pass writes each gradient to its four inputs directly.
 *
 * <p><b>What runs the reference ({@link CpuPooling}):</b> every other average-pooling window, and
 * max pooling of every shape.
 */
final class VectorPooling implements CpuOps.Pooling {
    /** Even lanes of one vector in the low half, repeated in the high half: [v0, v2, .., v0, v2, ..]. */
    private static final VectorShuffle<Float> EVEN_LOW = VectorShuffle.fromOp(SPECIES, i -> 2 * i % VL);
    /** The high half's lanes. */
    private static final VectorMask<Float> HIGH = VectorMask.fromLong(SPECIES, -1L << (VL / 2));
    /** Each of the low half's lanes twice: [v0, v0, v1, v1, ..]. */
    private static final VectorShuffle<Float> TWICE_LOW = VectorShuffle.fromOp(SPECIES, i -> i / 2);
    /** Each of the high half's lanes twice. */
    private static final VectorShuffle<Float> TWICE_HIGH = VectorShuffle.fromOp(SPECIES, i -> VL / 2 + i / 2);

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

    /**
     * Each output row in blocks of up to VL outputs: for the 2*VL inputs of a block, a + (a shifted by
     * one) + (the row below) + (the row below shifted by one), added in that order, holds every
     * window's sum in its even lanes, in the reference's order; the even lanes are gathered and
     * scaled. The block is stored whole: lanes past the row's end spill into the next output row,
     * which is written after it, and a block that would spill past the worker's last plane, or read
     * past the array, runs the scalar loop instead.
     */
    @Override
    public void avgForward(CpuTensor cx, CpuTensor cy, PoolGeometry g) {
        if (!isTwoByTwo(g)) {
            reference.avgForward(cx, cy, g);   // other windows: the reference
            return;
        }
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        int h = g.h(), w = g.w(), p = g.p(), q = g.q();
        pool.run(g.planes(), 16, (from, to, worker) -> {
            int yEnd = yo + to * p * q;
            for (int pl = from; pl < to; pl++) {
                int xPlane = xo + pl * h * w;
                int yPlane = yo + pl * p * q;
                for (int pp = 0; pp < p; pp++) {
                    int r0 = xPlane + 2 * pp * w;
                    int yr = yPlane + pp * q;
                    for (int qb = 0; qb < q; qb += VL) {
                        int count = Math.min(VL, q - qb);
                        int x0 = r0 + 2 * qb;
                        if (yr + qb + VL > yEnd || x0 + w + 2 * VL + 1 > xa.length) {
                            forwardScalar(xa, x0, w, ya, yr + qb, count);
                            continue;
                        }
                        FloatVector ua = windowSums(xa, x0, w);
                        FloatVector out = count > VL / 2
                                ? ua.rearrange(EVEN_LOW).blend(windowSums(xa, x0 + VL, w).rearrange(EVEN_LOW), HIGH)
                                : ua.rearrange(EVEN_LOW);
                        out.mul(0.25f).intoArray(ya, yr + qb);
                    }
                }
            }
        });
    }

    /** Lane j: ((x[at+j] + x[at+j+1]) + x[at+w+j]) + x[at+w+j+1], a window's sum in the even lanes. */
    private static FloatVector windowSums(float[] x, int at, int w) {
        return FloatVector.fromArray(SPECIES, x, at)
                .add(FloatVector.fromArray(SPECIES, x, at + 1))
                .add(FloatVector.fromArray(SPECIES, x, at + w))
                .add(FloatVector.fromArray(SPECIES, x, at + w + 1));
    }

    /** count outputs from the row pair starting at x0, the reference's order: row 0 then row 1, left to right. */
    private static void forwardScalar(float[] xa, int x0, int w, float[] ya, int at, int count) {
        for (int j = 0; j < count; j++) {
            int i = x0 + 2 * j;
            ya[at + j] = (xa[i] + xa[i + 1] + xa[i + w] + xa[i + w + 1]) * 0.25f;
        }
    }

    /**
     * Planes whose height and width are even, one input row at a time, in blocks of up to VL
     * gradients: each scaled gradient twice over (low half, then high half), stored whole; lanes
     * past the row's end spill into the row after it, which is written later. A block that would spill
     * past the worker's last plane runs the scalar loop. Odd heights or widths (an edge row or
     * column gets nothing, and a spill would land there) run the scalar loop throughout.
     */
    @Override
    public void avgBackward(CpuTensor cdy, CpuTensor cdx, PoolGeometry g) {
        if (!isTwoByTwo(g)) {
            reference.avgBackward(cdy, cdx, g);   // other windows: the reference
            return;
        }
        float[] dya = cdy.data(), dxa = cdx.data();
        int dyo = cdy.off(), dxo = cdx.off();
        int h = g.h(), w = g.w(), p = g.p(), q = g.q();
        boolean even = h == 2 * p && w == 2 * q;
        pool.run(g.planes(), 16, (from, to, worker) -> {
            int dxEnd = dxo + to * h * w;
            for (int pl = from; pl < to; pl++) {
                int dxPlane = dxo + pl * h * w;
                int dyPlane = dyo + pl * p * q;
                if (!even) {
                    Arrays.fill(dxa, dxPlane, dxPlane + h * w, 0f);   // odd edge rows/columns get nothing
                }
                for (int row = 0; row < 2 * p; row++) {            // row 0 of a window, then row 1
                    int xr = dxPlane + row * w;
                    int yr = dyPlane + row / 2 * q;
                    for (int qb = 0; qb < q; qb += VL) {
                        int count = Math.min(VL, q - qb);
                        int x0 = xr + 2 * qb;
                        boolean high = count > VL / 2;
                        if (!even || x0 + (high ? 2 * VL : VL) > dxEnd || yr + qb + VL > dya.length) {
                            backwardScalar(dya, yr + qb, dxa, x0, count);
                            continue;
                        }
                        FloatVector v = FloatVector.fromArray(SPECIES, dya, yr + qb).mul(0.25f);
                        v.rearrange(TWICE_LOW).intoArray(dxa, x0);
                        if (high) {
                            v.rearrange(TWICE_HIGH).intoArray(dxa, x0 + VL);
                        }
                    }
                }
            }
        });
    }

    /** count gradients, each times 0.25, to their windows' two inputs in the row starting at x0. */
    private static void backwardScalar(float[] dya, int at, float[] dxa, int x0, int count) {
        for (int j = 0; j < count; j++) {
            float v = dya[at + j] * 0.25f;
            dxa[x0 + 2 * j] = v;
            dxa[x0 + 2 * j + 1] = v;
        }
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
