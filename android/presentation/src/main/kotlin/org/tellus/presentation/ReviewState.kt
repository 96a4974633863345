package org.tellus.presentation

import org.tellus.core.StoryView
import org.tellus.core.TellusException

/** The review step after recording, and the story's page: title, summary, tags, then ready. */
class ReviewState(private val core: CoreAccess, val storyId: String) {
    suspend fun story(): StoryView = core.call { app -> app.story(storyId) }
    suspend fun projectTags(): List<String> = core.call { app -> app.project().tags }

    suspend fun save(title: String, summary: String, tags: List<String>): StoryView = core.call { app ->
        app.editStory(storyId, title.trim(), summary.trim())
        val fresh = tags.map { it.trim() }.filter { it.isNotEmpty() }
        if (fresh.isEmpty()) app.story(storyId) else app.addTags(storyId, fresh)
    }

    /** Marks the story ready for delivery; the core refuses without `record` consent. */
    suspend fun markReady(): Result<StoryView> = try {
        Result.success(core.call { app -> app.markReady(storyId) })
    } catch (e: TellusException.ConsentMissing) {
        Result.failure(e)
    }

    companion object {
        /**
         * A new story with a working title (the core requires one) for a participant (a
         * label, never their name); returns its id.
         */
        suspend fun newStory(core: CoreAccess, title: String, storytellerLabel: String): String =
            core.call { app -> app.createStory(title, storytellerLabel).id }
    }
}
