package dev.normnet.cli;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.DeviceUnavailableException;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.backend.cpu.VectorCpuBackend;
import dev.normnet.data.DataDiscovery;
import dev.normnet.data.DataException;
import dev.normnet.data.DataSource;
import dev.normnet.data.DatasetSplits;
import dev.normnet.data.IdxDataset;
import dev.normnet.data.LabeledImages;
import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelFileException;
import dev.normnet.io.ModelSpec;
import dev.normnet.nn.Sequential;
import dev.normnet.optim.Adam;
import dev.normnet.optim.Optimizer;
import dev.normnet.optim.Sgd;
import dev.normnet.optim.StepLr;
import dev.normnet.tensor.Device;
import dev.normnet.train.DivergedException;
import dev.normnet.train.EpochRecord;
import dev.normnet.train.History;
import dev.normnet.train.Trainer;
import dev.normnet.train.TrainingWatch;
import dev.normnet.train.Warmup;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code normnet train}: trains a model on Fashion-MNIST (or MNIST) and prints one line per
 * epoch; optionally writes the history as JSON ({@link HistoryFile}), the trained model as a model
 * file, and the training state after every epoch ({@link CheckpointDir}), from which
 * {@code --resume} continues the run exactly.
 */
@Command(name = "train", sortOptions = false,
        header = "Train a model (LeNet-BN by default) on Fashion-MNIST and print one line per epoch.",
        description = {"Trains a model and prints, after a header naming the device, the data and the parameter count,",
                "one line per epoch: train loss, train accuracy, test accuracy, examples per second, seconds."})
final class TrainCommand implements Callable<Integer> {

    @Spec
    private CommandSpec spec;

