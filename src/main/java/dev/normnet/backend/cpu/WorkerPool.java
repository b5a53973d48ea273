package dev.normnet.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of daemon threads, created once, that runs a range of independent items split
 * into contiguous chunks: chunk 0 on the calling thread, chunk i on worker i.
 *
 * <p>Every op of {@link CpuBackend} hands the pool items whose results do not depend on one
 * another (an output plane, a channel, a row), and each item is computed in a fixed order by one
 * thread. How the items are split therefore never changes a result: any thread count gives the
 * same bits.
 *
 * <p>Hand-off: the ops of a training step are short (tens of microseconds for the small layers),
 * and waking a thread parked in the kernel costs about as much on a virtual machine. So a worker
 * that has finished its chunk spins for up to {@value #SPIN_NANOS} ns waiting for the next task
 * before it parks, and the caller spins the same time waiting for the workers before it parks.
 * The spin is short on purpose: a longer one (OpenMP's default) wastes a core whenever another
 * process wants it, which is what makes two-thread PyTorch runs collapse beside a busy neighbour
 * (benchmarks/notes/honest-anchor.md).
 */
final class WorkerPool implements AutoCloseable {
    /** How long a waiting thread spins before it parks. */
    static final long SPIN_NANOS = 50_000;

    /** Work on items {@code [from, to)}; {@code worker} in {@code [0, threads)} selects per-thread scratch. */
    @FunctionalInterface
    interface RangeTask {
        void run(int from, int to, int worker);
    }

    private final int threads;
    private final Thread[] workers;
    private final Object callers = new Object();   // one parallel run at a time

    // Published by the volatile write of generation; read by the workers after they see it change.
    private RangeTask task;
    private int items;
    private int chunks;
    private volatile long generation;
    private volatile boolean closed;

    private final AtomicInteger pending = new AtomicInteger();
    private final AtomicReference<Throwable> failure = new AtomicReference<>();
    private volatile Thread waitingCaller;          // the caller, while it is parked for the workers

    WorkerPool(int threads, String name) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be >= 1, got " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 1; i < threads; i++) {
            int id = i;
            Thread t = new Thread(() -> workerLoop(id), name + "-" + i);
            t.setDaemon(true);
            workers[i - 1] = t;
            t.start();
        }
    }

    int threads() {
        return threads;
    }

    /**
     * Runs {@code task} over {@code [0, items)} in at most {@code threads} chunks of at least
     * {@code grain} items each, and returns when all are done. An exception thrown by any chunk
     * is rethrown here. Calls from several threads are served one after the other.
     */
    void run(int items, int grain, RangeTask task) {
        if (items <= 0) {
            return;
        }
        int n = Math.min(threads, (int) Math.min(Integer.MAX_VALUE, ((long) items + grain - 1) / grain));
        if (n <= 1) {
            task.run(0, items, 0);
            return;
        }
        synchronized (callers) {
            runChunks(items, n, task);
        }
    }

    private void runChunks(int items, int n, RangeTask task) {
        if (closed) {
            throw new IllegalStateException("the CPU backend's thread pool is closed");
        }
        this.task = task;
        this.items = items;
        this.chunks = n;
        failure.set(null);
        pending.set(n - 1);
        generation++;                                   // volatile write: publishes the fields above
        for (int i = 1; i < n; i++) {
            LockSupport.unpark(workers[i - 1]);         // a spinning worker only gets a spare permit
        }
        Throwable error = null;
        try {
            task.run(0, chunkStart(1, items, n), 0);
        } catch (Throwable t) {
            error = t;
        }
        awaitWorkers();
        this.task = null;
        Throwable workerError = failure.getAndSet(null);
        if (error == null) {
            error = workerError;
        }
        if (error instanceof RuntimeException re) {
            throw re;
        }
        if (error instanceof Error e) {
            throw e;
        }
        if (error != null) {
            throw new IllegalStateException(error);
        }
    }

    /** Spins, then parks, until every worker has finished its chunk. */
    private void awaitWorkers() {
        long start = System.nanoTime();
        while (pending.get() > 0) {
            if (System.nanoTime() - start < SPIN_NANOS) {
                Thread.onSpinWait();
                continue;
            }
            waitingCaller = Thread.currentThread();
            if (pending.get() > 0) {
                LockSupport.park(this);                 // interrupts only end the park early; we keep waiting
            }
            waitingCaller = null;
        }
    }

    private static int chunkStart(int chunk, int items, int chunks) {
        return (int) ((long) chunk * items / chunks);
    }

    private void workerLoop(int id) {
        long seen = 0;
        while (true) {
            long start = System.nanoTime();
            long g;
            while ((g = generation) == seen && !closed) {
                if (System.nanoTime() - start < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);             // woken by runChunks or close; spurious returns re-check
                }
            }
            if (closed) {
                return;
            }
            seen = g;
            RangeTask t = task;
            int n = items;
            int c = chunks;
            if (id >= c) {
                continue;
            }
            try {
                t.run(chunkStart(id, n, c), chunkStart(id + 1, n, c), id);
            } catch (Throwable e) {
                failure.compareAndSet(null, e);
            }
            if (pending.decrementAndGet() == 0) {
                Thread caller = waitingCaller;
                if (caller != null) {
                    LockSupport.unpark(caller);
                }
            }
        }
    }

    boolean isClosed() {
        return closed;
    }

    @Override
    public void close() {
        closed = true;
        for (Thread t : workers) {
            LockSupport.unpark(t);
        }
    }
}
