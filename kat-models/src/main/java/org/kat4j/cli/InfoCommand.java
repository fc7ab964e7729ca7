package org.kat4j.cli;

import org.kat4j.rational.RationalKernels;
import org.kat4j.backend.Backends;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** {@code kat info}: versions, backend, the rational kernel chosen and why, threads. */
@Command(name = "info", description = "Show versions, backends, GPU found (or why not), threads.")
final class InfoCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        System.out.println("kat4j      0.1.0-SNAPSHOT");
        System.out.println("java       " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")");
        System.out.println("cpu        " + Runtime.getRuntime().availableProcessors() + " threads; kat train at batch 64: "
                + org.kat4j.nn.DataParallel.defaultReplicas(64) + " replica(s), one thread each (--replicas)");
        System.out.println("devices    " + Backends.devices() + " (best: " + Backends.best().device() + ")");
        for (String line : Backends.report()) {
            System.out.println("           " + line);
        }
        System.out.println("openmp     OMP_WAIT_POLICY=" + System.getenv("OMP_WAIT_POLICY")
                + (org.kat4j.backend.cpu.NativeSettings.passiveWaitPolicy() ? "" : " (set PASSIVE: see README, Performance)"));
        System.out.println("openblas   " + org.kat4j.backend.cpu.NativeSettings.openblasKernels());
        System.out.println("simd       " + org.kat4j.backend.cpu.Simd.describe());
        System.out.println("rational   " + RationalKernels.get().name());
        for (String line : RationalKernels.report()) {
            System.out.println("           " + line);
        }
        return 0;
    }
}
