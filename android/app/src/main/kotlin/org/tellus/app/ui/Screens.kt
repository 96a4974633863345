package org.tellus.app.ui

import android.content.Context
import android.content.Intent
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
import androidx.compose.material3.CircularProgressIndicator
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
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.res.stringResource
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import com.google.mlkit.vision.codescanner.GmsBarcodeScanning
import org.tellus.app.R
import org.tellus.app.RecordingService
import org.tellus.presentation.DeliveryUi
import org.tellus.presentation.EnrolProblem
import org.tellus.presentation.EnrolUi
import org.tellus.presentation.ReceiptText
import org.tellus.presentation.RecordingPhase
import java.text.DateFormat
import java.util.Date

// Every screen is a thin view over a ViewModel (ViewModels.kt) that holds a presentation-
// layer model; every word comes from the string resources (values, values-es).

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
private fun Loading(title: String) = Page(title) { CircularProgressIndicator() }

@Composable
fun StartScreen(decided: (enrolled: Boolean) -> Unit) {
    val vm: StartViewModel = viewModel(factory = StartViewModel.Factory)
    val enrolled by vm.enrolled.collectAsStateWithLifecycle()
    LaunchedEffect(enrolled) { enrolled?.let(decided) }
    Loading(stringResource(R.string.app_name))
}

@Composable
fun EnrolScreen(done: () -> Unit) {
    val vm: EnrolViewModel = viewModel(factory = EnrolViewModel.Factory)
    val ui by vm.enrol.state.collectAsStateWithLifecycle()
    val context = LocalContext.current
    var server by rememberSaveable { mutableStateOf("https://") }
    // The invite code is not saved across process death: typed or scanned again.
    var code by remember { mutableStateOf("") }
    LaunchedEffect(ui) { if (ui is EnrolUi.Enrolled) done() }
    Page(stringResource(R.string.enrol_title)) {
        Text(stringResource(R.string.enrol_explain))
        OutlinedTextField(server, { server = it }, label = { Text(stringResource(R.string.enrol_server)) }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(code, { code = it }, label = { Text(stringResource(R.string.enrol_code)) }, modifier = Modifier.fillMaxWidth())
        OutlinedButton(onClick = {
            GmsBarcodeScanning.getClient(context).startScan().addOnSuccessListener { code = it.rawValue.orEmpty() }
        }) { Text(stringResource(R.string.enrol_scan)) }
        Button(enabled = ui != EnrolUi.Working, onClick = { vm.submit(server, code) }) { Text(stringResource(R.string.enrol_join)) }
        (ui as? EnrolUi.Failed)?.let { Text(enrolProblem(it), color = MaterialTheme.colorScheme.error) }
    }
}

@Composable
private fun enrolProblem(failed: EnrolUi.Failed): String = when (failed.problem) {
    EnrolProblem.NotACode -> stringResource(R.string.enrol_not_a_code)
    EnrolProblem.NotAnAddress -> stringResource(R.string.enrol_not_an_address)
    EnrolProblem.Refused -> stringResource(R.string.enrol_refused, failed.detail.orEmpty())
    EnrolProblem.NotTrusted -> stringResource(R.string.enrol_not_trusted, failed.detail.orEmpty())
    EnrolProblem.Unreachable -> stringResource(R.string.enrol_unreachable)
    EnrolProblem.Locked -> stringResource(R.string.enrol_locked)
}

@Composable
fun StoriesScreen(open: (String) -> Unit, newStory: () -> Unit, settings: () -> Unit) {
    val vm: StoriesViewModel = viewModel(factory = StoriesViewModel.Factory)
    val rows by vm.list.rows.collectAsStateWithLifecycle()
    val loaded by vm.list.loaded.collectAsStateWithLifecycle()
    Page(stringResource(R.string.stories_title)) {
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            Button(onClick = newStory) { Text(stringResource(R.string.stories_new)) }
            OutlinedButton(onClick = settings) { Text(stringResource(R.string.stories_settings)) }
        }
        when {
            !loaded -> CircularProgressIndicator()
            rows.isEmpty() -> Text(stringResource(R.string.stories_none))
            else -> LazyColumn {
                items(rows, key = { it.id }) { row ->
                    ListItem(
                        headlineContent = { Text(row.title.ifBlank { stringResource(R.string.untitled_story) }) },
                        supportingContent = {
                            Column {
                                Text(row.storyteller)
                                DeliveryLine(row.delivery)
                            }
                        },
                        modifier = Modifier.padding(vertical = 2.dp),
                        trailingContent = { TextButton(onClick = { open(row.id) }) { Text(stringResource(R.string.stories_open)) } },
                    )
                }
            }
        }
    }
}

