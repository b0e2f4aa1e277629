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
                            service.getValue().at("/depends_on/provision/condition").asText(), service.getKey() + " waits for provision");
                }
            }
            if (service.getKey().matches("matcher|verifier|settlement")) {
                assertEquals("3", env.path("KAFKA_STREAMS_REPLICATION_FACTOR").asText(), service.getKey());
                assertEquals("${INFEREX_OPERATOR_TOKEN_SHA256:-}", env.path("INFEREX_OPERATOR_TOKEN_SHA256").asText(),
                        service.getKey() + " takes the operator token's hash from the environment");
            }
        }
        assertEquals(Set.of("ingest", "matcher-stream", "executor", "verifier-stream", "settlement-stream"), modulesMounted);
        List<String> provisionCommand = new ObjectMapper().convertValue(services.at("/provision/command"), List.class);
        assertTrue(provisionCommand.containsAll(List.of("provision", "--replication-factor", "3", String.join(",", BROKERS))),
                provisionCommand.toString());
    }

    @Test
    void everyBrokerRequiresSaslWithTheOperatorAsOnlySuperUserAndNoPasswordInTheFile() {
        JsonNode services = compose.get("services");
        for (String broker : BROKERS) {
            JsonNode service = services.get(broker.substring(0, broker.indexOf(':')));
            List<String> command = new ObjectMapper().convertValue(service.get("command"), List.class);
            assertTrue(command.contains("redpanda.enable_sasl=true"), broker + " requires SASL: " + command);
            assertTrue(command.contains("redpanda.superusers=['operator']"), broker + " super users: " + command);
            String bootstrapUser = service.at("/environment/RP_BOOTSTRAP_USER").asText();
            assertTrue(bootstrapUser.matches("operator:\\$\\{INFEREX_OPERATOR_PASSWORD:\\?[^}]+}:SCRAM-SHA-512"),
                    broker + " takes the operator's password from the environment, never a literal: " + bootstrapUser);
        }
    }

    @Test
    void eachServiceMountsOnlyItsOwnCredentialAndEveryExecutorHasANodeCredential() {
        JsonNode services = compose.get("services");
        Set<String> subpaths = new HashSet<>();
        Set<String> executors = new HashSet<>();
        for (var it = services.fields(); it.hasNext(); ) {
            var service = it.next();
            boolean app = false;
            String own = null;
            for (JsonNode volume : service.getValue().path("volumes")) {
                if (volume.asText().endsWith(":/opt/inferex/app:ro")) {
                    app = true;
                }
                if (volume.isObject() && "bus-secrets".equals(volume.path("source").asText())) {
                    assertEquals("/run/inferex", volume.path("target").asText(), service.getKey());
                    assertTrue(volume.path("read_only").asBoolean(), service.getKey() + " mounts its credential read-only");
                    own = volume.at("/volume/subpath").asText();
                }
            }
            if (!app) {
                continue;
            }
            assertTrue(own != null && !own.isEmpty(), service.getKey() + " mounts only its own sub-directory of bus-secrets");
            assertTrue(subpaths.add(own), "two services share the credential " + own);
            assertEquals("file:/run/inferex/kafka.properties",
                    service.getValue().at("/environment/QUARKUS_CONFIG_LOCATIONS").asText(), service.getKey());
            String nodeName = service.getValue().at("/environment/INFEREX_NODE_NAME").asText();
            if (!nodeName.isEmpty()) {
                assertEquals(nodeName, own, "executor " + service.getKey() + " reads the credential issued to its node name");
                executors.add(nodeName);
            }
        }
        assertEquals(Set.of("ingest", "matcher", "verifier", "settlement", "executor-1", "executor-2"), subpaths);
        List<String> provision = new ObjectMapper().convertValue(services.at("/provision/command"), List.class);
        Set<String> issued = Set.of(provision.get(provision.indexOf("--nodes") + 1).split(","));
        assertEquals(executors, issued, "provision issues a node credential to exactly the executors");
        JsonNode mounts = services.at("/provision/volumes");
        assertTrue(mounts.toString().contains("bus-secrets:/var/lib/inferex/bus-secrets"), mounts.toString());
    }
}
