package io.inferex.executor.node;

import io.inferex.events.Assignment;
import io.inferex.events.DeclineReason;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.jboss.logging.Logger;

/**
 * Assignments this node refuses: logged with their position and the reason, and counted. A node has
 * no dead-letter topic (docs/security.md). A record that is no lease of this node (undecodable,
 * addressed to another node) is only refused: the matcher notices an unanswered lease at its
 * deadline. A lease of this node that it will not run (no free slot, a model it does not serve, a
 * run that failed, a result too large for the broker) is also <em>declined</em>: a signed
 * {@code LeaseDeclined} goes to the matcher ({@link Decliner}), which revokes the lease and leases
 * the shard to another node at once. Thread-safe (the feed and the workers both refuse).
 */
final class Rejections {
    private static final Logger LOG = Logger.getLogger(Rejections.class);

    /** Signs and sends the node's decline of a lease it holds (asynchronously: the lease deadline covers a lost one). */
    @FunctionalInterface
    interface Decliner {
        void decline(Assignment lease, DeclineReason reason, String detail);
    }

    private final Decliner decliner;
    private final AtomicLong count = new AtomicLong();
    private final AtomicLong declined = new AtomicLong();

    /** Refusals that are only logged and counted (tests of parts that never decline). */
    Rejections() {
        this((lease, reason, detail) -> {});
    }

    Rejections(Decliner decliner) {
        this.decliner = decliner;
    }

    /** Logs and counts the refusal; always true: the record is finished with. */
    boolean reject(ConsumerRecord<?, ?> record, Throwable reason) {
        count.incrementAndGet();
        LOG.warnf("rejected assignment %s-%d@%d: %s", record.topic(), record.partition(), record.offset(), reason.getMessage());
        return true;
    }

    /** Refuses the record and declines its lease to the matcher; always true: the record is finished with. */
    boolean decline(ConsumerRecord<?, ?> record, Assignment lease, DeclineReason reason, Throwable why) {
        reject(record, why);
        declined.incrementAndGet();
        try {
            decliner.decline(lease, reason, String.valueOf(why.getMessage()));
        } catch (RuntimeException e) {
            LOG.warnf("decline of lease %s not sent (%s); the matcher re-leases it at its deadline", lease.getLeaseId(), e.toString());
        }
        return true;
    }

    long count() {
        return count.get();
    }

    /** Leases declined to the matcher (a subset of {@link #count}). */
    long declined() {
        return declined.get();
    }
}
