/** The {@code normnet} commands (train, eval, predict, summary, inspect, bench, plot, experiment, bundle, completion): argument parsing, help, one error policy, JSON files. */
package dev.normnet.cli;