/** The core's delivery-state code in the reporter's words. */
@Composable
private fun deliveryText(delivery: DeliveryUi): String = when (delivery) {
    DeliveryUi.OnlyOnThisPhone -> stringResource(R.string.delivery_only_on_phone)
    is DeliveryUi.Uploading -> stringResource(R.string.delivery_uploading, delivery.percent)
    is DeliveryUi.WaitingForConnection -> stringResource(R.string.delivery_waiting_for_connection, delivery.percent)
    is DeliveryUi.WaitingForWifi -> stringResource(R.string.delivery_waiting_for_wifi, delivery.percent)
    is DeliveryUi.WaitingToRetry -> stringResource(
        R.string.delivery_waiting_to_retry,
        delivery.percent,
        DateFormat.getTimeInstance(DateFormat.SHORT).format(Date(delivery.retryAtMs)),
        delivery.reason,
    )
    is DeliveryUi.Cancelled -> stringResource(R.string.delivery_cancelled, delivery.percent)
    is DeliveryUi.Delivered -> stringResource(
        if (delivery.localAudioRemoved) R.string.delivery_delivered_removed else R.string.delivery_delivered,
    )
    is DeliveryUi.NeedsAttention -> stringResource(R.string.delivery_needs_attention, delivery.reason)
    is DeliveryUi.Withdrawn -> stringResource(
        if (delivery.propagated) R.string.delivery_withdrawn else R.string.delivery_withdrawn_pending,
    )
}

@Composable
private fun DeliveryLine(delivery: DeliveryUi) {
    val color = if (delivery is DeliveryUi.NeedsAttention) MaterialTheme.colorScheme.error else MaterialTheme.colorScheme.onSurfaceVariant
    Text(deliveryText(delivery), color = color)
    if (delivery is DeliveryUi.Uploading) {
        LinearProgressIndicator(progress = { delivery.percent / 100f }, modifier = Modifier.fillMaxWidth())
    }
}

@Composable
fun StoryScreen(storyId: String, back: () -> Unit) {
    // Its own list model (this back stack entry's): the delivery line comes from the same
    // batched page as the list's, never from a call per story.
    val stories: StoriesViewModel = viewModel(factory = StoriesViewModel.Factory)
    val vm: StoryViewModel = viewModel(key = "story-$storyId", factory = StoryViewModel.factory(storyId))
    val rows by stories.list.rows.collectAsStateWithLifecycle()
    val story by vm.story.collectAsStateWithLifecycle()
    val receipt by vm.receipt.collectAsStateWithLifecycle()
    var confirm by rememberSaveable { mutableStateOf(false) }
    var eraseAudio by rememberSaveable { mutableStateOf(true) }
    val context = LocalContext.current
    val shareTitle = stringResource(R.string.receipt_share_title)
    LaunchedEffect(receipt) {
        receipt?.onSuccess { shareReceipt(context, shareTitle, it); vm.receiptShown() }
    }
    val shown = story ?: return Loading(stringResource(R.string.loading))
    Page(shown.title.ifBlank { stringResource(R.string.untitled_story) }, back = back) {
        Text(shown.summary)
        rows.firstOrNull { it.id == storyId }?.let { DeliveryLine(it.delivery) }
        OutlinedButton(onClick = vm::shareReceipt) { Text(stringResource(R.string.receipt_share)) }
        // The core's reason there is no receipt (consent withdrawn, code no longer kept).
        receipt?.exceptionOrNull()?.let { Text(it.message.orEmpty(), color = MaterialTheme.colorScheme.error) }
        OutlinedButton(onClick = { confirm = true }) { Text(stringResource(R.string.story_withdraws)) }
    }
    if (confirm) {
        AlertDialog(
            onDismissRequest = { confirm = false },
            title = { Text(stringResource(R.string.withdraw_title)) },
            text = {
                Column {
                    Text(stringResource(R.string.withdraw_explain))
                    Row { Checkbox(eraseAudio, { eraseAudio = it }); Text(stringResource(R.string.withdraw_erase_audio)) }
                }
            },
            confirmButton = {
                Button(onClick = {
                    stories.withdraw(storyId, eraseAudio)
                    confirm = false
                }) { Text(stringResource(R.string.withdraw_confirm)) }
            },
            dismissButton = { TextButton(onClick = { confirm = false }) { Text(stringResource(R.string.withdraw_keep)) } },
        )
    }
}

/**
 * The platform's share sheet with the receipt the core made: plain text for messages, the
 * printable page (with the portal link as a QR code) as HTML for mail and print apps.
 */
private fun shareReceipt(context: Context, title: String, receipt: ReceiptText) {
    val send = Intent(Intent.ACTION_SEND).apply {
        type = "text/html"
        putExtra(Intent.EXTRA_SUBJECT, title)
        putExtra(Intent.EXTRA_TEXT, receipt.text)
        putExtra(Intent.EXTRA_HTML_TEXT, receipt.html)
    }
    context.startActivity(Intent.createChooser(send, title))
}

