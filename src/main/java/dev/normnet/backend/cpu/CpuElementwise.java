package dev.normnet.backend.cpu;

/**
 * The reference activations: sigmoid computed in float64 and rounded once, its gradient
 * dy * y * (1 - y) from the forward output, ReLU and its gradient. Element ranges of at least
 * {@value #GRAIN} per thread.
 */
final class CpuElementwise implements CpuOps.Elementwise {
    /** Items smaller than this are not worth a thread hand-off. */
    static final int GRAIN = 1 << 15;

    private final WorkerPool pool;

    CpuElementwise(WorkerPool pool) {
        this.pool = pool;
    }

    @Override
    public void sigmoidForward(CpuTensor cx, CpuTensor cy, int n) {
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(n, GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                ya[yo + i] = (float) (1.0 / (1.0 + Math.exp(-(double) xa[xo + i])));
            }
        });
    }

    @Override
    public void sigmoidBackward(CpuTensor cy, CpuTensor cdy, CpuTensor cdx, int n) {
        float[] ya = cy.data(), dya = cdy.data(), dxa = cdx.data();
        int yo = cy.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(n, GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                float s = ya[yo + i];
                dxa[dxo + i] = dya[dyo + i] * s * (1f - s);
            }
        });
    }

    @Override
    public void reluForward(CpuTensor cx, CpuTensor cy, int n) {
        float[] xa = cx.data(), ya = cy.data();
        int xo = cx.off(), yo = cy.off();
        pool.run(n, GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                float v = xa[xo + i];
                ya[yo + i] = v > 0f ? v : 0f;
            }
        });
    }

    @Override
    public void reluBackward(CpuTensor cx, CpuTensor cdy, CpuTensor cdx, int n) {
        float[] xa = cx.data(), dya = cdy.data(), dxa = cdx.data();
        int xo = cx.off(), dyo = cdy.off(), dxo = cdx.off();
        pool.run(n, GRAIN, (from, to, worker) -> {
            for (int i = from; i < to; i++) {
                dxa[dxo + i] = xa[xo + i] > 0f ? dya[dyo + i] : 0f;
            }
        });
    }
}
