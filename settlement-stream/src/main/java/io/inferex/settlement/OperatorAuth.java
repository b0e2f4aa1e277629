package io.inferex.settlement;

import io.inferex.security.OperatorToken;
import io.vertx.ext.web.Router;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** First route of the HTTP server: every request but health needs the operator token ({@link OperatorToken}). */
@ApplicationScoped
public class OperatorAuth {
    void install(@Observes Router router, @ConfigProperty(name = OperatorToken.CONFIG_KEY) Optional<String> sha256) {
        OperatorToken gate = OperatorToken.fromConfig(sha256);
        router.route().order(Integer.MIN_VALUE).handler(rc -> {
            OperatorToken.Decision d = gate.decide(rc.normalizedPath(), rc.request().getHeader("Authorization"));
            if (d.allowed()) {
                rc.next();
            } else {
                rc.response().setStatusCode(d.status()).putHeader("Content-Type", "application/json");
                if (d.challenges()) {
                    rc.response().putHeader("WWW-Authenticate", OperatorToken.CHALLENGE);
                }
                rc.response().end(d.body());
            }
        });
    }
}
