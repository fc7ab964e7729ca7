package org.kat4j.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Atomic replacement of run-directory files and the one-run-per-directory lock. */
class RunDirectoryTest {
    @TempDir
    Path dir;

    @Test
    void aPlantedLinkAtTheOldTemporaryNameIsNeverWrittenThrough() throws IOException {
        Path victim = dir.resolve("victim.txt");
        Files.writeString(victim, "precious");
        Files.createSymbolicLink(dir.resolve("best.safetensors.tmp"), victim);
        Files.createSymbolicLink(dir.resolve("metrics.csv"), victim);
        AtomicFiles.writeString(dir.resolve("best.safetensors"), "new weights");
        AtomicFiles.writeString(dir.resolve("metrics.csv"), "epoch\n1\n");
        assertEquals("precious", Files.readString(victim), "the link target is untouched");
        assertFalse(Files.isSymbolicLink(dir.resolve("metrics.csv")), "the link itself was replaced by the file");
        assertEquals("epoch\n1\n", Files.readString(dir.resolve("metrics.csv")));
        assertEquals("new weights", Files.readString(dir.resolve("best.safetensors")));
    }

    @Test
    void aFailedWriteLeavesTheOldFileAndNoTemporary() throws IOException {
        Path f = dir.resolve("last.safetensors");
        AtomicFiles.writeString(f, "old");
        assertThrows(IOException.class, () -> AtomicFiles.write(f, ch -> {
            ch.write(java.nio.ByteBuffer.wrap("half".getBytes()));
            throw new IOException("disk full");
        }));
        assertEquals("old", Files.readString(f));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(f), s.toList(), "no temporary file left behind");
        }
    }

    @Test
    void staleTemporaryFilesAreRemoved() throws IOException {
        Files.writeString(dir.resolve(".last.safetensors.123.tmp"), "left by a killed run");
        Files.writeString(dir.resolve("keep.txt"), "x");
        assertEquals(1, AtomicFiles.removeStale(dir));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(dir.resolve("keep.txt")), s.toList());
        }
    }

    @Test
    void aSecondRunOnTheSameDirectoryIsRefusedWithTheOwnersPid() throws IOException {
        try (RunLock first = RunLock.acquire(dir)) {
            IOException e = assertThrows(IOException.class, () -> RunLock.acquire(dir));
            assertTrue(e.getMessage().contains("in use by process " + ProcessHandle.current().pid()), e.getMessage());
            assertTrue(e.getMessage().contains("--out"), e.getMessage());
        }
        try (RunLock again = RunLock.acquire(dir)) {
            assertTrue(Files.exists(again.file()), "free again once the first run ended");
        }
    }

    @Test
    void aLinkedLockFileIsRefused() throws IOException {
        Path victim = dir.resolve("victim");
        Files.writeString(victim, "x");
        Path run = Files.createDirectory(dir.resolve("run"));
        Files.createSymbolicLink(run.resolve(".lock"), victim);
        IOException e = assertThrows(IOException.class, () -> RunLock.acquire(run));
        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
        assertEquals("x", Files.readString(victim));
    }
}
