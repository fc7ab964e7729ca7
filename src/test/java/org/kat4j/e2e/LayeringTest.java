package org.kat4j.e2e;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ND4J stays sealed inside the CPU backend: no source outside {@code org.kat4j.backend.cpu} names
 * it, and no public or protected member of kat-core, kat-cuda or kat-models has an ND4J type in
 * its signature.
 */
class LayeringTest {
    static final Path ROOT = Path.of("..", "..").toAbsolutePath().normalize();
    static final String CPU_BACKEND = "org/kat4j/backend/cpu/";
    /** The package prefix, spelt so that this file does not match itself. */
    static final String ND4J = "org" + ".nd4j";

    @Test
    void onlyTheCpuBackendImportsNd4j() throws IOException {
        List<String> offenders = new ArrayList<>();
        try (Stream<Path> files = Files.walk(ROOT)) {
            for (Path p : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".java"))::iterator) {
                String rel = ROOT.relativize(p).toString().replace('\\', '/');
                if (rel.contains("/target/") || rel.startsWith(".") || rel.contains(CPU_BACKEND)) {
                    continue;
                }
                if (Files.readString(p).contains(ND4J)) {
                    offenders.add(rel);
                }
            }
        }
        assertTrue(Files.isDirectory(ROOT.resolve("kat-core/src/main/java/" + CPU_BACKEND)), "repository root not found at " + ROOT);
        assertTrue(offenders.isEmpty(), "ND4J named outside " + CPU_BACKEND + ": " + offenders);
    }

    @Test
    void noNd4jTypeInAnyPublicSignature() throws Exception {
        List<String> offenders = new ArrayList<>();
        int classes = 0;
        for (String module : new String[]{"kat-core", "kat-cuda", "kat-models"}) {
            Path dir = ROOT.resolve(module).resolve("target/classes");
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : (Iterable<Path>) files.filter(f -> f.toString().endsWith(".class"))::iterator) {
                    String name = dir.relativize(p).toString().replace('\\', '/').replace('/', '.');
                    name = name.substring(0, name.length() - ".class".length());
                    Class<?> c = Class.forName(name, false, getClass().getClassLoader());
                    if (!Modifier.isPublic(c.getModifiers())) {
                        continue;
                    }
                    classes++;
                    for (Method m : c.getDeclaredMethods()) {
                        if (visible(m.getModifiers()) && mentionsNd4j(m.toGenericString())) {
                            offenders.add(m.toGenericString());
                        }
                    }
                    for (Constructor<?> k : c.getDeclaredConstructors()) {
                        if (visible(k.getModifiers()) && mentionsNd4j(k.toGenericString())) {
                            offenders.add(k.toGenericString());
                        }
                    }
                    for (Field f : c.getDeclaredFields()) {
                        if (visible(f.getModifiers()) && mentionsNd4j(f.toGenericString())) {
                            offenders.add(f.toGenericString());
                        }
                    }
                }
            }
        }
        assertTrue(classes > 50, "only " + classes + " public classes found: are the modules built?");
        assertTrue(offenders.isEmpty(), "ND4J types in public signatures: " + offenders);
    }

    static boolean visible(int mod) {
        return Modifier.isPublic(mod) || Modifier.isProtected(mod);
    }

    static boolean mentionsNd4j(String signature) {
        return signature.contains(ND4J);
    }
}
