package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Assignment;
import io.inferex.wire.CatalogueSerializer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.errors.NetworkException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/** ResultPublisher on kafka-clients' MockProducer: what is retried, what is not, and when it gives up. */
class ResultPublisherTest {
    final List<Long> sleeps = new CopyOnWriteArrayList<>();
    final AtomicLong now = new AtomicLong(5_000);

    /** A producer whose sends fail with {@code failures} in turn, then succeed. */
    static MockProducer<String, Object> failing(RuntimeException... failures) {
        MockProducer<String, Object> p = new MockProducer<>(false, null, new StringSerializer(), new CatalogueSerializer()) {
            int sent;

            @Override
            public synchronized java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata> send(
                    org.apache.kafka.clients.producer.ProducerRecord<String, Object> record) {
                var f = super.send(record);
                int n = sent++;
                if (n < failures.length) {
                    errorNext(failures[n]);
                } else {
                    completeNext();
                }
                return f;
            }
        };
        return p;
    }

    ResultPublisher publisher(MockProducer<String, Object> p) {
        ResultPublisher r = new ResultPublisher(() -> p, now::get, sleeps::add);
        r.open();
        return r;
    }

    @Test
    void aRetriableFailureIsRetriedEverySecondUntilTheBrokerAcknowledgesOnTheResultsTopicKeyedByTask() throws Exception {
        MockProducer<String, Object> p = failing(new NetworkException("broker away"), new NetworkException("still away"));
        Assignment a = NodePartsFixture.lease("L1", 10_000);
        assertEquals(ResultPublisher.Outcome.ACKNOWLEDGED, publisher(p).publish(NodePartsFixture.result(a), a));
        assertEquals(3, p.history().size());
        assertEquals("results", p.history().get(2).topic());
        assertEquals(a.getTaskId(), p.history().get(2).key());
        assertEquals(List.of(1_000L, 1_000L), sleeps);
    }

    @Test
    void aResultTooLargeForTheBrokerIsNotRetried() throws Exception {
        MockProducer<String, Object> p = failing(new RecordTooLargeException("over max.message.bytes"));
        Assignment a = NodePartsFixture.lease("L1", 10_000);
        ResultPublisher r = publisher(p);
        assertEquals(ResultPublisher.Outcome.TOO_LARGE, r.publish(NodePartsFixture.result(a), a));
        assertTrue(r.tooLargeCause() instanceof RecordTooLargeException);
        assertEquals(1, p.history().size());
        assertEquals(List.of(), sleeps);
    }

    @Test
    void aFailurePastTheLeasesDeadlineGivesTheLeaseUp() throws Exception {
        MockProducer<String, Object> p = failing(new NetworkException("a"), new NetworkException("b"), new NetworkException("c"));
        Assignment a = NodePartsFixture.lease("L1", 6_500);
        sleeps.clear();
        ResultPublisher r = new ResultPublisher(() -> p, now::get, ms -> now.addAndGet(ms)); // the clock runs with the backoff
        r.open();
        assertEquals(ResultPublisher.Outcome.GAVE_UP, r.publish(NodePartsFixture.result(a), a));
        assertEquals(3, p.history().size(), "tried at 5000, 6000 and 7000 ms; 7000 is past the 6500 ms deadline");
    }

    @Test
    void stoppingEndsARetryInProgressWithoutAnAcknowledgement() throws Exception {
        MockProducer<String, Object> p = failing(new NetworkException("a"), new NetworkException("b"));
        Assignment a = NodePartsFixture.lease("L1", Long.MAX_VALUE);
        ResultPublisher[] r = new ResultPublisher[1];
        r[0] = new ResultPublisher(() -> p, now::get, ms -> r[0].stop()); // the grace period ends during the backoff
        r[0].open();
        assertEquals(ResultPublisher.Outcome.STOPPED, r[0].publish(NodePartsFixture.result(a), a));
        assertEquals(1, p.history().size());
        r[0].close();
        assertTrue(p.closed());
    }
}
