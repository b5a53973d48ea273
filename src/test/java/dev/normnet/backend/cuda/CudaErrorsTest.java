package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.normnet.backend.DeviceMemoryException;
import dev.normnet.tensor.Shape;
import dev.normnet.tensor.Tensor;
import jcuda.driver.CUresult;
import org.junit.jupiter.api.Test;

/**
 * CUDA errors as normnet reports them, on the host: out-of-memory is a {@link DeviceMemoryException}
 * naming what was allocated, its size and the GPU's free memory, after which the backend goes on
 * working; a fault that loses the context says so; other errors keep the call's words.
 */
class CudaErrorsTest {
    @Test
    void outOfMemoryNamesWhatItsSizeAndWhatIsFree() {
        DeviceMemoryException e = CudaException.outOfMemory("cuMemAlloc", Shape.of(256, 6, 220, 220),
                4L * 256 * 6 * 220 * 220, 12L << 20, 80L << 30);
        assertEquals("out of GPU memory: [256, 6, 220, 220] needs 283.6 MiB (cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY); "
                + "the GPU has 12.0 MiB free of 80.0 GiB", e.getMessage());
        DeviceMemoryException unknown = CudaException.outOfMemory("cuMemAlloc", "scratch", 3L << 30, -1, -1);
        assertEquals("out of GPU memory: scratch needs 3.0 GiB (cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY)", unknown.getMessage());
    }

    @Test
    void everyFailedCallBecomesTheRightException() {
        assertInstanceOf(DeviceMemoryException.class, CudaException.failure(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuGraphInstantiate failed"));
        RuntimeException fault = CudaException.failure(CUresult.CUDA_ERROR_ILLEGAL_ADDRESS,
                "cuStreamSynchronize failed: CUDA_ERROR_ILLEGAL_ADDRESS (the last kernel queued: conv2d_forward, x (2, 3, 8, 8))");
        CudaException sticky = assertInstanceOf(CudaException.class, fault);
        assertEquals(CUresult.CUDA_ERROR_ILLEGAL_ADDRESS, sticky.result());
        assertTrue(sticky.getMessage().contains("conv2d_forward, x (2, 3, 8, 8)"), sticky.getMessage());
        assertTrue(sticky.getMessage().contains("the GPU context cannot be used after this error"), sticky.getMessage());
        RuntimeException plain = CudaException.failure(CUresult.CUDA_ERROR_INVALID_VALUE, "cuLaunchKernel failed");
        assertEquals("cuLaunchKernel failed", plain.getMessage());
        assertFalse(CudaException.isSticky(CUresult.CUDA_ERROR_OUT_OF_MEMORY));
        assertFalse(CudaException.isSticky(CUresult.CUDA_ERROR_INVALID_VALUE));
        for (String m : new String[] {fault.getMessage(), plain.getMessage()}) {
            assertFalse(m.contains("\n"), "one line: " + m);
        }
    }

    @Test
    void checkNamesTheCallAndTheShapes() {
        CudaException.check(CUresult.CUDA_SUCCESS, "cuMemAlloc", new Object() {
            @Override
            public String toString() {
                throw new AssertionError("shapes turned into text for a call that succeeded");
            }
        });
        DeviceMemoryException e = assertThrows(DeviceMemoryException.class,
                () -> CudaException.check(CUresult.CUDA_ERROR_OUT_OF_MEMORY, "cuMemAllocHost 64 bytes", Shape.of(4, 4)));
        assertEquals("cuMemAllocHost 64 bytes ([4, 4]) failed: CUDA_ERROR_OUT_OF_MEMORY", e.getMessage());
    }

    @Test
    void theBackendStaysUsableAfterOutOfMemory() {
        LaunchRecorder recorder = new LaunchRecorder();
        try (CudaBackend be = recorder.newBackend(1000)) {
            Tensor kept = be.allocate(Shape.of(600));
            assertEquals(400L * Float.BYTES, be.availableBytes());
            DeviceMemoryException e = assertThrows(DeviceMemoryException.class, () -> be.allocate(Shape.of(8, 8, 8)));
            assertEquals("out of GPU memory: [8, 8, 8] needs 2.0 KiB (cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY); "
                    + "the GPU has 1.6 KiB free of 3.9 KiB", e.getMessage());
            Tensor small = be.allocate(Shape.of(300));
            be.fill(small, 1f);
            be.copy(kept.view(0, Shape.of(300)), small);
            be.synchronize();
            kept.close();
            assertEquals(700L * Float.BYTES, be.availableBytes());
            assertArrayEquals(new String[] {"fill", "copy"},
                    recorder.recorded().stream().map(LaunchRecorder.Launch::kernel).toArray(String[]::new));
        }
    }
}
