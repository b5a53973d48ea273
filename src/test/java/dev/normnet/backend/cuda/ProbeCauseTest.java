package dev.normnet.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * The probe's reading of JCuda's load failure: each cause the dynamic loader can report for the
 * unpacked driver library (JCuda 12.6.0's message layout, as it prints it on a machine without a
 * driver) becomes its own reason, with the loader's words and the library's path as detail.
 */
class ProbeCauseTest {
    private static final String NATIVES = "/tmp/libJCudaDriver-12.6.0-linux-x86_64.so";

    /** JCuda's UnsatisfiedLinkError for a library that the loader refused with {@code loaderWords}. */
    private static UnsatisfiedLinkError jcudaError(String loaderWords) {
        return new UnsatisfiedLinkError("Error while loading native library \"JCudaDriver-12.6.0-linux-x86_64\"\n"
                + "Operating system name: Linux\n"
                + "Architecture         : amd64\n"
                + "Architecture bit size: 64\n"
                + "---(start of nested stack traces)---\n"
                + "Stack trace from the attempt to load the library as a file:\n"
                + "java.lang.UnsatisfiedLinkError: no JCudaDriver-12.6.0-linux-x86_64 in java.library.path: /usr/java/packages/lib:/lib\n"
                + "\tat java.base/java.lang.ClassLoader.loadLibrary(ClassLoader.java:2434)\n"
                + "Stack trace from the attempt to load the library as a resource:\n"
                + "java.lang.UnsatisfiedLinkError: " + NATIVES + ": " + loaderWords + "\n"
                + "\tat java.base/jdk.internal.loader.NativeLibraries.load(Native Method)\n"
                + "---(end of nested stack traces)---\n");
    }

    private static CudaStatus probe(String loaderWords) {
        return ProbeCause.of(jcudaError(loaderWords), "/tmp");
    }

    @Test
    void missingLibcudaIsNoDriver() {
        CudaStatus s = probe("libcuda.so.1: cannot open shared object file: No such file or directory");
        assertFalse(s.available());
        assertEquals("no NVIDIA driver", s.reason());
        assertTrue(s.detail().contains("libcuda.so.1: cannot open shared object file"), s.detail());
        assertTrue(s.detail().contains("native library " + NATIVES), s.detail());
        assertTrue(s.explain().startsWith("no NVIDIA driver (UnsatisfiedLinkError: "), s.explain());
        assertFalse(s.explain().contains("\n"), "one line: " + s.explain());
    }

    @Test
    void oldLibstdcxxIsNamed() {
        CudaStatus s = probe("/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.32' not found (required by " + NATIVES + ")");
        assertEquals(ProbeCause.OLD_LIBSTDCXX, s.reason());
        assertTrue(s.detail().contains("GLIBCXX_3.4.32"), s.detail());
        CudaStatus missing = probe("libstdc++.so.6: cannot open shared object file: No such file or directory");
        assertEquals(ProbeCause.OLD_LIBSTDCXX, missing.reason());
    }

    @Test
    void oldGlibcIsNamed() {
        CudaStatus s = probe("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found (required by " + NATIVES + ")");
        assertEquals(ProbeCause.OLD_GLIBC, s.reason());
        assertTrue(s.detail().contains("GLIBC_2.34"), s.detail());
    }

    @Test
    void noexecTempDirIsNamedWithTheRemedy() {
        CudaStatus s = probe("failed to map segment from shared object");
        assertEquals(ProbeCause.NOEXEC_TMPDIR, s.reason());
        assertTrue(s.detail().contains("-Djava.io.tmpdir="), s.detail());
        assertTrue(s.detail().contains(NATIVES), s.detail());
    }

    @Test
    void anythingElseKeepsTheLoadersWords() {
        CudaStatus s = probe("wrong ELF class: ELFCLASS32");
        assertEquals(ProbeCause.NATIVES_FAILED, s.reason());
        assertTrue(s.detail().contains("wrong ELF class: ELFCLASS32"), s.detail());
    }

    @Test
    void aLaterAttemptWithoutTheLoadersWordsStillNamesWhereTheLibraryGoes() {
        CudaStatus s = ProbeCause.of(new NoClassDefFoundError("Could not initialize class jcuda.driver.JCudaDriver"), "/var/tmp");
        assertEquals(ProbeCause.NATIVES_FAILED, s.reason());
        assertTrue(s.detail().contains("Could not initialize class jcuda.driver.JCudaDriver"), s.detail());
        assertTrue(s.detail().contains("unpacked into /var/tmp"), s.detail());
    }

    @Test
    void everyReasonIsDocumented() {
        for (String reason : new String[] {ProbeCause.NO_DRIVER, ProbeCause.OLD_LIBSTDCXX, ProbeCause.OLD_GLIBC,
                ProbeCause.NOEXEC_TMPDIR, ProbeCause.NATIVES_FAILED}) {
            assertTrue(CudaStatus.UNAVAILABLE_REASONS.contains(reason), reason);
        }
    }
}
