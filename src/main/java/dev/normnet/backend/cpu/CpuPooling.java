package dev.normnet.backend.cpu;

import dev.normnet.backend.PoolGeometry;
import java.util.Arrays;

/**
 * The reference pooling, one (sample, channel) plane per work item, any window, stride and
 * padding. Average pooling counts padded zeros in the divisor; max pooling sends each window's
 * gradient to its first maximum in row-major order (PyTorch's rule), recomputed from x.
 */
final class CpuPooling implements CpuOps.Pooling {
    private final WorkerPool pool;

    CpuPooling(WorkerPool pool) {
        this.pool = pool;
    }

    @Override
    public void avgForward(CpuTensor cx, CpuTensor cy, PoolGeometry g) {
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        float inv = 1f / (g.kernel() * g.kernel());
        pool.run(g.planes(), 1, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int xPlane = xo + pl * g.h() * g.w();
                int yPlane = yo + pl * g.p() * g.q();
                for (int p = 0; p < g.p(); p++) {
                    int h0 = Math.max(p * g.stride() - g.pad(), 0);
                    int h1 = Math.min(p * g.stride() - g.pad() + g.kernel(), g.h());
                    for (int q = 0; q < g.q(); q++) {
                        int w0 = Math.max(q * g.stride() - g.pad(), 0);
                        int w1 = Math.min(q * g.stride() - g.pad() + g.kernel(), g.w());
                        float sum = 0f;
                        for (int h = h0; h < h1; h++) {
                            for (int w = w0; w < w1; w++) {
                                sum += xa[xPlane + h * g.w() + w];
                            }
                        }
                        ya[yPlane + p * g.q() + q] = sum * inv;
                    }
                }
            }
        });
    }


    @Override
    public void avgBackward(CpuTensor cdy, CpuTensor cdx, PoolGeometry g) {
        float[] dya = cdy.data(), dxa = cdx.data();
        int dyo = cdy.off(), dxo = cdx.off();
        float inv = 1f / (g.kernel() * g.kernel());
        pool.run(g.planes(), 1, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int dxPlane = dxo + pl * g.h() * g.w();
                int dyPlane = dyo + pl * g.p() * g.q();
                Arrays.fill(dxa, dxPlane, dxPlane + g.h() * g.w(), 0f);
                for (int p = 0; p < g.p(); p++) {
                    int h0 = Math.max(p * g.stride() - g.pad(), 0);
                    int h1 = Math.min(p * g.stride() - g.pad() + g.kernel(), g.h());
                    for (int q = 0; q < g.q(); q++) {
                        int w0 = Math.max(q * g.stride() - g.pad(), 0);
                        int w1 = Math.min(q * g.stride() - g.pad() + g.kernel(), g.w());
                        float grad = dya[dyPlane + p * g.q() + q] * inv;
                        for (int h = h0; h < h1; h++) {
                            for (int w = w0; w < w1; w++) {
                                dxa[dxPlane + h * g.w() + w] += grad;
                            }
                        }
                    }
                }
            }
        });
    }


    @Override
    public void maxForward(CpuTensor cx, CpuTensor cy, PoolGeometry g) {
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(g.planes(), 1, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int xPlane = xo + pl * g.h() * g.w();
                int yPlane = yo + pl * g.p() * g.q();
                for (int p = 0; p < g.p(); p++) {
                    for (int q = 0; q < g.q(); q++) {
                        ya[yPlane + p * g.q() + q] = xa[xPlane + argMax(xa, xPlane, g, p, q)];
                    }
                }
            }
        });
    }

    /**
     * Offset within the plane of the window's first maximum in row-major order, PyTorch's rule: a
     * value wins when it is greater than the best so far or NaN. Padding never wins.
     */
    private static int argMax(float[] x, int plane, PoolGeometry g, int p, int q) {
        int h0 = Math.max(p * g.stride() - g.pad(), 0);
        int h1 = Math.min(p * g.stride() - g.pad() + g.kernel(), g.h());
        int w0 = Math.max(q * g.stride() - g.pad(), 0);
        int w1 = Math.min(q * g.stride() - g.pad() + g.kernel(), g.w());
        int best = h0 * g.w() + w0;
        float max = Float.NEGATIVE_INFINITY;
        for (int h = h0; h < h1; h++) {
            for (int w = w0; w < w1; w++) {
                float v = x[plane + h * g.w() + w];
                if (v > max || Float.isNaN(v)) {
                    max = v;
                    best = h * g.w() + w;
                }
            }
        }
        return best;
    }

    @Override
    public void maxBackward(CpuTensor cx, CpuTensor cdy, CpuTensor cdx, PoolGeometry g) {
        float[] xa = cx.data(), dya = cdy.data(), dxa = cdx.data();
        int xo = cx.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(g.planes(), 1, (from, to, worker) -> {
            for (int pl = from; pl < to; pl++) {
                int xPlane = xo + pl * g.h() * g.w();
                int dxPlane = dxo + pl * g.h() * g.w();
                int dyPlane = dyo + pl * g.p() * g.q();
                Arrays.fill(dxa, dxPlane, dxPlane + g.h() * g.w(), 0f);
                for (int p = 0; p < g.p(); p++) {
                    for (int q = 0; q < g.q(); q++) {
                        dxa[dxPlane + argMax(xa, xPlane, g, p, q)] += dya[dyPlane + p * g.q() + q];
                    }
                }
            }
        });
    }
}
