"""Recording through the real tellus-ffi library from Python, from the file-backed test
microphone (tests/support/audio) that tests/ffi/run.sh makes ALSA's default device.

The test microphone is not paced: it delivers frames as fast as they are read, so every
recording here asks for a length and stops on that frame count.
"""

import hashlib
import os
import tempfile
import threading
import unittest
import wave

import tellus_ffi as tellus
from helpers import wait_until

SPEECH = os.environ["TELLUS_MIC_INFILE"]
RATE = int(os.environ.get("TELLUS_MIC_RATE", "16000"))


def fresh_story(with_dir=False):
    data = tempfile.mkdtemp(prefix="tellus-py-rec-")
    app = tellus.TellusApp.open(data)
    app.set_project_json(tellus.sample_project_json())
    story = app.create_story("Recorded from Python", "Participant 1")
    return (app, story, data) if with_dir else (app, story)


class Recorder(unittest.TestCase):
    def test_records_the_microphone_bit_exact_with_markers(self):
        app, story = fresh_story()
        session = app.start_recording(
            story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=3000)
        )
        self.assertEqual((session.sample_rate(), session.channels()), (RATE, 1))
        session.add_marker("Start", "q1")
        wait_until(session.has_stopped)
        done = session.stop()
        self.assertEqual(done.reason, tellus.StopReasonView.DURATION_REACHED)
        self.assertEqual(done.frames, 3 * RATE)
        self.assertEqual(done.frames_dropped, 0)
        with open(done.path, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).hexdigest(), done.sha256)
        with wave.open(done.path) as w:
            captured = w.readframes(w.getnframes())
        with open(SPEECH, "rb") as f:
            self.assertEqual(captured, f.read(len(captured)), "captured audio differs from the input")
        [indexed] = app.recordings(story.id)
        self.assertEqual((indexed.id, indexed.sha256, indexed.duration_ms), (done.recording_id, done.sha256, 3000))
        [marker] = app.notes(story.id)
        self.assertEqual((marker.kind, marker.question_id), (tellus.NoteKindView.MARKER, "q1"))

    def test_prepare_audio_makes_a_verified_flac_and_a_listening_copy_then_the_wav_goes(self):
        app, story, data = fresh_story(with_dir=True)
        self.assertFalse(app.sync_settings().keep_wav, "FLAC only by default")
        session = app.start_recording(
            story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=2000)
        )
        wait_until(session.has_stopped)
        done = session.stop()
        self.assertEqual([f.representation for f in app.recordings(story.id)[0].files], ["recorded"])
        prepared = app.prepare_audio()
        self.assertEqual((prepared.files_made, prepared.wavs_removed, prepared.failures), (2, 1, []))
        [indexed] = app.recordings(story.id)
        files = {f.representation: f for f in indexed.files}
        self.assertEqual(sorted(files), ["listening", "lossless"])
        self.assertEqual((files["lossless"].format, files["listening"].format), ("flac", "opus"))
        self.assertTrue(all(f.on_this_phone and not f.delivered for f in files.values()))
        self.assertTrue(all(os.path.exists(f.path) for f in files.values()))
        # The identity is the recorded samples' SHA-256 (the WAV's data chunk).
        with open(SPEECH, "rb") as f:
            pcm = f.read(2 * 2 * RATE)
        self.assertEqual(indexed.pcm_sha256, hashlib.sha256(pcm).hexdigest())
        self.assertFalse(os.path.exists(done.path), "the WAV went after its FLAC was recorded")
        self.assertEqual(app.prepare_audio().files_made, 0, "nothing left to make")
        # The sample project keeps lossless copies: freeing them is refused, typed.
        with self.assertRaises(tellus.TellusError.InvalidInput):
            app.free_lossless(story.id)

    def test_levels_reach_an_observer_until_its_handle_is_cancelled(self):
        app, story = fresh_story()
        got = threading.Event()
        levels = []

        class Meter(tellus.LevelObserver):
            def level_changed(self, level):
                levels.append(level)
                got.set()

        session = app.start_recording(
            story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=2000)
        )
        handle = session.observe_levels(Meter())
        self.assertTrue(got.wait(30), "no level arrived")
        handle.cancel()
        seen = len(levels)
        wait_until(session.has_stopped)
        session.stop()
        self.assertEqual(len(levels), seen, "a level arrived after cancel")
        self.assertTrue(all(-120.0 <= l.rms_dbfs <= l.peak_dbfs <= 0.0 for l in levels))

    def test_audio_errors_are_typed(self):
        app, story = fresh_story()
        with self.assertRaises(tellus.TellusError.Audio):
            app.start_recording(
                story.id,
                tellus.RecordingRequest(device="no-such-microphone", stereo=False, sample_rate=RATE, max_duration_ms=None),
            )
        self.assertEqual(app.recordings(story.id), [])
        session = app.start_recording(
            story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=500)
        )
        wait_until(session.has_stopped)
        session.stop()
        with self.assertRaises(tellus.TellusError.Audio):
            session.pause()


    def test_rates_and_lengths_tellus_does_not_record_are_input_errors_that_create_nothing(self):
        app, story, data = fresh_story(with_dir=True)
        # 2^31 Hz once asked for a 40 GiB buffer and aborted the process; 2^32-1 Hz
        # overflowed inside the WAV writer and left a file that was never recovered.
        for rate in [2**31, 2**32 - 1, 12345, 7, 0]:
            with self.assertRaises(tellus.TellusError.InvalidInput, msg=f"{rate} Hz"):
                app.start_recording(
                    story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=rate, max_duration_ms=1000)
                )
        self.assertEqual(app.recordings(story.id), [])
        self.assertEqual(os.listdir(os.path.join(data, "recordings")), [])
        # The app is still there and records at a rate it supports.
        session = app.start_recording(
            story.id, tellus.RecordingRequest(device=None, stereo=False, sample_rate=RATE, max_duration_ms=500)
        )
        wait_until(session.has_stopped)
        self.assertEqual(session.stop().frames, RATE // 2)
