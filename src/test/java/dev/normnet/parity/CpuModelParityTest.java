package dev.normnet.parity;

import dev.normnet.backend.Backend;
import dev.normnet.backend.cpu.CpuBackend;

/** LeNet-BN and MLP-BN training steps on the CPU backend against PyTorch. */
class CpuModelParityTest extends ModelParityCases {
    @Override
    protected Backend createBackend() {
        return new CpuBackend();
    }
}
