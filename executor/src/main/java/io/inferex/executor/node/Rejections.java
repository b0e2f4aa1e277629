package io.inferex.executor.node;

import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.jboss.logging.Logger;

/**
 * Assignments this node refuses (undecodable, not for it, a model it does not serve, a run that
 * failed, a result too large for the broker): logged with their position and the reason, and
 * counted. A node writes only its registration, heartbeats and results (docs/security.md), so it
 * has no dead-letter topic: the matcher notices the unanswered lease at its deadline, revokes it
 * and leases the shard again. Thread-safe (the feed and the workers both refuse).
 */
final class Rejections {
    private static final Logger LOG = Logger.getLogger(Rejections.class);
    private final AtomicLong count = new AtomicLong();

    /** Logs and counts the refusal; always true: the record is finished with. */
    boolean reject(ConsumerRecord<?, ?> record, Throwable reason) {
        count.incrementAndGet();
        LOG.warnf("rejected assignment %s-%d@%d: %s", record.topic(), record.partition(), record.offset(), reason.getMessage());
        return true;
    }

    long count() {
        return count.get();
    }
}
