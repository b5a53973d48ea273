package dev.normnet.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/**
 * Entry point of the {@code normnet} command line: {@code normnet train|eval|predict|summary|inspect|fold|bench|plot|experiment|bundle|completion ...},
 * parsed by picocli.
 *
 * <p>One error policy for every command, applied here: exit status 0 on success; 2 for a problem
 * the user can fix (a bad flag or value, a missing, corrupt or wrong-shaped file, no usable GPU
 * when one was asked for, an output path that cannot be written), reported as one line
 * {@code normnet: <what is wrong>} on stderr; 1 for an unexpected internal error, one line naming
 * the exception. {@code --debug} (on every command) or {@code NORMNET_DEBUG=1} adds the stack
 * trace. {@link Errors} sorts and words the errors; usage text is never printed after an error.
 */
@Command(name = "normnet", scope = ScopeType.INHERIT, mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        usageHelpWidth = 100, synopsisSubcommandLabel = "COMMAND",
        description = {"A from-scratch deep-learning engine: LeNet with batch norm on Fashion-MNIST, on a GPU through",
                "hand-written CUDA kernels or on the CPU."},
        commandListHeading = "%nCommands:%n",
        footer = {"", "`normnet COMMAND --help` lists the command's options and their defaults.",
                "Errors print one line and exit with status 2 (bad input) or 1 (internal error);",
                "--debug or NORMNET_DEBUG=1 adds the stack trace."})
public final class Main implements Callable<Integer> {

    /** Exit status for problems the user can fix. */
    public static final int EXIT_USAGE = 2;
    /** Exit status for unexpected internal errors. */
    public static final int EXIT_INTERNAL = 1;
    /** The option every command accepts for stack traces. */
    static final String DEBUG = "--debug";

    @Option(names = DEBUG, scope = ScopeType.INHERIT,
            description = "on an error, also print its stack trace (as NORMNET_DEBUG=1 does) (default: off)")
    boolean debug;

    private Main() {
    }

    public static void main(String[] args) {
        int status = run(args, System.out, System.err);
        System.out.flush();
        System.exit(status);
    }

    /** The command line with every command, printing to {@code out} and {@code err}. */
    static CommandLine commandLine(PrintStream out, PrintStream err) {
        CommandLine cl = new CommandLine(new Main());
        cl.addSubcommand(new TrainCommand(out));
        cl.addSubcommand(new EvalCommand(out));
        cl.addSubcommand(new PredictCommand(out));
        cl.addSubcommand(new SummaryCommand(out));
        cl.addSubcommand(new InspectCommand(out));
        cl.addSubcommand(new FoldCommand(out));
        cl.addSubcommand(new BenchCommand(out, err));
        cl.addSubcommand(new PlotCommand(out));
        cl.addSubcommand(new ExperimentCommand(out));
        cl.addSubcommand(new BundleCommand());
        cl.addSubcommand(new CompletionCommand(out));
        cl.addSubcommand(new CommandLine.HelpCommand());
        cl.setOut(new PrintWriter(new OutputStreamWriter(out, StandardCharsets.UTF_8), true));
        cl.setErr(new PrintWriter(new OutputStreamWriter(err, StandardCharsets.UTF_8), true));
        return cl;
    }

    /** Runs one command line and returns its exit status; never throws, never exits. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        try {
            return execute(commandLine(out, err), args, out, err);
        } catch (Throwable t) {
            return report(t, err, debug(args));
        }
    }

    /** Runs {@code args} on {@code cl} under the error policy; never throws. */
    static int execute(CommandLine cl, String[] args, PrintStream out, PrintStream err) {
        boolean debug = debug(args);
        try {
            cl.setParameterExceptionHandler((e, a) -> report(e, err, debug));
            cl.setExecutionExceptionHandler((e, c, parsed) -> report(e, err, debug));
            return cl.execute(args);
        } catch (Throwable t) {
            return report(t, err, debug);
        } finally {
            out.flush();
        }
    }

    /** Stack traces: --debug anywhere on the line (even where the line does not parse), or NORMNET_DEBUG=1. */
    private static boolean debug(String[] args) {
        return "1".equals(System.getenv("NORMNET_DEBUG")) || Arrays.asList(args).contains(DEBUG);
    }

    /** {@code normnet} without a command. */
    @Override
    public Integer call() {
        throw new UsageException("missing command (train, eval, predict, summary, inspect, fold, bench, plot, experiment, bundle, completion); see normnet --help");
    }

    /** Prints the one-line report for {@code t} and returns the exit status it calls for. */
    static int report(Throwable t, PrintStream err, boolean debug) {
        boolean user = Errors.isUserError(t);
        err.println("normnet: " + Errors.oneLine(t, user));
        if (debug) {
            t.printStackTrace(err);
        }
        err.flush();
        return user ? EXIT_USAGE : EXIT_INTERNAL;
    }

    /**
     * "normnet 0.1.0 (commit 0123abc...)": the version and the git commit the jar was built from, which
     * the build writes into {@code normnet-build.properties}; "unknown commit" for a build outside git.
     */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {line()};
        }

        static String line() {
            Properties p = new Properties();
            try (InputStream in = Main.class.getResourceAsStream("normnet-build.properties")) {
                if (in != null) {
                    p.load(in);
                }
            } catch (IOException e) {
                // no build facts: say so below
            }
            String version = known(p.getProperty("version"));
            String commit = known(p.getProperty("commit"));
            String text = commit == null ? "unknown commit"
                    : "commit " + commit + ("true".equals(p.getProperty("dirty")) ? "-dirty" : "");
            return "normnet " + (version == null ? "(development build)" : version) + " (" + text + ")";
        }

        /** Null for an unset or unfiltered ("${...}") value. */
        private static String known(String v) {
            return v == null || v.isBlank() || v.contains("${") ? null : v.trim();
        }
    }
}
