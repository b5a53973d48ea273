/** The CUDA backend: hand-written kernels loaded through JCuda's driver API. */
package dev.normnet.backend.cuda;
