package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.io.ModelFile;
import dev.normnet.io.ModelSpec;
import dev.normnet.io.SafeTensors;
import dev.normnet.nn.ModelOptions;
import dev.normnet.nn.Models;
import dev.normnet.nn.Sequential;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `normnet inspect` on the committed model files: the model, the batch-norm values, the picture, the errors. */
class InspectCommandTest {
    static final Path GOLDEN = Path.of("src/test/resources/safetensors");
    static final Path NORMNET = GOLDEN.resolve("normnet_lenet-bn.safetensors");

    @TempDir
    Path tmp;

    private static String number(float v) {
        return String.format(Locale.ROOT, "%12.4g", v);
    }

    @Test
    void printsTheModelAndEveryBatchNormValueOfTheFile() throws IOException {
        CliTestSupport.Result r = CliTestSupport.run("inspect", NORMNET.toString());
        assertEquals(0, r.status(), r.err());
        List<String> lines = Arrays.asList(r.out().split("\\R"));
        assertTrue(lines.get(0).startsWith("file: " + NORMNET + ", ") && lines.get(0).contains("30 tensors (26 F32, 4 I64)"),
                lines.get(0));
        assertEquals("model: lenet-bn (avg pooling, sigmoid, input 28x28), 44,878 parameters", lines.get(1));
        assertEquals("classes: a, b, c, d, e, f, g, h, i, j", lines.get(2));
        assertTrue(r.out().contains("       BatchNorm2d-2            [-1, 6, 24, 24]              12"), r.out());
        assertTrue(r.out().contains("Total params: 44,878"), r.out());

        try (SafeTensors st = SafeTensors.open(NORMNET)) {
            // Six channels: one row each, gamma, beta, running mean, running variance.
            assertTrue(lines.contains("BatchNorm2d-2 (\"1.\" in the state_dict): 6 channels, eps 0.00001, momentum 0.1, "
                    + "num_batches_tracked " + st.longs("1.num_batches_tracked")[0]), r.out());
            float[][] v = {st.floats("1.weight"), st.floats("1.bias"), st.floats("1.running_mean"), st.floats("1.running_var")};
            for (int c = 0; c < 6; c++) {
                String row = String.format(Locale.ROOT, "%7d %s %s %s %s", c, number(v[0][c]), number(v[1][c]), number(v[2][c]),
                        number(v[3][c]));
                assertTrue(lines.contains(row), "no row '" + row + "':\n" + r.out());
            }
            // 120 channels: min, mean, max and the first values of each statistic.
            assertTrue(lines.contains("BatchNorm1d-11 (\"10.\" in the state_dict): 120 channels, eps 0.00001, momentum 0.1, "
                    + "num_batches_tracked 3"), r.out());
            float[] var = st.floats("10.running_var");
            double min = Double.MAX_VALUE;
            double max = -Double.MAX_VALUE;
            double sum = 0;
            for (float f : var) {
                min = Math.min(min, f);
                max = Math.max(max, f);
                sum += f;
            }
            String row = String.format(Locale.ROOT, "%-12s %12.4g %12.4g %12.4g  %s %s", "running_var", min, sum / var.length, max,
                    number(var[0]).trim(), number(var[1]).trim());
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(row)), "no line starting '" + row + "':\n" + r.out());
        }
        assertTrue(lines.contains("BatchNorm1d-14 (\"13.\" in the state_dict): 84 channels, eps 0.00001, momentum 0.1, "
                + "num_batches_tracked 3"), r.out());
    }

    @Test
    void drawsOnePanelPerBatchNormLayer() throws IOException {
        Path png = tmp.resolve("bn.png");
        CliTestSupport.Result r = CliTestSupport.run("inspect", NORMNET.toString(), "--png", png.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().endsWith("png: " + png + "\n"), r.out());
        BufferedImage img = ImageIO.read(png.toFile());
        // Four layers: two rows of two panels under the title.
        assertEquals(2 * BatchNormImage.PANEL_WIDTH, img.getWidth());
        assertEquals(BatchNormImage.TITLE_HEIGHT + 2 * BatchNormImage.PANEL_HEIGHT, img.getHeight());
        assertEquals(1400, img.getWidth());
        assertEquals(756, img.getHeight());
    }

    @Test
    void aPyTorchFileWithItsModelNamed() {
        Path pytorch = GOLDEN.resolve("pytorch_mlp-bn.safetensors");
        CliTestSupport.Result r = CliTestSupport.run("inspect", pytorch.toString(), "--model", "mlp-bn");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("no normnet metadata (model named on the command line)"), r.out());
        assertTrue(r.out().contains("model: mlp-bn (relu, input 28x28)"), r.out());
        assertTrue(r.out().contains("classes: not named in the file"), r.out());
        assertTrue(r.out().contains("BatchNorm1d-3 (\"2.\" in the state_dict): 32 channels"), r.out());
        CliTestSupport.Result unnamed = CliTestSupport.run("inspect", pytorch.toString());
        EvalCommandTest.oneLineExitTwo(unnamed, "no --model");
        assertTrue(unnamed.err().contains("--model"), unnamed.err());
    }

    @Test
    void aModelWithoutBatchNormHasNothingToDraw() throws IOException {
        Path file = tmp.resolve("mlp.safetensors");
        try (Sequential m = Models.create("mlp", ModelOptions.defaults()).build(1)) {
            ModelFile.save(m, new ModelSpec("mlp", ModelOptions.defaults(), List.of()), file);
        }
        CliTestSupport.Result r = CliTestSupport.run("inspect", file.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().endsWith("no batch-norm layers\n"), r.out());
        CliTestSupport.Result png = CliTestSupport.run("inspect", file.toString(), "--png", tmp.resolve("x.png").toString());
        EvalCommandTest.oneLineExitTwo(png, "--png without batch norm");
        assertEquals("", png.out(), "refused before anything is printed");
        assertTrue(png.err().contains("no batch-norm layer"), png.err());
    }
}
