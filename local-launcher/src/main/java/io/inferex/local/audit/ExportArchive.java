package io.inferex.local.audit;

import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificDatumReader;

/**
 * An export directory read back: the manifest, each file checked against its sha256, and the
 * entries of each topic-partition in file order. Entries are read with this build's entry schema,
 * so a file written by another build (another kept version of an event) resolves to this one.
 */
public final class ExportArchive {
    private final Path dir;
    private final EventExport.Manifest manifest;
    private final List<String> integrityProblems = new ArrayList<>();
    private final Map<String, List<List<LogEntry>>> byTopic = new LinkedHashMap<>();

    private ExportArchive(Path dir, EventExport.Manifest manifest) {
        this.dir = dir;
        this.manifest = manifest;
    }

    /** Reads an export; throws when it cannot be read at all (no manifest, a missing or unreadable file). */
    public static ExportArchive open(Path dir) throws IOException {
        if (!Files.isRegularFile(dir.resolve(EventExport.MANIFEST))) {
            throw new IOException(dir + " holds no " + EventExport.MANIFEST + ": not an export");
        }
        EventExport.Manifest m = EventExport.readManifest(dir);
        if (!EventExport.FORMAT.equals(m.format())) {
            throw new IOException("export format " + m.format() + " is not " + EventExport.FORMAT);
        }
        ExportArchive a = new ExportArchive(dir, m);
        for (EventExport.FileInfo f : m.files()) {
            Topic<?, ?> topic = Topics.byName(f.topic()).orElseThrow(() -> new IOException("manifest names topic " + f.topic()
                    + ", which is not in this build's catalogue"));
            Path file = dir.resolve(f.file());
            if (!file.normalize().startsWith(dir.normalize()) || !Files.isRegularFile(file)) {
                throw new IOException("file " + f.file() + " named by the manifest is missing");
            }
            String sha = EventExport.sha256(file);
            if (!sha.equals(f.sha256())) {
                a.integrityProblems.add(f.file() + ": sha256 " + sha + " is not the manifest's " + f.sha256());
            }
            List<LogEntry> entries = read(file, topic, f.partition());
            if (entries.size() != f.records()) {
                a.integrityProblems.add(f.file() + ": " + entries.size() + " records where the manifest says " + f.records());
            }
            a.byTopic.computeIfAbsent(f.topic(), t -> new ArrayList<>()).add(entries);
        }
        return a;
    }

    /** Entries already in memory, by topic (each a list of partitions): what a benchmark replays without files. */
    public static ExportArchive of(Map<Topic<?, ?>, List<List<LogEntry>>> partitions) {
        ExportArchive a = new ExportArchive(Path.of("."), new EventExport.Manifest(EventExport.FORMAT, System.currentTimeMillis(),
                "memory", "", null, null, partitions.keySet().stream().<String>map(Topic::name).toList(), List.of()));
        partitions.forEach((t, p) -> a.byTopic.put(t.name(), p));
        return a;
    }

    static List<LogEntry> read(Path file, Topic<?, ?> topic, int partition) throws IOException {
        var reader = new SpecificDatumReader<GenericRecord>(null, LogEntry.schema(topic), new SpecificData(LogEntry.class.getClassLoader()));
        List<LogEntry> out = new ArrayList<>();
        try (DataFileReader<GenericRecord> in = new DataFileReader<>(file.toFile(), reader)) {
            for (GenericRecord r : in) {
                List<LogEntry.Header> headers = new ArrayList<>();
                for (Object h : (List<?>) r.get("headers")) {
                    GenericRecord hr = (GenericRecord) h;
                    headers.add(new LogEntry.Header(String.valueOf(hr.get("key")), bytes(hr.get("value"))));
                }
                Object value = r.get("value");
                if (value instanceof ByteBuffer b) {
                    value = bytes(b);
                }
                Object fp = r.get("writerFingerprint");
                out.add(new LogEntry(topic.name(), partition, (Long) r.get("offset"), (Long) r.get("timestamp"), bytes(r.get("key")),
                        headers, fp == null ? null : fp.toString(), value));
            }
        } catch (UncheckedIOException | org.apache.avro.AvroRuntimeException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return out;
    }

    private static byte[] bytes(Object o) {
        if (o == null) {
            return null;
        }
        ByteBuffer b = ((ByteBuffer) o).duplicate();
        byte[] a = new byte[b.remaining()];
        b.get(a);
        return a;
    }

    public Path dir() {
        return dir;
    }

    public EventExport.Manifest manifest() {
        return manifest;
    }

    /** Files whose sha256 or record count does not match the manifest. */
    public List<String> integrityProblems() {
        return integrityProblems;
    }

    public boolean has(Topic<?, ?> topic) {
        return byTopic.containsKey(topic.name());
    }

    /** The topic's partitions, each its entries in file order. */
    public List<List<LogEntry>> partitions(Topic<?, ?> topic) {
        return byTopic.getOrDefault(topic.name(), List.of());
    }

    /** Every entry of the topic, partition by partition. */
    public List<LogEntry> all(Topic<?, ?> topic) {
        return partitions(topic).stream().flatMap(List::stream).toList();
    }
}
