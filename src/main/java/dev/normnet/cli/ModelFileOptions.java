package dev.normnet.cli;

import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelSpec;
import dev.normnet.nn.ModelOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * The options that name the model of a file that does not name it itself (a PyTorch state_dict):
 * --model, --pool, --act, --resize, shared by the commands that read model files (a picocli mixin).
 * A file normnet wrote names its model; given for such a file, each of these must agree with it.
 */
final class ModelFileOptions {
    @Option(names = "--model", paramLabel = "lenet-bn|lenet|mlp-bn|mlp|lenet-bn-folded|mlp-bn-folded",
            completionCandidates = ModelFactory.FileModelNames.class,
            description = "the model of a file that does not name it (a PyTorch state_dict; -folded: its batch norm folded, "
                    + "an nn.Identity in its place) (default: the file's; required for a file without normnet's metadata)")
    String model;
    @Option(names = "--pool", paramLabel = "avg|max", completionCandidates = ModelFactory.PoolNames.class,
            description = "pooling of that model (default: the file's, else avg)")
    String pool;
    @Option(names = "--act", paramLabel = "sigmoid|relu", completionCandidates = ModelFactory.ActivationNames.class,
            description = "activation of that model (default: the file's, else sigmoid for the LeNets, relu for the MLPs)")
    String act;
    @Option(names = "--resize", paramLabel = "PX", description = "input side of that model (default: the file's, else 28)")
    Integer resize;

    /** Checks the values alone (choices and range), before any file is read. */
    void check() {
        model = Check.choice("--model", model, ModelFactory.FILE_MODELS);
        pool = Check.choice("--pool", pool, ModelFactory.POOLS);
        act = Check.choice("--act", act, ModelFactory.ACTIVATIONS);
        Check.range("--resize", resize, ModelSpec.MIN_SIDE, ModelSpec.MAX_SIDE);
    }

    /**
     * The model of {@code file}: the one its metadata names (the options, where given, must agree
     * with it), or, for a file that names none, the one these options name, with
     * {@code classes} as its class names.
     *
     * @throws UsageException when an option contradicts the file, or the file names no model and --model is missing
     * @throws dev.normnet.io.ModelFileException when the file is not a readable model file
     */
    ModelSpec spec(Path file, List<String> classes) throws IOException {
        check();
        if (Files.isDirectory(file)) {
            throw new UsageException(file + ": is a directory, not a model file");
        }
        ModelSpec named = ModelFile.readSpec(file);
        if (named != null) {
            List<String> clashes = new ArrayList<>();
            clash(clashes, "--model", model, named.model() + (named.folded() ? ModelFactory.FOLDED : ""));
            clash(clashes, "--pool", pool, named.options().pool());
            clash(clashes, "--act", act, named.options().activation());
            clash(clashes, "--resize", resize == null ? null : resize.toString(), Integer.toString(named.side()));
            if (!clashes.isEmpty()) {
                throw new UsageException(String.join(", ", clashes) + ": " + file + " holds " + describe(named)
                        + " (these options only name the model of a file that does not name it)");
            }
            return named;
        }
        if (model == null) {
            throw new UsageException(file + " does not say which model it holds (no normnet metadata, as in a PyTorch "
                    + "state_dict): name it with --model (and --pool, --act, --resize where they differ from the defaults)");
        }
        ModelOptions options = ModelFactory.options(pool == null ? "avg" : pool, act, resize == null ? 28 : resize, null);
        boolean folded = model.endsWith(ModelFactory.FOLDED);
        return new ModelSpec(folded ? model.substring(0, model.length() - ModelFactory.FOLDED.length()) : model, options, classes, folded);
    }

    private static void clash(List<String> clashes, String option, String given, String actual) {
        if (given != null && !given.equals(actual)) {
            clashes.add(option + " " + given + " contradicts the file");
        }
    }

    /** "lenet-bn (avg pooling, sigmoid, input 28x28)", "mlp-bn (relu, input 28x28, batch norm folded)". */
    static String describe(ModelSpec spec) {
        ModelOptions o = spec.options();
        List<String> parts = new ArrayList<>();
        if (spec.model().startsWith("lenet")) {
            parts.add(o.pool() + " pooling");
        }
        parts.add(o.activation());
        parts.add("input " + spec.side() + "x" + spec.side());
        if (spec.folded()) {
            parts.add("batch norm folded");
        }
        return spec.model() + " (" + String.join(", ", parts) + ")";
    }
}
