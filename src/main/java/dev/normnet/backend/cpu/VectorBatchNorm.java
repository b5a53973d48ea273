package dev.normnet.backend.cpu;

import static dev.normnet.backend.cpu.VectorMath.SPECIES;
import static dev.normnet.backend.cpu.VectorMath.VL;
import static dev.normnet.backend.cpu.VectorMath.affine;
import static dev.normnet.backend.cpu.VectorMath.laneSum;
import static dev.normnet.backend.cpu.VectorMath.squaredDeviations;
import static dev.normnet.backend.cpu.VectorMath.sum;

import dev.normnet.backend.NormGeometry;
import jdk.incubator.vector.FloatVector;

/**
 * The fast batch norm (JDK Vector API) over (N, C, H, W): the reference's two passes, each plane
 * of H*W values summed in float32 vector lanes (lanes folded in order) and the planes in float64;
 * the backward pass likewise, with dx written as one fused a*dy + b*(x - mean) + c per element.
 *
 * <p><b>What runs the reference ({@link CpuBatchNorm}):</b> inputs whose planes are shorter than
 * one vector (H*W < {@code VL}), which includes every 2-D (N, C) input.
 */
final class VectorBatchNorm implements CpuOps.BatchNorm {
    private final WorkerPool pool;
    private final CpuOps.BatchNorm reference;

    VectorBatchNorm(WorkerPool pool, CpuOps.BatchNorm reference) {
        this.pool = pool;
        this.reference = reference;
    }

    @Override
    public void forwardTrain(CpuTensor cx, CpuTensor cg, CpuTensor cb, CpuTensor crm, CpuTensor crv, CpuTensor cy,
                             CpuTensor csm, CpuTensor csi, float momentum, float eps, NormGeometry d) {
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
}
