package io.inferex.ingest;

import io.inferex.events.CustomerKey;
import io.inferex.topics.Topics;
import io.inferex.wire.UndecodableRecordException;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.util.Map;
import java.util.Optional;
import org.jboss.logging.Logger;

/**
 * Follows {@code customer-keys} (compacted) into a {@link CustomerKeyBook} ({@link CompactedTopicFeed}).
 * Ready once it has read up to the end offsets it found at assignment, so a restarted ingest does
 * not answer 401 for keys it has not read yet. An undecodable or malformed record is dead-lettered
 * and skipped.
 */
@ApplicationScoped
public class CustomerKeyFeed extends CompactedTopicFeed<CustomerKey> {
    private static final Logger LOG = Logger.getLogger(CustomerKeyFeed.class);

    @Inject
    @io.smallrye.common.annotation.Identifier("default-kafka-broker")
    Map<String, Object> kafka;

    private final CustomerKeyBook book = new CustomerKeyBook();

    public CustomerKeyFeed() {
        super(Topics.CUSTOMER_KEYS);
    }

    void onStart(@Observes StartupEvent ev) {
        start();
    }

    void onStop(@Observes ShutdownEvent ev) throws InterruptedException {
        stop();
    }

    @Override
    protected Map<String, Object> kafka() {
        return kafka;
    }

    @Override
    protected void apply(String keyId, CustomerKey value) {
        if (!book.apply(keyId, value)) {
            throw new UndecodableRecordException("customer key " + keyId
                    + " is malformed (id not its hash's prefix, or a bad customer id)", null);
        }
    }

    @Override
    protected void caughtUp() {
        LOG.infof("customer keys read: %d", book.size());
    }

    public Optional<String> customerFor(String key) {
        return book.customerFor(key);
    }

    public int keys() {
        return book.size();
    }
}
