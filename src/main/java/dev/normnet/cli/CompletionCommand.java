package dev.normnet.cli;

import java.io.PrintStream;
import java.util.concurrent.Callable;
import picocli.AutoComplete;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/** {@code normnet completion}: prints the bash completion script picocli generates for every command. */
@Command(name = "completion",
        header = "Print the bash (and zsh) completion script.",
        description = {"Enable completion in the current shell with", "  source <(./normnet completion)",
                "or for good with", "  ./normnet completion > ~/.local/share/bash-completion/completions/normnet"})
final class CompletionCommand implements Callable<Integer> {
    @Spec
    private CommandSpec spec;

    private final PrintStream out;

    CompletionCommand(PrintStream out) {
        this.out = out;
    }

    @Override
    public Integer call() {
        out.print(AutoComplete.bash("normnet", spec.root().commandLine()));
        return 0;
    }
}
