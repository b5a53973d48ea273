package dev.normnet.cli;

import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelSpec;
import dev.normnet.io.SafeTensors;
import dev.normnet.nn.BatchNorm;
import dev.normnet.nn.Layer;
import dev.normnet.nn.Sequential;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.math.BigDecimal;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code normnet inspect}: what a model file holds: the model, each layer's output shape and
 * parameter count, and the learned values of every batch-norm layer (gamma, beta, running mean,
 * running variance per channel, and num_batches_tracked); optionally gamma and beta as a picture.
 */
@Command(name = "inspect", sortOptions = false,
        header = "Show a model file: the model, its layers, and the values of its batch-norm layers.",
        description = {"Prints the model the file holds, each layer with its output shape and parameter count, and for",
                "every batch-norm layer gamma, beta, the running mean and variance per channel (a row per channel",
                "up to " + InspectCommand.TABLE_CHANNELS + " channels, else min, mean, max and the first values) "
                        + "and num_batches_tracked."})
final class InspectCommand implements Callable<Integer> {
    /** Layers with at most this many channels get one row per channel. */
    static final int TABLE_CHANNELS = 16;
    /** How many values the summary of a larger layer shows. */
    static final int FIRST_VALUES = 6;
    static final List<String> STATS = List.of("weight", "bias", "running_mean", "running_var");
    static final List<String> STAT_NAMES = List.of("gamma", "beta", "running_mean", "running_var");

    @Parameters(index = "0", paramLabel = "MODEL.safetensors", description = "the model file (normnet train --save, or a PyTorch state_dict with --model)")
    Path modelFile;
    @Option(names = "--png", paramLabel = "FILE.png", description = "also draw gamma and beta by channel, one "
            + BatchNormImage.PANEL_WIDTH + " x " + BatchNormImage.PANEL_HEIGHT + " panel per batch-norm layer, "
            + BatchNormImage.COLUMNS + " side by side under a " + BatchNormImage.TITLE_HEIGHT + "-pixel title (default: none)")
    Path png;
    @Mixin
    ModelFileOptions naming;

    private final PrintStream out;

    InspectCommand(PrintStream out) {
        this.out = out;
    }

    @Override
    public Integer call() throws IOException {
        naming.check();
        if (png != null) {
            Outputs.checkWritable("--png", png);
            Check.distinctFiles("--png", png, "input", modelFile);
        }
        ModelSpec spec = naming.spec(modelFile, List.of());
        boolean named = ModelFile.readSpec(modelFile) != null;
        String tensors;
        try (SafeTensors st = SafeTensors.open(modelFile)) {
            Map<String, Integer> dtypes = new TreeMap<>();
            for (SafeTensors.Entry e : st.entries().values()) {
                dtypes.merge(e.dtype().toString(), 1, Integer::sum);
            }
            List<String> parts = new ArrayList<>();
            dtypes.forEach((d, n) -> parts.add(n + " " + d));
            tensors = st.entries().size() + " tensors (" + String.join(", ", parts) + ")";
        }
        try (ModelFile.Loaded loaded = ModelFile.load(modelFile, spec)) {
            Sequential model = loaded.model();
            if (png != null && model.layers().stream().noneMatch(l -> l instanceof BatchNorm)) {
                throw new UsageException("--png " + png + ": " + ModelFileOptions.describe(spec) + " has no batch-norm layer to draw");
            }
            out.printf(Locale.ROOT, "file: %s, %,d bytes, %s%s%n", modelFile, Files.size(modelFile), tensors,
                    named ? "" : ", no normnet metadata (model named on the command line)");
            out.printf(Locale.ROOT, "model: %s, %,d parameters%n", ModelFileOptions.describe(spec), model.parameterCount());
            out.println("classes: " + (spec.classes().isEmpty() ? "not named in the file"
                    : String.join(", ", spec.classes())));
            out.print(model.summary(1));
            List<BatchNormImage.Panel> panels = new ArrayList<>();
            Map<String, float[]> state = model.state();
            for (int i = 0; i < model.layers().size(); i++) {
                Layer layer = model.layers().get(i);
                if (!(layer instanceof BatchNorm bn)) {
                    continue;
                }
                float[][] v = new float[STATS.size()][];
                for (int s = 0; s < STATS.size(); s++) {
                    v[s] = state.get(i + "." + STATS.get(s));
                }
                long tracked = (long) state.get(i + ".num_batches_tracked")[0];
                out.println();
                // Named as the summary's rows (1-based) and by the state_dict prefix (0-based).
                String name = bn.typeName() + "-" + (i + 1) + " (\"" + i + ".\" in the state_dict)";
                out.printf(Locale.ROOT, "%s: %d channels, eps %s, momentum %s, num_batches_tracked %d%n", name,
                        bn.channels(), plain(bn.eps()), plain(bn.momentum()), tracked);
                out.print(bn.channels() <= TABLE_CHANNELS ? table(v) : summary(v));
                panels.add(new BatchNormImage.Panel(bn.typeName() + "-" + (i + 1) + " (\"" + i + ".\"): " + bn.channels()
                        + " channels", v[0], v[1]));
            }
            if (panels.isEmpty()) {
                out.println();
                out.println(spec.folded() ? "no batch-norm layers: they are folded into the convolution and linear layers before them"
                        : "no batch-norm layers");
            }
            if (png != null) {
                BufferedImage img = BatchNormImage.draw(panels, "gamma and beta by channel: " + spec.model() + " ("
                        + modelFile.getFileName() + ")");
                Outputs.write("--png", png, p -> ImageIO.write(img, "png", p.toFile()));
                out.println("png: " + png);
            }
        }
        return 0;
    }

    /** One row per channel: gamma, beta, running mean, running variance. */
    static String table(float[][] v) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%7s", "channel"));
        for (String name : STAT_NAMES) {
            sb.append(String.format(Locale.ROOT, " %12s", name));
        }
        sb.append('\n');
        for (int c = 0; c < v[0].length; c++) {
            sb.append(String.format(Locale.ROOT, "%7d", c));
            for (float[] s : v) {
                sb.append(' ').append(number(s[c]));
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** One row per statistic: min, mean, max over the channels and the first values. */
    static String summary(float[][] v) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-12s %12s %12s %12s  first %d channels%n",
                "", "min", "mean", "max", FIRST_VALUES));
        for (int s = 0; s < v.length; s++) {
            float[] x = v[s];
            double min = Double.POSITIVE_INFINITY;
            double max = Double.NEGATIVE_INFINITY;
            double sum = 0;
            for (float f : x) {
                min = Math.min(min, f);
                max = Math.max(max, f);
                sum += f;
            }
            sb.append(String.format(Locale.ROOT, "%-12s %s %s %s ", STAT_NAMES.get(s), number(min), number(sum / x.length), number(max)));
            for (int c = 0; c < Math.min(FIRST_VALUES, x.length); c++) {
                sb.append(' ').append(number(x[c]).trim());
            }
            sb.append('\n');
        }
        return sb.toString();
    }

    /** A float as its shortest decimal, without an exponent: 0.00001, 0.1. */
    private static String plain(float v) {
        return new BigDecimal(Float.toString(v)).stripTrailingZeros().toPlainString();
    }

    /** A value in 12 columns with 4 significant digits (1.023, -0.0004567, 1.234e+05). */
    private static String number(double v) {
        return String.format(Locale.ROOT, "%12.4g", v);
    }
}
