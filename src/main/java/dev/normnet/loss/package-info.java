/** Loss functions, fused with their gradient. */
package dev.normnet.loss;
