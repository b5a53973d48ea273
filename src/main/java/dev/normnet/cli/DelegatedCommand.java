package dev.normnet.cli;

import dev.normnet.bench.BenchCommand;
import dev.normnet.bench.PlotCommand;
import java.io.PrintStream;
import java.util.List;

/**
 * {@code normnet bench} and {@code normnet plot}: commands implemented in {@code dev.normnet.bench}
 * ({@link BenchCommand#run(String[], PrintStream, PrintStream)} and
 * {@link PlotCommand#run(String[], PrintStream, PrintStream)}), which parse their own flags, print
 * their own help and return the exit status. The arguments after the command name are passed on
 * unchanged.
 */
final class DelegatedCommand implements Command {

    static final String BENCH = "bench";
    static final String PLOT = "plot";

    /** The signature of the implementing entry points. */
    @FunctionalInterface
    interface Entry {
        int run(String[] args, PrintStream out, PrintStream err);
    }

    private final String summary;
    private final Entry entry;
    private final CommandSpec spec;

    DelegatedCommand(String name) {
        if (name.equals(BENCH)) {
            summary = "time training steps and kernels on each device (see normnet bench --help)";
            entry = BenchCommand::run;
        } else if (name.equals(PLOT)) {
            summary = "draw charts from history and benchmark JSON files (see normnet plot --help)";
            entry = PlotCommand::run;
        } else {
            throw new IllegalArgumentException("no delegated command " + name);
        }
        spec = new CommandSpec(name, summary, List.of());
    }

    @Override
    public CommandSpec spec() {
        return spec;
    }

    @Override
    public String summary() {
        return summary;
    }

    @Override
    public int run(ParsedFlags flags, PrintStream out, PrintStream err) {
        return runRaw(new String[0], out, err);
    }

    /** Hands the unparsed arguments to the implementing class. */
    int runRaw(String[] args, PrintStream out, PrintStream err) {
        return entry.run(args, out, err);
    }
}
