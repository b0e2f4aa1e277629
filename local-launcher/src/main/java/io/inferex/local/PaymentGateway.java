package io.inferex.local;

import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.security.BusCredentials;
import io.inferex.topics.Topics;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Money in and out of the market: writes {@link Payment} records as the payment-gateway principal,
 * the only principal the broker lets write {@code payments}. Used by {@code ./inferex fund},
 * {@code ./inferex withdraw} and the demo.
 */
public final class PaymentGateway implements AutoCloseable {
    private final KafkaProducer<String, Payment> producer;

    /** {@code gatewayConfig}: the payment gateway's client config (bootstrap servers and credential). */
    public PaymentGateway(Map<String, Object> gatewayConfig) {
        this.producer = new KafkaProducer<>(BusCredentials.properties(gatewayConfig, Map.of(
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000)),
                Topics.PAYMENTS.keySerde().serializer(), Topics.PAYMENTS.valueSerde().serializer());
    }

    /** Builds a payment of {@code amountMicros} (must be positive) to or from {@code account}. */
    public static Payment payment(String account, PaymentKind kind, long amountMicros) {
        if (amountMicros <= 0) {
            throw new IllegalArgumentException("an amount must be positive, was " + amountMicros);
        }
        return Payment.newBuilder().setPaymentId("pay-" + UUID.randomUUID()).setAccountId(account).setKind(kind)
                .setAmountMicros(amountMicros).setAtMs(System.currentTimeMillis()).build();
    }

    /**
     * The two payments that give node {@code nodeId} a stake of {@code amountMicros} from outside the
     * market: a DEPOSIT to {@code node:<id>}, then a STAKE of all of it (the matcher leases only to
     * stake the ledger holds). Used by the local stack, the load harness and the system tests.
     */
    public static List<Payment> depositAndStake(String nodeId, long amountMicros) {
        String account = io.inferex.market.Accounts.node(nodeId);
        return List.of(payment(account, PaymentKind.DEPOSIT, amountMicros), payment(account, PaymentKind.STAKE, amountMicros));
    }

    /** Writes the payments and waits until the broker has acknowledged every one (throws if one was refused). */
    public void pay(List<Payment> payments) {
        List<java.util.concurrent.Future<org.apache.kafka.clients.producer.RecordMetadata>> sent = payments.stream()
                .map(p -> producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), p.getAccountId(), p))).toList();
        for (var f : sent) {
            try {
                f.get(30, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                throw new IllegalStateException("payment refused: " + e.getCause(), e.getCause());
            } catch (java.util.concurrent.TimeoutException e) {
                throw new IllegalStateException("payment not acknowledged within 30 s", e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            }
        }
    }

    @Override
    public void close() {
        producer.close(java.time.Duration.ofSeconds(10));
    }
}
