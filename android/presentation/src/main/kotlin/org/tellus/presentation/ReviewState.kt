package org.tellus.presentation

import org.tellus.core.StoryView
import org.tellus.core.TellusApp
import org.tellus.core.TellusException

/** The review step after recording: title, summary, tags, then ready. */
class ReviewState(private val app: TellusApp, val storyId: String) {
    fun story(): StoryView = app.story(storyId)
    fun projectTags(): List<String> = app.project().tags

    fun save(title: String, summary: String, tags: List<String>): StoryView {
        app.editStory(storyId, title.trim(), summary.trim())
        val fresh = tags.map { it.trim() }.filter { it.isNotEmpty() }
        return if (fresh.isEmpty()) app.story(storyId) else app.addTags(storyId, fresh)
    }

    /** Marks the story ready for delivery; the core refuses without `record` consent. */
    fun markReady(): Result<StoryView> = try {
        Result.success(app.markReady(storyId))
    } catch (e: TellusException.ConsentMissing) {
        Result.failure(e)
    }
}
