package io.inferex.local.audit;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.inferex.topics.Topic;
import io.inferex.wire.AvroWire;
import io.inferex.wire.UndecodableRecordException;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Writes topics of the catalogue to a directory: one Avro object container file per
 * topic-partition ({@code <topic>-<partition>.avro}, entries as {@link LogEntry}), and a
 * {@code manifest.json} with each file's offset range, record count and sha256.
 *
 * <p>What is read: committed records only ({@code read_committed}), from the log start (or the
 * first offset at or after {@code --from}) up to the end offsets taken when the export starts, so
 * an export is one consistent cut even while the market runs; records stamped after {@code --to}
 * are left out. Nothing is written to the cluster: no consumer group, no committed offsets.
 */
public final class EventExport {
    public static final String MANIFEST = "manifest.json";
    public static final String FORMAT = "inferex-export/1";
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private EventExport() {}

    /** One file of an export, as the manifest lists it. */
    public record FileInfo(String topic, int partition, String file, long startOffset, long endOffset, long firstOffset,
            long lastOffset, long records, long undecodable, long minTimestamp, long maxTimestamp, String sha256) {}

    /** The manifest. {@code topicPrefix}: what the cluster's topic names carried before the catalogue name. */
    public record Manifest(String format, long createdAtMs, String source, String topicPrefix, Long fromMs, Long toMs,
            List<String> topics, List<FileInfo> files) {}

