package io.inferex.local.audit;

import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeStake;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ShardResult;
import io.inferex.events.ShardTask;
import io.inferex.events.Transfer;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.VerificationIds;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.specific.SpecificRecord;

/**
 * The chain of events behind one id in an export, in time order: a batch (job) id, a shard (task)
 * id, or a customer's {@code custom_id} within a batch. A shard's chain is its task, every
 * assignment and lease (attempt, node, price, revocation), every result (with its digest), the
 * verification tasks, challenges, verdicts and outcomes about it or its verification ids, and the
 * transfers those caused; a batch's chain is its job, every shard's chain, its status and every
 * transfer of its escrow.
 */
public final class EventTrace {
    /** One link: when, where, what. {@code record} is the event as Avro JSON. */
    public record Link(long timestamp, String where, String type, String record, @com.fasterxml.jackson.annotation.JsonIgnore SpecificRecord event) {
        public Link(long timestamp, String where, String type, String record) {
            this(timestamp, where, type, record, null);
        }
    }

    private EventTrace() {}

    /** The links for {@code id}; {@code batch}: the batch of a {@code custom_id}, else null. Empty when nothing names it. */
    public static List<Link> trace(ExportArchive archive, String id, String batch) {
        Set<String> shards = new HashSet<>();
        String job = null;
        if (batch != null) {
            job = batch;
            for (LogEntry e : archive.all(Topics.SHARD_TASKS)) {
                if (e.event() instanceof ShardTask t && t.getJobId().equals(batch)
                        && t.getRows().stream().anyMatch(r -> names((GenericRecord) r, id))) {
                    shards.add(t.getTaskId());
                }
            }
            if (shards.isEmpty()) {
                return List.of();
            }
        } else if (archive.all(Topics.JOBS).stream().anyMatch(e -> e.event() != null && id.equals(field(e.event(), "jobId")))) {
            job = id;
        } else {
            shards.add(id);
        }
        boolean wholeJob = batch == null && job != null;
        List<Link> links = new ArrayList<>();
        Set<String> causes = new HashSet<>();
        for (Topic<?, ?> t : Topics.ALL) {
            if (t == Topics.LEDGER) {
                continue;
            }
            for (LogEntry e : archive.all(t)) {
                SpecificRecord v = e.event();
                if (v != null && (wholeJob ? id.equals(field(v, "jobId")) : aboutShard(v, shards))) {
                    links.add(link(e));
                    if (v instanceof Verdict d) {
                        causes.add(d.getVerdictId());
                    } else if (v instanceof VerificationOutcome o) {
                        causes.add(o.getOutcomeId());
                    }
                }
            }
        }
        for (LogEntry e : archive.all(Topics.LEDGER)) {
            if (e.event() instanceof Transfer tr && (causes.contains(tr.getCause())
                    || (wholeJob && id.equals(tr.getJobId())))) {
                links.add(link(e));
            }
        }
        // Same instant: the catalogue's order is the market's causal order (task, lease, result, verdict, outcome, ledger, status).
        links.sort(Comparator.comparingLong(Link::timestamp).thenComparingInt(EventTrace::rank).thenComparing(Link::where));
        return withContext(archive, links, batch != null ? id : null, shards, MISSED_HEARTBEATS);
    }

    /** The matcher's default liveness rule: a node is alive while its last heartbeat is at most this many intervals old. */
    public static final int MISSED_HEARTBEATS = 3;
    /** Type of the derived link that follows each assignment and result: the node as the log knew it then. */
    public static final String NODE_AT_STEP = "NodeAtStep";
    /** Type of the derived link that ends a custom_id's or a shard's chain: what the log says was delivered. */
    public static final String DELIVERED = "Delivered";

