package org.kat4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.util.concurrent.Callable;

/** The {@code kat} command line. */
@Command(name = "kat", mixinStandardHelpOptions = true, version = "kat4j 0.1.0-SNAPSHOT",
        scope = CommandLine.ScopeType.INHERIT, // -h/--help and -V/--version on every subcommand too
        description = "Kolmogorov-Arnold Transformers on the JVM.",
        subcommands = {TrainCommand.class, EvalCommand.class, CompareCommand.class, PredictCommand.class, ModelsCommand.class,
                InfoCommand.class, InspectCommand.class, ExportCommand.class,
                SmokeCommand.class})
public final class Kat implements Callable<Integer> {
    @CommandLine.Option(names = "--verbose", description = "Show stack traces on errors.", scope = CommandLine.ScopeType.INHERIT)
    boolean verbose;

    @Override
    public Integer call() {
        new CommandLine(this).usage(System.out);
        return 0;
    }

    /** Runs {@code kat} with {@code args} and exits with its status (out of memory: one line and 1). */
    public static void main(String[] args) {
        int rc;
        try {
            rc = commandLine().execute(args);
        } catch (OutOfMemoryError e) {
            System.err.println("kat: out of memory (" + e.getMessage() + "): use a smaller --batch-size or model, or give the"
                    + " JVM more with KAT_JAVA_OPTS=-Xmx...");
            rc = 1;
        }
        System.exit(rc);
    }

    /**
     * The command line as {@code kat} runs it: a failing command prints one line, {@code kat: }
     * and what went wrong ({@link #describe}), on its error stream and exits with 1; with
     * {@code --verbose}, the stack trace. A mistyped option or value prints the problem, any
     * suggestions and where the options are listed, and exits with 2.
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Kat());
        // a mistyped option or value: the problem, picocli's suggestions, where the options are (not the whole usage)
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            java.io.PrintWriter err = cmd.getErr();
            err.println("kat: " + ex.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(ex, err);
            err.println("(" + cmd.getCommandSpec().qualifiedName() + " --help lists the options)");
            return cmd.getCommandSpec().exitCodeOnInvalidInput();
        });
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (parsed.originalArgs().contains("--verbose")) {
                ex.printStackTrace();
            } else {
                cmd.getErr().println("kat: " + describe(ex));
            }
            return 1;
        });
        return cl;
    }

    /**
     * One line for the user: the message of kat4j's own errors (which say what was read, expected
     * and found), and for anything else what kind of failure it was, without a library's advice.
     */
    public static String describe(Throwable ex) {
        if (ex instanceof FileSystemException fse) {
            return describe(fse);
        }
        String msg = ex.getMessage();
        if (ex instanceof java.io.IOException || ex instanceof IllegalArgumentException || ex instanceof IllegalStateException
                || ex instanceof UnsupportedOperationException) {
            return msg == null ? ex.getClass().getSimpleName() : msg;
        }
        return "internal error (" + ex.getClass().getSimpleName() + "); rerun with --verbose for the details";
    }

    /**
     * The file and what the system said of it: Java's messages for a missing file or a refused
     * access are the path alone ({@code kat: /proc/runs}), its reason being the exception's type.
     */
    private static String describe(FileSystemException e) {
        String reason = e.getReason();
        if (reason == null) {
            reason = e instanceof NoSuchFileException ? "no such file or directory"
                    : e instanceof AccessDeniedException ? "permission denied"
                    : e instanceof FileAlreadyExistsException ? "already exists"
                    : e instanceof NotDirectoryException ? "not a directory"
                    : e instanceof DirectoryNotEmptyException ? "directory not empty"
                    : "file system error (" + e.getClass().getSimpleName() + ")";
        }
        String file = e.getFile() == null ? "" : e.getFile() + (e.getOtherFile() == null ? "" : " -> " + e.getOtherFile()) + ": ";
        return file + reason;
    }
}
