package org.tellus.presentation

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.isActive
import kotlinx.coroutines.launch
import org.tellus.core.FinishedRecordingView
import org.tellus.core.NoteKindView
import org.tellus.core.NoteView
import org.tellus.core.QuestionView
import org.tellus.core.RecorderSession
import org.tellus.core.RecordingRequest
import org.tellus.core.TellusAppInterface
import org.tellus.core.formatAudioPosition

enum class RecordingPhase { NotStarted, Recording, Paused, Finished }

/** A marker or note on the recording screen's timeline, at its audio position. */
data class TimelineMark(
    val id: String,
    val atMs: Long,
    val text: String,
    val questionId: String?,
    val isMarker: Boolean,
    /** `atMs` as a clock shows it (the core's one format). */
    val atText: String,
)

data class RecordingUi(
    val phase: RecordingPhase = RecordingPhase.NotStarted,
    /** The audio captured so far; paused time does not count. */
    val elapsedMs: Long = 0,
    /** `elapsedMs` as a clock shows it (the core's one format, read off the main thread). */
    val elapsedText: String = "0:00",
    /** The meter, 0..1, from the last ~50 ms of audio (peak dBFS over a 60 dB range). */
    val level: Float = 0f,
    val marks: List<TimelineMark> = emptyList(),
    val questions: List<QuestionView> = emptyList(),
    /** The guide question on screen; swiping moves it, asking it marks its position. */
    val questionIndex: Int = 0,
    val askedQuestionIds: Set<String> = emptySet(),
    /** Paused by the phone (a call, another app took the microphone): offer resume. */
    val interrupted: Boolean = false,
    val framesDropped: Long = 0,
    /** Why the recording ended, in the reporter's words, once it has. */
    val endedBecause: String? = null,
    val error: String? = null,
)

/**
 * The recording screen over a core recorder session. The session lives as long as the
 * recording (the Android foreground service owns this object), so the screen can go away
 * and come back. The state is refreshed from the session's statistics every `refreshMs`
 * on `scope`; markers and notes go to the core at the audio position it reports. The
 * service gives it a scope on the IO dispatcher, and the screen's buttons go through
 * `perform`, so no call into the core runs on the main thread.
 */
class RecordingState(
    private val app: TellusAppInterface,
    val storyId: String,
    questions: List<QuestionView>,
    private val scope: CoroutineScope,
    private val refreshMs: Long = 100,
) {
    private val _state = MutableStateFlow(RecordingUi(questions = questions))
    val state: StateFlow<RecordingUi> = _state.asStateFlow()
    private var session: RecorderSession? = null
    private var ticker: Job? = null
    private var finished: FinishedRecordingView? = null

    /** Runs a button's action (pause, marker, note, …) on this holder's scope, off the main thread. */
    fun perform(action: RecordingState.() -> Unit) {
        scope.launch { action() }
    }

    /** Opens the microphone and starts recording; the Audio error (no microphone) is shown. */
    @Synchronized
    fun start(request: RecordingRequest = RecordingRequest(null, false, null, null)): Boolean {
        if (session != null) return true
        val started = guard { app.startRecording(storyId, request) } ?: return false
        session = started
        _state.update { it.copy(phase = RecordingPhase.Recording, error = null) }
        ticker = scope.launch {
            while (isActive) {
                refresh()
                delay(refreshMs)
            }
        }
        return true
    }

    /** Pauses into the core; `interrupted` when the phone did it (audio focus lost, a call). */
    @Synchronized
    fun pause(interrupted: Boolean = false) {
        val s = session ?: return
        if (_state.value.phase != RecordingPhase.Recording) return
        guard { s.pause() } ?: return
        _state.update { it.copy(phase = RecordingPhase.Paused, interrupted = interrupted) }
        refresh()
    }

    @Synchronized
    fun resume() {
        val s = session ?: return
        if (_state.value.phase != RecordingPhase.Paused) return
        guard { s.resume() } ?: return
        _state.update { it.copy(phase = RecordingPhase.Recording, interrupted = false) }
        refresh()
    }

    /** A marker at the current audio position. */
    fun addMarker(label: String = ""): TimelineMark? = mark { it.addMarker(label, null) }

    /** A note at the current audio position. */
    fun addNote(text: String): TimelineMark? = if (text.isBlank()) null else mark { it.addNote(text.trim()) }

    fun showQuestion(index: Int) = _state.update {
        it.copy(questionIndex = index.coerceIn(0, (it.questions.size - 1).coerceAtLeast(0)))
    }
    fun nextQuestion() = showQuestion(_state.value.questionIndex + 1)
    fun previousQuestion() = showQuestion(_state.value.questionIndex - 1)

    /** The reporter asks the question on screen: a marker for it at the current position. */
    fun askCurrentQuestion(): TimelineMark? {
        val question = _state.value.questions.getOrNull(_state.value.questionIndex) ?: return null
        val mark = mark { it.addMarker("", question.id) } ?: return null
        _state.update { it.copy(askedQuestionIds = it.askedQuestionIds + question.id) }
        return mark
    }

    /** Stops and keeps the recording; safe to call again (returns the same recording). */
    @Synchronized
    fun stop(): FinishedRecordingView? {
        finished?.let { return it }
        val s = session ?: return null
        ticker?.cancel()
        val done = guard { s.stop() } ?: return null
        finished = done
        s.close()
        _state.update {
            it.copy(
                phase = RecordingPhase.Finished,
                elapsedMs = done.durationMs.toLong(),
                elapsedText = formatAudioPosition(done.durationMs),
                level = 0f,
                interrupted = false,
                framesDropped = done.framesDropped.toLong(),
                endedBecause = done.reasonMessage,
            )
        }
        return done
    }

    /** Reads the session's statistics into the state; a session that ended by itself is finished. */
    @Synchronized
    fun refresh() {
        val s = session ?: return
        if (finished != null) return
        val stats = s.stats()
        if (stats.stopped != null) {
            stop()
            return
        }
        _state.update {
            it.copy(
                elapsedMs = stats.positionMs.toLong(),
                elapsedText = formatAudioPosition(stats.positionMs),
                level = stats.level?.let { l -> meter(l.peakDbfs) } ?: 0f,
                framesDropped = stats.framesDropped.toLong(),
            )
        }
    }

    @Synchronized
    private fun mark(add: (RecorderSession) -> NoteView): TimelineMark? {
        val s = session ?: return null
        if (finished != null) return null
        val note = guard { add(s) } ?: return null
        val mark = note.toMark()
        _state.update { it.copy(marks = (it.marks + mark).sortedBy { m -> m.atMs }) }
        return mark
    }

    private fun <T> guard(body: () -> T): T? = try {
        body()
    } catch (e: org.tellus.core.TellusException) {
        _state.update { it.copy(error = e.message) }
        null
    }

    companion object {
        fun meter(peakDbfs: Float): Float = ((peakDbfs + 60f) / 60f).coerceIn(0f, 1f)
    }
}

internal fun NoteView.toMark() = TimelineMark(
    id = id,
    atMs = (atMs ?: 0UL).toLong(),
    text = text,
    questionId = questionId,
    isMarker = kind == NoteKindView.MARKER,
    atText = formatAudioPosition(atMs ?: 0UL),
)
