package org.kat4j.io;

import java.io.IOException;

/** A safetensors file that breaks the format; the message names the file, the tensor and the problem. */
public final class SafetensorsException extends IOException {
    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
