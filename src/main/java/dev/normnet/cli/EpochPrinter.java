package dev.normnet.cli;

import dev.normnet.train.EpochListener;
import dev.normnet.train.EpochRecord;
import java.io.PrintStream;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;

/**
 * Prints one line per epoch under a header. On a terminal it also draws a progress bar during the
 * epoch (me.tongfei:progressbar: batches done, rate, time left; cleared before the epoch's line);
 * elsewhere it prints nothing between epochs, so that a redirected log holds exactly one line per
 * epoch. {@link #drawsBar} is the rule.
 */
final class EpochPrinter implements EpochListener, AutoCloseable {
    private final PrintStream out;
    private final boolean bar;
    private ProgressBar progress;
    private int progressEpoch;

    /** @param bar whether to draw a progress bar: {@link #drawsBar} of where {@code out} goes */
    EpochPrinter(PrintStream out, boolean bar) {
        this.out = out;
        this.bar = bar;
    }

    /**
     * The progress rule: a bar only when the output is the process's standard output and that is a
     * terminal (a console exists; never when stdout is redirected to a file or a pipe).
     */
    static boolean drawsBar(PrintStream out, boolean console) {
        return console && out == System.out;
    }

    /** {@link #drawsBar} for this process. */
    static boolean drawsBar(PrintStream out) {
        return drawsBar(out, System.console() != null);
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
        closeBar();
        out.println(line(record));
        out.flush();
    }

    @Override
    public void onBatch(int epoch, int batch, int batches) {
        if (!bar) {
            return;
        }
        if (progress == null || progressEpoch != epoch) {
            closeBar();
            progress = new ProgressBarBuilder()
                    .setTaskName(String.format(Locale.ROOT, "%5d", epoch))
                    .setInitialMax(batches)
                    .setUnit(" batches", 1)
                    .showSpeed()
                    .setUpdateIntervalMillis(100)
                    .clearDisplayOnFinish()
                    .setConsumer(new ConsoleProgressBarConsumer(out))
                    .build();
            progressEpoch = epoch;
        }
        progress.stepTo(batch);
    }

    private void closeBar() {
        if (progress != null) {
            progress.close();
            progress = null;
        }
    }

    /** Stops a bar left open (training ended by an error mid-epoch). */
    @Override
    public void close() {
        closeBar();
    }
}
