package dev.normnet.backend.cpu;

import static dev.normnet.backend.cpu.VectorMath.SPECIES;
import static dev.normnet.backend.cpu.VectorMath.VL;
import static dev.normnet.backend.cpu.VectorMath.laneSum;
import static dev.normnet.backend.cpu.VectorMath.sum;

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
 * of wide dy planes with shifted input planes. When the output channels fill whole vectors
 * (K a multiple of the vector length, as LeNet's conv2), forward and backward-filter instead put
 * the channels in the lanes and broadcast input values, over the dense positions only: no
 * discarded columns, no lanes to fold.
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
 *
 * <p>JIT: no helper method here takes a vector. Such a call is inlined by C2 only while the
 * caller's graph is under its node-count cutoff; past it the vectors are boxed, and on JDK 17 a
 * block whose last read-modify-write went through a helper ran up to 100 times slower for the
 * process's life. The Vector API's own methods are force-inlined, so each block writes its
 * {@code fromArray(..).add(v).intoArray(..)} in place (benchmarks/notes/cpu-round-four.md).
 */
final class VectorConv2d implements CpuOps.Conv2d {
    /** Samples per partial sum of the filter gradient; fixed so results do not depend on the thread count. */
    static final int CHUNK = 16;
    /**
     * Backward-data runs as a product fused with col2im ({@link #backwardDataGemm}) when the column
     * gradient of one sample, CRS x P x (W + 2 pad) floats, is at most this many; larger planes waste
     * little on padding rows and run the transposed convolution on wide planes.
     */
    static final int GEMM_COLUMNS_MAX = 1 << 16;
    /**
     * Positions one accumulator of the channel-vector filter gradient sums before it is
     * added into the chunk's partial: bounds the length of the float32 sums on large planes.
     */
    static final int PASS_POSITIONS = 512;

    private final WorkerPool pool;
    private final CpuOps.Conv2d reference;

    /** Per-worker scratch, grown on demand and reused across calls. */
    private final float[][] padded;     // (C, Hp, Wp) + tail: one zero-padded input sample
    private final float[][] wide;       // (K, L): one sample's output or gradient on wide planes
    private final float[][] lanes;      // (K * CRS, VL): lane partials of the filter gradient
    private final float[][] transposed; // (P * Q, K): one sample's dy with the channels innermost
    private final int[][] taps;         // (CRS): tap offsets into a padded sample
    private final int[] paddedKey;      // geometry each worker's padded buffer was zeroed for
    private float[] flipped = new float[0];       // (C, K, R, S): flipped filter for backward-data, or w^T (CRS, K)
    private int[] shifts = new int[0];            // (CRS): offset of each tap's row in a padded dx sample
    private float[] forwardT = new float[0];      // (CRS, K): w^T for the forward by channel vectors
    private int[] positions = new int[0];         // (P * Q): offset of each dense output position on the padded pitch
    private double[] chunkPartials = new double[0]; // (chunks, K * CRS + K)

    VectorConv2d(WorkerPool pool, CpuOps.Conv2d reference) {
        this.pool = pool;
        this.reference = reference;
        int threads = pool.threads();
        padded = new float[threads][0];
        wide = new float[threads][0];
        lanes = new float[threads][0];
        transposed = new float[threads][0];
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
        if (g.stride() != 1) {
            reference.backwardData(cdy, cw, cdx, g);   // strided: the reference
            return;
        }
        int k = g.k(), c = g.c(), r = g.r(), s = g.s();
        int crs = c * r * s;
        long products = (long) crs * g.p() * (g.w() + 2L * g.pad());
        if (products <= GEMM_COLUMNS_MAX) {
            backwardDataGemm(cdy, cw, cdx, g);
            return;
        }
        if (r != s || g.pad() > r - 1) {
            reference.backwardData(cdy, cw, cdx, g);   // the transposed problem needs one padding >= 0
            return;
        }
        int size = k * crs;
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

    /**
     * Backward-data of small planes as a product fused with its scatter (col2im), per sample: dy is laid
     * out on rows of dx's padded pitch Wp = W + 2*pad (columns Q..Wp-1 zero), so that every row
     * m = (c, r, s) of the column gradient w^T (CRS, K) x dy (K, P*Wp) lands on the padded dx plane
     * of channel c at one offset, r*Wp + s: dxp[c][r*Wp + s + j] += sum over k of w[k, m] * dyw[k][j].
     * Unlike the transposed convolution on wide planes it multiplies no padding rows: for LeNet's conv2
     * (dy 16x8x8 into dx 6x12x12) those would make three times the products. Each dx element is
     * summed by one thread in an order fixed by the geometry (k within a row of the product, then
     * the rows' contributions in the order of the blocks of rows and positions), whatever the
     * thread count.
     */
    private void backwardDataGemm(CpuTensor cdy, CpuTensor cw, CpuTensor cdx, ConvGeometry g) {
        int k = g.k(), c = g.c(), r = g.r(), s = g.s(), h = g.h(), w = g.w(), p = g.p(), q = g.q(), pad = g.pad();
        int crs = c * r * s;
        int hp = h + 2 * pad, wp = w + 2 * pad;
        int length = p * wp;
        int rounded = (length + 2 * VL - 1) / (2 * VL) * (2 * VL);
        int size = crs * k;
        if (flipped.length < size) {
            flipped = new float[size];
        }
        // Rows of the product in (r, s, c) order, the channel innermost: the four rows of a block then
        // land on four different dx planes. In the filter's (c, r, s) order they land one float apart,
        // and each block's read-modify-write of dx loads a vector that overlaps the store just before
        // it in all lanes but one, which the store buffer cannot forward (1.13-1.23x slower).
        float[] wt = flipped;                                   // w^T (CRS, K), rows in (r, s, c) order
        float[] wa = cw.data();
        int wo = cw.off();
        if (shifts.length < crs) {
            shifts = new int[crs];
        }
        int[] shift = shifts;                                   // where row i of the product lands in dxp
        for (int rr = 0, i = 0; rr < r; rr++) {
            for (int ss = 0; ss < s; ss++) {
                for (int cc = 0; cc < c; cc++, i++) {
                    int m = (cc * r + rr) * s + ss;             // the row's index in the filter's order
                    for (int kk = 0; kk < k; kk++) {
                        wt[i * k + kk] = wa[wo + kk * crs + m];
                    }
                    shift[i] = cc * hp * wp + rr * wp + ss;
                }
            }
        }
        int dxpSize = c * hp * wp + rounded + VL;
        float[] dya = cdy.data(), dxa = cdx.data();
        int dyo = cdy.off(), dxo = cdx.off();
        pool.run(g.n(), 1, (from, to, worker) -> {
            float[] buf = wideBuffer(worker, k * rounded + dxpSize);   // dy on wide rows (K, rounded), then dxp
            int dxp = k * rounded;
            for (int i = from; i < to; i++) {
                int dyBase = dyo + i * k * p * q;
                for (int kk = 0; kk < k; kk++) {
                    for (int pp = 0; pp < p; pp++) {
                        System.arraycopy(dya, dyBase + (kk * p + pp) * q, buf, kk * rounded + pp * wp, q);
                    }
                }
                Arrays.fill(buf, dxp, dxp + dxpSize, 0f);
                int m = 0;
                if (rounded % (3 * VL) == 0) {                     // three vectors per block where they fit
                    for (; m + 4 <= crs; m += 4) {
                        for (int j = 0; j < rounded; j += 3 * VL) {
                            scatterBlock4x3(wt, m * k, k, buf, rounded, j, dxp, shift, m);
                        }
                    }
                }
                for (; m + 4 <= crs; m += 4) {
                    for (int j = 0; j < rounded; j += 2 * VL) {
                        scatterBlock4(wt, m * k, k, buf, rounded, j, dxp, shift, m);
                    }
                }
                for (; m < crs; m++) {
                    for (int j = 0; j < rounded; j += VL) {
                        scatterBlock1(wt, m * k, k, buf, rounded, j, dxp + shift[m]);
                    }
                }
                int dxBase = dxo + i * c * h * w;
                for (int cc = 0; cc < c; cc++) {
                    for (int hh = 0; hh < h; hh++) {
                        System.arraycopy(buf, dxp + (cc * hp + hh + pad) * wp + pad, dxa, dxBase + (cc * h + hh) * w, w);
                    }
                }
            }
        });
    }

    /**
     * Four rows m..m+3 of the product, two vectors of positions j..j+2VL, each added into buf at
     * dxp + shift[row] + j: the product's accumulators (eight; each dy vector serves four FMAs) never
     * go to memory.
     */
    private static void scatterBlock4(float[] wt, int wBase, int k, float[] buf, int rounded, int j, int dxp,
                                      int[] shift, int m) {
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = FloatVector.zero(SPECIES);
        FloatVector a2 = FloatVector.zero(SPECIES);
        FloatVector a3 = FloatVector.zero(SPECIES);
        FloatVector b0 = FloatVector.zero(SPECIES);
        FloatVector b1 = FloatVector.zero(SPECIES);
        FloatVector b2 = FloatVector.zero(SPECIES);
        FloatVector b3 = FloatVector.zero(SPECIES);
        for (int kk = 0; kk < k; kk++) {
            FloatVector u = FloatVector.fromArray(SPECIES, buf, kk * rounded + j);
            FloatVector v = FloatVector.fromArray(SPECIES, buf, kk * rounded + j + VL);
            FloatVector w0 = FloatVector.broadcast(SPECIES, wt[wBase + kk]);
            a0 = u.fma(w0, a0);
            b0 = v.fma(w0, b0);
            FloatVector w1 = FloatVector.broadcast(SPECIES, wt[wBase + k + kk]);
            a1 = u.fma(w1, a1);
            b1 = v.fma(w1, b1);
            FloatVector w2 = FloatVector.broadcast(SPECIES, wt[wBase + 2 * k + kk]);
            a2 = u.fma(w2, a2);
            b2 = v.fma(w2, b2);
            FloatVector w3 = FloatVector.broadcast(SPECIES, wt[wBase + 3 * k + kk]);
            a3 = u.fma(w3, a3);
            b3 = v.fma(w3, b3);
        }
        int d0 = dxp + shift[m] + j, d1 = dxp + shift[m + 1] + j, d2 = dxp + shift[m + 2] + j, d3 = dxp + shift[m + 3] + j;
        FloatVector.fromArray(SPECIES, buf, d0).add(a0).intoArray(buf, d0);
        FloatVector.fromArray(SPECIES, buf, d0 + VL).add(b0).intoArray(buf, d0 + VL);
        FloatVector.fromArray(SPECIES, buf, d1).add(a1).intoArray(buf, d1);
        FloatVector.fromArray(SPECIES, buf, d1 + VL).add(b1).intoArray(buf, d1 + VL);
        FloatVector.fromArray(SPECIES, buf, d2).add(a2).intoArray(buf, d2);
        FloatVector.fromArray(SPECIES, buf, d2 + VL).add(b2).intoArray(buf, d2 + VL);
        FloatVector.fromArray(SPECIES, buf, d3).add(a3).intoArray(buf, d3);
        FloatVector.fromArray(SPECIES, buf, d3 + VL).add(b3).intoArray(buf, d3 + VL);
    }

    /**
     * {@link #scatterBlock4} for three vectors of positions j..j+3VL (twelve accumulators: each dy
     * vector serves four FMAs, each weight broadcast three), when the padded row length is a
     * multiple of three vectors (LeNet's conv2: 96 positions, six vectors).
     */
    private static void scatterBlock4x3(float[] wt, int wBase, int k, float[] buf, int rounded, int j, int dxp,
                                        int[] shift, int m) {
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = FloatVector.zero(SPECIES);
        FloatVector a2 = FloatVector.zero(SPECIES);
        FloatVector a3 = FloatVector.zero(SPECIES);
        FloatVector b0 = FloatVector.zero(SPECIES);
        FloatVector b1 = FloatVector.zero(SPECIES);
        FloatVector b2 = FloatVector.zero(SPECIES);
        FloatVector b3 = FloatVector.zero(SPECIES);
        FloatVector c0 = FloatVector.zero(SPECIES);
        FloatVector c1 = FloatVector.zero(SPECIES);
        FloatVector c2 = FloatVector.zero(SPECIES);
        FloatVector c3 = FloatVector.zero(SPECIES);
        for (int kk = 0; kk < k; kk++) {
            int row = kk * rounded + j;
            FloatVector u = FloatVector.fromArray(SPECIES, buf, row);
            FloatVector v = FloatVector.fromArray(SPECIES, buf, row + VL);
            FloatVector x = FloatVector.fromArray(SPECIES, buf, row + 2 * VL);
            FloatVector w0 = FloatVector.broadcast(SPECIES, wt[wBase + kk]);
            a0 = u.fma(w0, a0);
            b0 = v.fma(w0, b0);
            c0 = x.fma(w0, c0);
            FloatVector w1 = FloatVector.broadcast(SPECIES, wt[wBase + k + kk]);
            a1 = u.fma(w1, a1);
            b1 = v.fma(w1, b1);
            c1 = x.fma(w1, c1);
            FloatVector w2 = FloatVector.broadcast(SPECIES, wt[wBase + 2 * k + kk]);
            a2 = u.fma(w2, a2);
            b2 = v.fma(w2, b2);
            c2 = x.fma(w2, c2);
            FloatVector w3 = FloatVector.broadcast(SPECIES, wt[wBase + 3 * k + kk]);
            a3 = u.fma(w3, a3);
            b3 = v.fma(w3, b3);
            c3 = x.fma(w3, c3);
        }
        int d0 = dxp + shift[m] + j, d1 = dxp + shift[m + 1] + j, d2 = dxp + shift[m + 2] + j, d3 = dxp + shift[m + 3] + j;
        FloatVector.fromArray(SPECIES, buf, d0).add(a0).intoArray(buf, d0);
        FloatVector.fromArray(SPECIES, buf, d0 + VL).add(b0).intoArray(buf, d0 + VL);
        FloatVector.fromArray(SPECIES, buf, d0 + 2 * VL).add(c0).intoArray(buf, d0 + 2 * VL);
        FloatVector.fromArray(SPECIES, buf, d1).add(a1).intoArray(buf, d1);
        FloatVector.fromArray(SPECIES, buf, d1 + VL).add(b1).intoArray(buf, d1 + VL);
        FloatVector.fromArray(SPECIES, buf, d1 + 2 * VL).add(c1).intoArray(buf, d1 + 2 * VL);
        FloatVector.fromArray(SPECIES, buf, d2).add(a2).intoArray(buf, d2);
        FloatVector.fromArray(SPECIES, buf, d2 + VL).add(b2).intoArray(buf, d2 + VL);
        FloatVector.fromArray(SPECIES, buf, d2 + 2 * VL).add(c2).intoArray(buf, d2 + 2 * VL);
        FloatVector.fromArray(SPECIES, buf, d3).add(a3).intoArray(buf, d3);
        FloatVector.fromArray(SPECIES, buf, d3 + VL).add(b3).intoArray(buf, d3 + VL);
        FloatVector.fromArray(SPECIES, buf, d3 + 2 * VL).add(c3).intoArray(buf, d3 + 2 * VL);
    }

    /** One row of the product, one vector: buf[at .. at + VL) += sum over kk of wt[wBase + kk] * buf[kk*rounded + j ..]. */
    private static void scatterBlock1(float[] wt, int wBase, int k, float[] buf, int rounded, int j, int at) {
        FloatVector a = FloatVector.zero(SPECIES);
        for (int kk = 0; kk < k; kk++) {
            a = FloatVector.fromArray(SPECIES, buf, kk * rounded + j).fma(FloatVector.broadcast(SPECIES, wt[wBase + kk]), a);
        }
        FloatVector.fromArray(SPECIES, buf, at + j).add(a).intoArray(buf, at + j);
    }

    /** y (N, K, P, Q) = conv(x (N, C, H, W), w (K, C, R, S)) + b, stride 1, on wide planes; split over samples. */
    private void convWide(float[] x, int xo, float[] w, int wo, float[] b, int bo, float[] y, int yo, int n, Wide v) {
        if (v.k() % VL == 0) {
            convByChannelVectors(x, xo, w, wo, b, bo, y, yo, n, v);
        } else {
            convOnWidePlanes(x, xo, w, wo, b, bo, y, yo, n, v);
        }
    }

    /** {@link #convWide} vectorized over positions, the output channels in blocks of six, four, two and one. */
    private void convOnWidePlanes(float[] x, int xo, float[] w, int wo, float[] b, int bo, float[] y, int yo, int n,
                                  Wide v) {
        pool.run(n, 1, (from, to, worker) -> {
            float[] xp = paddedBuffer(worker, v);
            float[] yw = wideBuffer(worker, v.k() * v.rounded());
            int[] toff = tapOffsets(worker, v);
            for (int i = from; i < to; i++) {
                padSample(x, xo + i * v.c() * v.h() * v.w(), xp, v);
                int kk = 0;
                if (v.k() % 4 == 2 && v.k() >= 6) {   // six channels (LeNet's conv1) in one pass, not 4 + 2
                    forwardBlock6(xp, toff, w, wo, v.crs(), yw, 0, v.rounded());
                    kk = 6;
                }
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
     * The convolution with the output channels in the vector lanes, for K a multiple of the vector
     * length (LeNet's conv2: K = 16), over the dense P x Q positions only: y^T[position][k..k+VL) =
     * sum over taps t of x(t, position) * w^T[t][k..k+VL), the input value broadcast. Twelve positions
     * per block (twelve accumulators; per tap one w^T vector load and twelve broadcast FMAs), then
     * y^T is transposed into y with the bias added. Each output is one FMA chain over the taps in
     * (c, r, s) order, as on wide planes.
     */
    private void convByChannelVectors(float[] x, int xo, float[] w, int wo, float[] b, int bo, float[] y, int yo,
                                      int n, Wide v) {
        int kDim = v.k(), crs = v.crs(), pq = v.p() * v.q();
        if (forwardT.length < crs * kDim) {
            forwardT = new float[crs * kDim];
        }
        float[] wt = forwardT;                                  // w^T (CRS, K)
        for (int k = 0; k < kDim; k++) {
            for (int t = 0; t < crs; t++) {
                wt[t * kDim + k] = w[wo + k * crs + t];
            }
        }
        int[] pos = densePositions(v);
        pool.run(n, 1, (from, to, worker) -> {
            float[] xp = paddedBuffer(worker, v);
            float[] yT = transposedBuffer(worker, pq * kDim);
            int[] toff = tapOffsets(worker, v);
            for (int i = from; i < to; i++) {
                padSample(x, xo + i * v.c() * v.h() * v.w(), xp, v);
                for (int kv = 0; kv < kDim; kv += VL) {
                    int j = 0;
                    for (; j + 12 <= pq; j += 12) {
                        positionBlock12(xp, toff, crs, wt, kv, kDim, pos, j, yT);
                    }
                    for (; j + 4 <= pq; j += 4) {
                        positionBlock4(xp, toff, crs, wt, kv, kDim, pos, j, yT);
                    }
                    for (; j < pq; j++) {
                        positionBlock1(xp, toff, crs, wt, kv, kDim, pos[j], yT, j * kDim + kv);
                    }
                }
                int yPlane = yo + i * kDim * pq;                // y (N, K, P, Q)
                for (int k = 0; k < kDim; k++) {
                    float bias = b == null ? 0f : b[bo + k];
                    for (int j = 0; j < pq; j++) {
                        y[yPlane + k * pq + j] = yT[j * kDim + k] + bias;
                    }
                }
            }
        });
    }

    /**
     * Twelve dense positions j..j+11 by one vector of output channels kv..kv+VL:
     * out[(j + m)*kDim + kv ..] (see {@link #convByChannelVectors}).
     */
    private static void positionBlock12(float[] xp, int[] toff, int crs, float[] wt, int kv, int kDim, int[] pos,
                                        int j, float[] out) {
        int p0 = pos[j], p1 = pos[j + 1], p2 = pos[j + 2], p3 = pos[j + 3];
        int p4 = pos[j + 4], p5 = pos[j + 5], p6 = pos[j + 6], p7 = pos[j + 7];
        int p8 = pos[j + 8], p9 = pos[j + 9], p10 = pos[j + 10], p11 = pos[j + 11];
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = FloatVector.zero(SPECIES);
        FloatVector a2 = FloatVector.zero(SPECIES);
        FloatVector a3 = FloatVector.zero(SPECIES);
        FloatVector a4 = FloatVector.zero(SPECIES);
        FloatVector a5 = FloatVector.zero(SPECIES);
        FloatVector a6 = FloatVector.zero(SPECIES);
        FloatVector a7 = FloatVector.zero(SPECIES);
        FloatVector a8 = FloatVector.zero(SPECIES);
        FloatVector a9 = FloatVector.zero(SPECIES);
        FloatVector a10 = FloatVector.zero(SPECIES);
        FloatVector a11 = FloatVector.zero(SPECIES);
        for (int t = 0; t < crs; t++) {
            FloatVector wv = FloatVector.fromArray(SPECIES, wt, t * kDim + kv);
            int o = toff[t];
            a0 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p0]), a0);
            a1 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p1]), a1);
            a2 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p2]), a2);
            a3 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p3]), a3);
            a4 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p4]), a4);
            a5 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p5]), a5);
            a6 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p6]), a6);
            a7 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p7]), a7);
            a8 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p8]), a8);
            a9 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p9]), a9);
            a10 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p10]), a10);
            a11 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p11]), a11);
        }
        int at = j * kDim + kv;
        a0.intoArray(out, at);
        a1.intoArray(out, at + kDim);
        a2.intoArray(out, at + 2 * kDim);
        a3.intoArray(out, at + 3 * kDim);
        a4.intoArray(out, at + 4 * kDim);
        a5.intoArray(out, at + 5 * kDim);
        a6.intoArray(out, at + 6 * kDim);
        a7.intoArray(out, at + 7 * kDim);
        a8.intoArray(out, at + 8 * kDim);
        a9.intoArray(out, at + 9 * kDim);
        a10.intoArray(out, at + 10 * kDim);
        a11.intoArray(out, at + 11 * kDim);
    }

    /** {@link #positionBlock12} for four positions. */
    private static void positionBlock4(float[] xp, int[] toff, int crs, float[] wt, int kv, int kDim, int[] pos,
                                       int j, float[] out) {
        int p0 = pos[j], p1 = pos[j + 1], p2 = pos[j + 2], p3 = pos[j + 3];
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = FloatVector.zero(SPECIES);
        FloatVector a2 = FloatVector.zero(SPECIES);
        FloatVector a3 = FloatVector.zero(SPECIES);
        for (int t = 0; t < crs; t++) {
            FloatVector wv = FloatVector.fromArray(SPECIES, wt, t * kDim + kv);
            int o = toff[t];
            a0 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p0]), a0);
            a1 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p1]), a1);
            a2 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p2]), a2);
            a3 = wv.fma(FloatVector.broadcast(SPECIES, xp[o + p3]), a3);
        }
        int at = j * kDim + kv;
        a0.intoArray(out, at);
        a1.intoArray(out, at + kDim);
        a2.intoArray(out, at + 2 * kDim);
        a3.intoArray(out, at + 3 * kDim);
    }

    /** {@link #positionBlock12} for one position (offset p0 on the padded pitch), stored at out[at ..]. */
    private static void positionBlock1(float[] xp, int[] toff, int crs, float[] wt, int kv, int kDim, int p0,
                                       float[] out, int at) {
        FloatVector a0 = FloatVector.zero(SPECIES);
        for (int t = 0; t < crs; t++) {
            a0 = FloatVector.fromArray(SPECIES, wt, t * kDim + kv).fma(FloatVector.broadcast(SPECIES, xp[toff[t] + p0]), a0);
        }
        a0.intoArray(out, at);
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

    /**
     * Six output channels, two vectors of positions per step (twelve accumulators): each pair of
     * input vectors loaded serves twelve FMAs, against eight and four in a 4 + 2 split.
     */
    private static void forwardBlock6(float[] xp, int[] toff, float[] w, int wBase, int crs,
                                      float[] out, int outBase, int rounded) {
        for (int i = 0; i < rounded; i += 2 * VL) {
            FloatVector a0 = FloatVector.zero(SPECIES), b0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES), b1 = FloatVector.zero(SPECIES);
            FloatVector a2 = FloatVector.zero(SPECIES), b2 = FloatVector.zero(SPECIES);
            FloatVector a3 = FloatVector.zero(SPECIES), b3 = FloatVector.zero(SPECIES);
            FloatVector a4 = FloatVector.zero(SPECIES), b4 = FloatVector.zero(SPECIES);
            FloatVector a5 = FloatVector.zero(SPECIES), b5 = FloatVector.zero(SPECIES);
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
                FloatVector w4 = FloatVector.broadcast(SPECIES, w[wBase + 4 * crs + t]);
                a4 = xa.fma(w4, a4);
                b4 = xc.fma(w4, b4);
                FloatVector w5 = FloatVector.broadcast(SPECIES, w[wBase + 5 * crs + t]);
                a5 = xa.fma(w5, a5);
                b5 = xc.fma(w5, b5);
            }
            a0.intoArray(out, outBase + i);
            b0.intoArray(out, outBase + i + VL);
            a1.intoArray(out, outBase + rounded + i);
            b1.intoArray(out, outBase + rounded + i + VL);
            a2.intoArray(out, outBase + 2 * rounded + i);
            b2.intoArray(out, outBase + 2 * rounded + i + VL);
            a3.intoArray(out, outBase + 3 * rounded + i);
            b3.intoArray(out, outBase + 3 * rounded + i + VL);
            a4.intoArray(out, outBase + 4 * rounded + i);
            b4.intoArray(out, outBase + 4 * rounded + i + VL);
            a5.intoArray(out, outBase + 5 * rounded + i);
            b5.intoArray(out, outBase + 5 * rounded + i + VL);
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
        if (v.k() % VL == 0) {
            filterByChannelVectors(xa, xo, dya, dyo, partials, n, chunks, stride, v);
        } else {
            filterOnWidePlanes(xa, xo, dya, dyo, partials, n, chunks, stride, v);
        }
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
     * The filter gradient with the output channels in the vector lanes, for K a multiple of the vector
     * length (LeNet's conv2: K = 16): dw^T[t][k..k+VL) += x(t, position) * dy^T[position][k..k+VL),
     * the input value broadcast, over the dense P x Q positions only (the wide planes' discarded
     * columns, a third of LeNet-BN conv2's positions, are never multiplied), and with no lanes to fold:
     * every lane is one output. Per sample dy is transposed to (P*Q, K); per tap block the
     * accumulators run over at most {@value #PASS_POSITIONS} positions of one sample (one flat loop:
     * JDK 17 keeps vector accumulators in registers only across a single loop),
     * are added into the chunk's float32 partial in a fixed order, and the chunks are merged in
     * float64 as before.
     */
    private void filterByChannelVectors(float[] xa, int xo, float[] dya, int dyo, double[] partials, int n,
                                        int chunks, int stride, Wide v) {
        int kDim = v.k(), crs = v.crs(), kcrs = kDim * crs, p = v.p(), q = v.q(), pq = p * q;
        int[] pos = densePositions(v);
        pool.run(chunks, 1, (from, to, worker) -> {
            float[] xp = paddedBuffer(worker, v);
            float[] dyT = transposedBuffer(worker, p * q * kDim);
            int[] toff = tapOffsets(worker, v);
            float[] acc = laneBuffer(worker, kcrs);        // dw^T (CRS, K) of the chunk
            for (int chunk = from; chunk < to; chunk++) {
                Arrays.fill(acc, 0, kcrs, 0f);
                int base = chunk * stride;
                Arrays.fill(partials, base + kcrs, base + stride, 0.0);
                for (int i = chunk * CHUNK; i < Math.min(n, (chunk + 1) * CHUNK); i++) {
                    padSample(xa, xo + i * v.c() * v.h() * v.w(), xp, v);
                    int dyPlane = dyo + i * kDim * p * q;      // dy (N, K, P, Q)
                    for (int k = 0; k < kDim; k++) {
                        int src = dyPlane + k * pq;
                        for (int j = 0; j < pq; j++) {
                            dyT[j * kDim + k] = dya[src + j];
                        }
                        partials[base + kcrs + k] += sum(dya, src, pq);   // the bias gradient
                    }
                    for (int j0 = 0; j0 < pq; j0 += PASS_POSITIONS) {
                        int j1 = Math.min(pq, j0 + PASS_POSITIONS);
                        for (int kv = 0; kv < kDim; kv += VL) {
                            int t = 0;
                            for (; t + 12 <= crs; t += 12) {
                                tapBlock12(xp, toff, t, dyT, kv, kDim, pos, j0, j1, acc);
                            }
                            for (; t + 4 <= crs; t += 4) {
                                tapBlock4(xp, toff, t, dyT, kv, kDim, pos, j0, j1, acc);
                            }
                            for (; t < crs; t++) {
                                tapBlock1(xp, toff, t, dyT, kv, kDim, pos, j0, j1, acc);
                            }
                        }
                    }
                }
                for (int k = 0; k < kDim; k++) {
                    for (int t = 0; t < crs; t++) {
                        partials[base + k * crs + t] = acc[t * kDim + k];
                    }
                }
            }
        });
    }

    /**
     * Twelve taps t..t+11 by one vector of output channels kv..kv+VL, over the dense positions
     * j0..j1 (pos[j]: the position's offset on the padded pitch): twelve accumulators; per position
     * one dy^T vector load and twelve broadcast FMAs.
     */
    private static void tapBlock12(float[] xp, int[] toff, int t, float[] dyT, int kv, int kDim,
                                   int[] pos, int j0, int j1, float[] acc) {
        int o0 = toff[t], o1 = toff[t + 1], o2 = toff[t + 2], o3 = toff[t + 3];
        int o4 = toff[t + 4], o5 = toff[t + 5], o6 = toff[t + 6], o7 = toff[t + 7];
        int o8 = toff[t + 8], o9 = toff[t + 9], o10 = toff[t + 10], o11 = toff[t + 11];
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = FloatVector.zero(SPECIES);
        FloatVector a2 = FloatVector.zero(SPECIES);
        FloatVector a3 = FloatVector.zero(SPECIES);
        FloatVector a4 = FloatVector.zero(SPECIES);
        FloatVector a5 = FloatVector.zero(SPECIES);
        FloatVector a6 = FloatVector.zero(SPECIES);
        FloatVector a7 = FloatVector.zero(SPECIES);
        FloatVector a8 = FloatVector.zero(SPECIES);
        FloatVector a9 = FloatVector.zero(SPECIES);
        FloatVector a10 = FloatVector.zero(SPECIES);
        FloatVector a11 = FloatVector.zero(SPECIES);
        for (int j = j0; j < j1; j++) {
            FloatVector d = FloatVector.fromArray(SPECIES, dyT, j * kDim + kv);
            int x = pos[j];
            a0 = d.fma(FloatVector.broadcast(SPECIES, xp[o0 + x]), a0);
            a1 = d.fma(FloatVector.broadcast(SPECIES, xp[o1 + x]), a1);
            a2 = d.fma(FloatVector.broadcast(SPECIES, xp[o2 + x]), a2);
            a3 = d.fma(FloatVector.broadcast(SPECIES, xp[o3 + x]), a3);
            a4 = d.fma(FloatVector.broadcast(SPECIES, xp[o4 + x]), a4);
            a5 = d.fma(FloatVector.broadcast(SPECIES, xp[o5 + x]), a5);
            a6 = d.fma(FloatVector.broadcast(SPECIES, xp[o6 + x]), a6);
            a7 = d.fma(FloatVector.broadcast(SPECIES, xp[o7 + x]), a7);
            a8 = d.fma(FloatVector.broadcast(SPECIES, xp[o8 + x]), a8);
            a9 = d.fma(FloatVector.broadcast(SPECIES, xp[o9 + x]), a9);
            a10 = d.fma(FloatVector.broadcast(SPECIES, xp[o10 + x]), a10);
            a11 = d.fma(FloatVector.broadcast(SPECIES, xp[o11 + x]), a11);
        }
        FloatVector.fromArray(SPECIES, acc, t * kDim + kv).add(a0).intoArray(acc, t * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 1) * kDim + kv).add(a1).intoArray(acc, (t + 1) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 2) * kDim + kv).add(a2).intoArray(acc, (t + 2) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 3) * kDim + kv).add(a3).intoArray(acc, (t + 3) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 4) * kDim + kv).add(a4).intoArray(acc, (t + 4) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 5) * kDim + kv).add(a5).intoArray(acc, (t + 5) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 6) * kDim + kv).add(a6).intoArray(acc, (t + 6) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 7) * kDim + kv).add(a7).intoArray(acc, (t + 7) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 8) * kDim + kv).add(a8).intoArray(acc, (t + 8) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 9) * kDim + kv).add(a9).intoArray(acc, (t + 9) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 10) * kDim + kv).add(a10).intoArray(acc, (t + 10) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 11) * kDim + kv).add(a11).intoArray(acc, (t + 11) * kDim + kv);
    }

    /** {@link #tapBlock12} for four taps. */
    private static void tapBlock4(float[] xp, int[] toff, int t, float[] dyT, int kv, int kDim,
                                  int[] pos, int j0, int j1, float[] acc) {
        int o0 = toff[t], o1 = toff[t + 1], o2 = toff[t + 2], o3 = toff[t + 3];
        FloatVector a0 = FloatVector.zero(SPECIES);
        FloatVector a1 = FloatVector.zero(SPECIES);
        FloatVector a2 = FloatVector.zero(SPECIES);
        FloatVector a3 = FloatVector.zero(SPECIES);
        for (int j = j0; j < j1; j++) {
            FloatVector d = FloatVector.fromArray(SPECIES, dyT, j * kDim + kv);
            int x = pos[j];
            a0 = d.fma(FloatVector.broadcast(SPECIES, xp[o0 + x]), a0);
            a1 = d.fma(FloatVector.broadcast(SPECIES, xp[o1 + x]), a1);
            a2 = d.fma(FloatVector.broadcast(SPECIES, xp[o2 + x]), a2);
            a3 = d.fma(FloatVector.broadcast(SPECIES, xp[o3 + x]), a3);
        }
        FloatVector.fromArray(SPECIES, acc, t * kDim + kv).add(a0).intoArray(acc, t * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 1) * kDim + kv).add(a1).intoArray(acc, (t + 1) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 2) * kDim + kv).add(a2).intoArray(acc, (t + 2) * kDim + kv);
        FloatVector.fromArray(SPECIES, acc, (t + 3) * kDim + kv).add(a3).intoArray(acc, (t + 3) * kDim + kv);
    }

    /** {@link #tapBlock12} for one tap. */
    private static void tapBlock1(float[] xp, int[] toff, int t, float[] dyT, int kv, int kDim,
                                  int[] pos, int j0, int j1, float[] acc) {
        int o0 = toff[t];
        FloatVector a0 = FloatVector.zero(SPECIES);
        for (int j = j0; j < j1; j++) {
            a0 = FloatVector.fromArray(SPECIES, dyT, j * kDim + kv).fma(FloatVector.broadcast(SPECIES, xp[o0 + pos[j]]), a0);
        }
        FloatVector.fromArray(SPECIES, acc, t * kDim + kv).add(a0).intoArray(acc, t * kDim + kv);
    }

    /**
     * The filter gradient on wide planes, vectorized over positions: for each (k, tap), lane partials
     * of dy's wide plane times the shifted padded input, folded in lane order per chunk. It multiplies
     * the wide planes' discarded columns (zeros in dy) too.
     */
    private void filterOnWidePlanes(float[] xa, int xo, float[] dya, int dyo, double[] partials, int n, int chunks,
                                    int stride, Wide v) {
        int kcrs = v.k() * v.crs();
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
                        for (int p = 0; p < v.p(); p++) {
                            System.arraycopy(dya, dyPlane + (k * v.p() + p) * v.q(), dyw, k * v.rounded() + p * v.wp(), v.q());
                        }
                        // the bias gradient: the plane's sum in vector lanes (one serial float chain per row was
                        // a tenth of conv1's filter gradient)
                        partials[base + kcrs + k] += sum(dya, dyPlane + k * v.p() * v.q(), v.p() * v.q());
                    }
                    int kk = 0;
                    if (v.k() % 4 == 2 && v.k() >= 6) {   // six channels (LeNet's conv1) in one pass, not 4 + 2
                        filterBlock6(xp, toff, dyw, 0, v.rounded(), v.crs(), lane, 0);
                        kk = 6;
                    }
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
            FloatVector.fromArray(SPECIES, lane, (kt + t) * VL).add(a0).intoArray(lane, (kt + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + t + 1) * VL).add(b0).intoArray(lane, (kt + t + 1) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + crs + t) * VL).add(a1).intoArray(lane, (kt + crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + crs + t + 1) * VL).add(b1).intoArray(lane, (kt + crs + t + 1) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 2 * crs + t) * VL).add(a2).intoArray(lane, (kt + 2 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 2 * crs + t + 1) * VL).add(b2).intoArray(lane, (kt + 2 * crs + t + 1) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 3 * crs + t) * VL).add(a3).intoArray(lane, (kt + 3 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 3 * crs + t + 1) * VL).add(b3).intoArray(lane, (kt + 3 * crs + t + 1) * VL);
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
            FloatVector.fromArray(SPECIES, lane, (kt + t) * VL).add(a0).intoArray(lane, (kt + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + crs + t) * VL).add(a1).intoArray(lane, (kt + crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 2 * crs + t) * VL).add(a2).intoArray(lane, (kt + 2 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 3 * crs + t) * VL).add(a3).intoArray(lane, (kt + 3 * crs + t) * VL);
        }
    }

    /**
     * {@link #filterBlock4} for six output channels, two taps per step (twelve accumulators: each input
     * vector loaded serves six FMAs, each dy vector two).
     */
    private static void filterBlock6(float[] xp, int[] toff, float[] dyw, int dyBase, int rounded, int crs,
                                     float[] lane, int kt) {
        int t = 0;
        for (; t + 2 <= crs; t += 2) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES);
            FloatVector a2 = FloatVector.zero(SPECIES);
            FloatVector a3 = FloatVector.zero(SPECIES);
            FloatVector a4 = FloatVector.zero(SPECIES);
            FloatVector a5 = FloatVector.zero(SPECIES);
            FloatVector b0 = FloatVector.zero(SPECIES);
            FloatVector b1 = FloatVector.zero(SPECIES);
            FloatVector b2 = FloatVector.zero(SPECIES);
            FloatVector b3 = FloatVector.zero(SPECIES);
            FloatVector b4 = FloatVector.zero(SPECIES);
            FloatVector b5 = FloatVector.zero(SPECIES);
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
                FloatVector d4 = FloatVector.fromArray(SPECIES, dyw, dyBase + 4 * rounded + i);
                a4 = d4.fma(u, a4);
                b4 = d4.fma(v, b4);
                FloatVector d5 = FloatVector.fromArray(SPECIES, dyw, dyBase + 5 * rounded + i);
                a5 = d5.fma(u, a5);
                b5 = d5.fma(v, b5);
            }
            FloatVector.fromArray(SPECIES, lane, (kt + t) * VL).add(a0).intoArray(lane, (kt + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + t + 1) * VL).add(b0).intoArray(lane, (kt + t + 1) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + crs + t) * VL).add(a1).intoArray(lane, (kt + crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + crs + t + 1) * VL).add(b1).intoArray(lane, (kt + crs + t + 1) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 2 * crs + t) * VL).add(a2).intoArray(lane, (kt + 2 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 2 * crs + t + 1) * VL).add(b2).intoArray(lane, (kt + 2 * crs + t + 1) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 3 * crs + t) * VL).add(a3).intoArray(lane, (kt + 3 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 3 * crs + t + 1) * VL).add(b3).intoArray(lane, (kt + 3 * crs + t + 1) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 4 * crs + t) * VL).add(a4).intoArray(lane, (kt + 4 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 4 * crs + t + 1) * VL).add(b4).intoArray(lane, (kt + 4 * crs + t + 1) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 5 * crs + t) * VL).add(a5).intoArray(lane, (kt + 5 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 5 * crs + t + 1) * VL).add(b5).intoArray(lane, (kt + 5 * crs + t + 1) * VL);
        }
        for (; t < crs; t++) {
            FloatVector a0 = FloatVector.zero(SPECIES);
            FloatVector a1 = FloatVector.zero(SPECIES);
            FloatVector a2 = FloatVector.zero(SPECIES);
            FloatVector a3 = FloatVector.zero(SPECIES);
            FloatVector a4 = FloatVector.zero(SPECIES);
            FloatVector a5 = FloatVector.zero(SPECIES);
            int xb = toff[t];
            for (int i = 0; i < rounded; i += VL) {
                FloatVector xv = FloatVector.fromArray(SPECIES, xp, xb + i);
                a0 = FloatVector.fromArray(SPECIES, dyw, dyBase + i).fma(xv, a0);
                a1 = FloatVector.fromArray(SPECIES, dyw, dyBase + rounded + i).fma(xv, a1);
                a2 = FloatVector.fromArray(SPECIES, dyw, dyBase + 2 * rounded + i).fma(xv, a2);
                a3 = FloatVector.fromArray(SPECIES, dyw, dyBase + 3 * rounded + i).fma(xv, a3);
                a4 = FloatVector.fromArray(SPECIES, dyw, dyBase + 4 * rounded + i).fma(xv, a4);
                a5 = FloatVector.fromArray(SPECIES, dyw, dyBase + 5 * rounded + i).fma(xv, a5);
            }
            FloatVector.fromArray(SPECIES, lane, (kt + t) * VL).add(a0).intoArray(lane, (kt + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + crs + t) * VL).add(a1).intoArray(lane, (kt + crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 2 * crs + t) * VL).add(a2).intoArray(lane, (kt + 2 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 3 * crs + t) * VL).add(a3).intoArray(lane, (kt + 3 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 4 * crs + t) * VL).add(a4).intoArray(lane, (kt + 4 * crs + t) * VL);
            FloatVector.fromArray(SPECIES, lane, (kt + 5 * crs + t) * VL).add(a5).intoArray(lane, (kt + 5 * crs + t) * VL);
        }
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

    private float[] transposedBuffer(int worker, int size) {
        if (transposed[worker].length < size) {
            transposed[worker] = new float[size];
        }
        return transposed[worker];
    }

    private float[] laneBuffer(int worker, int size) {
        if (lanes[worker].length < size) {
            lanes[worker] = new float[size];
        }
        return lanes[worker];
    }

    /**
     * Offsets on the padded row pitch of the dense output positions (p, q), in row-major order;
     * shared read-only by the workers of one call.
     */
    private int[] densePositions(Wide v) {
        int pq = v.p() * v.q();
        if (positions.length < pq) {
            positions = new int[pq];
        }
        for (int p = 0; p < v.p(); p++) {
            for (int q = 0; q < v.q(); q++) {
                positions[p * v.q() + q] = p * v.wp() + q;
            }
        }
        return positions;
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