    /**
     * After each assignment and each result, the node as the log knew it at that moment ({@link
     * #NODE_AT_STEP}): its last heartbeat before it (how old, free slots, pools, whether that
     * keeps it alive under the matcher's rule), what its last registration advertised (price,
     * slots, models, stake claimed) and the stake the ledger held for it. At the end of a
     * custom_id's or a shard's chain, what was delivered ({@link #DELIVERED}).
     */
    private static List<Link> withContext(ExportArchive archive, List<Link> links, String customId, Set<String> shards, int missedHeartbeats) {
        boolean anyNodeStep = links.stream().anyMatch(l -> l.type().equals("Assignment") || l.type().equals("ShardResult"));
        if (links.isEmpty() || (!anyNodeStep && customId == null && shards.isEmpty())) {
            return links;
        }
        NodeHistory nodes = anyNodeStep ? new NodeHistory(archive) : null;
        List<Link> out = new ArrayList<>();
        for (Link l : links) {
            out.add(l);
            if (l.event() instanceof Assignment a && !a.getRevoked()) {
                out.add(nodes.at(a.getNodeId(), l, missedHeartbeats));
            } else if (l.event() instanceof ShardResult r) {
                out.add(nodes.at(r.getNodeId(), l, missedHeartbeats));
            }
        }
        for (String shard : new java.util.TreeSet<>(shards)) {
            Link d = delivered(archive, out, shard, customId);
            if (d != null) {
                out.add(d);
            }
        }
        return out;
    }

    /** Per node, its registrations, heartbeats and stakes in time order. */
    private static final class NodeHistory {
        final java.util.Map<String, List<LogEntry>> registrations = new java.util.HashMap<>();
        final java.util.Map<String, List<LogEntry>> heartbeats = new java.util.HashMap<>();
        final java.util.Map<String, List<LogEntry>> stakes = new java.util.HashMap<>();

        NodeHistory(ExportArchive archive) {
            index(archive, Topics.NODE_REGISTRY, registrations);
            index(archive, Topics.NODE_HEARTBEATS, heartbeats);
            index(archive, Topics.NODE_STAKE, stakes);
        }

        private static void index(ExportArchive archive, Topic<?, ?> topic, java.util.Map<String, List<LogEntry>> into) {
            for (LogEntry e : archive.all(topic)) {
                Object node = e.event() == null ? null : field(e.event(), "nodeId");
                if (node != null) {
                    into.computeIfAbsent(node.toString(), n -> new ArrayList<>()).add(e);
                }
            }
            into.values().forEach(l -> l.sort(Comparator.comparingLong(LogEntry::timestamp)));
        }

