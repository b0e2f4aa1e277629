package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.List;
import org.jboss.resteasy.reactive.RestForm;
import org.jboss.resteasy.reactive.RestPath;
import org.jboss.resteasy.reactive.RestQuery;
import org.jboss.resteasy.reactive.RestResponse;
import org.jboss.resteasy.reactive.multipart.FileUpload;

/** OpenAI Files API: upload a batch file, read file objects and contents. */
@Path("/v1/files")
public class FilesResource {
    @Inject
    Caller caller;

    @Inject
    BatchService batches;

    @Inject
    IngestStore stores;

    @POST
    @Consumes(MediaType.MULTIPART_FORM_DATA)
    @Produces(MediaType.APPLICATION_JSON)
    public ObjectNode upload(@RestForm("file") FileUpload file, @RestForm("purpose") String purpose) {
        StoredFile f = batches.upload(caller.customerId(), file == null ? null : file.uploadedFile(),
                file == null ? null : file.fileName(), purpose);
        return OpenAiObjects.file(f);
    }

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public ObjectNode list(@RestQuery String purpose) {
        List<ObjectNode> data = stores.store().files(caller.customerId()).stream()
                .filter(f -> purpose == null || purpose.equals(f.purpose()))
                .map(OpenAiObjects::file).toList();
        return OpenAiObjects.list(data, false);
    }

    @GET
    @Path("{id}")
    @Produces(MediaType.APPLICATION_JSON)
    public ObjectNode get(@RestPath String id) {
        return OpenAiObjects.file(owned(id));
    }

    /**
     * The file's bytes, whatever the {@code Accept} header says: no {@code @Produces}, so content
     * negotiation never answers 406. The official SDKs send {@code Accept: application/binary}
     * (Python, Node) or nothing (Java); the body is always {@code application/octet-stream}.
     */
    @GET
    @Path("{id}/content")
    public RestResponse<java.nio.file.Path> content(@RestPath String id) {
        StoredFile f = owned(id);
        return RestResponse.ResponseBuilder.ok(stores.store().content(f), MediaType.APPLICATION_OCTET_STREAM_TYPE)
                .header("Content-Disposition", "attachment; filename=\"" + f.filename().replace("\"", "") + "\"")
                .build();
    }

    private StoredFile owned(String id) {
        String customer = caller.customerId();
        return stores.store().file(id).filter(f -> f.customerId().equals(customer))
                .orElseThrow(() -> ApiException.notFound("File", id));
    }
}
