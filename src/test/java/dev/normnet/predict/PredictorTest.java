package dev.normnet.predict;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.Closeness;
import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.data.Resize;
import dev.normnet.io.ModelFileException;
import dev.normnet.io.ModelSpec;
import dev.normnet.io.SafeTensors;
import dev.normnet.nn.ModelOptions;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/**
 * {@link Predictor} on the committed model files: PyTorch's logits, the uint8 and resize paths,
 * batches, the checks, and use from several threads at once.
 */
class PredictorTest {
    static final Path GOLDEN = Path.of("src/test/resources/safetensors");
    /** A normnet file PyTorch loaded; its spec names the classes "a" .. "j". */
    static final Path NORMNET = GOLDEN.resolve("normnet_lenet-bn.safetensors");
    static final int SIDE = 28;
    static final int PX = SIDE * SIDE;

    static byte[] randomImages(int count, int side, long seed) {
        byte[] b = new byte[count * side * side];
        new SplittableRandom(seed).nextBytes(b);
        return b;
    }

    @Test
    void logitsAreThoseOfPyTorchForTheSameFile() throws IOException {
        try (Predictor p = Predictor.load(NORMNET);
             SafeTensors io = SafeTensors.open(GOLDEN.resolve("pytorch_lenet-bn_io.safetensors"));
             SafeTensors pt = SafeTensors.open(GOLDEN.resolve("normnet_lenet-bn_logits.safetensors"))) {
            assertEquals(SIDE, p.side());
            assertEquals(10, p.classes());
            assertEquals(List.of("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), p.classNames());
            float[] logits = p.logits(io.floats("inputs"), 16);
            System.out.println(Closeness.assertClose("predictor logits against PyTorch's (float64)", pt.floats("logits"), logits, 1e-5));
        }
    }

    @Test
    void aPyTorchStateDictNeedsItsModelNamed() throws IOException {
        Path file = GOLDEN.resolve("pytorch_lenet-bn.safetensors");
        ModelFileException e = assertThrows(ModelFileException.class, () -> Predictor.load(file));
        assertTrue(e.getMessage().contains("does not say which model"), e.getMessage());
        ModelSpec spec = new ModelSpec("lenet-bn", ModelOptions.defaults(), List.of());
        try (Predictor p = Predictor.load(file, spec);
             SafeTensors io = SafeTensors.open(GOLDEN.resolve("pytorch_lenet-bn_io.safetensors"))) {
            Closeness.assertClose("PyTorch file's logits", io.floats("logits"), p.logits(io.floats("inputs"), 16), 1e-5);
            assertEquals("7", p.classNames().get(7), "a file without class names gives the numbers");
        }
    }

    @Test
    void probabilitiesAreTheSoftmaxSortedWithTheirNames() throws IOException {
        try (Predictor p = Predictor.builder().setModelFile(NORMNET).optBackend(new CpuBackend(1)).build()) {
            byte[] img = randomImages(1, SIDE, 1);
            float[] x = new float[PX];
            Resize.bilinear(img, 0, SIDE, SIDE, x, 0, SIDE, SIDE, 255f);
            float[] logits = p.logits(x, 1);
            List<Prediction> all = p.predict(img, 10);
            assertEquals(10, all.size());
            double sum = 0;
            double lse = 0;
            double max = Double.NEGATIVE_INFINITY;
            for (float l : logits) {
                max = Math.max(max, l);
            }
            for (float l : logits) {
                lse += Math.exp(l - max);
            }
            lse = max + Math.log(lse);
            for (int t = 0; t < 10; t++) {
                Prediction q = all.get(t);
                sum += q.probability();
                assertEquals(Math.exp(logits[q.index()] - lse), q.probability(), 1e-12);
                assertEquals(p.classNames().get(q.index()), q.name());
                if (t > 0) {
                    assertTrue(all.get(t - 1).probability() >= q.probability(), "sorted, most probable first");
                }
            }
            assertEquals(1.0, sum, 1e-12);
            assertEquals(all.subList(0, 3), p.predict(img, 3));
            assertEquals(all.subList(0, 3), p.predict(x, 3), "uint8 input is the float input divided by 255");
        }
    }

    @Test
    void imagesOfAnotherSizeAreResizedAsTrainingDoes() throws IOException {
        try (Predictor p = Predictor.builder().setModelFile(NORMNET).optBackend(new CpuBackend(1)).build()) {
            byte[] small = randomImages(3, 20, 2);
            float[] x = new float[3 * PX];
            for (int i = 0; i < 3; i++) {
                Resize.bilinear(small, i * 400, 20, 20, x, i * PX, SIDE, SIDE, 255f);
            }
            assertEquals(p.predictBatch(x, 3, 5), p.predictBatch(small, 3, 20, 20, 5));
            assertEquals(p.predictBatch(x, 3, 5).get(1), p.predict(java.util.Arrays.copyOfRange(small, 400, 800), 20, 20, 5));
        }
    }

    @Test
    void aLargeBatchRunsInChunksAndAgreesWithSingleImages() throws IOException {
        try (Predictor p = Predictor.builder().setModelFile(NORMNET).optBackend(new CpuBackend(1)).optMaxBatch(16).build()) {
            int n = 37;   // chunks of 16, 16 and 5 (padded to 8)
            byte[] images = randomImages(n, SIDE, 3);
            float[] x = new float[n * PX];
            for (int i = 0; i < n; i++) {
                Resize.bilinear(images, i * PX, SIDE, SIDE, x, i * PX, SIDE, SIDE, 255f);
            }
            float[] batch = p.logits(x, n);
            float[] single = new float[n * 10];
            for (int i = 0; i < n; i++) {
                System.arraycopy(p.logits(java.util.Arrays.copyOfRange(x, i * PX, (i + 1) * PX), 1), 0, single, i * 10, 10);
            }
            Closeness.assertClose("logits in batches against one by one", single, batch, 1e-6);
            assertEquals(0, p.logits(new float[0], 0).length);
        }
    }

    @Test
    void badArgumentsAreRefusedAndAClosedPredictorSaysSo() throws IOException {
        Predictor p = Predictor.builder().setModelFile(NORMNET).optBackend(new CpuBackend(1)).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.predict(new byte[100], 3));
        assertTrue(e.getMessage().contains("28 x 28"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> p.predict(new float[PX], 0));
        assertThrows(IllegalArgumentException.class, () -> p.predict(new float[PX], 11));
        assertThrows(IllegalArgumentException.class, () -> p.logits(new float[PX + 1], 1));
        assertThrows(IllegalArgumentException.class, () -> Predictor.builder().setModelFile(NORMNET).optMaxBatch(0).build());
        p.close();
        p.close();
        IllegalStateException closed = assertThrows(IllegalStateException.class, () -> p.predict(new float[PX], 1));
        assertTrue(closed.getMessage().contains("closed"), closed.getMessage());
    }

    @Test
    void eightThreadsAtOnceGetTheAnswersOfSequentialCalls() throws Exception {
        int images = 48;
        byte[] pixels = randomImages(images, SIDE, 4);
        try (Predictor p = Predictor.load(NORMNET)) {
            // Each task: one image alone, then a batch of six starting there.
            List<List<Prediction>> expectedSingle = new ArrayList<>();
            List<List<List<Prediction>>> expectedBatch = new ArrayList<>();
            for (int i = 0; i < images; i++) {
                expectedSingle.add(p.predict(image(pixels, i, 1), 3));
                expectedBatch.add(p.predictBatch(image(pixels, i, Math.min(6, images - i)), Math.min(6, images - i), SIDE, SIDE, 2));
            }
            allAtOnce(8, thread -> {
                for (int round = 0; round < 3; round++) {
                    for (int j = 0; j < images; j++) {
                        int i = (j + thread * 7) % images;
                        int n = Math.min(6, images - i);
                        if (!expectedSingle.get(i).equals(p.predict(image(pixels, i, 1), 3))
                                || !expectedBatch.get(i).equals(p.predictBatch(image(pixels, i, n), n, SIDE, SIDE, 2))) {
                            return false;
                        }
                    }
                }
                return true;
            }, "a thread got another answer than the sequential calls");
        }
    }

    /** One thread's work in {@link #allAtOnce}: true when every answer it got was the expected one. */
    interface ThreadTask {
        boolean run(int thread) throws Exception;
    }

    /** Runs {@code task} on {@code threads} threads released at the same moment; fails with {@code message} unless all return true. */
    static void allAtOnce(int threads, ThreadTask task, String message) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Boolean>> results = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                Callable<Boolean> call = () -> {
                    start.await();
                    return task.run(thread);
                };
                results.add(pool.submit(call));
            }
            start.countDown();
            for (Future<Boolean> f : results) {
                assertTrue(f.get(), message);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    private static byte[] image(byte[] pixels, int first, int count) {
        return java.util.Arrays.copyOfRange(pixels, first * PX, (first + count) * PX);
    }

    @Test
    void aModelFileThatIsNotOneIsAModelFileError(@org.junit.jupiter.api.io.TempDir Path tmp) throws IOException {
        Path bad = tmp.resolve("bad.safetensors");
        java.nio.file.Files.write(bad, new byte[] {1, 2, 3});
        ModelFileException e = assertThrows(ModelFileException.class, () -> Predictor.load(bad));
        assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
    }
}
