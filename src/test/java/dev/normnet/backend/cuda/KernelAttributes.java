package dev.normnet.backend.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUresult;
import jcuda.driver.JCudaDriver;

/**
 * Each kernel as the driver of this machine loaded it, one line per kernel: its registers, the
 * most threads a block may have, its static shared memory and its local memory (spills), from
 * cuFuncGetAttribute. Printed by {@code bin/gpu-check}'s probe, so that the first GPU run shows
 * what the device made of the fatbin beside what ptxas said here.
 */
public final class KernelAttributes {
    private KernelAttributes() {
    }

    /** Opens the device, reads every kernel's attributes, closes it. */
    public static List<String> describe() {
        List<String> lines = new ArrayList<>();
        CudaDevice device = new CudaDevice();
        try {
            for (Map.Entry<String, Kernel> e : new TreeMap<>(device.kernels()).entrySet()) {
                Kernel k = e.getValue();
                int registers = attribute(k, CUfunction_attribute.CU_FUNC_ATTRIBUTE_NUM_REGS);
                int local = attribute(k, CUfunction_attribute.CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES);
                lines.add("kernel " + e.getKey() + ": " + registers + " registers, at most " + k.maxThreads()
                        + " threads a block, " + k.staticSharedBytes() + " bytes of static shared memory, " + local
                        + " bytes of local memory");
            }
        } finally {
            device.close();
        }
        return lines;
    }

    private static int attribute(Kernel k, int attribute) {
        int[] v = new int[1];
        int r = JCudaDriver.cuFuncGetAttribute(v, attribute, k.function());
        if (r != CUresult.CUDA_SUCCESS) {
            throw new CudaException("cuFuncGetAttribute(" + k + ", " + CUfunction_attribute.stringFor(attribute) + "): "
                    + CUresult.stringFor(r), r);
        }
        return v[0];
    }
}
