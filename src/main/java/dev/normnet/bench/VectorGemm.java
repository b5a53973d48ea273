package dev.normnet.bench;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The CPU GEMM probe of {@link Limits} when the JVM has the Vector API: C += A B over a band of
 * rows, tiles of 4 rows by 2 vectors kept in registers across the whole k loop (8 fused
 * multiply-adds per 2 loads of B and 4 broadcasts of A), B's column band reused from cache by
 * every row tile. Loaded only when {@code jdk.incubator.vector} is present.
 */
final class VectorGemm {
    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;

    private VectorGemm() {
    }

    /** Vector width in floats. */
    static int lanes() {
        return SPECIES.length();
    }

    /** c[rowFrom..rowTo) += a[rows] b for n x n matrices; n a multiple of 2 vectors, rows a multiple of 4. */
    static void rows(float[] a, float[] b, float[] c, int n, int rowFrom, int rowTo) {
        int vl = SPECIES.length();
        for (int j = 0; j < n; j += 2 * vl) {
            for (int i = rowFrom; i < rowTo; i += 4) {
                int a0 = i * n;
                int a1 = a0 + n;
                int a2 = a1 + n;
                int a3 = a2 + n;
                FloatVector c00 = FloatVector.fromArray(SPECIES, c, a0 + j);
                FloatVector c01 = FloatVector.fromArray(SPECIES, c, a0 + j + vl);
                FloatVector c10 = FloatVector.fromArray(SPECIES, c, a1 + j);
                FloatVector c11 = FloatVector.fromArray(SPECIES, c, a1 + j + vl);
                FloatVector c20 = FloatVector.fromArray(SPECIES, c, a2 + j);
                FloatVector c21 = FloatVector.fromArray(SPECIES, c, a2 + j + vl);
                FloatVector c30 = FloatVector.fromArray(SPECIES, c, a3 + j);
                FloatVector c31 = FloatVector.fromArray(SPECIES, c, a3 + j + vl);
                for (int k = 0; k < n; k++) {
                    int bk = k * n + j;
                    FloatVector b0 = FloatVector.fromArray(SPECIES, b, bk);
                    FloatVector b1 = FloatVector.fromArray(SPECIES, b, bk + vl);
                    FloatVector x = FloatVector.broadcast(SPECIES, a[a0 + k]);
                    c00 = x.fma(b0, c00);
                    c01 = x.fma(b1, c01);
                    x = FloatVector.broadcast(SPECIES, a[a1 + k]);
                    c10 = x.fma(b0, c10);
                    c11 = x.fma(b1, c11);
                    x = FloatVector.broadcast(SPECIES, a[a2 + k]);
                    c20 = x.fma(b0, c20);
                    c21 = x.fma(b1, c21);
                    x = FloatVector.broadcast(SPECIES, a[a3 + k]);
                    c30 = x.fma(b0, c30);
                    c31 = x.fma(b1, c31);
                }
                c00.intoArray(c, a0 + j);
                c01.intoArray(c, a0 + j + vl);
                c10.intoArray(c, a1 + j);
                c11.intoArray(c, a1 + j + vl);
                c20.intoArray(c, a2 + j);
                c21.intoArray(c, a2 + j + vl);
                c30.intoArray(c, a3 + j);
                c31.intoArray(c, a3 + j + vl);
            }
        }
    }
}
