/**
 * The CUDA backend: hand-written kernels loaded through JCuda's driver API, behind the
 * {@link dev.normnet.backend.cuda.CudaBackend} facade, with one launch class per kernel source.
 */
package dev.normnet.backend.cuda;
