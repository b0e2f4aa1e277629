package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Properties;
import org.junit.jupiter.api.Test;

/** The demo key is a demo's and the tests', never a deployment's default. */
class DemoKeyDefaultsTest {

    @Test
    void theDemoKeyIsAcceptedOnlyWhenADeploymentTurnsItOn() {
        assertTrue(AuthFilter.staticKeys(Optional.empty(), false).customerFor(AuthFilter.DEMO_KEY).isEmpty());
        assertEquals(Optional.of("demo"), AuthFilter.staticKeys(Optional.empty(), true).customerFor(AuthFilter.DEMO_KEY));
        assertEquals(Optional.of("acme"), AuthFilter.staticKeys(Optional.of(List.of("acme:" + ApiKeys.hash("sk-a"))), false)
                .customerFor("sk-a"));
    }

    @Test
    void theDefaultConfigAndComposeLeaveItOffAndConfigureNoKey() throws IOException {
        Properties p = new Properties();
        try (InputStream in = DemoKeyDefaultsTest.class.getResourceAsStream("/application.properties")) {
            p.load(in);
        }
        assertEquals("false", p.getProperty("inferex.ingest.demo-key-enabled"));
        assertFalse(p.containsKey("inferex.ingest.api-keys"), "no default key");
        assertFalse(p.containsKey("%prod.inferex.ingest.demo-key-enabled") || p.containsKey("%dev.inferex.ingest.demo-key-enabled"));
        String compose = Files.readString(Path.of("../compose/docker-compose.yml")).toLowerCase(java.util.Locale.ROOT);
        assertFalse(compose.contains("demo_key") || compose.contains("demo-key") || compose.contains("api_keys")
                || compose.contains("api-keys"), "compose turns on no demo or static key");
    }
}
