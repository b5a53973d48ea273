package dev.normnet.backend.cpu;

import static dev.normnet.backend.cpu.VectorMath.SPECIES;
import static dev.normnet.backend.cpu.VectorMath.VL;
import static dev.normnet.backend.cpu.VectorMath.affine;
import static dev.normnet.backend.cpu.VectorMath.laneSum;
import static dev.normnet.backend.cpu.VectorMath.squaredDeviations;
import static dev.normnet.backend.cpu.VectorMath.sum;

import dev.normnet.backend.NormGeometry;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The fast batch norm (JDK Vector API) over (N, C, H, W): the reference's two passes, each plane
 * of H*W values summed in float32 vector lanes (lanes folded in order) and the planes in float64;
 * the backward pass likewise, with dx written as one fused a*dy + b*(x - mean) + c per element.
 *
 * <p>2-D inputs (N, C) (H*W = 1, after a linear layer) put the channels in the lanes of float64
 * vectors ({@link #forwardTrainRows} and the like): the reference's arithmetic, operation for
 * operation, so their bits equal the reference's; channels left over after whole vectors run the
 * reference's code per channel.
 *
 * <p><b>What runs the reference ({@link CpuBatchNorm}):</b> inputs whose planes are longer than
 * one value but shorter than one vector (1 < H*W < {@code VL}).
 */
final class VectorBatchNorm implements CpuOps.BatchNorm {
    /** float64 lanes for the 2-D path, and the float species of the same lane count to load and store. */
    private static final VectorSpecies<Double> DS = DoubleVector.SPECIES_PREFERRED;
    private static final int DL = DS.length();
    private static final VectorSpecies<Float> FS =
            VectorSpecies.of(float.class, VectorShape.forBitSize(DS.vectorBitSize() / 2));

    private final WorkerPool pool;
    private final CpuOps.BatchNorm reference;

    VectorBatchNorm(WorkerPool pool, CpuOps.BatchNorm reference) {
        this.pool = pool;
        this.reference = reference;
    }

    @Override
    public void forwardTrain(CpuTensor cx, CpuTensor cg, CpuTensor cb, CpuTensor crm, CpuTensor crv, CpuTensor cy,
                             CpuTensor csm, CpuTensor csi, float momentum, float eps, NormGeometry d) {
        if (d.hw() == 1) {
            forwardTrainRows(cx, cg, cb, crm, crv, cy, csm, csi, momentum, eps, d);
            return;
        }
        if (d.hw() < VL) {
            reference.forwardTrain(cx, cg, cb, crm, crv, cy, csm, csi, momentum, eps, d);   // short planes: the reference
            return;
        }
        int values = Math.toIntExact(d.m());
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        int hw = d.hw();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                int m = values;
                double total = 0;
                for (int i = 0; i < d.n(); i++) {
                    total += sum(xa, xo + (i * d.c() + c) * hw, hw);
                }
                double mean = total / m;
                double squares = 0;
                for (int i = 0; i < d.n(); i++) {
                    squares += squaredDeviations(xa, xo + (i * d.c() + c) * hw, hw, (float) mean);
                }
                double var = squares / m;                     // biased, used to normalize
                double invStd = 1.0 / Math.sqrt(var + eps);
                float scale = (float) (cg.get(c) * invStd);
                float shift = (float) (cb.get(c) - mean * cg.get(c) * invStd);
                for (int i = 0; i < d.n(); i++) {
                    affine(xa, xo + (i * d.c() + c) * hw, ya, yo + (i * d.c() + c) * hw, hw, scale, shift);
                }
                CpuBatchNorm.saveStatistics(c, mean, invStd, squares, m, momentum, csm, csi, crm, crv);
            }
        });
    }

    @Override
    public void forwardEval(CpuTensor cx, CpuTensor cg, CpuTensor cb, CpuTensor crm, CpuTensor crv, CpuTensor cy,
                            float eps, NormGeometry d) {
        if (d.hw() == 1) {
            forwardEvalRows(cx, cg, cb, crm, crv, cy, eps, d);
            return;
        }
        if (d.hw() < VL) {
            reference.forwardEval(cx, cg, cb, crm, crv, cy, eps, d);   // short planes: the reference
            return;
        }
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        int hw = d.hw();
        pool.run(d.n() * d.c(), 1, (from, to, worker) -> {
            for (int nc = from; nc < to; nc++) {
                int c = nc % d.c();
                double s = cg.get(c) / Math.sqrt((double) crv.get(c) + eps);
                affine(xa, xo + nc * hw, ya, yo + nc * hw, hw, (float) s, (float) (cb.get(c) - crm.get(c) * s));
            }
        });
    }

    @Override
    public void backward(CpuTensor cx, CpuTensor cdy, CpuTensor cg, CpuTensor csm, CpuTensor csi, CpuTensor cdx,
                         CpuTensor cdg, CpuTensor cdb, NormGeometry d) {
        if (d.hw() == 1) {
            backwardRows(cx, cdy, cg, csm, csi, cdx, cdg, cdb, d);
            return;
        }
        if (d.hw() < VL) {
            reference.backward(cx, cdy, cg, csm, csi, cdx, cdg, cdb, d);   // short planes: the reference
            return;
        }
        int values = Math.toIntExact(d.m());
        float[] xa = cx.data(), dya = cdy.data(), dxa = cdx.data();
        int xo = cx.off(), dyo = cdy.off(), dxo = cdx.off();
        int hw = d.hw();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                int m = values;
                float mean = csm.get(c);
                double invStd = csi.get(c);
                double sumDy = 0;
                double sumDyCentered = 0;                      // sum(dy * (x - mean)); times invStd gives sum(dy * xhat)
                FloatVector mv = FloatVector.broadcast(SPECIES, mean);
                for (int i = 0; i < d.n(); i++) {
                    int xb = xo + (i * d.c() + c) * hw;
                    int gb = dyo + (i * d.c() + c) * hw;
                    FloatVector s1 = FloatVector.zero(SPECIES);
                    FloatVector s2 = FloatVector.zero(SPECIES);
                    int j = 0;
                    for (; j + VL <= hw; j += VL) {
                        FloatVector g = FloatVector.fromArray(SPECIES, dya, gb + j);
                        s1 = s1.add(g);
                        s2 = g.fma(FloatVector.fromArray(SPECIES, xa, xb + j).sub(mv), s2);
                    }
                    float t1 = laneSum(s1);
                    float t2 = laneSum(s2);
                    for (; j < hw; j++) {
                        t1 += dya[gb + j];
                        t2 += dya[gb + j] * (xa[xb + j] - mean);
                    }
                    sumDy += t1;
                    sumDyCentered += t2;
                }
                double sumDyXhat = sumDyCentered * invStd;
                // dx = k * (m * dy - sumDy - xhat * sumDyXhat) = a * dy + b * (x - mean) + c0
                double k = cg.get(c) * invStd / m;
                float a = (float) (k * m);
                float b = (float) (-k * invStd * sumDyXhat);
                float c0 = (float) (-k * sumDy);
                FloatVector av = FloatVector.broadcast(SPECIES, a);
                FloatVector bv = FloatVector.broadcast(SPECIES, b);
                FloatVector cv = FloatVector.broadcast(SPECIES, c0);
                for (int i = 0; i < d.n(); i++) {
                    int xb = xo + (i * d.c() + c) * hw;
                    int gb = dyo + (i * d.c() + c) * hw;
                    int ob = dxo + (i * d.c() + c) * hw;
                    int j = 0;
                    for (; j + VL <= hw; j += VL) {
                        FloatVector g = FloatVector.fromArray(SPECIES, dya, gb + j);
                        FloatVector xc = FloatVector.fromArray(SPECIES, xa, xb + j).sub(mv);
                        g.fma(av, xc.fma(bv, cv)).intoArray(dxa, ob + j);
                    }
                    for (; j < hw; j++) {
                        dxa[ob + j] = dya[gb + j] * a + ((xa[xb + j] - mean) * b + c0);
                    }
                }
                cdg.set(c, (float) sumDyXhat);
                cdb.set(c, (float) sumDy);
            }
        });
    }

    // ---------------------------------------------------------------- 2-D inputs (N, C)

    /** floats a[at .. at + DL) as float64 lanes. */
    private static DoubleVector load(float[] a, int at) {
        return (DoubleVector) FloatVector.fromArray(FS, a, at).convertShape(VectorOperators.F2D, DS, 0);
    }

    /** v rounded to float32 (as a cast does) into a[at .. at + DL). */
    private static void store(DoubleVector v, float[] a, int at) {
        ((FloatVector) v.convertShape(VectorOperators.D2F, FS, 0)).intoArray(a, at);
    }

    /** Work items of the 2-D path: whole vectors of channels, then one item per channel left over. */
    private static int rowItems(int channels) {
        return channels / DL + channels % DL;
    }

    /** {@link CpuBatchNorm#trainChannel} for DL channels at a time. */
    private void forwardTrainRows(CpuTensor cx, CpuTensor cg, CpuTensor cb, CpuTensor crm, CpuTensor crv, CpuTensor cy,
                                  CpuTensor csm, CpuTensor csi, float momentum, float eps, NormGeometry d) {
        int n = d.n(), channels = d.c(), blocks = channels / DL;
        int m = Math.toIntExact(d.m());
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(rowItems(channels), 1, (from, to, worker) -> {
            for (int item = from; item < to; item++) {
                if (item >= blocks) {
                    CpuBatchNorm.trainChannel(blocks * DL + item - blocks, xa, xo, ya, yo, cg, cb, crm, crv, csm, csi,
                            momentum, eps, d);
                    continue;
                }
                int c = item * DL;
                DoubleVector sum = DoubleVector.zero(DS);
                for (int i = 0; i < n; i++) {
                    sum = sum.add(load(xa, xo + i * channels + c));
                }
                DoubleVector mean = sum.div(m);
                DoubleVector squares = DoubleVector.zero(DS);
                for (int i = 0; i < n; i++) {
                    DoubleVector dev = load(xa, xo + i * channels + c).sub(mean);
                    squares = squares.add(dev.mul(dev));
                }
                DoubleVector var = squares.div(m);                 // biased, used to normalize
                DoubleVector invStd = DoubleVector.broadcast(DS, 1.0).div(var.add(eps).lanewise(VectorOperators.SQRT));
                DoubleVector scale = load(cg.data(), cg.off() + c).mul(invStd);
                DoubleVector shift = load(cb.data(), cb.off() + c);
                for (int i = 0; i < n; i++) {
                    store(load(xa, xo + i * channels + c).sub(mean).mul(scale).add(shift), ya, yo + i * channels + c);
                }
                for (int l = 0; l < DL; l++) {
                    CpuBatchNorm.saveStatistics(c + l, mean.lane(l), invStd.lane(l), squares.lane(l), m, momentum,
                            csm, csi, crm, crv);
                }
            }
        });
    }

    /** {@link CpuBatchNorm#evalChannel} for DL channels at a time. */
    private void forwardEvalRows(CpuTensor cx, CpuTensor cg, CpuTensor cb, CpuTensor crm, CpuTensor crv, CpuTensor cy,
                                 float eps, NormGeometry d) {
        int n = d.n(), channels = d.c(), blocks = channels / DL;
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(rowItems(channels), 1, (from, to, worker) -> {
            for (int item = from; item < to; item++) {
                if (item >= blocks) {
                    CpuBatchNorm.evalChannel(blocks * DL + item - blocks, xa, xo, ya, yo, cg, cb, crm, crv, eps, d);
                    continue;
                }
                int c = item * DL;
                DoubleVector mean = load(crm.data(), crm.off() + c);
                DoubleVector scale = load(cg.data(), cg.off() + c)
                        .div(load(crv.data(), crv.off() + c).add(eps).lanewise(VectorOperators.SQRT));
                DoubleVector shift = load(cb.data(), cb.off() + c);
                for (int i = 0; i < n; i++) {
                    store(load(xa, xo + i * channels + c).sub(mean).mul(scale).add(shift), ya, yo + i * channels + c);
                }
            }
        });
    }

    /** {@link CpuBatchNorm#backwardChannel} for DL channels at a time. */
    private void backwardRows(CpuTensor cx, CpuTensor cdy, CpuTensor cg, CpuTensor csm, CpuTensor csi, CpuTensor cdx,
                              CpuTensor cdg, CpuTensor cdb, NormGeometry d) {
        int n = d.n(), channels = d.c(), blocks = channels / DL;
        int m = Math.toIntExact(d.m());
        float[] xa = cx.data(), dya = cdy.data(), dxa = cdx.data();
        int xo = cx.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(rowItems(channels), 1, (from, to, worker) -> {
            for (int item = from; item < to; item++) {
                if (item >= blocks) {
                    CpuBatchNorm.backwardChannel(blocks * DL + item - blocks, xa, xo, dya, dyo, dxa, dxo, cg, csm, csi,
                            cdg, cdb, d);
                    continue;
                }
                int c = item * DL;
                DoubleVector mean = load(csm.data(), csm.off() + c);
                DoubleVector invStd = load(csi.data(), csi.off() + c);
                DoubleVector sumDy = DoubleVector.zero(DS);
                DoubleVector sumDyXhat = DoubleVector.zero(DS);
                for (int i = 0; i < n; i++) {
                    DoubleVector g = load(dya, dyo + i * channels + c);
                    sumDy = sumDy.add(g);
                    sumDyXhat = sumDyXhat.add(g.mul(load(xa, xo + i * channels + c).sub(mean).mul(invStd)));
                }
                DoubleVector k = load(cg.data(), cg.off() + c).mul(invStd).div(m);
                for (int i = 0; i < n; i++) {
                    DoubleVector xhat = load(xa, xo + i * channels + c).sub(mean).mul(invStd);
                    DoubleVector g = load(dya, dyo + i * channels + c);
                    store(k.mul(g.mul(m).sub(sumDy).sub(xhat.mul(sumDyXhat))), dxa, dxo + i * channels + c);
                }
                store(sumDyXhat, cdg.data(), cdg.off() + c);
                store(sumDy, cdb.data(), cdb.off() + c);
            }
        });
    }
}
