package dev.normnet.backend.cpu;

import dev.normnet.backend.ConvGeometry;
import dev.normnet.backend.ConvSpec;
import dev.normnet.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.Arrays;

/**
 * The fast CPU path: the ops that dominate LeNet-BN training rewritten with the JDK Vector API
 * ({@code jdk.incubator.vector}, so the JVM needs {@code --add-modules jdk.incubator.vector}).
 * Everything else, and every case a fast kernel does not cover (strided convolution, say), is
 * the reference {@link CpuBackend}; the tests check each fast op against it.
 *
 * <p>Convolution (stride 1) works on "wide planes": the input plane is zero-padded to
 * (H + 2*pad, W + 2*pad) = (Hp, Wp) and the output is computed for all P*Wp positions of the
 * padded row pitch, the Wp - Q extra columns of each row being discarded. Every filter tap (c, r,
 * s) is then one offset {@code c*Hp*Wp + r*Wp + s} into the padded input, and an output vector is
 * a plain sum over taps of (weight x shifted input vector): one flat loop with the accumulators
 * of four output channels held in registers. Backward-data is the same kernel applied to dy with
 * the filter flipped and transposed; backward-filter is a dot product of wide dy planes with
 * shifted input planes.
 *
 * <p>Determinism: every output element is computed by one thread in a fixed order. Reductions
 * over the batch (filter and weight gradients) are split into fixed chunks of
 * {@value #CHUNK} samples, whatever the thread count, and the chunks' partials are merged in
 * order in float64. The same inputs give the same bits for any number of threads.
 *
 * <p>Numerics: sums of products are accumulated in float32 vector lanes (the lane partials of
 * long reductions are added in float64), so results differ from the reference path by float32
 * rounding only. A filter-gradient lane partial covers one chunk and is folded with a float32
 * lane reduction before the float64 merge.
 */
public class VectorCpuBackend extends CpuBackend {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final int VL = SPECIES.length();
    /** Samples per partial sum in batch reductions; fixed so results do not depend on the thread count. */
    static final int CHUNK = 16;

    /** Per-worker scratch, grown on demand and reused across calls. */
    private final float[][] padded;     // (C, Hp, Wp) + tail: one zero-padded input sample
    private final float[][] wide;       // (K, L): one sample's output or gradient on wide planes
    private final float[][] lanes;      // (K * CRS, VL): lane partials of the filter gradient
    private final int[][] taps;         // (CRS): tap offsets into a padded sample
    private final int[] paddedKey;      // geometry each worker's padded buffer was zeroed for
    private float[] flipped = new float[0];       // (C, K, R, S): flipped filter for backward-data
    private double[] chunkPartials = new double[0]; // (chunks, K * CRS + K)

    public VectorCpuBackend() {
        this(Runtime.getRuntime().availableProcessors());
    }

    public VectorCpuBackend(int threads) {
        super(threads);
        padded = new float[threads][0];
        wide = new float[threads][0];
        lanes = new float[threads][0];
        taps = new int[threads][0];
        paddedKey = new int[threads];
        Arrays.fill(paddedKey, -1);
    }

    /** Vector width in floats on this machine (16 with AVX-512, 8 with AVX2). */
    public static int vectorLength() {
        return VL;
    }

    @Override
    public String describe() {
        int t = threads();
        return "cpu: " + t + (t == 1 ? " thread" : " threads") + ", " + (VL * 32) + "-bit vectors";
    }

