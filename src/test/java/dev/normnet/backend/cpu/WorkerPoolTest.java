package dev.normnet.backend.cpu;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pool runs every item exactly once, on valid worker ids, and passes errors back to the caller. */
class WorkerPoolTest {

    @Test
    void everyItemRunsExactlyOnce() {
        for (int threads = 1; threads <= 4; threads++) {
            try (WorkerPool pool = new WorkerPool(threads, "test")) {
                for (int items : new int[] {0, 1, 2, 3, 5, 100, 1001}) {
                    for (int grain : new int[] {1, 7, 1000}) {
                        int[] seen = new int[items];
                        int maxThreads = threads;
                        AtomicInteger badWorker = new AtomicInteger(-1);
                        pool.run(items, grain, (from, to, worker) -> {
                            if (worker < 0 || worker >= maxThreads) {
                                badWorker.set(worker);
                            }
                            for (int i = from; i < to; i++) {
                                seen[i]++;
                            }
                        });
                        assertEquals(-1, badWorker.get(), "worker id out of range");
                        for (int i = 0; i < items; i++) {
                            assertEquals(1, seen[i], "item " + i + " of " + items + " with " + threads
                                    + " threads, grain " + grain);
                        }
                    }
                }
            }
        }
    }

    @Test
    void errorsOnWorkersReachTheCallerAndThePoolKeepsWorking() {
        try (WorkerPool pool = new WorkerPool(3, "test")) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.run(30, 1, (from, to, worker) -> {
                if (from >= 20) {
                    throw new IllegalStateException("chunk at " + from);
                }
            }));
            assertTrue(e.getMessage().startsWith("chunk at"), e.getMessage());
            int[] seen = new int[30];
            pool.run(30, 1, (from, to, worker) -> {
                for (int i = from; i < to; i++) {
                    seen[i]++;
                }
            });
            for (int s : seen) {
                assertEquals(1, s);
            }
        }
    }

    @Test
    void callsFromTwoThreadsAreServedOneAfterTheOther() throws InterruptedException {
        try (WorkerPool pool = new WorkerPool(3, "test")) {
            int rounds = 300;
            int[][] seen = new int[2][99];
            Thread[] callers = new Thread[2];
            for (int c = 0; c < 2; c++) {
                int[] mine = seen[c];
                callers[c] = new Thread(() -> {
                    for (int r = 0; r < rounds; r++) {
                        pool.run(mine.length, 1, (from, to, worker) -> {
                            for (int i = from; i < to; i++) {
                                mine[i]++;
                            }
                        });
                    }
                });
                callers[c].start();
            }
            for (Thread t : callers) {
                t.join(60_000);
            }
            for (int c = 0; c < 2; c++) {
                for (int i = 0; i < seen[c].length; i++) {
                    assertEquals(rounds, seen[c][i], "caller " + c + ", item " + i);
                }
            }
        }
    }
}
