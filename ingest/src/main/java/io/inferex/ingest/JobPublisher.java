package io.inferex.ingest;

import io.inferex.events.JobSubmitted;
import io.inferex.events.ShardTask;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.InvalidPidMappingException;
import org.apache.kafka.common.errors.OutOfOrderSequenceException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.errors.UnsupportedVersionException;

/**
 * Publishes a job and all of its shards in one Kafka transaction: read_committed readers see the
 * JobSubmitted and every ShardTask, or nothing. Any failure aborts the transaction. The producer
 * must be transactional and initialised; calls must not overlap (one transaction at a time).
 */
public final class JobPublisher {
    /** Streams the job's ShardTasks into {@code out}, in shard order. */
    @FunctionalInterface
    public interface ShardSource {
        void forEach(ShardConsumer out) throws Exception;
    }

    @FunctionalInterface
    public interface ShardConsumer {
        void accept(ShardTask task);
    }

    /**
     * The batch was not published. {@code producerUnusable}: the producer is fenced or in a fatal
     * state and must be closed and replaced before the next transaction.
     */
    public static final class PublishFailedException extends Exception {
        private final boolean producerUnusable;
        private final boolean outcomeUnknown;

        PublishFailedException(String message, Throwable cause, boolean producerUnusable) {
            this(message, cause, producerUnusable, false);
        }

        PublishFailedException(String message, Throwable cause, boolean producerUnusable, boolean outcomeUnknown) {
            super(message, cause);
            this.producerUnusable = producerUnusable;
            this.outcomeUnknown = outcomeUnknown;
        }

        public boolean producerUnusable() {
            return producerUnusable;
        }

        /** The commit timed out every time: the coordinator may still commit it, so nothing may be undone. */
        public boolean outcomeUnknown() {
            return outcomeUnknown;
        }
    }

    /** A commit whose every try timed out. */
    static final class CommitOutcomeUnknownException extends RuntimeException {
        CommitOutcomeUnknownException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    static final int COMMIT_TRIES = 5;

    private JobPublisher() {}

    /** Sends job + shards and commits; returns the number of shards sent. On any failure aborts and throws. */
    public static int publish(Producer<byte[], byte[]> producer, JobSubmitted job, ShardSource shards)
            throws PublishFailedException {
        return publish(producer, job, java.util.List.of(), shards);
    }

    /**
     * {@link #publish(Producer, JobSubmitted, ShardSource)} with {@code alongside} (the batch's
     * {@code ingest-batches} record) in the same transaction: it is in the log iff the job is.
     */
    public static int publish(Producer<byte[], byte[]> producer, JobSubmitted job, java.util.List<ProducerRecord<byte[], byte[]>> alongside,
            ShardSource shards) throws PublishFailedException {
        int[] sent = {0};
        inTransaction(producer, "job " + job.getJobId(), () -> {
            producer.send(record(Topics.JOBS, job.getJobId(), job));
            shards.forEach(task -> {
                if (!task.getJobId().equals(job.getJobId())) {
                    throw new IllegalArgumentException("shard " + task.getTaskId() + " is not of job " + job.getJobId());
                }
                producer.send(record(Topics.SHARD_TASKS, task.getPoolKey(), task));
                sent[0]++;
            });
            if (sent[0] != job.getShardCount()) {
                throw new IllegalStateException("job " + job.getJobId() + " announces " + job.getShardCount()
                        + " shards but " + sent[0] + " were produced");
            }
            // Last: its partition joins the transaction only now, so readers waiting for that partition's
            // end (read-your-writes, IngestLog.awaitBatches) wait for the commit, not for the shards' streaming.
            alongside.forEach(producer::send);
        });
        return sent[0];
    }

    /** Sends one record in its own transaction (a customer's challenge); on any failure aborts and throws. */
    public static <V> void publishOne(Producer<byte[], byte[]> producer, Topic<String, V> topic, String key, V value, String what)
            throws PublishFailedException {
        inTransaction(producer, what, () -> producer.send(record(topic, key, value)));
    }

    /** Runs {@code sends} in one transaction (an upload's chunks and metadata, a delete); on any failure aborts and throws. */
    public static void publishAll(Producer<byte[], byte[]> producer, String what, Sends sends) throws PublishFailedException {
        inTransaction(producer, what, sends);
    }

    @FunctionalInterface
    public interface Sends {
        void run() throws Exception;
    }

    /** Begins a transaction, runs {@code sends}, commits; aborts (or reports the producer unusable) on any failure. */
    private static void inTransaction(Producer<byte[], byte[]> producer, String what, Sends sends) throws PublishFailedException {
        try {
            producer.beginTransaction();
        } catch (RuntimeException e) {
            throw new PublishFailedException("could not begin a transaction: " + e, e, fatal(e));
        }
        try {
            sends.run();
            commit(producer);
        } catch (CommitOutcomeUnknownException e) {
            // Aborting now would throw too; the producer cannot be reused until the commit resolves.
            throw new PublishFailedException(what + ": " + e.getMessage(), e, true, true);
        } catch (Exception e) {
            boolean unusable = fatal(e);
            if (!unusable) {
                try {
                    producer.abortTransaction();
                } catch (RuntimeException abortFailure) {
                    e.addSuppressed(abortFailure);
                    unusable = true;
                }
            }
            throw new PublishFailedException(what + " was not published (transaction aborted): " + e, e, unusable);
        }
    }

    /**
     * Flushes every send and commits; throws if any send failed (then nothing is committed). A
     * commit that times out must be retried, not aborted (the coordinator may already be
     * committing): it is tried {@value #COMMIT_TRIES} times, and if every try times out the
     * outcome is reported as unknown rather than as "nothing was published".
     */
    static void commit(Producer<byte[], byte[]> producer) {
        org.apache.kafka.common.errors.TimeoutException last = null;
        for (int attempt = 1; attempt <= COMMIT_TRIES; attempt++) {
            try {
                producer.commitTransaction();
                return;
            } catch (org.apache.kafka.common.errors.TimeoutException timedOut) {
                last = timedOut;
            }
        }
        throw new CommitOutcomeUnknownException("the commit timed out " + COMMIT_TRIES
                + " times; the job may still be accepted by the cluster", last);
    }

    /** Errors after which a transactional producer can only be closed. */
    static boolean fatal(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ProducerFencedException || t instanceof OutOfOrderSequenceException
                    || t instanceof AuthorizationException || t instanceof UnsupportedVersionException
                    || t instanceof InvalidPidMappingException) {
                return true;
            }
            if (t instanceof IllegalStateException && t.getMessage() != null && t.getMessage().contains("fatal error")) {
                return true;
            }
            if (t instanceof KafkaException && t.getMessage() != null && t.getMessage().contains("Cannot execute transactional method because we are in an error state")) {
                return true;
            }
        }
        return false;
    }

    static <V> ProducerRecord<byte[], byte[]> record(Topic<String, V> topic, String key, V value) {
        return new ProducerRecord<>(topic.name(),
                topic.keySerde().serializer().serialize(topic.name(), key),
                topic.valueSerde().serializer().serialize(topic.name(), value));
    }
}