@Composable
fun NewStoryScreen(created: (String) -> Unit, back: () -> Unit) {
    val vm: NewStoryViewModel = viewModel(factory = NewStoryViewModel.Factory)
    val id by vm.created.collectAsStateWithLifecycle()
    LaunchedEffect(id) { id?.let(created) }
    var title by rememberSaveable { mutableStateOf("") }
    var label by rememberSaveable { mutableStateOf("") }
    Page(stringResource(R.string.new_story_title), back = back) {
        // The core requires a title: a working one, changed on the review screen.
        OutlinedTextField(title, { title = it }, label = { Text(stringResource(R.string.new_story_working_title)) }, modifier = Modifier.fillMaxWidth())
        Text(stringResource(R.string.new_story_explain))
        OutlinedTextField(label, { label = it }, label = { Text(stringResource(R.string.new_story_label)) }, modifier = Modifier.fillMaxWidth())
        Button(enabled = title.isNotBlank() && label.isNotBlank() && id == null, onClick = { vm.create(title.trim(), label.trim()) }) {
            Text(stringResource(R.string.new_story_consent))
        }
    }
}

@Composable
fun ConsentScreen(
    storyId: String,
    recording: () -> Unit,
    back: () -> Unit,
    hasMicrophone: () -> Boolean,
    askMicrophone: (then: () -> Unit) -> Unit,
) {
    val vm: ConsentViewModel = viewModel(key = "consent-$storyId", factory = ConsentViewModel.factory(storyId))
    val form by vm.form.collectAsStateWithLifecycle()
    val submitted by vm.submitted.collectAsStateWithLifecycle()
    val holder = form ?: return Loading(stringResource(R.string.consent_title))
    val state by holder.state.collectAsStateWithLifecycle()
    val ui = state ?: return Loading(stringResource(R.string.consent_title))
    val context = LocalContext.current
    var explainMicrophone by rememberSaveable { mutableStateOf(false) }
    val startRecording = {
        RecordingService.start(context, storyId)
        recording()
    }
    LaunchedEffect(submitted) {
        if (submitted) {
            if (hasMicrophone()) startRecording() else explainMicrophone = true
        }
    }
    Page(stringResource(R.string.consent_title), back = back) {
        // The form's own words are the project's, in the storyteller's language.
        if (ui.current == 0) Text(ui.intro)
        val item = ui.items[ui.current]
        Text(stringResource(R.string.consent_position, ui.current + 1, ui.items.size), style = MaterialTheme.typography.labelMedium)
        Text(item.label, style = MaterialTheme.typography.titleMedium)
        Row {
            Checkbox(item.granted, { holder.setGranted(item.key, it) })
            Text(stringResource(if (item.required) R.string.consent_agreed_needed else R.string.consent_agreed))
        }
        // The core says which items ask a name or contact details.
        if (item.asksName && item.granted) {
            OutlinedTextField(ui.name, holder::setName, label = { Text(stringResource(R.string.consent_name)) })
        }
        if (item.asksContact && item.granted) {
            OutlinedTextField(ui.contact, holder::setContact, label = { Text(stringResource(R.string.consent_contact)) })
        }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            OutlinedButton(enabled = ui.current > 0, onClick = holder::previous) { Text(stringResource(R.string.back)) }
            if (!ui.onLastItem) Button(onClick = holder::next) { Text(stringResource(R.string.next)) }
        }
        if (ui.onLastItem) {
            // The core's consent check says why, in its words.
            ui.blocker?.let { Text(it, color = MaterialTheme.colorScheme.error) }
            Button(enabled = ui.canContinue && !submitted, onClick = vm::submit) {
                Text(stringResource(R.string.consent_start_recording))
            }
        }
    }
    if (explainMicrophone) {
        AlertDialog(
            onDismissRequest = { explainMicrophone = false },
            title = { Text(stringResource(R.string.microphone_title)) },
            text = { Text(stringResource(R.string.microphone_explain)) },
            confirmButton = {
                Button(onClick = { explainMicrophone = false; askMicrophone { startRecording() } }) {
                    Text(stringResource(R.string.continue_))
                }
            },
            dismissButton = { TextButton(onClick = { explainMicrophone = false }) { Text(stringResource(R.string.not_now)) } },
        )
    }
}

