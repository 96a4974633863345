"""A reporter's journey through the real tellus-ffi library from Python.

Run by tests/ffi/run.sh with the generated module and the library on sys.path.
"""

import tempfile
import unittest

import tellus_ffi as tellus


def fresh_app():
    app = tellus.TellusApp.open(tempfile.mkdtemp(prefix="tellus-py-"))
    app.set_project_json(tellus.sample_project_json())
    return app


def choices(*granted, name=None):
    return tellus.ConsentChoices(
        granted=list(granted),
        how=tellus.ConsentHow.APP_CHECKBOX(),
        captured_by="Python reporter",
        name=name,
        contact=None,
    )


class StoreJourney(unittest.TestCase):
    def test_story_with_consent_and_notes_becomes_ready(self):
        app = fresh_app()
        form = app.consent_form(["en"])
        story = app.create_story("Waiting at the walk-in centre", "Participant 1")
        consent = app.give_consent(story.id, form, choices("record", "research_use"))
        self.assertEqual(consent.status, tellus.ConsentStatusView.GIVEN)
        self.assertEqual(app.consent_history(story.id)[0].text_sha256, form.text_sha256)
        app.add_marker(story.id, "", tellus.parse_audio_position("1:00"), "q2")
        app.add_note(story.id, "Three hours in the waiting room", None)
        ready = app.mark_ready(story.id)
        self.assertEqual(ready.state, tellus.StoryState.READY)
        notes = app.notes(story.id)
        self.assertEqual([n.at_ms for n in notes], [60_000, None])

    def test_errors_are_typed(self):
        app = fresh_app()
        story = app.create_story("Errors", "P")
        with self.assertRaises(tellus.TellusError.ConsentMissing):
            app.mark_ready(story.id)
        with self.assertRaises(tellus.TellusError.NotFound):
            app.story("01936f5e-0000-7000-8000-000000000000")
        with self.assertRaises(tellus.TellusError.InvalidInput):
            tellus.parse_audio_position("12:7x")
        with self.assertRaises(tellus.TellusError.InvalidInput):
            app.add_tags(story.id, ["not-a-theme"])
        self.assertEqual(app.story(story.id).tags, [])

