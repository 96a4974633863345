package org.tellus.app.ui

import androidx.activity.compose.BackHandler
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.pager.HorizontalPager
import androidx.compose.foundation.pager.rememberPagerState
import androidx.compose.material3.AlertDialog
import androidx.compose.material3.Button
import androidx.compose.material3.Checkbox
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.collectAsState
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.rememberCoroutineScope
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import com.google.mlkit.vision.codescanner.GmsBarcodeScanning
import kotlinx.coroutines.launch
import org.tellus.app.DeliveryScheduler
import org.tellus.app.RecordingService
import org.tellus.app.TellusApplication
import org.tellus.presentation.DeliveryUi
import org.tellus.presentation.EnrolUi
import org.tellus.presentation.RecordingPhase

/** Every screen is a thin view over a presentation-layer state holder. */
@Composable
fun AppScreens(
    app: TellusApplication,
    route: Route,
    navigate: (Route) -> Unit,
    hasMicrophone: () -> Boolean,
    askMicrophone: (then: () -> Unit) -> Unit,
) {
    when (route) {
        Route.Enrol -> EnrolScreen(app) { navigate(Route.Stories) }
        Route.Stories -> StoriesScreen(app, navigate)
        Route.Settings -> SettingsScreen(app) { navigate(Route.Stories) }
        Route.NewStory -> NewStoryScreen(app, navigate)
        is Route.Story -> StoryScreen(app, route.id, navigate)
        is Route.Consent -> ConsentScreen(app, route.storyId, navigate, hasMicrophone, askMicrophone)
        is Route.Recording -> RecordingScreen(route.storyId, navigate)
        is Route.Review -> ReviewScreen(app, route.storyId, navigate)
    }
}

@OptIn(ExperimentalMaterial3Api::class)
@Composable
private fun Page(title: String, back: (() -> Unit)? = null, content: @Composable () -> Unit) {
    back?.let { BackHandler(onBack = it) }
    Scaffold(topBar = { TopAppBar(title = { Text(title) }) }) { padding ->
        Column(
            Modifier.padding(padding).padding(16.dp).fillMaxSize(),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) { content() }
    }
}

