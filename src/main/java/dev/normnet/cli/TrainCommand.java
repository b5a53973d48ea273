package dev.normnet.cli;

import java.io.PrintStream;
import java.util.List;

/**
 * {@code normnet train}: trains a model on Fashion-MNIST (or MNIST) and prints one line per
 * epoch; optionally writes the history as JSON and the trained weights as a checkpoint.
 */
final class TrainCommand implements Command {

    static final List<String> MODELS = List.of("lenet-bn", "lenet", "mlp-bn", "mlp");

    static final CommandSpec SPEC = new CommandSpec("train",
            "Trains a model and prints, after a header naming the device, the data and the parameter count,\n"
                    + "one line per epoch: train loss, train accuracy, test accuracy, examples per second, seconds.",
            List.of(
                    Flag.choice("model", "model to train", MODELS.toArray(new String[0])),
                    Flag.path("data", "DIR", "$NORMNET_DATA, else ./data/FashionMNIST/raw, "
                            + "else /usr/share/datasets/fashion-mnist, else download",
                            "directory holding the four IDX files (raw or .gz)"),
                    Flag.choice("dataset", "data set", "fashion-mnist", "mnist"),
                    Flag.integer("epochs", "N", 10, 1, 100_000, "passes over the training set"),
                    Flag.integer("batch", "N", 256, 1, 1 << 20, "examples per step"),
                    Flag.number("lr", "RATE", "1.0", 0, true, 1e6, "learning rate"),
                    Flag.choice("optimizer", "optimizer", "sgd", "adam"),
                    Flag.number("momentum", "M", "0", 0, false, 1, "SGD momentum"),
                    Flag.number("weight-decay", "WD", "0", 0, false, 1e6, "L2 weight decay added to the gradient"),
                    Flag.optionalInteger("step-size", "N", "none: constant learning rate", 1, 1_000_000,
                            "multiply the learning rate by --gamma every N epochs (StepLR)"),
                    Flag.optionalNumber("gamma", "G", "0.1 with --step-size", 0, true, 1e6,
                            "learning-rate factor of the StepLR schedule"),
                    Flag.choice("device", "where to train: auto picks cuda when a usable GPU is found", "auto", "cpu", "cuda"),
                    Flag.integer("seed", "S", 0, Integer.MIN_VALUE, Integer.MAX_VALUE,
                            "seed for initialization and shuffling"),
                    Flag.optionalInteger("limit", "N", "all 60000", 1, Integer.MAX_VALUE,
                            "train on the first N training examples only"),
                    Flag.optionalInteger("test-limit", "N", "all 10000", 1, Integer.MAX_VALUE,
                            "evaluate on the first N test examples only"),
                    Flag.integer("resize", "PX", 28, 16, 1024, "resize images to PX x PX (bilinear) before the model"),
                    Flag.choice("pool", "pooling of the LeNet models", "avg", "max"),
                    Flag.choice("act", "activation", "sigmoid", "relu"),
                    Flag.choice("init", "weight initialization: PyTorch's default or Xavier uniform", "default", "xavier"),
                    Flag.path("history", "FILE.json", "none", "write the settings and per-epoch metrics as JSON"),
                    Flag.toggle("no-graph", "on cuda, launch each op of a step instead of replaying a captured CUDA graph"),
                    Flag.path("save", "FILE", "none", "save the trained weights (a checkpoint) to FILE"),
                    Flag.optionalInteger("threads", "N", "all cores", 1, 4096, "CPU threads")));

    @Override
    public CommandSpec spec() {
        return SPEC;
    }

    @Override
    public String summary() {
        return "train a model (LeNet-BN by default) on Fashion-MNIST and print one line per epoch";
    }

    /** Checks the combinations the flag declarations alone cannot. */
    static void checkCombinations(ParsedFlags flags) {
        if (flags.isGiven("gamma") && !flags.isGiven("step-size")) {
            throw new UsageException("--gamma needs --step-size (the number of epochs between learning-rate steps)");
        }
        if (flags.string("model").endsWith("-bn") && flags.integer("batch") < 2) {
            throw new UsageException("--batch must be at least 2 for " + flags.string("model")
                    + " (batch norm needs more than one value per channel when training)");
        }
        if (flags.isGiven("momentum") && flags.string("optimizer").equals("adam")) {
            throw new UsageException("--momentum applies to --optimizer sgd only (Adam uses betas 0.9, 0.999)");
        }
        if (flags.has("history")) {
            AtomicFiles.checkWritable("history", flags.path("history"));
        }
        if (flags.has("save")) {
            AtomicFiles.checkWritable("save", flags.path("save"));
        }
    }

    @Override
    public int run(ParsedFlags flags, PrintStream out, PrintStream err) {
        checkCombinations(flags);
        throw new UsageException("train: the training engine is not in this build yet");
    }
}
