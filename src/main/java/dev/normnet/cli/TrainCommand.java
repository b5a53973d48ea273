package dev.normnet.cli;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.DeviceUnavailableException;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.data.DataDiscovery;
import dev.normnet.data.DatasetSplits;
import dev.normnet.data.LabeledImages;
import dev.normnet.nn.Sequential;
import dev.normnet.optim.Adam;
import dev.normnet.optim.Optimizer;
import dev.normnet.optim.Sgd;
import dev.normnet.optim.StepLr;
import dev.normnet.tensor.Device;
import dev.normnet.train.Checkpoint;
import dev.normnet.train.EpochRecord;
import dev.normnet.train.History;
import dev.normnet.train.Trainer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

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
                    Flag.optionalChoice("act", "activation", "sigmoid for the LeNets, relu for the MLPs", "sigmoid", "relu"),
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
    public int run(ParsedFlags flags, PrintStream out, PrintStream err) throws IOException {
        checkCombinations(flags);
        long seed = flags.integer("seed");
        String modelName = flags.string("model");

        // 1. The device, and why.
        Backends.Selection selection = selectDevice(flags);
        try (Backend backend = selection.backend()) {
            out.println("device: " + selection.reason());

            // 2. The data.
            String dataset = flags.string("dataset");
            Path dir = DataDiscovery.find(dataset, flags.path("data"));
            DatasetSplits splits = DataDiscovery.dataset(dataset).load(dir);
            LabeledImages train = flags.has("limit") ? splits.train().head(flags.integer("limit")) : splits.train();
            LabeledImages test = flags.has("test-limit") ? splits.test().head(flags.integer("test-limit")) : splits.test();
            int batch = flags.integer("batch");
            if (modelName.endsWith("-bn") && train.count() % batch == 1) {
                throw new UsageException("--batch " + batch + " leaves a last batch of 1 of the " + train.count()
                        + " training examples, and batch norm needs more than one value per channel; pick another --batch"
                        + (flags.has("limit") ? " or --limit" : ""));
            }
            out.println("data: " + dataset + " from " + dir.toAbsolutePath().normalize() + " (" + train.count()
                    + " training, " + test.count() + " test images" + (flags.integer("resize") == 28 ? ""
                    : ", resized to " + flags.integer("resize") + "x" + flags.integer("resize")) + ")");

            // 3. The model and its training.
            try (Sequential model = ModelFactory.create(flags, seed)) {
                out.printf(Locale.ROOT, "model: %s%s, %,d parameters; %s, batch %d, %d epoch%s%n", modelName,
                        variant(flags), model.parameterCount(), optimizerText(flags), batch, flags.integer("epochs"),
                        flags.integer("epochs") == 1 ? "" : "s");
                Optimizer optimizer = optimizer(flags);
                Trainer.Builder builder = Trainer.builder()
                        .setModel(model)
                        .setBackend(backend)
                        .setOptimizer(optimizer)
                        .optBatchSize(batch)
                        .optSeed(seed)
                        .optGraph(!flags.on("no-graph"));
                if (flags.has("step-size")) {
                    builder.optScheduler(new StepLr(flags.integer("step-size"), (float) gamma(flags)));
                }
                EpochPrinter printer = new EpochPrinter(out, out == System.out && System.console() != null);
                History history;
                try (Trainer trainer = builder.build()) {
                    printer.header();
                    history = trainer.fit(train, test, flags.integer("epochs"), printer);
                }
                EpochRecord last = history.last();
                double total = 0;
                for (EpochRecord r : history.records()) {
                    total += r.seconds();
                }
                out.printf(Locale.ROOT, "done: %d epoch%s in %.1f s, test accuracy %.4f%n", history.records().size(),
                        history.records().size() == 1 ? "" : "s", total, last.testAcc());
                if (flags.has("history")) {
                    Path file = flags.path("history");
                    AtomicFiles.writeString(file, historyJson(flags, selection, backend, dir, train, test, model, history));
                    out.println("history: " + file);
                }
                if (flags.has("save")) {
                    Path file = flags.path("save");
                    AtomicFiles.write(file, p -> Checkpoint.save(model, p));
                    out.println("saved: " + file);
                }
            }
        }
        return 0;
    }

    /** The backend --device asks for; --threads sets the CPU backend's thread count (the GPU ignores it). */
    static Backends.Selection selectDevice(ParsedFlags flags) {
        String device = flags.string("device");
        Backends.Selection s;
        try {
            s = Backends.select(device);
        } catch (DeviceUnavailableException e) {
            throw new UsageException("--device cuda: no usable GPU: " + e.getMessage()
                    + " (use --device cpu or --device auto)", e);
        }
        if (flags.has("threads") && s.backend().device() == Device.CPU) {
            Backend old = s.backend();
            String described = old.describe();
            old.close();
            Backend cpu = Backends.cpu(flags.integer("threads"));
            s = new Backends.Selection(cpu, s.reason().replace(described, cpu.describe()));
        }
        return s;
    }

    /** " (relu, max pooling)" for the options that differ from the preset's; empty when none do. */
    static String variant(ParsedFlags flags) {
        List<String> parts = new ArrayList<>();
        if (flags.has("act")) {
            parts.add(flags.string("act"));
        }
        if (flags.string("pool").equals("max")) {
            parts.add("max pooling");
        }
        if (flags.string("init").equals("xavier")) {
            parts.add("xavier init");
        }
        return parts.isEmpty() ? "" : " (" + String.join(", ", parts) + ")";
    }

    private static double gamma(ParsedFlags flags) {
        return flags.has("gamma") ? flags.number("gamma") : 0.1;
    }

    static Optimizer optimizer(ParsedFlags flags) {
        float lr = (float) flags.number("lr");
        float wd = (float) flags.number("weight-decay");
        if (flags.string("optimizer").equals("adam")) {
            return Adam.builder().setLearningRate(lr).optWeightDecay(wd).build();
        }
        return Sgd.builder().setLearningRate(lr).optMomentum((float) flags.number("momentum")).optWeightDecay(wd).build();
    }

    private static String optimizerText(ParsedFlags flags) {
        StringBuilder sb = new StringBuilder(flags.string("optimizer")).append(" lr ").append(flags.string("lr"));
        if (flags.number("momentum") != 0) {
            sb.append(" momentum ").append(flags.string("momentum"));
        }
        if (flags.number("weight-decay") != 0) {
            sb.append(" weight decay ").append(flags.string("weight-decay"));
        }
        if (flags.has("step-size")) {
            sb.append(", StepLR(").append(flags.integer("step-size")).append(", ").append(gamma(flags)).append(')');
        }
        return sb.toString();
    }

    /** {"device":..., "settings":{...}, "history":[{"epoch":1, ...}, ...]} */
    static String historyJson(ParsedFlags flags, Backends.Selection selection, Backend backend, Path dir,
                              LabeledImages train, LabeledImages test, Sequential model, History history) {
        Map<String, Object> settings = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : flags.effectiveTyped().entrySet()) {
            settings.put(e.getKey().replace('-', '_'), e.getValue());
        }
        settings.put("data", dir.toAbsolutePath().normalize().toString());
        if (flags.has("step-size")) {
            settings.put("gamma", gamma(flags));
        }
        if (!flags.has("act")) {
            settings.put("act", flags.string("model").startsWith("mlp") ? "relu" : "sigmoid");
        }
        if (backend instanceof CpuBackend) {
            settings.put("threads", (long) ((CpuBackend) backend).threads());
        }
        settings.put("train_examples", (long) train.count());
        settings.put("test_examples", (long) test.count());
        settings.put("parameters", model.parameterCount());
        List<Object> epochs = new ArrayList<>();
        for (EpochRecord r : history.records()) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("epoch", (long) r.epoch());
            e.put("train_loss", r.trainLoss());
            e.put("train_acc", r.trainAcc());
            e.put("test_acc", r.testAcc());
            e.put("examples_per_sec", r.examplesPerSec());
            e.put("seconds", r.seconds());
            epochs.add(e);
        }
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("device", backend.device().id());
        root.put("device_description", selection.reason());
        root.put("settings", settings);
        root.put("history", epochs);
        return Json.write(root);
    }
}
