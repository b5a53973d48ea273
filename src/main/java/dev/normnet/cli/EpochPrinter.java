package dev.normnet.cli;

import dev.normnet.train.EpochListener;
import dev.normnet.train.EpochRecord;
import java.io.PrintStream;
import java.util.Locale;

/**
 * Prints one line per epoch under a header. On a terminal it also draws a progress bar during the
 * epoch (redrawn at most ten times a second, erased before the epoch's line); elsewhere it prints
 * nothing between epochs, so logs stay one line per epoch.
 */
final class EpochPrinter implements EpochListener {
    private static final int BAR = 30;
    private static final long REDRAW_NANOS = 100_000_000L;

    private final PrintStream out;
    private final boolean terminal;
    private long lastDraw;
    private boolean drawn;

    EpochPrinter(PrintStream out, boolean terminal) {
        this.out = out;
        this.terminal = terminal;
    }

    void header() {
        out.println("epoch  train_loss  train_acc  test_acc  examples/s  seconds");
        out.flush();
    }

    /** The epoch's line, without its newline. */
    static String line(EpochRecord r) {
        return String.format(Locale.ROOT, "%5d  %10.4f  %9.4f  %8.4f  %10.0f  %7.1f", r.epoch(), r.trainLoss(),
                r.trainAcc(), r.testAcc(), r.examplesPerSec(), r.seconds());
    }

    @Override
    public void onEpoch(EpochRecord record) {
        if (drawn) {
            out.print("\r\033[K");
            drawn = false;
        }
        out.println(line(record));
        out.flush();
    }

    @Override
    public void onBatch(int epoch, int batch, int batches) {
        if (!terminal) {
            return;
        }
        long now = System.nanoTime();
        if (drawn && now - lastDraw < REDRAW_NANOS && batch != batches) {
            return;
        }
        lastDraw = now;
        int filled = (int) ((long) BAR * batch / batches);
        out.print("\r" + String.format(Locale.ROOT, "%5d  [%s%s] %d/%d", epoch, "#".repeat(filled),
                ".".repeat(BAR - filled), batch, batches));
        out.flush();
        drawn = true;
    }
}
