/**
 * Model files: the safetensors format ({@link dev.normnet.io.SafeTensors}), normnet's model file on
 * it with PyTorch's names ({@link dev.normnet.io.ModelFile}) and the description that rebuilds a
 * model from a file alone ({@link dev.normnet.io.ModelSpec}).
 */
package dev.normnet.io;