        /** The last entry at or before {@code at}, or null. */
        private static LogEntry last(List<LogEntry> entries, long at) {
            if (entries == null) {
                return null;
            }
            int lo = 0;
            int hi = entries.size() - 1;
            LogEntry found = null;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                if (entries.get(mid).timestamp() <= at) {
                    found = entries.get(mid);
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            return found;
        }

        Link at(String node, Link step, int missedHeartbeats) {
            long at = step.timestamp();
            LogEntry reg = last(registrations.get(node), at);
            LogEntry hb = last(heartbeats.get(node), at);
            LogEntry stake = last(stakes.get(node), at);
            java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
            m.put("node", node);
            m.put("step", step.where());
            StringBuilder summary = new StringBuilder("node ").append(node).append(" at ").append(step.type()).append(": ");
            List<String> sources = new ArrayList<>();
            if (hb != null && reg != null) {
                NodeHeartbeat h = (NodeHeartbeat) hb.event();
                NodeRegistered r = (NodeRegistered) reg.event();
                long age = at - hb.timestamp();
                boolean alive = age <= missedHeartbeats * r.getHeartbeatIntervalMs();
                m.put("alive", alive);
                summary.append(alive ? "alive" : "NOT alive").append(" (last heartbeat ").append(age).append(" ms before, interval ")
                        .append(r.getHeartbeatIntervalMs()).append(" ms, ").append(h.getFreeSlots()).append(" free slots)");
            } else {
                m.put("alive", false);
                summary.append("NOT alive (").append(hb == null ? "no heartbeat" : "no registration").append(" before this step)");
            }
            if (hb != null) {
                NodeHeartbeat h = (NodeHeartbeat) hb.event();
                java.util.Map<String, Object> x = new java.util.LinkedHashMap<>();
                x.put("where", hb.where());
                x.put("ageMs", at - hb.timestamp());
                x.put("sequence", h.getSequence());
                x.put("freeSlots", h.getFreeSlots());
                x.put("poolKeys", h.getPoolKeys().stream().map(String::valueOf).toList());
                x.put("activeLeases", h.getActiveLeases().size());
                m.put("lastHeartbeat", x);
                sources.add(hb.where());
            }
            if (reg != null) {
                NodeRegistered r = (NodeRegistered) reg.event();
                java.util.Map<String, Object> x = new java.util.LinkedHashMap<>();
                x.put("where", reg.where());
                x.put("pricePerRowMicros", r.getPricePerRowMicros());
                x.put("slots", r.getSlots());
                x.put("models", r.getModels().stream().map(String::valueOf).toList());
                x.put("cell", r.getCell());
                x.put("stakeMicrosClaimed", r.getStakeMicros());
                x.put("heartbeatIntervalMs", r.getHeartbeatIntervalMs());
                m.put("advertised", x);
                summary.append("; advertised ").append(r.getPricePerRowMicros()).append(" micros/row, ").append(r.getSlots())
                        .append(" slots, models ").append(r.getModels());
                sources.add(reg.where());
            } else {
                summary.append("; no registration before this step");
            }
            if (stake != null) {
                NodeStake s = (NodeStake) stake.event();
                java.util.Map<String, Object> x = new java.util.LinkedHashMap<>();
                x.put("where", stake.where());
                x.put("lockedMicros", s.getLockedMicros());
                x.put("unlockingMicros", s.getUnlockingMicros());
                x.put("slashed", s.getSlashed());
                m.put("stake", x);
                summary.append("; stake ").append(s.getLockedMicros()).append(" micros locked").append(s.getUnlockingMicros() > 0
                        ? ", " + s.getUnlockingMicros() + " unlocking" : "").append(s.getSlashed() ? ", SLASHED" : "");
                sources.add(stake.where());
            } else {
                m.put("stake", null);
                summary.append("; no stake published by the ledger before this step");
            }
            m.put("summary", summary.toString());
            return new Link(at, "derived from " + (sources.isEmpty() ? "nothing" : String.join(", ", sources)), NODE_AT_STEP, json(m), null);
        }
    }

