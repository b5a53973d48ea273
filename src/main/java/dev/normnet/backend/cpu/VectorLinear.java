package dev.normnet.backend.cpu;

import static dev.normnet.backend.cpu.VectorMath.SPECIES;
import static dev.normnet.backend.cpu.VectorMath.VL;
import static dev.normnet.backend.cpu.VectorMath.laneSum;

import dev.normnet.backend.LinearGeometry;
import jdk.incubator.vector.FloatVector;

/**
 * The fast linear layer (JDK Vector API), for every shape (it never hands work to the reference):
 * forward in blocks of four rows of x, each weight vector loaded serving all four; the two
 * gradients by column vectors of dx and dw, so that the block of w (or x) a work item reads stays
 * in L1. Products are summed in float32 vector lanes, lanes folded in order; the bias gradient in
 * float64. Results differ from {@link CpuLinear} by float32 rounding only.
 */
final class VectorLinear implements CpuOps.Linear {
    private final WorkerPool pool;

    VectorLinear(WorkerPool pool) {
        this.pool = pool;
    }

    @Override
    public void forward(CpuTensor cx, CpuTensor cw, CpuTensor cb, CpuTensor cy, LinearGeometry g) {
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
        float[] dya = cdy.data(), wa = cw.data(), dxa = cdx.data();
        int dyo = cdy.off(), wo = cw.off(), dxo = cdx.off();
        int vectors = in / VL;
        // Items are column vectors of dx (plus one item for the scalar tail): the (O, VL) block of w
        // they read stays in L1 while every row of dy passes over it.
        pool.run(vectors + 1, 1, (from, to, worker) -> {
            for (int item = from; item < to; item++) {
                if (item < vectors) {
                    int j = item * VL;
                    for (int i = 0; i < n; i++) {
                        int dyRow = dyo + i * out;
                        FloatVector acc = FloatVector.zero(SPECIES);
                        for (int o = 0; o < out; o++) {
                            acc = FloatVector.fromArray(SPECIES, wa, wo + o * in + j)
                                    .fma(FloatVector.broadcast(SPECIES, dya[dyRow + o]), acc);
                        }
                        acc.intoArray(dxa, dxo + i * in + j);      // dx (N, I)
                    }
                } else {
                    for (int i = 0; i < n; i++) {
                        int dyRow = dyo + i * out;
                        for (int j = vectors * VL; j < in; j++) {
                            float sum = 0f;
                            for (int o = 0; o < out; o++) {
                                sum = Math.fma(wa[wo + o * in + j], dya[dyRow + o], sum);
                            }
                            dxa[dxo + i * in + j] = sum;
                        }
                    }
                }
            }
        });
    }

    @Override
    public void backwardWeight(CpuTensor cx, CpuTensor cdy, CpuTensor cdw, CpuTensor cdb, LinearGeometry g) {
        int n = g.n(), in = g.in(), out = g.out();
        float[] xa = cx.data(), dya = cdy.data(), dwa = cdw.data();
        float[] dba = cdb == null ? null : cdb.data();
        int xo = cx.off(), dyo = cdy.off(), dwo = cdw.off(), dbo = cdb == null ? 0 : cdb.off();
        int vectors = in / VL;
        // Items are column vectors of dw (plus one item for the scalar tail and the bias): the
        // (N, VL) block of x they read stays in L1 while every output row passes over it.
        pool.run(vectors + 1, 1, (from, to, worker) -> {
            for (int item = from; item < to; item++) {
                if (item < vectors) {
                    int j = item * VL;
                    for (int o = 0; o < out; o++) {
                        FloatVector acc = FloatVector.zero(SPECIES);
                        for (int i = 0; i < n; i++) {
                            acc = FloatVector.fromArray(SPECIES, xa, xo + i * in + j)
                                    .fma(FloatVector.broadcast(SPECIES, dya[dyo + i * out + o]), acc);
                        }
                        acc.intoArray(dwa, dwo + o * in + j);      // dw (O, I)
                    }
                } else {
                    for (int o = 0; o < out; o++) {
                        for (int j = vectors * VL; j < in; j++) {
                            float sum = 0f;
                            for (int i = 0; i < n; i++) {
                                sum = Math.fma(xa[xo + i * in + j], dya[dyo + i * out + o], sum);
                            }
                            dwa[dwo + o * in + j] = sum;
                        }
                        if (dba != null) {
                            double bias = 0;
                            for (int i = 0; i < n; i++) {
                                bias += dya[dyo + i * out + o];
                            }
                            dba[dbo + o] = (float) bias;
                        }
                    }
                }
            }
        });
    }
}
