package dev.normnet.cli;

import dev.normnet.nn.Sequential;
import java.io.PrintStream;
import java.util.List;

/** {@code normnet summary}: prints a model's layers, output shapes and parameter counts. */
final class SummaryCommand implements Command {

    static final CommandSpec SPEC = new CommandSpec("summary",
            "Prints the model's layers with their output shapes and parameter counts, then the totals and\n"
                    + "the memory a batch needs.",
            List.of(
                    Flag.choice("model", "model to describe", TrainCommand.MODELS.toArray(new String[0])),
                    Flag.integer("resize", "PX", 28, 16, 1024, "input images are PX x PX"),
                    Flag.integer("batch", "N", 1, 1, 1 << 20, "batch size for the memory estimates"),
                    Flag.choice("pool", "pooling of the LeNet models", "avg", "max"),
                    Flag.optionalChoice("act", "activation", "sigmoid for the LeNets, relu for the MLPs", "sigmoid", "relu")));

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
        try (Sequential model = ModelFactory.create(flags, 0)) {
            out.println(flags.string("model") + ", input 1x" + flags.integer("resize") + "x" + flags.integer("resize"));
            out.print(model.summary(flags.integer("batch")));
        }
        return 0;
    }
}
