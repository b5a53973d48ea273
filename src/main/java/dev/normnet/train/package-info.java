/** The training loop (data resident on the device, one planned step replayed per batch), its history, and checkpoints. */
package dev.normnet.train;
