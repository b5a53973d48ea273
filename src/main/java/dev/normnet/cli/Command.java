package dev.normnet.cli;

import java.io.PrintStream;

/** One {@code normnet} subcommand. */
interface Command {

    /** Name, description and flags. */
    CommandSpec spec();

    /** One line for the top-level help. */
    String summary();

    /**
     * Runs the command with checked flags; returns the exit status. Throws {@link UsageException}
     * (or a data or device error) for problems the user can fix.
     */
    int run(ParsedFlags flags, PrintStream out, PrintStream err) throws Exception;
}
