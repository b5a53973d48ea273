package dev.normnet;

import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A test class that needs a usable GPU: tagged {@code gpu} (what {@code bin/run-gpu-tests} and
 * {@code bin/gpu-check} select) and run under {@link RequireGpu}, so that with
 * {@code NORMNET_REQUIRE_GPU=1} a skip is a failure.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Inherited
@Tag("gpu")
@ExtendWith(RequireGpu.class)
public @interface GpuTest {
}
