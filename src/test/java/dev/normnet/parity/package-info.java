/** Parity tests: normnet's ops and models checked against golden files written by PyTorch. */
package dev.normnet.parity;