@Composable
fun RecordingScreen(storyId: String, finished: () -> Unit) {
    val recording by RecordingService.recording.collectAsStateWithLifecycle()
    val state = recording?.takeIf { it.storyId == storyId } ?: run {
        Page(stringResource(R.string.recording_title)) { Text(stringResource(R.string.recording_starting)) }
        return
    }
    val ui by state.state.collectAsStateWithLifecycle()
    val context = LocalContext.current
    var note by rememberSaveable { mutableStateOf("") }
    LaunchedEffect(ui.phase) { if (ui.phase == RecordingPhase.Finished) finished() }
    Page(stringResource(R.string.recording_title)) {
        Text(ui.elapsedText, style = MaterialTheme.typography.displayMedium)
        LinearProgressIndicator(progress = { ui.level }, modifier = Modifier.fillMaxWidth())
        if (ui.interrupted) Text(stringResource(R.string.recording_interrupted))
        ui.error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            if (ui.phase == RecordingPhase.Paused) {
                Button(onClick = { state.perform { resume() } }) { Text(stringResource(R.string.recording_resume)) }
            } else {
                Button(onClick = { state.perform { pause() } }) { Text(stringResource(R.string.recording_pause)) }
            }
            OutlinedButton(onClick = { state.perform { addMarker() } }) { Text(stringResource(R.string.recording_marker)) }
            OutlinedButton(onClick = { RecordingService.stop(context) }) { Text(stringResource(R.string.recording_stop)) }
        }
        if (ui.questions.isNotEmpty()) {
            val pager = rememberPagerState(ui.questionIndex) { ui.questions.size }
            LaunchedEffect(pager.currentPage) { state.showQuestion(pager.currentPage) }
            HorizontalPager(pager) { page ->
                val question = ui.questions[page]
                Column {
                    Text(question.text, style = MaterialTheme.typography.titleMedium)
                    val asked = question.id in ui.askedQuestionIds
                    TextButton(enabled = !asked, onClick = { state.perform { askCurrentQuestion() } }) {
                        Text(stringResource(if (asked) R.string.recording_asked else R.string.recording_asking))
                    }
                }
            }
        }
        OutlinedTextField(note, { note = it }, label = { Text(stringResource(R.string.recording_note)) }, modifier = Modifier.fillMaxWidth())
        Button(enabled = note.isNotBlank(), onClick = {
            val text = note
            note = ""
            state.perform { addNote(text) }
        }) { Text(stringResource(R.string.recording_add_note)) }
        val markerWord = stringResource(R.string.recording_marker)
        LazyColumn {
            items(ui.marks, key = { it.id }) { mark ->
                Text("${mark.atText}  ${mark.text.ifBlank { if (mark.isMarker) markerWord else "" }}")
            }
        }
    }
}

@Composable
fun ReviewScreen(storyId: String, done: () -> Unit, back: () -> Unit) {
    val vm: StoryViewModel = viewModel(key = "review-$storyId", factory = StoryViewModel.factory(storyId))
    val story by vm.story.collectAsStateWithLifecycle()
    val projectTags by vm.projectTags.collectAsStateWithLifecycle()
    val ready by vm.ready.collectAsStateWithLifecycle()
    val loaded = story ?: return Loading(stringResource(R.string.review_title))
    var title by rememberSaveable { mutableStateOf(loaded.title) }
    var summary by rememberSaveable { mutableStateOf(loaded.summary) }
    var tags by rememberSaveable { mutableStateOf(loaded.tags.toSet()) }
    LaunchedEffect(ready) { if (ready?.isSuccess == true) done() }
    Page(stringResource(R.string.review_title), back = back) {
        OutlinedTextField(title, { title = it }, label = { Text(stringResource(R.string.review_story_title)) }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(summary, { summary = it }, label = { Text(stringResource(R.string.review_summary)) }, modifier = Modifier.fillMaxWidth(), minLines = 3)
        Text(stringResource(R.string.review_themes))
        for (tag in projectTags) {
            Row { Checkbox(tag in tags, { tags = if (it) tags + tag else tags - tag }); Text(tag) }
        }
        if (ready?.isFailure == true) Text(stringResource(R.string.review_consent_missing), color = MaterialTheme.colorScheme.error)
        Spacer(Modifier.padding(4.dp))
        Button(enabled = title.isNotBlank(), onClick = { vm.markReady(title, summary, tags.toList()) }) {
            Text(stringResource(R.string.review_ready))
        }
    }
}

@Composable
fun SettingsScreen(back: () -> Unit) {
    val vm: SettingsViewModel = viewModel(factory = SettingsViewModel.Factory)
    val state by vm.state.collectAsStateWithLifecycle()
    val (wifiOnly, removeAfter) = state ?: return Loading(stringResource(R.string.settings_title))
    Page(stringResource(R.string.settings_title), back = back) {
        Row {
            Text(stringResource(R.string.settings_wifi_only), Modifier.weight(1f))
            Switch(wifiOnly, { vm.setAudioOnWifiOnly(it) })
        }
        Row {
            Text(stringResource(R.string.settings_remove_after), Modifier.weight(1f))
            Switch(removeAfter, { vm.setRemoveAfterDelivery(it) })
        }
    }
}
