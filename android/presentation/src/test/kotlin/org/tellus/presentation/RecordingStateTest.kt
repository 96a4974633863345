package org.tellus.presentation

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel
import org.tellus.core.NoteKindView

fun recordingStateTests() {
    check("the recording screen follows start, pause, resume and stop, with marks at their audio positions") {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        freshApp().use { app ->
            val story = app.createStory("Recorded on the phone", "Participant 3")
            val questions = app.project().guide
            val rec = RecordingState(app, story.id, questions, scope, refreshMs = 20)
            expect(rec.state.value.phase == RecordingPhase.NotStarted) { "${rec.state.value.phase}" }
            // The real-time test microphone (a private PulseAudio), so time passes as on a phone.
            expect(rec.start(micRequest(null, "tellus_pulse_mic"))) { "start failed: ${rec.state.value.error}" }
            expect(rec.state.value.phase == RecordingPhase.Recording) { "${rec.state.value.phase}" }
            waitUntil(what = "elapsed time to grow") { rec.state.value.elapsedMs >= 400 }
            // Speech into the microphone once capture runs (PulseAudio drops earlier audio).
            val speaker = ProcessBuilder(
                "paplay", "--server=" + System.getenv("TELLUS_PULSE_SERVER"), "--device=tellus_sink",
                System.getenv("TELLUS_SPEECH_WAV"),
            ).redirectErrorStream(true).start()
            try {
                waitUntil(what = "the level meter") { rec.state.value.level > 0f }
            } finally {
                speaker.destroy()
            }

            rec.pause(interrupted = true) // as when a phone call takes audio focus
            val pausedAt = rec.state.value.elapsedMs
            expect(rec.state.value.phase == RecordingPhase.Paused && rec.state.value.interrupted) { "${rec.state.value}" }
            val atPause = rec.addMarker("Storyteller asked to pause") ?: throw AssertionError("${rec.state.value.error}")
            rec.refresh()
            expect(rec.state.value.elapsedMs == pausedAt) { "elapsed moved while paused: $pausedAt -> ${rec.state.value.elapsedMs}" }
            expect(atPause.atMs == pausedAt) { "marker at ${atPause.atMs}, paused at $pausedAt" }

            rec.resume()
            expect(rec.state.value.phase == RecordingPhase.Recording && !rec.state.value.interrupted) { "${rec.state.value}" }
            waitUntil(what = "recording after resume") { rec.state.value.elapsedMs >= pausedAt + 300 }
            rec.nextQuestion()
            rec.nextQuestion()
            rec.previousQuestion()
            expect(rec.state.value.questionIndex == 1) { "${rec.state.value.questionIndex}" }
            val asked = rec.askCurrentQuestion() ?: throw AssertionError("${rec.state.value.error}")
            expect(asked.questionId == questions[1].id && asked.isMarker && asked.atMs > pausedAt) { "$asked" }
            expect(questions[1].id in rec.state.value.askedQuestionIds) { "${rec.state.value.askedQuestionIds}" }
            val note = rec.addNote("Mentions the receptionist by name") ?: throw AssertionError("${rec.state.value.error}")
            expect(note.atMs >= asked.atMs && !note.isMarker) { "$note after $asked" }

            val done = rec.stop() ?: throw AssertionError("${rec.state.value.error}")
            val ui = rec.state.value
            expect(ui.phase == RecordingPhase.Finished && ui.elapsedMs == done.durationMs.toLong()) { "$ui vs $done" }
            expect(done.durationMs.toLong() >= note.atMs && done.framesDropped == 0UL) { "$done" }
            expect(rec.stop() == done) { "a second stop gave another recording" }
            expect(ui.marks.map { it.atMs } == listOf(atPause.atMs, asked.atMs, note.atMs)) { "${ui.marks}" }
            // What the screen showed is what the core kept.
            val kept = app.notes(story.id).associateBy { it.id }
            for (mark in ui.marks) {
                val n = kept[mark.id] ?: throw AssertionError("mark ${mark.id} not in the core")
                expect(n.atMs?.toLong() == mark.atMs && (n.kind == NoteKindView.MARKER) == mark.isMarker) { "$n vs $mark" }
            }
            expect(app.recordings(story.id).single().id == done.recordingId) { "${app.recordings(story.id)}" }
            expect(rec.addMarker() == null) { "a marker after stop was accepted" }
        }
        scope.cancel()
    }

    check("a recording that ends by itself shows as finished with the reason") {
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        freshApp().use { app ->
            val story = app.createStory("Short", "Participant 4")
            val rec = RecordingState(app, story.id, emptyList(), scope, refreshMs = 20)
            expect(rec.start(micRequest(1_000))) { "${rec.state.value.error}" }
            waitUntil(what = "the recording to finish") { rec.state.value.phase == RecordingPhase.Finished }
            expect(rec.state.value.elapsedMs == 1_000L && !rec.state.value.endedBecause.isNullOrBlank()) { "${rec.state.value}" }
            expect(rec.askCurrentQuestion() == null) { "asked a question with no guide" }
        }
        scope.cancel()
    }
}
