package org.tellus.presentation

import org.tellus.core.StoryView
import org.tellus.core.TellusException

/** The storyteller's receipt as the core made it (issue 21): handed to the share sheet as is. */
data class ReceiptText(val text: String, val html: String, val code: String)

/** The review step after recording, and the story's page: title, summary, tags, then ready. */
class ReviewState(private val core: CoreAccess, val storyId: String) {
    suspend fun story(): StoryView = core.call { app -> app.story(storyId) }
    suspend fun projectTags(): List<String> = core.call { app -> app.project().tags }

    suspend fun save(title: String, summary: String, tags: List<String>): StoryView = core.call { app ->
        app.editStory(storyId, title.trim(), summary.trim())
        val fresh = tags.map { it.trim() }.filter { it.isNotEmpty() }
        if (fresh.isEmpty()) app.story(storyId) else app.addTags(storyId, fresh)
    }

    /**
     * The storyteller's receipt (their code, what they agreed to, the portal link as a QR
     * code); the core refuses once consent is withdrawn or the phone no longer keeps the code.
     */
    suspend fun receipt(): Result<ReceiptText> = try {
        Result.success(core.call { app -> app.receipt(storyId).let { ReceiptText(it.text, it.html, it.code) } })
    } catch (e: TellusException) {
        Result.failure(e)
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
