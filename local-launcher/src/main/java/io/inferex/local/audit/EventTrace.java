package io.inferex.local.audit;

import io.inferex.events.ShardTask;
import io.inferex.events.Transfer;
import io.inferex.events.Verdict;
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
    public record Link(long timestamp, String where, String type, String record) {}

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
        return links;
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
        return new Link(e.timestamp(), e.where(), e.event().getClass().getSimpleName(), e.event().toString());
    }

    /** One line per link: {@code 2026-12-02T01:02:03.456Z  verdicts/1@4  Verdict  {...}}. */
    public static String line(Link l) {
        return Instant.ofEpochMilli(l.timestamp()) + "  " + l.where() + "  " + l.type() + "  " + l.record();
    }
}