@Composable
private fun EnrolScreen(app: TellusApplication, done: () -> Unit) {
    val enrol = remember { app.enrolment() }
    val ui by enrol.state.collectAsStateWithLifecycle()
    val scope = rememberCoroutineScope()
    val context = LocalContext.current
    var server by rememberSaveable { mutableStateOf("https://") }
    var code by rememberSaveable { mutableStateOf("") }
    LaunchedEffect(ui) { if (ui is EnrolUi.Enrolled) done() }
    Page("Join your project") {
        Text("Type the server address and the invite code from your project lead, or scan the code.")
        OutlinedTextField(server, { server = it }, label = { Text("Server address") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(code, { code = it }, label = { Text("Invite code") }, modifier = Modifier.fillMaxWidth())
        OutlinedButton(onClick = {
            GmsBarcodeScanning.getClient(context).startScan().addOnSuccessListener { code = it.rawValue.orEmpty() }
        }) { Text("Scan the code") }
        Button(enabled = ui != EnrolUi.Working, onClick = { scope.launch { enrol.enrol(server, code) } }) { Text("Join") }
        (ui as? EnrolUi.Failed)?.let { Text(it.message, color = MaterialTheme.colorScheme.error) }
    }
}

@Composable
private fun StoriesScreen(app: TellusApplication, navigate: (Route) -> Unit) {
    val list = remember { app.storyList() }
    DisposableEffect(list) {
        list.observe()
        onDispose { list.close() }
    }
    val rows by list.rows.collectAsStateWithLifecycle()
    Page("Stories") {
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Button(onClick = { navigate(Route.NewStory) }) { Text("New story") }
            OutlinedButton(onClick = { navigate(Route.Settings) }) { Text("Settings") }
        }
        LazyColumn {
            items(rows, key = { it.id }) { row ->
                ListItem(
                    headlineContent = { Text(row.title.ifBlank { "Untitled story" }) },
                    supportingContent = {
                        Column {
                            Text(row.storyteller)
                            DeliveryLine(row.delivery)
                        }
                    },
                    modifier = Modifier.padding(vertical = 2.dp),
                    trailingContent = { TextButton(onClick = { navigate(Route.Story(row.id)) }) { Text("Open") } },
                )
            }
        }
    }
}

@Composable
private fun DeliveryLine(delivery: DeliveryUi) {
    val color = if (delivery is DeliveryUi.NeedsAttention) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurfaceVariant
    Text(delivery.label, color = color)
    if (delivery is DeliveryUi.Uploading) {
        LinearProgressIndicator(progress = { delivery.percent / 100f }, modifier = Modifier.fillMaxWidth())
    }
}

@Composable
private fun StoryScreen(app: TellusApplication, storyId: String, navigate: (Route) -> Unit) {
    val list = remember { app.storyList() }
    val review = remember { app.review(storyId) }
    val rows by list.rows.collectAsState()
    LaunchedEffect(Unit) { list.refresh() }
    var confirm by remember { mutableStateOf(false) }
    var eraseAudio by remember { mutableStateOf(true) }
    val story = remember(rows) { review.story() }
    Page(story.title.ifBlank { "Untitled story" }, back = { navigate(Route.Stories) }) {
        Text(story.summary)
        rows.firstOrNull { it.id == storyId }?.let { DeliveryLine(it.delivery) }
        OutlinedButton(onClick = { confirm = true }) { Text("The storyteller withdraws") }
    }
    if (confirm) {
        AlertDialog(
            onDismissRequest = { confirm = false },
            title = { Text("Withdraw this story?") },
            text = {
                Column {
                    Text("The project is told at the next delivery and deletes the story. This cannot be undone.")
                    Row { Checkbox(eraseAudio, { eraseAudio = it }); Text("Also delete the recording on this phone") }
                }
            },
            confirmButton = {
                Button(onClick = {
                    list.withdraw(storyId, app.reporterName, eraseAudio)
                    DeliveryScheduler.deliverSoon(app)
                    confirm = false
                }) { Text("Withdraw") }
            },
            dismissButton = { TextButton(onClick = { confirm = false }) { Text("Keep") } },
        )
    }
}

@Composable
private fun NewStoryScreen(app: TellusApplication, navigate: (Route) -> Unit) {
    var label by rememberSaveable { mutableStateOf("") }
    Page("Who is telling the story?", back = { navigate(Route.Stories) }) {
        Text("A label such as \"Participant 4\". Their name is only asked for if they want to be credited.")
        OutlinedTextField(label, { label = it }, label = { Text("Participant") }, modifier = Modifier.fillMaxWidth())
        Button(enabled = label.isNotBlank(), onClick = { navigate(Route.Consent(app.newStory(label.trim()))) }) {
            Text("Go through consent")
        }
    }
}

@Composable
private fun ConsentScreen(
    app: TellusApplication,
    storyId: String,
    navigate: (Route) -> Unit,
    hasMicrophone: () -> Boolean,
    askMicrophone: (then: () -> Unit) -> Unit,
) {
    val form = remember { app.consentForm(storyId) }
    val ui by form.state.collectAsStateWithLifecycle()
    val context = LocalContext.current
    var explainMicrophone by remember { mutableStateOf(false) }
    val startRecording = {
        RecordingService.start(context, storyId)
        navigate(Route.Recording(storyId))
    }
    Page("Consent", back = { navigate(Route.Stories) }) {
        if (ui.current == 0) Text(ui.intro)
        val item = ui.items[ui.current]
        Text("${ui.current + 1} of ${ui.items.size}", style = MaterialTheme.typography.labelMedium)
        Text(item.label, style = MaterialTheme.typography.titleMedium)
        Row { Checkbox(item.granted, { form.setGranted(item.key, it) }); Text(if (item.required) "Agreed (needed)" else "Agreed") }
        if (item.asksName && item.granted) {
            OutlinedTextField(ui.name, form::setName, label = { Text("Name to credit") })
        }
        if (item.asksContact && item.granted) {
            OutlinedTextField(ui.contact, form::setContact, label = { Text("Phone or email") })
        }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(enabled = ui.current > 0, onClick = form::previous) { Text("Back") }
            if (!ui.onLastItem) Button(onClick = form::next) { Text("Next") }
        }
        if (ui.onLastItem) {
            ui.blocker?.let { Text(it, color = MaterialTheme.colorScheme.error) }
            Button(enabled = ui.canContinue, onClick = {
                if (form.submit() != null) {
                    if (hasMicrophone()) startRecording() else explainMicrophone = true
                }
            }) { Text("Start recording") }
        }
    }
    if (explainMicrophone) {
        AlertDialog(
            onDismissRequest = { explainMicrophone = false },
            title = { Text("Recording the interview") },
            text = {
                Text(
                    "Tellus needs the microphone to record the interview, only while you record. " +
                        "It shows a notification while recording, so you can see it is on even when the screen is locked.",
                )
            },
            confirmButton = {
                Button(onClick = { explainMicrophone = false; askMicrophone { startRecording() } }) { Text("Continue") }
            },
            dismissButton = { TextButton(onClick = { explainMicrophone = false }) { Text("Not now") } },
        )
    }
}

