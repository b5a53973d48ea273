package dev.normnet.backend.cpu;

import static dev.normnet.backend.cpu.VectorMath.SPECIES;
import static dev.normnet.backend.cpu.VectorMath.VL;
import static dev.normnet.backend.cpu.VectorMath.laneSum;

import dev.normnet.backend.ConvGeometry;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * The fast convolution (JDK Vector API) for stride 1, on "wide planes": the input plane is
 * zero-padded to (H + 2*pad, W + 2*pad) = (Hp, Wp) and the output is computed for all P*Wp
 * positions of the padded row pitch, the Wp - Q extra columns of each row being discarded. Every
 * filter tap (c, r, s) is then one offset {@code c*Hp*Wp + r*Wp + s} into the padded input, and
 * an output vector is a plain sum over taps of (weight x shifted input vector): one flat loop
 * with the accumulators of four output channels held in registers. Backward-data is the same
 * kernel applied to dy with the filter flipped and transposed; backward-filter is a dot product
 * of wide dy planes with shifted input planes.
 *
 * <p><b>What runs the reference ({@link CpuConv2d}):</b> every direction with stride != 1;
 * backward-data also with a non-square filter or padding > R - 1 (the transposed problem then
 * needs a negative padding).
 *
 * <p>Determinism: every output element is computed by one thread in a fixed order. The filter
 * gradient, a reduction over the batch, is split into fixed chunks of {@value #CHUNK} samples
 * whatever the thread count, and the chunks' partials are merged in order in float64. Sums of
 * products are accumulated in float32 vector lanes (lane partials folded in lane order), so
 * results differ from the reference by float32 rounding only.
 */
final class VectorConv2d implements CpuOps.Conv2d {
    /** Samples per partial sum of the filter gradient; fixed so results do not depend on the thread count. */
    static final int CHUNK = 16;

    private final WorkerPool pool;
    private final CpuOps.Conv2d reference;

    /** Per-worker scratch, grown on demand and reused across calls. */
    private final float[][] padded;     // (C, Hp, Wp) + tail: one zero-padded input sample
    private final float[][] wide;       // (K, L): one sample's output or gradient on wide planes
    private final float[][] lanes;      // (K * CRS, VL): lane partials of the filter gradient
    private final int[][] taps;         // (CRS): tap offsets into a padded sample
    private final int[] paddedKey;      // geometry each worker's padded buffer was zeroed for
    private float[] flipped = new float[0];       // (C, K, R, S): flipped filter for backward-data
    private double[] chunkPartials = new double[0]; // (chunks, K * CRS + K)

    VectorConv2d(WorkerPool pool, CpuOps.Conv2d reference) {
        this.pool = pool;
        this.reference = reference;
        int threads = pool.threads();
        padded = new float[threads][0];
        wide = new float[threads][0];
        lanes = new float[threads][0];
        taps = new int[threads][0];
        paddedKey = new int[threads];
        Arrays.fill(paddedKey, -1);
    }

    /** Geometry of a stride-1 convolution on wide planes. */
    private record Wide(int c, int h, int w, int k, int r, int s, int pad, int hp, int wp, int p, int q,
                        int length, int rounded) {
        static Wide of(int c, int h, int w, int k, int r, int s, int pad, int p, int q) {
            int hp = h + 2 * pad;
            int wp = w + 2 * pad;
            int length = p * wp;                          // output positions on the padded row pitch
            int rounded = (length + 2 * VL - 1) / (2 * VL) * (2 * VL);   // kernels step two vectors at a time
            return new Wide(c, h, w, k, r, s, pad, hp, wp, p, q, length, rounded);
        }

        int crs() {
            return c * r * s;
        }

        /** Floats in a padded sample, with room for the last vector of the last tap to read zeros. */
        int paddedSize() {
            return c * hp * wp + rounded + VL;
        }

        int key() {
            return ((c * 4099 + hp) * 4099 + wp) * 31 + pad;
        }
    }

    @Override
    public void forward(CpuTensor cx, CpuTensor cw, CpuTensor cb, CpuTensor cy, ConvGeometry g) {
        if (g.stride() != 1) {
            reference.forward(cx, cw, cb, cy, g);   // strided: the reference
            return;
        }
        Wide v = Wide.of(g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.pad(), g.p(), g.q());
        convWide(cx.data(), cx.off(), cw.data(), cw.off(), cb == null ? null : cb.data(), cb == null ? 0 : cb.off(),
                cy.data(), cy.off(), g.n(), v);
    }

    @Override
    public void backwardData(CpuTensor cdy, CpuTensor cw, CpuTensor cdx, ConvGeometry g) {
        if (g.stride() != 1 || g.r() != g.s() || g.pad() > g.r() - 1) {
            reference.backwardData(cdy, cw, cdx, g);   // the transposed problem needs stride 1 and one padding >= 0
            return;
        }
        int k = g.k(), c = g.c(), r = g.r(), s = g.s();
        int size = k * c * r * s;
        if (flipped.length < size) {
            flipped = new float[size];
        }
        float[] wa = cw.data();
        int wo = cw.off();
        for (int kk = 0; kk < k; kk++) {
            for (int cc = 0; cc < c; cc++) {
                for (int rr = 0; rr < r; rr++) {
                    for (int ss = 0; ss < s; ss++) {
                        flipped[((cc * k + kk) * r + (r - 1 - rr)) * s + (s - 1 - ss)] =
                                wa[wo + ((kk * c + cc) * r + rr) * s + ss];
                    }
                }
            }
        }
        int pad = g.r() - 1 - g.pad();
        Wide v = Wide.of(k, g.p(), g.q(), c, r, s, pad, g.h(), g.w());
        convWide(cdy.data(), cdy.off(), flipped, 0, null, 0, cdx.data(), cdx.off(), g.n(), v);
    }

    /** y (N, K, P, Q) = conv(x (N, C, H, W), w (K, C, R, S)) + b, stride 1, on wide planes; split over samples. */
    private void convWide(float[] x, int xo, float[] w, int wo, float[] b, int bo, float[] y, int yo, int n, Wide v) {
        pool.run(n, 1, (from, to, worker) -> {
            float[] xp = paddedBuffer(worker, v);
            float[] yw = wideBuffer(worker, v.k() * v.rounded());
            int[] toff = tapOffsets(worker, v);
            for (int i = from; i < to; i++) {
                padSample(x, xo + i * v.c() * v.h() * v.w(), xp, v);
                int kk = 0;
                for (; kk + 4 <= v.k(); kk += 4) {
                    forwardBlock4(xp, toff, w, wo + kk * v.crs(), v.crs(), yw, kk * v.rounded(), v.rounded());
                }
                for (; kk + 2 <= v.k(); kk += 2) {
                    forwardBlock2(xp, toff, w, wo + kk * v.crs(), v.crs(), yw, kk * v.rounded(), v.rounded());
                }
                for (; kk < v.k(); kk++) {
                    forwardBlock1(xp, toff, w, wo + kk * v.crs(), v.crs(), yw, kk * v.rounded(), v.rounded());
                }
                int yPlane = yo + i * v.k() * v.p() * v.q();         // y (N, K, P, Q)
                for (int k = 0; k < v.k(); k++) {
                    float bias = b == null ? 0f : b[bo + k];
                    for (int p = 0; p < v.p(); p++) {
                        int src = k * v.rounded() + p * v.wp();
                        int dst = yPlane + (k * v.p() + p) * v.q();
                        for (int q = 0; q < v.q(); q++) {
                            y[dst + q] = yw[src + q] + bias;
                        }
                    }
                }
            }
        });
    }

    /**
     * Four output channels: out[outBase + j*rounded + i] = sum over taps t of w[wBase + j*crs + t] * xp[toff[t] + i],
     * two vectors of positions per step (eight accumulators: each weight broadcast serves two FMAs).
     */
    private static void forwardBlock4(float[] xp, int[] toff, float[] w, int wBase, int crs,
                                      float[] out, int outBase, int rounded) {
        for (int i = 0; i < rounded; i += 2 * VL) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES);
            FloatVector a2 = FloatVector.zero(SPECIES);
            FloatVector a3 = FloatVector.zero(SPECIES);
            FloatVector b0 = FloatVector.zero(SPECIES);
            FloatVector b1 = FloatVector.zero(SPECIES);
            FloatVector b2 = FloatVector.zero(SPECIES);
            FloatVector b3 = FloatVector.zero(SPECIES);
            for (int t = 0; t < crs; t++) {
                int xb = toff[t] + i;
                FloatVector xa = FloatVector.fromArray(SPECIES, xp, xb);
                FloatVector xc = FloatVector.fromArray(SPECIES, xp, xb + VL);
                FloatVector w0 = FloatVector.broadcast(SPECIES, w[wBase + t]);
                a0 = xa.fma(w0, a0);
                b0 = xc.fma(w0, b0);
                FloatVector w1 = FloatVector.broadcast(SPECIES, w[wBase + crs + t]);
                a1 = xa.fma(w1, a1);
                b1 = xc.fma(w1, b1);
                FloatVector w2 = FloatVector.broadcast(SPECIES, w[wBase + 2 * crs + t]);
                a2 = xa.fma(w2, a2);
                b2 = xc.fma(w2, b2);
                FloatVector w3 = FloatVector.broadcast(SPECIES, w[wBase + 3 * crs + t]);
                a3 = xa.fma(w3, a3);
                b3 = xc.fma(w3, b3);
            }
            a0.intoArray(out, outBase + i);
            b0.intoArray(out, outBase + i + VL);
            a1.intoArray(out, outBase + rounded + i);
            b1.intoArray(out, outBase + rounded + i + VL);
            a2.intoArray(out, outBase + 2 * rounded + i);
            b2.intoArray(out, outBase + 2 * rounded + i + VL);
            a3.intoArray(out, outBase + 3 * rounded + i);
            b3.intoArray(out, outBase + 3 * rounded + i + VL);
        }
    }

    private static void forwardBlock2(float[] xp, int[] toff, float[] w, int wBase, int crs,
                                      float[] out, int outBase, int rounded) {
        for (int i = 0; i < rounded; i += VL) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES);
            for (int t = 0; t < crs; t++) {
                FloatVector xv = FloatVector.fromArray(SPECIES, xp, toff[t] + i);
                a0 = xv.fma(FloatVector.broadcast(SPECIES, w[wBase + t]), a0);
                a1 = xv.fma(FloatVector.broadcast(SPECIES, w[wBase + crs + t]), a1);
            }
            a0.intoArray(out, outBase + i);
            a1.intoArray(out, outBase + rounded + i);
        }
    }

    private static void forwardBlock1(float[] xp, int[] toff, float[] w, int wBase, int crs,
                                      float[] out, int outBase, int rounded) {
        for (int i = 0; i < rounded; i += VL) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            for (int t = 0; t < crs; t++) {
                FloatVector xv = FloatVector.fromArray(SPECIES, xp, toff[t] + i);
                a0 = xv.fma(FloatVector.broadcast(SPECIES, w[wBase + t]), a0);
            }
            a0.intoArray(out, outBase + i);
        }
    }

    @Override
    public void backwardFilter(CpuTensor cx, CpuTensor cdy, CpuTensor cdw, CpuTensor cdb, ConvGeometry g) {
        if (g.stride() != 1) {
            reference.backwardFilter(cx, cdy, cdw, cdb, g);   // strided: the reference
            return;
        }
        Wide v = Wide.of(g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.pad(), g.p(), g.q());
        int n = g.n();
        int kcrs = v.k() * v.crs();
        int stride = kcrs + v.k();                              // per chunk: dw partial, then db partial
        int chunks = (n + CHUNK - 1) / CHUNK;
        if (chunkPartials.length < chunks * stride) {
            chunkPartials = new double[chunks * stride];
        }
        double[] partials = chunkPartials;
        float[] xa = cx.data(), dya = cdy.data();
        int xo = cx.off(), dyo = cdy.off();
        pool.run(chunks, 1, (from, to, worker) -> {
            float[] xp = paddedBuffer(worker, v);
            float[] dyw = wideBuffer(worker, v.k() * v.rounded());
            int[] toff = tapOffsets(worker, v);
            float[] lane = laneBuffer(worker, kcrs * VL);
            for (int chunk = from; chunk < to; chunk++) {
                Arrays.fill(lane, 0, kcrs * VL, 0f);
                int base = chunk * stride;
                Arrays.fill(partials, base + kcrs, base + stride, 0.0);
                for (int i = chunk * CHUNK; i < Math.min(n, (chunk + 1) * CHUNK); i++) {
                    padSample(xa, xo + i * v.c() * v.h() * v.w(), xp, v);
                    int dyPlane = dyo + i * v.k() * v.p() * v.q();   // dy (N, K, P, Q)
                    for (int k = 0; k < v.k(); k++) {
                        double sum = 0;
                        for (int p = 0; p < v.p(); p++) {
                            int src = dyPlane + (k * v.p() + p) * v.q();
                            int dst = k * v.rounded() + p * v.wp();
                            System.arraycopy(dya, src, dyw, dst, v.q());
                            float row = 0f;
                            for (int q = 0; q < v.q(); q++) {
                                row += dya[src + q];
                            }
                            sum += row;
                        }
                        partials[base + kcrs + k] += sum;
                    }
                    int kk = 0;
                    for (; kk + 4 <= v.k(); kk += 4) {
                        filterBlock4(xp, toff, dyw, kk * v.rounded(), v.rounded(), v.crs(), lane, kk * v.crs());
                    }
                    for (; kk + 2 <= v.k(); kk += 2) {
                        filterBlock2(xp, toff, dyw, kk * v.rounded(), v.rounded(), v.crs(), lane, kk * v.crs());
                    }
                    for (; kk < v.k(); kk++) {
                        filterBlock1(xp, toff, dyw, kk * v.rounded(), v.rounded(), v.crs(), lane, kk * v.crs());
                    }
                }
                for (int j = 0; j < kcrs; j++) {
                    partials[base + j] = laneSum(FloatVector.fromArray(SPECIES, lane, j * VL));
                }
            }
        });
        float[] dwa = cdw.data();
        int dwo = cdw.off();
        for (int j = 0; j < kcrs; j++) {
            double s = 0;
            for (int chunk = 0; chunk < chunks; chunk++) {
                s += partials[chunk * stride + j];
            }
            dwa[dwo + j] = (float) s;
        }
        if (cdb != null) {
            for (int k = 0; k < v.k(); k++) {
                double s = 0;
                for (int chunk = 0; chunk < chunks; chunk++) {
                    s += partials[chunk * stride + kcrs + k];
                }
                cdb.set(k, (float) s);
            }
        }
    }

    /**
     * Lane partials of dw for four output channels of one sample:
     * lane[(kt + j*crs + t)*VL ..] += sum over i of dyw[dyBase + j*rounded + i] * xp[toff[t] + i].
     * The wide dy planes are zero in the discarded columns, so those positions add nothing. Two taps
     * per step (eight accumulators: each dy vector loaded serves two FMAs).
     */
    private static void filterBlock4(float[] xp, int[] toff, float[] dyw, int dyBase, int rounded, int crs,
                                     float[] lane, int kt) {
        int t = 0;
        for (; t + 2 <= crs; t += 2) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES);
            FloatVector a2 = FloatVector.zero(SPECIES);
            FloatVector a3 = FloatVector.zero(SPECIES);
            FloatVector b0 = FloatVector.zero(SPECIES);
            FloatVector b1 = FloatVector.zero(SPECIES);
            FloatVector b2 = FloatVector.zero(SPECIES);
            FloatVector b3 = FloatVector.zero(SPECIES);
            int xa = toff[t];
            int xc = toff[t + 1];
            for (int i = 0; i < rounded; i += VL) {
                FloatVector u = FloatVector.fromArray(SPECIES, xp, xa + i);
                FloatVector v = FloatVector.fromArray(SPECIES, xp, xc + i);
                FloatVector d0 = FloatVector.fromArray(SPECIES, dyw, dyBase + i);
                a0 = d0.fma(u, a0);
                b0 = d0.fma(v, b0);
                FloatVector d1 = FloatVector.fromArray(SPECIES, dyw, dyBase + rounded + i);
                a1 = d1.fma(u, a1);
                b1 = d1.fma(v, b1);
                FloatVector d2 = FloatVector.fromArray(SPECIES, dyw, dyBase + 2 * rounded + i);
                a2 = d2.fma(u, a2);
                b2 = d2.fma(v, b2);
                FloatVector d3 = FloatVector.fromArray(SPECIES, dyw, dyBase + 3 * rounded + i);
                a3 = d3.fma(u, a3);
                b3 = d3.fma(v, b3);
            }
            addLanes(lane, (kt + t) * VL, a0);
            addLanes(lane, (kt + t + 1) * VL, b0);
            addLanes(lane, (kt + crs + t) * VL, a1);
            addLanes(lane, (kt + crs + t + 1) * VL, b1);
            addLanes(lane, (kt + 2 * crs + t) * VL, a2);
            addLanes(lane, (kt + 2 * crs + t + 1) * VL, b2);
            addLanes(lane, (kt + 3 * crs + t) * VL, a3);
            addLanes(lane, (kt + 3 * crs + t + 1) * VL, b3);
        }
        for (; t < crs; t++) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES);
            FloatVector a2 = FloatVector.zero(SPECIES);
            FloatVector a3 = FloatVector.zero(SPECIES);
            int xb = toff[t];
            for (int i = 0; i < rounded; i += VL) {
                FloatVector xv = FloatVector.fromArray(SPECIES, xp, xb + i);
                a0 = FloatVector.fromArray(SPECIES, dyw, dyBase + i).fma(xv, a0);
                a1 = FloatVector.fromArray(SPECIES, dyw, dyBase + rounded + i).fma(xv, a1);
                a2 = FloatVector.fromArray(SPECIES, dyw, dyBase + 2 * rounded + i).fma(xv, a2);
                a3 = FloatVector.fromArray(SPECIES, dyw, dyBase + 3 * rounded + i).fma(xv, a3);
            }
            addLanes(lane, (kt + t) * VL, a0);
            addLanes(lane, (kt + crs + t) * VL, a1);
            addLanes(lane, (kt + 2 * crs + t) * VL, a2);
            addLanes(lane, (kt + 3 * crs + t) * VL, a3);
        }
    }

    /** lane[at .. at + VL) += v. */
    private static void addLanes(float[] lane, int at, FloatVector v) {
        FloatVector.fromArray(SPECIES, lane, at).add(v).intoArray(lane, at);
    }

    private static void filterBlock2(float[] xp, int[] toff, float[] dyw, int dyBase, int rounded, int crs,
                                     float[] lane, int kt) {
        for (int t = 0; t < crs; t++) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES);
            int xb = toff[t];
            for (int i = 0; i < rounded; i += VL) {
                FloatVector xv = FloatVector.fromArray(SPECIES, xp, xb + i);
                a0 = FloatVector.fromArray(SPECIES, dyw, dyBase + i).fma(xv, a0);
                a1 = FloatVector.fromArray(SPECIES, dyw, dyBase + rounded + i).fma(xv, a1);
            }
            int l0 = (kt + t) * VL;
            FloatVector.fromArray(SPECIES, lane, l0).add(a0).intoArray(lane, l0);
            int l1 = (kt + crs + t) * VL;
            FloatVector.fromArray(SPECIES, lane, l1).add(a1).intoArray(lane, l1);
        }
    }

    private static void filterBlock1(float[] xp, int[] toff, float[] dyw, int dyBase, int rounded, int crs,
                                     float[] lane, int kt) {
        for (int t = 0; t < crs; t++) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            int xb = toff[t];
            for (int i = 0; i < rounded; i += VL) {
                a0 = FloatVector.fromArray(SPECIES, dyw, dyBase + i).fma(FloatVector.fromArray(SPECIES, xp, xb + i), a0);
            }
            int l0 = (kt + t) * VL;
            FloatVector.fromArray(SPECIES, lane, l0).add(a0).intoArray(lane, l0);
        }
    }

    /** Copies one sample (C, H, W) into the interior of the worker's zero-padded buffer. */
    private static void padSample(float[] x, int xBase, float[] xp, Wide v) {
        int plane = v.hp() * v.wp();
        for (int c = 0; c < v.c(); c++) {
            for (int h = 0; h < v.h(); h++) {
                System.arraycopy(x, xBase + (c * v.h() + h) * v.w(), xp, c * plane + (h + v.pad()) * v.wp() + v.pad(), v.w());
            }
        }
    }

    /** The worker's padded-sample buffer, zeroed whenever the geometry changes (only the interior is ever written). */
    private float[] paddedBuffer(int worker, Wide v) {
        int size = v.paddedSize();
        if (padded[worker].length < size) {
            padded[worker] = new float[size];
            paddedKey[worker] = v.key();
        } else if (paddedKey[worker] != v.key()) {
            Arrays.fill(padded[worker], 0f);
            paddedKey[worker] = v.key();
        }
        return padded[worker];
    }

    /** The worker's wide-plane buffer, zero-filled (the discarded columns must read as zero in backward-filter). */
    private float[] wideBuffer(int worker, int size) {
        if (wide[worker].length < size) {
            wide[worker] = new float[size];
        } else {
            Arrays.fill(wide[worker], 0, size, 0f);
        }
        return wide[worker];
    }

    private float[] laneBuffer(int worker, int size) {
        if (lanes[worker].length < size) {
            lanes[worker] = new float[size];
        }
        return lanes[worker];
    }

    /** Offsets of the taps (c, r, s) into a padded sample, in the filter's (C, R, S) order. */
    private int[] tapOffsets(int worker, Wide v) {
        int crs = v.crs();
        if (taps[worker].length < crs) {
            taps[worker] = new int[crs];
        }
        int[] toff = taps[worker];
        int t = 0;
        for (int c = 0; c < v.c(); c++) {
            for (int r = 0; r < v.r(); r++) {
                for (int s = 0; s < v.s(); s++) {
                    toff[t++] = c * v.hp() * v.wp() + r * v.wp() + s;
                }
            }
        }
        return toff;
    }
}
