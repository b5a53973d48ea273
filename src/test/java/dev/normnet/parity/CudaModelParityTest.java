package dev.normnet.parity;

import dev.normnet.GpuTest;
import dev.normnet.backend.cuda.CudaStatus;
import dev.normnet.backend.Backend;
import dev.normnet.backend.Backends;

/** LeNet-BN and MLP-BN training steps on the CUDA backend against PyTorch; skipped where no GPU is usable. */
@GpuTest
class CudaModelParityTest extends ModelParityCases {
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
