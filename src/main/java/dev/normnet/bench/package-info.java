/** The {@code bench} and {@code plot} commands: throughput and per-kernel timings, JSON results, PNG charts. */
package dev.normnet.bench;
