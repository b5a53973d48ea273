/** The CPU backend: the reference path every other backend is checked against. */
package dev.normnet.backend.cpu;
