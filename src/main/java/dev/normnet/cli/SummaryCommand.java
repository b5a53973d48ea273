package dev.normnet.cli;

import java.io.PrintStream;
import java.util.List;

/** {@code normnet summary}: prints a model's layers, output shapes and parameter counts. */
final class SummaryCommand implements Command {

    static final CommandSpec SPEC = new CommandSpec("summary",
            "Prints the model's layers with their output shapes and parameter counts, then the totals.",
            List.of(
                    Flag.choice("model", "model to describe", TrainCommand.MODELS.toArray(new String[0])),
                    Flag.integer("resize", "PX", 28, 16, 1024, "input images are PX x PX"),
                    Flag.integer("batch", "N", 1, 1, 1 << 20, "batch size used for the shapes and memory sizes"),
                    Flag.choice("pool", "pooling of the LeNet models", "avg", "max"),
                    Flag.choice("act", "activation", "sigmoid", "relu"),
                    Flag.choice("init", "weight initialization", "default", "xavier")));

    @Override
    public CommandSpec spec() {
        return SPEC;
    }

    @Override
    public String summary() {
        return "print a model's layers, output shapes and parameter counts";
    }

    @Override
    public int run(ParsedFlags flags, PrintStream out, PrintStream err) {
        throw new UsageException("summary: the model package is not in this build yet");
    }
}
