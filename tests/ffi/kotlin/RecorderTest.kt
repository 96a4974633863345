// Recording through the real tellus-ffi library from Kotlin on the JVM, from the
// file-backed test microphone that tests/ffi/run.sh makes ALSA's default input device.
// That microphone is not paced (it delivers frames as fast as they are read), so every
// recording here asks for a length and stops on that frame count.

import org.tellus.core.*
import java.io.File
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

private val speech = File(System.getenv("TELLUS_MIC_INFILE") ?: error("TELLUS_MIC_INFILE is not set"))
private val rate = (System.getenv("TELLUS_MIC_RATE") ?: "16000").toInt()

private fun request(maxMs: Long?, device: String? = null) =
    // The input file is at `rate`; asking for it makes the plug device pass samples through unconverted.
    RecordingRequest(device = device, stereo = false, sampleRate = rate.toUInt(), maxDurationMs = maxMs?.toULong())

/** The bytes of a WAV file's `data` chunk. */
private fun wavData(file: File): ByteArray {
    val bytes = file.readBytes()
    fun u32(at: Int) = (0 until 4).sumOf { (bytes[at + it].toLong() and 0xff) shl (8 * it) }
    var at = 12 // after "RIFF", the size and "WAVE"
    while (at + 8 <= bytes.size) {
        val id = String(bytes, at, 4, Charsets.US_ASCII)
        val size = u32(at + 4).toInt()
        if (id == "data") return bytes.copyOfRange(at + 8, at + 8 + size)
        at += 8 + size + (size and 1)
    }
    throw AssertionError("no data chunk in $file")
}

