package dev.normnet.backend;

import dev.normnet.backend.cpu.CpuBackend;
import dev.normnet.backend.cpu.VectorCpuBackend;
import dev.normnet.backend.cuda.CudaBackend;
import dev.normnet.backend.cuda.CudaStatus;
import java.util.Locale;

/**
 * Chooses a backend and says why. CUDA is probed once per process ({@link #cudaStatus()}); a
 * missing driver, device or kernel binary is reported, never hidden behind a silent fallback.
 */
public final class Backends {
    /** A chosen backend and one line saying which it is and why it was chosen. */
    public record Selection(Backend backend, String reason) {
    }

    private static volatile CudaStatus status;

    private Backends() {
    }

    /** The best CPU backend, with one thread per available processor. */
    public static Backend cpu() {
        return cpu(Runtime.getRuntime().availableProcessors());
    }

    /**
     * The best CPU backend this JVM can run: {@link VectorCpuBackend} when the incubating Vector
     * API is present ({@code --add-modules jdk.incubator.vector}, which the launcher passes), else
     * the reference {@link CpuBackend}, which computes the same thing more slowly.
     */
    public static Backend cpu(int threads) {
        return vectorApiAvailable() ? new VectorCpuBackend(threads) : new CpuBackend(threads);
    }

    /** Whether {@code jdk.incubator.vector} is in this JVM's boot layer, so that the fast CPU path can load. */
    public static boolean vectorApiAvailable() {
        return ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();
    }

    /** What {@link #cpu()} gives and why, for the line that reports the chosen device. */
    private static String cpuReason() {
        return vectorApiAvailable() ? "vector path"
                : "reference path: start the JVM with --add-modules jdk.incubator.vector for the fast one";
    }

    /** Probes CUDA once (driver, device, kernels, binary for this GPU) and remembers the answer. */
    public static CudaStatus cudaStatus() {
        CudaStatus s = status;
        if (s == null) {
            synchronized (Backends.class) {
                s = status;
                if (s == null) {
                    s = probe();
                    status = s;
                }
            }
        }
        return s;
    }

    private static CudaStatus probe() {
        try {
            return CudaBackend.probe();
        } catch (LinkageError e) {  // JCuda's classes missing or unloadable
            return new CudaStatus(false, "no NVIDIA driver", "none", "JCuda did not load: " + e);
        } catch (Throwable t) {
            return new CudaStatus(false, t.getClass().getSimpleName() + ": " + t.getMessage(), "none");
        }
    }

    /**
     * Picks a backend by name: {@code "cpu"}; {@code "cuda"}, which throws
     * {@link DeviceUnavailableException} (message = the reason) when no usable GPU is here; or
     * {@code "auto"}, which picks CUDA when usable, else the CPU, and says why.
     *
     * @throws IllegalArgumentException for any other name
     */
    public static Selection select(String device) {
        String d = device == null ? "" : device.trim().toLowerCase(Locale.ROOT);
        switch (d) {
            case "cpu": {
                Backend b = cpu();
                return new Selection(b, b.describe() + " (requested; " + cpuReason() + ")");
            }
            case "cuda": {
                CudaStatus s = cudaStatus();
                if (!s.available()) {
                    throw new DeviceUnavailableException(s.explain());
                }
                Backend b = new CudaBackend();
                return new Selection(b, b.describe() + " (requested)");
            }
            case "auto": {
                CudaStatus s = cudaStatus();
                if (s.available()) {
                    Backend b = new CudaBackend();
                    return new Selection(b, b.describe() + " (auto: a usable GPU was found)");
                }
                Backend b = cpu();
                return new Selection(b, b.describe() + " (auto: CUDA unavailable: " + s.reason() + "; " + cpuReason() + ")");
            }
            default:
                throw new IllegalArgumentException("unknown device \"" + device + "\": expected auto|cpu|cuda");
        }
    }
}
