package dev.normnet;

import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;
import dev.normnet.backend.cuda.CudaBackend;
import dev.normnet.backend.cuda.CudaStatus;
import dev.normnet.backend.cuda.KernelAttributes;

/**
 * Step 1 of {@code bin/gpu-check}: normnet's view of this machine's GPU, one fact per line: the
 * probe's verdict and its detail (the loader's words and the JCuda natives' path when the driver
 * library does not load), the Java runtime, the temp directory JCuda unpacks into, the CPU
 * backend, and, when CUDA is usable, the opened backend, its free memory and each kernel as the
 * driver loaded it ({@link KernelAttributes}). Exits 0 when CUDA is
 * usable, 3 when it is not, so that the script can tell the two apart.
 */
public final class GpuCheckProbe {
    private GpuCheckProbe() {
    }

    public static void main(String[] args) {
        CudaStatus s = Backends.cudaStatus();
        System.out.println("java: " + System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        System.out.println("java.io.tmpdir: " + System.getProperty("java.io.tmpdir"));
        try (Backend cpu = Backends.cpu()) {
            System.out.println("cpu: " + cpu.describe());
        }
        System.out.println("cuda probe: " + (s.available() ? "usable" : "unavailable") + ": " + s.reason());
        System.out.println("cuda device: " + s.device());
        if (!s.detail().isEmpty()) {
            System.out.println("cuda detail: " + s.detail());
        }
        if (!s.available()) {
            System.exit(3);
        }
        try (CudaBackend gpu = new CudaBackend()) {
            System.out.println("cuda backend: " + gpu.describe() + ", " + gpu.availableBytes() / (1L << 20) + " MiB free");
        }
        KernelAttributes.describe().forEach(System.out::println);
    }
}