fun recorderTests() {
    check("records the microphone bit-exact, with a marker at the audio position") {
        freshApp().use { app ->
            val story = app.createStory("Recorded from Kotlin", "Participant 2")
            app.startRecording(story.id, request(3_000)).use { session ->
                expect(session.sampleRate() == rate.toUInt() && session.channels() == 1.toUShort()) {
                    "${session.sampleRate()} Hz, ${session.channels()} ch"
                }
                session.addMarker("Question 1", "q1")
                waitUntil { session.hasStopped() }
                val done = session.stop()
                expect(done.reason == StopReasonView.DURATION_REACHED) { "${done.reason}" }
                expect(done.frames == (3L * rate).toULong() && done.framesDropped == 0UL) { "$done" }
                val file = File(done.path)
                expect(sha256(file) == done.sha256) { "the file does not hash to its index" }
                val captured = wavData(file)
                val input = speech.readBytes().copyOf(captured.size)
                expect(captured.contentEquals(input)) { "the captured audio differs from the input" }
                val indexed = app.recordings(story.id).single()
                expect(indexed.id == done.recordingId && indexed.durationMs == 3_000UL) { "$indexed" }
                expect(session.stats().stopped == StopReasonView.DURATION_REACHED) { "${session.stats()}" }
                val marker = app.notes(story.id).single()
                expect(marker.kind == NoteKindView.MARKER && marker.questionId == "q1") { "$marker" }
            }
        }
    }

    check("prepareAudio makes a verified FLAC and a listening copy; keepWav keeps the WAV") {
        freshApp().use { app ->
            app.setSyncSettings(app.syncSettings().copy(keepWav = true))
            val story = app.createStory("Kept as recorded", "Participant 3")
            val done = app.startRecording(story.id, request(2_000)).use { session ->
                waitUntil { session.hasStopped() }
                session.stop()
            }
            val prepared = app.prepareAudio()
            expect(prepared.filesMade == 2u && prepared.wavsRemoved == 0u && prepared.failures.isEmpty()) { "$prepared" }
            val files = app.recordings(story.id).single().files.associateBy { it.representation }
            expect(files.keys == setOf("recorded", "lossless", "listening")) { "${files.keys}" }
            expect(files["lossless"]!!.format == "flac" && files["listening"]!!.format == "opus") { "$files" }
            expect(files["listening"]!!.bytes < files["recorded"]!!.bytes / 10uL) { "$files" }
            expect(File(done.path).exists()) { "keepWav keeps the WAV" }
            try {
                app.freeLossless(story.id)
                throw AssertionError("freeing an undelivered lossless copy was allowed")
            } catch (e: TellusException.InvalidInput) {
            }
        }
    }

    check("a level observer that sleeps does not cost a single frame (real-time microphone)") {
        freshApp().use { app ->
            val story = app.createStory("Slow meter", "Participant 3")
            val calls = AtomicInteger(0)
            val first = CountDownLatch(1)
            var callerThread: Thread? = null
            app.startRecording(story.id, request(14_000, "tellus_pulse_mic")).use { session ->
                val handle = session.observeLevels(object : LevelObserver {
                    override fun levelChanged(level: LevelView) {
                        callerThread = Thread.currentThread()
                        calls.incrementAndGet()
                        first.countDown()
                        Thread.sleep(2_000) // a UI thread that is far too busy
                    }
                })
                // Speak into the microphone once it is listening.
                val player = ProcessBuilder(
                    "paplay", "--server=" + System.getenv("TELLUS_PULSE_SERVER"), "--device=tellus_sink",
                    System.getenv("TELLUS_SPEECH_WAV"),
                ).redirectErrorStream(true).start()
                try {
                    expect(first.await(30, TimeUnit.SECONDS)) { "no level arrived" }
                    waitUntil(60) { session.hasStopped() }
                } finally {
                    player.destroy()
                }
                val done = session.stop()
                handle.close()
                // 14 s of real time is more than the 10 s ring between the microphone and the
                // writer: had the meter (asleep 2 s per call) held the writer up, frames would
                // have been dropped. It saw a few of the 280 windows: coalesced, not queued.
                expect(done.frames == (14L * rate).toULong() && done.framesDropped == 0UL) { "$done" }
                expect(calls.get() in 1..10) { "${calls.get()} level calls" }
                expect(callerThread != null && callerThread != Thread.currentThread()) { "called on $callerThread" }
            }
        }
    }

    check("audio errors arrive typed, and a failed start leaves nothing behind") {
        freshApp().use { app ->
            val story = app.createStory("No such microphone", "Participant 4")
            expectThrows<TellusException.Audio> { app.startRecording(story.id, request(null, "no-such-microphone")) }
            expect(app.recordings(story.id).isEmpty()) { "a recording was indexed" }
            expectThrows<TellusException.NotFound> {
                app.startRecording("01936f5e-0000-7000-8000-000000000000", request(500))
            }
            app.startRecording(story.id, request(500)).use { session ->
                waitUntil { session.hasStopped() }
                session.stop()
                expectThrows<TellusException.Audio> { session.pause() }
            }
        }
    }

    check("sample rates Tellus does not record are input errors that create nothing") {
        val data = java.nio.file.Files.createTempDirectory("tellus-kt-rates").toFile()
        TellusApp.open(data.path).use { app ->
            app.setProjectJson(sampleProjectJson())
            val story = app.createStory("Odd rates", "Participant 5")
            // 2^31 Hz once asked for a 40 GiB buffer and aborted the JVM; 2^32-1 Hz
            // overflowed inside the WAV writer and left a file that was never recovered.
            for (hz in listOf(2_147_483_648UL, 4_294_967_295UL, 12_345UL, 7UL, 0UL)) {
                expectThrows<TellusException.InvalidInput> {
                    app.startRecording(story.id, RecordingRequest(null, false, hz.toUInt(), 1_000UL))
                }
            }
            expect(app.recordings(story.id).isEmpty()) { "a recording was indexed" }
            val left = File(data, "recordings").list()?.toList() ?: emptyList()
            expect(left.isEmpty()) { "files were left: $left" }
        }
    }
}
