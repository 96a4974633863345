"""A property-based fuzz of the FFI surface (issue 24), with Hypothesis (PyPI), through
the real tellus-ffi library against the real `tellus serve` that tests/ffi/run.sh
starts: random calls with random arguments (known and made-up ids, empty, huge and
control-character strings, extreme numbers, observers that throw) for
TELLUS_FUZZ_SECONDS (60). Every call either returns or raises a typed TellusError:
no crash, no abort, no panic reaching Python as anything else; and afterwards the
store opens again and lists every story that was created.

Recording is exercised with the device's own settings only: random sample rates and
channel counts are issue 17's (the recorder), not this fuzz's.
"""

import asyncio
import os
import tempfile
import time
import unittest

import tellus_ffi as tellus
from hypothesis import HealthCheck, Phase, settings, strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, multiple, rule, run_state_machine_as_test

SERVER = os.environ["TELLUS_SERVER_URL"]
INVITE = os.environ["TELLUS_PY_FUZZ_INVITES"].split(",")[0]
SECONDS = float(os.environ.get("TELLUS_FUZZ_SECONDS", "60"))
RATE = int(os.environ.get("TELLUS_MIC_RATE", "16000"))

U32 = st.integers(0, 2**32 - 1)
U64 = st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([0, 1, 2**31, 2**32, 2**53, 2**63, 2**64 - 1]))
HUGE = ["x" * 1_000_000, "é" * 300_000, "\0" * 10_000, "🙂" * 100_000]
TEXT = st.one_of(
    st.from_regex(r"[A-Za-z][A-Za-z ,.]{0,30}", fullmatch=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\0", "\n", "a\0b", "\u202e", "q1", "record", "../..", "%s%n"]),
    st.builds(lambda n, c: c * n, st.integers(0, 12_000), st.sampled_from(["x", "é", "\0", "\n", "🙂", " "])),
    # Chosen by index: a strategy that holds megabyte strings is slow to describe.
    st.integers(0, len(HUGE) - 1).map(lambda i: HUGE[i]),
)
MADE_UP_ID = st.one_of(st.uuids().map(str), TEXT)
ITEMS = ["record", "share_publicly", "research_use", "quote_anonymously", "credit_by_name", "recontact"]

STATE = {"app": None, "dir": None, "created": set(), "calls": 0, "typed": 0}


def app():
    return STATE["app"]


def call(function, *args):
    """Calls the FFI; a typed error is an answer, anything else fails the fuzz."""
    STATE["calls"] += 1
    try:
        return function(*args)
    except tellus.TellusError:
        STATE["typed"] += 1
        return None


class Observer(tellus.StoryObserver, tellus.SyncObserver):
    def __init__(self, throw_every):
        self.throw_every = throw_every
        self.calls = 0

    def _seen(self):
        self.calls += 1
        if self.throw_every and self.calls % self.throw_every == 0:
            raise ValueError("an observer that throws (fuzz)")

    def story_changed(self, story):
        self._seen()

    def sync_progress(self, progress):
        self._seen()


class FfiMachine(RuleBasedStateMachine):
    stories = Bundle("stories")
    handles = Bundle("handles")

    def __init__(self):
        super().__init__()
        self.live = []

    def teardown(self):
        # A subscription still delivering when Python finalizes kills its thread with
        # pthread_exit, which aborts the process: shells close them first (docs/ffi.md).
        for handle in self.live:
            handle.cancel()

    @rule(target=stories, title=TEXT, label=TEXT)
    def create_story(self, title, label):
        story = call(app().create_story, title, label)
        if story is None:
            return multiple()
        STATE["created"].add(story.id)
        return story.id

    @rule(story=st.one_of(stories, MADE_UP_ID), title=st.none() | TEXT, summary=st.none() | TEXT)
    def edit_story(self, story, title, summary):
        call(app().edit_story, story, title, summary)

    @rule(story=st.one_of(stories, MADE_UP_ID), name=TEXT, value=st.none() | TEXT)
    def set_demographic(self, story, name, value):
        call(app().set_demographic, story, name, value)

    @rule(story=st.one_of(stories, MADE_UP_ID), text=TEXT, at=st.none() | U64)
    def add_note(self, story, text, at):
        call(app().add_note, story, text, at)

    @rule(story=st.one_of(stories, MADE_UP_ID), label=TEXT, at=U64, question=st.none() | st.sampled_from(["q1", "q5"]) | TEXT)
    def add_marker(self, story, label, at, question):
        call(app().add_marker, story, label, at, question)

    @rule(story=st.one_of(stories, MADE_UP_ID), tags=st.lists(st.sampled_from(["health", "housing"]) | TEXT, max_size=4))
    def add_tags(self, story, tags):
        call(app().add_tags, story, tags)

    @rule(
        story=st.one_of(stories, MADE_UP_ID),
        granted=st.lists(st.sampled_from(ITEMS) | TEXT, max_size=6),
        how=st.one_of(
            st.just(tellus.ConsentHow.APP_CHECKBOX()),
            st.just(tellus.ConsentHow.SIGNED()),
            U64.map(lambda ms: tellus.ConsentHow.VERBAL(at_ms=ms)),
        ),
        by=TEXT,
        name=st.none() | TEXT,
        contact=st.none() | TEXT,
        amend=st.booleans(),
    )
    def consent(self, story, granted, how, by, name, contact, amend):
        choices = tellus.ConsentChoices(granted=granted, how=how, captured_by=by, name=name, contact=contact)
        if amend:
            call(app().amend_consent, story, choices)
        else:
            form = call(app().consent_form, "en")
            if form is not None:
                call(app().give_consent, story, form, choices)

    @rule(story=st.one_of(stories, MADE_UP_ID), by=TEXT, erase=st.booleans())
    def withdraw(self, story, by, erase):
        call(app().withdraw_consent, story, tellus.ConsentHow.APP_CHECKBOX(), by, erase)

    @rule(story=st.one_of(stories, MADE_UP_ID))
    def mark_ready(self, story):
        call(app().mark_ready, story)

    @rule(story=st.one_of(stories, MADE_UP_ID))
    def read_everything(self, story):
        for read in [app().story, app().notes, app().recordings, app().identity, app().consent_history,
                     app().delivery_state, app().story_size]:
            call(read, story)

    @rule(limit=U32, before=st.none() | st.one_of(stories, MADE_UP_ID))
    def list_stories(self, limit, before):
        call(app().list_stories, limit, before)

    @rule(text=TEXT)
    def parse_position(self, text):
        try:
            tellus.parse_audio_position(text)
        except tellus.TellusError:
            pass

    @rule(network=st.sampled_from([tellus.NetworkKind.NONE, tellus.NetworkKind.METERED, tellus.NetworkKind.UNMETERED]),
          wifi_only=st.booleans(), remove=st.booleans(), keep_wav=st.booleans())
    def network_and_settings(self, network, wifi_only, remove, keep_wav):
        app().set_network(network)
        call(app().set_sync_settings, tellus.SyncSettingsView(audio_on_unmetered_only=wifi_only,
                                                              remove_local_audio_after_delivery=remove,
                                                              keep_wav=keep_wav))

    @rule(cancel_first=st.booleans())
    def sync(self, cancel_first):
        if cancel_first:
            app().cancel_sync()
        call(lambda: asyncio.run(app().sync_now()))
        call(app().retry_parked)
        call(app().receipts)

    @rule(target=handles, throw_every=st.integers(0, 3), sync=st.booleans())
    def observe(self, throw_every, sync):
        observer = Observer(throw_every)
        handle = app().observe_sync(observer) if sync else app().observe_stories(observer)
        if not handle.is_active():
            raise AssertionError("a new subscription is not active")
        self.live.append(handle)
        return handle

    @rule(handle=consumes(handles))
    def cancel(self, handle):
        handle.cancel()
        if handle.is_active():
            raise AssertionError("a cancelled subscription says it is active")

    @rule(story=st.one_of(stories, MADE_UP_ID), ms=st.integers(1, 300), stereo=st.booleans())
    def record(self, story, ms, stereo):
        session = call(app().start_recording, story,
                       tellus.RecordingRequest(device=None, stereo=stereo, sample_rate=RATE, max_duration_ms=ms))
        if session is not None:
            call(session.add_note, "during")
            call(session.stop)

    @rule(recording=MADE_UP_ID, story=st.one_of(stories, MADE_UP_ID))
    def orphans(self, recording, story):
        call(app().orphan_recordings)
        call(app().adopt_recording, recording, story)

    @rule(text=TEXT)
    def project_json(self, text):
        call(app().set_project_json, text)

    @rule(name=TEXT)
    def open_elsewhere(self, name):
        # Absolute paths only inside a scratch folder; a relative one must be refused.
        scratch = os.path.join(tempfile.gettempdir(), "tellus-fuzz-open")
        if name.isalnum():
            path = os.path.join(scratch, name)
        elif os.path.isabs(name):
            path = os.path.join(scratch, "absolute")
        else:
            path = name
        opened = call(tellus.TellusApp.open, path)
        if opened is not None and not os.path.isabs(path):
            raise AssertionError(f"a relative data folder was opened: {path!r}")


class Fuzz(unittest.TestCase):
    def test_random_calls_get_answers_or_typed_errors_and_lose_nothing(self):
        STATE["dir"] = tempfile.mkdtemp(prefix="tellus-py-fuzz-")
        STATE["app"] = tellus.TellusApp.open(STATE["dir"])
        asyncio.run(STATE["app"].enrol(SERVER, INVITE, "Python fuzz phone"))
        every = settings(
            max_examples=4,
            stateful_step_count=40,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        end = time.monotonic() + SECONDS
        runs = 0
        while time.monotonic() < end:
            run_state_machine_as_test(FfiMachine, settings=every)
            runs += 1
        print(f"fuzz: {runs} runs, {STATE['calls']} calls, {STATE['typed']} typed errors, "
              f"{len(STATE['created'])} stories", flush=True)
        self.assertGreater(STATE["calls"], 200)

        # The store opens again, intact, and lists every story that was created.
        STATE["app"] = None
        reopened = tellus.TellusApp.open(STATE["dir"])
        self.assertIsNone(reopened.damaged_database_moved_to())
        listed, before = set(), None
        while True:
            page = reopened.list_stories(500, before)
            if not page:
                break
            listed.update(s.id for s in page)
            before = page[-1].id
        self.assertEqual(listed, STATE["created"])
