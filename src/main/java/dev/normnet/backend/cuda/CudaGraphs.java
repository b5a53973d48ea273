package dev.normnet.backend.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUgraphExec;

/**
 * Captured steps: on the first run of a step, a dry run (shapes checked, scratch reserved,
 * nothing launched: {@link #planning()}), then the step is captured on the stream into a CUDA
 * graph ({@link #capturing()}: no allocation, no transfer, no new scratch) and instantiated.
 * Every run launches the graph. Knows whether a dry run or a capture is under way, which the
 * other parts of the backend ask before they launch, allocate, copy or wait.
 */
final class CudaGraphs {
    private final CudaStream stream;
    private final Runnable enter;
    private final List<CUgraphExec> graphs = new ArrayList<>();
    /** True during the dry run before a capture: ops check shapes and reserve scratch, launch nothing. */
    private boolean planning;
    /** True while the stream is being captured into a graph. */
    private boolean capturing;

    /**
     * @param enter run before each replay: checks the backend is open and binds its context
     */
    CudaGraphs(CudaStream stream, Runnable enter) {
        this.stream = stream;
        this.enter = enter;
    }

    boolean planning() {
        return planning;
    }

    boolean capturing() {
        return capturing;
    }

    /** The step, captured into a graph on its first run and replayed on every run. */
    Runnable capture(Runnable step) {
        return new Runnable() {
            private CUgraphExec exec;

            @Override
            public void run() {
                enter.run();
                if (exec == null) {
                    exec = record(step);
                }
                stream.launch(exec);
            }
        };
    }

    private CUgraphExec record(Runnable step) {
        if (planning || capturing) {
            throw new IllegalStateException("capture: a captured step cannot capture another");
        }
        planning = true;
        try {
            step.run();
        } finally {
            planning = false;
        }
        stream.beginCapture();
        capturing = true;
        try {
            step.run();
        } catch (RuntimeException | Error e) {
            capturing = false;
            stream.abandonCapture();
            throw e;
        }
        capturing = false;
        CUgraphExec exec = stream.endCapture();
        graphs.add(exec);
        CudaDevice.debug("captured a step into a CUDA graph");
        return exec;
    }

    /** Frees every instantiated graph. */
    void close() {
        for (CUgraphExec g : graphs) {
            stream.destroy(g);
        }
        graphs.clear();
    }
}
