/** The kernel interface every layer calls, with one implementation per device. */
package dev.normnet.backend;
