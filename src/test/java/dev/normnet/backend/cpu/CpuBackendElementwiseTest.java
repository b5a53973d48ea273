package dev.normnet.backend.cpu;

import dev.normnet.Reference64;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static dev.normnet.backend.cpu.Fixtures.RTOL;
import static dev.normnet.Closeness.assertClose;
import static dev.normnet.backend.cpu.Fixtures.assertGuards;
import static dev.normnet.backend.cpu.Fixtures.numericGradient;
import static dev.normnet.backend.cpu.Fixtures.output;
import static dev.normnet.backend.cpu.Fixtures.tensor;
import static dev.normnet.backend.cpu.Fixtures.toDouble;
import static dev.normnet.backend.cpu.Fixtures.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Sigmoid and ReLU forward and backward, out of place and in place. */
class CpuBackendElementwiseTest {
    private static CpuBackend backend;

    @BeforeAll
    static void start() {
        backend = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    /** Values in [-8, 8] at least 1e-2 away from zero (ReLU's kink), 3x5x7x9. */
    private static float[] awayFromZero(Random rnd, int n) {
        float[] v = uniform(rnd, n, 0.01, 8);
        for (int i = 0; i < n; i++) {
            if (rnd.nextBoolean()) {
                v[i] = -v[i];
            }
        }
        return v;
    }

    @Test
    void sigmoidForwardAndBackward() {
        Random rnd = new Random(1);
        int[] dims = {3, 5, 7, 9};
        float[] x = uniform(rnd, 945, -20, 20);
        CpuTensor y = output(dims);
        backend.sigmoidForward(tensor(x, dims), y);
        assertClose("sigmoidForward", Reference64.sigmoid(toDouble(x)), y.toArray(), RTOL);
        assertGuards("y", y);

        float[] dy = uniform(rnd, 945, -1, 1);
        CpuTensor dx = output(dims);
        backend.sigmoidBackward(y, tensor(dy, dims), dx);
        double[] expected = numericGradient(Reference64::sigmoid, toDouble(x), toDouble(dy), 1e-4);
        assertClose("sigmoidBackward", expected, dx.toArray(), RTOL);
        assertGuards("dx", dx);

        // In place: y over x, dx over dy.
        CpuTensor inPlace = tensor(x, dims);
        backend.sigmoidForward(inPlace, inPlace);
        assertArrayEquals(y.toArray(), inPlace.toArray());
        CpuTensor grad = tensor(dy, dims);
        backend.sigmoidBackward(inPlace, grad, grad);
        assertArrayEquals(dx.toArray(), grad.toArray());
    }

    @Test
    void reluForwardAndBackward() {
        Random rnd = new Random(2);
        int[] dims = {3, 5, 7, 9};
        float[] x = awayFromZero(rnd, 945);
        CpuTensor y = output(dims);
        backend.reluForward(tensor(x, dims), y);
        assertClose("reluForward", Reference64.relu(toDouble(x)), y.toArray(), 0);
        assertGuards("y", y);

        float[] dy = uniform(rnd, 945, -1, 1);
        CpuTensor dx = output(dims);
        backend.reluBackward(tensor(x, dims), tensor(dy, dims), dx);
        double[] expected = numericGradient(Reference64::relu, toDouble(x), toDouble(dy), 1e-3);
        assertClose("reluBackward", expected, dx.toArray(), RTOL);
        assertGuards("dx", dx);

        // The sign test on the output gives the same gradient; both may run in place.
        CpuTensor inPlace = tensor(x, dims);
        backend.reluForward(inPlace, inPlace);
        assertArrayEquals(y.toArray(), inPlace.toArray());
        CpuTensor grad = tensor(dy, dims);
        backend.reluBackward(inPlace, grad, grad);
        assertArrayEquals(dx.toArray(), grad.toArray());
    }

    @Test
    void reluGradientAtZeroIsZero() {
        CpuTensor dx = output(3);
        backend.reluBackward(tensor(new float[] {0f, -0f, 1f}, 3), tensor(new float[] {5f, 5f, 5f}, 3), dx);
        assertArrayEquals(new float[] {0f, 0f, 5f}, dx.toArray());
    }

    @Test
    void elementwiseOpsCoverLargeTensorsSplitAcrossThreads() {
        // More elements than one thread's share, so the pool splits the work.
        Random rnd = new Random(3);
        int n = 200_003;
        float[] x = uniform(rnd, n, -6, 6);
        CpuTensor y = output(n);
        backend.sigmoidForward(tensor(x, n), y);
        assertClose("sigmoidForward 200003", Reference64.sigmoid(toDouble(x)), y.toArray(), RTOL);
        assertGuards("y", y);
    }

    @Test
    void rejectsMismatchedSizes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.sigmoidForward(output(2, 3), output(7)));
        assertTrue(e.getMessage().contains("sigmoidForward") && e.getMessage().contains("[2, 3]")
                && e.getMessage().contains("[7]"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class,
                () -> backend.reluBackward(output(6), output(6), output(5)));
        assertTrue(e.getMessage().contains("reluBackward") && e.getMessage().contains("[5]"), e.getMessage());
    }
}
