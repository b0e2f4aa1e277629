package io.inferex.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * compose/docker-compose.yml cannot be run here (no Docker engine), so it is checked the way
 * `docker compose config` would: parsed (with YAML merge keys), validated against the Compose
 * Specification's JSON schema, and checked for what Inferex needs from it.
 */
class ComposeFileTest {
    static final Path ROOT = Path.of(System.getProperty("inferex.repo.root", "..")).toAbsolutePath().normalize();
    static final List<String> BROKERS = List.of("redpanda-0:9092", "redpanda-1:9092", "redpanda-2:9092");
    static JsonNode compose;

    @BeforeAll
    static void load() throws Exception {
        Object yaml = new Yaml().load(Files.readString(ROOT.resolve("compose/docker-compose.yml")));
        compose = new ObjectMapper().valueToTree(yaml);
    }

    @Test
    void composeFileIsValidAgainstTheComposeSpecification() throws Exception {
        Path spec = ROOT.resolve("../shared/data/compose-spec.json");
        Assumptions.assumeTrue(Files.isReadable(spec), "the Compose Specification schema is not at " + spec + "; skipped");
        var schema = (com.fasterxml.jackson.databind.node.ObjectNode) new ObjectMapper().readTree(spec.toFile());
        // The spec's $id is a bare file name; the validator wants an absolute URI to resolve its $refs against.
        schema.put("$id", "https://compose-spec.io/compose_spec.json");
        Set<ValidationMessage> errors = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V7).getSchema(schema).validate(compose);
        assertEquals(Set.of(), errors);
    }

    @Test
    void everyServiceRunsItsPackagedAppAgainstAllThreeBrokers() {
        JsonNode services = compose.get("services");
        Set<String> modulesMounted = new HashSet<>();
        for (String broker : BROKERS) {
            assertTrue(services.has(broker.substring(0, broker.indexOf(':'))), "broker service " + broker);
        }
        for (var it = services.fields(); it.hasNext(); ) {
            var service = it.next();
            JsonNode env = service.getValue().path("environment");
            for (JsonNode volume : service.getValue().path("volumes")) {
                String v = volume.asText();
                if (v.endsWith("/target/quarkus-app:/opt/inferex/app:ro")) {
                    modulesMounted.add(v.substring(3, v.indexOf('/', 3)));
                    assertEquals(String.join(",", BROKERS), env.path("KAFKA_BOOTSTRAP_SERVERS").asText(), service.getKey());
                    assertEquals("service_completed_successfully",
                            service.getValue().at("/depends_on/topics/condition").asText(), service.getKey() + " waits for topics");
                }
            }
            if (service.getKey().matches("matcher|verifier|settlement")) {
                assertEquals("3", env.path("KAFKA_STREAMS_REPLICATION_FACTOR").asText(), service.getKey());
                assertEquals("${INFEREX_OPERATOR_TOKEN_SHA256:-}", env.path("INFEREX_OPERATOR_TOKEN_SHA256").asText(),
                        service.getKey() + " takes the operator token's hash from the environment");
            }
        }
        assertEquals(Set.of("ingest", "matcher-stream", "executor", "verifier-stream", "settlement-stream"), modulesMounted);
        List<String> topicsCommand = new ObjectMapper().convertValue(services.at("/topics/command"), List.class);
        assertTrue(topicsCommand.containsAll(List.of("topics", "--replication-factor", "3", String.join(",", BROKERS))), topicsCommand.toString());
    }
}