@Composable
private fun RecordingScreen(storyId: String, navigate: (Route) -> Unit) {
    val recording by RecordingService.recording.collectAsStateWithLifecycle()
    val state = recording?.takeIf { it.storyId == storyId } ?: run {
        Page("Recording") { Text("Starting the microphone…") }
        return
    }
    val ui by state.state.collectAsStateWithLifecycle()
    val context = LocalContext.current
    var note by rememberSaveable { mutableStateOf("") }
    LaunchedEffect(ui.phase) { if (ui.phase == RecordingPhase.Finished) navigate(Route.Review(storyId)) }
    Page("Recording") {
        Text(RecordingService.formatElapsed(ui.elapsedMs), style = MaterialTheme.typography.displayMedium)
        LinearProgressIndicator(progress = { ui.level }, modifier = Modifier.fillMaxWidth())
        if (ui.interrupted) Text("Paused by the phone (a call or another app). Resume when you are ready.")
        ui.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            if (ui.phase == RecordingPhase.Paused) Button(onClick = state::resume) { Text("Resume") }
            else Button(onClick = { state.pause() }) { Text("Pause") }
            OutlinedButton(onClick = { state.addMarker() }) { Text("Marker") }
            OutlinedButton(onClick = { RecordingService.stop(context) }) { Text("Stop") }
        }
        if (ui.questions.isNotEmpty()) {
            val pager = rememberPagerState(ui.questionIndex) { ui.questions.size }
            LaunchedEffect(pager.currentPage) { state.showQuestion(pager.currentPage) }
            HorizontalPager(pager) { page ->
                val question = ui.questions[page]
                Column {
                    Text(question.text, style = MaterialTheme.typography.titleMedium)
                    val asked = question.id in ui.askedQuestionIds
                    TextButton(enabled = !asked, onClick = { state.askCurrentQuestion() }) { Text(if (asked) "Asked" else "Asking now") }
                }
            }
        }
        OutlinedTextField(note, { note = it }, label = { Text("Note at this moment") }, modifier = Modifier.fillMaxWidth())
        Button(enabled = note.isNotBlank(), onClick = { if (state.addNote(note) != null) note = "" }) { Text("Add note") }
        LazyColumn {
            items(ui.marks, key = { it.id }) { mark ->
                Text("${RecordingService.formatElapsed(mark.atMs)}  ${mark.text.ifBlank { if (mark.isMarker) "Marker" else "" }}")
            }
        }
    }
}

@Composable
private fun ReviewScreen(app: TellusApplication, storyId: String, navigate: (Route) -> Unit) {
    val review = remember { app.review(storyId) }
    val story = remember { review.story() }
    var title by rememberSaveable { mutableStateOf(story.title) }
    var summary by rememberSaveable { mutableStateOf(story.summary) }
    var tags by rememberSaveable { mutableStateOf(story.tags.toSet()) }
    var problem by remember { mutableStateOf<String?>(null) }
    Page("Review", back = { navigate(Route.Stories) }) {
        OutlinedTextField(title, { title = it }, label = { Text("Title") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(summary, { summary = it }, label = { Text("Summary") }, modifier = Modifier.fillMaxWidth(), minLines = 3)
        Text("Themes")
        for (tag in review.projectTags()) {
            Row { Checkbox(tag in tags, { tags = if (it) tags + tag else tags - tag }); Text(tag) }
        }
        problem?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Spacer(Modifier.padding(4.dp))
        Button(enabled = title.isNotBlank(), onClick = {
            review.save(title, summary, tags.toList())
            review.markReady().onSuccess {
                DeliveryScheduler.deliverSoon(app) // a story became ready
                navigate(Route.Stories)
            }.onFailure { problem = it.message }
        }) { Text("Ready to send") }
    }
}

@Composable
private fun SettingsScreen(app: TellusApplication, back: () -> Unit) {
    val settings = remember { app.settings() }
    var current by remember { mutableStateOf(settings.current()) }
    Page("Settings", back = back) {
        Row {
            Text("Send audio on Wi-Fi only", Modifier.weight(1f))
            Switch(current.audioOnUnmeteredOnly, { current = settings.setAudioOnWifiOnly(it) })
        }
        Row {
            Text("Remove audio from this phone once delivered", Modifier.weight(1f))
            Switch(current.removeLocalAudioAfterDelivery, { current = settings.setRemoveLocalAudioAfterDelivery(it) })
        }
    }
}
