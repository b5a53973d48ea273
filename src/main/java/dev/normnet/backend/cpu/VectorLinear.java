package dev.normnet.backend.cpu;

import static dev.normnet.backend.cpu.VectorMath.SPECIES;
import static dev.normnet.backend.cpu.VectorMath.VL;
import static dev.normnet.backend.cpu.VectorMath.laneSum;

import dev.normnet.backend.LinearGeometry;
import jdk.incubator.vector.FloatVector;

/**
 * The fast linear layer (JDK Vector API), for every shape (it never hands work to the reference).
 * All three products are one kernel, C = A x B in blocks of four rows by four column vectors
 * ({@link #gemmRows}): forward y = x w^T (w transposed once per call), backward-data dx = dy w,
 * backward-weight dw = dy^T x (dy transposed once per call). Each output element is summed in
 * float32 in the order of the shared dimension by one thread, so no lanes are folded and any
 * thread count gives the same bits; the bias gradient is summed in float64. Shapes narrower than
 * one vector (forward with fewer outputs, the gradients with fewer inputs, than VL) use dot
 * products, or scalar fused multiply-add chains, instead. Results differ from {@link CpuLinear} by float32 rounding only.
 */
final class VectorLinear implements CpuOps.Linear {
    private final WorkerPool pool;
    private final float[][] scratch = {new float[0], new float[0]};   // w^T (forward), dy^T (backward-weight)

    VectorLinear(WorkerPool pool) {
        this.pool = pool;
    }

    /** The (cols, rows) transpose of the (rows, cols) matrix at a[off ..], into reused scratch buffer {@code which}. */
    private float[] transposed(float[] a, int off, int rows, int cols, int which) {
        int size = rows * cols;
        if (scratch[which].length < size) {
            scratch[which] = new float[size];
        }
        float[] t = scratch[which];
        pool.run(cols, 16, (from, to, worker) -> {
            for (int j = from; j < to; j++) {
                for (int i = 0; i < rows; i++) {
                    t[j * rows + i] = a[off + i * cols + j];
                }
            }
        });
        return t;
    }

    @Override
    public void forward(CpuTensor cx, CpuTensor cw, CpuTensor cb, CpuTensor cy, LinearGeometry g) {
        int n = g.n(), in = g.in(), out = g.out();
        if (out < VL) {
            forwardByDots(cx, cw, cb, cy, g);   // fewer outputs than one vector: dot products per output
            return;
        }
        float[] wa = cw.data();
        int wo = cw.off();
        float[] wt = transposed(wa, wo, out, in, 0);              // w^T (I, O)
        float[] xa = cx.data(), ya = cy.data();
        float[] ba = cb == null ? null : cb.data();
        int xo = cx.off(), yo = cy.off(), bo = cb == null ? 0 : cb.off();
        pool.run((n + 3) / 4, 1, (from, to, worker) ->
                gemmRows(xa, xo, in, wt, 0, out, ya, yo, out, from * 4, Math.min(n, to * 4), out, in, ba, bo));
    }

    /** y = x w^T + b by dot products of rows of x with rows of w (lane sums); for outputs narrower than a vector. */
    private void forwardByDots(CpuTensor cx, CpuTensor cw, CpuTensor cb, CpuTensor cy, LinearGeometry g) {
        int n = g.n(), in = g.in(), out = g.out();
        float[] xa = cx.data(), wa = cw.data(), ya = cy.data();
        float[] ba = cb == null ? null : cb.data();
        int xo = cx.off(), wo = cw.off(), yo = cy.off(), bo = cb == null ? 0 : cb.off();
        int vecEnd = in / VL * VL;
        int blocks = (n + 3) / 4;
        // Items are blocks of four rows of x; each weight vector loaded serves all four.
        pool.run(blocks, 1, (from, to, worker) -> {
            for (int blk = from; blk < to; blk++) {
                int i0 = blk * 4;
                if (i0 + 4 > n) {
                    for (int i = i0; i < n; i++) {
                        linearRows1(xa, xo + i * in, wa, wo, in, vecEnd, out, ya, yo + i * out, ba, bo);
                    }
                    continue;
                }
                linearRows4(xa, xo + i0 * in, wa, wo, in, vecEnd, out, ya, yo + i0 * out, ba, bo);
            }
        });
    }

