package dev.normnet.predict;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.normnet.Closeness;
import dev.normnet.GpuTest;
import dev.normnet.backend.Backends;
import dev.normnet.backend.cuda.CudaBackend;
import dev.normnet.io.SafeTensors;
import dev.normnet.data.Resize;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link Predictor} on the CUDA backend: PyTorch's logits for the same file, and calls from eight
 * threads at once (each call makes the backend's context current on its own thread) giving the
 * answers of sequential calls, bit for bit.
 */
@GpuTest
class CudaPredictorTest {
    private static final int PX = PredictorTest.PX;

    private static CudaBackend gpu() {
        assumeTrue(Backends.cudaStatus().available(), "CUDA unavailable: " + Backends.cudaStatus().explain());
        return new CudaBackend();
    }

    private static Predictor on(CudaBackend gpu) throws java.io.IOException {
        return Predictor.builder().setModelFile(PredictorTest.NORMNET).optBackend(gpu).build();
    }

    @Test
    void logitsAreThoseOfPyTorchForTheSameFile() throws Exception {
        try (CudaBackend gpu = gpu();
             Predictor p = on(gpu);
             SafeTensors io = SafeTensors.open(PredictorTest.GOLDEN.resolve("pytorch_lenet-bn_io.safetensors"));
             SafeTensors pt = SafeTensors.open(PredictorTest.GOLDEN.resolve("normnet_lenet-bn_logits.safetensors"))) {
            float[] logits = p.logits(io.floats("inputs"), 16);
            System.out.println(Closeness.assertClose("GPU predictor logits against PyTorch's (float64)", pt.floats("logits"),
                    logits, 1e-5));
        }
    }

    @Test
    void eightThreadsAtOnceGetTheBitsOfSequentialCalls() throws Exception {
        int images = 16;
        byte[] pixels = PredictorTest.randomImages(images, PredictorTest.SIDE, 4);
        try (CudaBackend gpu = gpu();
             Predictor p = on(gpu)) {
            List<float[]> expected = new ArrayList<>();
            for (int i = 0; i < images; i++) {
                expected.add(p.logits(inputs(pixels, i), 1));
            }
            PredictorTest.allAtOnce(8, thread -> {
                for (int j = 0; j < images; j++) {
                    int i = (j + thread * 5) % images;
                    if (!Arrays.equals(expected.get(i), p.logits(inputs(pixels, i), 1))) {
                        return false;
                    }
                }
                return true;
            }, "a thread got other logits than the sequential calls");
        }
    }

    /** Image i as the model's input (pixels / 255, as the predictor's own byte paths make it). */
    private static float[] inputs(byte[] pixels, int i) {
        float[] x = new float[PX];
        int side = PredictorTest.SIDE;
        Resize.bilinear(pixels, i * PX, side, side, x, 0, side, side, 255f);
        return x;
    }
}
