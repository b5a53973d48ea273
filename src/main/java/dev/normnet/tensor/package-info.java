/** Shapes and float32 tensors that live on one device. */
package dev.normnet.tensor;
