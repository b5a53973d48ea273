/** The {@code normnet} commands (train, summary, bench, plot, bundle, completion): argument parsing, help, one error policy, JSON files. */
package dev.normnet.cli;
