package io.inferex.market;

import io.inferex.events.ModelRegistered;
import io.inferex.market.ModelCatalogue.ModelSpec;
import io.inferex.market.ModelCatalogue.Tolerance;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * The model registry: the models the market serves, as every service sees them. The built-in
 * models ({@link ModelCatalogue}: all-MiniLM-L6-v2 fp32, its int8 variant, the synthetic load
 * model) are entries like the registrations the operator publishes on the {@code models} topic
 * ({@code ./inferex models register}). Pure: a view over what the topic holds ({@link Registered})
 * and the rules that decide what a record of that topic may add ({@link #decide}).
 *
 * <p>The rule against swapping a model under running jobs: <b>a model id is bound to its first
 * registration forever</b>. A later registration of the same id with the same content (digests,
 * sizes, dimension, max tokens, pooling, tolerance) changes nothing; one with any other content is
 * refused (the readers dead-letter it) and the operator registers the new model under a new id
 * (e.g. {@code my-model-v2}). Built-in ids cannot be registered at all, and a registration cannot
 * be withdrawn (a tombstone is refused): a job or an accepted result may name the id at any time.
 * The topic's key is {@link #recordKey} (the id and a fingerprint of the content), so a refused
 * registration never replaces the accepted one when the topic is compacted; readers read the one
 * partition in offset order, so "first" is the same for all of them.
 */
public final class ModelRegistry {
    public static final String TASK_EMBEDDING = "embedding";
    public static final String POOLING_MEAN = "mean";
    public static final int MAX_DIMENSION = 8192;
    public static final int MAX_TOKENS_LIMIT = 8192;
    /** Largest model file the store takes (the int8/fp32 MiniLM are 23/90 MB). */
    public static final long MAX_FILE_BYTES = 2L * 1024 * 1024 * 1024;
    private static final Pattern MODEL_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");

    /**
     * One model of the registry.
     *
     * @param registration the topic record it came from; null for a built-in model
     */
    public record Entry(ModelSpec spec, String task, int maxTokens, String pooling, long registeredAtMs, ModelRegistered registration) {
        public boolean builtIn() {
            return registration == null;
        }
    }

    /** all-MiniLM-L6-v2's max_seq_length in sentence-transformers. */
    public static final int MINILM_MAX_TOKENS = 256;

    /** The built-in models, in the order {@code ./inferex models list} shows them. */
    public static final List<Entry> BUILT_INS = List.of(
            builtIn(ModelCatalogue.ALL_MINILM_L6_V2, MINILM_MAX_TOKENS),
            builtIn(ModelCatalogue.ALL_MINILM_L6_V2_INT8, MINILM_MAX_TOKENS),
            builtIn(ModelCatalogue.SYNTHETIC_HASH_V1, MINILM_MAX_TOKENS));
    private static final Map<String, Entry> BUILT_IN_BY_ID = BUILT_INS.stream()
            .collect(java.util.stream.Collectors.toUnmodifiableMap(e -> e.spec().id(), e -> e));

    private static Entry builtIn(ModelSpec spec, int maxTokens) {
        return new Entry(spec, TASK_EMBEDDING, maxTokens, POOLING_MEAN, 0L, null);
    }

    /** What the {@code models} topic holds, as applied by {@link #decide}: the accepted registration of an id, or null. */
    @FunctionalInterface
    public interface Registered {
        ModelRegistered get(String modelId);
    }

    private final Registered registered;

    public ModelRegistry(Registered registered) {
        this.registered = registered;
    }

    /** The built-in models only (tests, and a reader that has not read the topic). */
    public static ModelRegistry builtIns() {
        return new ModelRegistry(id -> null);
    }

    public Optional<Entry> entry(String modelId) {
        if (modelId == null) {
            return Optional.empty();
        }
        Entry builtIn = BUILT_IN_BY_ID.get(modelId);
        if (builtIn != null) {
            return Optional.of(builtIn);
        }
        ModelRegistered r = registered.get(modelId);
        return r == null ? Optional.empty() : Optional.of(entryOf(r));
    }

    public Optional<ModelSpec> byId(String modelId) {
        return entry(modelId).map(Entry::spec);
    }

    /** The entry a well-formed registration describes. */
    public static Entry entryOf(ModelRegistered r) {
        return new Entry(new ModelSpec(r.getModelId(), r.getDimension(), r.getOnnxSha256(), r.getTokenizerSha256(),
                new Tolerance(r.getMinCosine(), r.getMaxAbs())), r.getTask(), r.getMaxTokens(), r.getPooling(), r.getRegisteredAtMs(), r);
    }

    /** What a record of the {@code models} topic does to the registry. */
    public sealed interface Decision {
        /** The id was unknown: the registration is the id's model from now on. */
        record Accept(ModelRegistered registration) implements Decision {}
        /** The id already has this very model: nothing changes. */
        record Same() implements Decision {}
        /** Malformed, a built-in id, a withdrawal, or another model under a registered id: dead-letter it. */
        record Refuse(String reason) implements Decision {}
    }

    /**
     * The rule for one record of the topic: {@code key} its key, {@code incoming} its value (null:
     * a tombstone), {@code existing} what the id holds already (null: nothing).
     */
    public static Decision decide(String key, ModelRegistered incoming, ModelRegistered existing) {
        if (incoming == null) {
            return new Decision.Refuse("a model registration cannot be withdrawn (tombstone for " + key + "): jobs and results may name it");
        }
        Optional<String> problem = problem(incoming);
        if (problem.isPresent()) {
            return new Decision.Refuse(problem.get());
        }
        if (!recordKey(incoming).equals(key)) {
            return new Decision.Refuse("registration of " + incoming.getModelId() + " has key " + key + ", expected " + recordKey(incoming));
        }
        if (BUILT_IN_BY_ID.containsKey(incoming.getModelId())) {
            return new Decision.Refuse("model id " + incoming.getModelId() + " is a built-in model and cannot be registered");
        }
        if (existing == null) {
            return new Decision.Accept(incoming);
        }
        if (fingerprint(existing).equals(fingerprint(incoming))) {
            return new Decision.Same();
        }
        return new Decision.Refuse("model id " + incoming.getModelId() + " is already registered (onnx sha256 " + existing.getOnnxSha256()
                + ", tokenizer sha256 " + existing.getTokenizerSha256() + ", dimension " + existing.getDimension()
                + "); a model id never changes its model under running jobs: register the new one under a new id");
    }

    /** Null-free reason a registration is malformed, or empty. */
    public static Optional<String> problem(ModelRegistered r) {
        String id = r.getModelId();
        if (id == null || !MODEL_ID.matcher(id).matches()) {
            return Optional.of("a model id is 1-64 of [A-Za-z0-9._-], starting with a letter or digit: " + id);
        }
        if (!TASK_EMBEDDING.equals(r.getTask())) {
            return Optional.of("model " + id + ": task " + r.getTask() + " is not supported (only " + TASK_EMBEDDING + ")");
        }
        if (!POOLING_MEAN.equals(r.getPooling())) {
            return Optional.of("model " + id + ": pooling " + r.getPooling() + " is not supported (only " + POOLING_MEAN + ")");
        }
        if (!SHA256.matcher(r.getOnnxSha256()).matches() || !SHA256.matcher(r.getTokenizerSha256()).matches()) {
            return Optional.of("model " + id + ": digests must be 64 lower-case hex digits");
        }
        if (r.getOnnxBytes() < 1 || r.getOnnxBytes() > MAX_FILE_BYTES || r.getTokenizerBytes() < 1 || r.getTokenizerBytes() > MAX_FILE_BYTES) {
            return Optional.of("model " + id + ": file sizes must be 1.." + MAX_FILE_BYTES + " bytes");
        }
        if (r.getDimension() < 1 || r.getDimension() > MAX_DIMENSION) {
            return Optional.of("model " + id + ": dimension " + r.getDimension() + " is not in 1.." + MAX_DIMENSION);
        }
        if (r.getMaxTokens() < 3 || r.getMaxTokens() > MAX_TOKENS_LIMIT) {
            return Optional.of("model " + id + ": max tokens " + r.getMaxTokens() + " is not in 3.." + MAX_TOKENS_LIMIT);
        }
        try {
            new Tolerance(r.getMinCosine(), r.getMaxAbs());
        } catch (IllegalArgumentException e) {
            return Optional.of("model " + id + ": " + e.getMessage());
        }
        return Optional.empty();
    }

    /** The topic key of a registration: {@code <modelId>/<first 16 hex of its fingerprint>}. */
    public static String recordKey(ModelRegistered r) {
        return r.getModelId() + "/" + fingerprint(r).substring(0, 16);
    }

    /** SHA-256 of what a registration says about its model (not when it was made, nor where its chunks are). */
    static String fingerprint(ModelRegistered r) {
        String canonical = String.join("\n", r.getModelId(), r.getTask(), r.getOnnxSha256(), Long.toString(r.getOnnxBytes()),
                r.getTokenizerSha256(), Long.toString(r.getTokenizerBytes()), Integer.toString(r.getDimension()),
                Integer.toString(r.getMaxTokens()), r.getPooling(), Double.toString(r.getMinCosine()), Double.toString(r.getMaxAbs()));
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(canonical.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The registrations read from the topic so far, applied with {@link #decide} in offset order:
     * what a plain consumer (ingest, a node, the CLI) keeps. Thread-safe.
     */
    public static final class Book implements Registered {
        private final Map<String, ModelRegistered> byId = new ConcurrentHashMap<>();

        /** Applies one record; the decision says whether to dead-letter it. */
        public synchronized Decision apply(String key, ModelRegistered value) {
            ModelRegistered existing = value == null ? null : byId.get(value.getModelId());
            Decision d = decide(key, value, existing);
            if (d instanceof Decision.Accept a) {
                byId.put(a.registration().getModelId(), a.registration());
            }
            return d;
        }

        @Override
        public ModelRegistered get(String modelId) {
            return byId.get(modelId);
        }

        public int size() {
            return byId.size();
        }

        public ModelRegistry registry() {
            return new ModelRegistry(this);
        }

        /** Built-ins first, then registrations by time and id. */
        public List<Entry> entries() {
            List<Entry> out = new ArrayList<>(BUILT_INS);
            Collection<ModelRegistered> regs = new ArrayList<>(byId.values());
            regs.stream().sorted(Comparator.comparingLong(ModelRegistered::getRegisteredAtMs).thenComparing(ModelRegistered::getModelId))
                    .forEach(r -> out.add(entryOf(r)));
            return out;
        }
    }

    /** For tests and tools: a registry holding exactly these registrations (applied in order). */
    public static ModelRegistry of(ModelRegistered... registrations) {
        Book b = new Book();
        for (ModelRegistered r : registrations) {
            b.apply(recordKey(r), r);
        }
        return b.registry();
    }
}
