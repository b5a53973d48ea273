package dev.normnet.backend.cpu;

/**
 * A fixed set of daemon threads, created once, that runs a range of independent items split
 * into contiguous chunks: chunk 0 on the calling thread, chunk i on worker i.
 *
 * <p>Every op of {@link CpuBackend} hands the pool items whose results do not depend on one
 * another (an output plane, a channel, a row), and each item is computed in a fixed order by one
 * thread. How the items are split therefore never changes a result: any thread count gives the
 * same bits.
 */
final class WorkerPool implements AutoCloseable {

    /** Work on items {@code [from, to)}; {@code worker} in {@code [0, threads)} selects per-thread scratch. */
    @FunctionalInterface
    interface RangeTask {
        void run(int from, int to, int worker);
    }

    private final int threads;
    private final Thread[] workers;
    private final Object lock = new Object();
    private final Object callers = new Object();   // one parallel run at a time

    // Guarded by lock.
    private RangeTask task;
    private int items;
    private int chunks;
    private long generation;
    private int pending;
    private Throwable failure;
    private boolean closed;

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
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("the CPU backend's thread pool is closed");
            }
            this.task = task;
            this.items = items;
            this.chunks = n;
            this.failure = null;
            this.pending = n - 1;
            this.generation++;
            lock.notifyAll();
        }
        Throwable error = null;
        try {
            task.run(0, chunkStart(1, items, n), 0);
        } catch (Throwable t) {
            error = t;
        }
        boolean interrupted = false;
        synchronized (lock) {
            while (pending > 0) {
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            this.task = null;
            if (error == null) {
                error = failure;
            }
            failure = null;
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
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

    private static int chunkStart(int chunk, int items, int chunks) {
        return (int) ((long) chunk * items / chunks);
    }

    private void workerLoop(int id) {
        long seen = 0;
        while (true) {
            RangeTask t;
            int n;
            int c;
            synchronized (lock) {
                while (generation == seen && !closed) {
                    try {
                        lock.wait();
                    } catch (InterruptedException e) {
                        // Only close() ends a worker.
                    }
                }
                if (closed) {
                    return;
                }
                seen = generation;
                t = task;
                n = items;
                c = chunks;
            }
            if (id >= c) {
                continue;
            }
            Throwable error = null;
            try {
                t.run(chunkStart(id, n, c), chunkStart(id + 1, n, c), id);
            } catch (Throwable e) {
                error = e;
            }
            synchronized (lock) {
                if (error != null && failure == null) {
                    failure = error;
                }
                if (--pending == 0) {
                    lock.notifyAll();
                }
            }
        }
    }

    @Override
    public void close() {
        synchronized (lock) {
            closed = true;
            lock.notifyAll();
        }
    }
}
