package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.inject.Inject;
import jakarta.ws.rs.Consumes;
import jakarta.ws.rs.DELETE;
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

    /**
     * The caller's files, newest first ({@code order=desc}, the default) or oldest first, of one
     * {@code purpose} if given, {@code limit} (1-10,000, default 10,000) after the file id {@code after}.
     */
    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public ObjectNode list(@RestQuery String purpose, @RestQuery Integer limit, @RestQuery String after,
            @RestQuery String order) {
        int n = CursorPage.limit(limit, 10_000, 10_000);
        if (order != null && !order.equals("asc") && !order.equals("desc")) {
            throw ApiException.invalid("order", "invalid_value", "Invalid value for 'order': '" + order
                    + "'. Supported: 'asc', 'desc'.");
        }
        List<StoredFile> files = stores.files(caller.customerId()).stream()
                .filter(f -> purpose == null || purpose.equals(f.purpose())).toList();
        if ("asc".equals(order)) {
            files = new java.util.ArrayList<>(files);
            java.util.Collections.reverse(files);
        }
        CursorPage<StoredFile> page = CursorPage.of(files, StoredFile::id, n, after);
        return OpenAiObjects.list(page.items().stream().map(OpenAiObjects::file).toList(), page.hasMore());
    }

    /**
     * Deletes one of the caller's files. Refused (409) while a batch still needs it: the input of a
     * batch whose output is not written yet or is still provisional (its lines are re-read to
     * write or rewrite the output). An output or error file can always be deleted.
     */
    @DELETE
    @Path("{id}")
    @Produces(MediaType.APPLICATION_JSON)
    public ObjectNode delete(@RestPath String id) {
        StoredFile f = owned(id);
        try {
            batches.deleteFile(f);
        } catch (FileStore.FileInUseException e) {
            throw ApiException.conflict("file_in_use", "File " + id + " is the input of batch " + e.batchId()
                    + ", which still needs it; delete it once the batch has ended.");
        }
        return OpenAiObjects.deleted(id, "file");
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
        java.nio.file.Path content;
        try {
            content = stores.store().content(f); // fetched from the log if this instance lacks it
        } catch (java.io.UncheckedIOException e) {
            throw ApiException.unavailable("The content of " + id + " cannot be read right now; retry shortly.");
        }
        return RestResponse.ResponseBuilder.ok(content, MediaType.APPLICATION_OCTET_STREAM_TYPE)
                .header("Content-Disposition", "attachment; filename=\"" + f.filename().replace("\"", "") + "\"")
                .build();
    }

    private StoredFile owned(String id) {
        String customer = caller.customerId();
        return stores.file(id).filter(f -> f.customerId().equals(customer))
                .orElseThrow(() -> ApiException.notFound("File", id));
    }
}
