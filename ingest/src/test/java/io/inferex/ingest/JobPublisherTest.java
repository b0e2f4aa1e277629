package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.JobSubmitted;
import io.inferex.events.ShardTask;
import io.inferex.ingest.BatchFileValidator.EncodingFormat;
import io.inferex.ingest.BatchFileValidator.RequestLine;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class JobPublisherTest {
    private MockProducer<byte[], byte[]> producer;

    @BeforeEach
    void init() {
        producer = new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer());
        producer.initTransactions();
    }

    private static JobSubmitted job(int shards) {
        return JobSubmitted.newBuilder().setJobId("batch_t").setCustomerId("demo").setInputFileId("file-1")
                .setEndpoint("/v1/embeddings").setModel("all-MiniLM-L6-v2").setRowCount(shards).setShardCount(shards)
                .setMaxPricePerRowMicros(200).setEscrowMicros(200L * shards).setInputDigest("00")
                .setCompletionWindow("24h").setSubmittedAtMs(1).setMetadata(Map.of()).build();
    }

    private static ShardTask task(int i, int n) {
        return ShardPlanner.task("batch_t", i, n, "all-MiniLM-L6-v2", "all-MiniLM-L6-v2@local", 200,
                List.of(new RequestLine(i + 1, "c" + i, "text", EncodingFormat.FLOAT)), 1);
    }

    @Test
    void jobAndAllShardsAreCommittedInOneTransactionWithCatalogueKeys() throws Exception {
        int sent = JobPublisher.publish(producer, job(3), out -> {
            for (int i = 0; i < 3; i++) {
                out.accept(task(i, 3));
            }
        });
        assertEquals(3, sent);
        assertTrue(producer.transactionCommitted());
        assertEquals(1, producer.commitCount());
        List<ProducerRecord<byte[], byte[]>> history = producer.history();
        assertEquals(4, history.size());
        assertEquals(Topics.JOBS.name(), history.get(0).topic());
        assertEquals("batch_t", new String(history.get(0).key(), StandardCharsets.UTF_8));
        for (ProducerRecord<byte[], byte[]> r : history.subList(1, 4)) {
            assertEquals(Topics.SHARD_TASKS.name(), r.topic());
            assertEquals("all-MiniLM-L6-v2@local", new String(r.key(), StandardCharsets.UTF_8));
            assertEquals("batch_t", Topics.SHARD_TASKS.valueSerde().deserializer().deserialize(r.topic(), r.value()).getJobId());
        }
    }

    @Test
    void aFailureWhileProducingShardsAbortsAndNothingIsCommitted() {
        JobPublisher.PublishFailedException e = assertThrows(JobPublisher.PublishFailedException.class,
                () -> JobPublisher.publish(producer, job(3), out -> {
                    out.accept(task(0, 3));
                    throw new java.io.IOException("disk read failed");
                }));
        assertFalse(e.producerUnusable());
        assertTrue(producer.transactionAborted());
        assertFalse(producer.transactionCommitted());
        assertTrue(producer.history().isEmpty(), "aborted records must not be in the committed history");
    }

    @Test
    void aShardCountMismatchAbortsInsteadOfPublishingAnIncompleteJob() {
        assertThrows(JobPublisher.PublishFailedException.class,
                () -> JobPublisher.publish(producer, job(3), out -> out.accept(task(0, 3))));
        assertTrue(producer.transactionAborted());
        assertTrue(producer.history().isEmpty());
    }

    @Test
    void aFailedCommitAbortsAndReportsFailure() {
        producer.commitTransactionException = new KafkaException("broker went away");
        assertThrows(JobPublisher.PublishFailedException.class,
                () -> JobPublisher.publish(producer, job(1), out -> out.accept(task(0, 1))));
        assertTrue(producer.transactionAborted());
        assertTrue(producer.history().isEmpty());
    }

    @Test
    void aCommitThatKeepsTimingOutIsReportedAsUnknownNotAsNothingPublished() {
        producer.commitTransactionException = new org.apache.kafka.common.errors.TimeoutException("coordinator slow");
        JobPublisher.PublishFailedException e = assertThrows(JobPublisher.PublishFailedException.class,
                () -> JobPublisher.publish(producer, job(1), out -> out.accept(task(0, 1))));
        assertTrue(e.outcomeUnknown(), e.getMessage());
        assertTrue(e.producerUnusable(), "the producer is replaced, not reused mid-commit");
        assertFalse(producer.transactionAborted(), "a timed-out commit must not be aborted");
    }

    @Test
    void aCommitThatTimesOutOnceAndThenSucceedsPublishes() throws Exception {
        int[] calls = {0};
        MockProducer<byte[], byte[]> flaky = new MockProducer<>(true, null, new ByteArraySerializer(), new ByteArraySerializer()) {
            @Override
            public void commitTransaction() {
                if (calls[0]++ == 0) {
                    throw new org.apache.kafka.common.errors.TimeoutException("first try");
                }
                super.commitTransaction();
            }
        };
        flaky.initTransactions();
        assertEquals(1, JobPublisher.publish(flaky, job(1), out -> out.accept(task(0, 1))));
        assertTrue(flaky.transactionCommitted());
        assertEquals(2, calls[0]);
    }

    @Test
    void aFencedProducerIsReportedUnusableSoItGetsReplaced() {
        producer.fenceProducer();
        JobPublisher.PublishFailedException e = assertThrows(JobPublisher.PublishFailedException.class,
                () -> JobPublisher.publish(producer, job(1), out -> out.accept(task(0, 1))));
        assertTrue(e.producerUnusable());
        assertTrue(producer.history().isEmpty());
        assertTrue(JobPublisher.fatal(new KafkaException(new ProducerFencedException("x"))));
    }
}