    // ================================================================ convolution

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
    public void conv2dForward(Tensor x, Tensor w, Tensor b, Tensor y, ConvSpec spec) {
        String op = "conv2dForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cw = cpu(op, "w", w);
        CpuTensor cy = cpu(op, "y", y);
        ConvGeometry g = ConvGeometry.forward(op, cx, cw, null, cy, spec);
        if (g.stride() != 1) {
            super.conv2dForward(x, w, b, y, spec);
            return;
        }
        CpuTensor cb = b == null ? null : cpu(op, "b", b);
        if (cb != null) {
            requireShape(op, "b", cb, g.k());
        }
        Wide v = Wide.of(g.c(), g.h(), g.w(), g.k(), g.r(), g.s(), g.pad(), g.p(), g.q());
        convWide(cx.data(), cx.off(), cw.data(), cw.off(), cb == null ? null : cb.data(), cb == null ? 0 : cb.off(),
                cy.data(), cy.off(), g.n(), v);
    }

    @Override
    public void conv2dBackwardData(Tensor dy, Tensor w, Tensor dx, ConvSpec spec) {
        String op = "conv2dBackwardData";
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cw = cpu(op, "w", w);
        CpuTensor cdx = cpu(op, "dx", dx);
        ConvGeometry g = ConvGeometry.backwardData(op, cdy, cw, cdx, spec);
        if (g.stride() != 1 || g.r() != g.s() || g.pad() > g.r() - 1) {
            super.conv2dBackwardData(dy, w, dx, spec);   // the transposed problem needs one padding >= 0
            return;
        }
        // dx = correlation of dy, padded by R-1-pad, with the filter flipped and transposed:
        // flipped[c, k, r, s] = w[k, c, R-1-r, S-1-s].
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
    public void conv2dBackwardFilter(Tensor x, Tensor dy, Tensor dw, Tensor db, ConvSpec spec) {
        String op = "conv2dBackwardFilter";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdw = cpu(op, "dw", dw);
        ConvGeometry g = ConvGeometry.backwardFilter(op, cx, cdy, cdw, null, spec);
        if (g.stride() != 1) {
            super.conv2dBackwardFilter(x, dy, dw, db, spec);
            return;
        }
        CpuTensor cdb = db == null ? null : cpu(op, "db", db);
        if (cdb != null) {
            requireShape(op, "db", cdb, g.k());
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

    // ================================================================ linear

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        String op = "linearForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cw = cpu(op, "w", w);
        CpuTensor cy = cpu(op, "y", y);
        CpuTensor cb = b == null ? null : cpu(op, "b", b);
        checkLinear(op, cx, cw, cy, cb);
        int n = cx.shape().dim(0), in = cx.shape().dim(1), out = cw.shape().dim(0);
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
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        String op = "linearBackwardData";
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cw = cpu(op, "w", w);
        CpuTensor cdx = cpu(op, "dx", dx);
        if (cdy.shape().rank() != 2 || cw.shape().rank() != 2 || cdy.shape().dim(1) != cw.shape().dim(0)
                || cdx.shape().rank() != 2 || cdx.shape().dim(0) != cdy.shape().dim(0)
                || cdx.shape().dim(1) != cw.shape().dim(1)) {
            super.linearBackwardData(dy, w, dx);                  // the reference reports the mismatch
            return;
        }
        int n = cdy.shape().dim(0), out = cw.shape().dim(0), in = cw.shape().dim(1);
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
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw, Tensor db) {
        String op = "linearBackwardWeight";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdw = cpu(op, "dw", dw);
        CpuTensor cdb = db == null ? null : cpu(op, "db", db);
        if (cx.shape().rank() != 2 || cdy.shape().rank() != 2 || cx.shape().dim(0) != cdy.shape().dim(0)
                || cdw.shape().rank() != 2 || cdw.shape().dim(0) != cdy.shape().dim(1)
                || cdw.shape().dim(1) != cx.shape().dim(1)
                || (cdb != null && (cdb.shape().rank() != 1 || cdb.shape().dim(0) != cdy.shape().dim(1)))) {
            super.linearBackwardWeight(x, dy, dw, db);            // the reference reports the mismatch
            return;
        }
        int n = cx.shape().dim(0), in = cx.shape().dim(1), out = cdy.shape().dim(1);
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

    private void checkLinear(String op, CpuTensor cx, CpuTensor cw, CpuTensor cy, CpuTensor cb) {
        if (cx.shape().rank() != 2 || cw.shape().rank() != 2 || cx.shape().dim(1) != cw.shape().dim(1)
                || cy.shape().rank() != 2 || cy.shape().dim(0) != cx.shape().dim(0) || cy.shape().dim(1) != cw.shape().dim(0)
                || (cb != null && (cb.shape().rank() != 1 || cb.shape().dim(0) != cw.shape().dim(0)))) {
            throw new IllegalArgumentException(op + ": expected x (N, I), w (O, I), b (O), y (N, O); got x "
                    + cx.shape() + ", w " + cw.shape() + ", b " + (cb == null ? "null" : cb.shape()) + ", y " + cy.shape());
        }
    }

    // ================================================================ elementwise

    @Override
    public void sigmoidForward(Tensor x, Tensor y) {
        String op = "sigmoidForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        int size = sameSize(op, "x", cx, "y", cy);
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

    private static final FloatVector ONE = FloatVector.broadcast(SPECIES, 1f);

    /**
     * sigmoid(x) = 1 / (1 + e^-x) for x >= 0 and e^x / (1 + e^x) below, so that only e^-|x| is
     * needed; within 2 float ulps of the reference. For x < -87, e^x is below the smallest normal
     * float and is taken as e^-87 (an absolute error under 1.7e-38).
     */
    static FloatVector sigmoid(FloatVector x) {
        FloatVector e = expNonPositive(x.abs().neg());
        return ONE.blend(e, x.lt(0f)).div(e.add(ONE));
    }

    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;           // ln 2 = LN2_HI + LN2_LO, LN2_HI exact in 9 bits
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float ROUNDER = 12582912f;             // 1.5 * 2^23: adding it rounds to an integer

    /**
     * e^x for x in [-87, 0] (clamped below) from IEEE operations only (add, multiply, fma, integer
     * add and shift on the bits), so that the interpreter and every JIT tier give the same bits,
     * and without lane conversions, which JDK 17 does not compile to vector instructions:
     * x = n ln 2 + r with |r| <= ln 2 / 2, where n = round(x log2 e) comes from adding 1.5 * 2^23
     * (n then sits in the low bits of that sum), e^r by its degree-7 Taylor polynomial (truncation
     * error below 7e-9 relative on that interval), scaled by 2^n built in the exponent bits.
     */
    static FloatVector expNonPositive(FloatVector x) {
        FloatVector c = x.max(-87f);
        FloatVector k = c.mul(LOG2E).add(ROUNDER);
        FloatVector n = k.sub(ROUNDER);
        FloatVector r = n.mul(-LN2_HI).add(c);                 // exact: n has at most 7 bits, LN2_HI 9
        r = n.fma(FloatVector.broadcast(SPECIES, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(SPECIES, 1f / 5040f);
        p = p.fma(r, FloatVector.broadcast(SPECIES, 1f / 720f));
        p = p.fma(r, FloatVector.broadcast(SPECIES, 1f / 120f));
        p = p.fma(r, FloatVector.broadcast(SPECIES, 1f / 24f));
        p = p.fma(r, FloatVector.broadcast(SPECIES, 1f / 6f));
        p = p.fma(r, FloatVector.broadcast(SPECIES, 0.5f));
        p = p.fma(r, ONE);
        p = p.fma(r, ONE);
        IntVector bits = (IntVector) k.viewAsIntegralLanes();  // 0x4B400000 + n
        FloatVector scale = (FloatVector) bits.sub(0x4B400000 - 127).lanewise(VectorOperators.LSHL, 23).viewAsFloatingLanes();
        return p.mul(scale);
    }

    @Override
    public void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        String op = "sigmoidBackward";
        CpuTensor cy = cpu(op, "y", y);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdx = cpu(op, "dx", dx);
        int size = sameSize(op, "y", cy, "dy", cdy);
        sameSize(op, "y", cy, "dx", cdx);
        float[] ya = cy.data(), dya = cdy.data(), dxa = cdx.data();
        int yo = cy.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(size, 1 << 14, (from, to, worker) -> {
            for (int j = from; j < to; j++) {
                float s = ya[yo + j];
                dxa[dxo + j] = dya[dyo + j] * s * (1f - s);
            }
        });
    }
    /**
     * The lanes of v added in lane order. {@code reduceLanes(ADD)} leaves the order open, and the
     * interpreter and compiled code choose differently; a fixed order keeps results independent of
     * the JIT's state, so the same seed gives the same bits from the first step on.
     */
    static float laneSum(FloatVector v) {
        float s = v.lane(0);
        for (int l = 1; l < VL; l++) {
            s += v.lane(l);
        }
        return s;
    }

    // ================================================================ batch norm (4-D input)

    /** Sum of a[from .. from+len) in float32 vector lanes, lanes added in order. */
    private static float sum(float[] a, int from, int len) {
        FloatVector acc = FloatVector.zero(SPECIES);
        int j = 0;
        for (; j + VL <= len; j += VL) {
            acc = acc.add(FloatVector.fromArray(SPECIES, a, from + j));
        }
        float s = laneSum(acc);
        for (; j < len; j++) {
            s += a[from + j];
        }
        return s;
    }

    /** Sum of (a - mean)^2 over a[from .. from+len). */
    private static float squaredDeviations(float[] a, int from, int len, float mean) {
        FloatVector m = FloatVector.broadcast(SPECIES, mean);
        FloatVector acc = FloatVector.zero(SPECIES);
        int j = 0;
        for (; j + VL <= len; j += VL) {
            FloatVector d = FloatVector.fromArray(SPECIES, a, from + j).sub(m);
            acc = d.fma(d, acc);
        }
        float s = laneSum(acc);
        for (; j < len; j++) {
            float d = a[from + j] - mean;
            s += d * d;
        }
        return s;
    }

    /** y[from ..] = x[from ..] * scale + shift. */
    private static void affine(float[] x, int xFrom, float[] y, int yFrom, int len, float scale, float shift) {
        FloatVector sc = FloatVector.broadcast(SPECIES, scale);
        FloatVector sh = FloatVector.broadcast(SPECIES, shift);
        int j = 0;
        for (; j + VL <= len; j += VL) {
            FloatVector.fromArray(SPECIES, x, xFrom + j).fma(sc, sh).intoArray(y, yFrom + j);
        }
        for (; j < len; j++) {
            y[yFrom + j] = Math.fma(x[xFrom + j], scale, shift);
        }
    }

    /**
     * Batch norm over (N, C, H, W): the reference's two passes, each plane of H*W values summed in
     * float32 vector lanes and the planes in float64. 2-D inputs take the reference path.
     */
    @Override
    public void batchNormForwardTrain(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                      Tensor y, Tensor saveMean, Tensor saveInvStd, float momentum, float eps) {
        String op = "batchNormForwardTrain";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        NormDims d = normDims(op, cx, cy, "y");
        if (d.hw() < VL || d.m() <= 1) {
            super.batchNormForwardTrain(x, gamma, beta, runningMean, runningVar, y, saveMean, saveInvStd, momentum, eps);
            return;
        }
        CpuTensor cg = channelParam(op, "gamma", gamma, d, cx);
        CpuTensor cb = channelParam(op, "beta", beta, d, cx);
        CpuTensor crm = channelParam(op, "runningMean", runningMean, d, cx);
        CpuTensor crv = channelParam(op, "runningVar", runningVar, d, cx);
        CpuTensor csm = channelParam(op, "saveMean", saveMean, d, cx);
        CpuTensor csi = channelParam(op, "saveInvStd", saveInvStd, d, cx);
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        int hw = d.hw();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                int m = d.m();
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
                saveStatistics(c, mean, invStd, squares, m, momentum, csm, csi, crm, crv);
            }
        });
    }

    @Override
    public void batchNormForwardEval(Tensor x, Tensor gamma, Tensor beta, Tensor runningMean, Tensor runningVar,
                                     Tensor y, float eps) {
        String op = "batchNormForwardEval";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        NormDims d = normDims(op, cx, cy, "y");
        if (d.hw() < VL) {
            super.batchNormForwardEval(x, gamma, beta, runningMean, runningVar, y, eps);
            return;
        }
        CpuTensor cg = channelParam(op, "gamma", gamma, d, cx);
        CpuTensor cb = channelParam(op, "beta", beta, d, cx);
        CpuTensor crm = channelParam(op, "runningMean", runningMean, d, cx);
        CpuTensor crv = channelParam(op, "runningVar", runningVar, d, cx);
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
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor saveMean, Tensor saveInvStd,
                                  Tensor dx, Tensor dgamma, Tensor dbeta) {
        String op = "batchNormBackward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdx = cpu(op, "dx", dx);
        NormDims d = normDims(op, cx, cdy, "dy");
        normDims(op, cx, cdx, "dx");
        if (d.hw() < VL) {
            super.batchNormBackward(x, dy, gamma, saveMean, saveInvStd, dx, dgamma, dbeta);
            return;
        }
        CpuTensor cg = channelParam(op, "gamma", gamma, d, cx);
        CpuTensor csm = channelParam(op, "saveMean", saveMean, d, cx);
        CpuTensor csi = channelParam(op, "saveInvStd", saveInvStd, d, cx);
        CpuTensor cdg = channelParam(op, "dgamma", dgamma, d, cx);
        CpuTensor cdb = channelParam(op, "dbeta", dbeta, d, cx);
        float[] xa = cx.data(), dya = cdy.data(), dxa = cdx.data();
        int xo = cx.off(), dyo = cdy.off(), dxo = cdx.off();
        int hw = d.hw();
        pool.run(d.c(), 1, (from, to, worker) -> {
            for (int c = from; c < to; c++) {
                int m = d.m();
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

    // ================================================================ pooling

    /** Non-overlapping 2x2 windows (kernel 2, stride 2, no padding): the LeNet pooling. */
    private static boolean isTwoByTwo(dev.normnet.backend.PoolSpec spec) {
        return spec.kernel() == 2 && spec.stride() == 2 && spec.pad() == 0;
    }

    @Override
    public void avgPool2dForward(Tensor x, Tensor y, dev.normnet.backend.PoolSpec spec) {
        String op = "avgPool2dForward";
        CpuTensor cx = cpu(op, "x", x);
        CpuTensor cy = cpu(op, "y", y);
        PoolDims g = poolDims(op, cx, cy, "x", "y", spec);
        if (!isTwoByTwo(spec)) {
            super.avgPool2dForward(x, y, spec);
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
    public void avgPool2dBackward(Tensor dy, Tensor dx, dev.normnet.backend.PoolSpec spec) {
        String op = "avgPool2dBackward";
        CpuTensor cdy = cpu(op, "dy", dy);
        CpuTensor cdx = cpu(op, "dx", dx);
        PoolDims g = poolDims(op, cdx, cdy, "dx", "dy", spec);
        if (!isTwoByTwo(spec)) {
            super.avgPool2dBackward(dy, dx, spec);
            return;
        }
        float[] dya = cdy.data(), dxa = cdx.data();
        int dyo = cdy.off(), dxo = cdx.off();
        pool.run(g.planes(), 16, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int dxPlane = dxo + pl * g.h() * g.w();
                int dyPlane = dyo + pl * g.p() * g.q();
                if (g.h() != 2 * g.p() || g.w() != 2 * g.q()) {
                    java.util.Arrays.fill(dxa, dxPlane, dxPlane + g.h() * g.w(), 0f);   // odd edge rows/columns get nothing
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
}
