package dev.normnet.backend.cuda;

import dev.normnet.tensor.Tensor;
import jcuda.driver.CUdeviceptr;

/**
 * What every op family of one {@link CudaBackend} shares: the device check of its tensors, the
 * kernels, launching (nothing during the dry run before a capture) and scratch (none first
 * needed inside a capture). Also the backend's open/closed state.
 */
final class OpContext {
    private final CudaBackend owner;
    final CudaStream stream;
    final CudaMemory memory;
    final CudaGraphs graphs;
    private final Launcher launcher;
    private boolean closed;

    OpContext(CudaBackend owner, CudaStream stream, Launcher launcher, CudaMemory memory) {
        this.owner = owner;
        this.stream = stream;
        this.launcher = launcher;
        this.memory = memory;
        this.graphs = new CudaGraphs(stream, this::enter);
    }

    /** Checks the backend is open and makes its context current on the calling thread. */
    void enter() {
        if (closed) {
            throw new IllegalStateException("CudaBackend is closed");
        }
        stream.enter();
    }

    boolean closed() {
        return closed;
    }

    void markClosed() {
        closed = true;
    }

    CudaBackend owner() {
        return owner;
    }

    /** The device check: {@code t} is a CUDA tensor of this backend (named {@code name} in {@code op}'s messages). */
    CudaTensor cuda(String op, String name, Tensor t) {
        if (t instanceof CudaTensor ct) {
            if (ct.backend() != owner) {
                throw new IllegalArgumentException(op + ": " + name + " " + t.shape() + " belongs to another CudaBackend");
            }
            return ct;
        }
        if (t == null) {
            throw new IllegalArgumentException(op + ": " + name + " must not be null");
        }
        throw new IllegalArgumentException(op + ": " + name + " " + t.shape() + " lives on " + t.device().id()
                + ", expected a CUDA tensor");
    }

    /** {@link #cuda}, or null for an absent optional tensor. */
    CudaTensor cudaOrNull(String op, String name, Tensor t) {
        return t == null ? null : cuda(op, name, t);
    }

    /** The kernel called {@code name}, looked up once (op families call this when they are built). */
    Kernel kernel(String name) {
        return launcher.kernel(name);
    }

    /** Queues one launch; during the dry run before a capture, launches nothing. See {@link Launcher#launch}. */
    void launch(Kernel kernel, int gx, int gy, int gz, int threads, int sharedBytes, Object shapes, KernelArgs args) {
        enter();
        if (graphs.planning()) {
            return;
        }
        launcher.launch(kernel, gx, gy, gz, threads, sharedBytes, shapes, args);
    }

    /**
     * Scratch of {@code floats} floats for {@code purpose}, reserved once (by the dry run, for a
     * captured step). Enters first: an op asks for its scratch before its first launch, and the
     * first request allocates, which needs the backend open and its context current on this thread.
     */
    CUdeviceptr scratch(String purpose, long floats) {
        enter();
        if (graphs.capturing() && !memory.hasScratch(purpose, floats)) {
            throw new IllegalStateException("scratch " + purpose + " (" + floats + " floats) first needed inside a capture"
                    + " (the dry run should have reserved it)");
        }
        return memory.scratch(purpose, floats);
    }

    /**
     * {@code count} integer tickets for kernels whose last block to finish does the merge
     * (common.cuh's nn_last_block): scratch, so zero-filled when first allocated, and every such
     * kernel leaves its tickets at 0; one stream orders the launches, so every kernel that needs
     * {@code count} of them shares them.
     */
    CUdeviceptr tickets(int count) {
        return scratch("tickets", count);
    }

    /** Throws when a host transfer is attempted inside a captured step ({@code shape} may be null). */
    void noTransferWhileCapturing(String what, Object shape) {
        if (graphs.insideStep()) {
            throw new IllegalStateException(what + (shape == null ? "" : " " + shape) + " inside a captured step: a step may only queue ops");
        }
    }

    static KernelArgs args() {
        return new KernelArgs();
    }
}
