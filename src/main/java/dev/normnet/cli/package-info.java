/** The {@code normnet} commands: argument parsing, help, error reporting, and the train and summary commands. */
package dev.normnet.cli;
