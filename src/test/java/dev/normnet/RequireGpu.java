package dev.normnet;

import java.util.Optional;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.LifecycleMethodExecutionExceptionHandler;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

/**
 * Turns every skip of a GPU test into a failure when {@code NORMNET_REQUIRE_GPU=1} is set (or the
 * JUnit configuration parameter {@code normnet.requireGpu} is {@code 1}). GPU tests skip through
 * assumptions where no usable GPU is found; on the machine that is meant to have one, a skip
 * means the GPU was not used, and a run that skipped everything must not pass.
 *
 * <p>Catches the {@link TestAbortedException} of an assumption in a test, in
 * {@code @BeforeAll} and in {@code @BeforeEach}; the failure keeps the skip's reason. The one
 * skip it lets stand is {@link EmulatedDriver.Limit}: a case too large for the CPU emulation of the
 * driver, which is thrown only there.
 */
public final class RequireGpu implements TestExecutionExceptionHandler, LifecycleMethodExecutionExceptionHandler {
    /** The environment variable that makes a skipped GPU test fail. */
    public static final String ENV = "NORMNET_REQUIRE_GPU";
    /** The same switch as a JUnit configuration parameter. */
    public static final String PARAMETER = "normnet.requireGpu";

    /** Whether skips are failures for tests run in {@code context}. */
    static boolean required(ExtensionContext context) {
        if ("1".equals(System.getenv(ENV))) {
            return true;
        }
        Optional<String> p = context == null ? Optional.empty() : context.getConfigurationParameter(PARAMETER);
        return p.map("1"::equals).orElse(false);
    }

    /** {@code t} itself, or, for a skip where a GPU is required, the failure that replaces it. */
    static Throwable convert(ExtensionContext context, Throwable t) {
        if (t instanceof TestAbortedException && !(t instanceof EmulatedDriver.Limit) && required(context)) {
            AssertionFailedError failure = new AssertionFailedError(ENV + "=1 and a GPU test was skipped: " + t.getMessage());
            failure.initCause(t);
            return failure;
        }
        return t;
    }

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw convert(context, throwable);
    }

    @Override
    public void handleBeforeAllMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw convert(context, throwable);
    }

    @Override
    public void handleBeforeEachMethodExecutionException(ExtensionContext context, Throwable throwable) throws Throwable {
        throw convert(context, throwable);
    }
}
