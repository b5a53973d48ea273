package dev.normnet.backend.cpu;

import dev.normnet.backend.ConvGeometry;
import java.util.Arrays;

/**
 * The reference convolution: plain loops over {@code float[]}, one output plane (forward),
 * input-gradient plane (backward-data) or filter slice (backward-filter) per work item. A
 * convolution output sums at most C*R*S products in float32 in a fixed order; the filter and bias
 * gradients, sums over the whole batch, are accumulated in float64 and rounded once.
 */
final class CpuConv2d implements CpuOps.Conv2d {
    private final WorkerPool pool;

    CpuConv2d(WorkerPool pool) {
        this.pool = pool;
    }

    @Override
    public void forward(CpuTensor x, CpuTensor w, CpuTensor b, CpuTensor y, ConvGeometry g) {
        float[] xa = x.data(), wa = w.data(), ya = y.data();
        float[] ba = b == null ? null : b.data();
        int xo = x.off(), wo = w.off(), yo = y.off(), bo = b == null ? 0 : b.off();
        pool.run(g.n() * g.k(), 1, (from, to, worker) -> {
            for (int nk = from; nk < to; nk++) {
                convForwardPlane(xa, xo, wa, wo, ba, bo, ya, yo, g, nk);
            }
        });
    }

    /** y[n, k] = b[k] + sum over c, r, s of w[k, c, r, s] * x[n, c] shifted; {@code nk = n*K + k}. */
    private static void convForwardPlane(float[] x, int xo, float[] w, int wo, float[] b, int bo,
                                         float[] y, int yo, ConvGeometry g, int nk) {
        int n = nk / g.k();
        int k = nk % g.k();
        int st = g.stride();
        int plane = g.p() * g.q();
        int yPlane = yo + nk * plane;                         // y (N, K, P, Q)
        Arrays.fill(y, yPlane, yPlane + plane, b == null ? 0f : b[bo + k]);
        for (int c = 0; c < g.c(); c++) {
            int xPlane = xo + (n * g.c() + c) * g.h() * g.w();  // x (N, C, H, W)
            int wBase = wo + (k * g.c() + c) * g.r() * g.s();    // w (K, C, R, S)
            for (int r = 0; r < g.r(); r++) {
                int p0 = g.first(r);
                int p1 = g.end(r, g.h(), g.p());
                for (int s = 0; s < g.s(); s++) {
                    int q0 = g.first(s);
                    int q1 = g.end(s, g.w(), g.q());
                    float wv = w[wBase + r * g.s() + s];
                    for (int p = p0; p < p1; p++) {
                        int xRow = xPlane + (p * st - g.pad() + r) * g.w() + s - g.pad();
                        int yRow = yPlane + p * g.q();
                        if (st == 1) {
                            for (int qq = q0; qq < q1; qq++) {
                                y[yRow + qq] += wv * x[xRow + qq];
                            }
                        } else {
                            for (int qq = q0; qq < q1; qq++) {
                                y[yRow + qq] += wv * x[xRow + qq * st];
                            }
                        }
                    }
                }
            }
        }
    }


    @Override
    public void backwardData(CpuTensor dy, CpuTensor w, CpuTensor dx, ConvGeometry g) {
        float[] dya = dy.data(), wa = w.data(), dxa = dx.data();
        int dyo = dy.off(), wo = w.off(), dxo = dx.off();
        pool.run(g.n() * g.c(), 1, (from, to, worker) -> {
            for (int nc = from; nc < to; nc++) {
                convBackwardDataPlane(dya, dyo, wa, wo, dxa, dxo, g, nc);
            }
        });
    }

