package io.inferex.settlement;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.local.EmbeddedKafkaTestResource;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.time.Duration;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.Test;

/** The app's /q/health endpoints follow its Kafka Streams state (the same bean in matcher and verifier). */
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafkaTestResource.class, initArgs = @io.quarkus.test.common.ResourceArg(name = "principal", value = "settlement"))
class StreamStateHealthTest {
    static final String STATE = "checks.find { it.name == 'inferex stream state' }.data.state";

    @Inject
    KafkaStreams streams;

    @Test
    void aRunningStreamIsReadyAndLiveAndAStoppedOneIsNeither() throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (given().get("/q/health/ready").statusCode() != 200) {
            assertTrue(System.nanoTime() < deadline, "not ready: " + given().get("/q/health/ready").asString());
            Thread.sleep(100);
        }
        given().get("/q/health/ready").then().statusCode(200).body(STATE, equalTo("RUNNING"));
        given().get("/q/health/live").then().statusCode(200).body(STATE, equalTo("RUNNING"));

        streams.close(Duration.ofSeconds(30));

        given().get("/q/health/ready").then().statusCode(503).body(STATE, equalTo("NOT_RUNNING"));
        given().get("/q/health/live").then().statusCode(503).body(STATE, equalTo("NOT_RUNNING"));
    }
}
