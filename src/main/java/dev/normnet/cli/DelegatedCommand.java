package dev.normnet.cli;

import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.List;

/**
 * {@code normnet bench} and {@code normnet plot}: commands implemented in {@code dev.normnet.bench},
 * found at run time so that the command line works in builds without that package. The class must
 * have {@code public static int run(String[] args, PrintStream out, PrintStream err)}, which parses
 * its own flags (and prints its own help) and returns the exit status.
 */
final class DelegatedCommand implements Command {

    static final String BENCH = "bench";
    static final String PLOT = "plot";

    private final String name;
    private final String className;
    private final String summary;
    private final CommandSpec spec;

    DelegatedCommand(String name) {
        this.name = name;
        if (name.equals(BENCH)) {
            className = "dev.normnet.bench.BenchCommand";
            summary = "time training steps and kernels on each device (see normnet bench --help)";
        } else if (name.equals(PLOT)) {
            className = "dev.normnet.bench.PlotCommand";
            summary = "draw charts from history and benchmark JSON files (see normnet plot --help)";
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
    public int run(ParsedFlags flags, PrintStream out, PrintStream err) throws Exception {
        return runRaw(new String[0], out, err);
    }

    /** Hands the unparsed arguments to the implementing class. */
    int runRaw(String[] args, PrintStream out, PrintStream err) throws Exception {
        Method run;
        try {
            Class<?> c = Class.forName(className);
            run = c.getMethod("run", String[].class, PrintStream.class, PrintStream.class);
        } catch (ClassNotFoundException | NoSuchMethodException e) {
            throw new UsageException(name + " is not available in this build (" + className + " is missing)");
        }
        try {
            return (Integer) run.invoke(null, args, out, err);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof Exception) {
                throw (Exception) cause;
            }
            throw (Error) cause;
        }
    }
}
