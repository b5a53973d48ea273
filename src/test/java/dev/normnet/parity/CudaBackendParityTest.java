package dev.normnet.parity;

import dev.normnet.GpuTest;
import dev.normnet.backend.cuda.CudaStatus;
import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;

/** The golden per-op cases on the CUDA backend; skipped, with the reason, where no GPU is usable. */
@GpuTest
class CudaBackendParityTest extends BackendParityCases {
    @Override
    protected String unavailableReason() {
        CudaStatus status = Backends.cudaStatus();
        return status.available() ? null : "CUDA unavailable: " + status.reason();
    }

    @Override
    protected Backend createBackend() {
        return Backends.select("cuda").backend();
    }
}
