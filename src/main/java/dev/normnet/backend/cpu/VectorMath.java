package dev.normnet.backend.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector building blocks the fast CPU path shares (JDK Vector API, {@code jdk.incubator.vector}):
 * the preferred species, lane sums in a fixed order, plane sums, an affine map, and a sigmoid from
 * IEEE operations only. Every result here is the same in the interpreter and in every JIT tier.
 */
final class VectorMath {
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    /** Floats per vector: 16 with AVX-512, 8 with AVX2. */
    static final int VL = SPECIES.length();

    private VectorMath() {
    }

    /**
     * The lanes of v added in lane order. {@code reduceLanes(ADD)} leaves the order open, and the
     * interpreter and compiled code choose differently; a fixed order keeps results independent of
     * the JIT's state, so the same seed gives the same bits from the first step on.
     */
    static float laneSum(FloatVector v) {
        if (VL == 16) {
            return laneSum16(v);
        }
        float s = v.lane(0);
        for (int l = 1; l < VL; l++) {
            s += v.lane(l);
        }
        return s;
    }

    /**
     * laneSum of 16 lanes with constant lane indices, which C2 compiles to single extracts: half the
     * time of the loop above on JDK 17 (7.4-8.1 ns against 13-15 ns per vector), the same additions
     * in the same order.
     */
    private static float laneSum16(FloatVector v) {
        float s = v.lane(0);
        s += v.lane(1);
        s += v.lane(2);
        s += v.lane(3);
        s += v.lane(4);
        s += v.lane(5);
        s += v.lane(6);
        s += v.lane(7);
        s += v.lane(8);
        s += v.lane(9);
        s += v.lane(10);
        s += v.lane(11);
        s += v.lane(12);
        s += v.lane(13);
        s += v.lane(14);
        s += v.lane(15);
        return s;
    }

    /** Sum of a[from .. from+len) in float32 vector lanes, lanes added in order. */
    static float sum(float[] a, int from, int len) {
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
    static float squaredDeviations(float[] a, int from, int len, float mean) {
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
    static void affine(float[] x, int xFrom, float[] y, int yFrom, int len, float scale, float shift) {
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
}