    /**
     * What the log says the customer got for a shard (or one custom_id of it): the result of the
     * shard's last form-ACCEPTED lease, its rows (those answering the custom_id), and how far
     * verification got for that lease, as ingest's output file labels it: final (FINAL), corrected
     * (FRAUD with the referee's correcting result in the log: its rows replace the original),
     * fraud_uncorrected (FRAUD, no correction in the log), disputed (a dispute open), else
     * provisional. Ingest's output file itself is not on the log; this is what it is built from.
     */
    private static Link delivered(ExportArchive archive, List<Link> chain, String shard, String customId) {
        Verdict accepted = null;
        for (Link l : chain) {
            if (l.event() instanceof Verdict v && v.getOutcome() == VerdictOutcome.ACCEPTED && v.getTaskId().equals(shard)) {
                accepted = v;
            }
        }
        if (accepted == null) {
            return null;
        }
        String lease = accepted.getLeaseId();
        ShardResult result = null;
        VerificationOutcome decided = null;
        boolean disputed = false;
        long at = 0;
        for (Link l : chain) {
            if (l.event() instanceof ShardResult r && r.getLeaseId().equals(lease) && r.getOutputDigest().equals(accepted.getOutputDigest())) {
                result = r;
                at = Math.max(at, l.timestamp());
            } else if (l.event() instanceof Verdict v && v == accepted) {
                at = Math.max(at, l.timestamp());
            } else if (l.event() instanceof VerificationOutcome o && o.getLeaseId().equals(lease)) {
                if (o.getKind() == OutcomeKind.FINAL || o.getKind() == OutcomeKind.FRAUD) {
                    decided = o;
                    at = Math.max(at, l.timestamp());
                } else if (o.getKind() == OutcomeKind.DISPUTED) {
                    disputed = true;
                    at = Math.max(at, l.timestamp());
                }
            }
        }
        ShardResult rows = result;
        String state;
        if (decided != null && decided.getKind() == OutcomeKind.FINAL) {
            state = "final";
        } else if (decided != null) {
            ShardResult correction = decided.getCorrectionLeaseId() == null ? null : resultOf(archive, decided.getCorrectionLeaseId(),
                    decided.getCorrectionDigest());
            state = correction != null ? "corrected" : "fraud_uncorrected";
            rows = correction != null ? correction : result;
        } else {
            state = disputed ? "disputed" : "provisional";
        }
        java.util.Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("shard", shard);
        if (customId != null) {
            m.put("customId", customId);
        }
        m.put("acceptedLease", lease);
        m.put("node", accepted.getNodeId());
        m.put("outputDigest", accepted.getOutputDigest());
        m.put("verification", state);
        if (decided != null) {
            m.put("decidedBy", decided.getOutcomeId());
        }
        if (rows == null) {
            m.put("rows", "unknown: the accepted result is not in the export");
        } else {
            List<Object> out = new ArrayList<>();
            for (EmbeddingRow row : rows.getRows()) {
                if (customId == null || customId.equals(String.valueOf(row.getCustomId()))) {
                    java.util.Map<String, Object> r = new java.util.LinkedHashMap<>();
                    r.put("customId", String.valueOf(row.getCustomId()));
                    r.put("dimensions", row.getEmbedding().size());
                    r.put("first", row.getEmbedding().stream().limit(4).toList());
                    out.add(r);
                }
            }
            m.put("rows", out);
            m.put("fromLease", rows.getLeaseId());
        }
        m.put("note", "ingest builds the output file from these; the file itself is not on the log");
        return new Link(at, "derived from " + lease, DELIVERED, json(m), null);
    }

    private static ShardResult resultOf(ExportArchive archive, String lease, String digest) {
        for (LogEntry e : archive.all(Topics.RESULTS)) {
            if (e.event() instanceof ShardResult r && r.getLeaseId().equals(lease) && (digest == null || r.getOutputDigest().equals(digest))) {
                return r;
            }
        }
        return null;
    }

    private static String json(Object o) {
        try {
            return EventExport.JSON.writeValueAsString(o);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int rank(Link l) {
        String topic = l.where().substring(0, l.where().indexOf('/'));
        for (int i = 0; i < Topics.ALL.size(); i++) {
            if (Topics.ALL.get(i).name().equals(topic)) {
                return i;
            }
        }
        return Topics.ALL.size();
    }

    private static boolean aboutShard(SpecificRecord v, Set<String> shards) {
        for (String field : new String[] {"taskId", "verificationId"}) {
            Object x = field(v, field);
            if (x != null && (shards.contains(x.toString())
                    || VerificationIds.shardOf(x.toString()).map(shards::contains).orElse(false))) {
                return true;
            }
        }
        return false;
    }

    private static Object field(SpecificRecord v, String name) {
        var f = v.getSchema().getField(name);
        return f == null ? null : v.get(f.pos());
    }

    private static boolean names(GenericRecord row, String customId) {
        return row.getSchema().getFields().stream().anyMatch(f -> customId.equals(String.valueOf(row.get(f.pos()))));
    }

    private static Link link(LogEntry e) {
        return new Link(e.timestamp(), e.where(), e.event().getClass().getSimpleName(), e.event().toString(), e.event());
    }

    /** One line per link: {@code 2026-12-02T01:02:03.456Z  verdicts/1@4  Verdict  {...}}. */
    public static String line(Link l) {
        return Instant.ofEpochMilli(l.timestamp()) + "  " + l.where() + "  " + l.type() + "  " + l.record();
    }
}
