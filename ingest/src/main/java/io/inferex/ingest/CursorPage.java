package io.inferex.ingest;

import java.util.List;
import java.util.function.Function;

/**
 * OpenAI's cursor pagination over a list already in its order: the items after the one whose id
 * is {@code after} (from the start without it; an id not in the list gives an empty page, as a
 * cursor past the end), at most {@code limit} of them, and whether more follow.
 */
public record CursorPage<T>(List<T> items, boolean hasMore) {

    public static <T> CursorPage<T> of(List<T> ordered, Function<T, String> id, int limit, String after) {
        int start = 0;
        if (after != null) {
            start = ordered.size();
            for (int i = 0; i < ordered.size(); i++) {
                if (id.apply(ordered.get(i)).equals(after)) {
                    start = i + 1;
                    break;
                }
            }
        }
        int end = (int) Math.min(ordered.size(), (long) start + limit);
        return new CursorPage<>(List.copyOf(ordered.subList(start, end)), end < ordered.size());
    }

    /** {@code limit} or its default, refused with OpenAI's error outside [1, max]. */
    public static int limit(Integer limit, int defaultLimit, int max) {
        int n = limit == null ? defaultLimit : limit;
        if (n < 1 || n > max) {
            throw ApiException.invalid("limit", "invalid_value", "'limit' must be between 1 and " + max + ", got " + n + ".");
        }
        return n;
    }
}
