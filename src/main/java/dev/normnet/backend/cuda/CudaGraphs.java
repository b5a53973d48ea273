package dev.normnet.backend.cuda;

import java.util.ArrayList;
import java.util.List;
import jcuda.driver.CUgraphExec;

/**
 * Captured steps: the first run of a step runs it eagerly, so that whatever the driver does on a
 * kernel's first launch (loading code under lazy module loading, growing the local-memory pool
 * for a kernel with a stack frame) and any scratch the step needs happen outside a capture. On
 * the second run, a dry run (shapes checked, scratch reserved,
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
    /** True during a step's first, eager run: it launches, and is held to a captured step's rules otherwise. */
    private boolean warming;

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

    /** Whether a captured step is running in any of its forms (eager first run, dry run, capture): no transfer, no wait. */
    boolean insideStep() {
        return warming || planning || capturing;
    }

    /** The step: run eagerly the first time, captured into a graph on its second run and replayed from then on. */
    Runnable capture(Runnable step) {
        return new Captured(step);
    }

    /**
     * Destroys the graph of a step {@link #capture} returned, if it has one (the driver frees a
     * graph still running when it completes); the step records a new one when run again. Nothing
     * for another object, or a step of other graphs.
     */
    void release(Runnable captured) {
        if (captured instanceof Captured c && c.owner() == this && c.exec != null) {
            if (insideStep()) {
                throw new IllegalStateException("release: called inside a captured step");
            }
            enter.run();
            graphs.remove(c.exec);
            stream.destroy(c.exec);
            c.exec = null;
        }
    }

    private final class Captured implements Runnable {
        private final Runnable step;
        private boolean ranEagerly;
        private CUgraphExec exec;

        Captured(Runnable step) {
            this.step = step;
        }

        CudaGraphs owner() {
            return CudaGraphs.this;
        }

        @Override
        public void run() {
            enter.run();
            if (!ranEagerly) {
                if (insideStep()) {
                    throw new IllegalStateException("capture: a captured step cannot capture another");
                }
                warming = true;
                try {
                    step.run();
                } finally {
                    warming = false;
                }
                ranEagerly = true;
                return;
            }
            if (exec == null) {
                exec = record(step);
            }
            stream.launch(exec);
        }
    }

    private CUgraphExec record(Runnable step) {
        if (insideStep()) {
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
