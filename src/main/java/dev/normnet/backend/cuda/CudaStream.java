package dev.normnet.backend.cuda;

import jcuda.driver.CUgraphExec;

/**
 * The stream every op is queued on, in its context: binding the context to a thread, waiting,
 * and capturing the stream into CUDA graphs. {@link CudaDevice} is the real one; the tests' launch
 * recorder has one that does nothing.
 */
interface CudaStream {
    /** One line naming the device, e.g. "cuda: NVIDIA H100 80GB HBM3 (sm_90)". */
    String describe();

    /** Makes the context current on the calling thread (JCuda contexts are per thread). */
    void enter();

    /**
     * Waits until everything queued has run.
     *
     * @param what names the wait in the message of a failure (an earlier kernel's fault surfaces here)
     */
    void synchronize(String what);

    /** Starts capturing the stream into a graph: launches are recorded, not run. */
    void beginCapture();

    /** Ends the capture and instantiates the graph. */
    CUgraphExec endCapture();

    /** Ends a capture that failed, discarding what it recorded. */
    void abandonCapture();

    /** Queues one replay of {@code graph}. */
    void launch(CUgraphExec graph);

    /** Frees an instantiated graph. */
    void destroy(CUgraphExec graph);

    /** Destroys the stream and the module and releases the context. */
    void close();
}
