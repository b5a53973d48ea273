package dev.normnet.backend.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraphExec;

/**
 * A {@link Launcher} that needs no GPU: each launch is checked like a real one (grid, block and
 * shared memory within CUDA's limits and within each kernel's as ptxas compiled it for sm_90, read
 * from {@value #RESOURCES} when the build made it; argument types equal to the kernel's
 * parameters in normnet.kernels) and then recorded instead of run. {@link #newBackend()} builds a
 * {@link CudaBackend} over it, with memory that holds nothing (tensors read as zeros) and a
 * stream that does nothing, so the backend's host side runs on any machine.
 */
final class LaunchRecorder implements Launcher {
    /** One recorded launch: kernel, grid, block, dynamic shared memory, argument types, shapes, and whether the stream was being captured. */
    record Launch(String kernel, int gx, int gy, int gz, int threads, int sharedBytes, String argTypes, String shapes,
                  boolean captured) {
    }

    /**
     * "name registers static-shared-bytes max-threads local-bytes" per kernel, as ptxas compiled it
     * for sm_90, written by src/test/cuda/emulated-driver.sh.
     */
    static final String RESOURCES = "target/emulated-driver/kernel-resources.txt";

    private final Map<String, List<String>> signatures = CudaDevice.readSignatures();
    private final Map<String, int[]> resources = readResources(Path.of(RESOURCES));
    private final List<Launch> recorded = new ArrayList<>();
    private int lookups;
    private boolean capturing;
    /** Graphs instantiated, launched and destroyed through the recorder's stream. */
    int graphsMade;
    int graphLaunches;
    int graphsDestroyed;
    /** Host waits for the stream, copies each way and allocations (scratch included) made through the recorder. */
    int synchronizes;
    int uploads;
    int downloads;
    int allocations;

    /** A backend whose launches this recorder checks and records. */
    CudaBackend newBackend() {
        return newBackend(Long.MAX_VALUE);
    }

    /** A backend whose memory holds at most {@code capacityFloats} floats of tensors: more is out of GPU memory. */
    CudaBackend newBackend(long capacityFloats) {
        return new CudaBackend(new IdleStream(), this, new EmptyMemory(capacityFloats));
    }

    /** The launches recorded so far, in order. */
    List<Launch> recorded() {
        return recorded;
    }

    /** How many kernels have been looked up (all of them when the backend was built, none after). */
    int lookups() {
        return lookups;
    }

    @Override
    public Kernel kernel(String name) {
        lookups++;
        if (signatures.isEmpty()) {
            return new Kernel(name, null, null);  // the build had no nvcc: nothing to check against
        }
        List<String> parameters = signatures.get(name);
        if (parameters == null) {
            throw new IllegalStateException("kernel " + name + " is not in " + CudaDevice.SIGNATURES_RESOURCE);
        }
        int[] limits = resources.get(name);
        if (limits == null && !resources.isEmpty()) {
            throw new IllegalStateException("kernel " + name + " is not in " + RESOURCES + " (rebuild the emulated driver)");
        }
        return limits == null ? new Kernel(name, parameters, null) : new Kernel(name, parameters, null, limits[0], limits[1]);
    }

    /** Each kernel's {max threads, static shared bytes, registers, local bytes} from {@code file}; empty when the build made none. */
    static Map<String, int[]> readResources(Path file) {
        Map<String, int[]> map = new HashMap<>();
        if (!Files.isRegularFile(file)) {
            return map;
        }
        try {
            for (String line : Files.readAllLines(file)) {
                String[] w = line.trim().split("\\s+");
                if (w.length != 5) {
                    throw new IllegalStateException(file + ": not \"name registers shared max-threads local\": " + line);
                }
                map.put(w[0], new int[] {Integer.parseInt(w[3]), Integer.parseInt(w[2]), Integer.parseInt(w[1]),
                        Integer.parseInt(w[4])});
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return map;
    }

    @Override
    public void launch(Kernel kernel, int gx, int gy, int gz, int threads, int sharedBytes, Object shapes, KernelArgs args) {
        kernel.checkLaunch(gx, gy, gz, threads, sharedBytes, shapes, args);
        recorded.add(new Launch(kernel.name(), gx, gy, gz, threads, sharedBytes, args.types(), String.valueOf(shapes), capturing));
    }

    /** Memory that allocates nothing: every address is the null pointer, copies do nothing. */
    private final class EmptyMemory implements CudaMemory {
        private final Set<String> scratch = new HashSet<>();
        private final long capacity;
        private long used;

        EmptyMemory(long capacity) {
            this.capacity = capacity;
        }

        @Override
        public CudaTensor.Storage allocate(long elements, Object what) {
            if (elements > capacity - used) {
                throw CudaException.outOfMemory("cuMemAlloc", what, elements * Float.BYTES, (capacity - used) * Float.BYTES,
                        capacity * Float.BYTES);
            }
            used += elements;
            allocations++;
            return new CudaTensor.Storage(new CUdeviceptr(), elements);
        }

        @Override
        public void free(CudaTensor.Storage storage, boolean drain) {
            used -= storage.elements;
        }

        @Override
        public long availableBytes() {
            return capacity == Long.MAX_VALUE ? -1 : (capacity - used) * Float.BYTES;
        }

        @Override
        public boolean hasScratch(String purpose, long floats) {
            return scratch.contains(purpose + " " + floats);
        }

        @Override
        public CUdeviceptr scratch(String purpose, long floats) {
            if (scratch.add(purpose + " " + floats)) {
                allocations++;
            }
            return new CUdeviceptr();
        }

        @Override
        public void download(CUdeviceptr src, float[] out, Object what) {
            downloads++;
        }

        @Override
        public void upload(CUdeviceptr dst, float[] src, Object what) {
            uploads++;
        }

        @Override
        public void upload(CUdeviceptr dst, byte[] src, Object what) {
            uploads++;
        }

        @Override
        public void close() {
        }
    }

    /** A stream with no context: nothing to bind, wait for or capture; graphs are empty handles. */
    private final class IdleStream implements CudaStream {
        @Override
        public String describe() {
            return "cuda: launch recorder";
        }

        @Override
        public void enter() {
        }

        @Override
        public void synchronize(String what) {
            synchronizes++;
        }

        @Override
        public void beginCapture() {
            capturing = true;
        }

        @Override
        public CUgraphExec endCapture() {
            capturing = false;
            graphsMade++;
            return new CUgraphExec();
        }

        @Override
        public void abandonCapture() {
            capturing = false;
        }

        @Override
        public void launch(CUgraphExec graph) {
            graphLaunches++;
        }

        @Override
        public void destroy(CUgraphExec graph) {
            graphsDestroyed++;
        }

        @Override
        public void close() {
        }
    }
}
