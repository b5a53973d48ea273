package dev.normnet.backend.cpu;

import dev.normnet.tensor.Device;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static dev.normnet.backend.cpu.Fixtures.assertGuards;
import static dev.normnet.backend.cpu.Fixtures.tensor;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** allocate, upload, fill, copy, addScalar and the backend's description. */
class CpuBackendMemoryTest {
    private static CpuBackend backend;

    @BeforeAll
    static void start() {
        backend = new CpuBackend(2);
    }

    @AfterAll
    static void stop() {
        backend.close();
    }

    @Test
    void allocateIsZeroFilledAndUploadCopies() {
        Tensor t = backend.allocate(Shape.of(2, 3));
        assertEquals(Shape.of(2, 3), t.shape());
        assertSame(Device.CPU, t.device());
        assertArrayEquals(new float[6], t.toArray());
        float[] values = {1, 2, 3, 4, 5, 6};
        Tensor u = backend.upload(values, Shape.of(3, 2));
        values[0] = 99;
        assertArrayEquals(new float[] {1, 2, 3, 4, 5, 6}, u.toArray());
    }

    @Test
    void fillCopyAndAddScalarStayInsideTheirWindows() {
        CpuTensor a = tensor(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        backend.fill(a, 0.5f);
        assertArrayEquals(new float[] {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}, a.toArray());
        assertGuards("fill", a);

        CpuTensor src = tensor(new float[] {1, 2, 3, 4, 5, 6}, 6);
        CpuTensor dst = tensor(new float[6], 3, 2);
        backend.copy(src, dst);
        assertArrayEquals(src.toArray(), dst.toArray());
        assertGuards("copy", dst);

        CpuTensor counter = tensor(new float[] {0.01f, 7f}, 2);
        backend.addScalar(counter, 1, 1f);
        backend.addScalar(counter, 1, 1f);
        assertArrayEquals(new float[] {0.01f, 9f}, counter.toArray());
        assertGuards("addScalar", counter);
    }

    @Test
    void rejectsBadArguments() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.copy(tensor(new float[6], 6), tensor(new float[5], 5)));
        assertTrue(e.getMessage().contains("copy") && e.getMessage().contains("[6]") && e.getMessage().contains("[5]"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> backend.addScalar(tensor(new float[2], 2), 2, 1f));
        assertTrue(e.getMessage().contains("addScalar") && e.getMessage().contains("index 2"), e.getMessage());
        Tensor foreign = new Tensor(Shape.of(4), 0) {
            @Override
            public Device device() {
                return Device.CUDA;
            }

            @Override
            public Tensor view(long relativeOffset, Shape shape) {
                throw new UnsupportedOperationException();
            }

            @Override
            public float[] toArray() {
                return new float[4];
            }

            @Override
            public void copyFrom(float[] src) {
            }

            @Override
            public void close() {
            }
        };
        e = assertThrows(IllegalArgumentException.class, () -> backend.reluForward(foreign, tensor(new float[4], 4)));
        assertTrue(e.getMessage().contains("reluForward") && e.getMessage().contains("cuda"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new CpuBackend(0));
        assertTrue(e.getMessage().contains("thread"), e.getMessage());
    }

    @Test
    void describesItself() {
        assertEquals("cpu: 2 threads", backend.describe());
        try (CpuBackend one = new CpuBackend(1)) {
            assertEquals("cpu: 1 thread", one.describe());
            assertEquals(Device.CPU, one.device());
            int[] runs = new int[1];
            one.capture(() -> runs[0]++).run();
            assertEquals(1, runs[0], "capture runs the step directly");
        }
    }
}
