package dev.normnet.backend.cuda;

import static dev.normnet.backend.cuda.CudaException.check;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Device memory through the driver: cuMemAlloc'ed storage zero-filled on the stream, scratch per
 * (purpose, size), zero-filled too, and host copies through one pinned staging buffer, in pieces of at most
 * 16 MiB. Keeps every live allocation so that {@link #close} frees what the program did not.
 */
final class DriverMemory implements CudaMemory {
    /** Largest staging buffer for host-device copies (larger copies go in pieces). */
    private static final long STAGING_MAX_BYTES = 16L << 20;

    private record ScratchKey(String purpose, long floats) {
    }

    private final CudaDevice device;
    private final Map<ScratchKey, CUdeviceptr> scratch = new HashMap<>();
    private final Map<CudaTensor.Storage, Boolean> live = new IdentityHashMap<>();
    private Pointer staging;  // pinned host memory
    private long stagingBytes;
    private ByteBuffer stagingBuffer;

    DriverMemory(CudaDevice device) {
        this.device = device;
    }

    @Override
    public CudaTensor.Storage allocate(long elements, Object what) {
        CUdeviceptr p = new CUdeviceptr();
        alloc(p, elements * Float.BYTES, what);
        CudaTensor.Storage s = new CudaTensor.Storage(p, elements);
        live.put(s, Boolean.TRUE);
        check(JCudaDriver.cuMemsetD32Async(p, 0, elements, device.stream()), "cuMemsetD32Async (zero)", what);
        return s;
    }

    @Override
    public void free(CudaTensor.Storage storage, boolean drain) {
        live.remove(storage);
        if (drain) {
            device.synchronize("synchronize before cuMemFree (an earlier kernel may have failed)");
        }
        check(JCudaDriver.cuMemFree(storage.base), "cuMemFree");
    }

    /** cuMemAlloc of {@code bytes} into {@code p}; out of memory names {@code what} and the GPU's free memory. */
    private void alloc(CUdeviceptr p, long bytes, Object what) {
        int r = JCudaDriver.cuMemAlloc(p, bytes);
        if (r == CUresult.CUDA_ERROR_OUT_OF_MEMORY) {
            long[] free = {-1};
            long[] total = {-1};
            if (JCudaDriver.cuMemGetInfo(free, total) != CUresult.CUDA_SUCCESS) {
                free[0] = -1;
                total[0] = -1;
            }
            throw CudaException.outOfMemory("cuMemAlloc", what, bytes, free[0], total[0]);
        }
        check(r, "cuMemAlloc " + bytes + " bytes", what);
    }

    @Override
    public long availableBytes() {
        long[] free = new long[1];
        long[] total = new long[1];
        return JCudaDriver.cuMemGetInfo(free, total) == CUresult.CUDA_SUCCESS ? free[0] : -1;
    }

    @Override
    public boolean hasScratch(String purpose, long floats) {
        return scratch.containsKey(new ScratchKey(purpose, floats));
    }

    @Override
    public CUdeviceptr scratch(String purpose, long floats) {
        return scratch.computeIfAbsent(new ScratchKey(purpose, floats), k -> {
            CUdeviceptr p = new CUdeviceptr();
            Object what = new Object() {
                @Override
                public String toString() {
                    return "scratch for " + purpose + " (" + floats + " floats)";
                }
            };
            long words = Math.max(1, floats);
            alloc(p, words * Float.BYTES, what);
            check(JCudaDriver.cuMemsetD32Async(p, 0, words, device.stream()), "cuMemsetD32Async (zero)", what);
            return p;
        });
    }

    private ByteBuffer staging(long bytes) {
        if (bytes > stagingBytes) {
            if (staging != null) {
                check(JCudaDriver.cuMemFreeHost(staging), "cuMemFreeHost");
                staging = null;
                stagingBytes = 0;
            }
            long size = Math.max(bytes, 1 << 16);
            Pointer p = new Pointer();
            check(JCudaDriver.cuMemAllocHost(p, size), "cuMemAllocHost " + size + " bytes");
            staging = p;
            stagingBytes = size;
            stagingBuffer = p.getByteBuffer(0, size).order(ByteOrder.nativeOrder());
        }
        return stagingBuffer;
    }

    @Override
    public void download(CUdeviceptr src, float[] out, Object what) {
        long chunk = STAGING_MAX_BYTES / Float.BYTES;
        for (long done = 0; done < out.length; done += chunk) {
            int n = (int) Math.min(chunk, out.length - done);
            ByteBuffer buf = staging((long) n * Float.BYTES);
            check(JCudaDriver.cuMemcpyDtoHAsync(staging, src.withByteOffset(done * Float.BYTES), (long) n * Float.BYTES,
                    device.stream()), "cuMemcpyDtoHAsync", what);
            device.checkAfterKernels(JCudaDriver.cuStreamSynchronize(device.stream()), "reading", what);
            buf.clear();
            buf.asFloatBuffer().get(out, (int) done, n);
        }
    }

    @Override
    public void upload(CUdeviceptr dst, float[] src, Object what) {
        long chunk = STAGING_MAX_BYTES / Float.BYTES;
        for (long done = 0; done < src.length; done += chunk) {
            int n = (int) Math.min(chunk, src.length - done);
            ByteBuffer buf = staging((long) n * Float.BYTES);
            buf.clear();
            buf.asFloatBuffer().put(src, (int) done, n);
            check(JCudaDriver.cuMemcpyHtoDAsync(dst.withByteOffset(done * Float.BYTES), staging, (long) n * Float.BYTES,
                    device.stream()), "cuMemcpyHtoDAsync", what);
            device.checkAfterKernels(JCudaDriver.cuStreamSynchronize(device.stream()), "copyFrom into", what);
        }
    }

    @Override
    public void upload(CUdeviceptr dst, byte[] src, Object what) {
        for (long done = 0; done < src.length; done += STAGING_MAX_BYTES) {
            int n = (int) Math.min(STAGING_MAX_BYTES, src.length - done);
            ByteBuffer buf = staging(n);
            buf.clear();
            buf.put(src, (int) done, n);
            check(JCudaDriver.cuMemcpyHtoDAsync(dst.withByteOffset(done), staging, n, device.stream()), "cuMemcpyHtoDAsync", what);
            device.checkAfterKernels(JCudaDriver.cuStreamSynchronize(device.stream()), "uploading", what);
        }
    }

    @Override
    public void close() {
        for (CUdeviceptr p : scratch.values()) {
            JCudaDriver.cuMemFree(p);
        }
        scratch.clear();
        for (CudaTensor.Storage s : live.keySet()) {
            s.freed = true;
            JCudaDriver.cuMemFree(s.base);
        }
        live.clear();
        if (staging != null) {
            JCudaDriver.cuMemFreeHost(staging);
            staging = null;
        }
    }
}
