package dev.normnet.backend.cuda;

import java.util.List;

/**
 * Whether the CUDA backend can run here, as {@link CudaBackend#probe()} found. {@code reason} is
 * one of {@link #UNAVAILABLE_REASONS} or a CUDA error name when unavailable, and names the device
 * when available; {@code device} describes the GPU ("NVIDIA H100 80GB HBM3 (sm_90, driver 13.0)")
 * or is "none"; {@code detail} is what lies under the reason (the loader's own words and the path
 * JCuda unpacked its native library to), or empty.
 */
public record CudaStatus(boolean available, String reason, String device, String detail) {
    /** Every reason for an unusable GPU besides a CUDA error name ({@code CUDA_ERROR_...}). */
    public static final List<String> UNAVAILABLE_REASONS =
            List.of("no NVIDIA driver", "no CUDA device", "kernels not built", "no binary for this GPU",
                    ProbeCause.OLD_LIBSTDCXX, ProbeCause.OLD_GLIBC, ProbeCause.NOEXEC_TMPDIR, ProbeCause.NATIVES_FAILED);

    public CudaStatus {
        detail = detail == null ? "" : detail;
    }

    /** A status without detail. */
    public CudaStatus(boolean available, String reason, String device) {
        this(available, reason, device, "");
    }

    /** The reason, followed by the detail in parentheses when there is one: the line to show a user. */
    public String explain() {
        return detail.isEmpty() ? reason : reason + " (" + detail + ")";
    }
}
