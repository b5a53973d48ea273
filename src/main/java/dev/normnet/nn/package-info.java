/** Layers, the Sequential container with lazy shape inference and planned buffers, and the model presets. */
package dev.normnet.nn;
