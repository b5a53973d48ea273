package dev.normnet.cli;

import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelSpec;
import dev.normnet.nn.BatchNormFolding;
import dev.normnet.nn.Layer;
import dev.normnet.nn.Sequential;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code normnet fold}: a model file with every batch norm that follows a convolution or linear
 * layer folded into that layer's weight and bias ({@link Sequential#foldBatchNorm()}), written as
 * a new model file that {@code eval}, {@code predict} and {@code inspect} read like any other.
 * A file already folded, or one whose model has no batch norm to fold, is refused (exit 2).
 */
@Command(name = "fold", sortOptions = false,
        header = "Fold batch norm into the layers before it, for inference: the same predictions, fewer ops.",
        description = {"In eval mode a batch norm is an affine map per channel, so one that follows a convolution or",
                "linear layer folds into that layer's weight and bias (computed in float64, rounded once to float32).",
                "Writes the folded model as a new model file (each folded batch norm becomes an Identity, so the",
                "other layers keep their state_dict names; PyTorch loads it into the model with nn.Identity there)."})
final class FoldCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL.safetensors", description = "the model file (normnet train --save, or a PyTorch state_dict with --model)")
    Path modelFile;
    @Option(names = "--out", paramLabel = "FOLDED.safetensors", required = true,
            description = "the folded model file to write, not the input (default: none; required)")
    Path outFile;
    @Mixin
    ModelFileOptions naming;

    private final PrintStream out;

    FoldCommand(PrintStream out) {
        this.out = out;
    }

    @Override
    public Integer call() throws IOException {
        naming.check();
        Outputs.checkWritable("--out", outFile);
        Check.distinctFiles("--out", outFile, "input", modelFile);
        ModelSpec spec = naming.spec(modelFile, List.of());
        if (spec.folded()) {
            throw new UsageException(naming.model != null && ModelFile.readSpec(modelFile) == null
                    ? "--model " + naming.model + " names a model already folded; nothing to fold in " + modelFile
                    : modelFile + ": already folded (" + ModelFileOptions.describe(spec) + "); nothing to fold");
        }
        try (ModelFile.Loaded loaded = ModelFile.load(modelFile, spec)) {
            Sequential model = loaded.model();
            List<Integer> folds = BatchNormFolding.foldedIndices(model.layers());
            if (folds.isEmpty()) {
                throw new UsageException(modelFile + ": " + ModelFileOptions.describe(spec)
                        + " has no batch norm after a convolution or linear layer; nothing to fold");
            }
            out.printf(Locale.ROOT, "model: %s, from %s%n", ModelFileOptions.describe(spec), modelFile);
            try (Sequential folded = model.foldBatchNorm()) {
                for (int i : folds) {
                    out.printf(Locale.ROOT, "folded: %s into %s%n", name(model, i), name(model, i - 1));
                }
                out.printf(Locale.ROOT, "parameters: %,d before, %,d after; running statistics: %,d values before, %,d after%n",
                        model.parameterCount(), folded.parameterCount(), statistics(model), statistics(folded));
                ModelSpec foldedSpec = spec.asFolded();
                Outputs.write("--out", outFile, ModelFile.contents(folded, foldedSpec)::write);
                out.printf(Locale.ROOT, "saved: %s (%s)%n", outFile, ModelFileOptions.describe(foldedSpec));
            }
        }
        return 0;
    }

    /** {@code BatchNorm2d-2 ("1.")}: the summary's 1-based row name and the 0-based state_dict prefix. */
    private static String name(Sequential model, int i) {
        Layer layer = model.layers().get(i);
        return layer.typeName() + "-" + (i + 1) + " (\"" + i + ".\")";
    }

    /** Values of the buffers (running means, variances and batch counts). */
    private static long statistics(Sequential model) {
        long n = 0;
        for (Layer layer : model.layers()) {
            for (Layer.Entry e : layer.bufferEntries()) {
                n += e.shape().size();
            }
        }
        return n;
    }
}