    /** dx[n, c] = sum over k, r, s of w[k, c, r, s] * dy[n, k] scattered back; {@code nc = n*C + c}. */
    private static void convBackwardDataPlane(float[] dy, int dyo, float[] w, int wo, float[] dx, int dxo,
                                              ConvGeometry g, int nc) {
        int n = nc / g.c();
        int c = nc % g.c();
        int st = g.stride();
        int dxPlane = dxo + nc * g.h() * g.w();               // dx (N, C, H, W)
        Arrays.fill(dx, dxPlane, dxPlane + g.h() * g.w(), 0f);
        for (int k = 0; k < g.k(); k++) {
            int dyPlane = dyo + (n * g.k() + k) * g.p() * g.q();  // dy (N, K, P, Q)
            int wBase = wo + (k * g.c() + c) * g.r() * g.s();
            for (int r = 0; r < g.r(); r++) {
                int p0 = g.first(r);
                int p1 = g.end(r, g.h(), g.p());
                for (int s = 0; s < g.s(); s++) {
                    int q0 = g.first(s);
                    int q1 = g.end(s, g.w(), g.q());
                    float wv = w[wBase + r * g.s() + s];
                    for (int p = p0; p < p1; p++) {
                        int dxRow = dxPlane + (p * st - g.pad() + r) * g.w() + s - g.pad();
                        int dyRow = dyPlane + p * g.q();
                        if (st == 1) {
                            for (int qq = q0; qq < q1; qq++) {
                                dx[dxRow + qq] += wv * dy[dyRow + qq];
                            }
                        } else {
                            for (int qq = q0; qq < q1; qq++) {
                                dx[dxRow + qq * st] += wv * dy[dyRow + qq];
                            }
                        }
                    }
                }
            }
        }
    }


    @Override
    public void backwardFilter(CpuTensor x, CpuTensor dy, CpuTensor dw, CpuTensor db, ConvGeometry g) {
        float[] xa = x.data(), dya = dy.data(), dwa = dw.data();
        int xo = x.off(), dyo = dy.off(), dwo = dw.off();
        pool.run(g.k() * g.c(), 1, (from, to, worker) -> {
            for (int kc = from; kc < to; kc++) {
                convBackwardFilterSlice(xa, xo, dya, dyo, dwa, dwo, g, kc);
            }
        });
        if (db != null) {
            float[] dba = db.data();
            int dbo = db.off();
            int plane = g.p() * g.q();
            pool.run(g.k(), 1, (from, to, worker) -> {
                for (int k = from; k < to; k++) {
                    double acc = 0;
                    for (int n = 0; n < g.n(); n++) {
                        int dyPlane = dyo + (n * g.k() + k) * plane;
                        for (int j = 0; j < plane; j++) {
                            acc += dya[dyPlane + j];
                        }
                    }
                    dba[dbo + k] = (float) acc;
                }
            });
        }
    }

    /**
     * dw[k, c, r, s] = sum over n, p, q of dy[n, k, p, q] * x[n, c, p*stride - pad + r, q*stride - pad + s];
     * {@code kc = k*C + c}. Each output row's Q products are summed in float32, the rows in float64.
     */
    private static void convBackwardFilterSlice(float[] x, int xo, float[] dy, int dyo, float[] dw, int dwo,
                                                ConvGeometry g, int kc) {
        int k = kc / g.c();
        int c = kc % g.c();
        int st = g.stride();
        int dwBase = dwo + kc * g.r() * g.s();                // dw (K, C, R, S)
        for (int r = 0; r < g.r(); r++) {
            int p0 = g.first(r);
            int p1 = g.end(r, g.h(), g.p());
            for (int s = 0; s < g.s(); s++) {
                int q0 = g.first(s);
                int q1 = g.end(s, g.w(), g.q());
                double acc = 0;
                for (int n = 0; n < g.n(); n++) {
                    int xPlane = xo + (n * g.c() + c) * g.h() * g.w();
                    int dyPlane = dyo + (n * g.k() + k) * g.p() * g.q();
                    for (int p = p0; p < p1; p++) {
                        int xRow = xPlane + (p * st - g.pad() + r) * g.w() + s - g.pad();
                        int dyRow = dyPlane + p * g.q();
                        float row = 0f;
                        for (int qq = q0; qq < q1; qq++) {
                            row += dy[dyRow + qq] * x[xRow + qq * st];
                        }
                        acc += row;
                    }
                }
                dw[dwBase + r * g.s() + s] = (float) acc;
            }
        }
    }
}
