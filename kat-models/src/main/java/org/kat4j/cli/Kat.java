package org.kat4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

/** The {@code kat} command line. */
@Command(name = "kat", mixinStandardHelpOptions = true, version = "kat4j 0.1.0-SNAPSHOT",
        scope = CommandLine.ScopeType.INHERIT, // -h/--help and -V/--version on every subcommand too
        description = "Kolmogorov-Arnold Transformers on the JVM.",
        subcommands = {TrainCommand.class, EvalCommand.class, CompareCommand.class, PredictCommand.class, ModelsCommand.class,
                InfoCommand.class,
                SmokeCommand.class})
public final class Kat implements Callable<Integer> {
    @CommandLine.Option(names = "--verbose", description = "Show stack traces on errors.", scope = CommandLine.ScopeType.INHERIT)
    boolean verbose;

    @Override
    public Integer call() {
        new CommandLine(this).usage(System.out);
        return 0;
    }

    public static void main(String[] args) {
        CommandLine cl = new CommandLine(new Kat());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            boolean verbose = parsed.originalArgs().contains("--verbose");
            if (verbose) {
                ex.printStackTrace();
            } else {
                cmd.getErr().println("kat: " + ex.getMessage() + " (--verbose for details)");
            }
            return 1;
        });
        System.exit(cl.execute(args));
    }
}
