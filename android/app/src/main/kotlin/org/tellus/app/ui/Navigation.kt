package org.tellus.app.ui

import androidx.compose.runtime.Composable
import androidx.navigation.NavHostController
import androidx.navigation.NavType
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import androidx.navigation.navArgument

/**
 * The app's screens in navigation-compose: the back stack and each screen's arguments are
 * kept by the library across rotation and process death, and each destination has its
 * own ViewModels. Arguments are story ids only.
 */
private object Routes {
    const val START = "start"
    const val ENROL = "enrol"
    const val STORIES = "stories"
    const val SETTINGS = "settings"
    const val NEW_STORY = "new-story"
    const val STORY = "story/{id}"
    const val CONSENT = "consent/{id}"
    const val RECORDING = "recording/{id}"
    const val REVIEW = "review/{id}"

    fun story(id: String) = "story/$id"
    fun consent(id: String) = "consent/$id"
    fun recording(id: String) = "recording/$id"
    fun review(id: String) = "review/$id"
}

private val idArgument = listOf(navArgument("id") { type = NavType.StringType })

/** Replaces the whole back stack with `route` (after enrolling, after a story is done). */
private fun NavHostController.restartAt(route: String) = navigate(route) {
    popUpTo(graph.id) { inclusive = true }
}

@Composable
fun TellusNavHost(hasMicrophone: () -> Boolean, askMicrophone: (then: () -> Unit) -> Unit) {
    val nav = rememberNavController()
    NavHost(nav, startDestination = Routes.START) {
        composable(Routes.START) {
            StartScreen { enrolled -> nav.restartAt(if (enrolled) Routes.STORIES else Routes.ENROL) }
        }
        composable(Routes.ENROL) { EnrolScreen(done = { nav.restartAt(Routes.STORIES) }) }
        composable(Routes.STORIES) {
            StoriesScreen(
                open = { nav.navigate(Routes.story(it)) },
                newStory = { nav.navigate(Routes.NEW_STORY) },
                settings = { nav.navigate(Routes.SETTINGS) },
            )
        }
        composable(Routes.SETTINGS) { SettingsScreen(back = { nav.popBackStack() }) }
        composable(Routes.NEW_STORY) {
            NewStoryScreen(
                created = { id -> nav.navigate(Routes.consent(id)) { popUpTo(Routes.STORIES) } },
                back = { nav.popBackStack() },
            )
        }
        composable(Routes.STORY, idArgument) { entry ->
            StoryScreen(entry.arguments?.getString("id").orEmpty(), back = { nav.popBackStack() })
        }
        composable(Routes.CONSENT, idArgument) { entry ->
            val id = entry.arguments?.getString("id").orEmpty()
            ConsentScreen(
                storyId = id,
                recording = { nav.navigate(Routes.recording(id)) { popUpTo(Routes.STORIES) } },
                back = { nav.popBackStack() },
                hasMicrophone = hasMicrophone,
                askMicrophone = askMicrophone,
            )
        }
        composable(Routes.RECORDING, idArgument) { entry ->
            val id = entry.arguments?.getString("id").orEmpty()
            RecordingScreen(id, finished = { nav.navigate(Routes.review(id)) { popUpTo(Routes.STORIES) } })
        }
        composable(Routes.REVIEW, idArgument) { entry ->
            ReviewScreen(
                entry.arguments?.getString("id").orEmpty(),
                done = { nav.popBackStack(Routes.STORIES, inclusive = false) },
                back = { nav.popBackStack(Routes.STORIES, inclusive = false) },
            )
        }
    }
}
