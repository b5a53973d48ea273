package dev.normnet.cli;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.data.DataDiscovery;
import dev.normnet.data.DataException;
import dev.normnet.data.DataSource;
import dev.normnet.data.DatasetSplits;
import dev.normnet.data.LabeledImages;
import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelSpec;
import dev.normnet.predict.Evaluation;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code normnet eval}: a model file's loss, accuracy, per-class accuracy and confusion matrix on
 * the test set of Fashion-MNIST (or MNIST), in eval mode ({@link Evaluation}); optionally as JSON
 * and as a picture of the confusion matrix.
 */
@Command(name = "eval", sortOptions = false,
        header = "Evaluate a model file on the test set: loss, accuracy, per-class accuracy, confusion matrix.",
        description = {"Runs the model in eval mode (batch norm with its running statistics) over the test set and prints",
                "the mean cross-entropy loss, the accuracy, the accuracy of each class and the confusion matrix",
                "(rows: true class, columns: predicted class). A PyTorch state_dict (a file without normnet's",
                "metadata) needs --model; its classes are then named as the data's."})
final class EvalCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL.safetensors", description = "the model file (normnet train --save, or a PyTorch state_dict with --model)")
    Path modelFile;
    @Option(names = "--data", paramLabel = "DIR", description = "directory holding the four IDX files (raw or .gz), "
            + "the two Kaggle CSV files, or train/CLASS/ and test/CLASS/ image folders (default: $NORMNET_DATA, else ./data/FashionMNIST/raw, else /usr/share/datasets/fashion-mnist, else download)")
    Path data;
    @Option(names = "--dataset", paramLabel = "fashion-mnist|mnist", defaultValue = "fashion-mnist",
            completionCandidates = TrainCommand.DatasetNames.class, description = "data set whose test split is used (default: ${DEFAULT-VALUE})")
    String dataset;
    @Option(names = "--limit", paramLabel = "N", description = "evaluate on the first N test examples only (default: all)")
    Integer limit;
    @Option(names = "--batch", paramLabel = "N", defaultValue = "256", description = "examples per forward pass (default: ${DEFAULT-VALUE})")
    int batch;
    @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto", completionCandidates = TrainCommand.DeviceNames.class,
            description = "where to run the model: auto picks cuda when a usable GPU is found (default: ${DEFAULT-VALUE})")
    String device;
    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores)")
    Integer threads;
    @Option(names = "--json", paramLabel = "FILE.json", description = "also write the results as JSON (default: none)")
    Path json;
    @Option(names = "--png", paramLabel = "FILE.png", description = "also draw the confusion matrix, "
            + ConfusionMatrixImage.WIDTH + " x " + ConfusionMatrixImage.HEIGHT + " pixels (default: none)")
    Path png;
    @Mixin
    ModelFileOptions naming;

    private final PrintStream out;

    EvalCommand(PrintStream out) {
        this.out = out;
    }

    @Override
    public Integer call() throws IOException {
        dataset = Check.choice("--dataset", dataset, TrainCommand.DATASETS);
        device = Check.choice("--device", device, TrainCommand.DEVICES);
        Check.range("--limit", limit, 1, Integer.MAX_VALUE);
        Check.range("--batch", batch, 1, 1 << 20);
        Check.range("--threads", threads, 1, 4096);
        naming.check();
        if (json != null) {
            Outputs.checkWritable("--json", json);
        }
        if (png != null) {
            Outputs.checkWritable("--png", png);
        }
        Check.distinctFiles("--json", json, "--png", png);
        Check.distinctFiles("--json", json, "input", modelFile);
        Check.distinctFiles("--png", png, "input", modelFile);
        ModelSpec spec = naming.spec(modelFile, List.of());
        if (Boolean.getBoolean(TrainCommand.CHECK_ONLY)) {
            return 0;   // the launcher checks the command line before it installs the data
        }

        try (ModelFile.Loaded loaded = ModelFile.load(modelFile, spec)) {
            out.printf(Locale.ROOT, "model: %s, %,d parameters, from %s%n", ModelFileOptions.describe(spec),
                    loaded.model().parameterCount(), modelFile);
            int k = loaded.model().outputShape().sizeInt();
            Backends.Selection selection = TrainCommand.selectDevice(device, threads);
            try (Backend backend = selection.backend()) {
                out.println("device: " + selection.reason());
                DataSource source = DataDiscovery.findSource(dataset, data);
                DatasetSplits splits = source.load(DataSource.DEFAULT_SIDE);
                LabeledImages test = limit != null ? splits.test().head(limit) : splits.test();
                out.println("data: " + dataset + (source.layout() == DataSource.Layout.IDX ? "" : " (" + source.layout() + ")")
                        + " test set from " + source.dir().toAbsolutePath().normalize() + " (" + test.count() + " images"
                        + (spec.side() == test.height() ? "" : ", resized to " + spec.side() + "x" + spec.side()) + ")");
                if (splits.classes().size() > k) {
                    throw new DataException(source.dir() + ": " + splits.classes().size() + " classes, but the model has "
                            + k + " outputs");
                }
                List<String> names = classNames(spec, splits.classes(), k);
                loaded.model().to(backend);
                Evaluation result;
                try {
                    result = Evaluation.run(loaded.model(), test, batch, names);
                } finally {
                    loaded.model().close();  // off the device while the backend is open (its state goes with it)
                }
                out.print(report(result));
                if (json != null) {
                    JsonFiles.write("--json", json, jsonDocument(spec, backend, result));
                    out.println("json: " + json);
                }
                if (png != null) {
                    String title = String.format(Locale.ROOT, "%s on %s test set: accuracy %.4f (%s)", spec.model(),
                            dataset, result.accuracy(), modelFile.getFileName());
                    BufferedImage img = ConfusionMatrixImage.draw(result, title);
                    Outputs.write("--png", png, p -> ImageIO.write(img, "png", p.toFile()));
                    out.println("png: " + png);
                }
            }
        }
        return 0;
    }

    /**
     * The name of each of the model's {@code k} outputs: the file's; for a file that names none, the
     * data set's (by label value); else the number. Prints a note when the file's and the data's differ.
     */
    private List<String> classNames(ModelSpec spec, List<String> dataClasses, int k) {
        List<String> names = new ArrayList<>(k);
        for (int i = 0; i < k; i++) {
            names.add(!spec.classes().isEmpty() || i >= dataClasses.size() ? spec.className(i) : dataClasses.get(i));
        }
        if (!spec.classes().isEmpty() && !spec.classes().equals(dataClasses)) {
            out.println("note: the model's classes (" + String.join(", ", spec.classes()) + ") are not the data's ("
                    + String.join(", ", dataClasses) + "); labels are compared by number");
        }
        return names;
    }

    /** The text report: loss and accuracy, the per-class table, the confusion matrix. */
    static String report(Evaluation r) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "test loss %.4f, accuracy %.4f (%d of %d)%n%n", r.loss(), r.accuracy(),
                r.correct(), r.count()));
        int k = r.classes();
        int nameWidth = "class".length();
        for (int i = 0; i < k; i++) {
            nameWidth = Math.max(nameWidth, rowLabel(r, i).length());
        }
        sb.append(String.format(Locale.ROOT, "%-" + nameWidth + "s  %8s  %7s  %7s%n", "class", "accuracy", "correct", "total"));
        for (int i = 0; i < k; i++) {
            double acc = r.classAccuracy(i);
            sb.append(String.format(Locale.ROOT, "%-" + nameWidth + "s  %8s  %7d  %7d%n", rowLabel(r, i),
                    Double.isNaN(acc) ? "-" : String.format(Locale.ROOT, "%.4f", acc), r.classCorrect(i), r.classTotal(i)));
        }
        long[][] c = r.confusion();
        long max = 0;
        for (long[] row : c) {
            for (long v : row) {
                max = Math.max(max, v);
            }
        }
        int cell = Math.max(Long.toString(max).length(), Integer.toString(k - 1).length()) + 1;
        sb.append(String.format(Locale.ROOT, "%nconfusion matrix (rows: true class, columns: predicted class)%n"));
        sb.append(" ".repeat(nameWidth));
        for (int j = 0; j < k; j++) {
            sb.append(String.format(Locale.ROOT, "%" + cell + "d", j));
        }
        sb.append('\n');
        for (int i = 0; i < k; i++) {
            sb.append(String.format(Locale.ROOT, "%-" + nameWidth + "s", rowLabel(r, i)));
            for (int j = 0; j < k; j++) {
                sb.append(String.format(Locale.ROOT, "%" + cell + "d", c[i][j]));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** "0 T-shirt/top", or "0" where the class has no name but its number. */
    private static String rowLabel(Evaluation r, int i) {
        String name = r.classNames().get(i);
        return name.equals(Integer.toString(i)) ? name : i + " " + name;
    }

    /** The --json document. */
    private Map<String, Object> jsonDocument(ModelSpec spec, Backend backend, Evaluation r) {
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("model", spec.model());
        doc.put("file", modelFile.toString());
        doc.put("dataset", dataset);
        doc.put("device", backend.device().id());
        doc.put("examples", r.count());
        doc.put("test_loss", r.loss());
        doc.put("test_acc", r.accuracy());
        Map<String, Object> perClass = new LinkedHashMap<>();
        for (int i = 0; i < r.classes(); i++) {
            String name = r.classNames().get(i);
            perClass.put(perClass.containsKey(name) ? i + " " + name : name, r.classAccuracy(i));
        }
        doc.put("per_class", perClass);
        doc.put("classes", r.classNames());
        doc.put("confusion", r.confusion());
        return doc;
    }
}