    /**
     * Exports {@code topics} (each read as {@code topicPrefix + name}) from the cluster
     * {@code clientConfig} names into {@code out}. {@code progress}: where the progress bar goes, or null.
     */
    public static Manifest export(Map<String, Object> clientConfig, Path out, List<Topic<?, ?>> topics, String topicPrefix,
            Long fromMs, Long toMs, PrintStream progress) throws IOException {
        Files.createDirectories(out);
        String prefix = topicPrefix == null ? "" : topicPrefix;
        Map<String, Object> config = new HashMap<>(clientConfig);
        config.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        config.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        config.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5_000);
        config.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        config.remove(ConsumerConfig.GROUP_ID_CONFIG);
        List<FileInfo> files = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(config, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            Map<TopicPartition, Topic<?, ?>> partitions = new LinkedHashMap<>();
            for (Topic<?, ?> t : topics) {
                var infos = consumer.partitionsFor(prefix + t.name(), Duration.ofSeconds(30));
                if (infos == null || infos.isEmpty()) {
                    throw new IllegalArgumentException("topic " + prefix + t.name() + " does not exist on the cluster");
                }
                infos.stream().map(i -> new TopicPartition(i.topic(), i.partition()))
                        .sorted(java.util.Comparator.comparingInt(TopicPartition::partition)).forEach(tp -> partitions.put(tp, t));
            }
            Map<TopicPartition, Long> begin = consumer.beginningOffsets(partitions.keySet(), Duration.ofSeconds(30));
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions.keySet(), Duration.ofSeconds(30));
            Map<TopicPartition, Long> start = new HashMap<>(begin);
            if (fromMs != null) {
                Map<TopicPartition, Long> query = new HashMap<>();
                partitions.keySet().forEach(tp -> query.put(tp, fromMs));
                Map<TopicPartition, OffsetAndTimestamp> at = consumer.offsetsForTimes(query, Duration.ofSeconds(30));
                partitions.keySet().forEach(tp -> {
                    OffsetAndTimestamp o = at.get(tp);
                    start.put(tp, o == null ? end.get(tp) : Math.max(o.offset(), begin.get(tp)));
                });
            }
            long total = partitions.keySet().stream().mapToLong(tp -> Math.max(0, end.get(tp) - start.get(tp))).sum();
            Progress bar = new Progress(progress, total);
            Map<TopicPartition, PartitionFile> open = new LinkedHashMap<>();
            try {
                for (var e : partitions.entrySet()) {
                    open.put(e.getKey(), new PartitionFile(e.getKey(), e.getValue(), start.get(e.getKey()), end.get(e.getKey()), toMs, out));
                }
                readAll(consumer, open, bar);
            } finally {
                for (PartitionFile f : open.values()) {
                    f.close();
                }
            }
            for (PartitionFile f : open.values()) {
                files.add(f.info());
            }
            bar.done();
        }
        Manifest manifest = new Manifest(FORMAT, System.currentTimeMillis(), String.valueOf(clientConfig.get("bootstrap.servers")),
                prefix, fromMs, toMs, topics.stream().<String>map(Topic::name).toList(), files);
        JSON.writeValue(out.resolve(MANIFEST).toFile(), manifest);
        return manifest;
    }

    /**
     * Reads every partition that has offsets to export at once, with one consumer: a partition is
     * dropped from the assignment as soon as its position reaches its end offset (a transaction's
     * commit marker counts as an offset, so the position, not the last record, says when). Reading
     * them one after another cost a fetch wait per partition (the broker holds an empty fetch for
     * {@code fetch.max.wait.ms}), about a second each.
     */
    private static void readAll(KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, PartitionFile> files, Progress bar)
            throws IOException {
        List<TopicPartition> active = new ArrayList<>();
        for (PartitionFile f : files.values()) {
            if (f.start < f.end) {
                active.add(f.tp);
            }
        }
        consumer.assign(active);
        for (TopicPartition tp : active) {
            consumer.seek(tp, files.get(tp).start);
        }
        while (!active.isEmpty()) {
            for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                PartitionFile f = files.get(tp);
                bar.advance(tp, r.offset() + 1 - f.start);
                f.append(r);
            }
            boolean finished = active.removeIf(tp -> consumer.position(tp) >= files.get(tp).end);
            if (finished) {
                consumer.assign(active);
            }
        }
        for (PartitionFile f : files.values()) {
            bar.advance(f.tp, f.end - f.start);
        }
    }

    /** One topic-partition's file while it is written, and what its manifest entry will say. */
    private static final class PartitionFile {
        final TopicPartition tp;
        final long start;
        final long end;
        private final Topic<?, ?> topic;
        private final Long toMs;
        private final Path file;
        private final String name;
        private final Schema schema;
        private final Class<? extends SpecificRecord> type;
        private final DataFileWriter<GenericRecord> writer;
        private long records;
        private long undecodable;
        private long first = -1;
        private long last = -1;
        private long minTs = Long.MAX_VALUE;
        private long maxTs = Long.MIN_VALUE;

        PartitionFile(TopicPartition tp, Topic<?, ?> topic, long start, long end, Long toMs, Path out) throws IOException {
            this.tp = tp;
            this.topic = topic;
            this.start = start;
            this.end = end;
            this.toMs = toMs;
            this.name = topic.name() + "-" + tp.partition() + ".avro";
            this.file = out.resolve(name);
            this.schema = LogEntry.schema(topic);
            this.type = LogEntry.eventType(topic);
            this.writer = writer(schema, file);
        }

        void append(ConsumerRecord<byte[], byte[]> r) throws IOException {
            if (r.offset() < start || r.offset() >= end || (toMs != null && r.timestamp() > toMs)) {
                return;
            }
            LogEntry entry = toEntry(topic, type, r);
            undecodable += entry.value() instanceof byte[] && type != null ? 1 : 0;
            writer.append(record(schema, entry));
            records++;
            first = first < 0 ? r.offset() : first;
            last = r.offset();
            minTs = Math.min(minTs, r.timestamp());
            maxTs = Math.max(maxTs, r.timestamp());
        }

        void close() throws IOException {
            writer.close();
        }

        FileInfo info() throws IOException {
            return new FileInfo(topic.name(), tp.partition(), name, start, end, first, last, records, undecodable,
                    records == 0 ? 0 : minTs, records == 0 ? 0 : maxTs, sha256(file));
        }
    }

    private static LogEntry toEntry(Topic<?, ?> topic, Class<? extends SpecificRecord> type, ConsumerRecord<byte[], byte[]> r) {
        Object value = null;
        String fingerprint = null;
        if (r.value() != null) {
            var fp = AvroWire.writerFingerprint(r.value());
            fingerprint = fp.isPresent() ? Long.toHexString(fp.getAsLong()) : null;
            value = r.value();
            if (type != null) {
                try {
                    value = AvroWire.of(type).decode(r.value());
                } catch (UndecodableRecordException poison) {
                    // kept as raw bytes: the settlement dead-letters it, the audit counts it
                }
            }
        }
        List<LogEntry.Header> headers = new ArrayList<>();
        for (Header h : r.headers()) {
            headers.add(new LogEntry.Header(h.key(), h.value()));
        }
        return new LogEntry(topic.name(), r.partition(), r.offset(), r.timestamp(), r.key(), headers, fingerprint, value);
    }

    private static GenericRecord record(Schema schema, LogEntry entry) {
        Schema headerSchema = schema.getField("headers").schema().getElementType();
        List<GenericRecord> headers = new ArrayList<>();
        for (LogEntry.Header h : entry.headers()) {
            GenericRecord hr = new GenericData.Record(headerSchema);
            hr.put("key", h.key());
            hr.put("value", h.value() == null ? null : ByteBuffer.wrap(h.value()));
            headers.add(hr);
        }
        GenericRecord e = new GenericData.Record(schema);
        e.put("offset", entry.offset());
        e.put("timestamp", entry.timestamp());
        e.put("key", entry.key() == null ? null : ByteBuffer.wrap(entry.key()));
        e.put("headers", headers);
        e.put("writerFingerprint", entry.writerFingerprint());
        e.put("value", entry.value() instanceof byte[] b ? ByteBuffer.wrap(b) : entry.value());
        return e;
    }

    private static DataFileWriter<GenericRecord> writer(Schema schema, Path file) throws IOException {
        DataFileWriter<GenericRecord> w = new DataFileWriter<>(new SpecificDatumWriter<GenericRecord>(schema,
                new SpecificData(LogEntry.class.getClassLoader())));
        return w.create(schema, file.toFile());
    }

    /**
     * Rewrites one file of an export with {@code entries} and re-seals the manifest (its sha256,
     * count and offsets): what a tamperer who knows the format would do, so the audit must find the
     * change in the events themselves. Used by the audit's tamper tests.
     */
    public static void rewrite(Path dir, Topic<?, ?> topic, int partition, List<LogEntry> entries) throws IOException {
        Manifest m = readManifest(dir);
        Schema schema = LogEntry.schema(topic);
        String name = topic.name() + "-" + partition + ".avro";
        try (DataFileWriter<GenericRecord> w = writer(schema, dir.resolve(name))) {
            for (LogEntry e : entries) {
                w.append(record(schema, e));
            }
        }
        List<FileInfo> files = new ArrayList<>();
        for (FileInfo f : m.files()) {
            files.add(!f.file().equals(name) ? f : new FileInfo(f.topic(), f.partition(), f.file(), f.startOffset(), f.endOffset(),
                    entries.isEmpty() ? -1 : entries.get(0).offset(), entries.isEmpty() ? -1 : entries.get(entries.size() - 1).offset(),
                    entries.size(), f.undecodable(), f.minTimestamp(), f.maxTimestamp(), sha256(dir.resolve(name))));
        }
        writeManifest(dir, new Manifest(m.format(), m.createdAtMs(), m.source(), m.topicPrefix(), m.fromMs(), m.toMs(), m.topics(), files));
    }

    /** Hex sha256 of a file. */
    public static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                md.update(buf, 0, n);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** Reads a manifest. */
    public static Manifest readManifest(Path dir) {
        try {
            return JSON.readValue(dir.resolve(MANIFEST).toFile(), Manifest.class);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + dir.resolve(MANIFEST) + ": " + e.getMessage(), e);
        }
    }

    /** Rewrites a manifest (after a file was rewritten: tamper tests re-seal what they change). */
    public static void writeManifest(Path dir, Manifest manifest) throws IOException {
        JSON.writeValue(dir.resolve(MANIFEST).toFile(), manifest);
    }

    /**
     * A one-line progress bar on a terminal: {@code export [#####.....]  52%  10,000/19,000 offsets  ledger-2}. It counts
     * offsets, not records: under exactly-once every transaction's commit marker takes an offset too.
     */
    static final class Progress {
        private final PrintStream out;
        private final long total;
        private final Map<TopicPartition, Long> done = new HashMap<>();
        private long sum;
        private long lastPrintNs;

        Progress(PrintStream out, long total) {
            this.out = out;
            this.total = total;
        }

        void advance(TopicPartition tp, long doneInPartition) {
            Long before = done.put(tp, doneInPartition);
            sum += doneInPartition - (before == null ? 0 : before);
            long now = System.nanoTime();
            if (out != null && now - lastPrintNs > 200_000_000L) {
                lastPrintNs = now;
                print(tp.topic() + "-" + tp.partition());
            }
        }

        void done() {
            if (out != null) {
                print("done");
                out.println();
            }
        }

        private void print(String where) {
            int pct = total == 0 ? 100 : (int) Math.min(100, sum * 100 / total);
            String bar = "#".repeat(pct / 4) + ".".repeat(25 - pct / 4);
            out.printf("\rexport [%s] %3d%%  %,d/%,d offsets  %-40s", bar, pct, Math.min(sum, total), total, where);
            out.flush();
        }
    }
}