    @Option(names = "--model", paramLabel = "lenet-bn|lenet|mlp-bn|mlp", defaultValue = "lenet-bn",
            completionCandidates = ModelFactory.ModelNames.class, description = "model to train (default: ${DEFAULT-VALUE})")
    String model;
    @Option(names = "--data", paramLabel = "DIR", description = "directory holding the four IDX files (raw or .gz), "
            + "the two Kaggle CSV files, or train/CLASS/ and test/CLASS/ image folders "
            + "(default: $NORMNET_DATA, else ./data/FashionMNIST/raw, else /usr/share/datasets/fashion-mnist, else download)")
    Path data;
    @Option(names = "--dataset", paramLabel = "fashion-mnist|mnist", defaultValue = "fashion-mnist",
            completionCandidates = DatasetNames.class, description = "data set (default: ${DEFAULT-VALUE})")
    String dataset;
    @Option(names = "--epochs", paramLabel = "N", defaultValue = "10", description = "passes over the training set (default: ${DEFAULT-VALUE})")
    int epochs;
    @Option(names = "--batch", paramLabel = "N", defaultValue = "256", description = "examples per step (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--lr", paramLabel = "RATE", defaultValue = "1.0", description = "learning rate (default: ${DEFAULT-VALUE})")
    double lr;
    @Option(names = "--optimizer", paramLabel = "sgd|adam", defaultValue = "sgd", completionCandidates = OptimizerNames.class,
            description = "optimizer (default: ${DEFAULT-VALUE})")
    String optimizer;
    @Option(names = "--momentum", paramLabel = "M", defaultValue = "0", description = "SGD momentum (default: ${DEFAULT-VALUE})")
    double momentum;
    @Option(names = "--weight-decay", paramLabel = "WD", defaultValue = "0",
            description = "L2 weight decay added to the gradient (default: ${DEFAULT-VALUE})")
    double weightDecay;
    @Option(names = "--step-size", paramLabel = "N", description = "multiply the learning rate by --gamma every N epochs "
            + "(StepLR) (default: none: constant learning rate)")
    Integer stepSize;
    @Option(names = "--gamma", paramLabel = "G", description = "learning-rate factor of the StepLR schedule (default: 0.1 with --step-size)")
    Double gamma;
    @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto", completionCandidates = DeviceNames.class,
            description = "where to train: auto picks cuda when a usable GPU is found (default: ${DEFAULT-VALUE})")
    String device;
    @Option(names = "--seed", paramLabel = "S", defaultValue = "0", description = "seed for initialization and shuffling (default: ${DEFAULT-VALUE})")
    int seed;
    @Option(names = "--limit", paramLabel = "N", description = "train on the first N training examples only (default: all 60000)")
    Integer limit;
    @Option(names = "--test-limit", paramLabel = "N", description = "evaluate on the first N test examples only (default: all 10000)")
    Integer testLimit;
    @Option(names = "--resize", paramLabel = "PX", defaultValue = "28",
            description = "resize images to PX x PX (bilinear) before the model (default: ${DEFAULT-VALUE})")
    int resize;
    @Mixin
    VariantOptions variant;
    @Option(names = "--init", paramLabel = "default|xavier", defaultValue = "default", completionCandidates = ModelFactory.InitNames.class,
            description = "weight initialization: PyTorch's default or Xavier uniform (default: ${DEFAULT-VALUE})")
    String init;
    @Option(names = "--history", paramLabel = "FILE.json", description = "write the settings and per-epoch metrics as JSON (default: none)")
    Path history;
    @Option(names = "--no-graph", description = "on cuda, launch each op of a step instead of replaying a captured CUDA graph (default: off)")
    boolean noGraph;
    @Option(names = "--no-warmup", description = "time the first epoch from a cold start: skip the throwaway training "
            + "steps (6 s at most) that, on the CPU's Vector API path, let the JIT compile the step before the "
            + "first epoch is timed. The trained model is the same either way; cuda and the reference CPU path have no "
            + "warm-up (default: off)")
    boolean noWarmup;
    @Option(names = "--save", paramLabel = "FILE.safetensors", description = "save the trained model to FILE as safetensors, "
            + "with PyTorch's state_dict names (default: none)")
    Path save;
    @Option(names = "--checkpoint-dir", paramLabel = "DIR", description = "after every epoch, write the training state "
            + "(model, optimizer, settings, history) to DIR/epoch-NNNN, keeping the last two; DIR itself is created "
            + "when missing (default: none; with --resume, the resumed DIR)")
    Path checkpointDir;
    @Option(names = "--resume", paramLabel = "DIR", description = "continue the run saved in DIR from its last complete "
            + "epoch, with its settings; --epochs then sets the total, the run's own when not given (default: none)")
    Path resume;
    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores)")
    Integer threads;
    @Option(names = "--watch", paramLabel = "N", description = "every N steps, record into the --history file the 15th, "
            + "50th and 85th percentiles of the input of every batch norm and activation, batch against running "
            + "statistics and gradient norms; gamma and beta after each epoch. Watched steps run eagerly and read "
            + "tensors back to the host; the others are unchanged (default: off)")
    Integer watch;

    /** The exit status of a run stopped because it went non-finite. */
    static final int DIVERGED = 3;
    /** The warm-up's time cap on the CPU's Vector API path (see {@link Trainer.Builder#optWarmup}), in seconds. */
    static final double WARMUP_SECONDS = 6;
    /** System property: parse and validate the command line, then stop (exit 0) before any work. */
    static final String CHECK_ONLY = "normnet.checkOnly";
    /** Options a resumed run does not take from its state: they do not change what it computes. */
    static final Set<String> NOT_STORED = Set.of("--device", "--threads", "--no-graph", "--no-warmup", "--history", "--save",
            "--checkpoint-dir", "--resume", "--watch", Main.DEBUG);

    private final PrintStream out;

    TrainCommand(PrintStream out) {
        this.out = out;
    }

    /** Checks each value's range and the combinations the options alone cannot; normalizes choices to lower case. */
    void validate() throws IOException {
        model = Check.choice("--model", model, ModelFactory.MODELS);
        dataset = Check.choice("--dataset", dataset, DATASETS);
        optimizer = Check.choice("--optimizer", optimizer, OPTIMIZERS);
        device = Check.choice("--device", device, DEVICES);
        variant.check();
        init = Check.choice("--init", init, ModelFactory.INITS);
        Check.range("--epochs", epochs, 1, 100_000);
        Check.range("--batch", batch, 1, 1 << 20);
        Check.range("--lr", lr, 0, true, 1e6);
        Check.range("--momentum", momentum, 0, false, 1);
        Check.range("--weight-decay", weightDecay, 0, false, 1e6);
        Check.range("--step-size", stepSize, 1, 1_000_000);
        Check.range("--gamma", gamma, 0, true, 1e6);
        Check.range("--limit", limit, 1, Integer.MAX_VALUE);
        Check.range("--test-limit", testLimit, 1, Integer.MAX_VALUE);
        Check.range("--resize", resize, 16, 1024);
        Check.range("--watch", watch, 1, Integer.MAX_VALUE);
        if (watch != null && history == null) {
            throw new UsageException("--watch " + watch + " needs --history FILE.json (what it records goes there)");
        }
        threads = Check.threads("--threads", threads, spec.commandLine().getErr());
        Check.float32("--lr", lr);
        Check.float32("--momentum", momentum);
        Check.float32("--weight-decay", weightDecay);
        Check.float32("--gamma", gamma);
        if (gamma != null && stepSize == null) {
            throw new UsageException("--gamma needs --step-size (the number of epochs between learning-rate steps)");
        }
        if (model.endsWith("-bn") && batch < 2) {
            throw new UsageException("--batch must be at least 2 for " + model
                    + " (batch norm needs more than one value per channel when training)");
        }
        if (spec.commandLine().getParseResult().hasMatchedOption("--momentum") && optimizer.equals("adam")) {
            throw new UsageException("--momentum applies to --optimizer sgd only (Adam uses betas 0.9, 0.999)");
        }
        if (history != null) {
            Outputs.checkWritable("--history", history);
        }
        if (save != null) {
            Outputs.checkWritable("--save", save);
        }
        Check.distinctFiles("--history", history, "--save", save);
        if (checkpointDir != null) {
            CheckpointDir.checkTarget("--checkpoint-dir", checkpointDir, resume);
        } else if (resume != null) {
            CheckpointDir.checkTarget("--resume", resume, resume);
        }
    }

    @Override
    public Integer call() throws IOException {
        CheckpointDir.Loaded resumed = resume != null ? resumeSettings() : null;
        validate();
        if (Boolean.getBoolean(CHECK_ONLY)) {
            return 0;   // the launcher checks the command line before it installs the data
        }
        Path checkpoints = checkpointDir != null ? checkpointDir : resume;
        // 1. The device, and why.
        Backends.Selection selection = selectDevice();
        try (Backend backend = selection.backend()) {
            out.println("device: " + selection.reason());

            // 2. The data.
            DataSource source = DataDiscovery.findSource(dataset, data);
            Path dir = source.dir();
            DatasetSplits splits = source.load(DataSource.DEFAULT_SIDE);
            if (splits.classes().size() > 10) {
                throw new DataException(dir + ": " + splits.classes().size() + " classes, but the models have 10 outputs");
            }
            LabeledImages train = limit != null ? splits.train().head(limit) : splits.train();
            LabeledImages test = testLimit != null ? splits.test().head(testLimit) : splits.test();
            if (model.endsWith("-bn") && train.count() % batch == 1) {
                throw new UsageException("--batch " + batch + " leaves a last batch of 1 of the " + train.count()
                        + " training examples, and batch norm needs more than one value per channel; pick another --batch"
                        + (limit != null ? " or --limit" : ""));
            }
            long steps = (long) epochs * ((train.count() + batch - 1) / batch);
            if (watch != null && watch > steps) {
                throw new UsageException("--watch " + watch + " watches no step: the run has " + steps + " steps ("
                        + epochs + " epoch" + (epochs == 1 ? "" : "s") + " of " + ((train.count() + batch - 1) / batch)
                        + " batches of up to " + batch + "); use --watch " + steps + " or less");
            }
            Map<String, String> dataDigests = resumed != null ? resumed.checkData(dataFiles(source))
                    : checkpoints != null ? CheckpointDir.digests(dataFiles(source)) : null;
            out.println("data: " + dataset + (source.layout() == DataSource.Layout.IDX ? "" : " (" + source.layout() + ")")
                    + " from " + dir.toAbsolutePath().normalize() + " (" + train.count()
                    + " training, " + test.count() + " test images" + (resize == 28 ? ""
                    : ", resized to " + resize + "x" + resize) + ")");

            // 3. The model and its training.
            ModelSpec modelSpec = new ModelSpec(model, ModelFactory.options(variant.pool, variant.act, resize, init),
                    splits.classes());
            try (Sequential net = ModelFactory.create(model, modelSpec.options(), resize, seed)) {
                if (resumed != null) {
                    resumed.loadModel(net, modelSpec);
                }
                out.printf(Locale.ROOT, "model: %s%s, %,d parameters; %s, batch %d, %d epoch%s%n", model,
                        variant(), net.parameterCount(), optimizerText(), batch, epochs, epochs == 1 ? "" : "s");
                MemoryPlan.checkTraining(net, batch, (long) train.pixels().length + test.pixels().length, backend,
                        "--batch " + batch + (resize == 28 ? "" : " --resize " + resize));
                if (resumed != null) {
                    out.println("resumed: " + resumed.dir() + " (" + resumed.state().epoch() + " of " + epochs + " epochs done)");
                }
                Trainer.Builder builder = Trainer.builder()
                        .setModel(net)
                        .setBackend(backend)
                        .setOptimizer(optimizer())
                        .optBatchSize(batch)
                        .optSeed(seed)
                        .optGraph(!noGraph);
                if (!noWarmup && backend instanceof VectorCpuBackend) {
                    builder.optWarmup(WARMUP_SECONDS);   // the only backend whose first epoch it speeds up (see optWarmup)
                }
                if (stepSize != null) {
                    builder.optScheduler(new StepLr(stepSize, (float) gamma()));
                }
                TrainingWatch watcher = watch != null ? new TrainingWatch(watch) : null;
                if (watcher != null) {
                    builder.optWatcher(watcher);
                    out.println("watch: every " + watch + " steps (those steps run eagerly and are read back to the host)");
                }
                double secondsHere = 0;
                History result = new History();
                CheckpointDir writer = checkpoints != null ? new CheckpointDir(checkpoints) : null;
                Map<String, Object> stored = storedSettings(dir);
                Path lastCheckpoint = null;
                try (Trainer trainer = builder.build(); EpochPrinter printer = new EpochPrinter(out, EpochPrinter.drawsBar(out))) {
                    if (resumed != null) {
                        restore(trainer, resumed);
                    }
                    Warmup warmup = trainer.warmUp(train, test);
                    if (warmup.ran()) {
                        out.printf(Locale.ROOT, "warm-up: %.1f s (%d steps)%n", warmup.seconds(),
                                warmup.trainSteps() + warmup.evalSteps());
                    }
                    printer.header();
                    for (EpochRecord r : resumed != null ? resumed.state().history() : List.<EpochRecord>of()) {
                        result.add(r);
                        printer.onEpoch(r);
                    }
                    // One epoch per fit, so that the state after each can be written (fit continues from epochsDone).
                    while (trainer.epochsDone() < epochs) {
                        result.add(trainer.fit(train, test, 1, printer).last());
                        secondsHere += result.last().seconds();
                        if (writer != null) {
                            lastCheckpoint = writer.write(trainer.epochsDone(), net, modelSpec, optimizer,
                                    trainer.optimizer().state(), stored, dataDigests, result.records());
                        }
                    }
                } catch (DivergedException e) {
                    // The model is not finite now: nothing of it is saved. What was written stays.
                    Path good = lastCheckpoint != null ? lastCheckpoint : resumed != null ? resumed.dir() : null;
                    spec.commandLine().getErr().println("normnet: " + e.getMessage() + " ("
                            + (good != null ? "the last good state is " + good : "nothing was saved") + ")");
                    spec.commandLine().getErr().flush();
                    if (history != null) {
                        HistoryFile h = historyFile(selection, backend, dir, train, test, net, result)
                                .withStopped(new HistoryFile.Stopped(e.epoch(), e.step(), e.getMessage()))
                                .withWatch(watcher != null ? watcher.log() : null);
                        JsonFiles.write("--history", history, h);
                        out.println("history: " + history);
                    }
                    return DIVERGED;
                }
                EpochRecord last = result.last();
                double total = 0;
                for (EpochRecord r : result.records()) {
                    total += r.seconds();
                }
                out.printf(Locale.ROOT, "done: %d epoch%s in %.1f s, test accuracy %.4f%n", result.records().size(),
                        result.records().size() == 1 ? "" : "s", total, last.testAcc());
                if (watcher != null) {
                    out.printf(Locale.ROOT, "watch: %d step%s watched, %.1f s spent reading back and sorting (%.1f%% of the "
                            + "epochs' %.1f s)%n", watcher.stepsWatched(), watcher.stepsWatched() == 1 ? "" : "s",
                            watcher.seconds(), 100 * watcher.seconds() / secondsHere, secondsHere);
                }
                if (history != null) {
                    JsonFiles.write("--history", history, historyFile(selection, backend, dir, train, test, net, result)
                            .withWatch(watcher != null ? watcher.log() : null));
                    out.println("history: " + history);
                }
                if (save != null) {
                    Outputs.write("--save", save, p -> ModelFile.write(net, modelSpec, p));
                    out.println("saved: " + save);
                }
                if (lastCheckpoint != null) {
                    out.println("checkpoint: " + lastCheckpoint);
                }
            }
        }
        return 0;
    }

    /**
     * Reads the state in --resume DIR and takes its settings: every stored option (see
     * {@link #NOT_STORED}) gets the run's value; one given on the command line too must have that
     * value, --epochs excepted, which sets the total and must exceed the epochs done.
     */
    private CheckpointDir.Loaded resumeSettings() throws IOException {
        CheckpointDir.Loaded loaded = CheckpointDir.read(resume);
        Map<String, Object> stored = loaded.state().settings();
        ParseResult parsed = spec.commandLine().getParseResult();
        for (OptionSpec o : spec.options()) {
            String key = settingName(o);
            if (!isStored(o) || !stored.containsKey(key)) {
                continue;
            }
            Object value = typed(o, stored.get(key), loaded.stateFile());
            if (!parsed.hasMatchedOption(o.longestName())) {
                o.setValue(value);
            } else if (!o.longestName().equals("--epochs") && !sameSetting(o.getValue(), value)) {
                throw new UsageException(o.longestName() + " " + o.getValue() + " differs from the resumed run's " + stored.get(key)
                        + " (" + loaded.stateFile() + "); --resume continues with the run's settings: leave " + o.longestName()
                        + " out, or start a new run");
            }
        }
        int done = loaded.state().epoch();
        if (epochs <= done && parsed.hasMatchedOption("--epochs")) {
            throw new UsageException("--epochs " + epochs + ": the run in " + resume + " has done " + done + " epoch"
                    + (done == 1 ? "" : "s") + " already, and --epochs is the total; ask for more than " + done);
        }
        if (epochs <= done) {
            throw new UsageException("--resume " + resume + ": the run has done all " + done + " of its epochs; "
                    + "--epochs N trains on to a total of N");
        }
        return loaded;
    }

    /** A stored value as the option's type; errors name the state file and the setting. */
    private static Object typed(OptionSpec o, Object value, Path file) {
        try {
            if (value == null) {
                if (o.type().isPrimitive()) {
                    throw new IllegalArgumentException("null");
                }
                return null;
            }
            return o.type() == Path.class ? Path.of((String) value) : JsonFiles.MAPPER.convertValue(value, o.type());
        } catch (IllegalArgumentException | ClassCastException e) {
            throw new UsageException(file + ": settings." + settingName(o) + " holds " + value + ", not a value of "
                    + o.longestName(), e);
        }
    }

    /** Choices compare in any case, paths as absolute paths, the rest by value. */
    private static boolean sameSetting(Object given, Object stored) {
        if (given instanceof String a && stored instanceof String b) {
            return a.equalsIgnoreCase(b);
        }
        if (given instanceof Path a && stored instanceof Path b) {
            return a.toAbsolutePath().normalize().equals(b.toAbsolutePath().normalize());
        }
        return Objects.equals(given, stored);
    }

    private static boolean isStored(OptionSpec o) {
        return !o.usageHelp() && !o.versionHelp() && !NOT_STORED.contains(o.longestName());
    }

    /** An option's name in the settings of state.json and the history file: "--weight-decay" as "weight_decay". */
    private static String settingName(OptionSpec o) {
        return o.longestName().substring(2).replace('-', '_');
    }

    /**
     * The settings a resumed run takes from its state: the stored options, with --data as the
     * directory used and --gamma as the schedule's factor.
     */
    private Map<String, Object> storedSettings(Path dataDir) {
        Map<String, Object> settings = new LinkedHashMap<>();
        for (OptionSpec o : spec.options()) {
            if (isStored(o)) {
                Object v = o.getValue();
                settings.put(settingName(o), v instanceof Path ? v.toString() : v);
            }
        }
        settings.put("data", dataDir.toAbsolutePath().normalize().toString());
        if (stepSize != null) {
            settings.put("gamma", gamma());
        }
        return settings;
    }

    /** The files the data set is read from, whose digests the training state records. */
    private List<Path> dataFiles(DataSource source) {
        return switch (source.layout()) {
            case IDX -> source.dataset().baseNames().stream().map(n -> IdxDataset.locate(source.dir(), n)).toList();
            case CSV -> source.dataset().csvNames().stream().map(n -> source.dir().resolve(n)).toList();
            case IMAGE_FOLDER -> List.of();   // thousands of files: not digested (see CheckpointDir)
        };
    }

    /** Gives the trainer the resumed run's epoch count and optimizer state; a state that does not fit names its file. */
    private void restore(Trainer trainer, CheckpointDir.Loaded resumed) throws IOException {
        Map<String, float[]> state = resumed.optimizerState(optimizer);
        try {
            trainer.restore(resumed.state().epoch(), state);
        } catch (IllegalArgumentException e) {
            throw new ModelFileException(resumed.optimizer() + ": " + e.getMessage(), e);
        }
    }

    /** The backend --device asks for; --threads sets the CPU backend's thread count (the GPU ignores it). */
    Backends.Selection selectDevice() {
        return selectDevice(device, threads);
    }

    /** The backend {@code --device} names, with {@code --threads} CPU threads (null: all cores; the GPU ignores it). */
    static Backends.Selection selectDevice(String device, Integer threads) {
        Backends.Selection s;
        try {
            s = Backends.select(device);
        } catch (DeviceUnavailableException e) {
            throw new UsageException("--device cuda: no usable GPU: " + e.getMessage()
                    + " (use --device cpu or --device auto)", e);
        }
        if (threads != null && s.backend().device() == Device.CPU) {
            Backend old = s.backend();
            String described = old.describe();
            old.close();
            Backend cpu = Backends.cpu(threads);
            s = new Backends.Selection(cpu, s.reason().replace(described, cpu.describe()));
        }
        return s;
    }

    /** " (relu, max pooling)" for the options that differ from the preset's; empty when none do. */
    String variant() {
        List<String> parts = new ArrayList<>();
        if (variant.act != null) {
            parts.add(variant.act);
        }
        if (variant.pool.equals("max")) {
            parts.add("max pooling");
        }
        if (init.equals("xavier")) {
            parts.add("xavier init");
        }
        return parts.isEmpty() ? "" : " (" + String.join(", ", parts) + ")";
    }

    private double gamma() {
        return gamma != null ? gamma : 0.1;
    }

    Optimizer optimizer() {
        if (optimizer.equals("adam")) {
            return Adam.builder().setLearningRate((float) lr).optWeightDecay((float) weightDecay).build();
        }
        return Sgd.builder().setLearningRate((float) lr).optMomentum((float) momentum).optWeightDecay((float) weightDecay).build();
    }

    private String optimizerText() {
        StringBuilder sb = new StringBuilder(optimizer).append(" lr ").append(text("--lr"));
        if (momentum != 0) {
            sb.append(" momentum ").append(text("--momentum"));
        }
        if (weightDecay != 0) {
            sb.append(" weight decay ").append(text("--weight-decay"));
        }
        if (stepSize != null) {
            sb.append(", StepLR(").append(stepSize).append(", ").append(gamma()).append(')');
        }
        return sb.toString();
    }

    /** A number as the user wrote it ("0.5", "1e-3"), or its value when not given (the default, or the resumed run's). */
    private String text(String option) {
        OptionSpec given = spec.commandLine().getParseResult().matchedOption(option);
        return given != null ? given.stringValues().get(0) : String.valueOf((Object) spec.findOption(option).getValue());
    }

    /** The history file: the device, the settings (every option, then what the run found) and the epochs. */
    HistoryFile historyFile(Backends.Selection selection, Backend backend, Path dir, LabeledImages train,
                            LabeledImages test, Sequential net, History result) {
        Map<String, Object> settings = new LinkedHashMap<>();
        for (OptionSpec o : spec.options()) {
            if (o.usageHelp() || o.versionHelp() || o.longestName().equals(Main.DEBUG)) {
                continue;
            }
            Object v = o.getValue();
            settings.put(settingName(o), v instanceof Path ? v.toString() : v);
        }
        settings.put("data", dir.toAbsolutePath().normalize().toString());
        if (stepSize != null) {
            settings.put("gamma", gamma());
        }
        if (variant.act == null) {
            settings.put("act", model.startsWith("mlp") ? "relu" : "sigmoid");
        }
        if (backend instanceof CpuBackend cpu) {
            settings.put("threads", cpu.threads());
        }
        settings.put("train_examples", train.count());
        settings.put("test_examples", test.count());
        settings.put("parameters", net.parameterCount());
        return new HistoryFile(backend.device().id(), selection.reason(), settings, result.records());
    }

    static final List<String> DATASETS = List.of("fashion-mnist", "mnist");
    static final List<String> OPTIMIZERS = List.of("sgd", "adam");
    static final List<String> DEVICES = List.of("auto", "cpu", "cuda");

    /** Completion candidates for --dataset. */
    static final class DatasetNames extends ArrayList<String> {
        DatasetNames() {
            super(DATASETS);
        }
    }

    /** Completion candidates for --optimizer. */
    static final class OptimizerNames extends ArrayList<String> {
        OptimizerNames() {
            super(OPTIMIZERS);
        }
    }

    /** Completion candidates for --device. */
    static final class DeviceNames extends ArrayList<String> {
        DeviceNames() {
            super(DEVICES);
        }
    }
}