    /** y[r, o] = b[o] + x[r] . w[o] for four consecutive rows r of x. */
    private static void linearRows4(float[] xa, int xRow, float[] wa, int wo, int in, int vecEnd, int out,
                                    float[] ya, int yRow, float[] ba, int bo) {
        for (int o = 0; o < out; o++) {
            int wRow = wo + o * in;
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES);
            FloatVector a2 = FloatVector.zero(SPECIES);
            FloatVector a3 = FloatVector.zero(SPECIES);
            for (int j = 0; j < vecEnd; j += VL) {
                FloatVector wv = FloatVector.fromArray(SPECIES, wa, wRow + j);
                a0 = FloatVector.fromArray(SPECIES, xa, xRow + j).fma(wv, a0);
                a1 = FloatVector.fromArray(SPECIES, xa, xRow + in + j).fma(wv, a1);
                a2 = FloatVector.fromArray(SPECIES, xa, xRow + 2 * in + j).fma(wv, a2);
                a3 = FloatVector.fromArray(SPECIES, xa, xRow + 3 * in + j).fma(wv, a3);
            }
            float s0 = laneSum(a0);
            float s1 = laneSum(a1);
            float s2 = laneSum(a2);
            float s3 = laneSum(a3);
            for (int j = vecEnd; j < in; j++) {
                float wj = wa[wRow + j];
                s0 += xa[xRow + j] * wj;
                s1 += xa[xRow + in + j] * wj;
                s2 += xa[xRow + 2 * in + j] * wj;
                s3 += xa[xRow + 3 * in + j] * wj;
            }
            float bias = ba == null ? 0f : ba[bo + o];
            ya[yRow + o] = s0 + bias;
            ya[yRow + out + o] = s1 + bias;
            ya[yRow + 2 * out + o] = s2 + bias;
            ya[yRow + 3 * out + o] = s3 + bias;
        }
    }

    private static void linearRows1(float[] xa, int xRow, float[] wa, int wo, int in, int vecEnd, int out,
                                    float[] ya, int yRow, float[] ba, int bo) {
        for (int o = 0; o < out; o++) {
            int wRow = wo + o * in;
            FloatVector a0 = FloatVector.zero(SPECIES);
            for (int j = 0; j < vecEnd; j += VL) {
                a0 = FloatVector.fromArray(SPECIES, xa, xRow + j).fma(FloatVector.fromArray(SPECIES, wa, wRow + j), a0);
            }
            float s0 = laneSum(a0);
            for (int j = vecEnd; j < in; j++) {
                s0 += xa[xRow + j] * wa[wRow + j];
            }
            ya[yRow + o] = s0 + (ba == null ? 0f : ba[bo + o]);
        }
    }

    @Override
    public void backwardData(CpuTensor cdy, CpuTensor cw, CpuTensor cdx, LinearGeometry g) {
        int n = g.n(), out = g.out(), in = g.in();
        if (in < VL) {
            backwardDataNarrow(cdy, cw, cdx, g);
            return;
        }
        float[] dya = cdy.data(), wa = cw.data(), dxa = cdx.data();
        int dyo = cdy.off(), wo = cw.off(), dxo = cdx.off();
        pool.run((n + 3) / 4, 1, (from, to, worker) ->                // dx (N, I) = dy (N, O) x w (O, I)
                gemmRows(dya, dyo, out, wa, wo, in, dxa, dxo, in, from * 4, Math.min(n, to * 4), in, out, null, 0));
    }

    /** dx for inputs narrower than a vector: each element a float32 fused multiply-add chain over the outputs, in order. */
    private void backwardDataNarrow(CpuTensor cdy, CpuTensor cw, CpuTensor cdx, LinearGeometry g) {
        int n = g.n(), out = g.out(), in = g.in();
        float[] dya = cdy.data(), wa = cw.data(), dxa = cdx.data();
        int dyo = cdy.off(), wo = cw.off(), dxo = cdx.off();
        pool.run(n, 64, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                int dyRow = dyo + i * out;
                for (int j = 0; j < in; j++) {
                    float sum = 0f;
                    for (int o = 0; o < out; o++) {
                        sum = Math.fma(wa[wo + o * in + j], dya[dyRow + o], sum);
                    }
                    dxa[dxo + i * in + j] = sum;      // dx (N, I)
                }
            }
        });
    }

    @Override
    public void backwardWeight(CpuTensor cx, CpuTensor cdy, CpuTensor cdw, CpuTensor cdb, LinearGeometry g) {
        int n = g.n(), in = g.in(), out = g.out();
        if (in < VL) {
            backwardWeightNarrow(cx, cdy, cdw, cdb, g);
            return;
        }
        float[] xa = cx.data(), dwa = cdw.data();
        float[] dba = cdb == null ? null : cdb.data();
        int xo = cx.off(), dwo = cdw.off(), dbo = cdb == null ? 0 : cdb.off();
        float[] dyt = transposed(cdy.data(), cdy.off(), n, out, 1);   // dy^T (O, N)
        pool.run((out + 3) / 4, 1, (from, to, worker) -> {          // dw (O, I) = dy^T (O, N) x x (N, I)
            int o0 = from * 4, o1 = Math.min(out, to * 4);
            gemmRows(dyt, 0, n, xa, xo, in, dwa, dwo, in, o0, o1, in, n, null, 0);
            if (dba != null) {
                for (int o = o0; o < o1; o++) {
                    double bias = 0;
                    for (int i = 0; i < n; i++) {
                        bias += dyt[o * n + i];
                    }
                    dba[dbo + o] = (float) bias;
                }
            }
        });
    }

    /** dw and db for inputs narrower than a vector: each dw element a float32 FMA chain over the batch, db in float64. */
    private void backwardWeightNarrow(CpuTensor cx, CpuTensor cdy, CpuTensor cdw, CpuTensor cdb, LinearGeometry g) {
        int n = g.n(), in = g.in(), out = g.out();
        float[] xa = cx.data(), dya = cdy.data(), dwa = cdw.data();
        float[] dba = cdb == null ? null : cdb.data();
        int xo = cx.off(), dyo = cdy.off(), dwo = cdw.off(), dbo = cdb == null ? 0 : cdb.off();
        pool.run(out, 16, (from, to, worker) -> {
            for (int o = from; o < to; o++) {
                for (int j = 0; j < in; j++) {
                    float sum = 0f;
                    for (int i = 0; i < n; i++) {
                        sum = Math.fma(xa[xo + i * in + j], dya[dyo + i * out + o], sum);
                    }
                    dwa[dwo + o * in + j] = sum;      // dw (O, I)
                }
                if (dba != null) {
                    double bias = 0;
                    for (int i = 0; i < n; i++) {
                        bias += dya[dyo + i * out + o];
                    }
                    dba[dbo + o] = (float) bias;
                }
            }
        });
    }

    // ================================================================ C = A x B, four rows by four vectors

    /**
     * c[m, n] = sum over k in order of a[m*lda + k] * b[k*ldb + n] for m in [m0, m1), every n in
     * [0, cols): blocks of four rows by four column vectors (sixteen accumulators; per k, four
     * broadcasts and four vector loads serve sixteen FMAs), so no lane is ever summed across. A last
     * partial vector of columns is computed as the vector ending at column cols, overlapping the one
     * before it: its lanes repeat the same sums in the same order, so they write the same bits.
     * Needs cols >= VL. {@code bias} (per column, may be null) is added once at the end.
     */
    private static void gemmRows(float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc,
                                 int m0, int m1, int cols, int depth, float[] bias, int biasOff) {
        int starts = (cols + VL - 1) / VL;                      // column vectors, the last one maybe overlapping
        int m = m0;
        for (; m + 4 <= m1; m += 4) {
            int v = 0;
            for (; v + 4 <= starts; v += 4) {
                block4x4(a, aOff + m * lda, lda, b, bOff, ldb, c, cOff + m * ldc, ldc, depth, cols, v, bias, biasOff);
            }
            for (; v < starts; v++) {
                for (int mm = m; mm < m + 4; mm++) {
                    block1x1(a, aOff + mm * lda, b, bOff, ldb, c, cOff + mm * ldc, depth, column(v, cols), bias, biasOff);
                }
            }
        }
        for (; m < m1; m++) {
            for (int v = 0; v < starts; v++) {
                block1x1(a, aOff + m * lda, b, bOff, ldb, c, cOff + m * ldc, depth, column(v, cols), bias, biasOff);
            }
        }
    }

    /** First column of column vector v: v*VL, or cols - VL for the overlapping last one. */
    private static int column(int v, int cols) {
        return Math.min(v * VL, cols - VL);
    }

    private static void block4x4(float[] a, int aRow, int lda, float[] b, int bOff, int ldb, float[] c, int cRow, int ldc,
                                 int depth, int cols, int v, float[] bias, int biasOff) {
        int n0 = column(v, cols), n1 = column(v + 1, cols), n2 = column(v + 2, cols), n3 = column(v + 3, cols);
        FloatVector c00 = FloatVector.zero(SPECIES), c01 = FloatVector.zero(SPECIES);
        FloatVector c02 = FloatVector.zero(SPECIES), c03 = FloatVector.zero(SPECIES);
        FloatVector c10 = FloatVector.zero(SPECIES), c11 = FloatVector.zero(SPECIES);
        FloatVector c12 = FloatVector.zero(SPECIES), c13 = FloatVector.zero(SPECIES);
        FloatVector c20 = FloatVector.zero(SPECIES), c21 = FloatVector.zero(SPECIES);
        FloatVector c22 = FloatVector.zero(SPECIES), c23 = FloatVector.zero(SPECIES);
        FloatVector c30 = FloatVector.zero(SPECIES), c31 = FloatVector.zero(SPECIES);
        FloatVector c32 = FloatVector.zero(SPECIES), c33 = FloatVector.zero(SPECIES);
        for (int k = 0; k < depth; k++) {
            int bRow = bOff + k * ldb;
            FloatVector b0 = FloatVector.fromArray(SPECIES, b, bRow + n0);
            FloatVector b1 = FloatVector.fromArray(SPECIES, b, bRow + n1);
            FloatVector b2 = FloatVector.fromArray(SPECIES, b, bRow + n2);
            FloatVector b3 = FloatVector.fromArray(SPECIES, b, bRow + n3);
            FloatVector x = FloatVector.broadcast(SPECIES, a[aRow + k]);
            c00 = b0.fma(x, c00);
            c01 = b1.fma(x, c01);
            c02 = b2.fma(x, c02);
            c03 = b3.fma(x, c03);
            x = FloatVector.broadcast(SPECIES, a[aRow + lda + k]);
            c10 = b0.fma(x, c10);
            c11 = b1.fma(x, c11);
            c12 = b2.fma(x, c12);
            c13 = b3.fma(x, c13);
            x = FloatVector.broadcast(SPECIES, a[aRow + 2 * lda + k]);
            c20 = b0.fma(x, c20);
            c21 = b1.fma(x, c21);
            c22 = b2.fma(x, c22);
            c23 = b3.fma(x, c23);
            x = FloatVector.broadcast(SPECIES, a[aRow + 3 * lda + k]);
            c30 = b0.fma(x, c30);
            c31 = b1.fma(x, c31);
            c32 = b2.fma(x, c32);
            c33 = b3.fma(x, c33);
        }
        // The stores written out here, not through a helper: a helper taking vectors is an ordinary
        // call, which C2 stops inlining past its node-count cutoff, and its vectors are then boxed.
        if (bias != null) {
            FloatVector d0 = FloatVector.fromArray(SPECIES, bias, biasOff + n0);
            FloatVector d1 = FloatVector.fromArray(SPECIES, bias, biasOff + n1);
            FloatVector d2 = FloatVector.fromArray(SPECIES, bias, biasOff + n2);
            FloatVector d3 = FloatVector.fromArray(SPECIES, bias, biasOff + n3);
            c00 = c00.add(d0);
            c01 = c01.add(d1);
            c02 = c02.add(d2);
            c03 = c03.add(d3);
            c10 = c10.add(d0);
            c11 = c11.add(d1);
            c12 = c12.add(d2);
            c13 = c13.add(d3);
            c20 = c20.add(d0);
            c21 = c21.add(d1);
            c22 = c22.add(d2);
            c23 = c23.add(d3);
            c30 = c30.add(d0);
            c31 = c31.add(d1);
            c32 = c32.add(d2);
            c33 = c33.add(d3);
        }
        c00.intoArray(c, cRow + n0);
        c01.intoArray(c, cRow + n1);
        c02.intoArray(c, cRow + n2);
        c03.intoArray(c, cRow + n3);
        c10.intoArray(c, cRow + ldc + n0);
        c11.intoArray(c, cRow + ldc + n1);
        c12.intoArray(c, cRow + ldc + n2);
        c13.intoArray(c, cRow + ldc + n3);
        c20.intoArray(c, cRow + 2 * ldc + n0);
        c21.intoArray(c, cRow + 2 * ldc + n1);
        c22.intoArray(c, cRow + 2 * ldc + n2);
        c23.intoArray(c, cRow + 2 * ldc + n3);
        c30.intoArray(c, cRow + 3 * ldc + n0);
        c31.intoArray(c, cRow + 3 * ldc + n1);
        c32.intoArray(c, cRow + 3 * ldc + n2);
        c33.intoArray(c, cRow + 3 * ldc + n3);
    }

    private static void block1x1(float[] a, int aRow, float[] b, int bOff, int ldb, float[] c, int cRow, int depth,
                                 int n0, float[] bias, int biasOff) {
        FloatVector acc = FloatVector.zero(SPECIES);
        for (int k = 0; k < depth; k++) {
            acc = FloatVector.fromArray(SPECIES, b, bOff + k * ldb + n0).fma(FloatVector.broadcast(SPECIES, a[aRow + k]), acc);
        }
        if (bias != null) {
            acc = acc.add(FloatVector.fromArray(SPECIES, bias, biasOff + n0));
        }
        acc.intoArray(c, cRow + n0);
    }
}
