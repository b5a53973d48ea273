package dev.normnet.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.normnet.data.DataDiscovery;
import dev.normnet.data.FashionMnist;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The whole path on real data, through the command line: LeNet-BN trained on the first 6,000
 * images of the Fashion-MNIST training set for one epoch on the CPU, then evaluated on all 10,000
 * test images, must exceed 70% test accuracy.
 *
 * <p>Settings: LeNet-BN with ReLU and max pooling (the variant the re-tellings of the d2l chapter use), Adam, learning rate
 * {@value #LR}, batch {@value #BATCH} (375 steps), seed 0. The CPU backend is deterministic, so the
 * accuracy is one number per code version; what makes the test robust is that the whole
 * distribution over seeds clears the bar. Measured over seeds 0-9 (1 epoch, 6,000 images, all
 * 10,000 test images):
 * <ul>
 *   <li>this setting: test accuracy 0.754 to 0.804, mean 0.786;</li>
 *   <li>d2l's sigmoid and average-pooling LeNet-BN is too close to the bar to test on: SGD lr 1.0
 *       batch 64 gave 0.61 to 0.72 (3 seeds), batch 32 0.54 to 0.70; its best setting found, Adam
 *       lr 0.005 batch 16, gave 0.686 to 0.760 (mean 0.741).</li>
 * </ul>
 *
 * <p>Skipped, with the reason, only when Fashion-MNIST is not installed where normnet looks without
 * downloading ($NORMNET_DATA, ./data/FashionMNIST/raw, /usr/share/datasets/fashion-mnist); CI
 * installs the Debian package dataset-fashion-mnist, so there it runs.
 */
class EndToEndTest {
    static final String BATCH = "16";
    static final String LR = "0.005";

    @Test
    void lenetBnOnSixThousandImagesForOneEpochPassesSeventyPercent(@TempDir Path tmp) throws IOException {
        Path dir = installedFashionMnist();
        assumeTrue(dir != null, "Fashion-MNIST is not installed (looked in $NORMNET_DATA, ./data/FashionMNIST/raw, "
                + "/usr/share/datasets/fashion-mnist); apt-get install dataset-fashion-mnist to run this test");
        Path history = tmp.resolve("history.json");
        CliTestSupport.Result r = CliTestSupport.run("train", "--data", dir.toString(), "--device", "cpu",
                "--model", "lenet-bn", "--act", "relu", "--pool", "max", "--limit", "6000", "--epochs", "1",
                "--batch", BATCH, "--lr", LR, "--optimizer", "adam", "--seed", "0", "--history", history.toString());
        System.out.print(r.out());
        assertEquals(0, r.status(), r.err());
        HistoryFile json = JsonFiles.read(history, HistoryFile.class);
        assertEquals(6000, json.settings().get("train_examples"));
        assertEquals(10000, json.settings().get("test_examples"));
        assertEquals(1, json.history().size());
        double testAcc = json.history().get(0).testAcc();
        assertTrue(testAcc > 0.70, "test accuracy " + testAcc + " after one epoch on 6,000 images, expected above 0.70");
    }

    /** Where Fashion-MNIST is installed, looking as DataDiscovery does but never downloading; null when absent. */
    static Path installedFashionMnist() {
        List<Path> candidates = new ArrayList<>();
        String env = System.getenv(DataDiscovery.DATA_ENV);
        if (env != null && !env.isBlank()) {
            candidates.add(Path.of(env));
            candidates.add(Path.of(env, "FashionMNIST", "raw"));
        }
        candidates.add(Path.of("data", "FashionMNIST", "raw"));
        if (FashionMnist.DATASET.systemDir() != null) {
            candidates.add(FashionMnist.DATASET.systemDir());
        }
        for (Path dir : candidates) {
            if (Files.isDirectory(dir) && FashionMnist.DATASET.firstMissing(dir) == null) {
                return dir;
            }
        }
        return null;
    }
}
