package dev.normnet.cli;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.data.CsvImages;
import dev.normnet.data.DataException;
import dev.normnet.data.Idx;
import dev.normnet.data.ImageFiles;
import dev.normnet.data.LabeledImages;
import dev.normnet.io.ModelSpec;
import dev.normnet.predict.Prediction;
import dev.normnet.predict.Predictor;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.zip.GZIPInputStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code normnet predict}: the most probable classes of pictures and image files by a model file
 * ({@link Predictor}). An input is a PNG or JPEG picture (read by {@link ImageFiles#readGray}), an
 * IDX image file (every image in it), or a CSV file in Kaggle's layout (every row; the label
 * column is ignored), recognised by content.
 */
@Command(name = "predict", sortOptions = false,
        header = "Predict the classes of pictures (PNG, JPEG) or of every image in IDX and CSV files.",
        description = {"Prints, for each input, its most probable classes with their softmax probabilities. An INPUT is a",
                "PNG or JPEG picture (converted to grey and resized to the model's input), an IDX image file, or a",
                "CSV file in Kaggle's layout (label,pixel1,...: the label is ignored); the images of IDX and CSV",
                "files are named FILE#I, I counted from 0. Images are scaled by 1/255 as in training, and resized",
                "bilinearly when their size is not the model's. At most " + PredictCommand.MAX_IMAGES
                        + " images per run; eval scores a labelled set.",
                "A PyTorch state_dict (a file without normnet's metadata) needs --model; it names no classes, so",
                "its predictions give class numbers."})
final class PredictCommand implements Callable<Integer> {
    /** The most images one run predicts (all inputs together). */
    static final int MAX_IMAGES = 10_000;

    @Parameters(index = "0", paramLabel = "MODEL.safetensors", description = "the model file (normnet train --save, or a PyTorch state_dict with --model)")
    Path modelFile;
    @Parameters(index = "1..*", arity = "1..*", paramLabel = "INPUT", description = "PNG or JPEG pictures, IDX image files, CSV files")
    List<Path> inputs;
    @Option(names = "--top", paramLabel = "K", defaultValue = "3", description = "classes to print per image, most probable first (default: ${DEFAULT-VALUE})")
    int top;
    @Option(names = "--json", description = "print one JSON document instead of text (default: off)")
    boolean json;
    @Option(names = "--invert", description = "invert PNG and JPEG pictures (v -> 255 - v) before predicting: for dark "
            + "objects on a light background, as Fashion-MNIST's are light on dark (default: off)")
    boolean invert;
    @Option(names = "--device", paramLabel = "auto|cpu|cuda", defaultValue = "auto", completionCandidates = TrainCommand.DeviceNames.class,
            description = "where to run the model: auto picks cuda when a usable GPU is found (default: ${DEFAULT-VALUE})")
    String device;
    @Option(names = "--threads", paramLabel = "N", description = "CPU threads (default: all cores)")
    Integer threads;
    @Mixin
    ModelFileOptions naming;

    private final PrintStream out;

    PredictCommand(PrintStream out) {
        this.out = out;
    }

    /** The images of one input: one picture, or every image of an IDX or CSV file. */
    record Input(Path file, boolean picture, byte[] pixels, int count, int height, int width) {
        /** "FILE" for a picture, "FILE#I" for image I of a file of images. */
        String label(int i) {
            return picture ? file.toString() : file + "#" + i;
        }
    }

    @Override
    public Integer call() throws IOException {
        device = Check.choice("--device", device, TrainCommand.DEVICES);
        Check.range("--threads", threads, 1, 4096);
        Check.range("--top", top, 1, 1000);
        naming.check();
        ModelSpec spec = naming.spec(modelFile, List.of());
        // Every input is read and checked before the model runs, so that a bad one fails the run at once.
        List<Input> read = new ArrayList<>();
        long total = 0;
        for (Path f : inputs) {
            Input in = read(f, spec.side(), invert);
            total += in.count();
            if (total > MAX_IMAGES) {
                throw new UsageException(f + ": " + in.count() + " images" + (read.isEmpty() ? "" : ", " + total + " with the inputs before it")
                        + "; predict takes at most " + MAX_IMAGES + " in one run (eval scores a labelled set)");
            }
            read.add(in);
        }
        Backends.Selection selection = TrainCommand.selectDevice(device, threads);
        try (Backend backend = selection.backend();
             Predictor predictor = Predictor.builder().setModelFile(modelFile).optSpec(spec).optBackend(backend).build()) {
            if (top > predictor.classes()) {
                throw new UsageException("--top " + top + ": the model has only " + predictor.classes() + " classes");
            }
            if (!json) {
                out.println("model: " + ModelFileOptions.describe(spec) + ", from " + modelFile);
                out.println("device: " + selection.reason());
            }
            List<Map<String, Object>> docs = new ArrayList<>();
            for (Input in : read) {
                List<List<Prediction>> result = predictor.predictBatch(in.pixels(), in.count(), in.height(), in.width(), top);
                for (int i = 0; i < in.count(); i++) {
                    if (json) {
                        docs.add(jsonEntry(in, i, result.get(i)));
                    } else {
                        out.println(line(in.label(i), result.get(i)));
                    }
                }
            }
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("model", spec.model());
                doc.put("file", modelFile.toString());
                doc.put("device", backend.device().id());
                doc.put("top", top);
                doc.put("predictions", docs);
                out.print(JsonFiles.write(doc));
            }
        }
        return 0;
    }

    /** "FILE: Ankle boot 0.9731, Sneaker 0.0201, Sandal 0.0052". */
    static String line(String label, List<Prediction> top) {
        StringBuilder sb = new StringBuilder(label).append(':');
        for (int t = 0; t < top.size(); t++) {
            Prediction p = top.get(t);
            sb.append(t == 0 ? " " : ", ").append(p.name()).append(String.format(Locale.ROOT, " %.4f", p.probability()));
        }
        return sb.toString();
    }

    private static Map<String, Object> jsonEntry(Input in, int i, List<Prediction> top) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("input", in.label(i));
        e.put("file", in.file().toString());
        if (!in.picture()) {
            e.put("image", i);
        }
        List<Map<String, Object>> classes = new ArrayList<>();
        for (Prediction p : top) {
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("index", p.index());
            c.put("name", p.name());
            c.put("probability", p.probability());
            classes.add(c);
        }
        e.put("top", classes);
        return e;
    }

    /** What an input file is, by its first bytes (after gzip, for IDX and CSV files). */
    enum Kind { PICTURE, IDX_IMAGES, IDX_LABELS, CSV, UNKNOWN }

    /**
     * Reads one input for a model of {@code side x side} inputs; {@code invert} inverts a picture.
     * A file that cannot be used is a {@link DataException} naming it (and for CSV the line).
     */
    static Input read(Path file, int side, boolean invert) {
        if (Files.isDirectory(file)) {
            throw new DataException(file + ": is a directory, not an image file");
        }
        if (!Files.exists(file)) {
            throw new DataException(file + ": no such file");
        }
        switch (kind(file)) {
            case PICTURE:
                // readGray's own resize (area averaging where it shrinks) gives the model's size directly.
                return new Input(file, true, ImageFiles.readGray(file, side, invert), 1, side, side);
            case IDX_IMAGES: {
                Idx.Images images = Idx.readImages(file);
                if (images.count() == 0) {
                    throw new DataException(file + ": no images");
                }
                return new Input(file, false, images.pixels(), images.count(), images.rows(), images.cols());
            }
            case IDX_LABELS:
                throw new DataException(file + ": an IDX label file; predict reads the image file (idx3)");
            case CSV: {
                LabeledImages images = CsvImages.read(file, 256);   // any label: it is ignored
                return new Input(file, false, images.pixels(), images.count(), images.height(), images.width());
            }
            default:
                throw new DataException(file + ": not a PNG or JPEG picture, an IDX image file or a CSV file with a "
                        + "'label,pixel1,...' header");
        }
    }

    /** Sniffs the first bytes: PNG and JPEG signatures, then (through gzip) the IDX magic or a CSV header. */
    static Kind kind(Path file) {
        byte[] head = new byte[8];
        int n;
        try (InputStream in = Files.newInputStream(file)) {
            n = in.readNBytes(head, 0, head.length);
        } catch (IOException e) {
            throw new DataException(file + ": cannot read (" + e.getMessage() + ")", e);
        }
        if (n >= 4 && (head[0] & 0xFF) == 0x89 && head[1] == 'P' && head[2] == 'N' && head[3] == 'G') {
            return Kind.PICTURE;
        }
        if (n >= 3 && (head[0] & 0xFF) == 0xFF && (head[1] & 0xFF) == 0xD8 && (head[2] & 0xFF) == 0xFF) {
            return Kind.PICTURE;
        }
        if (n >= 2 && (head[0] & 0xFF) == 0x1f && (head[1] & 0xFF) == 0x8b) {
            try (InputStream in = new GZIPInputStream(Files.newInputStream(file))) {
                n = in.readNBytes(head, 0, head.length);
            } catch (IOException e) {
                throw new DataException(file + ": corrupt gzip data (" + e.getMessage() + ")", e);
            }
        }
        int magic = n >= 4 ? ((head[0] & 0xFF) << 24) | ((head[1] & 0xFF) << 16) | ((head[2] & 0xFF) << 8) | (head[3] & 0xFF) : -1;
        if (magic == Idx.IMAGES_MAGIC) {
            return Kind.IDX_IMAGES;
        }
        if (magic == Idx.LABELS_MAGIC) {
            return Kind.IDX_LABELS;
        }
        String text = new String(head, 0, Math.max(n, 0), StandardCharsets.ISO_8859_1).replace("\u00ef\u00bb\u00bf", "");
        String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
        if (text.toLowerCase(Locale.ROOT).startsWith("label") || name.endsWith(".csv") || name.endsWith(".csv.gz")) {
            return Kind.CSV;
        }
        return Kind.UNKNOWN;
    }
}
