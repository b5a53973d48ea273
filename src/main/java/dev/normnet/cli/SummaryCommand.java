package dev.normnet.cli;

import dev.normnet.nn.Sequential;
import java.io.PrintStream;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code normnet summary}: prints a model's layers, output shapes and parameter counts. */
@Command(name = "summary", sortOptions = false,
        header = "Print a model's layers, output shapes and parameter counts.",
        description = {"Prints the model's layers with their output shapes and parameter counts, then the totals and",
                "the memory a batch needs."})
final class SummaryCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "lenet-bn|lenet|mlp-bn|mlp", defaultValue = "lenet-bn",
            completionCandidates = ModelFactory.ModelNames.class, description = "model to describe (default: ${DEFAULT-VALUE})")
    String model;
    @Option(names = "--resize", paramLabel = "PX", defaultValue = "28", description = "input images are PX x PX (default: ${DEFAULT-VALUE})")
    int resize;
    @Option(names = "--batch", paramLabel = "N", defaultValue = "1", description = "batch size for the memory estimates (default: ${DEFAULT-VALUE})")
    int batch;
    @Mixin
    VariantOptions variant;

    private final PrintStream out;

    SummaryCommand(PrintStream out) {
        this.out = out;
    }

    @Override
    public Integer call() {
        model = Check.choice("--model", model, ModelFactory.MODELS);
        variant.check();
        Check.range("--resize", resize, 16, 1024);
        Check.range("--batch", batch, 1, 1 << 20);
        try (Sequential net = ModelFactory.create(model, ModelFactory.options(variant.pool, variant.act, resize, null), resize, 0)) {
            out.println(model + ", input 1x" + resize + "x" + resize);
            out.print(net.summary(batch));
        }
        return 0;
    }
}
