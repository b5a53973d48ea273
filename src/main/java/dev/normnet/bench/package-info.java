/** The benchmark harness: the cases, timed model steps and kernels, measured machine limits, statistics, machine facts. */
package dev.normnet.bench;
