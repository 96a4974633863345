package org.tellus.app.ui

import androidx.compose.runtime.saveable.Saver

/** Where the app is. Kept as a string across rotation and process death. */
sealed interface Route {
    data object Enrol : Route
    data object Stories : Route
    data object Settings : Route
    data object NewStory : Route
    data class Story(val id: String) : Route
    data class Consent(val storyId: String) : Route
    data class Recording(val storyId: String) : Route
    data class Review(val storyId: String) : Route

    companion object {
        val Saver: Saver<Route, String> = Saver(
            save = {
                when (it) {
                    Enrol -> "enrol"
                    Stories -> "stories"
                    Settings -> "settings"
                    NewStory -> "new"
                    is Story -> "story:${it.id}"
                    is Consent -> "consent:${it.storyId}"
                    is Recording -> "recording:${it.storyId}"
                    is Review -> "review:${it.storyId}"
                }
            },
            restore = {
                val (kind, id) = it.split(":", limit = 2).let { p -> p[0] to p.getOrElse(1) { "" } }
                when (kind) {
                    "enrol" -> Enrol
                    "settings" -> Settings
                    "new" -> NewStory
                    "story" -> Story(id)
                    "consent" -> Consent(id)
                    "recording" -> Recording(id)
                    "review" -> Review(id)
                    else -> Stories
                }
            },
        )
    }
}
