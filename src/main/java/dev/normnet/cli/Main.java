package dev.normnet.cli;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Entry point of the {@code normnet} command line: {@code normnet train|summary|bench|plot ...}.
 *
 * <p>Exit status: 0 on success; 2 for a problem the user can fix (a bad flag, missing or corrupt
 * data, no usable GPU for {@code --device cuda}), reported as one line {@code normnet: <what is
 * wrong>} on stderr; 1 for an unexpected internal error. {@code --debug} or {@code NORMNET_DEBUG=1}
 * adds the stack trace.
 */
public final class Main {

    /** Exit status for problems the user can fix. */
    public static final int EXIT_USAGE = 2;
    /** Exit status for unexpected internal errors. */
    public static final int EXIT_INTERNAL = 1;

    private Main() {
    }

    public static void main(String[] args) {
        int status = run(args, System.out, System.err);
        System.out.flush();
        System.exit(status);
    }

    /** The commands in help order. */
    static Map<String, Command> commands() {
        Map<String, Command> m = new LinkedHashMap<>();
        for (Command c : new Command[] {new TrainCommand(), new SummaryCommand(),
                new DelegatedCommand(DelegatedCommand.BENCH), new DelegatedCommand(DelegatedCommand.PLOT)}) {
            m.put(c.spec().name(), c);
        }
        return m;
    }

    /** Runs one command line and returns its exit status; never throws, never exits. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        boolean debug = "1".equals(System.getenv("NORMNET_DEBUG")) || Arrays.asList(args).contains("--debug");
        try {
            return dispatch(args, out, err);
        } catch (Throwable t) {
            return report(t, err, debug);
        }
    }

    private static int dispatch(String[] args, PrintStream out, PrintStream err) throws Exception {
        Map<String, Command> commands = commands();
        if (args.length == 0) {
            throw new UsageException("missing command (" + String.join(", ", commands.keySet())
                    + ", bundle); see normnet --help");
        }
        String name = args[0];
        if (name.equals("--help") || name.equals("-h") || name.equals("help")) {
            out.print(topLevelHelp(commands));
            return 0;
        }
        if (name.equals("--version")) {
            out.println("normnet " + version());
            return 0;
        }
        Command command = commands.get(name);
        if (command == null) {
            if (name.equals("bundle")) {
                throw new UsageException("bundle is run by the ./normnet launcher (src/main/scripts/bundle.sh), not by the jar");
            }
            throw new UsageException((name.startsWith("-") ? "unknown option " : "unknown command ") + "'" + name
                    + "' (commands: " + String.join(", ", commands.keySet()) + ", bundle; see normnet --help)");
        }
        String[] rest = Arrays.copyOfRange(args, 1, args.length);
        if (command instanceof DelegatedCommand) {
            return ((DelegatedCommand) command).runRaw(rest, out, err);
        }
        ParsedFlags flags = command.spec().parse(rest);
        if (flags.on(CommandSpec.HELP.name())) {
            out.print(command.spec().help());
            return 0;
        }
        return command.run(flags, out, err);
    }

    static String topLevelHelp(Map<String, Command> commands) {
        StringBuilder sb = new StringBuilder();
        sb.append("usage: normnet <command> [flags]\n\n");
        sb.append("A from-scratch deep-learning engine: LeNet with batch norm on Fashion-MNIST, on a GPU through\n");
        sb.append("hand-written CUDA kernels or on the CPU.\n\ncommands:\n");
        for (Command c : commands.values()) {
            sb.append(String.format("  %-9s %s%n", c.spec().name(), c.summary()));
        }
        sb.append(String.format("  %-9s %s%n", "bundle", "package a self-contained runtime for a GPU machine without a JDK "
                + "(launcher only: ./normnet bundle [--with-tests])"));
        sb.append("\n`normnet <command> --help` lists the command's flags and their defaults.\n");
        sb.append("Errors print one line and exit with status 2 (bad input) or 1 (internal error);\n");
        sb.append("--debug or NORMNET_DEBUG=1 adds the stack trace.\n");
        return sb.toString();
    }

    static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        return v == null ? "(development build)" : v;
    }

    /** Prints the one-line report for {@code t} and returns the exit status it calls for. */
    static int report(Throwable t, PrintStream err, boolean debug) {
        boolean user = Errors.isUserError(t);
        String message = Errors.oneLine(t, user);
        err.println("normnet: " + message);
        if (debug) {
            t.printStackTrace(err);
        }
        err.flush();
        return user ? EXIT_USAGE : EXIT_INTERNAL;
    }
}
