package dev.normnet.backend.cuda;

import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * A kernel's arguments in declaration order, each with its PTX type ({@code u64} for pointers and
 * 64-bit integers, {@code u32} for ints, {@code f32} for floats), packed for cuLaunchKernel.
 */
final class KernelArgs {
    static final String U64 = "u64";
    static final String U32 = "u32";
    static final String F32 = "f32";
    /** The device null pointer, for optional tensors (a missing bias). */
    private static final CUdeviceptr NULL = new CUdeviceptr();
    private static final int MAX_ARGS = 24;

    private final NativePointerObject[] items = new NativePointerObject[MAX_ARGS];
    private final String[] kinds = new String[MAX_ARGS];
    private int count;

    private KernelArgs add(NativePointerObject p, String kind) {
        items[count] = p;
        kinds[count] = kind;
        count++;
        return this;
    }

    /** The device address of {@code t}'s first element. */
    KernelArgs ptr(CudaTensor t) {
        return add(Pointer.to(t.pointer()), U64);
    }

    /** The device address of {@code t}, or the null pointer when {@code t} is null. */
    KernelArgs ptrOrNull(CudaTensor t) {
        return add(Pointer.to(t == null ? NULL : t.pointer()), U64);
    }

    /** A raw device address (scratch, resident pixels). */
    KernelArgs raw(CUdeviceptr p) {
        return add(Pointer.to(p), U64);
    }

    /** The null device pointer. */
    KernelArgs nullPointer() {
        return add(Pointer.to(NULL), U64);
    }

    KernelArgs i(int v) {
        return add(Pointer.to(new int[] {v}), U32);
    }

    KernelArgs l(long v) {
        return add(Pointer.to(new long[] {v}), U64);
    }

    KernelArgs f(float v) {
        return add(Pointer.to(new float[] {v}), F32);
    }

    /** Whether the argument types are exactly {@code parameters}, in order. */
    boolean matches(String[] parameters) {
        if (parameters.length != count) {
            return false;
        }
        for (int i = 0; i < count; i++) {
            if (!parameters[i].equals(kinds[i])) {
                return false;
            }
        }
        return true;
    }

    /** The argument types as the PTX declares them, e.g. "u64 u64 u32 f32" (for messages and recorders). */
    String types() {
        return String.join(" ", java.util.Arrays.copyOf(kinds, count));
    }

    /** The kernelParams pointer for cuLaunchKernel. */
    Pointer pointer() {
        NativePointerObject[] exact = new NativePointerObject[count];
        System.arraycopy(items, 0, exact, 0, count);
        return Pointer.to(exact);
    }
}
