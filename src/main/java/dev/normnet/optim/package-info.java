/** Optimizers that update every parameter of a model in one call over its flat buffers, and learning-rate schedules. */
package dev.normnet.optim;
